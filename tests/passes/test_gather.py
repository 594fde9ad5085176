"""Gather (passes/gather.py): a loop that adds into one array at several offsets of its
variable, a stencil's reverse sweep, becomes a build that vectorizes."""

import numpy as np
import pytest

import ir
from compiler import compile_source
from passes.gather import Gather

# The reverse sweep of [g[i - 1] + 2.0 * g[i] + g[i + 1] ...] over range(1, n - 1): element
# j of the build adds what iterations j - 1, j and j + 1 added to it, in that order
BEFORE = (
    "func @f(%g: f64[n]) -> f64[n] {\n"
    "  %n = dim %g {axis = 0} : i64\n"
    "  %0 = const 0.0 : f64\n"
    "  %z = full %0, %n : f64[n]\n"
    "  %1 = const 1 : i64\n"
    "  %2 = sub %n, %1 : i64\n"
    "  %3 = const 2.0 : f64\n"
    "  %xb = for %1, %2, %1, %z : f64[n] {\n"
    "  ^(%k: i64, %acc: f64[n]):\n"
    "    %v = index %g, %k {inbounds = true} : f64\n"
    "    %km = sub %k, %1 : i64\n"
    "    %a1 = add_at %acc, %v, %km {inbounds = true} : f64[n]\n"
    "    %w = mul %3, %v : f64\n"
    "    %a2 = add_at %a1, %w, %k {inbounds = true} : f64[n]\n"
    "    %kp = add %k, %1 : i64\n"
    "    %a3 = add_at %a2, %v, %kp {inbounds = true} : f64[n]\n"
    "    yield %a3\n"
    "  }\n"
    "  return %xb\n"
    "}\n"
)

AFTER = (
    "func @f(%g: f64[n]) -> f64[n] {\n"
    "  %n = dim %g {axis = 0} : i64\n"
    "  %0 = const 0.0 : f64\n"
    "  %z = full %0, %n : f64[n]\n"
    "  %1 = const 1 : i64\n"
    "  %2 = sub %n, %1 : i64\n"
    "  %3 = const 2.0 : f64\n"
    "  %4 = dim %z {axis = 0} : i64\n"
    "  %5 = const 0 : i64\n"
    "  %6 = const 1 : i64\n"
    "  %7 = build %5, %4, %6 : f64[n] {\n"
    "  ^(%j: i64):\n"
    "    %8 = index %z, %j {inbounds = true} : f64\n"
    "    %9 = const 1 : i64\n"
    "    %10 = sub %j, %9 : i64\n"
    "    %11 = ge %10, %1 : bool\n"
    "    %12 = lt %10, %2 : bool\n"
    "    %13 = and %11, %12 : bool\n"
    "    %14 = if %13 : f64 {\n"
    "      %v = index %g, %10 {inbounds = \"guarded\"} : f64\n"
    "      %15 = add %8, %v : f64\n"
    "      yield %15\n"
    "    } {\n"
    "      yield %8\n"
    "    }\n"
    "    %16 = ge %j, %1 : bool\n"
    "    %17 = lt %j, %2 : bool\n"
    "    %18 = and %16, %17 : bool\n"
    "    %19 = if %18 : f64 {\n"
    "      %v.1 = index %g, %j {inbounds = \"guarded\"} : f64\n"
    "      %w = mul %3, %v.1 : f64\n"
    "      %20 = add %14, %w : f64\n"
    "      yield %20\n"
    "    } {\n"
    "      yield %14\n"
    "    }\n"
    "    %21 = const 1 : i64\n"
    "    %22 = add %j, %21 : i64\n"
    "    %23 = ge %22, %1 : bool\n"
    "    %24 = lt %22, %2 : bool\n"
    "    %25 = and %23, %24 : bool\n"
    "    %26 = if %25 : f64 {\n"
    "      %v.2 = index %g, %22 {inbounds = \"guarded\"} : f64\n"
    "      %27 = add %19, %v.2 : f64\n"
    "      yield %27\n"
    "    } {\n"
    "      yield %19\n"
    "    }\n"
    "    yield %26\n"
    "  }\n"
    "  return %7\n"
    "}\n"
)


def gathered(source: str) -> str:
    module = Gather().apply(ir.parse_module(source))
    ir.verify_module(module)
    return ir.print_module(module)


def test_before_and_after():
    # the adds of earlier iterations first (offset +1, 0, -1), each under an `if` on its
    # iteration being in the loop's range, its reads there (`guarded`)
    assert gathered(BEFORE) == AFTER
    assert ir.print_module(ir.parse_module(AFTER)) == AFTER


@pytest.mark.parametrize("change", [
    # one offset: no iteration reads what another wrote, and LLVM vectorizes the loop
    [("%km = sub %k, %1", "%km = add %k, %1"),
     ("%a2 = add_at %a1, %w, %k ", "%a2 = add_at %a1, %w, %km ")],
    # an index that may be negative stands for one from the end: at k = 1, k - 2 is n - 1
    ("%km = sub %k, %1 : i64\n    %a1 = add_at %acc, %v, %km {inbounds = true}",
     "%km = sub %k, %3.i : i64\n    %a1 = add_at %acc, %v, %km {inbounds = \"wraps\"}"),
    # an index not proved in range: its error must come at its iteration
    ("%a2 = add_at %a1, %w, %k {inbounds = true}", "%a2 = add_at %a1, %w, %k"),
    # the array read in the body, not only added into
    ("%w = mul %3, %v : f64", "%u = index %acc, %k {inbounds = true} : f64\n    "
                              "%w = mul %u, %v : f64"),
    # a step of 2
    ("%xb = for %1, %2, %1, %z", "%xb = for %1, %2, %2.s, %z"),
])
def test_loops_it_leaves(change):
    source = BEFORE
    for old, new in change if isinstance(change, list) else [change]:
        assert old in source
        source = source.replace(old, new)
    source = source.replace(
        "  %3 = const 2.0 : f64\n",
        "  %3 = const 2.0 : f64\n  %3.i = const 2 : i64\n  %2.s = const 2 : i64\n")
    assert gathered(source) == ir.print_module(ir.parse_module(source))


def test_a_wrapping_index_that_a_test_keeps_in_range_is_gathered():
    # k - 1 under `if k > 0` (as the bounds pass leaves a stencil's reverse sweep:
    # `wraps`, from a loop that starts at 0)
    source = BEFORE.replace("%xb = for %1, %2, %1, %z", "%c = const 0 : i64\n  "
                            "%xb = for %c, %2, %1, %z").replace(
        "    %km = sub %k, %1 : i64\n    %a1 = add_at %acc, %v, %km {inbounds = true} : f64[n]\n",
        "    %inside = gt %k, %c : bool\n    %km = sub %k, %1 : i64\n"
        "    %a1 = if %inside : f64[n] {\n"
        "      %a0 = add_at %acc, %v, %km {inbounds = \"wraps\"} : f64[n]\n"
        "      yield %a0\n    } {\n      yield %acc\n    }\n")
    out = gathered(source)
    assert " = for " not in out and out.count(" = build ") == 1
    # the add of iteration j + 1, under a test of its own: that iteration selected (%28:
    # j + 1, or the loop's start out of range), the test taken there, the sum selected
    assert ("      %28 = select %27, %24, %c : i64\n"
            "      %v.2 = index %g, %28 {inbounds = true} : f64\n"
            "      %inside = gt %28, %c : bool\n"
            "      %29 = if %inside : f64 {\n"
            "        %30 = add %21, %v.2 : f64\n"
            "        yield %30\n"
            "      } {\n"
            "        yield %21\n"
            "      }\n"
            "      %31 = select %27, %29, %21 : f64\n") in out
    # the other two under an `if` on their iteration's range, read there (`guarded`);
    # the build made only when the loop runs, as the selected add needs
    assert out.count(" {inbounds = \"guarded\"} : f64\n") == 2
    assert "  %4 = lt %c, %2 : bool\n  %5 = if %4 : f64[n] {\n" in out


SMOOTH = """
def smooth(x: f64[n]) -> f64:
    y = [0.25 * x[i - 1] + 0.5 * x[i] + 0.25 * x[i + 1] if i > 0 and i < n - 1 else x[i]
         for i in range(n)]
    return sum(y * y)

def plain(x: f64[n]) -> f64:
    y = [0.25 * x[i] + 0.5 * x[i + 1] + 0.25 * x[i + 2] for i in range(n - 2)]
    return sum(y * y)

def five(x: f64[n]) -> f64:
    y = [x[i - 2] - 8.0 * x[i - 1] + 8.0 * x[i + 1] - x[i + 2] if not (i < 2 or i >= n - 2)
         else 3.0 * x[i] for i in range(n)]
    return sum(sqrt(1.0 + y * y))

def wrapping(x: f64[n]) -> f64:
    return sum([x[i - 1] * x[i] for i in range(n)])

def smooth_grad(x: f64[n]) -> f64[n]:
    return grad(smooth)(x)

def plain_grad(x: f64[n]) -> f64[n]:
    return grad(plain)(x)

def five_grad(x: f64[n]) -> f64[n]:
    return grad(five)(x)

def wrapping_grad(x: f64[n]) -> f64[n]:
    return grad(wrapping)(x)
"""


@pytest.fixture(scope="module")
def stencils():
    return compile_source(SMOOTH)


@pytest.mark.parametrize("fn, gathered_loops", [("smooth_grad", 1), ("plain_grad", 1),
                                                ("five_grad", 1), ("wrapping_grad", 0)])
@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, 9, 100])
def test_stencil_gradients_equal_the_interpreters_bit_for_bit(stencils, fn, gathered_loops, n):
    # the reverse sweep of each stencil adds at k - 1, k and k + 1 (five: k +- 2 too); x[i
    # - 1] at i = 0 in `wrapping` is x[n - 1], so its loop stays a loop. Only correctly
    # rounded math (five's sqrt), so that native code and NumPy agree bit for bit.
    scalar = stencils.ir(fn, stage="scalar")
    assert scalar.count(" = for ") == 1 - gathered_loops
    x = np.random.default_rng(n).normal(size=n)
    x[::3] = 0.0  # zero cotangents through the zero guards
    got = getattr(stencils, fn)(x)
    want = stencils.interpreter.run(fn, [x])
    assert got.tobytes() == np.asarray(want, dtype=np.float64).tobytes()


def test_the_gradient_of_a_stencil_is_numpys():
    mod = compile_source(SMOOTH)
    x = np.random.default_rng(0).normal(size=50)
    y = x.copy()
    y[1:-1] = 0.25 * x[:-2] + 0.5 * x[1:-1] + 0.25 * x[2:]
    g = np.zeros(50)
    g[[0, -1]] = 2.0 * y[[0, -1]]
    for w, shift in ((0.25, 0), (0.5, 1), (0.25, 2)):
        g[shift:48 + shift] += w * 2.0 * y[1:-1]
    np.testing.assert_allclose(mod.smooth_grad(x), g, rtol=1e-14, atol=1e-15)


# A matrix's loop nest adding along its rows: each row's sweep adds at k1 - 1 and k1 + 1
NEST = (
    "func @f(%g: f64[n, m]) -> f64[n, m] {\n"
    "  %n = dim %g {axis = 0} : i64\n"
    "  %m = dim %g {axis = 1} : i64\n"
    "  %0 = const 0.0 : f64\n"
    "  %z = full %0, %n, %m : f64[n, m]\n"
    "  %c = const 0 : i64\n"
    "  %1 = const 1 : i64\n"
    "  %2 = sub %m, %1 : i64\n"
    "  %gb = for %c, %n, %1, %z : f64[n, m] {\n"
    "  ^(%k: i64, %acc: f64[n, m]):\n"
    "    %row = index %g, %k {inbounds = true} : f64[m]\n"
    "    %inner = for %1, %2, %1, %acc : f64[n, m] {\n"
    "    ^(%k1: i64, %acc1: f64[n, m]):\n"
    "      %v = index %row, %k1 {inbounds = true} : f64\n"
    "      %km = sub %k1, %1 : i64\n"
    "      %a1 = add_at %acc1, %v, %k, %km {inbounds = true} : f64[n, m]\n"
    "      %kp = add %k1, %1 : i64\n"
    "      %a2 = add_at %a1, %v, %k, %kp {inbounds = true} : f64[n, m]\n"
    "      yield %a2\n"
    "    }\n"
    "    yield %inner\n"
    "  }\n"
    "  return %gb\n"
    "}\n"
)


def test_a_matrix_loop_nest_becomes_a_build_of_rows():
    out = gathered(NEST)
    assert " = for " not in out and out.count(" = build ") == 2
    # the adds of iterations (j, j1 + 1) and (j, j1 - 1), each under an `if` on j1 +- 1
    # only (the outer loop covers every row): the row read at j as before, its element
    # under the test; no iteration is selected, so no test of the whole nest running
    assert out.count(" = index %g, %j {inbounds = true} : f64[m]\n") == 2
    assert out.count(" {inbounds = \"guarded\"} : f64\n") == 2
    assert out.count(" = if ") == 2 and " lt %c, %n " not in out


def test_a_nest_whose_inner_range_the_outer_loop_computes_stays():
    # the inner loop's range must be the same for every row: it is not taken when the
    # outer body computes it
    source = NEST.replace("  %2 = sub %m, %1 : i64\n", "").replace(
        "    %row = index", "    %2 = sub %m, %1 : i64\n    %row = index")
    assert gathered(source) == ir.print_module(ir.parse_module(source))


LAPLACIAN = """
def lap(u: f64[n, m]) -> f64:
    v = [[u[i - 1, j] + u[i + 1, j] + u[i, j - 1] + u[i, j + 1] - 4.0 * u[i, j]
          if i > 0 and i < n - 1 and j > 0 and j < m - 1 else 0.0
          for j in range(m)] for i in range(n)]
    return sum(v * v)

def lap_grad(u: f64[n, m]) -> f64[n, m]:
    return grad(lap)(u)
"""


@pytest.mark.parametrize("shape", [(0, 0), (1, 1), (2, 3), (3, 3), (4, 7), (20, 17)])
def test_a_laplacians_gradient_is_a_build_and_equals_the_interpreters(shape):
    # its reverse sweep adds at (k -+ 1, k1) and (k, k1 -+ 1): a nest of two loops
    mod = compile_source(LAPLACIAN)
    assert mod.ir("lap_grad", stage="scalar").count(" = for ") == 0
    u = np.random.default_rng(sum(shape)).normal(size=shape)
    u[::2, ::3] = 0.0
    got = mod.lap_grad(u)
    want = np.asarray(mod.interpreter.run("lap_grad", [u]), dtype=np.float64)
    assert got.shape == shape and got.tobytes() == want.tobytes()
