"""Syntax errors: the exact sentence and position for text that is not a program, and no
input at all that makes the front end fail with anything but a CompileError."""

import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler import CompileError, SyntaxErrorDP, compile_source
from compiler.parser import parse

EXAMPLES = sorted((Path(__file__).parents[2] / "examples").glob("*.dp"))

ENDS_AFTER = ("the line ends after '{}': write what follows it, or put a long expression in "
              "parentheses to continue it on the next line")

SYNTAX = [
    ("def f(x: f64) -> f64\n    return x\n", 1, 21, "expected ':' at the end of the line"),
    ("def f(x: f64) -> f64:\nreturn x\n", 2, 1, "expected an indented block after the ':' on line 1"),
    ("def f(x: f64) -> f64:\n    y = x\n        return y\n", 3, 9, "unexpected indentation"),
    ("def f(x: f64) -> f64:\n        y = x\n    return y\n", 3, 5,
     "unindent does not match any outer indentation level"),
    ("def f(x: f64) -> f64:\n    return x $ 2\n", 2, 14, "unexpected character '$'"),
    ("def f(x: f64) -> f64:\n    assert x > 0, \"oops\n    return x\n", 2, 19, "unterminated string"),
    ("def f(x: f64) -> f64:\n    return (x + 1\n\ndef g(x: f64) -> f64:\n    return x\n", 4, 1,
     "'(' opened at 2:12 is not closed before 'def'"),
    ("def f(x: f64) -> f64:\n    return x)\n", 2, 13, "unmatched ')'"),
    ("def f(x: f64) -> f64:\n    return x +\n", 2, 15, ENDS_AFTER.format("+")),
    ("def f(x: f64) -> f64:\n    y = x +\n        1.0\n    return y\n", 2, 12,
     ENDS_AFTER.format("+")),
    ("def f(x: f64) -> f64:\n    y = not\n    return y\n", 2, 12, ENDS_AFTER.format("not")),
    ("def f(x: f64) -> f64:\n    y =\n    return y\n", 2, 8,
     "the line ends after '=': write the value on this line"),
    ("def f(x: f64) -> f64:\n    x *=  # twice\n    return x\n", 2, 9,
     "the line ends after '*=': write the value on this line"),
    ("def f(n: i64) -> i64:\n    n++\n    return n\n", 2, 6, "'++' is not supported; write n += 1"),
    ("def f(x: f64[n]) -> f64:\n    y = x\n    y[0]--\n    return y[0]\n", 3, 9,
     "'--' is not supported; write y[0] -= 1"),
    ("def f(x f64) -> f64:\n    return x\n", 1, 9,
     "a ':' goes between parameter 'x' and its type: x: f64"),
    ("def f(x: f64, y f64[n, 2]) -> f64:\n    return x\n", 1, 17,
     "a ':' goes between parameter 'y' and its type: y: f64[n, 2]"),
    ("def f(x: f64) -> f64:\n    for v in x:\n        pass\n    return x\n", 2, 14,
     "only 'for NAME in range(...)' is supported"),
    ("def f(x: f64) -> f64:\n    return\n", 2, 5, "return needs a value: every function returns one"),
    ("def f(x: f64) -> f64:\n    f(x) = 2\n    return x\n", 2, 5,
     "cannot assign to this; assign to a name or an element a[i]"),
    ("def f(x: f64) -> f64:\n    return f(y=1, 2)\n", 2, 19, "positional argument after a keyword argument"),
    ("def f(x: f64) -> f64:\n\tif x > 0.0:\n        \treturn x\n    return x\n", 3, 1,
     "indentation mixes tabs and spaces; use spaces only"),
    ("def f(x: f64) -> f64:\n", 1, 22, "expected an indented block after the ':' on line 1"),
    ("def f(x: f64) -> f64:  # to do\n    # later\n\n", 1, 22,
     "expected an indented block after the ':' on line 1"),
    ("def f(x: f64) -> f64:\n    if x > 0.0:\n", 2, 16,
     "expected an indented block after the ':' on line 2"),
    ("def f(x: f64) -> f64:\n    return 99999999999999999999\n", 2, 12,
     "integer 99999999999999999999 does not fit in i64"),
    ("x = 1\n", 1, 1, "only def at the top level: module-level constants are not supported; "
     "pass it as an argument or write the literal"),
    ("def f(x: f32) -> f64:\n    return x\n", 1, 10,
     "unknown type 'f32'; types are f64, i64, bool, arrays like f64[n] and tuples"),
    ("def f(x: f64) -> f64:\n    return x if x\n", 2, 18, "expected 'else', found end of line"),
    ("def f(x: f64) -> f64:\n    a, 2 = x\n", 2, 8,
     "cannot assign to this; assign to a name or an element a[i]"),
    ("def f(x: f64) -> f64:\n    a, f(x) = x, x\n", 2, 8,
     "cannot assign to this; assign to a name or an element a[i]"),
    ("def f(x: f64, y: f64) -> f64:\n    x + y, a = x, x\n", 2, 7,
     "cannot assign to this; assign to a name or an element a[i]"),
]


@pytest.mark.parametrize("source,line,col,message", SYNTAX)
def test_syntax_error(source, line, col, message):
    with pytest.raises(SyntaxErrorDP) as err:
        parse(source, "s.dp")
    assert (err.value.message, err.value.line, err.value.col) == (message, line, col)


def test_syntax_error_full_text():
    with pytest.raises(SyntaxErrorDP) as err:
        parse("def f(x: f64) -> f64:\n    return x $ 2\n", "s.dp")
    assert str(err.value) == ("s.dp:2:14: error: unexpected character '$'\n"
                              " 2 |     return x $ 2\n"
                              "   |              ^")


def test_empty_and_comment_only_files_are_empty_modules():
    assert parse("").functions == []
    assert parse("# nothing here\n\n   # indented comment\n").functions == []


def test_deep_nesting_is_a_compile_error():
    # past what the front end's raised recursion limit allows (3000 deep now compiles)
    source = "def f(x: f64) -> f64:\n    return " + "(x + " * 25000 + "x" + ")" * 25000 + "\n"
    with pytest.raises(CompileError, match="nests too deeply to compile"):
        compile_source(source)


def test_there_are_examples_to_mutate():
    assert len(EXAMPLES) >= 7


def front_end_only_raises_compile_errors(text):
    try:
        compile_source(text, name="fuzz.dp", backend="interp")
    except CompileError as err:
        assert err.line >= 1 and err.col >= 1
        str(err)  # formats without failing


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.sampled_from(list("def f(x:64)->[n],\n    retun+*-/=<>@#.0123ia\t\"'")),
               max_size=120))
def test_random_text(text):
    front_end_only_raises_compile_errors(text)


def mutate(source: str, rng: random.Random, steps: int) -> str:
    chars = list(source)
    for _ in range(steps):
        k = rng.randrange(len(chars) + 1)
        choice = rng.randrange(4)
        if choice == 0 and chars:
            del chars[min(k, len(chars) - 1)]
        elif choice == 1:
            chars.insert(k, rng.choice("()[]:,=+-*/ \n\tx0.ifor@#\"'"))
        elif choice == 2 and chars:
            k = min(k, len(chars) - 1)
            chars.insert(k, chars[k])
        else:
            lines = "".join(chars).split("\n")
            j = rng.randrange(len(lines))
            lines.insert(j, lines[rng.randrange(len(lines))])
            chars = list("\n".join(lines))
    return "".join(chars)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(EXAMPLES) - 1), st.integers(0, 2**32), st.integers(1, 6))
def test_mutated_examples(which, seed, steps):
    source = EXAMPLES[which].read_text()
    front_end_only_raises_compile_errors(mutate(source, random.Random(seed), steps))


def test_caret_under_the_right_character_on_tab_indented_lines():
    with pytest.raises(CompileError) as err:
        compile_source("def f(x: f64) -> f64:\n\treturn x + y\n", name="t.dp")
    assert str(err.value) == ("t.dp:2:13: error: unknown name 'y'\n"
                              " 2 |     return x + y\n"
                              "   | " + " " * 15 + "^")
