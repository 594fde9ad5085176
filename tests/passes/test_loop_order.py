"""Loop order (passes/loop_order.py): a nest that walks the arrays it carries down their
columns runs along their rows."""

import numpy as np
import pytest

import ir
from compiler import compile_source
from passes.loop_order import LoopOrder

# The reverse sweep of a loop over columns: iteration (k, k1) adds into element
# (k1 + 0, n - 1 - k); its prelude reads w[j] once per column
BEFORE = (
    "func @f(%a: f64[m, n], %w: f64[n]) -> f64[m, n] {\n"
    "  %m = dim %a {axis = 0} : i64\n"
    "  %n = dim %a {axis = 1} : i64\n"
    "  %0 = const 0.0 : f64\n"
    "  %1 = const 0 : i64\n"
    "  %2 = const 1 : i64\n"
    "  %z = full %0, %m, %n : f64[m, n]\n"
    "  %ab = for %1, %n, %2, %z : f64[m, n] {\n"
    "  ^(%k: i64, %acc: f64[m, n]):\n"
    "    %3 = sub %n, %2 : i64\n"
    "    %j = sub %3, %k : i64\n"
    "    %4 = index %w, %j {inbounds = true} : f64\n"
    "    %5 = for %1, %m, %2, %acc : f64[m, n] {\n"
    "    ^(%k.1: i64, %acc.1: f64[m, n]):\n"
    "      %i = add %k.1, %1 : i64\n"
    "      %6 = index %a, %i, %j {inbounds = true} : f64\n"
    "      %7 = mul %6, %4 : f64\n"
    "      %acc.2 = add_at %acc.1, %7, %i, %j {inbounds = true} : f64[m, n]\n"
    "      yield %acc.2\n"
    "    }\n"
    "    yield %5\n"
    "  }\n"
    "  return %ab\n"
    "}\n"
)

# the rows outside, the columns inside; the prelude at the start of the inner body
AFTER = (
    "func @f(%a: f64[m, n], %w: f64[n]) -> f64[m, n] {\n"
    "  %m = dim %a {axis = 0} : i64\n"
    "  %n = dim %a {axis = 1} : i64\n"
    "  %0 = const 0.0 : f64\n"
    "  %1 = const 0 : i64\n"
    "  %2 = const 1 : i64\n"
    "  %z = full %0, %m, %n : f64[m, n]\n"
    "  %ab = for %1, %m, %2, %z : f64[m, n] {\n"
    "  ^(%k: i64, %acc: f64[m, n]):\n"
    "    %3 = for %1, %n, %2, %acc : f64[m, n] {\n"
    "    ^(%k.1: i64, %acc.1: f64[m, n]):\n"
    "      %4 = sub %n, %2 : i64\n"
    "      %j = sub %4, %k.1 : i64\n"
    "      %5 = index %w, %j {inbounds = true} : f64\n"
    "      %i = add %k, %1 : i64\n"
    "      %6 = index %a, %i, %j {inbounds = true} : f64\n"
    "      %7 = mul %6, %5 : f64\n"
    "      %acc.2 = add_at %acc.1, %7, %i, %j {inbounds = true} : f64[m, n]\n"
    "      yield %acc.2\n"
    "    }\n"
    "    yield %3\n"
    "  }\n"
    "  return %ab\n"
    "}\n"
)


def ordered(source: str) -> str:
    module = LoopOrder().apply(ir.parse_module(source))
    ir.verify_module(module)
    return ir.print_module(module)


def test_before_and_after():
    assert ordered(BEFORE) == AFTER
    assert ir.print_module(ir.parse_module(AFTER)) == AFTER


@pytest.mark.parametrize("old, new", [
    # along the rows already: (j, i) of a matrix whose rows are columns of a
    ("add_at %acc.1, %7, %i, %j ", "add_at %acc.1, %7, %j, %i "),
    # a second access at another element: iterations may share elements
    ("      yield %acc.2\n", "      %acc.3 = add_at %acc.2, %7, %1, %j {inbounds = true}"
                             " : f64[m, n]\n      yield %acc.3\n"),
    # not one to one: every k1 adds to row 0
    ("%i = add %k.1, %1 : i64", "%i = mul %k.1, %1 : i64"),
    # an index that is not proved may be negative, the element of another
    ("%acc.2 = add_at %acc.1, %7, %i, %j {inbounds = true}",
     "%acc.2 = add_at %acc.1, %7, %i, %j"),
    # the inner range set by the outer loop (a triangle)
    ("    %5 = for %1, %m, %2, %acc ", "    %5 = for %1, %k, %2, %acc "),
    # the array read whole in the inner body
    ("      %7 = mul %6, %4 : f64\n", "      %7.s = reduce_sum %acc.1 : f64\n"
                                      "      %7 = mul %6, %7.s : f64\n"),
    # a prelude that may fail
    ("%4 = index %w, %j {inbounds = true}", "%4 = index %w, %j"),
    # a step of 0 raises; swapped, it would raise for an empty range of columns too
    ("  %ab = for %1, %n, %2, %z ", "  %ab = for %1, %n, %1, %z "),
    # the row a sum of both variables
    ("%i = add %k.1, %1 : i64", "%i = add %k.1, %k : i64"),
])
def test_nests_it_leaves(old, new):
    source = BEFORE.replace(old, new)
    assert source != BEFORE
    ir.verify_module(ir.parse_module(source))
    assert ordered(source) == ir.print_module(ir.parse_module(source))


SUMS = """
def by_columns(a: f64[m, n], w: f64[n]) -> f64:
    acc = 0.0
    for j in range(n):
        for i in range(m):
            acc += a[i, j] * a[i, j] * w[j]
    return acc

def grad_by_columns(a: f64[m, n], w: f64[n]) -> f64[m, n]:
    return grad(by_columns, wrt=a)(a, w)

def scaled_columns(a: f64[m, n], w: f64[n]) -> f64[m, n]:
    b = zeros(m, n)
    for j in range(n):
        for i in range(m):
            b[i, j] = sqrt(abs(a[i, j])) * w[j]
    return b
"""


@pytest.mark.parametrize("shape", [(0, 3), (3, 0), (1, 1), (4, 7), (37, 5)])
def test_the_gradient_along_rows_has_the_interpreters_bits(shape):
    # the primal sums in its order (a scalar carried: left alone); its gradient's sweep,
    # and a nest storing each element, run along rows (only correctly rounded math, so
    # that native code and NumPy agree)
    mod = compile_source(SUMS)  # the sweep's two loops (the sum's are dead)
    assert mod.ir("grad_by_columns", stage="scalar").count(" = for ") == 2
    rng = np.random.default_rng(shape[0] * 10 + shape[1])
    a, w = rng.normal(size=shape), rng.normal(size=shape[1])
    a[::2, ::3] = 0.0
    for fn in ("by_columns", "grad_by_columns", "scaled_columns"):
        got = getattr(mod, fn)(a, w)
        want = mod.interpreter.run(fn, [a, w])
        assert np.asarray(got).tobytes() == np.asarray(want, dtype=np.float64).tobytes()


def test_a_sweep_down_columns_is_swapped_in_the_scalar_ir():
    mod = compile_source(SUMS)
    scalar = mod.ir("grad_by_columns", stage="scalar")
    sweep = scalar[scalar.index("%a_bar = for"):]
    # the outer loop over the rows (m), the inner over the columns (n)
    assert sweep.startswith("%a_bar = for %0, %m, %1, ")
    assert "    %4 = for %0, %n, %1, " in sweep
    stores = mod.ir("scaled_columns", stage="scalar")
    assert "  %b.1 = for %1, %m, %2, %b : f64[m, n] {\n" in stores


@pytest.mark.parametrize("row", [
    "%i = add %1, %k.1 : i64",                       # 0 + k1
    "%i.m = sub %m, %2 : i64\n      %i = sub %i.m, %k.1 : i64",  # m - 1 - k1, made inside
    "%i.0 = add %k.1, %3 : i64\n      %i = sub %i.0, %3 : i64",   # k1 + c - c, c not known
])
def test_rows_one_to_one_in_the_inner_variable_are_swapped(row):
    source = BEFORE.replace("%i = add %k.1, %1 : i64", row)
    assert source != BEFORE
    assert "  %ab = for %1, %m, %2, %z : f64[m, n] {\n" in ordered(source)


def test_a_loop_with_nothing_in_it_stays():
    start = BEFORE.index("    %3 = sub %n, %2")
    source = BEFORE[:start] + "    yield %acc\n  }\n  return %ab\n}\n"
    assert ordered(source) == ir.print_module(ir.parse_module(source))
