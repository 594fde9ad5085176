"""LICM: what does not change across a loop's iterations is computed once, before it."""

import numpy as np
import pytest

import ir
from compiler import compile_source
from passes.licm import LICM

BEFORE = (
    "func @f(%x: f64[n], %w: f64[m]) -> f64 {\n"
    "  %n = dim %x {axis = 0} : i64\n"
    "  %m = dim %w {axis = 0} : i64\n"
    "  %0 = const 0 : i64\n"
    "  %1 = const 1 : i64\n"
    "  %2 = const 0.0 : f64\n"
    "  %3 = for %0, %n, %1, %2 : f64 {\n"
    "  ^(%i: i64, %acc: f64):\n"
    "    %4 = index %x, %i {inbounds = true} : f64\n"
    "    %5 = exp %4 : f64\n"
    "    %6 = reduce %0, %m, %1 {kind = \"sum\"} : f64 {\n"
    "    ^(%j: i64):\n"
    "      %7 = index %w, %j {inbounds = true} : f64\n"
    "      %8 = exp %7 : f64\n"
    "      %9 = mul %8, %5 : f64\n"
    "      yield %9\n"
    "    }\n"
    "    %10 = reduce %0, %m, %1 {kind = \"sum\"} : f64 {\n"
    "    ^(%k: i64):\n"
    "      %11 = index %w, %k {inbounds = true} : f64\n"
    "      %12 = sin %11 : f64\n"
    "      yield %12\n"
    "    }\n"
    "    %13 = add %acc, %6 : f64\n"
    "    %14 = add %13, %10 : f64\n"
    "    yield %14\n"
    "  }\n"
    "  return %3\n"
    "}\n"
)

AFTER = (
    "func @f(%x: f64[n], %w: f64[m]) -> f64 {\n"
    "  %n = dim %x {axis = 0} : i64\n"
    "  %m = dim %w {axis = 0} : i64\n"
    "  %0 = const 0 : i64\n"
    "  %1 = const 1 : i64\n"
    "  %2 = const 0.0 : f64\n"
    "  %3 = build %0, %m, %1 : f64[m] {\n"
    "  ^(%j: i64):\n"
    "    %4 = index %w, %j {inbounds = true} : f64\n"
    "    %5 = exp %4 : f64\n"
    "    yield %5\n"
    "  }\n"
    "  %6 = reduce %0, %m, %1 {kind = \"sum\"} : f64 {\n"
    "  ^(%k: i64):\n"
    "    %7 = index %w, %k {inbounds = true} : f64\n"
    "    %8 = sin %7 : f64\n"
    "    yield %8\n"
    "  }\n"
    "  %9 = for %0, %n, %1, %2 : f64 {\n"
    "  ^(%i: i64, %acc: f64):\n"
    "    %10 = index %x, %i {inbounds = true} : f64\n"
    "    %11 = exp %10 : f64\n"
    "    %12 = reduce %0, %m, %1 {kind = \"sum\"} : f64 {\n"
    "    ^(%j.1: i64):\n"
    "      %13 = index %3, %j.1 {inbounds = true} : f64\n"
    "      %14 = mul %13, %11 : f64\n"
    "      yield %14\n"
    "    }\n"
    "    %15 = add %acc, %12 : f64\n"
    "    %16 = add %15, %6 : f64\n"
    "    yield %16\n"
    "  }\n"
    "  return %9\n"
    "}\n"
)


def hoisted(source: str) -> str:
    module = LICM().apply(ir.parse_module(source))
    ir.verify_module(module)
    return ir.print_module(module)


def test_before_and_after():
    # exp(w[j]) depends on j only: a table over j, before the loop over i, read inside;
    # sum(sin(w)) depends on nothing in the loop: moved out whole (native code adds a sum
    # in the same partial sums inside loops and outside, so its bits stay); exp(x[i]) stays
    assert hoisted(BEFORE) == AFTER
    assert ir.print_module(ir.parse_module(AFTER)) == AFTER


def test_a_read_that_may_fail_stays():
    # unchecked, w[j] may raise, and must not raise before the loop (which may not run)
    source = BEFORE.replace("%7 = index %w, %j {inbounds = true}", "%7 = index %w, %j") \
                   .replace("%11 = index %w, %k {inbounds = true}", "%11 = index %w, %k")
    assert hoisted(source) == source


def test_work_under_an_if_stays():
    source = (
        "func @f(%x: f64[n], %c: bool) -> f64 {\n"
        "  %n = dim %x {axis = 0} : i64\n"
        "  %0 = const 0 : i64\n"
        "  %1 = const 1 : i64\n"
        "  %2 = reduce %0, %n, %1 {kind = \"sum\"} : f64 {\n"
        "  ^(%i: i64):\n"
        "    %3 = if %c : f64 {\n"
        "      %4 = index %x, %0 {inbounds = true} : f64\n"
        "      %5 = exp %4 : f64\n"
        "      yield %5\n"
        "    } {\n"
        "      %6 = index %x, %i {inbounds = true} : f64\n"
        "      yield %6\n"
        "    }\n"
        "    yield %3\n"
        "  }\n"
        "  return %2\n"
        "}\n")
    assert hoisted(source) == source


def test_a_filled_array_updated_in_the_loop_stays():
    # hoisted, the zeros would be copied on every iteration before the update
    source = (
        "func @f(%x: f64[n]) -> f64 {\n"
        "  %n = dim %x {axis = 0} : i64\n"
        "  %0 = const 0 : i64\n"
        "  %1 = const 1 : i64\n"
        "  %2 = const 0.0 : f64\n"
        "  %3 = for %0, %n, %1, %2 : f64 {\n"
        "  ^(%i: i64, %acc: f64):\n"
        "    %4 = full %2, %n : f64[n]\n"
        "    %5 = index %x, %i {inbounds = true} : f64\n"
        "    %6 = add_at %4, %5, %i {inbounds = true} : f64[n]\n"
        "    %7 = index %6, %0 {inbounds = true} : f64\n"
        "    %8 = add %acc, %7 : f64\n"
        "    yield %8\n"
        "  }\n"
        "  return %3\n"
        "}\n")
    assert hoisted(source) == source


PROGRAM = """\
def f(x: f64[n], w: f64[m]) -> f64:
    total = 0.0
    for i in range(n):
        total += sum(exp(w[j]) * x[i] + sin(w[j]) for j in range(m))
    return total
"""


@pytest.mark.parametrize("backend", ["native", "interp"])
def test_values_and_gradients_are_unchanged(backend):
    mod = compile_source(PROGRAM, backend=backend)
    x, w = np.array([0.5, -1.0, 2.0]), np.array([0.1, 0.2, -0.3, 0.4])
    expected = sum(np.exp(wj) * xi + np.sin(wj) for xi in x for wj in w)
    assert mod.f(x, w) == pytest.approx(expected, rel=1e-14)
    grad = mod.grad("f")
    gx, gw = grad(x, w)
    assert np.allclose(gx, np.full(3, np.exp(w).sum()), rtol=1e-14)
    assert np.allclose(gw, np.exp(w) * x.sum() + 3 * np.cos(w), rtol=1e-14)


def test_the_reverse_sweep_reads_tables():
    # exp(w[j]) and the derivative cos(w[j]) are tabulated before the reverse loop over i
    grad = compile_source(PROGRAM).grad("f")
    text = ir.print_function(grad.owner._optimized.functions[grad.name])
    before, reverse = text.split("%w_bar, %x_bar = for")
    assert ("exp" in before, "cos" in before) == (True, True)
    assert ("exp" in reverse, "cos" in reverse) == (False, False)


GUARDED_BEFORE = (
    "func @f(%x: f64[n], %k: i64) -> f64 {\n"
    "  %0 = const 0 : i64\n"
    "  %1 = const 1 : i64\n"
    "  %2 = const 0.0 : f64\n"
    "  %3 = for %0, %k, %1, %2 : f64 {\n"
    "  ^(%i: i64, %acc: f64):\n"
    "    %top = reduce_max %x : f64\n"
    "    %4 = sub %x, %top : f64[n]\n"
    "    %5 = exp %4 : f64[n]\n"
    "    %6 = reduce_sum %5 : f64\n"
    "    %7 = to_f64 %i : f64\n"
    "    %8 = mul %6, %7 : f64\n"
    "    %9 = add %acc, %8 : f64\n"
    "    yield %9\n"
    "  }\n"
    "  return %3\n"
    "}\n"
)

GUARDED_AFTER = (
    "func @f(%x: f64[n], %k: i64) -> f64 {\n"
    "  %0 = const 0 : i64\n"
    "  %1 = const 1 : i64\n"
    "  %2 = const 0.0 : f64\n"
    "  %3 = lt %0, %k : bool\n"
    "  %4 = if %3 : f64 {\n"
    "    %top = reduce_max %x : f64\n"
    "    %5 = sub %x, %top : f64[n]\n"
    "    %6 = exp %5 : f64[n]\n"
    "    %7 = reduce_sum %6 : f64\n"
    "    %8 = for %0, %k, %1, %2 : f64 {\n"
    "    ^(%i: i64, %acc: f64):\n"
    "      %9 = to_f64 %i : f64\n"
    "      %10 = mul %7, %9 : f64\n"
    "      %11 = add %acc, %10 : f64\n"
    "      yield %11\n"
    "    }\n"
    "    yield %8\n"
    "  } {\n"
    "    yield %2\n"
    "  }\n"
    "  return %4\n"
    "}\n"
)


def test_work_that_may_fail_moves_under_a_guard_that_the_loop_runs():
    # max(x) fails for an empty x, which a loop of no iteration never sees: the loop goes
    # under `if 0 < k`, and the max (and the sum of exps that needs it) before the loop
    assert hoisted(GUARDED_BEFORE) == GUARDED_AFTER
    assert ir.print_module(ir.parse_module(GUARDED_AFTER)) == GUARDED_AFTER


def test_work_that_may_fail_leaves_only_the_loop_it_sits_in():
    # the max leaves the inner loop under the inner loop's guard, and stays there: the
    # inner loop may run no iteration even when the outer one runs
    source = (
        "func @f(%x: f64[n], %k: i64, %m: i64) -> f64 {\n"
        "  %0 = const 0 : i64\n"
        "  %1 = const 1 : i64\n"
        "  %2 = const 0.0 : f64\n"
        "  %3 = for %0, %k, %1, %2 : f64 {\n"
        "  ^(%i: i64, %acc: f64):\n"
        "    %4 = for %0, %m, %1, %acc : f64 {\n"
        "    ^(%j: i64, %inner: f64):\n"
        "      %top = reduce_max %x : f64\n"
        "      %5 = add %inner, %top : f64\n"
        "      yield %5\n"
        "    }\n"
        "    yield %4\n"
        "  }\n"
        "  return %3\n"
        "}\n")
    assert hoisted(source) == (
        "func @f(%x: f64[n], %k: i64, %m: i64) -> f64 {\n"
        "  %0 = const 0 : i64\n"
        "  %1 = const 1 : i64\n"
        "  %2 = const 0.0 : f64\n"
        "  %3 = for %0, %k, %1, %2 : f64 {\n"
        "  ^(%i: i64, %acc: f64):\n"
        "    %4 = lt %0, %m : bool\n"
        "    %5 = if %4 : f64 {\n"
        "      %top = reduce_max %x : f64\n"
        "      %6 = for %0, %m, %1, %acc : f64 {\n"
        "      ^(%j: i64, %inner: f64):\n"
        "        %7 = add %inner, %top : f64\n"
        "        yield %7\n"
        "      }\n"
        "      yield %6\n"
        "    } {\n"
        "      yield %acc\n"
        "    }\n"
        "    yield %5\n"
        "  }\n"
        "  return %3\n"
        "}\n")


GUARDS = """\
def f(x: f64[n], k: i64) -> f64:
    s = 0.0
    for i in range(k):
        s += max(x) * float(i)
    return s

def g(x: f64[n], k: i64) -> f64:
    s = 0.0
    for i in range(k):
        assert n > 0, "x must not be empty"
        s += max(x) * float(i)
    return s
"""


@pytest.mark.parametrize("backend", ["native", "interp"])
def test_guarded_work_raises_what_the_loop_raised_and_only_when_it_runs(backend):
    mod = compile_source(GUARDS, backend=backend)
    opt = mod.ir("f", stage="opt")
    assert opt.index("reduce_max") < opt.index("= for")  # moved
    assert mod.f(np.array([1.0, 3.0, 2.0]), 4) == 3.0 * (0 + 1 + 2 + 3)
    empty = np.zeros(0)
    assert mod.f(empty, 0) == 0.0 and mod.g(empty, 0) == 0.0
    with pytest.raises(ValueError, match=r"^max\(\) of an empty sequence \(at <source>:4:14\)"):
        mod.f(empty, 2)
    # the user's assert comes first in an iteration: the max stays behind it
    opt = mod.ir("g", stage="opt")
    assert opt.index("= for") < opt.index("reduce_max")
    with pytest.raises(AssertionError, match="^x must not be empty"):
        mod.g(empty, 2)


SIZES = """\
def in_loop(x: f64[n], k: i64, p: i64) -> f64:
    acc = 0.0
    y = ones(p)
    for i in range(k):
        acc += sum(x + y)
    return acc

def unused(x: f64[n], p: i64) -> f64:
    z = x + ones(p)
    return 1.0
"""


@pytest.mark.parametrize("backend", ["native", "interp"])
def test_an_op_whose_sizes_may_disagree_neither_moves_nor_goes(backend):
    # x + ones(p) fails when p is not n: out of a loop that runs no iteration it raised,
    # and unused it was dropped; elementwise ops on sizes the types match stay movable
    optimized = compile_source(SIZES, backend=backend)
    plain = compile_source(SIZES, backend=backend, optimize=False)
    assert optimized.in_loop(np.ones(3), 0, 4) == plain.in_loop(np.ones(3), 0, 4) == 0.0
    assert optimized.in_loop(np.ones(3), 2, 3) == 12.0
    for mod in (optimized, plain):
        with pytest.raises(ValueError, match=r"^cannot add f64\[n\] and f64\[\?\]: size 3 is not 4"):
            mod.unused(np.ones(3), 4)


UNSIZED = """\
def sums(a: i64, b: i64) -> f64[?]:
    return [sum([1.0 for j in range(b)]) for i in range(a)]

def rows(x: f64[n], a: i64, b: i64) -> f64[?, ?]:
    return [[x[0] for j in range(b)] for i in range(a)]

def table(x: f64[n], a: i64) -> f64:
    return sum(sum(x[i] * exp(float(j)) for j in range(a)) for i in range(n))
"""


UNSIZED_IR = (
    "func @sums(%a: i64, %b: i64) -> f64[?] {\n"
    "  %0 = const 0 : i64\n"
    "  %1 = const 1 : i64\n"
    "  %2 = build %0, %a, %1 : f64[?] {\n"
    "  ^(%i: i64):\n"
    "    %3 = build %0, %b, %1 : f64[?] {\n"
    "    ^(%j: i64):\n"
    "      %4 = const 1.0 : f64\n"
    "      yield %4\n"
    "    }\n"
    "    %5 = reduce_sum %3 : f64\n"
    "    yield %5\n"
    "  }\n"
    "  return %2\n"
    "}\n"
)


def test_an_array_no_size_of_the_program_bounds_stays_in_a_loop_that_may_not_run():
    # [1.0 for j in range(b)] is b long: before a loop over range(a) it would be made
    # when a is 0 too (b = 2**62: out of memory), so it stays, and so does a table of
    # exp(j) over range(a) in a loop over range(n)
    assert hoisted(UNSIZED_IR) == UNSIZED_IR
    table = compile_source(UNSIZED).ir("table", stage="opt")
    assert table.index("reduce %0, %n") < table.index("reduce %0, %a") < table.index("exp")
    # a row as long as an array of the program moves (as the table of exp(w) above)
    sized = UNSIZED_IR.replace("%a: i64, %b: i64) -> f64[?]", "%a: i64, %w: f64[m]) -> f64[?]") \
                      .replace("  %0 = const 0", "  %b = dim %w {axis = 0} : i64\n  %0 = const 0") \
                      .replace("%3 = build %0, %b, %1 : f64[?]", "%3 = build %0, %b, %1 : f64[m]")
    assert hoisted(sized).index("reduce_sum") < hoisted(sized).index("build %0, %a")


@pytest.mark.parametrize("backend", ["native", "interp"])
def test_no_row_is_made_when_a_comprehension_has_none(backend):
    # neither the row sum(1.0 for range(b)) nor a matrix's rows of b: a b of 2**62 fits
    # no memory, and with a = 0 the program never makes one
    mod = compile_source(UNSIZED, backend=backend)
    assert mod.sums(0, 2**62).shape == (0,) and mod.rows(np.ones(1), 0, 2**62).shape == (0, 0)
    assert mod.sums(2, 3).tolist() == [3.0, 3.0]
    assert mod.rows(np.array([5.0]), 2, 3).tolist() == [[5.0] * 3] * 2
    assert mod.grad("table")(np.ones(2), 0).tolist() == [0.0, 0.0]
