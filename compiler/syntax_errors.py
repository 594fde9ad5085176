"""Syntax errors in the language's words: what to write instead of what the parser met.

When lark's parser meets a token it cannot take, each hint below looks at that token, the
tokens of its statement before it and the terminals the parser could have taken, and
recognizes one habit from Python or another language. The first hint that recognizes the
failure says what to write instead; otherwise the message lists what was expected. Also
the messages for characters the lexer cannot take. compiler/parser.py raises them.
"""

from __future__ import annotations

import ast as pyast
import difflib
import keyword
import re
import unicodedata
import warnings
from dataclasses import dataclass

from lark import Lark, Token
from lark.exceptions import UnexpectedToken

from ir.calls import RULE_ATTRS

from .diagnostics import NO_SIDE_EFFECTS, SURROGATE, def_line
from .slices import slice_advice

# Facts of grammar.lark that the parser and the hints both read.
TYPE_NAMES = ("f64", "i64", "bool")
LAYOUT = ("_NL", "_INDENT", "_DEDENT", "$END")  # tokens of line structure, not of text
OPERATORS = ("ADD_OP", "MUL_OP", "POW", "COMP_OP", "AND", "OR", "NOT", "EQUAL", "AUGOP")
AUGMENTED = ("+=", "-=", "*=", "/=", "//=", "%=", "**=", "@=")  # grammar.lark's AUGOP
ONLY_RANGE_LOOPS = "only 'for NAME in range(...)' is supported"


class SyntaxProblem(Exception):
    """A syntax error at a line and column, raised inside the lexer, the transformer or by
    a hint; compiler/parser.py turns it into SyntaxErrorDP with the source."""

    def __init__(self, message: str, line: int, col: int):
        super().__init__(message)
        self.message, self.line, self.col = message, line, col


NAMED_TOKENS = {
    "NAME": "a name", "INT": "a number", "FLOAT": "a number", "STRING": "a string",
    "_NL": "end of line", "_INDENT": "an indented block", "_DEDENT": "end of block",
    "$END": "end of file", "AUGOP": "an augmented assignment such as '+='",
    "COMP_OP": "a comparison", "ADD_OP": "'+' or '-'", "MUL_OP": "'*', '/', '//', '%' or '@'",
}

NO_EXCEPTIONS = '{word} is not supported: .dp has no exceptions; check with assert cond, "message"'
NO_IMPORTS = "import is not needed: builtins such as exp and sum are always available"
NO_MATCH = "{word} is not supported; use if/elif/else"
NO_OUTER_NAMES = ("{word} is not supported: a function sees only its arguments; pass the "
                  "value as an argument")
NO_FUNCTION_WORD = "{word} is not a .dp keyword; define a function with def"
NO_DECLARATION_WORD = ("{word} is not a .dp keyword; bind a name with {name} = ... (or "
                       "{name}: f64 = ... to give its type)")
# Words of Python (and of other languages) that .dp lacks, and what to write instead:
# {word} is the word, {name} the token after it, {function} the function it is in.
NOT_IN_DP = {
    "lambda": "lambda is not supported in .dp; define a function with def at the top level",
    "def": "functions are defined at the top level only; move def {name} out of {function}",
    "class": "class is not supported in .dp; define functions with def at the top level",
    "import": NO_IMPORTS,
    "from": NO_IMPORTS,
    "raise": 'raise is not supported; use assert cond, "message"',
    "try": NO_EXCEPTIONS,
    "except": NO_EXCEPTIONS,
    "finally": NO_EXCEPTIONS,
    "with": "with is not supported: a .dp function only computes a value from its arguments",
    "global": NO_OUTER_NAMES,
    "nonlocal": NO_OUTER_NAMES,
    "del": "del is not supported; a name that is no longer needed can simply go unused",
    "yield": ("yield is not supported: a function returns one value; build an array with a "
              "comprehension"),
    "async": "async is not supported; write a plain def",
    "await": "await is not supported; call the function directly",
    "match": NO_MATCH,
    "case": NO_MATCH,
    "is": "'is' is not supported; compare values with == or !=",
    "elsif": "use elif instead of 'elsif'",
    "elseif": "use elif instead of 'elseif'",
    "fn": NO_FUNCTION_WORD,
    "func": NO_FUNCTION_WORD,
    "function": NO_FUNCTION_WORD,
    "let": NO_DECLARATION_WORD,
    "var": NO_DECLARATION_WORD,
    "const": NO_DECLARATION_WORD,
}
# Types of C and Python that a declaration may start with, and the .dp type.
C_TYPES = {"double": "f64", "float": "f64", "int": "i64", "long": "i64", "f64": "f64",
           "i64": "i64", "bool": "bool"}
STATEMENT_WORDS = ("def", "return", "assert", "pass", "if", "elif", "else", "for", "while")
# C's operators for what Python spells as words.
WORD_OPERATORS = {"&": "and", "|": "or", "!": "not", "~": "not"}


@dataclass
class Failure:
    """What the parser knew when it met a token it could not take."""

    token: Token
    before: list[Token]  # the tokens of the token's statement before it
    accepts: set[str]    # the terminals it could have taken instead
    brackets: list[Token]  # the brackets open, innermost last
    lines: list[str]

    @property
    def previous(self) -> Token | None:
        return self.before[-1] if self.before else None

    @property
    def first(self) -> Token:
        """The first token of the statement."""
        return self.before[0] if self.before else self.token

    def line(self, number: int) -> str:
        return self.lines[number - 1] if 1 <= number <= len(self.lines) else ""

    def rest_of_line(self, token: Token) -> str:
        return self.line(token.line)[token.column - 1:]

    def text(self, start: Token, end: Token) -> str:
        """The source from `start` up to `end`, on one line."""
        lines = [self.line(n) for n in range(start.line, end.line + 1)]
        lines[-1] = lines[-1][:end.column - 1]
        lines[0] = lines[0][start.column - 1:]
        return " ".join(" ".join(lines).split())

    def starts_line(self, token: Token) -> bool:
        return token.column == indentation_of(self.line(token.line)) + 1


def indentation_of(text: str) -> int:
    return len(text) - len(text.lstrip())


def at(token: Token, message: str) -> SyntaxProblem:
    return SyntaxProblem(message, token.line, token.column)


def unclosed_bracket(f: Failure) -> SyntaxProblem | None:
    """A statement that begins while a bracket of an earlier line is still open: the failing
    token starts a later line no deeper than the bracket's line, as a new statement would.
    (A continuation line is indented deeper, or aligned under the bracket.)"""
    b = f.brackets[-1] if f.brackets else None
    token = statement_start(f)
    if b is not None and token.line > b.line and f.starts_line(token) \
            and token.column <= indentation_of(f.line(b.line)) + 1:
        what = f"'{token.value}'" if token.value in STATEMENT_WORDS else describe_token(token)
        return at(token, f"'{b.value}' opened at {b.line}:{b.column} is not closed before "
                         f"{what}")
    return None


def statement_start(f: Failure) -> Token:
    """The failing token, or the statement word that starts its line: inside brackets a
    word such as def reads as a name, so `@derivative(` followed by `def g(...)` fails at
    g, and `y = exp(x` followed by `if y > 0.0:` at the ':' of a conditional expression."""
    first = next((t for t in f.before if t.line == f.token.line), f.token)
    return first if first.value in STATEMENT_WORDS and f.starts_line(first) else f.token


def missing_block(f: Failure) -> SyntaxProblem | None:
    if "_INDENT" not in f.accepts:
        return None
    header = f.token.line if f.token.type == "$END" else after_colon(f.token, f.lines)
    if header is None:
        return None
    message = f"expected an indented block after the ':' on line {header}"
    if any(code_of(line).strip() for line in f.lines[header:]):
        return at(f.token, message)  # at the line that should be indented
    # The file ends: the caret goes after the ':', before any comment.
    return SyntaxProblem(message, header, len(code_of(f.line(header)).rstrip()) + 1)


def code_of(line: str) -> str:
    return line.split("#", 1)[0]


def python_keyword(f: Failure) -> SyntaxProblem | None:
    word = python_word(f)
    if word is None:
        return None
    after = f.token.value if word is not f.token else ""
    return at(word, NOT_IN_DP[word.value].format(
        word=word.value, name=after, function=enclosing_function(f.lines, word.line)))


def python_word(f: Failure) -> Token | None:
    """The word of NOT_IN_DP that made the statement fail: a word Python reserves at the
    failing token or just before it, or one that starts the statement when the statement
    fails right after it or Python reserves it (then it cannot be a variable)."""
    def in_table(t):
        return t is not None and t.type == "NAME" and t.value in NOT_IN_DP
    for t in (f.previous, f.token):
        if in_table(t) and keyword.iskeyword(t.value):
            return t
    if in_table(f.first) and (len(f.before) <= 1 or keyword.iskeyword(f.first.value)):
        return f.first
    return None


def enclosing_function(lines: list[str], line: int) -> str:
    first = def_line(lines, line - 1)
    found = re.match(r"def\s+(\w+)", lines[first - 1]) if first else None
    return found.group(1) if found else "the function"


def print_statement(f: Failure) -> SyntaxProblem | None:
    """Python 2's `print x`: print, then anything but the '(' of a call."""
    if len(f.before) == 1 and f.first.type == "NAME" and f.first.value == "print":
        return at(f.first, f"print is not supported: {NO_SIDE_EFFECTS}")
    return None


def else_if(f: Failure) -> SyntaxProblem | None:
    if f.token.type == "IF" and f.previous is not None and f.previous.type == "ELSE":
        return at(f.previous, "use elif instead of 'else if'")
    return None


def dangling_else(f: Failure) -> SyntaxProblem | None:
    """An else or elif that starts a statement: after a for or while loop (Python's
    for ... else), or with no if before it at its indentation."""
    first = f.first  # read as a name where no else could come, as first in a block
    if (first.type not in ("ELSE", "ELIF") or f.before) and \
            (first.type != "NAME" or first.value not in ("else", "elif")):
        return None
    if not f.starts_line(first):
        return None
    loop = re.match(r"(for|while)\b", statement_above(f.lines, first))
    if first.value == "else" and loop:
        return at(first, f"{loop.group(1)} ... else is not supported: with no break in .dp "
                         f"the else block would always run; write its statements after the "
                         f"loop")
    return at(first, f"this {first.value} has no if before it at the same indentation; "
                     f"indent it as the if it belongs to")


def statement_above(lines: list[str], token: Token) -> str:
    """The code of the statement before `token`'s line at `token`'s indentation ("" if an
    outer block begins first)."""
    for text in reversed(lines[:token.line - 1]):
        code = code_of(text)
        if code.strip() and indentation_of(code) <= token.column - 1:
            return code.strip() if indentation_of(code) == token.column - 1 else ""
    return ""


def question_mark(f: Failure) -> SyntaxProblem | None:
    """A '?' out of place: after a type, as an optional type of Swift or TypeScript or an
    unknown size outside the brackets; after a parameter's name, as an optional
    parameter; or C's `c ? a : b` (outside a def's signature)."""
    if f.token.type != "QMARK" or "QMARK" in f.accepts:
        return None
    elem = element_type_before(f)
    if elem is not None:
        return at(f.token, f"'?' cannot follow a type: .dp has no optional types, and an "
                           f"unknown size is written inside the brackets, as in {elem}[?]")
    if f.first.type != "DEF":
        return at(f.token, "'?' is not an operator in .dp; write c ? a : b as a if c else b")
    if [t.type for t in f.before[-2:]] in (["LPAR", "NAME"], ["COMMA", "NAME"]):  # (x?: f64)
        return at(f.token, "'?' cannot follow a parameter's name: .dp has no optional "
                           "parameters (every call passes every argument)")
    return None


def element_type_before(f: Failure) -> str | None:
    """The element type of a type that ends just before the failing token (`f64`, `f64[n]`),
    in a def's signature or an annotation `y: T = ...`, else None."""
    words = [t.value for t in f.before]
    in_annotation = words[1:2] == [":"] and "=" not in words
    if f.first.type != "DEF" and not in_annotation:
        return None
    if words[-1:] == ["]"] and "[" in words:  # the name before the type's '['
        words = words[:len(words) - words[::-1].index("[") - 1]
    return words[-1] if words and words[-1] in TYPE_NAMES else None


def typed_declaration(f: Failure) -> SyntaxProblem | None:
    """C's `double y = x`, `f64[n] y = x`: a type, then the name."""
    b = f.before
    if not b or f.first.value not in C_TYPES or f.token.type != "NAME":
        return None  # a type name alone is no declaration
    if len(b) == 1:
        written = C_TYPES[f.first.value]
    elif f.first.value in TYPE_NAMES and b[1].value == "[" and b[-1].value == "]":
        written = f.text(f.first, f.token)
    else:
        return None
    return at(f.first, f"the type goes after the name: {f.token.value}: {written} = ...")


def misspelled_statement(f: Failure) -> SyntaxProblem | None:
    """`retrun x`: a name that starts a statement and is followed by one more word."""
    if len(f.before) != 1 or f.first.type != "NAME":
        return None
    return misspelled(f.first, STATEMENT_WORDS)


def misspelled(word: Token, words) -> SyntaxProblem | None:
    close = difflib.get_close_matches(word.value.lower(), words, n=1, cutoff=0.75)
    if not close:
        return None
    return at(word, f"unknown statement '{word.value}'; did you mean '{close[0]}'?")


def decorator_form(f: Failure) -> SyntaxProblem | None:
    """@derivative f or @derivative[f]: the function goes in parentheses; @derivative("f"):
    it goes there as a name, not a string; @derivative(f, "g"): alone."""
    names = [t.value for t in f.before]
    if len(names) < 2 or names[0] != "@" or names[1] not in RULE_ATTRS:
        return None
    rule = f"@{names[1]}"
    if len(names) == 2:
        return at(f.token, f"{rule} takes the function it is the rule of in parentheses: "
                           f"{rule}(f)")
    if names[2:3] != ["("] or f.token.type != "STRING":
        return None
    if names[2:] != ["("]:  # a string after the function: @derivative(f, "g")
        return at(f.token, f"{rule} takes one function, the one it is the rule of: {rule}(f)")
    quoted = f.token.value.strip("'\"")
    return at(f.token, f"{rule} names its function without quotes: "
                       f"{rule}({quoted if quoted.isidentifier() else 'f'})")


def top_level_statement(f: Failure) -> SyntaxProblem | None:
    if f.before or "DEF" not in f.accepts or f.token.type in LAYOUT:
        return None
    if f.token.type == "IF" and "__name__" in f.rest_of_line(f.token):
        return at(f.token, "only def at the top level: there is no main program; call the "
                           "functions from Python or with dpc run")
    if f.token.type == "NAME" and re.match(r"\w+\s*(:[^=]*)?=(?!=)", f.rest_of_line(f.token)):
        return at(f.token, "only def at the top level: module-level constants are not "
                           "supported; pass it as an argument or write the literal")
    typo = misspelled(f.token, ("def",)) if f.token.type == "NAME" else None
    return typo or at(f.token, "only def at the top level: put statements inside a function")


def number_literal(f: Failure) -> SyntaxProblem | None:
    """`1_000.0`, `0x10`, `1.5j`: the lexer reads a number, then a name or another number."""
    number = glued_number(f)
    if number is None:
        return None
    text = re.match(r"[\w.]*", f.rest_of_line(number)).group()
    try:
        with warnings.catch_warnings():  # Python's own warning about '1in' is not ours
            warnings.simplefilter("ignore", SyntaxWarning)
            value = pyast.literal_eval(text)
    except (ValueError, SyntaxError):
        return at(number, f"'{text}' is not a number")
    if in_array_type(f) and not isinstance(value, int):
        return None  # f64[2.5]: array_type says what a dimension is
    if isinstance(value, complex):
        return at(number, "complex numbers are not supported; numbers are f64 or i64")
    if "_" in text:
        return at(number, f"digit separators are not supported: write {value!r}")
    return at(number, f"numbers are written in decimal: write {value!r}")


def glued_number(f: Failure):
    """The number token right before the failing one when the two touch (`1_000`, `0x10`,
    `2.5` where only an integer may stand: the lexer split one literal), else None."""
    number, token = f.previous, f.token
    if (number is None or number.type not in ("INT", "FLOAT")
            or token.type not in ("NAME", "INT", "FLOAT")
            or (number.end_line, number.end_column) != (token.line, token.column)):
        return None
    return number


def f_string(f: Failure) -> SyntaxProblem | None:
    for t in (f.previous, f.token):
        if (t is not None and t.type == "NAME" and "f" in t.value.lower()
                and re.match(r"[rRfF]{1,2}[\"']", f.rest_of_line(t))):
            return at(t, "f-strings are not supported; use a plain string")
    return None


def lone_string(f: Failure) -> SyntaxProblem | None:
    if f.token.type != "STRING":
        return None
    words = [t.value for t in f.before]
    wrt = len(words) - words[::-1].index("wrt") if "wrt" in words else None
    if wrt is not None and all(t.value in "(,=" or t.type == "NAME" for t in f.before[wrt:]):
        return at(f.token, "name the parameters without quotes: wrt=x or wrt=(x, w)")
    if f.token.value in ('""', "''") and f.rest_of_line(f.token).startswith(f.token.value[0] * 3):
        return at(f.token, "unterminated string")  # a triple quote read as an empty string
    if not f.before:
        return at(f.token, "a string on its own is not a statement; use # for comments")
    return at(f.token, "a string can only be an assert message or a docstring")


def empty_wrt(f: Failure) -> SyntaxProblem | None:
    """`grad(f, wrt=())`: a derivative with respect to nothing."""
    words = [t.value for t in f.before[-3:]]
    if f.token.value == ")" and words == ["wrt", "=", "("]:
        return at(f.previous, "wrt names at least one parameter: wrt=x or wrt=(x, w); "
                              "without wrt, every f64 parameter")
    return None


def ellipsis(f: Failure) -> SyntaxProblem | None:
    if not f.before and f.rest_of_line(f.token).startswith("..."):
        return at(f.token, "'...' is not a statement; write the body")
    return None


def array_type(f: Failure) -> SyntaxProblem | None:
    """`f64[n][m]`, `f64[n + 1]`: a type's dimensions are names, integers or ?."""
    if f.token.value == "[" and f.previous is not None and f.previous.value == "]":
        return at(f.token, f"an array type has one pair of brackets: write {one_pair(f)}")
    if not in_array_type(f):
        return None
    elem = token_before(f.before, f.brackets[-1])
    return at(glued_number(f) or f.token, f"a dimension is a name, an integer or ?; use {elem}[?] for a "
                       f"computed size")


def in_array_type(f: Failure) -> bool:
    """Is the failure inside the brackets of a type, f64[...]?"""
    return bool(f.brackets) and token_before(f.before, f.brackets[-1]) in TYPE_NAMES


def one_pair(f: Failure) -> str:
    """`f64[n][m]` -> `f64[n, m]`, read from the line of the failing '['."""
    for found in re.finditer(r"(\w+)((?:\[[^\[\]]*\])+)", f.line(f.token.line)):
        if found.start(2) < f.token.column <= found.end(2):
            dims = re.findall(r"\[([^\[\]]*)\]", found.group(2))
            return f"{found.group(1)}[{', '.join(dims)}]"
    return "f64[n, m]"


def token_before(tokens: list[Token], token: Token) -> str | None:
    for k, t in enumerate(tokens):
        if t is token:
            return tokens[k - 1].value if k > 0 else None
    return None


def slice_index(f: Failure) -> SyntaxProblem | None:
    if f.token.value == ":" and f.brackets and f.brackets[-1].value == "[":
        b = f.brackets[-1]
        ends_header = f.first.type in ("IF", "ELIF", "WHILE", "FOR", "DEF") and \
            not f.rest_of_line(f.token)[1:].split("#")[0].strip()
        if ends_header:  # `if x[0 > 0.0:`: the ':' of the header, not of a slice
            return at(f.token, f"'[' opened at {b.line}:{b.column} is not closed before ':'")
        advice = slice_advice(f.lines, b.line, b.column) or (
            "index one element or a row (x[i]), or build the part with a comprehension "
            "over the indices you want, as [x[i] for i in range(1, n)] does for x[1:]")
        return at(f.token, f"slices are not supported; {advice}")
    return None


def signature(f: Failure) -> SyntaxProblem | None:
    """The parameters and return type of a def."""
    if f.first.type != "DEF" or not f.before:
        return None
    token, previous = f.token, f.previous
    in_parameters = [b.value for b in f.brackets] == ["("]
    if in_parameters and token.value in (")", ",") and previous.type == "NAME" \
            and f.before[-2].value in ("(", ","):
        return at(previous, f"parameter '{previous.value}' needs a type, like "
                            f"{previous.value}: f64")
    if in_parameters and token.type == "NAME" and previous.type == "NAME" \
            and f.before[-2].value in ("(", ","):
        written = re.match(r"\w+(\[[^\]]*\])?", f.rest_of_line(token)).group()
        return at(token, f"a ':' goes between parameter '{previous.value}' and its type: "
                         f"{previous.value}: {written}")
    if in_parameters and token.value == "=":
        return at(token, "default values are not supported; every argument is passed")
    if in_parameters and token.value in ("*", "**"):
        return at(token, "*args and **kwargs are not supported; list each parameter with "
                         "its type")
    if f.brackets:
        return None
    if token.value == ":" and ("ARROW" in f.accepts or previous.type == "ARROW"):
        end = previous if previous.type == "ARROW" else token
        return at(token, f"the return type is missing: {f.text(f.first, end)} -> f64:")
    arrow = next((t for t in f.before if t.type == "ARROW"), None)
    if arrow is not None and token.value == ",":
        types = f.rest_of_line(arrow)[2:].split("#")[0].strip().rstrip(":").strip()
        return at(token, f"a tuple return type needs parentheses: -> ({types})")
    return None


def membership(f: Failure) -> SyntaxProblem | None:
    """Python's `v in xs` and `v not in xs` outside a for."""
    word = f.token
    if any(t.type == "FOR" for t in f.before) or word.type == "NAME":
        return None
    if word.value == "in" or (word.type == "NOT" and re.match(r"not\s+in\b",
                                                              f.rest_of_line(word))):
        return at(word, "'in' is only part of 'for i in range(...)'; .dp has no membership "
                        "test: compare with == in a loop")
    return None


def walrus(f: Failure) -> SyntaxProblem | None:
    """`(y := e)`; `y := e` fails at its '=' (`y: T = e` declares)."""
    for colon in (f.token, f.previous):
        if colon is not None and colon.value == ":" and f.rest_of_line(colon).startswith(":="):
            return at(colon, "':=' is not supported; assign the value on a line of its own "
                             "first")
    return None


def generator_beside_arguments(f: Failure) -> SyntaxProblem | None:
    """`max(0.0, e for i in range(n))`: a generator that is not a call's only argument (as
    its own parenthesized expression, it parses)."""
    if f.token.type == "FOR" and f.brackets and f.brackets[-1].value == "(":
        return at(f.token, "a generator expression must be the only argument of sum, max, min "
                           "or prod: sum(e for i in range(n))")
    return None


def assert_form(f: Failure) -> SyntaxProblem | None:
    """`assert(c, "message")`, always true in Python, and a message that is not a string."""
    if f.first.type != "ASSERT" or len(f.before) < 2:
        return None
    if f.before[1].value == "(" and f.token.type == "STRING":
        return at(f.before[1], 'assert is a statement, not a function: write assert cond, '
                               '"message" without the parentheses')
    if f.previous.value == "," and not f.brackets and f.token.type != "STRING":
        return at(f.token, 'the assert message must be a string: assert cond, "message"')
    return None


def line_ends_early(f: Failure) -> SyntaxProblem | None:
    """A statement that ends after an operator: `y = -`, `x++`, `a = b +` before a
    continuation line that is not inside brackets."""
    op = f.previous
    if f.token.type != "_NL" or op is None or op.type not in OPERATORS:
        return None
    twice = f.before[-2] if len(f.before) >= 2 else None
    if op.value in ("+", "-") and twice is not None and twice.value == op.value and \
            (twice.end_line, twice.end_column) == (op.line, op.column) and len(f.before) > 2:
        target = f.text(f.first, twice)
        return at(twice, f"'{op.value * 2}' is not supported; write {target} {op.value}= 1")
    if op.type in ("EQUAL", "AUGOP"):
        advice = "write the value on this line"
    else:
        advice = ("write what follows it, or put a long expression in parentheses to continue "
                  "it on the next line")
    return SyntaxProblem(f"the line ends after '{op.value}': {advice}", op.end_line,
                         op.end_column)  # the caret goes after it, before any comment


def arrow_comparison(f: Failure) -> SyntaxProblem | None:
    """`x => y` and `x =< y`, written for >= and <=."""
    arrow = f.rest_of_line(f.token)[:2]
    if f.token.value != "=" or arrow not in ("=>", "=<"):
        return None
    return at(f.token, f"'{arrow}' is not an operator; write '{arrow[::-1]}'")


def shift_operator(f: Failure) -> SyntaxProblem | None:
    """`k >> 1`, `k << 2` (and `>>=`, `<<=`), and `<>`: two comparison signs side by side."""
    first = f.previous
    if (first is None or first.value not in ("<", ">") or f.token.value[:1] not in ("<", ">")
            or (first.end_line, first.end_column) != (f.token.line, f.token.column)):
        return None
    op = first.value + f.token.value[0]
    if op == "<>":
        return at(first, "'<>' is not an operator; write '!='")
    if op[0] != op[1]:
        return None
    return at(first, f"'{op}' is not supported: .dp has no bitwise operators; shift an "
                     f"integer by a power of 2 instead (k >> s is k // 2**s, k << s is k * 2**s)")


def spaced_operator(f: Failure) -> SyntaxProblem | None:
    """`y ** = 2.0`: an augmented assignment with a space before its '='."""
    op = f.previous
    if f.token.value != "=" or op is None or op.value + "=" not in AUGMENTED:
        return None
    return at(op, f"write '{op.value}=' without a space between '{op.value}' and '='")


def starred_target(f: Failure) -> SyntaxProblem | None:
    """Python's `a, *rest = x` (also `*rest, a = x`)."""
    target = f.before
    if f.token.value != "*" or not all(t.type == "NAME" or t.value == "," for t in target) \
            or (target and target[-1].value != ","):
        return None
    return at(f.token, "starred assignment is not supported: arrays do not split into a "
                       "first element and a rest; read the elements by index (a = x[0])")


def single_equals(f: Failure) -> SyntaxProblem | None:
    if f.token.value != "=":
        return None
    if any(t.type in ("IF", "ELIF", "WHILE", "ASSERT") for t in f.before):
        return at(f.token, "use == to compare (= assigns)")
    if any(t.value == "=" for t in f.before):
        return at(f.token, "chained assignment is not supported; assign one name at a time")
    return None


def declaration_without_value(f: Failure) -> SyntaxProblem | None:
    """`y: f64` on its own."""
    b = f.before
    if (f.token.type == "_NL" and len(b) >= 3 and b[0].type == "NAME" and b[1].value == ":"
            and "EQUAL" in f.accepts):
        last = b[-1]  # the caret goes after it, before any comment
        declared = f.text(b[0], f.token).split("#")[0].strip()
        return SyntaxProblem(f"a declaration needs a value: {declared} = ...", last.end_line,
                             last.end_column)
    return None


def for_target(f: Failure) -> SyntaxProblem | None:
    """`for i, v in enumerate(x)`: anything but one name between 'for' and 'in'."""
    fors = [k for k, t in enumerate(f.before) if t.type == "FOR"]
    if not fors or f.token.value == "in":
        return None
    target = f.before[fors[-1] + 1:]
    if not target or (len(target) == 1 and target[0].type == "NAME"):
        return at(f.token, ONLY_RANGE_LOOPS)
    return None


HINTS = (unclosed_bracket, missing_block, python_keyword, print_statement, else_if, dangling_else,
         question_mark, typed_declaration, misspelled_statement, number_literal, f_string,
         assert_form, decorator_form, lone_string, empty_wrt, ellipsis, top_level_statement,
         array_type, walrus, generator_beside_arguments, slice_index,
         signature, membership, line_ends_early, arrow_comparison, shift_operator, spaced_operator,
         starred_target,
         single_equals, declaration_without_value,
         for_target)


def describe_terminal(parser: Lark, name: str) -> str:
    if name in NAMED_TOKENS:
        return NAMED_TOKENS[name]
    try:
        pattern = parser.get_terminal(name).pattern
    except KeyError:
        return name.lower()
    return f"'{pattern.value}'" if pattern.type == "str" else name.lower()


def describe_token(token: Token) -> str:
    if token.type in LAYOUT:
        return NAMED_TOKENS[token.type]
    if token.type == "NAME":
        return f"name '{token.value}'"
    return f"'{token.value}'"


def after_colon(token: Token, lines: list[str]) -> int | None:
    """The line number of the `...:` line just before `token`, when `token` starts its line."""
    if token.line is None or token.line < 2 or token.line > len(lines):
        return None
    if indentation_of(lines[token.line - 1]) != token.column - 1:
        return None
    for k in range(token.line - 2, -1, -1):
        code = code_of(lines[k]).rstrip()
        if code:
            return k + 1 if code.endswith(":") else None
    return None


def unexpected_token_problem(parser: Lark, err: UnexpectedToken, before: list[Token],
                             brackets: list[Token], lines: list[str]) -> SyntaxProblem:
    """The problem at err's token, from the tokens of its statement before it, the brackets
    open there (innermost last) and the source's lines."""
    token = err.token
    # `accepts`, not `expected`: LALR's merged states also expect terminals that are only
    # valid after other statements (a ':' after `y: f64`).
    failure = Failure(token, before, set(err.accepts or err.expected), brackets, lines)
    if token.line is not None and token.type != "_INDENT":
        for hint in HINTS:
            problem = hint(failure)
            if problem is not None:
                return problem
    return SyntaxProblem(unexpected_token_message(parser, err, failure), token.line or err.line,
                         token.column or err.column)


def unexpected_token_message(parser: Lark, err: UnexpectedToken, f: Failure) -> str:
    token = err.token
    if token.type == "_INDENT":
        return "unexpected indentation"
    if token.type == "_NL" and "COLON" in f.accepts:
        return "expected ':' at the end of the line"
    found = describe_token(token)
    expected = sorted({describe_terminal(parser, t) for t in err.expected})
    if token.type == "_DEDENT" and "an indented block" in expected:
        return "expected an indented block"
    if len(expected) == 1:
        return f"expected {expected[0]}, found {found}"
    if len(expected) <= 6:
        return f"unexpected {found} (expected {', '.join(expected[:-1])} or {expected[-1]})"
    return f"unexpected {found}"


def character_message(text: str, k: int) -> str:
    """Why the lexer could not read the character at text[k]."""
    char = text[k]
    if char in "\"'":
        return "unterminated string"
    if char in WORD_OPERATORS:
        op = char * 2 if char in "&|" and text.startswith(char * 2, k) else char
        return (f"for bool values use '{WORD_OPERATORS[char]}' instead of '{op}' ('and', 'or' "
                f"and 'not' work elementwise on arrays of bool too); .dp has no bitwise "
                f"operators")
    if char == "\r":
        return ("a carriage return ends this line without a newline; save the file with "
                "\\n (or \\r\\n) line endings")
    if char == ";":
        return "one statement per line; ';' is not supported"
    if char == "^":
        return "'^' is not power in .dp; write x ** y (.dp has no bitwise operators)"
    if char in "{}":
        return ("braces are not supported: a block is the indented lines after ':', and "
                "there are no dicts or sets (use arrays)")
    if not char.isascii():
        return non_ascii_message(char)
    return f"unexpected character {char!r}"


# Characters that word processors and web pages put where ASCII was meant.
LOOKALIKES = {"\u2212": "-", "\u2013": "-", "\u00d7": "*", "\u22c5": "*", "\u00f7": "/",
              "\u2264": "<=", "\u2265": ">=", "\u2260": "!=", "\u201c": '"', "\u201d": '"',
              "\u2018": "'", "\u2019": "'"}


def no_lone_surrogate(text: str) -> None:
    """A lone surrogate anywhere, in a string or a comment too, is an error at it: it
    cannot be encoded, so a string holding one could be neither parsed nor shown."""
    found = SURROGATE.search(text)
    if found is not None:
        k = found.start()
        line, col = text.count("\n", 0, k) + 1, k - text.rfind("\n", 0, k)
        raise SyntaxProblem(non_ascii_message(found.group()), line, col)


def non_ascii_message(char: str) -> str:
    code = f"U+{ord(char):04X}"
    if char in LOOKALIKES:
        return f"'{char}' ({code}) is not ASCII; write {LOOKALIKES[char]!r} instead"
    if "\ud800" <= char <= "\udfff":  # only a Python string has one: no file can
        return (f"{code} is a lone surrogate, half of a UTF-16 pair and no character: the "
                f"text was decoded wrongly, or cut inside a pair; delete it")
    name = unicodedata.name(char, "no name").lower()
    if char.isspace():
        return f"{code} ({name}) is not a plain space; write ' ' instead"
    if not char.isprintable():
        return f"{code} ({name}) is an invisible character outside ASCII; delete it"
    if char.isidentifier():
        return (f"'{char}' ({code}) cannot be part of a name: names use only ASCII letters, "
                f"digits and _; rename it")
    return f"'{char}' ({code}) is not ASCII: outside strings and comments .dp is written in ASCII"
