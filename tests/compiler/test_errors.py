"""Wrong programs: each gets one exact message, at an exact line and column, with the source
line and a caret; the CLI prints it to stderr and exits 1."""

import math
import subprocess
import sys

import pytest

from compiler import CompileError, compile_source
from compiler.cli import main

# (id, source, line, col, message)
WRONG = [
    ("syntax: missing colon",
     "def f(x: f64) -> f64\n    return x\n", 1, 21, None),
    ("unknown name",
     "def f(x: f64) -> f64:\n    return x + y\n", 2, 16, "unknown name 'y'"),
    ("unknown name with suggestion",
     "def f(total: f64) -> f64:\n    return totl * 2.0\n", 2, 12,
     "unknown name 'totl' (did you mean 'total'?)"),
    ("unknown function",
     "def f(x: f64) -> f64:\n    return sine(x)\n", 2, 12,
     "unknown function 'sine' (did you mean 'sin'?)"),
    ("type mismatch: bool arithmetic",
     "def f(x: f64, b: bool) -> f64:\n    return x + b\n", 2, 14,
     "cannot add f64 and bool: add needs numbers, not bool"),
    ("a bool where math needs a number",  # said 'expected a number, got bool[n]'
     "def f(x: f64[n]) -> f64:\n    return mean(x > 0.0)\n", 2, 12,
     "mean() needs numbers, not bool[n]; convert it with float(...) first"),
    ("a bool operand of @",
     "def f(x: f64[n]) -> f64:\n    return x @ (x > 0.0)\n", 2, 14,
     "'@' needs numbers, not bool[n]; convert it with float(...) first"),
    ("dimension mismatch",
     "def f(x: f64[n], y: f64[k]) -> f64[n]:\n    return x + y\n", 2, 14,
     "cannot add f64[n] and f64[k]: dimension n is not k"),
    ("broadcasting mismatch",
     "def f(a: f64[n, d], v: f64[n]) -> f64[n, d]:\n    return a - v\n", 2, 14,
     "cannot subtract f64[n, d] and f64[n]: dimension d is not n"),
    ("dimension mismatch of an integer and a float array",  # said f64[m]: after promotion
     "def f(x: f64[n], y: i64[m]) -> f64[n]:\n    return y * x\n", 2, 14,
     "cannot multiply i64[m] and f64[n]: dimension m is not n"),
    ("dimension mismatch in a comparison of an integer and a float array",
     "def f(x: f64[n], y: i64[m]) -> bool[n]:\n    return y < x\n", 2, 14,
     "cannot compare i64[m] and f64[n]: dimension m is not n"),
    ("a chain of comparisons of two sizes",  # said "cannot apply 'and'": there is no 'and'
     "def f(x: f64[n], y: f64[m]) -> bool[n]:\n    return x < 1.0 < y\n", 2, 20,
     "the comparisons of this chain give bool[n] and bool[m], which 'and' cannot combine: "
     "dimension n is not m (a < b < c means a < b and b < c, element by element)"),
    ("name used after the loop that bound it",
     "def f(n: i64) -> f64:\n    acc = 0.0\n    for i in range(n):\n        t = 2.0\n"
     "        acc += t\n    return acc + t\n", 6, 18,
     "'t' is bound inside the for loop at line 3 and is not visible after it; bind it before the loop"),
    ("name bound in only one branch",
     "def f(x: f64) -> f64:\n    if x > 0.0:\n        y = x\n    return y\n", 4, 12,
     "'y' is bound only in some branches of the if at line 2; bind it before the if or in every branch"),
    ("a name used in a loop before the body binds it",  # was "unknown name 'prev'"
     "def f(n: i64) -> f64:\n    s = 0.0\n    for i in range(n):\n        if i > 0:\n"
     "            s += prev\n        prev = float(i)\n    return s\n", 5, 18,
     "'prev' has no value here: it is first bound later in the for loop at line 3 (at line "
     "6); to carry it from one iteration to the next, bind it before the loop"),
    ("a name the loop binds in another branch",  # said 'first bound later' of line 5
     "def f(n: i64) -> f64:\n    s = 0.0\n    for i in range(n):\n        if i == 0:\n"
     "            prev = 1.0\n        else:\n            s += prev\n    return s\n", 7, 18,
     "'prev' has no value here: the for loop at line 3 binds it at line 5, on a path that "
     "does not reach this read; to carry it from one iteration to the next, bind it before "
     "the loop"),
    ("an update of a name never bound",  # said 'used before it is bound (at line 3)' of line 3
     "def f(n: i64) -> f64:\n    for i in range(n):\n        s += 1.0\n    return 0.0\n", 3, 9,
     "'s' has no value before this statement updates it; bind it first (s = 0.0, say)"),
    ("a name read on the line that first binds it",
     "def f(x: f64) -> f64:\n    y = y + x\n    return y\n", 2, 9,
     "'y' has no value before this line binds it; bind it first"),
    ("a while condition that reads a name the body binds",
     "def f(x: f64) -> f64:\n    while x > 0.0 and step > 0.5:\n        step = x / 2.0\n"
     "        x = x - step\n    return x\n", 2, 23,
     "'step' has no value here: it is first bound later in the while loop at line 2 (at line "
     "3); to carry it from one iteration to the next, bind it before the loop"),
    ("a name used before it is bound",  # was "unknown name 'z'"
     "def f(x: f64) -> f64:\n    y = z + 1.0\n    z = 2.0\n    return y\n", 2, 9,
     "'z' is used before it is bound (at line 3); bind it first"),
    ("loop variable after the loop",
     "def f(n: i64) -> i64:\n    for i in range(n):\n        pass\n    return i\n", 4, 12,
     "'i' is the loop variable of the for loop at line 2 and is not visible after it"),
    ("a comprehension's variable after it",  # was "unknown name 'i'"
     "def f(x: f64[n]) -> f64:\n    y = [x[i] * 2.0 for i in range(n)]\n    return y[i]\n", 3, 14,
     "'i' is the variable of the comprehension at line 2 and is visible only inside it"),
    ("a generator expression's variable after it",
     "def f(x: f64[n]) -> f64:\n    s = sum(x[k] for k in range(n))\n    return s * x[k]\n", 3, 18,
     "'k' is the variable of the generator expression at line 2 and is visible only inside it"),
    ("a generator assigned to a name",  # said "unexpected 'for' (expected ')' or ',')"
     "def f(x: f64[n]) -> f64:\n    y = (x[i] for i in range(n))\n    return sum(y)\n", 2, 10,
     "a generator expression is only allowed as the argument of sum, max, min or prod"),
    ("a generator given to a function named sum",  # said it must be given to sum
     "def sum(x: f64[n]) -> f64:\n    return 42.0\n\ndef g(x: f64[n]) -> f64:\n"
     "    return sum(x[i] for i in range(n))\n", 5, 16,
     "'sum' here is the function defined at line 1, which hides the builtin sum; rename the "
     "function to use the builtin's generator form"),
    ("a generator given to a function of the program",
     "def h(x: f64[n]) -> f64:\n    return 42.0\n\ndef g(x: f64[n]) -> f64:\n"
     "    return h(x[i] for i in range(n))\n", 5, 14,
     "a generator expression is only allowed as the argument of sum, max, min or prod"),
    ("a generator with an axis",  # said "unexpected 'for' (expected ')' or ',')"
     "def f(x: f64[n]) -> f64:\n    return sum((x[i] for i in range(n)), axis=0)\n", 2, 42,
     "sum() of a generator takes no axis"),
    ("a generator beside another argument",  # said "unexpected 'for' (expected ')' or ',')"
     "def f(x: f64[n]) -> f64:\n    return max(0.0, x[i] for i in range(n))\n", 2, 26,
     "a generator expression must be the only argument of sum, max, min or prod: "
     "sum(e for i in range(n))"),
    ("a vector stored into a row of another size",  # said "into a slot of type f64[m]"
     "def f(x: f64[n, m], v: f64[n]) -> f64[n, m]:\n    y = x\n    y[0] = v\n    return y\n",
     3, 5, "cannot store f64[n] into a row of f64[n, m], which is f64[m]: dimension n is not m"),
    ("an f64 stored into an i64 array",  # said nothing of int(...)
     "def f(n: i64, x: f64) -> i64[?]:\n    k = arange(n)\n    k[0] = x\n    return k\n", 3, 5,
     "cannot store f64 into an element of i64[?] (convert with int(...), which truncates "
     "toward zero)"),
    ("non-tail return",
     "def f(x: f64) -> f64:\n    return x\n    y = x\n", 2, 5,
     "return must be the last statement of a function or of a branch of an if: what follows "
     "it never runs"),
    ("return inside a loop",
     "def f(n: i64) -> i64:\n    for i in range(n):\n        return i\n    return 0\n", 3, 9,
     "return cannot be inside a loop: a loop runs all its iterations; keep the value in a "
     "variable and return it after the loop"),
    ("return inside a while loop's if",
     "def f(n: i64) -> i64:\n    while n > 0:\n        if n == 3:\n            return n\n"
     "        n -= 1\n    return 0\n", 4, 13,
     "return cannot be inside a loop: a loop runs all its iterations; keep the value in a "
     "variable and return it after the loop"),
    ("derivative of a builtin",
     "def f(x: f64) -> f64:\n    return grad(sin)(x)\n", 2, 17,
     "'sin' is a builtin; derivative forms take a function of this module: def a function "
     "that calls sin, and pass that"),
    ("derivative of a value",  # said "unknown function 'y' (did you mean 'y'?)"
     "def f(y: f64) -> f64:\n    return grad(y)(y)\n", 2, 17,
     "'y' is a value; derivative forms take a function of this module"),
    ("derivative of a value named like a function",
     "def loss(y: f64) -> f64:\n    return y\n\ndef f(y: f64) -> f64:\n    lost = 1.0\n"
     "    return grad(lost)(y)\n", 6, 17,
     "'lost' is a value; derivative forms take a function of this module (did you mean "
     "'loss'?)"),
    ("a tuple in a returned tuple",
     "def p(x: f64) -> (f64, f64):\n    return x, x\n\ndef q(x: f64) -> (f64, f64, f64):\n"
     "    return p(x), x\n", 5, 12,
     "this call returns 2 values, and a tuple cannot hold a tuple: unpack it first "
     "(a, b = ...) and return the values"),
    ("a gradient of fixed size returned as another",  # was a VerifyError after AD
     "def h3(x: f64[3]) -> f64:\n    return sum(x)\n\ndef g(x: f64[m]) -> f64[m]:\n"
     "    return grad(h3)(x)\n", 5, 12,
     "the returned value is f64[3] but must be f64[m]: dimension 3 is not m"),
    ("a derivative rule of other sizes",
     "def f(x: f64[n]) -> f64:\n    return sum(x * x)\n\n@derivative(f)\n"
     "def f_vjp(x: f64[m], ct: f64) -> f64[3]:\n    return ones(3) * ct\n", 4, 1,
     "a @derivative(f) rule must return f64[n], but 'f_vjp' returns f64[3]"),
    ("a derivative rule returning one cotangent of two",  # said "returns (f64)"
     "def g(x: f64, y: f64) -> f64:\n    return x * y\n\n@derivative(g)\n"
     "def g_rule(x: f64, y: f64, gb: f64) -> f64:\n    return gb\n", 4, 1,
     "a @derivative(g) rule must return (f64, f64), but 'g_rule' returns f64"),
    ("a derivative rule returning two cotangents of one",
     "def g(x: f64) -> f64:\n    return x * x\n\n@derivative(g)\n"
     "def g_rule(x: f64, gb: f64) -> (f64, f64):\n    return gb, gb\n", 4, 1,
     "a @derivative(g) rule must return f64, but 'g_rule' returns (f64, f64)"),
    ("missing return",  # pointed at 'def', and did not say what to add
     "def f(x: f64) -> f64:\n    y = x\n", 1, 5,
     "function 'f' does not end with a return statement; add one as its last line, returning "
     "the f64 it declares"),
    ("missing return of a tuple, after a loop",
     "def pair(x: f64[m]) -> (f64, f64[m]):\n    for i in range(3):\n        x = x + 1.0\n",
     1, 5, "function 'pair' does not end with a return statement; add one as its last line, "
     "returning the (f64, f64[m]) it declares"),
    ("recursion",
     "def f(x: f64) -> f64:\n    return f(x)\n", 2, 12, "recursion is not supported: 'f' calls itself"),
    ("mutual recursion",
     "def f(x: f64) -> f64:\n    return g(x)\n\ndef g(x: f64) -> f64:\n    return f(x) + 1.0\n", 5, 12,
     "recursion is not supported: 'f' calls 'g', which calls 'f'"),
    ("recursion through a custom rule",
     "def f(x: f64) -> f64:\n    return x\n\n@derivative(f)\ndef f_vjp(x: f64, ct: f64) -> f64:\n"
     "    return grad(f)(x) * ct\n", 6, 17,
     "recursion is not supported: 'f_vjp' differentiates 'f', whose @derivative rule is 'f_vjp'"),
    ("recursion through a call and a custom rule",
     "def f(x: f64) -> f64:\n    return x * x\n\n@tangent(f)\ndef f_jvp(x: f64, t: f64) -> f64:\n"
     "    return h(x) * t\n\ndef h(x: f64) -> f64:\n    return jvp(f)(x, 1.0)\n", 9, 16,
     "recursion is not supported: 'f_jvp' calls 'h', which differentiates 'f', "
     "whose @tangent rule is 'f_jvp'"),
    ("break",
     "def f(n: i64) -> i64:\n    s = 0\n    for i in range(n):\n        if i > 3:\n            break\n"
     "        s = s + i\n    return s\n", 5, 13,
     "'break' is not supported: a loop runs all its iterations (use while with a condition "
     "to stop early)"),
    ("a custom rule without its function",
     "def f(x: f64) -> f64:\n    return x\n\n@derivative\ndef g(x: f64, c: f64) -> f64:\n"
     "    return c\n", 4, 1, "@derivative needs the function it is the rule of: @derivative(f)"),
    # the grammar took one name in a decorator's parentheses, and anything else was a
    # parser message such as "unexpected ')' (expected a name or end of line)"
    ("a custom rule with empty parentheses",
     "def f(x: f64) -> f64:\n    return x\n\n@derivative()\ndef g(x: f64, c: f64) -> f64:\n"
     "    return c\n", 4, 13,
     "@derivative() names no function: write the function it is the rule of, @derivative(f)"),
    ("a custom rule of two functions",
     "def f(x: f64) -> f64:\n    return x\n\n@tangent(f, g)\ndef g(x: f64, t: f64) -> f64:\n"
     "    return t\n", 4, 13,
     "@tangent takes one function, the one it is the rule of: @tangent(f)"),
    ("a custom rule of a call",
     "def f(x: f64) -> f64:\n    return x\n\n@derivative(f(x))\ndef g(x: f64, c: f64) -> f64:\n"
     "    return c\n", 4, 13,
     "@derivative takes the name of a function of this module, not an expression: "
     "@derivative(f)"),
    ("a custom rule of a sum of functions",  # the caret was under the '+'
     "def f(x: f64) -> f64:\n    return x\n\n@derivative(f + f)\ndef g(x: f64, c: f64) -> f64:\n"
     "    return c\n", 4, 13,
     "@derivative takes the name of a function of this module, not an expression: "
     "@derivative(f)"),
    ("a custom rule's function by keyword",
     "def f(x: f64) -> f64:\n    return x\n\n@derivative(fn=f)\ndef g(x: f64, c: f64) -> f64:\n"
     "    return c\n", 4, 13, "@derivative takes the function's name without a keyword: "
     "@derivative(f)"),
    # said 'a string can only be an assert message or a docstring'
    ("a custom rule's function in quotes",
     "def sq(x: f64) -> f64:\n    return x * x\n\n@derivative(\"sq\")\n"
     "def g(x: f64, c: f64) -> f64:\n    return c\n", 4, 13,
     "@derivative names its function without quotes: @derivative(sq)"),
    # said 'a string can only be an assert message or a docstring'
    ("a custom rule with a string after its function",
     "def f(x: f64) -> f64:\n    return x\n\n@derivative(f, \"g\")\n"
     "def g(x: f64, c: f64) -> f64:\n    return c\n", 4, 16,
     "@derivative takes one function, the one it is the rule of: @derivative(f)"),
    ("a tangent rule's function in quotes",
     "def f(x: f64) -> f64:\n    return x\n\n@tangent('f')\ndef g(x: f64, t: f64) -> f64:\n"
     "    return t\n", 4, 10, "@tangent names its function without quotes: @tangent(f)"),
    ("a custom rule's function without parentheses",
     "def f(x: f64) -> f64:\n    return x\n\n@derivative f\ndef g(x: f64, c: f64) -> f64:\n"
     "    return c\n", 4, 13,
     "@derivative takes the function it is the rule of in parentheses: @derivative(f)"),
    ("an unknown decorator with parentheses",  # said "unexpected ')' (expected a name ...)"
     "def f(x: f64) -> f64:\n    return x\n\n@jit()\ndef g(x: f64) -> f64:\n    return x\n",
     4, 1, "unknown decorator '@jit'; dpc knows @derivative(f) and @tangent(f)"),
    ("a decorator's parenthesis left open",  # said 'move def g out of f'
     "def f(x: f64) -> f64:\n    return x\n\n@derivative(\ndef g(x: f64, c: f64) -> f64:\n"
     "    return c\n", 5, 1, "'(' opened at 4:12 is not closed before 'def'"),
    ("a parenthesis left open before an if",  # said "expected 'else', found ':'"
     "def f(x: f64) -> f64:\n    y = exp(x\n    if y > 0.0:\n        return y\n    return x\n",
     3, 5, "'(' opened at 2:12 is not closed before 'if'"),
    ("a custom rule for a builtin",  # said "names unknown function 'sin'"
     "@derivative(sin)\ndef sin_vjp(x: f64, ct: f64) -> f64:\n    return ct * cos(x)\n", 1, 13,
     "'sin' is a builtin, whose derivatives are built in; @derivative gives the rule of a "
     "function of this module: def one that calls sin"),
    ("a custom rule for a misspelled function",  # pointed at '@', with no suggestion
     "def softplus(x: f64) -> f64:\n    return log1p(exp(x))\n\n@derivative(sofplus)\n"
     "def softplus_vjp(x: f64, ct: f64) -> f64:\n    return ct * sigmoid(x)\n", 4, 13,
     "@derivative names unknown function 'sofplus' (did you mean 'softplus'?)"),
    ("a custom rule for a function without f64 parameters",  # said "must return (), but ..."
     "def f(n: i64) -> i64:\n    return n\n\n@derivative(f)\n"
     "def f_vjp(n: i64, ct: i64) -> i64:\n    return ct\n", 4, 13,
     "'f' has no f64 parameter, so no derivative for a @derivative rule to give"),
    ("a custom rule for a function of an integer result",  # accepted, then never used
     "def f(x: f64) -> i64:\n    return int(x)\n\n@derivative(f)\n"
     "def f_vjp(x: f64, ct: i64) -> f64:\n    return 100.0\n", 4, 13,
     "'f' returns i64, which has no derivative (differentiation passes through f64 values "
     "only), so a @derivative rule for it would never be used"),
    ("a tangent rule for a function of bool and i64 results",
     "def f(x: f64) -> (bool, i64):\n    return x > 0.0, 1\n\n@tangent(f)\n"
     "def f_jvp(x: f64, t: f64) -> (bool, i64):\n    return True, 1\n", 4, 10,
     "'f' returns (bool, i64), which has no derivative (differentiation passes through f64 "
     "values only), so a @tangent rule for it would never be used"),
    ("wrong arity",
     "def g(a: f64, b: f64) -> f64:\n    return a * b\n\ndef f(x: f64) -> f64:\n    return g(x)\n",
     5, 12, "'g' takes 2 arguments (a, b), 1 given"),
    ("arity of a function without parameters",  # said "'g' takes 0 arguments (), 1 given"
     "def g() -> f64:\n    return 1.0\n\ndef f(x: f64) -> f64:\n    return g(x)\n",
     5, 12, "'g' takes no arguments, 1 given"),
    ("builtin arity",
     "def f(x: f64) -> f64:\n    return exp(x, 2.0)\n", 2, 12, "exp() takes 1 argument, 2 given"),
    ("wrt names an integer parameter",
     "def f(x: f64, n: i64) -> f64:\n    return x * float(n)\n\n"
     "def g(x: f64, n: i64) -> f64:\n    return grad(f, wrt=n)(x, n)\n", 5, 24,
     "cannot differentiate with respect to 'n': it is i64, not f64"),
    ("wrt names no parameter",
     "def f(x: f64) -> f64:\n    return x * x\n\ndef g(x: f64) -> f64:\n    return grad(f, wrt=y)(x)\n",
     5, 24, "'y' is not a parameter of 'f' (its parameters are x)"),
    # the caret was under the '+' of an expression given for a keyword argument, not at
    # its start
    ("wrt= of an expression",
     "def f(x: f64) -> f64:\n    return x * x\n\ndef g(x: f64) -> f64:\n"
     "    return grad(f, wrt=x + 1.0)(x)\n", 5, 24,
     "wrt= takes parameter names: wrt=x or wrt=(x, y)"),
    ("an expression among the wrt= names",
     "def f(x: f64, y: f64) -> f64:\n    return x * y\n\ndef g(x: f64) -> f64:\n"
     "    return grad(f, wrt=(x, 2.0 * x))(x, x)\n", 5, 28,
     "wrt= takes parameter names: wrt=x or wrt=(x, y)"),
    ("an expression after a keyword argument",  # the caret was under the '*'
     "def f(x: f64, y: f64) -> f64:\n    return f(y=1.0, 2.0 * x)\n", 2, 21,
     "positional argument after a keyword argument"),
    ("grad of a non-scalar function",
     "def f(x: f64[n]) -> f64[n]:\n    return x * x\n\n"
     "def g(x: f64[n]) -> f64[n]:\n    return grad(f)(x)\n", 5, 12,
     "grad needs a function returning f64, 'f' returns f64[n] (for an array result, use vjp or jvp)"),
    ("grad of a function with two results",  # said "'f' returns f64, f64"
     "def f(x: f64) -> (f64, f64):\n    return x, x\n\n"
     "def g(x: f64) -> f64:\n    return grad(f)(x)\n", 5, 12,
     "grad needs a function returning f64, 'f' returns (f64, f64) (for several results, use "
     "vjp or jvp)"),
    ("grad of a gradient",  # named the generated function 'f.grad', which no program writes
     "def f(x: f64[n]) -> f64:\n    return sum(x * x)\n\n"
     "def g(x: f64[n]) -> f64[n]:\n    return grad(grad(f))(x)\n", 5, 12,
     "grad needs a function returning f64, 'grad(f)' returns f64[n] (for an array result, use "
     "vjp or jvp)"),
    ("jvp of a gradient with respect to one parameter, without its tangent",
     "def f(x: f64, y: f64) -> f64:\n    return x * y\n\n"
     "def g(x: f64) -> f64:\n    v, t = jvp(grad(f, wrt=y))(x, x)\n    return t\n", 5, 12,
     "jvp(grad(f, wrt=y)) takes 4 arguments (x, y, then the tangents t_x of x and t_y of y), "
     "2 given"),
    ("vjp of a function with two results, one cotangent given",  # 'cotangent of the result' twice
     "def f(x: f64) -> (f64, f64):\n    return x, x\n\n"
     "def g(x: f64) -> f64:\n    return vjp(f)(x, 1.0)\n", 5, 12,
     "vjp(f) takes 3 arguments (x, then the cotangents ct0 of the first result and ct1 of the "
     "second result), 2 given"),
    ("a misspelled derivative form",  # said "only derivative forms ... can be called on a call's result"
     "def f(x: f64) -> f64:\n    return x * x\n\n"
     "def g(x: f64) -> f64:\n    return gard(f)(x)\n", 5, 12,
     "unknown function 'gard' (did you mean 'grad'?)"),
    ("JAX's hessian",  # said "only derivative forms ... can be called on a call's result"
     "def f(x: f64) -> f64:\n    return x * x\n\n"
     "def g(x: f64) -> f64:\n    return hessian(f)(x)\n", 5, 12,
     "'hessian' is not a builtin: jvp(grad(f))(x, v) gives the Hessian times v (from Python, "
     "mod.hessian gives the whole matrix)"),
    ("JAX's jacrev",
     "def f(x: f64[n]) -> f64[n]:\n    return x * x\n\n"
     "def g(x: f64[n]) -> f64[n, n]:\n    return jacrev(f)(x)\n", 5, 12,
     "'jacrev' is not a builtin: jvp(f)(x, t) gives the Jacobian times t, vjp(f)(x, c) gives "
     "c times the Jacobian (from Python, mod.jacobian gives the whole matrix)"),
    ("jax.grad",  # said "there is no builtin 'grad'"
     "def f(x: f64) -> f64:\n    return x * x\n\n"
     "def g(x: f64) -> f64:\n    return jax.grad(f)(x)\n", 5, 12,
     "jax.grad: there are no modules in .dp; call the builtin grad(...)"),
    ("return type mismatch",
     "def f(x: f64[n]) -> f64:\n    return x\n", 2, 12,
     "the returned value is f64[n] but must be f64"),
    ("return dimension mismatch",
     "def f(x: f64[n], y: f64[m]) -> f64[n]:\n    return y\n", 2, 12,
     "the returned value is f64[m] but must be f64[n]: dimension m is not n"),
    ("condition not bool",
     "def f(x: f64) -> f64:\n    if x:\n        x = 1.0\n    return x\n", 2, 8,
     "the if condition must be bool, got f64 (compare it, for example x > 0.0)"),
    ("condition an elementwise comparison",  # said "compare it", which the user had done
     "def f(x: f64[n]) -> f64:\n    while x > 0.0:\n        x = x - 1.0\n    return sum(x)\n",
     2, 13, "the while condition must be one bool, got bool[n], an elementwise comparison; "
     "compare one value, for example x[i] > 0.0 or sum(x) > 0.0"),
    ("index with a float",
     "def f(x: f64[n], t: f64) -> f64:\n    return x[t]\n", 2, 14,
     "an index must be i64, got f64 (convert with int(...))"),
    ("too many indices",
     "def f(x: f64[n]) -> f64:\n    return x[0, 1]\n", 2, 13,
     "too many indices for f64[n]: 2 given, rank is 1"),
    ("tuple not unpacked",
     "def p(x: f64) -> (f64, f64):\n    return x, x\n\ndef f(x: f64) -> f64:\n    return p(x) + 1.0\n",
     5, 12, "this expression gives 2 values; unpack them: a, b = ..."),
    ("three values not unpacked",  # advised a, b = ..., which then had one name too few
     "def p(x: f64) -> (f64, f64, f64):\n    return x, x, x\n\ndef f(x: f64) -> f64:\n"
     "    r = p(x)\n    return r\n",
     5, 9, "this expression gives 3 values; unpack them: a, b, c = ..."),
    ("unpack count",
     "def p(x: f64) -> (f64, f64):\n    return x, x\n\ndef f(x: f64) -> f64:\n    a, b, c = p(x)\n"
     "    return a\n", 5, 5, "cannot unpack 2 values into 3 names"),
    ("unpacking an array",  # said 'cannot unpack 1 value into 2 names'
     "def f(y: f64[n]) -> f64:\n    a, b = y\n    return a\n", 2, 5,
     "cannot unpack f64[n] into 2 names: only a tuple is unpacked; write a, b = y[0], y[1]"),
    ("unpacking a list into a list",
     "def f(x: f64) -> f64:\n    [a, b] = [x, x]\n    return a\n", 2, 5,
     "cannot unpack f64[2] into 2 names: only a tuple is unpacked; take its elements by index"),
    ("unpacking an array into an element",
     "def f(y: f64[n]) -> f64:\n    a, y[0] = y\n    return a\n", 2, 5,
     "cannot unpack f64[n] into 2 targets: only a tuple is unpacked; take its elements by index"),
    ("unpack count with an element",
     "def f(y: f64[n]) -> f64:\n    a, y[0] = 1.0, 2.0, 3.0\n    return a\n", 2, 5,
     "cannot unpack 3 values into 2 targets"),
    ("unpacking into an element of an unbound name",  # at the target, not the statement
     "def f(x: f64) -> f64:\n    a, y[0] = x, x\n    return a\n", 2, 8,
     "'y' has no value before this statement updates it; bind it first (y = zeros(n), say)"),
    ("unpacking into an element of a scalar",
     "def f(x: f64) -> f64:\n    a, x[0] = x, x\n    return a\n", 2, 8,
     "cannot assign to an element of 'x': it is f64, not an array"),
    ("unpacking into a name of a function",  # at the target; was at the statement
     "def h(x: f64) -> f64:\n    return x * x\n\ndef f(x: f64) -> f64:\n    dh = grad(h)\n"
     "    a, dh = x, x\n    return a\n", 6, 8,
     "'dh' names a function (at line 5); use another name for this value"),
    ("storing an array into an element by unpacking",
     "def f(x: f64[n]) -> f64[n]:\n    a, x[1] = 1.0, x\n    return x\n", 2, 8,
     "cannot store f64[n] into an element of f64[n], which is f64"),
    ("loop changes a carried name's type",
     "def f(x: f64[n]) -> f64:\n    y = 0.0\n    for i in range(n):\n        y = x\n    return y\n",
     4, 9, "'y', carried by the loop, is f64 in one place and f64[n] in another; it must keep one type"),
    ("a loop's later assignment changes a carried name's type",  # at the for, it was
     "def f(x: f64[n]) -> f64:\n    s = 0.0\n    for i in range(n):\n        a = x[i] * 2.0\n"
     "        s = s + a * x\n        a = 1.0\n    return s\n",
     5, 9, "'s', carried by the loop, is f64 in one place and f64[n] in another; it must keep one type"),
    ("a branch changes a name's type",
     "def f(x: f64[n]) -> f64:\n    s = 0.0\n    if s < 1.0:\n        s += x\n    else:\n"
     "        s = s + 1.0\n    return s\n",
     4, 9, "'s' is f64[n] in one place and f64 in another; it must keep one type"),
    ("the else branch binds a name of another type",
     "def f(x: f64) -> f64:\n    if x > 0.0:\n        y = 1.0\n    else:\n        y = zeros(2)\n"
     "    return y\n",
     5, 9, "'y' is f64 in one place and f64[2] in another; it must keep one type"),
    ("unknown type",
     "def f(x: f32) -> f64:\n    return x\n", 1, 10, None),
    ("duplicate function",
     "def f(x: f64) -> f64:\n    return x\n\ndef f(y: f64) -> f64:\n    return y\n", 4, 1,
     "function 'f' is defined twice (first at line 1)"),
    ("unused expression",
     "def f(x: f64) -> f64:\n    x + 1.0\n    return x\n", 2, 5,
     "this expression's value is not used; assign it to a name (functions in dpc have no side effects)"),
    ("bad decorator signature",
     "def f(x: f64) -> f64:\n    return x * x\n\n@derivative(f)\ndef f_vjp(x: f64) -> f64:\n    return 2.0 * x\n",
     4, 1, "a @derivative(f) rule must take (f64, f64), but 'f_vjp' takes (f64)"),
    ("unknown decorator",
     "@jit\ndef f(x: f64) -> f64:\n    return x\n", 1, 1, None),
    ("axis out of range",
     "def f(a: f64[n, m]) -> f64[n]:\n    return sum(a, axis=2)\n", 2, 24,
     "axis 2 is out of range for an array of rank 2"),
    ("axis= of an expression",  # the caret was under the '-'
     "def f(a: f64[n, m]) -> f64[n]:\n    return sum(a, axis=m - 1)\n", 2, 24,
     "axis must be an integer literal"),
    ("local type with a dimension no parameter has",
     "def f(k: i64) -> f64:\n    y: f64[q] = zeros(k)\n    return sum(y)\n", 2, 8,
     "dimension 'q' of the type of 'y' is not the dimension of any parameter; write ? for "
     "a size known only when the function runs"),
    # NumPy, JAX and Python habits: each gets what to write instead
    ("a method call", "def f(x: f64[n]) -> f64:\n    return x.sum()\n", 2, 13,
     "values have no methods in .dp ('.sum'); call the builtin: sum(x)"),
    ("a method call whose builtin a value hides",  # said to call sum(x), which fails too
     "def f(x: f64[n]) -> f64:\n    sum = 2.0\n    return x.sum() + sum\n", 3, 13,
     "values have no methods in .dp ('.sum'); the value 'sum' (f64) hides the builtin here: "
     "give the value another name, then call sum(x)"),
    ("a call through a module of a builtin a parameter hides",
     "def f(x: f64[n], exp: f64) -> f64:\n    return sum(np.exp(x)) * exp\n", 2, 16,
     "np.exp: there are no modules in .dp; the value 'exp' (f64) hides the builtin here: "
     "give the value another name, then call exp(...)"),
    ("a method that is no builtin", "def f(x: f64[n]) -> f64[n]:\n    return x.reshape(-1)\n",
     2, 13, "values have no methods in .dp ('.reshape'); there is no builtin 'reshape'"),
    ("a method's axis", "def f(x: f64[n, m]) -> f64[n]:\n    return x.max(1)\n", 2, 13,
     "values have no methods in .dp ('.max'); call the builtin: max(x, axis=1)"),
    ("a call through a module's module", "def f(n: i64) -> f64:\n    return np.random.rand()\n",
     2, 12, "np.random.rand: there are no modules in .dp; there is no builtin 'rand'"),
    ("true division of floats", "def f(x: f64) -> i64:\n    return x / 2.0\n", 2, 14,
     "the returned value is f64 but must be i64 (convert with int(...), which truncates toward "
     "zero)"),  # // would not make it i64 either
    ("an f64 passed for an i64", "def g(k: i64) -> i64:\n    return k\n"
     "def f(x: f64) -> i64:\n    return g(x)\n", 4, 14,
     "argument 'k' of 'g' must be i64, got f64 (convert with int(...), which truncates toward "
     "zero)"),
    ("an f64 expression passed by name for an i64", "def g(k: i64) -> i64:\n    return k\n"
     "def f(x: f64) -> i64:\n    return g(k=x + 1.0)\n", 4, 16,
     "argument 'k' of 'g' must be i64, got f64 (convert with int(...), which truncates toward "
     "zero)"),
    ("an array expression passed for a scalar", "def g(a: f64, k: i64) -> f64:\n    return a\n"
     "def f(x: f64[n]) -> f64:\n    return g(2.0 * x[0] + x, 1)\n", 4, 14,
     "argument 'a' of 'g' must be f64, got f64[n]"),
    ("an f64 declared i64", "def f(x: f64) -> f64:\n    k: i64 = x * 2.0\n    return x\n", 2, 16,
     "'k' is f64 but must be i64 (convert with int(...), which truncates toward zero)"),
    ("a call through numpy", "def f(x: f64[n]) -> f64[n]:\n    return np.exp(x)\n", 2, 12,
     "np.exp: there are no modules in .dp; call the builtin exp(...)"),
    ("a constant of numpy", "def f(x: f64) -> f64:\n    return np.pi * x\n", 2, 12,
     "np.pi: there are no modules in .dp; write the number 3.141592653589793"),
    ("pi", "def f(x: f64) -> f64:\n    return pi * x\n", 2, 12,
     "unknown name 'pi': write the number 3.141592653589793"),
    ("a function called range", "def range(n: i64) -> f64:\n    return 1.0\n", 1, 1,
     "'range' is the form of for loops and comprehensions; choose another name"),
    (".T called", "def f(a: f64[n, m]) -> f64[m, n]:\n    return a.T()\n", 2, 13,
     "'.T' is not a method; write a.T without parentheses"),
    ("true in lower case", "def f(x: f64) -> bool:\n    return true\n", 2, 12,
     "unknown name 'true': write True"),
    ("None", "def f(x: f64) -> f64:\n    y = None\n    return x\n", 2, 9,
     "unknown name 'None': every value is a number, a bool or an array"),
    ("a list that grows", "def f(x: f64[n]) -> f64:\n    y = zeros(n)\n    y.append(1.0)\n"
     "    return 1.0\n", 3, 6,
     "arrays cannot grow: make one with a comprehension, or with zeros(n) and x[i] = ... in a "
     "loop"),
    ("print", "def f(x: f64) -> f64:\n    print(x)\n    return x\n", 2, 5,
     "'print' is not a builtin: functions have no side effects; return the value (dpc run "
     "prints it)"),
    ("square, not sqrt", "def f(x: f64) -> f64:\n    return square(x)\n", 2, 12,
     "'square' is not a builtin: write x * x"),
    ("numpy's zeros((n, m))", "def f(n: i64) -> f64[?, ?]:\n    return zeros((n, n))\n", 2, 18,
     "zeros() takes the sizes as separate arguments: zeros(n, m)"),
    ("numpy's full((n, m), v)", "def f(n: i64) -> f64[?, ?]:\n    return full((n, n), 0.0)\n",
     2, 17, "full() takes the fill value first, then the sizes: full(value, n, m)"),
    ("full(n, value)", "def f(n: i64) -> f64[?]:\n    return full(n, 3.0)\n", 2, 20,
     "an array dimension must be i64, got f64 (full takes the fill value first: full(value, n))"),
    ("a positional axis", "def f(x: f64[n, m]) -> f64[m]:\n    return sum(x, 0)\n", 2, 12,
     "sum() takes 1 argument, 2 given (pass the axis by keyword: sum(..., axis=0))"),
    ("a builtin's argument by keyword", "def f(x: f64) -> f64:\n    return exp(x=1.0)\n", 2, 16,
     "exp() has no keyword argument 'x'; pass arguments by position"),
    ("a keyword that is not a parameter",
     "def g(x: f64, by: f64) -> f64:\n    return x * by\n\ndef f(x: f64) -> f64:\n"
     "    return g(x, bye=2.0)\n", 5, 17,
     "'g' has no parameter 'bye' (did you mean 'by'?); its parameters are x, by"),
    ("an argument given by position and by name",
     "def g(x: f64, by: f64) -> f64:\n    return x * by\n\ndef f(x: f64) -> f64:\n"
     "    return g(x, x=2.0)\n", 5, 17,
     "argument 'x' of 'g' is given twice, by position and by name"),
    ("a tangent by name whose name f's own parameter has",  # did not name t_x_2
     "def f(x: f64, t_x: f64) -> f64:\n    return x * t_x\n\ndef g(x: f64) -> f64:\n"
     "    a, b = jvp(f, wrt=x)(x, 2.0, t_x=1.0)\n    return b\n", 5, 34,
     "argument 't_x' of jvp(f) is given twice, by position and by name; it takes x, t_x, "
     "then the tangent t_x_2 of x"),
    ("a cotangent by a name that is not one",  # suggested 'ct2' of three equally close
     "def f(x: f64) -> (f64, f64, f64):\n    return x, x, x\n\ndef g(x: f64) -> f64:\n"
     "    return vjp(f)(x, 1.0, 1.0, ct=1.0)\n", 5, 32,
     "vjp(f) has no parameter 'ct' (did you mean 'ct0', 'ct1' or 'ct2'?); its parameters are "
     "x, ct0, ct1, ct2"),
    ("an argument missing from a call by name",
     "def g(x: f64, by: f64) -> f64:\n    return x * by\n\ndef f(x: f64) -> f64:\n"
     "    return g(by=x)\n", 5, 12,
     "'g' is missing the argument 'x' (its parameters are x, by)"),
    ("too many positional arguments beside keywords",
     "def g(x: f64, by: f64) -> f64:\n    return x * by\n\ndef f(x: f64) -> f64:\n"
     "    return g(x, x, x, by=x)\n", 5, 12,
     "'g' takes 2 arguments (x, by), 3 given by position"),
    ("a tangent missing from a jvp called by name",
     "def g(x: f64, by: f64) -> f64:\n    return x * by\n\ndef f(x: f64) -> f64:\n"
     "    y, t = jvp(g, wrt=x)(x, by=x)\n    return t\n", 5, 12,
     "jvp(g) is missing the argument 't_x' (its parameters are x, by, t_x)"),
    ("max of nothing", "def f(x: f64) -> f64:\n    return max()\n", 2, 12,
     "max() takes an array, a generator, or two or more numbers"),
    ("a boolean mask", "def f(x: f64[n]) -> f64:\n    return sum(x[x > 0.0])\n", 2, 20,
     "an index must be i64, got bool[n] (a mask cannot select elements: keep them with "
     "where(mask, x, 0.0), or sum(where(mask, x, 0.0)))"),
    ("an array of indices", "def f(x: f64[n], i: i64[k]) -> f64:\n    return sum(x[i])\n", 2, 18,
     "an index must be i64, got i64[k] (an array cannot index: gather with [x[idx[j]] for j in "
     "range(len(idx))])"),
    ("true division of integers", "def f(n: i64) -> i64:\n    n = n / 2\n    return n\n", 3, 12,
     "the returned value is f64 but must be i64 ('/' at line 2 gives f64 even for integers; "
     "use // for integer division)"),
    ("arguments that give a callee's dimension two sizes",
     "def g(a: f64[n], b: f64[n]) -> f64:\n    return dot(a, b)\n\n"
     "def f(x: f64[n], y: f64[m]) -> f64:\n    return g(x, y)\n", 5, 12,
     "argument b of g (f64[n]): dimension n is m here but n in argument a"),
    ("an argument that gives a callee's dimension two sizes",
     "def g(a: f64[n, n]) -> f64:\n    return sum(a)\n\n"
     "def f(x: f64[n, m]) -> f64:\n    return g(x)\n", 5, 12,
     "argument a of g (f64[n, n]): dimension n is m on axis 1 but n on axis 0"),
    ("an argument of another literal size",
     "def g(a: f64[3]) -> f64:\n    return sum(a)\n\n"
     "def f(x: f64[4]) -> f64:\n    return g(x)\n", 5, 12,
     "argument a of g (f64[3]): axis 0 is 4, not 3"),
    ("a tangent of another dimension",  # was an internal TypeRuleError from the AD pass
     "def g(a: f64[n]) -> f64:\n    return sum(a * a)\n\n"
     "def f(x: f64[n], t: f64[m]) -> f64:\n    v, d = jvp(g)(x, t)\n    return d\n", 5, 12,
     "argument t_a of jvp(g) (f64[n]): dimension n is m here but n in argument a"),
    ("a cotangent of another dimension",  # was an internal TypeRuleError from the AD pass
     "def g(a: f64[n]) -> f64[n]:\n    return a * a\n\n"
     "def f(x: f64[n], c: f64[m]) -> f64[n]:\n    return vjp(g)(x, c)\n", 5, 12,
     "argument ct of vjp(g) (f64[n]): dimension n is m here but n in argument a"),
    ("a tangent named as the function's own parameter",  # named as Python's mod.jvp names it
     "def h(x: f64[n], t_x: f64[n]) -> f64:\n    return sum(x * t_x)\n\n"
     "def f(a: f64[n], b: f64[n], c: f64[m]) -> f64:\n    v, d = jvp(h)(a, b, c, b)\n"
     "    return d\n", 5, 12,
     "argument t_x_2 of jvp(h) (f64[n]): dimension n is m here but n in argument x"),
    ("comprehension over a non-integer",
     "def f(x: f64) -> f64[?]:\n    return [1.0 for i in range(x)]\n", 2, 32,
     "range() needs i64 arguments, got f64"),
    ("a name of a derivative bound to a value",
     "def h(x: f64) -> f64:\n    return x * x\n\n"
     "def f(x: f64) -> f64:\n    dh = grad(h)\n    dh = dh(x)\n    return dh\n", 6, 5,
     "'dh' names a function (at line 5); use another name for this value"),
    ("a name bound to two functions",  # known when compiling: one per name
     "def h(x: f64, y: f64) -> f64:\n    return x * y\n\n"
     "def f(x: f64) -> f64:\n    dh = grad(h, wrt=x)\n    dh = grad(h, wrt=y)\n"
     "    return dh(x, x)\n", 6, 5,
     "'dh' already names another function (at line 5); a name stands for one function, use "
     "another"),
    ("a function named in a branch",  # was usable after the if, bound or not
     "def h(x: f64, y: f64) -> f64:\n    return x * y\n\n"
     "def f(x: f64) -> f64:\n    if x > 0.0:\n        dh = grad(h, wrt=y)\n"
     "    return dh(x, x)\n", 6, 9,
     "name a function outside of if, for and while: 'dh' stands for one function in the "
     "whole body"),
    ("a named derivative called with too few arguments",
     "def h(x: f64, y: f64) -> f64:\n    return x * y\n\n"
     "def f(x: f64) -> f64:\n    dh = grad(h, wrt=x)\n    return dh(x)\n", 6, 12,
     "'dh' takes 2 arguments (x, y), 1 given"),
    ("a derivative form of a derivative form without its function",  # "unknown function"
     "def h(x: f64) -> f64:\n    return x * x\n\n"
     "def f(x: f64) -> f64:\n    return jvp(grad)(x, 1.0)\n", 5, 16,
     "'grad' needs the function it differentiates: write grad(f) here"),
    ("dot of an array of rank 3",  # said "'@' needs ..." of a program without '@'
     "def f(a: f64[p, q, r], b: f64[r]) -> f64:\n    return sum(dot(a, b))\n", 2, 16,
     "a matrix product (a @ b, dot(a, b)) needs f64 arrays of rank 1 or 2, got f64[p, q, r]"),
    ("a keyword as a function's name",  # was accepted: the lexer read 'if' as a name
     "def if(x: f64) -> f64:\n    return x\n", 1, 5, "'if' is a keyword; choose another name"),
    ("True as a parameter",  # was accepted, then 'return True' was the bool True
     "def f(True: f64) -> f64:\n    return True\n", 1, 7,
     "'True' is a keyword; choose another name"),
    ("a keyword as a local", "def f(x: f64) -> f64:\n    class = x\n    return x\n", 2, 5,
     "'class' is a keyword; choose another name"),
    ("a keyword as a loop variable",
     "def f(x: f64) -> f64:\n    return sum(x for in in range(3))\n", 2, 22,
     "'in' is a keyword; choose another name"),
    ("a matrix product of mismatched sizes",  # said "cannot multiply", as of a * b
     "def f(a: f64[p, q], b: f64[p, q]) -> f64[p, q]:\n    return a @ b\n", 2, 14,
     "cannot matrix-multiply f64[p, q] and f64[p, q]: dimension q is not p"),
    # .dp has no 1-tuples: the grammar dropped a trailing comma, so a, = x was a = x
    ("a trailing comma after one name unpacked into",
     "def f(x: f64) -> f64:\n    a, = x\n    return a\n", 2, 6,
     "there is one name to unpack into, and .dp has no 1-tuples: write a = x to bind the "
     "value, or a = x[0] for an array's first element"),
    ("one name in parentheses unpacked into",  # was accepted as a = x too
     "def f(x: f64) -> f64:\n    (a,) = x\n    return a\n", 2, 5,
     "there is one name to unpack into, and .dp has no 1-tuples: write a = x to bind the "
     "value, or a = x[0] for an array's first element"),
    ("one name in brackets unpacked into",  # said 'cannot unpack f64[1] into 1 names'
     "def f(x: f64[1]) -> f64:\n    [a] = x * 2.0\n    return a\n", 2, 5,
     "there is one name to unpack into, and .dp has no 1-tuples: write a = ... to bind the "
     "value, indexing it with [0] for an array's first element"),
    ("a trailing comma after one value assigned",  # was y = x
     "def f(x: f64) -> f64:\n    y = x,\n    return y\n", 2, 10,
     "a trailing comma after one value makes a 1-tuple, and .dp has no 1-tuples: remove the "
     "comma"),
    ("a trailing comma after one value returned",  # was return x
     "def f(x: f64) -> f64:\n    return x,\n", 2, 13,
     "a trailing comma after one value makes a 1-tuple, and .dp has no 1-tuples: remove the "
     "comma"),
    ("a 1-tuple in parentheses returned",  # was return x
     "def f(x: f64) -> f64:\n    return (x,)\n", 2, 12,
     "a trailing comma after one value makes a 1-tuple, and .dp has no 1-tuples: remove the "
     "comma"),
    ("a 1-tuple as an argument",  # said 'tuples are only allowed in ...'
     "def f(x: f64) -> f64:\n    return sum((x,))\n", 2, 16,
     "a trailing comma after one value makes a 1-tuple, and .dp has no 1-tuples: remove the "
     "comma"),
    # a value named like a function hides it, as in Python; these called the function
    ("a local named like a builtin, called",  # returned sum(x), ignoring sum = 2.0
     "def f(x: f64[n]) -> f64:\n    sum = 2.0\n    return sum(x)\n", 3, 12,
     "'sum' is a value here (f64), which hides the builtin sum(); give the value another name"),
    ("a parameter named like a builtin, called",
     "def f(exp: f64, y: f64) -> f64:\n    return exp(y)\n", 2, 12,
     "'exp' is a value here (f64), which hides the builtin exp(); give the value another name"),
    ("a local named like a builtin, reducing a generator",
     "def f(x: f64[n]) -> f64:\n    max = 0.0\n    return max(x[i] for i in range(n))\n", 3, 12,
     "'max' is a value here (f64), which hides the builtin max(); give the value another name"),
    ("a local named like a function of the module, called",
     "def g(x: f64) -> f64:\n    return x\n\ndef f(x: f64) -> f64:\n    g = 2.0\n"
     "    return g(x)\n", 6, 12,
     "'g' is a value here (f64), which hides the function 'g'; give the value another name"),
    ("a local named like a function of the module, differentiated",
     "def g(x: f64) -> f64:\n    return x\n\ndef f(x: f64) -> f64:\n    g = 2.0\n"
     "    return grad(g)(x)\n", 6, 17,
     "'g' is a value here (f64), which hides the function 'g'; give the value another name"),
    ("a local named like a derivative form",
     "def g(x: f64) -> f64:\n    return x\n\ndef f(x: f64) -> f64:\n    grad = 2.0\n"
     "    return grad(g)(x)\n", 6, 12,
     "'grad' is a value here (f64), which hides the builtin grad(); give the value another name"),
    ("a local named like a derivative form, naming a function",
     "def g(x: f64) -> f64:\n    return x\n\ndef f(n: i64, x: f64) -> f64:\n    grad = n\n"
     "    h = grad(g)\n    return h(x)\n", 6, 9,
     "'grad' is a value here (i64), which hides the builtin grad(); give the value another name"),
    ("a local named range, then a for loop",  # looped over range(3), ignoring range = 2
     "def f(x: f64) -> f64:\n    range = 2\n    s = 0.0\n    for i in range(3):\n"
     "        s += x\n    return s\n", 4, 14,  # at the range, not the for
     "'range' is a value here (i64), which hides the builtin range(); give the value "
     "another name"),
    ("a comprehension, then a local named range",
     "def f(x: f64[n]) -> f64:\n    s = sum(x[i] for i in range(n))\n    range = 2\n"
     "    return s\n", 2, 27,  # at the range, not the element
     "'range' is bound at line 3 of this function, which makes it a variable everywhere in "
     "the function (as in Python), not the builtin range(); give the variable another name"),
    ("a local named range, then a list comprehension",
     "def f(x: f64[n]) -> f64:\n    range = 2\n    return sum([x[i] for i in range(n)])\n",
     3, 31, "'range' is a value here (i64), which hides the builtin range(); give the value "
     "another name"),
    ("a local named range, then a while loop over a range",
     "def f(x: f64[n]) -> f64:\n    range = 2\n    s = 0.0\n    while s < 1.0:\n"
     "        for i in range(n):\n            s += x[i]\n    return s\n", 5, 18,
     "'range' is a value here (i64), which hides the builtin range(); give the value "
     "another name"),
    ("a parameter marked optional",  # said "unexpected '?' (expected ':' or end of line)"
     "def f(x: f64, y?: f64) -> f64:\n    return x\n", 1, 16,
     "'?' cannot follow a parameter's name: .dp has no optional parameters (every call "
     "passes every argument)"),
    ("nested unpacking",  # said 'cannot assign to this'
     "def f(x: f64) -> f64:\n    a, (b, c) = x, (x, x)\n    return a + b + c\n", 2, 8,
     "nested unpacking is not supported; unpack the inner tuple in a statement of its own: "
     "a, t = ... then b, c = t"),
    # bound anywhere in the body, the name is the body's variable everywhere (Python's
    # UnboundLocalError before the binding); these called the function
    ("a builtin called, then its name bound",  # returned sum(x) + 2.0
     "def f(x: f64[n]) -> f64:\n    y = sum(x)\n    sum = 2.0\n    return y + sum\n", 2, 9,
     "'sum' is bound at line 3 of this function, which makes it a variable everywhere in the "
     "function (as in Python), not the builtin sum(); give the variable another name"),
    ("a builtin called after its name is bound in one branch",
     "def f(x: f64) -> f64:\n    if x > 0.0:\n        exp = 2.0\n    return exp(x)\n", 4, 12,
     "'exp' is bound at line 3 of this function, which makes it a variable everywhere in the "
     "function (as in Python), not the builtin exp(); give the variable another name"),
    ("a function differentiated, then its name bound by a loop",
     "def g(x: f64) -> f64:\n    return x\n\ndef f(x: f64) -> f64:\n    d = grad(g)(x)\n"
     "    for g in range(2):\n        d = d + 1.0\n    return d\n", 5, 14,
     "'g' is bound at line 6 of this function, which makes it a variable everywhere in the "
     "function (as in Python), not the function 'g'; give the variable another name"),
]


def error_of(source):
    with pytest.raises(CompileError) as err:
        compile_source(source, name="bad.dp")
    return err.value


@pytest.mark.parametrize("kind,source,line,col,message", WRONG, ids=[w[0] for w in WRONG])
def test_wrong_program(kind, source, line, col, message):
    err = error_of(source)
    assert (err.line, err.col) == (line, col), err.format()
    if message is not None:
        assert err.message == message
    lines = str(err).splitlines()
    assert lines[0] == f"bad.dp:{line}:{col}: error: {err.message}"
    assert lines[1] == f" {line} | {source.splitlines()[line - 1]}"
    assert lines[2] == f" {' ' * len(str(line))} | {' ' * (col - 1)}^"


DEEP = "this statement nests too deeply to compile: split its expression into several statements"


# Sizes past what the front end's raised recursion limit (driver.FRONT_END_FRAMES) allows
@pytest.mark.parametrize("expression", [" + ".join(["x"] * 25000), "sin(" * 25000 + "x" + ")" * 25000,
                                        "-" * 30000 + "x"])
def test_a_statement_nested_too_deeply_is_the_one_pointed_at(expression):
    # they were all at 1:1, and sin(...) 500 deep failed in the search for recursion
    err = error_of(f"def f(x: f64) -> f64:\n    y = x\n    if x > 0.0:\n        y = {expression}\n"
                   f"    return y\n")
    assert (err.line, err.col, err.message) == (4, 9, DEEP)


def test_a_statement_nested_as_deep_as_programs_nest_compiles():
    mod = compile_source("def f(x: f64) -> f64:\n    y = " + "sin(" * 200 + "x" + ")" * 200
                         + "\n    return y + " + " + ".join(["x"] * 200) + "\n")
    value = 0.5
    for _ in range(200):
        value = math.sin(value)
    assert mod.f(0.5) == pytest.approx(value + 100.0, rel=1e-15)


@pytest.mark.skipif(sys.version_info < (3, 11), reason="Python 3.10 keeps its recursion limit "
                    "of 1000 frames, as its calls take C stack (driver.deep_expressions)")
def test_a_sum_of_a_thousand_terms_compiles_and_differentiates():
    # generated code (a polynomial from a computer algebra system) writes sums this long;
    # Python's default recursion limit stopped them at ~400 terms, and the gradient's
    # dead-code sweeps took minutes on them
    terms = 1000
    source = "def f(x: f64) -> f64:\n    return " + " + ".join(f"{k}.0 * x * x" for k in
                                                           range(terms)) + "\n"
    mod = compile_source(source)
    assert mod.f(2.0) == 4.0 * sum(range(terms))
    assert mod.grad("f")(2.0) == 4.0 * sum(range(terms))
    assert compile_source(source, backend="interp").f(2.0) == 4.0 * sum(range(terms))


def test_arrays_of_more_than_64_dimensions_are_refused_where_written():
    # they compiled; then NumPy refused the result (native), or the interpreter its value
    ones = ", ".join(["1"] * 65)
    err = error_of(f"def f(x: f64) -> f64[{ones}]:\n    return x\n")
    assert (err.line, err.col, err.message) == (
        1, 18, "f64[...] of 65 dimensions; arrays have at most 64 (NumPy's limit)")
    err = error_of("def f(x: f64) -> f64:\n    return sum(" + "[" * 200 + "x" + "]" * 200 + ")\n")
    # the 65th list from the inside, the first that would have too many
    assert (err.line, err.col, err.message) == (
        2, 16 + 200 - 65, "this would be an array of 65 dimensions; arrays have at most 64 "
                          "(NumPy's limit)")
    deepest = compile_source("def f(x: f64) -> f64[" + ", ".join(["1"] * 64) + "]:\n    return "
                             + "[" * 64 + "x" + "]" * 64 + "\n")
    assert deepest.f(2.5).shape == (1,) * 64 and deepest.f(2.5).item() == 2.5


def test_full_message_text():
    err = error_of("def f(x: f64[n], y: f64[k]) -> f64[n]:\n    return x + y\n")
    assert str(err) == (
        "bad.dp:2:14: error: cannot add f64[n] and f64[k]: dimension n is not k\n"
        " 2 |     return x + y\n"
        "   |              ^")


INDEX_OF_A_WIDENED_CARRY = {
    "in the body": ("    for i in range(3):\n        a += x[k]\n        k = k + 1.5\n"
                    "    return a\n", "        a += x[k]", 5, 16, 6),
    "in a while loop's condition": ("    while x[k] > 0.0:\n        a += 1.0\n"
                                    "        k = k + 1.5\n    return a\n",
                                    "    while x[k] > 0.0:", 4, 13, 6),
    "after the loop": ("    for i in range(3):\n        k = k + 1.5\n    return a + x[k]\n",
                       "    return a + x[k]", 6, 18, 5),
}


@pytest.mark.parametrize("place", INDEX_OF_A_WIDENED_CARRY)
def test_an_error_about_a_loop_widened_type_says_where_it_was_widened(place):
    # the error at x[k] said 'got f64' and no more: k = 0 before the loop looks like an
    # i64, and the assignment that makes it f64 may be lines away
    loop, shown, line, col, assigned = INDEX_OF_A_WIDENED_CARRY[place]
    err = error_of("def f(x: f64[n]) -> f64:\n    a = 0.0\n    k = 0\n" + loop)
    caret = " " * (col - 1) + "^"
    assert str(err) == (
        f"bad.dp:{line}:{col}: error: an index must be i64, got f64 (convert with int(...))\n"
        f" {line} | {shown}\n"
        f"   | {caret}\n"
        f"bad.dp:{assigned}:9: note: the loop carries 'k' as f64, not the i64 it is before "
        f"the loop, because of this assignment\n"
        f" {assigned} |         k = k + 1.5\n"
        f"   |         ^")


def test_only_the_widened_names_in_the_erring_expression_get_notes():
    err = error_of("def f(x: f64[n]) -> f64:\n    a = 0\n    k = 0\n    for i in range(3):\n"
                   "        a = a + 0.5\n        y = x[i] + a\n        k = k + 1.5\n"
                   "    return x[k] + a\n")
    assert (err.line, err.col) == (8, 14)
    assert err.notes == [("the loop carries 'k' as f64, not the i64 it is before the loop, "
                          "because of this assignment", 7, 9)]
    # an error that no widened name is in has none
    err = error_of("def f(x: f64[n]) -> f64:\n    k = 0\n    for i in range(3):\n"
                   "        k = k + 1.5\n    return x[i]\n")
    assert err.notes == []


@pytest.mark.parametrize("separator", ["\f", "\x85", "\u2028"])
def test_the_line_shown_is_the_line_numbered(separator):
    # str.splitlines breaks lines at a form feed (the page break some editors put between
    # functions) and at \x85 and \u2028 in comments: the error showed line 5 of that count
    err = error_of(f"def f(x: f64) -> f64:\n    return x\n\f\n"
                   f"# one{separator}two\ndef g(x: f64) -> f64:\n    return y\n")
    assert str(err) == ("bad.dp:6:12: error: unknown name 'y'\n"
                        " 6 |     return y\n"
                        "   |            ^")


def test_a_file_with_carriage_returns_only():
    err = error_of("def f(x: f64) -> f64:\r    return x\r")
    assert str(err) == ("bad.dp:1:22: error: a carriage return ends this line without a "
                        "newline; save the file with \\n (or \\r\\n) line endings\n"
                        " 1 | def f(x: f64) -> f64:     return x\n"
                        "   |                      ^")


def test_cli_prints_errors_to_stderr_and_exits_1(tmp_path, capsys):
    path = tmp_path / "bad.dp"
    path.write_text("def f(x: f64[n], y: f64[k]) -> f64[n]:\n    return x + y\n")
    assert main(["check", str(path)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (f"{path}:2:14: error: cannot add f64[n] and f64[k]: dimension n is not k\n"
                   " 2 |     return x + y\n"
                   "   |              ^\n")


def test_cli_as_a_process(tmp_path):
    path = tmp_path / "bad.dp"
    path.write_text("def f(x: f64) -> f64:\n    return f(x)\n")
    proc = subprocess.run([sys.executable, "-m", "compiler.cli", "check", str(path)],
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr.startswith(f"{path}:2:12: error: recursion is not supported")
    assert "Traceback" not in proc.stderr


def test_a_variable_named_like_a_function_is_not_a_call():
    # g is a parameter of scale and a function calling scale: no recursion; a call
    # g(...) inside scale would still be one
    source = ("def scale(x: f64, g: f64) -> f64:\n"
              "    h = g * 2.0\n"
              "    return x * h + sum(g * k for k in range(2))\n\n"
              "def g(x: f64) -> f64:\n"
              "    return scale(x, 3.0)\n")
    mod = compile_source(source, backend="interp")
    assert mod.g(2.0) == 15.0
    with pytest.raises(CompileError, match="recursion is not supported: 'scale' calls 'g', "
                                           "which calls 'scale'"):
        compile_source(source.replace("x * h", "x * h + g(x)"), backend="interp")


def test_a_custom_rule_may_call_its_function_and_other_modes_of_it():
    # f's reverse rule runs f itself and f's forward mode (f has no @tangent rule, so jvp
    # differentiates f's body): neither reaches the rule again
    source = ("def f(x: f64) -> f64:\n    return x * x * x\n\n"
              "@derivative(f)\ndef f_vjp(x: f64, ct: f64) -> f64:\n"
              "    value, slope = jvp(f)(x, 1.0)\n    return ct * (slope + 0.0 * f(x))\n\n"
              "def g(x: f64) -> f64:\n    return grad(f)(x)\n")
    for backend in ("interp", "native"):
        mod = compile_source(source, backend=backend)
        assert mod.g(2.0) == 12.0


def test_a_byte_order_mark_is_not_part_of_the_program():
    mod = compile_source("\ufeffdef f(x: f64) -> f64:\n    return x * 2.0\n", backend="interp")
    assert mod.f(1.5) == 3.0


def test_a_tuple_of_values_is_assigned_as_python_does():
    # every value of the right side is read before any name is bound: a swap
    mod = compile_source("def f(x: f64, y: f64) -> f64:\n    x, y = y, x\n    return x - 2.0 * y\n")
    assert mod.f(1.0, 2.5) == 0.5
    assert mod.interpreter.run("f", [1.0, 2.5]) == 0.5


def test_a_trailing_comma_in_a_decorator_is_python_s():
    mod = compile_source("def f(x: f64) -> f64:\n    return x * x\n\n@derivative(f,)\n"
                         "def f_vjp(x: f64, ct: f64) -> f64:\n    return 3.0 * ct\n\n"
                         "def g(x: f64) -> f64:\n    return grad(f)(x)\n", backend="interp")
    assert mod.g(2.0) == 3.0


def test_a_trailing_comma_after_several_values_is_python_s():
    # and a 1-tuple of wrt= names is a tuple of names, as JAX's argnums=(0,)
    mod = compile_source("def f(x: f64, y: f64) -> (f64, f64):\n    a, b, = y, x,\n"
                         "    return a * b, grad(g, wrt=(x,))(x, y),\n\n"
                         "def g(x: f64, y: f64) -> f64:\n    return x * x * y\n",
                         backend="interp")
    assert mod.f(3.0, 2.0) == (6.0, 12.0)


@pytest.mark.parametrize("text, kind", [(None, "NoneType"), (b"def f", "bytes")])
def test_compile_source_wants_text(text, kind):
    with pytest.raises(TypeError) as err:
        compile_source(text)
    assert str(err.value) == (f"compile_source takes the program's text as a str, got {kind} "
                              f"(for a file, use compile_file(path))")
