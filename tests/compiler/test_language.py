"""Every row of LANGUAGE.md's tables (types, statements, expressions, builtins): a program
that uses it, run by the interpreter, against the same computation written in NumPy."""

import math

import numpy as np
import pytest

from compiler import CompileError, compile_source
from ir import AssertionErrorDP, IndexErrorDP, ShapeErrorDP, ZeroDivisionErrorDP

rng = np.random.default_rng(7)
X = rng.standard_normal(5)
Y = rng.standard_normal(5)
A = rng.standard_normal((4, 3))
B = rng.standard_normal((3, 2))
V = rng.standard_normal(3)
P = rng.uniform(0.5, 2.0, 5)  # positive, for log/sqrt/lgamma


BACKEND = {"name": "native"}


@pytest.fixture(autouse=True, params=["native", "interp"])
def backend(request):
    """Every row runs twice: native code, and the reference interpreter."""
    BACKEND["name"] = request.param
    return request.param


def run(source, fn, *args):
    return compile_source(source, name="test.dp", backend=BACKEND["name"]).run(fn, *args)


def check(source, fn, args, expected, rel=1e-12):
    got = run(source, fn, *args)
    if isinstance(expected, tuple):
        assert isinstance(got, tuple) and len(got) == len(expected)
        for g, e in zip(got, expected):
            np.testing.assert_allclose(g, e, rtol=rel, atol=0)
    else:
        np.testing.assert_allclose(got, expected, rtol=rel, atol=0)
        assert np.shape(got) == np.shape(expected)


# --------------------------------------------------------------------------- types

TYPES = [
    ("f64", "def f(x: f64) -> f64:\n    return x * 2.0\n", (1.5,), 3.0),
    ("i64", "def f(k: i64) -> i64:\n    return k * 3 + 1\n", (4,), 13),
    ("bool", "def f(b: bool, x: f64) -> f64:\n    return x if b else -x\n", (False, 2.0), -2.0),
    ("f64[d1, d2]", "def f(a: f64[n, m]) -> f64[m, n]:\n    return transpose(a)\n", (A,), A.T),
    ("f64 literal dims", "def f(a: f64[4, 3]) -> f64:\n    return sum(a)\n", (A,), A.sum()),
    ("i64[n]", "def f(k: i64[n]) -> i64:\n    return sum(k)\n", (np.arange(6),), 15),
    ("tuple return", "def f(x: f64[n]) -> (f64, f64[n]):\n    return sum(x), x * 2.0\n",
     (X,), (X.sum(), 2 * X)),
]


@pytest.mark.parametrize("name,source,args,expected", TYPES, ids=[t[0] for t in TYPES])
def test_types(name, source, args, expected):
    check(source, "f", args, expected)


def test_int_result_is_exact():
    v = 3_000_000_007
    got = run("def f(k: i64) -> i64:\n    return k * k\n", "f", v)
    assert got == (v * v + 2**63) % 2**64 - 2**63  # 64-bit wrap-around, as in NumPy and C
    assert isinstance(got, np.int64)


def test_local_annotation_and_promotion():
    source = "def f(k: i64) -> f64:\n    x: f64 = k\n    return x / 2\n"
    check(source, "f", (3,), 1.5)


def test_dimension_names_are_values_in_the_body():
    source = ("def f(x: f64[n], a: f64[m, d]) -> f64:\n"
              "    return float(n * 100 + m * 10 + d)\n")
    check(source, "f", (X, A), 543.0)


def test_dimension_mismatch_at_the_call_names_parameter_and_dimension():
    source = "def f(x: f64[n], y: f64[n]) -> f64:\n    return dot(x, y)\n"
    with pytest.raises(ShapeErrorDP) as err:
        run(source, "f", X, V)
    assert str(err.value) == "argument y: dimension n is 3 here but 5 in argument x"


CALLS_CHECKED = """\
def g(x: f64[n], y: f64[n]) -> f64[n]:
    return x * y

def h3(x: f64[3]) -> f64:
    return sum(x)

def unknown(x: f64[m], k: i64) -> f64[m]:
    return g(x, ones(k))

def literal(x: f64[m]) -> f64:
    return h3(x)

def through_grad(x: f64[m]) -> f64:
    return sum(grad(h3)(x))
"""


def test_sizes_at_a_call_between_functions_are_checked_where_types_cannot_show_them():
    # ones(k) is f64[?] and g needs n = m; h3 needs 3 of an m. Unchecked, native code
    # read past the end of ones(1) and summed 4 elements of a 3-element parameter.
    x = np.array([1.0, 2.0, 3.0, 4.0])
    check(CALLS_CHECKED, "unknown", (x, 4), x)
    with pytest.raises(ShapeErrorDP) as err:
        run(CALLS_CHECKED, "unknown", x, 1)
    assert str(err.value) == ("argument y of g (f64[n]), axis 0, whose n is x's: size 1 is "
                              "not 4 (at test.dp:8:12)")
    check(CALLS_CHECKED, "literal", (x[:3],), 6.0)
    for fn in ("literal", "through_grad"):
        with pytest.raises(ShapeErrorDP) as err:
            run(CALLS_CHECKED, fn, x)
        line, col, callee = {"literal": (11, 12, "h3"), "through_grad": (14, 16, "grad(h3)")}[fn]
        assert str(err.value) == (f"argument x of {callee} (f64[3]), axis 0: size 4 is not 3 "
                                  f"(at test.dp:{line}:{col})")


def test_a_dimension_repeated_in_one_argument_is_checked_at_a_call():
    source = ("def sq(x: f64[n, n]) -> f64:\n    return sum(x)\n\n"
              "def use(k: i64) -> f64:\n    return sq(ones(2, k))\n")
    check(source, "use", (2,), 4.0)
    with pytest.raises(ShapeErrorDP) as err:
        run(source, "use", 3)
    assert str(err.value) == ("argument x of sq (f64[n, n]), axis 1, whose n is axis 0's: "
                              "size 3 is not 2 (at test.dp:5:12)")


FORMS_CHECKED = """\
def g(x: f64[n]) -> f64:
    return sum(x * x)

def gv(x: f64[n]) -> f64[n]:
    return x * 2.0

def head(x: f64[n], k: i64) -> f64[?]:
    return [x[i] * 2.0 for i in range(k)]

def tangent(x: f64[m], k: i64) -> f64:
    v, t = jvp(g)(x, ones(k))
    return t

def cotangent(x: f64[m], k: i64) -> f64:
    return sum(vjp(gv)(x, ones(k)))

def data_sized(x: f64[m], k: i64, j: i64) -> f64:
    return sum(vjp(head, wrt=x)(x, k, ones(j)))

def looped(x: f64[n], k: i64) -> f64[?]:
    out = zeros(k)
    for i in range(k):
        out[i] = x[i % n] * 2.0
    return out

def loop_sized(x: f64[m], k: i64, j: i64) -> f64:
    return sum(vjp(looped, wrt=x)(x, k, ones(j)))
"""


def test_tangents_and_cotangents_are_checked_against_what_they_go_with():
    # unchecked, jvp(g)(x, ones(1)) read len(x) elements of a 1-element array
    x = np.ones(5)
    check(FORMS_CHECKED, "tangent", (x, 5), 10.0)
    check(FORMS_CHECKED, "cotangent", (x, 5), 10.0)
    check(FORMS_CHECKED, "data_sized", (x, 3, 3), 6.0)
    for fn, args, message in [
            ("tangent", (x, 1), "argument t_x of jvp(g) (f64[n]), axis 0, whose n is x's: "
                                "size 1 is not 5 (at test.dp:11:12)"),
            ("cotangent", (x, 2), "argument ct of vjp(gv) (f64[n]), axis 0, whose n is x's: "
                                  "size 2 is not 5 (at test.dp:15:16)"),
            ("data_sized", (x, 3, 4), "the cotangent ct must have the size of the result, "
                                      "axis 0: size 4 is not 3 (at test.dp:8:5)"),
            # at the return, not at the loop before it (test.dp:22:5)
            ("loop_sized", (x, 3, 4), "the cotangent ct must have the size of the result, "
                                      "axis 0: size 4 is not 3 (at test.dp:24:5)")]:
        with pytest.raises(ShapeErrorDP) as err:
            run(FORMS_CHECKED, fn, *args)
        assert str(err.value) == message


def test_integer_division_by_zero_of_no_element_is_no_error():
    source = "def f(x: i64[n], d: i64) -> i64:\n    return sum(x // d) + sum(x % d)\n"
    check(source, "f", (np.zeros(0, dtype=np.int64), 0), 0)
    with pytest.raises(ZeroDivisionErrorDP):
        run(source, "f", np.ones(2, dtype=np.int64), 0)


def test_the_least_i64_is_written_as_a_literal_as_in_python():
    # -9223372036854775808 said 'integer 9223372036854775808 does not fit in i64': the
    # literal was checked before its minus sign was seen
    source = ("def f(k: i64) -> (i64, i64, f64):\n"
              "    return -9223372036854775808, max(k, -(9223372036854775808)), "
              "-9223372036854775808 * 1.0\n")
    got = run(source, "f", -2**63)
    assert got == (-2**63, -2**63, -2.0**63) and isinstance(got[0], np.int64)
    with pytest.raises(CompileError) as err:
        run("def f() -> i64:\n    return 1 - 9223372036854775808\n", "f")
    assert (err.value.message, err.value.line, err.value.col) == (
        "integer 9223372036854775808 does not fit in i64", 2, 16)


def test_mixed_arithmetic_promotes_and_conversions():
    source = ("def f(i: i64, x: f64) -> (f64, i64, f64, i64):\n"
              "    return i + x, int(x), float(i), int(-x)\n")
    check(source, "f", (3, 2.75), (5.75, 2, 3.0, -2))


# --------------------------------------------------------------------------- statements

def test_assign_and_rebind():
    source = "def f(x: f64) -> f64:\n    y = x + 1.0\n    y = y * y\n    return y\n"
    check(source, "f", (2.0,), 9.0)


def test_tuple_destructuring():
    source = ("def pair(x: f64) -> (f64, f64):\n    return x, x * x\n\n"
              "def f(x: f64) -> f64:\n    a, b = pair(x)\n    return a - b\n")
    check(source, "f", (3.0,), -6.0)


@pytest.mark.parametrize("op,expected", [("+=", 5.0), ("-=", -1.0), ("*=", 6.0), ("/=", 2 / 3)])
def test_augmented_assignment(op, expected):
    source = f"def f(x: f64) -> f64:\n    y = 2.0\n    y {op} x\n    return y\n"
    check(source, "f", (3.0,), expected)


def test_indexed_update_value_semantics():
    source = ("def f(x: f64[n]) -> (f64[n], f64[n]):\n"
              "    y = x\n    y[0] = 10.0\n    y[1] += 1.0\n    return x, y\n")
    y = X.copy()
    y[0], y[1] = 10.0, y[1] + 1.0
    x_before = X.copy()
    check(source, "f", (X,), (X, y))
    np.testing.assert_array_equal(X, x_before)  # the caller's array is untouched


def test_indexed_update_two_indices_and_rows():
    source = ("def f(a: f64[n, m]) -> f64[n, m]:\n"
              "    b = zeros(n, m)\n"
              "    for i in range(n):\n"
              "        for j in range(m):\n"
              "            b[i, j] = a[i, j] * 2.0\n"
              "    b[0] = a[1]\n"
              "    b[2, 1] -= 5.0\n"
              "    return b\n")
    expected = 2 * A
    expected[0] = A[1]
    expected[2, 1] -= 5.0
    check(source, "f", (A,), expected)


@pytest.mark.parametrize("rng_args,expected", [
    ("n", sum(range(7))), ("2, n", sum(range(2, 7))), ("1, n, 2", sum(range(1, 7, 2))),
    ("n - 1, -1, -1", sum(range(6, -1, -1))),
])
def test_for_range_forms(rng_args, expected):
    source = (f"def f(n: i64) -> i64:\n    acc = 0\n    for i in range({rng_args}):\n"
              f"        acc += i\n    return acc\n")
    check(source, "f", (7,), expected)


def test_for_carries_names_and_promotes():
    source = ("def f(x: f64[n]) -> f64:\n    acc = 0\n    for i in range(n):\n"
              "        acc += x[i] * x[i]\n    return acc\n")
    check(source, "f", (X,), float(X @ X))


def test_while():
    source = ("def f(x: f64) -> (f64, i64):\n    k = 0\n    while x > 1.0:\n"
              "        x = x / 2.0\n        k += 1\n    return x, k\n")
    check(source, "f", (40.0,), (0.625, 6))


def test_if_elif_else_merges_names():
    source = ("def f(x: f64) -> f64:\n    y = 0.0\n    if x > 1.0:\n        y = 1.0\n"
              "    elif x > 0.0:\n        y = x * 2.0\n    else:\n        y = -x\n    return y\n")
    for x, expected in ((3.0, 1.0), (0.25, 0.5), (-2.0, 2.0)):
        check(source, "f", (x,), expected)


def test_return_in_branches_and_early_return():
    source = ("def f(x: f64) -> f64:\n    if x < 0.0:\n        return -1.0\n"
              "    y = x * 3.0\n    if y > 3.0:\n        return y\n    else:\n        return 0.0\n")
    for x, expected in ((-1.0, -1.0), (2.0, 6.0), (0.5, 0.0)):
        check(source, "f", (x,), expected)


NESTED_RETURNS = """\
def f(a: f64) -> f64:
    if a > 0.0:
        if a > 1.0:
            return a
        b = a + 1.0
        return b
    elif a < -5.0:
        if a < -10.0:
            return 10.0
        return 5.0
    return -a

def g(a: f64) -> f64:
    if a > 0.0:
        if a > 1.0:
            return a * 2.0
    return -a
"""


def test_early_returns_inside_branches():
    # a return that ends some paths of a branch: what follows the if runs on the others
    for a, expected in ((2.0, 2.0), (0.5, 1.5), (-1.0, 1.0), (-7.0, 5.0), (-20.0, 10.0)):
        check(NESTED_RETURNS, "f", (a,), expected)
    for a, expected in ((2.0, 4.0), (0.5, -0.5), (-1.0, 1.0)):
        check(NESTED_RETURNS, "g", (a,), expected)


def partial_returns(k: int) -> str:
    """k ifs in a row, each returning on some paths of its branch only."""
    lines = ["def f(a: f64) -> f64:", "    s = a"]
    for i in range(k):
        lines += [f"    if a > {i}.0:", f"        if a > {i}.5:", f"            return s + {i}.0",
                  "    s = s * 2.0"]
    return "\n".join(lines + ["    return s"]) + "\n"


def test_early_returns_that_would_copy_too_much_code_are_an_error():
    # the code after each if goes into both its branches: a run of k doubles it k times
    for a, expected in ((-1.0, -8.0), (0.2, 1.6), (0.7, 0.7), (1.7, 1.7), (2.2, 2.2)):
        check(partial_returns(3), "f", (a,), expected)
    with pytest.raises(CompileError) as err:
        run(partial_returns(12), "f", 1.0)
    assert (err.value.line, err.value.col) == (35, 5)  # the if at which the copies run out
    assert str(err.value.message).startswith("each branch of this if returns on some paths "
                                              "only, so the code after it would be copied")


def test_assert_passes_and_fails_with_message():
    source = ("def f(x: f64) -> f64:\n    assert x > 0.0, \"x must be positive\"\n"
              "    return sqrt(x)\n")
    check(source, "f", (4.0,), 2.0)
    with pytest.raises(AssertionErrorDP) as err:
        run(source, "f", -1.0)
    assert str(err.value) == "x must be positive (at test.dp:2:5)"


def test_pass():
    check("def f(x: f64) -> f64:\n    if x > 0.0:\n        pass\n    return x\n", "f", (1.0,), 1.0)


# --------------------------------------------------------------------------- expressions

def test_literals():
    source = "def f() -> (i64, f64, f64, bool, bool):\n    return 1, 2.5, 1e-3, True, False\n"
    assert run(source, "f") == (1, 2.5, 1e-3, True, False)


ARITH = [
    ("a + b", lambda a, b: a + b), ("a - b", lambda a, b: a - b), ("a * b", lambda a, b: a * b),
    ("a / b", lambda a, b: a / b), ("a // b", lambda a, b: a // b), ("a % b", lambda a, b: a % b),
    ("a ** b", lambda a, b: a ** b), ("-a", lambda a, b: -a),
]


@pytest.mark.parametrize("expr,fn", ARITH, ids=[a[0] for a in ARITH])
def test_float_arithmetic(expr, fn):
    source = f"def f(a: f64, b: f64) -> f64:\n    return {expr}\n"
    for a, b in ((7.5, 2.0), (-7.5, 2.0), (7.5, -2.0)):
        check(source, "f", (a, b), fn(a, b))


@pytest.mark.parametrize("expr,fn", ARITH, ids=[a[0] for a in ARITH])
def test_int_arithmetic_follows_python(expr, fn):
    out = "f64" if "/" in expr and "//" not in expr else "i64"
    source = f"def f(a: i64, b: i64) -> {out}:\n    return {expr}\n"
    for a, b in ((7, 2), (-7, 2), (7, -2), (-7, -2)):
        if "**" in expr and b < 0:
            continue
        got = run(source, "f", a, b)
        assert got == fn(a, b), (expr, a, b)


def test_integer_division_by_zero():
    source = "def f(a: i64, b: i64) -> i64:\n    return a // b\n"
    with pytest.raises(ZeroDivisionErrorDP) as err:
        run(source, "f", 1, 0)
    assert str(err.value) == "integer division by zero (at test.dp:2:14)"


@pytest.mark.parametrize("op", ["<", "<=", ">", ">=", "==", "!="])
def test_comparisons(op):
    source = f"def f(a: f64, b: i64) -> bool:\n    return a {op} b\n"
    for a, b in ((1.0, 1), (0.5, 1), (2.0, 1)):
        assert run(source, "f", a, b) == eval(f"a {op} b")


def test_boolean_operators_and_short_circuit():
    source = ("def f(x: f64[n], i: i64) -> (bool, bool, bool):\n"
              "    inside = i < n and x[i] > 0.0\n"
              "    outside = i >= n or x[i] < 0.0\n"
              "    return inside, outside, not inside\n")
    x = np.array([1.0, -1.0])
    assert run(source, "f", x, 0) == (True, False, False)
    assert run(source, "f", x, 1) == (False, True, True)
    assert run(source, "f", x, 5) == (False, True, True)  # x[5] is never evaluated


def test_conditional_expression():
    source = "def f(x: f64) -> f64:\n    return x if x > 0.0 else 0.5 * x\n"
    check(source, "f", (2.0,), 2.0)
    check(source, "f", (-2.0,), -1.0)


def test_a_conditional_expression_picks_one_array_whatever_the_sizes():
    # arrays of different sizes are chosen between, not broadcast against each other
    one = "def f(x: f64[n]) -> f64:\n    z = [10.0] if n > 2 else x\n    return sum(z)\n"
    check(one, "f", (np.array([1.0, 2.0, 3.0]),), 10.0)
    check(one, "f", (np.array([1.0, 2.0]),), 3.0)
    grad = compile_source(one, name="test.dp", backend=BACKEND["name"]).grad("f")
    np.testing.assert_array_equal(grad(np.array([1.0, 2.0, 3.0])), [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(grad(np.array([1.0, 2.0])), [1.0, 1.0])
    either = "def f(x: f64[n], y: f64[m], c: bool) -> f64[?]:\n    return x if c else y\n"
    check(either, "f", (np.array([1.0, 2.0, 3.0]), np.array([4.0]), True), [1.0, 2.0, 3.0])
    check(either, "f", (np.array([1.0, 2.0, 3.0]), np.array([4.0]), False), [4.0])
    carried = ("def f(x: f64[n]) -> f64[?]:\n    z = [10.0]\n    for i in range(2):\n"
               "        z = x if i == 1 else z\n    return z\n")
    check(carried, "f", (np.array([1.0, 2.0, 3.0]),), [1.0, 2.0, 3.0])
    rows = ("def f(x: f64[n]) -> f64[?, ?]:\n    y = [10.0]\n"
            "    return [y if i == 0 else x for i in range(2)]\n")
    with pytest.raises(ShapeErrorDP, match="comprehension elements have different shapes: "
                                           "size 1 is not 3"):
        run(rows, "f", np.array([1.0, 2.0, 3.0]))


def test_elementwise_and_broadcasting():
    source = ("def f(a: f64[n, d], v: f64[d], s: f64) -> f64[n, d]:\n"
              "    return exp(a - v) * s + a / 2.0 - v ** 2.0\n")
    check(source, "f", (A, V, 1.5), np.exp(A - V) * 1.5 + A / 2.0 - V ** 2.0)


def test_indexing_forms():
    source = ("def f(a: f64[n, m], x: f64[k]) -> (f64, f64[m], f64, f64, f64):\n"
              "    return x[2], a[1], a[1, 2], a[1][2], x[-1]\n")
    check(source, "f", (A, X), (X[2], A[1], A[1, 2], A[1, 2], X[-1]))


def test_index_out_of_bounds_is_a_runtime_error():
    source = "def f(x: f64[n], i: i64) -> f64:\n    return x[i]\n"
    with pytest.raises(IndexErrorDP) as err:
        run(source, "f", X, 5)
    assert str(err.value) == "index 5 is out of bounds for axis 0 of x with size 5 (at test.dp:2:13)"
    with pytest.raises(IndexError):
        run(source, "f", X, -6)


def test_calls_of_module_functions():
    source = ("def sq(v: f64) -> f64:\n    return v * v\n\n"
              "def f(x: f64[n]) -> f64:\n    return sum(x) + sq(x[0]) + norm(x)\n\n"
              "def norm(y: f64[m]) -> f64:\n    return sqrt(dot(y, y))\n")
    check(source, "f", (X,), X.sum() + X[0] ** 2 + np.sqrt(X @ X))


def test_a_list_of_names_unpacks_as_a_tuple_of_them():
    """[a, b] = g(x) is Python's a, b = g(x); it was 'cannot assign to this'."""
    source = ("def g(x: f64) -> (f64, f64):\n    return x, 2.0 * x\n\n"
              "def f(x: f64) -> f64:\n    [a, b] = g(x)\n    return a - b\n")
    check(source, "f", (1.5,), -1.5)


def test_unpacking_into_elements_assigns_left_to_right_as_python_does():
    """Every value on the right is read first, then each target is assigned in order, an
    element's indices after the targets before it; it was 'only names can be unpacked'."""
    source = ("def g(x: f64) -> (f64, f64):\n    return x + 1.0, 3.0 * x\n\n"
              "def swap(x: f64[n]) -> f64[n]:\n    y = x * 1.0\n"
              "    y[0], y[1] = y[1], y[0]\n    return y\n\n"
              "def last_wins(x: f64[n]) -> f64[n]:\n    y = x * 1.0\n"
              "    y[0], y[0] = 1.0, 2.0\n    return y\n\n"
              "def mixed(x: f64[n]) -> (f64, f64[n]):\n    a, x[1] = g(x[0])\n    return a, x\n\n"
              "def index_after(x: f64[n, m]) -> f64[n, m]:\n    i = 0\n"
              "    i, x[i, 0] = 2, 7\n    return x\n")
    swapped = X.copy()
    swapped[[0, 1]] = X[[1, 0]]
    check(source, "swap", (X,), swapped)
    check(source, "last_wins", (X,), np.concatenate([[2.0], X[1:]]))
    check(source, "mixed", (X,), (X[0] + 1.0, np.concatenate([X[:1], [3.0 * X[0]], X[2:]])))
    expected = A.copy()
    expected[2, 0] = 7.0
    check(source, "index_after", (A,), expected)


def test_arguments_by_name_as_in_python():
    """Module functions and derivative forms take arguments by parameter name too; the
    derivative forms' extra ones are named as from Python (t_x, ct)."""
    source = ("def scale(x: f64[n], by: f64) -> f64[n]:\n    return x * by\n\n"
              "def f(x: f64[n]) -> f64:\n    return sum(scale(by=3.0, x=x))\n\n"
              "def g(x: f64[n], b: f64) -> f64[n]:\n"
              "    y, t = jvp(scale, wrt=x)(x, t_x=x, by=b)\n"
              "    return grad(f)(x=x) + t + vjp(scale, wrt=x)(by=b, ct=x, x=x) + y\n")
    check(source, "f", (X,), 3.0 * X.sum())
    check(source, "g", (X, 2.0), 3.0 + 2.0 * X + 2.0 * X + 2.0 * X)


MATH = {
    "exp": np.exp, "log": np.log, "log1p": np.log1p, "expm1": np.expm1, "sqrt": np.sqrt,
    "sin": np.sin, "cos": np.cos, "tan": np.tan, "tanh": np.tanh,
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)), "abs": np.abs, "sign": np.sign,
    "floor": np.floor, "ceil": np.ceil,
    "lgamma": np.vectorize(math.lgamma),
}


@pytest.mark.parametrize("name", sorted(MATH))
def test_math_scalar_and_elementwise(name):
    args = P * 1.7 if name in ("log", "log1p", "sqrt", "lgamma") else X * 1.7
    scalar = f"def f(x: f64) -> f64:\n    return {name}(x)\n"
    for a in args[:3]:
        check(scalar, "f", (a,), MATH[name](a), rel=1e-14)
    array = f"def f(x: f64[n]) -> f64[n]:\n    return {name}(x)\n"
    check(array, "f", (args,), MATH[name](args), rel=1e-14)


def test_pow_max_min_where():
    source = ("def f(x: f64[n], y: f64[n]) -> (f64[n], f64[n], f64[n], f64[n], f64):\n"
              "    return pow(abs(x), 1.5), max(x, y), min(x, y), where(x > y, x, 0.0), "
              "max(1.0, 2.0, 3)\n")
    check(source, "f", (X, Y), (np.abs(X) ** 1.5, np.maximum(X, Y), np.minimum(X, Y),
                                np.where(X > Y, X, 0.0), 3.0))


def test_reductions_over_all_elements():
    source = ("def f(a: f64[n, m]) -> (f64, f64, f64, f64, f64):\n"
              "    return sum(a), max(a), min(a), prod(a), mean(a)\n")
    check(source, "f", (A,), (A.sum(), A.max(), A.min(), A.prod(), A.mean()))


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_reductions_over_one_axis(axis):
    source = (f"def f(a: f64[n, m]) -> (f64[{'m' if axis == 0 else 'n'}], "
              f"f64[{'m' if axis == 0 else 'n'}], f64[{'m' if axis == 0 else 'n'}]):\n"
              f"    return sum(a, axis={axis}), max(a, axis={axis}), min(a, axis={axis})\n")
    check(source, "f", (A,), (A.sum(axis), A.max(axis), A.min(axis)))


def test_comprehensions_one_two_and_nested():
    source = ("def f(x: f64[n], a: f64[n, m]) -> (f64[n], f64[n, m], f64[n, n]):\n"
              "    sq = [x[i] * x[i] for i in range(n)]\n"
              "    rows = [a[i] * 2.0 for i in range(n)]\n"
              "    table = [[x[i] - x[j] for j in range(n)] for i in range(n)]\n"
              "    return sq, rows, table\n")
    a = rng.standard_normal((5, 2))
    check(source, "f", (X, a), (X * X, 2 * a, X[:, None] - X[None, :]))


def test_generator_reductions():
    source = ("def f(x: f64[n]) -> (f64, f64, f64, f64):\n"
              "    return (sum(x[i] * i for i in range(n)), max(x[i] for i in range(n)),\n"
              "            min(x[i] for i in range(1, n)), prod(x[i] for i in range(0, n, 2)))\n")
    check(source, "f", (X,), ((X * np.arange(5)).sum(), X.max(), X[1:].min(), X[::2].prod()))


def test_a_generator_in_its_own_parentheses():
    # Python allows them around a call's only argument; they said "unexpected 'for'"
    source = ("def f(x: f64[n]) -> f64:\n"
              "    return sum((x[i] * i for i in range(n))) + max((x[i] for i in range(n)))\n")
    check(source, "f", (X,), (X * np.arange(5)).sum() + X.max())


def test_construction():
    source = ("def f(n: i64, v: f64) -> (f64[?], f64[?, ?], f64[?], i64[?], f64[3], f64[2, 2]):\n"
              "    return zeros(n), ones(2, n), full(v, n), arange(n), [1.0, 2.0, 3], "
              "[[1.0, 2.0], [3.0, v]]\n")
    check(source, "f", (3, 2.5), (np.zeros(3), np.ones((2, 3)), np.full(3, 2.5), np.arange(3),
                                  np.array([1.0, 2.0, 3.0]), np.array([[1.0, 2.0], [3.0, 2.5]])))


def test_arange_of_a_negative_length_is_empty_as_numpy_and_range():
    # it raised 'negative array dimension -2', where [i for i in range(n)] was empty
    source = ("def f(n: i64) -> (i64[?], i64, i64):\n"
              "    return arange(n), len(arange(-3)), sum(arange(n) + 1)\n")
    got = run(source, "f", -2)
    np.testing.assert_array_equal(got[0], np.arange(-2))
    assert got[0].shape == (0,) and got[1:] == (0, 0)


def test_linear_algebra():
    source = ("def f(a: f64[n, k], b: f64[k, m], v: f64[k], w: f64[n]) -> "
              "(f64, f64[n, m], f64[n], f64[k, n], f64[k, n], f64[n, k], f64, f64[m]):\n"
              "    return dot(v, v), a @ b, a @ v, transpose(a), a.T, outer(w, v), v @ v, v @ b\n")
    w = rng.standard_normal(4)
    check(source, "f", (A, B, V, w), (V @ V, A @ B, A @ V, A.T, A.T, np.outer(w, V), V @ V, V @ B))
    source = ("def g(a: f64[n, k], b: f64[k, m], v: f64[k]) -> (f64[n, m], f64[n], f64[m]):\n"
              "    return dot(a, b), dot(a, v), dot(v, b)\n")  # as NumPy's dot: a @ b
    check(source, "g", (A, B, V), (A @ B, A @ V, V @ B))


def test_dot_of_a_scalar_scales_as_numpy_dot():
    """np.dot(s, a) is s * a (it was an error: "'@' needs f64 arrays of rank 1 or 2")."""
    source = ("def f(a: f64[n, k], v: f64[k], s: f64, i: i64) -> (f64[n, k], f64[k], f64, i64):\n"
              "    return dot(s, a), dot(v, i), dot(s, 2.0), dot(i, 3)\n")
    check(source, "f", (A, V, 1.5, 2), (np.dot(1.5, A), np.dot(V, 2), 3.0, 6))


def test_transpose_reverses_the_axes_as_numpy():
    """Of any rank: a vector's is the vector, a 3-d array's out[k, j, i] = a[i, j, k] (both
    were an error: 'transpose() needs a matrix (an array of rank 2)')."""
    a3 = rng.standard_normal((2, 3, 4))
    source = ("def f(x: f64[n], a: f64[p, q, r], k: i64[p, q, r]) -> "
              "(f64[n], f64[n], f64[r, q, p], i64[r, q, p], f64[p, q, r]):\n"
              "    return x.T, transpose(x), transpose(a), k.T, a.T.T\n")
    k = np.arange(24).reshape(2, 3, 4)
    check(source, "f", (X, a3, k), (X, X, a3.T, k.T, a3))


def test_linear_algebra_of_integers():
    """A transpose moves elements, so it keeps their type, as NumPy's does; the products
    work in f64, integers promoted, `a @ b` as `dot(a, b)` (it was an error for `@` and
    for `a.T` of an integer matrix, and transpose(a) made it f64)."""
    i, j = np.arange(6).reshape(2, 3), np.arange(6).reshape(3, 2) - 2
    source = ("def f(a: i64[n, m], b: i64[m, k], x: f64[m]) -> "
              "(i64[m, n], i64[m, n], f64[n, k], f64[n, k], f64[n], f64[k, m]):\n"
              "    return a.T, transpose(a), a @ b, dot(a, b), a @ x, (a @ b).T @ a\n")
    check(source, "f", (i, j, V), (i.T, i.T, (i @ j).astype(float), (i @ j).astype(float),
                                   i @ V, ((i @ j).T @ i).astype(float)))


def test_len():
    source = "def f(a: f64[n, m]) -> i64:\n    return len(a) * 10 + len(a[0])\n"
    check(source, "f", (A,), 43)


# --------------------------------------------------------------------------- derivative forms

DERIVATIVES = """\
def f(x: f64[n], w: f64, k: i64) -> f64:
    return w * sum(x) + float(k)

def g1(x: f64[n], w: f64, k: i64) -> (f64[n], f64):
    return grad(f)(x, w, k)

def g2(x: f64[n], w: f64, k: i64) -> f64:
    return grad(f, wrt=w)(x, w, k)

def g3(x: f64[n], w: f64, k: i64) -> (f64, f64, f64[n]):
    return value_and_grad(f, wrt=(w, x))(x, w, k)

def g4(x: f64[n], w: f64, k: i64, t: f64[n]) -> (f64, f64):
    return jvp(f, wrt=x)(x, w, k, t)

def g5(x: f64[n], w: f64, k: i64) -> f64[n]:
    return vjp(f, wrt=x)(x, w, k, 1.0)

def g6(w: f64) -> f64:
    return grad(grad(h))(w)

def h(w: f64) -> f64:
    return w * w * w
"""


def test_derivative_forms_type_check_and_lower_to_ops():
    mod = compile_source(DERIVATIVES, name="d.dp")
    text = mod.ir()
    assert "%0, %1 = grad %x, %w, %k {callee = @f, wrt = [0, 1]} : f64[n], f64" in text
    assert "grad %x, %w, %k {callee = @f, wrt = [1]} : f64" in text
    assert "value_and_grad %x, %w, %k {callee = @f, wrt = [1, 0]} : f64, f64, f64[n]" in text
    assert "jvp %x, %w, %k, %t {callee = @f, wrt = [0]} : f64, f64" in text
    assert "vjp %x, %w, %k, %0 {callee = @f, wrt = [0]} : f64[n]" in text
    assert "grad %w {callee = @h.grad, wrt = [0]} : f64" in text
    assert mod.ir("h.grad") == (
        "func @h.grad(%w: f64) -> f64 {\n"
        "  %0 = grad %w {callee = @h, wrt = [0]} : f64\n"
        "  return %0\n"
        "}\n")


def test_ir_of_a_function_derived_from_python():
    mod = compile_source(DERIVATIVES, name="d.dp")
    derived = mod.grad(mod.grad("h"))
    assert mod.ir(derived) == (
        "func @h.grad.grad(%w: f64) -> f64 {\n"
        "  %0 = grad %w {callee = @h.grad, wrt = [0]} : f64\n"
        "  return %0\n"
        "}\n")
    assert mod.ir(mod.h, stage="source") == "def h(w: f64) -> f64:\n    return w * w * w\n"


def test_reverse_derivative_forms_run():
    mod = compile_source(DERIVATIVES, name="d.dp", backend=BACKEND["name"])
    gx, gw = mod.g1(X, 2.0, 3)
    np.testing.assert_allclose(gx, np.full(X.shape, 2.0), rtol=1e-15)
    assert gw == pytest.approx(X.sum(), rel=1e-15)
    assert mod.g2(X, 2.0, 3) == pytest.approx(X.sum(), rel=1e-15)
    value, gw, gx = mod.g3(X, 2.0, 3)
    assert (value, gw) == pytest.approx((2.0 * X.sum() + 3.0, X.sum()), rel=1e-15)
    np.testing.assert_allclose(gx, np.full(X.shape, 2.0), rtol=1e-15)
    np.testing.assert_allclose(mod.g5(X, 2.0, 3), np.full(X.shape, 2.0), rtol=1e-15)
    assert mod.g6(1.5) == pytest.approx(6 * 1.5, rel=1e-15)  # grad(grad(w^3)) = 6w


def test_jvp_runs():
    mod = compile_source(DERIVATIVES, name="d.dp", backend=BACKEND["name"])
    tangent = np.linspace(-1.0, 1.0, X.size).reshape(X.shape) + 0.25
    value, t = mod.g4(X, 2.0, 3, tangent)
    assert value == pytest.approx(2.0 * X.sum() + 3.0, rel=1e-15)
    assert t == pytest.approx(2.0 * tangent.sum(), rel=1e-14)


NAMED_DERIVATIVES = """\
def h(x: f64[n], w: f64) -> f64:
    return w * sum(sin(x) * x)

def f(x: f64[n], w: f64, t: f64[n]) -> (f64[n], f64[n], f64):
    dh = grad(h, wrt=x)
    hvp = jvp(dh, wrt=x)
    g, ht = hvp(x, w, t)
    k = h
    d2 = grad(grad(k, wrt=w), wrt=w)
    acc = 0.0
    for i in range(2):
        acc += k(x, w) + d2(x, w)
    return dh(x, w), ht, acc
"""


def test_a_derivative_can_be_named_then_called_and_transformed():
    """LANGUAGE.md: a derivative "can be called, named, dumped as IR, and transformed
    again"; `dh = grad(h, wrt=x)` was an error ('grad(f) gives a function; call it')."""
    g = 2.0 * (np.sin(X) + X * np.cos(X))
    hessian_t = 2.0 * (2.0 * np.cos(X) - X * np.sin(X)) * Y
    check(NAMED_DERIVATIVES, "f", (X, 2.0, Y), (g, hessian_t, 2 * 2.0 * (np.sin(X) * X).sum()))


INTEGER_RESULTS = """\
def f(x: f64[n]) -> (f64, i64):
    return sum(x * x), n * 2

def k(x: f64[n]) -> (f64[n], bool):
    return x * 3.0, x[0] > 0.0

def vf(x: f64[n]) -> f64[n]:
    return vjp(f)(x, 1.5, 0)

def vk(x: f64[n], c: f64[n]) -> f64[n]:
    return vjp(k)(x, c, True)

def jf(x: f64[n], t: f64[n]) -> (f64, i64, f64, i64):
    return jvp(f)(x, t)
"""


def test_derivatives_of_functions_with_integer_results():
    """vjp takes a cotangent for every result, an integer or bool one of the result's type
    (it was converted to f64 and then refused: 'cotangent must be i64, got f64'), whose
    value is not used; jvp gives such a result the tangent 0 (False)."""
    check(INTEGER_RESULTS, "vf", (X,), 3.0 * X)
    check(INTEGER_RESULTS, "vk", (X, Y), 3.0 * Y)
    check(INTEGER_RESULTS, "jf", (X, Y), ((X * X).sum(), 10, 2.0 * (X * Y).sum(), 0))
    with pytest.raises(CompileError) as err:
        run(INTEGER_RESULTS + "\ndef bad(x: f64[n]) -> f64[n]:\n    return vjp(f)(x, 1.0, 0.5)\n",
            "bad", X)
    assert (err.value.line, err.value.col) == (17, 27)
    assert err.value.message == ("this cotangent must be i64, got f64 (an integer or bool "
                                 "result has no derivative: pass any i64, zeros say; its "
                                 "values are not used)")


def test_cotangents_of_results_of_data_dependent_size_are_each_their_own_size():
    """Two f64[?] results may differ in size, and so may their cotangents: a `?` binds
    nothing (vjp's own check of its arguments' sizes called the second 'dimension ? is 4
    here but 3 in argument ct0', though Python's mod.vjp took them)."""
    source = ("def g(x: f64[n], k: i64) -> (f64[?], f64[?]):\n"
              "    return zeros(k) + x[0], zeros(k + 1) + x[0]\n\n"
              "def f(x: f64[n]) -> f64[n]:\n"
              "    return vjp(g)(x, 3, ones(3), ones(4))\n")
    check(source, "f", (X,), np.eye(len(X))[0] * 7.0)


def test_shape_checked_at_run_time_where_unknown():
    source = "def f(k: i64, x: f64[n]) -> f64[n]:\n    return zeros(k) + x\n"
    check(source, "f", (5, X), X)
    with pytest.raises(ShapeErrorDP):
        run(source, "f", 4, X)


BROADCAST_STORES = """\
def lead(v: f64[n]) -> f64[2, n, n]:
    a = zeros(2, n, n)
    a[1] = v
    return a

def unit(m: f64[k, 1]) -> f64[2, k, 3]:
    a = ones(2, k, 3)
    a[1] = m
    return a

def unknown(v: f64[?]) -> f64[3, 4]:
    a = zeros(3, 4)
    a[1] = v
    return a
"""


def test_stores_broadcast_like_binary_ops():
    v = np.array([1.0, 2.0, 3.0])
    expected = np.zeros((2, 3, 3))
    expected[1] = v
    check(BROADCAST_STORES, "lead", (v,), expected)
    expected = np.ones((2, 2, 3))
    expected[1] = [[5.0], [6.0]]
    check(BROADCAST_STORES, "unit", (np.array([[5.0], [6.0]]),), expected)
    expected = np.zeros((3, 4))
    expected[1] = np.arange(4.0)
    check(BROADCAST_STORES, "unknown", (np.arange(4.0),), expected)
    with pytest.raises(ShapeErrorDP):  # a `?` that is 1 at run time does not broadcast
        run(BROADCAST_STORES, "unknown", np.array([7.0]))


CARRIED_AND_READ = """\
def f(x: f64[n]) -> f64[n]:
    y = x * 2.0
    z = y
    for i in range(n):
        z = z + y[i]
    return z
"""


def test_loop_reads_the_array_it_starts_from():
    """The body reads y while the loop carries (and replaces) z, which starts as y: y's
    buffer must not become the loop's to free."""
    x = np.array([1.0, 2.0, 3.0])
    check(CARRIED_AND_READ, "f", (x,), 2.0 * x + 2.0 * x.sum())
