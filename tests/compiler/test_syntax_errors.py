"""Python habits that are not .dp: each gets one sentence that says what is wrong and what
to write instead, at the exact line and column of the offending token. Docstrings, the
other augmented assignments and tab-indented files are accepted."""

import warnings

import numpy as np
import pytest

from compiler import CompileError, SyntaxErrorDP, compile_source
from compiler.parser import parse

HEAD = "def f(x: f64[n], n: i64) -> f64:\n"
SURROGATE_D800 = ("U+D800 is a lone surrogate, half of a UTF-16 pair and no character: the "
                  "text was decoded wrongly, or cut inside a pair; delete it")

MATRIX_HEAD = "def f(x: f64[n, m]) -> f64:\n"
SLICES = "slices are not supported; "
PART = SLICES + "build the part with a comprehension: "
FILTERS = ("comprehension filters are not supported; use 'e if c else 0.0' (or "
           "where(c, e, 0.0))")
TWO_FORS = "one 'for' per comprehension; nest them: [[e for j in range(m)] for i in range(n)]"
TABS = "inconsistent use of tabs and spaces in indentation; indent with spaces only"
NO_EXCEPTIONS = '{} is not supported: .dp has no exceptions; check with assert cond, "message"'
IMPORTS = "import is not needed: builtins such as exp and sum are always available"
OUTER = "{} is not supported: a function sees only its arguments; pass the value as an argument"
SHIFTS = ("'%s' is not supported: .dp has no bitwise operators; shift an integer by a power "
          "of 2 instead (k >> s is k // 2**s, k << s is k * 2**s)")
WORDS = ("('and', 'or' and 'not' work elementwise on arrays of bool too); .dp has no bitwise "
         "operators")
DIMENSION = "a dimension is a name, an integer or ?; use f64[?] for a computed size"
ONLY_DEF = "only def at the top level: "
WRT = "name the parameters without quotes: wrt=x or wrt=(x, w)"
MEMBERSHIP = ("'in' is only part of 'for i in range(...)'; .dp has no membership test: compare "
              "with == in a loop")
WALRUS = "':=' is not supported; assign the value on a line of its own first"
STARRED = ("starred assignment is not supported: arrays do not split into a first element "
           "and a rest; read the elements by index (a = x[0])")
BRACES = ("braces are not supported: a block is the indented lines after ':', and there are no "
          "dicts or sets (use arrays)")
LOOP_ELSE = ("{} ... else is not supported: with no break in .dp the else block would always "
             "run; write its statements after the loop")
NO_IF = "this {} has no if before it at the same indentation; indent it as the if it belongs to"
OPTIONAL = ("'?' cannot follow a type: .dp has no optional types, and an unknown size is "
            "written inside the brackets, as in {}[?]")

# (id, source, line, col, message)
def nested_ifs(depth: int, name: str = "f", inner: str = "y + 1.0") -> str:
    """A function with `depth` ifs nested in its body, the innermost setting y = inner."""
    ifs = "".join("    " * (k + 1) + f"if c > {k}:\n" for k in range(depth))
    return (f"def {name}(x: f64, c: i64) -> f64:\n    y = x\n" + ifs + "    " * (depth + 1)
            + f"y = {inner}\n    return y\n")


WRONG = [
    # strings and '...' that are not docstrings
    ("string mid-body", HEAD + "    y = x[0]\n    \"\"\"later\"\"\"\n    return y\n", 3, 5,
     "a string on its own is not a statement; use # for comments"),
    ("string first in an if", HEAD + "    if n > 0:\n        \"positive\"\n        return 1.0\n"
     "    return 0.0\n", 3, 9, "a string on its own is not a statement; use # for comments"),
    ("second module docstring", "'''one'''\n'''two'''\n" + HEAD + "    return 1.0\n", 2, 1,
     "a string on its own is not a statement; use # for comments"),
    ("string as a value", HEAD + "    y = \"hello\"\n    return 1.0\n", 2, 9,
     "a string can only be an assert message or a docstring"),
    ("unterminated triple quote", HEAD + "    return \"\"\"abc\n", 2, 12, "unterminated string"),
    ("ellipsis body", HEAD + "    ...\n", 2, 5, "'...' is not a statement; write the body"),
    # indentation that depends on the width of a tab
    ("tab deeper than spaces", HEAD + "    y = x[0]\n\treturn y\n", 3, 1, TABS),
    ("tab opens a block after spaces", HEAD + "    if n > 0:\n\ty = 2.0\n    return y\n", 3, 1,
     TABS),
    ("spaces continue a tab block", HEAD + "    if n > 0:\n\ty = 2.0\n        return y\n"
     "    return 1.0\n", 3, 1, TABS),
    ("spaces after a tab block", HEAD + "\ty = x[0]\n    return y\n", 3, 1, TABS),
    # slices
    # slices: the advice is the slice written in .dp (tests/compiler/test_slice_advice.py)
    ("slice from", HEAD + "    return sum(x[1:])\n", 2, 19,
     PART + "[x[i] for i in range(1, n)]"),
    ("slice of a column", MATRIX_HEAD + "    return sum(x[:, 0])\n", 2, 18,
     PART + "[x[i, 0] for i in range(n)]"),
    ("slice reversed", HEAD + "    return sum(x[::-1])\n", 2, 18,
     PART + "[x[n - 1 - i] for i in range(n)]"),
    ("slice of a row", MATRIX_HEAD + "    return sum(x[0, :])\n", 2, 21,
     SLICES + "index the row instead: x[0]"),
    ("slice assigned", HEAD + "    y = x\n    y[:] = 0.0\n    return 1.0\n", 3, 7,
     SLICES + "assign the elements in a loop: for i in range(len(y)): y[i] = ..."),
    ("slice of a call", HEAD + "    return sum(exp(x)[1:])\n", 2, 24,
     SLICES + "index one element or a row (x[i]), or build the part with a comprehension "
     "over the indices you want, as [x[i] for i in range(1, n)] does for x[1:]"),
    # Python keywords that .dp lacks
    ("lambda", HEAD + "    g = lambda y: y * 2.0\n    return 1.0\n", 2, 9,
     "lambda is not supported in .dp; define a function with def at the top level"),
    ("raise", HEAD + "    if n < 0:\n        raise ValueError(\"neg\")\n    return 1.0\n", 3, 9,
     'raise is not supported; use assert cond, "message"'),
    ("try", HEAD + "    try:\n        y = log(x[0])\n    except ValueError:\n        y = 0.0\n"
     "    return y\n", 2, 5, NO_EXCEPTIONS.format("try")),
    ("except", HEAD + "    except:\n        pass\n    return 1.0\n", 2, 5,
     NO_EXCEPTIONS.format("except")),
    ("finally", HEAD + "    finally:\n        pass\n    return 1.0\n", 2, 5,
     NO_EXCEPTIONS.format("finally")),
    ("with", HEAD + "    with open(\"a\") as fh:\n        pass\n    return 1.0\n", 2, 5,
     "with is not supported: a .dp function only computes a value from its arguments"),
    ("global", HEAD + "    global c\n    return 1.0\n", 2, 5, OUTER.format("global")),
    ("nonlocal", HEAD + "    nonlocal c\n    return 1.0\n", 2, 5, OUTER.format("nonlocal")),
    ("del", HEAD + "    y = 1.0\n    del y\n    return 1.0\n", 3, 5,
     "del is not supported; a name that is no longer needed can simply go unused"),
    ("yield", HEAD + "    yield x\n", 2, 5,
     "yield is not supported: a function returns one value; build an array with a comprehension"),
    ("import", "import numpy as np\n" + HEAD + "    return 1.0\n", 1, 1, IMPORTS),
    ("from import", "from math import exp\n" + HEAD + "    return 1.0\n", 1, 1, IMPORTS),
    ("import in a body", HEAD + "    import math\n    return 1.0\n", 2, 5, IMPORTS),
    ("class", "class Model:\n    pass\n", 1, 1,
     "class is not supported in .dp; define functions with def at the top level"),
    ("async", "async def f(x: f64) -> f64:\n    return x\n", 1, 1,
     "async is not supported; write a plain def"),
    ("match", "def f(n: i64) -> i64:\n    match n:\n        case 0:\n            return 1\n", 2, 5,
     "match is not supported; use if/elif/else"),
    ("print statement", HEAD + "    print x\n    return 1.0\n", 2, 5, "print is not supported: "
     "functions have no side effects; return the value (dpc run prints it)"),
    ("print of a string", HEAD + "    print \"here\"\n    return 1.0\n", 2, 5, "print is not "
     "supported: functions have no side effects; return the value (dpc run prints it)"),
    ("is", HEAD + "    return x[0] is 0.0\n", 2, 17,
     "'is' is not supported; compare values with == or !="),
    ("nested def", HEAD + "    def g(y: f64) -> f64:\n        return y\n    return g(x[0])\n", 2, 5,
     "functions are defined at the top level only; move def g out of f"),
    ("fn", "fn f(x: f64) -> f64:\n    return x\n", 1, 1,
     "fn is not a .dp keyword; define a function with def"),
    ("let", HEAD + "    let y = x[0]\n    return y\n", 2, 5,
     "let is not a .dp keyword; bind a name with y = ... (or y: f64 = ... to give its type)"),
    ("var", HEAD + "    var y = x[0]\n    return y\n", 2, 5,
     "var is not a .dp keyword; bind a name with y = ... (or y: f64 = ... to give its type)"),
    ("a C declaration", HEAD + "    double y = x[0]\n    return y\n", 2, 5,
     "the type goes after the name: y: f64 = ..."),
    ("a declaration with the .dp type first", HEAD + "    i64 i = 0\n    return 1.0\n", 2, 5,
     "the type goes after the name: i: i64 = ..."),
    ("an array type first", HEAD + "    f64[n] y = x\n    return 1.0\n", 2, 5,
     "the type goes after the name: y: f64[n] = ..."),
    ("a type name alone", "f64", 1, 1,  # found by test_random_text: once an IndexError
     "only def at the top level: put statements inside a function"),
    ("retrun", HEAD + "    retrun x\n", 2, 5, "unknown statement 'retrun'; did you mean 'return'?"),
    ("Return", HEAD + "    Return x\n", 2, 5, "unknown statement 'Return'; did you mean 'return'?"),
    ("Def", "Def f(x: f64) -> f64:\n    return x\n", 1, 1,
     "unknown statement 'Def'; did you mean 'def'?"),
    ("elsif", HEAD + "    if n > 0:\n        return 1.0\n    elsif n < 0:\n        return 2.0\n"
     "    return 0.0\n", 4, 5, "use elif instead of 'elsif'"),
    ("else if", HEAD + "    if n > 0:\n        return 1.0\n    else if n < 0:\n        return 2.0\n"
     "    return 0.0\n", 4, 5, "use elif instead of 'else if'"),
    # comprehensions
    ("comprehension filter", HEAD + "    return sum([x[i] for i in range(n) if x[i] > 0.0])\n",
     2, 40, FILTERS),
    ("generator filter", HEAD + "    return sum(x[i] for i in range(n) if x[i] > 0.0)\n", 2, 39,
     FILTERS),
    ("two fors", HEAD + "    return sum([x[i] * x[j] for i in range(n) for j in range(n)])\n",
     2, 47, TWO_FORS),
    ("two fors in a generator", HEAD + "    return sum(x[i] for i in range(n) for j in range(n))\n",
     2, 39, TWO_FORS),
    # signatures
    ("untyped parameter", "def f(x) -> f64:\n    return x\n", 1, 7,
     "parameter 'x' needs a type, like x: f64"),
    ("untyped parameter before another", "def f(x, y: f64) -> f64:\n    return y\n", 1, 7,
     "parameter 'x' needs a type, like x: f64"),
    ("no return type", "def f(x: f64):\n    return x\n", 1, 14,
     "the return type is missing: def f(x: f64) -> f64:"),
    ("nothing after the arrow", "def f(x: f64) -> :\n    return x\n", 1, 18,
     "the return type is missing: def f(x: f64) -> f64:"),
    ("default value", "def f(x: f64, scale: f64 = 1.0) -> f64:\n    return x\n", 1, 26,
     "default values are not supported; every argument is passed"),
    ("*args", "def f(*xs: f64) -> f64:\n    return 1.0\n", 1, 7,
     "*args and **kwargs are not supported; list each parameter with its type"),
    ("**kwargs", "def f(x: f64, **kw: f64) -> f64:\n    return x\n", 1, 15,
     "*args and **kwargs are not supported; list each parameter with its type"),
    ("tuple return without parentheses", "def f(x: f64) -> f64, f64:\n    return x, x\n", 1, 21,
     "a tuple return type needs parentheses: -> (f64, f64)"),
    ("one bracket per dimension", "def f(x: f64[n][m]) -> f64:\n    return 1.0\n", 1, 16,
     "an array type has one pair of brackets: write f64[n, m]"),
    ("a computed dimension", "def f(x: f64[n]) -> f64[n+1]:\n    return x\n", 1, 26, DIMENSION),
    ("a slice as a dimension", "def f(x: f64[:]) -> f64:\n    return 1.0\n", 1, 14, DIMENSION),
    ("a negative dimension", "def f(x: f64[-1]) -> f64:\n    return 1.0\n", 1, 14, DIMENSION),
    # said "numbers are written in decimal: write 2.5", at the '.5'
    ("a decimal dimension", "def f(x: f64[2.5]) -> f64:\n    return 1.0\n", 1, 14, DIMENSION),
    ("a float dimension", "def f(x: f64[3, 1e3]) -> f64:\n    return 1.0\n", 1, 17, DIMENSION),
    ("a complex dimension", "def f(x: f64[2j]) -> f64:\n    return 1.0\n", 1, 14, DIMENSION),
    ("a dimension in hexadecimal", "def f(x: f64[0x10]) -> f64:\n    return 1.0\n", 1, 14,
     "numbers are written in decimal: write 16"),
    # operators and assignments
    ("&&", HEAD + "    return 1.0 if x[0] > 0.0 && n > 0 else 0.0\n", 2, 30,
     f"for bool values use 'and' instead of '&&' {WORDS}"),
    ("&", HEAD + "    return sum(where((x > 0.0) & (x < 1.0), x, 0.0))\n", 2, 32,
     f"for bool values use 'and' instead of '&' {WORDS}"),
    ("||", HEAD + "    return 1.0 if x[0] > 0.0 || n > 0 else 0.0\n", 2, 30,
     f"for bool values use 'or' instead of '||' {WORDS}"),
    ("|", "def f(a: bool, b: bool) -> bool:\n    return a | b\n", 2, 14,
     f"for bool values use 'or' instead of '|' {WORDS}"),
    ("!", "def f(b: bool) -> bool:\n    return !b\n", 2, 12,
     f"for bool values use 'not' instead of '!' {WORDS}"),
    ("~", "def f(b: bool) -> bool:\n    return ~b\n", 2, 12,
     f"for bool values use 'not' instead of '~' {WORDS}"),
    ("c ? a : b", HEAD + "    return n > 0 ? x[0] : 0.0\n", 2, 18,
     "'?' is not an operator in .dp; write c ? a : b as a if c else b"),
    # a '?' after a type: the generic "unexpected '?'" in a def, C's c ? a : b in the body
    ("? after a parameter's type", "def f(x: f64?) -> f64:\n    return x\n", 1, 13,
     OPTIONAL.format("f64")),
    ("? after an array type", "def f(x: f64[n]?) -> f64:\n    return 1.0\n", 1, 16,
     OPTIONAL.format("f64")),
    ("? after a return type", "def f(x: f64) -> i64?:\n    return 1\n", 1, 21,
     OPTIONAL.format("i64")),
    ("? after an annotation's type", HEAD + "    y: f64? = x[0]\n    return y\n", 2, 11,
     OPTIONAL.format("f64")),
    ("c ? a : b after an annotation", HEAD + "    y: f64 = x[0] ? 1.0 : 2.0\n    return y\n",
     2, 19, "'?' is not an operator in .dp; write c ? a : b as a if c else b"),
    ("in", HEAD + "    return 1.0 if x[0] in x else 0.0\n", 2, 24, MEMBERSHIP),
    ("not in", HEAD + "    return 1.0 if x[0] not in x else 0.0\n", 2, 24, MEMBERSHIP),
    (":=", HEAD + "    if (y := x[0]) > 1.0:\n        return y\n    return 0.0\n", 2, 11, WALRUS),
    (":= as a statement", HEAD + "    y := x[0]\n    return y\n", 2, 7, WALRUS),
    ("starred target", HEAD + "    a, *b = x\n    return a\n", 2, 8, STARRED),
    ("starred first", HEAD + "    *b, a = x\n    return a\n", 2, 5, STARRED),
    ("spaced **=", HEAD + "    y = x[0]\n    y ** = 2.0\n    return y\n", 3, 7,
     "write '**=' without a space between '**' and '='"),
    ("spaced +=", HEAD + "    y = x[0]\n    y + = 2.0\n    return y\n", 3, 7,
     "write '+=' without a space between '+' and '='"),
    ("=> for >=", HEAD + "    return float(x[0] => 2.0)\n", 2, 23, "'=>' is not an operator; write '>='"),
    ("=< in an if", HEAD + "    if x[0] =< 2.0:\n        return 1.0\n    return 0.0\n", 2, 13,
     "'=<' is not an operator; write '<='"),
    ("a ']' missing before a header's ':'",
     HEAD + "    if x[0 > 0.0:\n        return 1.0\n    return 0.0\n", 2, 17,
     "'[' opened at 2:9 is not closed before ':'"),
    ("a Greek letter in a name", HEAD + "    \u03b1 = 1.0\n    return \u03b1\n", 2, 5,
     "'\u03b1' (U+03B1) cannot be part of a name: names use only ASCII letters, digits and _; "
     "rename it"),
    ("an accent inside a name", HEAD + "    caf\u00e9 = 1.0\n    return 1.0\n", 2, 8,
     "'\u00e9' (U+00E9) cannot be part of a name: names use only ASCII letters, digits and _; "
     "rename it"),
    ("a minus sign", HEAD + "    return x[0] \u2212 1.0\n", 2, 17,
     "'\u2212' (U+2212) is not ASCII; write '-' instead"),
    ("a less-or-equal sign", HEAD + "    return 1.0 if x[0] \u2264 2.0 else 0.0\n", 2, 24,
     "'\u2264' (U+2264) is not ASCII; write '<=' instead"),
    ("curly quotes", HEAD + "    assert n > 0, \u201cpositive\u201d\n    return 1.0\n", 2, 19,
     "'\u201c' (U+201C) is not ASCII; write '\"' instead"),
    ("a no-break space", HEAD + "    return x[0] +\u00a01.0\n", 2, 18,
     "U+00A0 (no-break space) is not a plain space; write ' ' instead"),
    ("a zero-width space", HEAD + "    return x[0]\u200b\n", 2, 16,
     "U+200B (zero width space) is an invisible character outside ASCII; delete it"),
    # a Python string's; they raised UnicodeEncodeError from the string's parse
    ("a lone surrogate in a string", HEAD + "    assert n > 0, \"a \ud800\"\n    return 1.0\n",
     2, 22, SURROGATE_D800),
    ("a lone surrogate in a comment", HEAD + "    return 1.0  # \udc80\n", 2, 19,
     SURROGATE_D800.replace("D800", "DC80")),
    ("an arrow", HEAD + "    return x[0] \u2192 1.0\n", 2, 17,
     "'\u2192' (U+2192) is not ASCII: outside strings and comments .dp is written in ASCII"),
    ("^ for power", HEAD + "    return x[0] ^ 2\n", 2, 17,
     "'^' is not power in .dp; write x ** y (.dp has no bitwise operators)"),
    ("a shift", "def f(k: i64) -> i64:\n    return k >> 1\n", 2, 14, SHIFTS % ">>"),
    ("a shift assigned", "def f(k: i64) -> i64:\n    k <<= 2\n    return k\n", 2, 7,
     SHIFTS % "<<"),
    ("<> for !=", "def f(k: i64) -> bool:\n    return k <> 1\n", 2, 14,
     "'<>' is not an operator; write '!='"),
    ("a brace after a def", "def f(x: f64) -> f64 {\n    return x\n}\n", 1, 22, BRACES),
    ("a dict", HEAD + "    d = {\"a\": 1.0}\n    return 1.0\n", 2, 9, BRACES),
    ("semicolon", HEAD + "    y = x; z = y\n    return 1.0\n", 2, 10,
     "one statement per line; ';' is not supported"),
    ("chained assignment", HEAD + "    a = b = x[0]\n    return a\n", 2, 11,
     "chained assignment is not supported; assign one name at a time"),
    ("= in an if", HEAD + "    if n = 1:\n        return 1.0\n    return 0.0\n", 2, 10,
     "use == to compare (= assigns)"),
    ("= in a while", HEAD + "    while n = 1:\n        n -= 1\n    return 0.0\n", 2, 13,
     "use == to compare (= assigns)"),
    ("declaration without value", HEAD + "    y: f64\n    return 1.0\n", 2, 11,
     "a declaration needs a value: y: f64 = ..."),
    ("declaration without value, a comment after it",
     HEAD + "    y: f64  # scratch\n    return 1.0\n", 2, 11,
     "a declaration needs a value: y: f64 = ..."),
    # loops, strings, the top level
    ("enumerate", HEAD + "    for i, v in enumerate(x):\n        pass\n    return 1.0\n", 2, 10,
     "only 'for NAME in range(...)' is supported"),
    ("zip", HEAD + "    for a, b in zip(x, x):\n        pass\n    return 1.0\n", 2, 10,
     "only 'for NAME in range(...)' is supported"),
    ("for ... else", HEAD + "    s = 0.0\n    for i in range(n):\n        s += 1.0\n    else:\n"
     "        s = 2.0\n    return s\n", 5, 5, LOOP_ELSE.format("for")),
    ("while ... else, a comment between", HEAD + "    s = 0.0\n    while s < 1.0:\n"
     "        s += 1.0\n\n    # done\n    else:\n        s = 2.0\n    return s\n", 7, 5,
     LOOP_ELSE.format("while")),
    ("else with no if", HEAD + "    y = 1.0\n    else:\n        y = 2.0\n    return y\n", 3, 5,
     NO_IF.format("else")),
    ("else indented under its if's body", HEAD + "    if n > 0:\n        y = 1.0\n        else:\n"
     "            y = 2.0\n    return y\n", 4, 9, NO_IF.format("else")),
    ("else first in a body", HEAD + "    else:\n        y = 2.0\n    return y\n", 2, 5,
     NO_IF.format("else")),
    ("elif after a loop", HEAD + "    for i in range(n):\n        pass\n    elif n > 0:\n"
     "        pass\n    return 1.0\n", 4, 5, NO_IF.format("elif")),
    ("assert called like a function", HEAD + "    assert(n > 0, \"n must be positive\")\n"
     "    return 1.0\n", 2, 11, 'assert is a statement, not a function: write assert cond, '
     '"message" without the parentheses'),
    ("assert message not a string", HEAD + "    assert n > 0, n\n    return 1.0\n", 2, 19,
     'the assert message must be a string: assert cond, "message"'),
    ("a string in wrt", HEAD + "    return grad(f, wrt=\"x\")(x, n)\n", 2, 24, WRT),
    ("a string in a wrt tuple", HEAD + "    return grad(f, wrt=(x, \"n\"))(x, n)\n", 2, 28, WRT),
    ("an empty wrt", HEAD + "    return grad(f, wrt=())(x, n)\n", 2, 24,
     "wrt names at least one parameter: wrt=x or wrt=(x, w); without wrt, every f64 "
     "parameter"),
    ("f-string in assert", HEAD + "    assert n > 0, f\"n is {n}\"\n    return 1.0\n", 2, 19,
     "f-strings are not supported; use a plain string"),
    ("module constant", "c = 3.0\n" + HEAD + "    return c\n", 1, 1,
     ONLY_DEF + "module-level constants are not supported; pass it as an argument or write "
     "the literal"),
    ("annotated module constant", HEAD + "    return 1.0\n\nc: f64 = 3.0\n", 4, 1,
     ONLY_DEF + "module-level constants are not supported; pass it as an argument or write "
     "the literal"),
    ("main guard", HEAD + "    return 1.0\n\nif __name__ == \"__main__\":\n    f(1.0)\n", 4, 1,
     ONLY_DEF + "there is no main program; call the functions from Python or with dpc run"),
    ("top-level call", HEAD + "    return 1.0\n\nprint(f(1.0))\n", 4, 1,
     ONLY_DEF + "put statements inside a function"),
    # brackets and numbers
    ("unclosed bracket at end of file", HEAD + "    return (x[0] + 1.0\n", 2, 12,
     "'(' opened at 2:12 is not closed before end of file"),
    ("unclosed bracket without a newline", HEAD + "    return sum(x[0] +", 2, 15,
     "'(' opened at 2:15 is not closed before end of file"),
    ("digit separator", HEAD + "    return 1_000.0\n", 2, 12,
     "digit separators are not supported: write 1000.0"),
    ("hexadecimal", "def f(n: i64) -> i64:\n    return 0x10 * n\n", 2, 12,
     "numbers are written in decimal: write 16"),
    ("a leading zero", "def f(n: i64) -> i64:\n    return 010 * n\n", 2, 12,
     "an integer does not start with 0 (in C, 010 would be octal): write 10"),  # it was 10
    ("a leading zero in a type", "def f(x: f64[03]) -> f64:\n    return x[0]\n", 1, 14,
     "an integer does not start with 0 (in C, 03 would be octal): write 3"),
    ("complex", HEAD + "    return 1.5j\n", 2, 12,
     "complex numbers are not supported; numbers are f64 or i64"),
    ("exponent without digits", HEAD + "    return 1e\n", 2, 12, "'1e' is not a number"),
    ("a size past i64", "def f(x: f64[99999999999999999999]) -> f64:\n    return sum(x)\n",
     1, 14, "size 99999999999999999999 does not fit in i64 (at most 9223372036854775807)"),
    # True was a dimension named True, which the body could never read
    ("a keyword as a size", "def f(x: f64[n, True]) -> f64:\n    return sum(x)\n", 1, 17,
     "'True' is a keyword, not a size: a size is a dimension name or an integer literal"),
    ("a statement keyword as a size", "def f(x: f64[if]) -> f64:\n    return sum(x)\n",
     1, 14, "'if' is a keyword, not a size: a size is a dimension name or an integer literal"),
    # where no name fits, the lexer read the keyword at the start of one: 1.0 if b
    ("a keyword glued to a name", "def f(b: bool) -> f64:\n    return 1.0ifb else 2.0\n",
     2, 15, "'ifb' is read as one name, which cannot stand here; put a space after 'if' if "
     "it is meant as the keyword"),
    ("a keyword glued to a number", "def f(b: bool) -> f64:\n    return 1.0 if b else2.0\n",
     2, 21, "'else2' is read as one name, which cannot stand here; put a space after 'else' "
     "if it is meant as the keyword"),
    ("a hundredth level of indentation", nested_ifs(99), 102, 401,
     "too many levels of indentation: blocks nest at most 99 deep, as in Python; move the "
     "inner blocks into a function"),
]


@pytest.mark.parametrize("kind,source,line,col,message", WRONG, ids=[w[0] for w in WRONG])
def test_wrong_syntax(kind, source, line, col, message):
    with pytest.raises(SyntaxErrorDP) as err:
        parse(source, "s.dp")
    assert (err.value.message, err.value.line, err.value.col) == (message, line, col)


# (id, source, the whole error as printed)
POINTED = [
    ("a tab error, at the start of the line",
     "def f(x: f64) -> f64:\n    y = x\n\treturn y\n",
     f"t.dp:3:1: error: {TABS}\n"
     " 3 |     return y\n"
     "   | ^"),
    ("a '?' after a type", "def f(x: f64?) -> f64:\n    return x\n",
     "t.dp:1:13: error: '?' cannot follow a type: .dp has no optional types, and an unknown "
     "size is written inside the brackets, as in f64[?]\n"
     " 1 | def f(x: f64?) -> f64:\n"
     "   |             ^"),
    ("an unclosed bracket", "def f(x: f64) -> f64:\n    return exp(x\n",
     "t.dp:2:15: error: '(' opened at 2:15 is not closed before end of file\n"
     " 2 |     return exp(x\n"
     "   |               ^"),
    # a terminal shows each of the four characters two columns wide
    ("after wide characters", "def f(x: f64) -> f64:\n    assert x > 0.0, \"中文中文\"; return x\n",
     "t.dp:2:27: error: one statement per line; ';' is not supported\n"
     " 2 |     assert x > 0.0, \"中文中文\"; return x\n"
     "   | " + " " * 30 + "^"),
    # a Python string's lone surrogate: the printed error could not be written as UTF-8
    ("a lone surrogate", "def f(x: f64) -> f64:\n    return x + \ud800\n",
     "t.dp:2:16: error: U+D800 is a lone surrogate, half of a UTF-16 pair and no character: "
     "the text was decoded wrongly, or cut inside a pair; delete it\n"
     " 2 |     return x + \ufffd\n"
     "   |                ^"),
]


@pytest.mark.parametrize("kind,source,text", POINTED, ids=[p[0] for p in POINTED])
def test_the_caret_is_under_the_spot(kind, source, text):
    with pytest.raises(SyntaxErrorDP) as err:
        parse(source, "t.dp")
    assert str(err.value) == text
    str(err.value).encode("utf-8")


def test_a_bad_number_gives_no_python_warning():
    # '1inx' is not a number; Python's own SyntaxWarning about it is not shown besides
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(SyntaxErrorDP, match="'1inx' is not a number"):
            parse("def f(x: f64) -> f64:\n    return 1inx\n", "w.dp")


def test_unclosed_bracket_before_the_next_statement_still_names_it():
    with pytest.raises(SyntaxErrorDP) as err:
        parse(HEAD + "    y = exp(x[0]\n    return y\n")
    assert (err.value.message, err.value.line, err.value.col) == (
        "'(' opened at 2:12 is not closed before 'return'", 3, 5)


def test_a_continuation_line_inside_brackets_is_not_a_new_statement():
    with pytest.raises(SyntaxErrorDP) as err:
        parse("def f(x: f64,\n      y) -> f64:\n    return x\n")
    assert (err.value.message, err.value.line, err.value.col) == (
        "parameter 'y' needs a type, like y: f64", 2, 7)


def test_a_name_like_a_soft_keyword_is_a_variable():
    assert parse(HEAD + "    match = x[0]\n    case = match\n    return case\n").functions
    assert parse(HEAD + "    var = x[0]\n    let = var\n    double = let\n    return double\n")
    with pytest.raises(SyntaxErrorDP) as err:
        parse(HEAD + "    match = x[0] +\n    return match\n")
    assert err.value.message.startswith("the line ends after '+'")


DOCUMENTED = '''"""Module docstring: what this file computes."""

# a comment may come first too
def scale(x: f64) -> f64:
    """Doubles x.

    Spans lines, like Python's."""
    return 2.0 * x

def twice(x: f64) -> f64:
    \'\'\'Single quotes work too.\'\'\'
    return scale(scale(x))
'''


def test_docstrings_are_accepted_and_ignored():
    mod = compile_source(DOCUMENTED, backend="interp")
    assert mod.twice(1.5) == 6.0
    assert [len(f.body) for f in parse(DOCUMENTED).functions] == [1, 1]


def test_a_function_of_only_a_docstring_has_no_return():
    with pytest.raises(CompileError) as err:
        compile_source('def f(x: f64) -> f64:\n    """Nothing yet."""\n', name="d.dp")
    assert (err.value.message, err.value.line, err.value.col) == (
        "function 'f' does not end with a return statement; add one as its last line, "
        "returning the f64 it declares", 1, 5)


def test_lines_after_a_multi_line_docstring_keep_their_numbers():
    with pytest.raises(SyntaxErrorDP) as err:
        parse('def f(x: f64) -> f64:\n    """One\n    two\n    three"""\n    return x[1:]\n')
    assert (err.value.line, err.value.col) == (5, 15)


def test_files_indented_with_tabs_only_work():
    source = "def f(x: f64) -> f64:\n\ty = 1.0\n\tif x > 0.0:\n\t\ty = 2.0\n\treturn y\n"
    mod = compile_source(source, backend="interp")
    assert (mod.f(1.0), mod.f(-1.0)) == (2.0, 1.0)


AUGMENTED = """
def f(x: f64, n: i64) -> (f64, i64, i64):
    x **= 2.0
    a = n
    a //= 3
    b = n
    b %= 4
    return x, a, b

def g(m: f64[k, k], v: f64[k]) -> f64[k]:
    w = v
    w @= m
    y = v
    y[0] **= 3.0
    y[1] //= 2.0
    y[0] %= 5.0
    return w + y
"""


def test_every_arithmetic_operator_has_an_augmented_assignment():
    mod = compile_source(AUGMENTED, backend="interp")
    assert tuple(mod.f(3.0, -7)) == (9.0, -7 // 3, -7 % 4)
    m, v = np.arange(4.0).reshape(2, 2), np.array([3.0, 5.0])
    y = v.copy()
    y[0] **= 3.0
    y[1] //= 2.0
    y[0] %= 5.0
    np.testing.assert_array_equal(mod.g(m, v), v @ m + y)


def test_and_or_not_work_elementwise_as_the_operator_message_says():
    mod = compile_source("def f(x: f64[n]) -> f64[n]:\n"
                         "    return where((x > 0.0) and not (x > 1.0) or (x < -1.0), x, 0.0)\n",
                         backend="interp")
    np.testing.assert_array_equal(mod.f(np.array([-2.0, -0.5, 0.5, 2.0])), [-2.0, 0.0, 0.5, 0.0])


def test_comments_and_strings_may_hold_any_character():
    mod = compile_source("def f(x: f64) -> f64:  # caf\u00e9 \u2264 2\n"
                         "    assert x > 0.0, \"x \u2265 0 \u2713\"\n    return x\n", backend="interp")
    assert mod.f(2.0) == 2.0


def test_an_assert_condition_may_have_parentheses():
    mod = compile_source("def f(x: f64) -> f64:\n    assert(x > 0.0)\n"
                         "    assert (x < 9.0), \"small\"\n    return x\n", backend="interp")
    assert mod.f(2.0) == 2.0


def test_blocks_nested_as_deep_as_python_allows_compile_and_differentiate():
    # 98 ifs in a def: Python's limit. The front end took 330, and then a copy of the
    # module overflowed Python's stack: a RecursionError from compile_source
    mod = compile_source(nested_ifs(98))
    assert (mod.f(1.0, 98), mod.f(1.0, 97), mod.grad("f", wrt="x")(1.0, 98)) == (2.0, 1.0, 1.0)
    # inlined into each other, three such functions nest 294 deep: as deep as that overflow
    chain = "\n".join(nested_ifs(98, f"g{k}", f"g{k + 1}(y, c)" if k < 2 else "y * 2.0")
                      for k in range(3))
    mod = compile_source(chain)
    assert (mod.g0(1.0, 98), mod.grad("g0", wrt="x")(1.0, 98)) == (2.0, 2.0)


def test_a_long_elif_chain_is_differentiated():
    # an elif is an if in the else block: 350 arms nest 350 deep, though the text does
    # not. The function compiled, and mod.grad raised a RecursionError (a copy of the
    # module, outside the front end's recursion limit)
    arms = "".join(f"    elif x < {k}.5:\n        y = x * {k}.0\n" for k in range(350))
    source = ("def f(x: f64) -> f64:\n    y = 0.0\n    if x < 0.0:\n        y = x\n" + arms
              + "    else:\n        y = -x\n    return y\n")
    mod = compile_source(source, backend="interp")
    assert (mod.f(100.2), mod.grad("f")(100.2), mod.grad("f")(400.0)) == (10020.0, 100.0, -1.0)
    assert "@f.rev" in mod.ir(mod.grad("f"), stage="ad")
