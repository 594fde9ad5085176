"""Gather (passes/gather.py): a loop that adds into one array at several offsets of its
variable, a stencil's reverse sweep, becomes a build that vectorizes."""

import numpy as np
import pytest

import ir
from compiler import compile_source
from passes.gather import Gather

# The reverse sweep of [g[i - 1] + 2.0 * g[i] + g[i + 1] ...] over range(1, n - 1): element
# j adds what iterations j + 1, j and j - 1 added to it, in that order. They are all in
# the loop's range for j from 2 to n - 2: a loop there with no tests, and loops like it
# with them for the elements before and after
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
    "  %5 = const 1 : i64\n"
    "  %6 = add %1, %5 : i64\n"
    "  %7 = const 0 : i64\n"
    "  %8 = maximum %6, %7 : i64\n"
    "  %9 = minimum %8, %4 : i64\n"
    "  %10 = const -1 : i64\n"
    "  %11 = add %2, %10 : i64\n"
    "  %12 = maximum %11, %9 : i64\n"
    "  %13 = minimum %12, %4 : i64\n"
    "  %14 = const 0.0 : f64\n"
    "  %15 = full %14, %4 {overwritten = true} : f64[n]\n"
    "  %16 = const 0 : i64\n"
    "  %17 = const 1 : i64\n"
    "  %18 = for %16, %9, %17, %15 : f64[n] {\n"
    "  ^(%j: i64, %19: f64[n]):\n"
    "    %20 = index %z, %j {inbounds = true} : f64\n"
    "    %21 = const 1 : i64\n"
    "    %22 = sub %j, %21 : i64\n"
    "    %23 = ge %22, %1 : bool\n"
    "    %24 = lt %22, %2 : bool\n"
    "    %25 = and %23, %24 : bool\n"
    "    %26 = if %25 : f64 {\n"
    "      %v = index %g, %22 {inbounds = \"guarded\"} : f64\n"
    "      %27 = add %20, %v : f64\n"
    "      yield %27\n"
    "    } {\n"
    "      yield %20\n"
    "    }\n"
    "    %28 = ge %j, %1 : bool\n"
    "    %29 = lt %j, %2 : bool\n"
    "    %30 = and %28, %29 : bool\n"
    "    %31 = if %30 : f64 {\n"
    "      %v.1 = index %g, %j {inbounds = \"guarded\"} : f64\n"
    "      %w = mul %3, %v.1 : f64\n"
    "      %32 = add %26, %w : f64\n"
    "      yield %32\n"
    "    } {\n"
    "      yield %26\n"
    "    }\n"
    "    %33 = const 1 : i64\n"
    "    %34 = add %j, %33 : i64\n"
    "    %35 = ge %34, %1 : bool\n"
    "    %36 = lt %34, %2 : bool\n"
    "    %37 = and %35, %36 : bool\n"
    "    %38 = if %37 : f64 {\n"
    "      %v.2 = index %g, %34 {inbounds = \"guarded\"} : f64\n"
    "      %39 = add %31, %v.2 : f64\n"
    "      yield %39\n"
    "    } {\n"
    "      yield %31\n"
    "    }\n"
    "    %40 = update %19, %38, %j {inbounds = true} : f64[n]\n"
    "    yield %40\n"
    "  }\n"
    "  %41 = const 1 : i64\n"
    "  %42 = for %9, %13, %41, %18 : f64[n] {\n"
    "  ^(%j.1: i64, %43: f64[n]):\n"
    "    %44 = index %z, %j.1 {inbounds = true} : f64\n"
    "    %45 = const 1 : i64\n"
    "    %46 = sub %j.1, %45 : i64\n"
    "    %v.3 = index %g, %46 {inbounds = true} : f64\n"
    "    %47 = add %44, %v.3 : f64\n"
    "    %v.4 = index %g, %j.1 {inbounds = true} : f64\n"
    "    %w.1 = mul %3, %v.4 : f64\n"
    "    %48 = add %47, %w.1 : f64\n"
    "    %49 = const 1 : i64\n"
    "    %50 = add %j.1, %49 : i64\n"
    "    %v.5 = index %g, %50 {inbounds = true} : f64\n"
    "    %51 = add %48, %v.5 : f64\n"
    "    %52 = update %43, %51, %j.1 {inbounds = true} : f64[n]\n"
    "    yield %52\n"
    "  }\n"
    "  %53 = const 1 : i64\n"
    "  %54 = for %13, %4, %53, %42 : f64[n] {\n"
    "  ^(%j.2: i64, %55: f64[n]):\n"
    "    %56 = index %z, %j.2 {inbounds = true} : f64\n"
    "    %57 = const 1 : i64\n"
    "    %58 = sub %j.2, %57 : i64\n"
    "    %59 = ge %58, %1 : bool\n"
    "    %60 = lt %58, %2 : bool\n"
    "    %61 = and %59, %60 : bool\n"
    "    %62 = if %61 : f64 {\n"
    "      %v.6 = index %g, %58 {inbounds = \"guarded\"} : f64\n"
    "      %63 = add %56, %v.6 : f64\n"
    "      yield %63\n"
    "    } {\n"
    "      yield %56\n"
    "    }\n"
    "    %64 = ge %j.2, %1 : bool\n"
    "    %65 = lt %j.2, %2 : bool\n"
    "    %66 = and %64, %65 : bool\n"
    "    %67 = if %66 : f64 {\n"
    "      %v.7 = index %g, %j.2 {inbounds = \"guarded\"} : f64\n"
    "      %w.2 = mul %3, %v.7 : f64\n"
    "      %68 = add %62, %w.2 : f64\n"
    "      yield %68\n"
    "    } {\n"
    "      yield %62\n"
    "    }\n"
    "    %69 = const 1 : i64\n"
    "    %70 = add %j.2, %69 : i64\n"
    "    %71 = ge %70, %1 : bool\n"
    "    %72 = lt %70, %2 : bool\n"
    "    %73 = and %71, %72 : bool\n"
    "    %74 = if %73 : f64 {\n"
    "      %v.8 = index %g, %70 {inbounds = \"guarded\"} : f64\n"
    "      %75 = add %67, %v.8 : f64\n"
    "      yield %75\n"
    "    } {\n"
    "      yield %67\n"
    "    }\n"
    "    %76 = update %55, %74, %j.2 {inbounds = true} : f64[n]\n"
    "    yield %76\n"
    "  }\n"
    "  return %54\n"
    "}\n"
)


def gathered(source: str) -> str:
    module = Gather().apply(ir.parse_module(source))
    ir.verify_module(module)
    return ir.print_module(module)


def test_before_and_after():
    # the adds of earlier iterations first (offset +1, 0, -1); at the ends, each under an
    # `if` on its iteration being in the loop's range, its reads there (`guarded`); from
    # %9 = min(max(1 + 1, 0), n) to %13 = min(max(n - 1 - 1, %9), n), with no test
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
    assert out.count(" = for ") == 3 and " add_at " not in out
    # at the ends, the add of iteration j + 1, under a test of its own: that iteration
    # selected (%40: j + 1, or the loop's start out of range), the test taken there, the
    # sum selected; the other two under an `if` on their iteration's range, read there
    # (`guarded`)
    edge = ("      %40 = select %39, %36, %c : i64\n"
            "      %v.2 = index %g, %40 {inbounds = true} : f64\n"
            "      %inside = gt %40, %c : bool\n"
            "      %41 = if %inside : f64 {\n"
            "        %42 = add %33, %v.2 : f64\n"
            "        yield %42\n"
            "      } {\n"
            "        yield %33\n"
            "      }\n"
            "      %43 = select %39, %41, %33 : f64\n")
    assert edge in out and out.count(" = select ") == 4  # two in each end's loop
    assert out.count(" {inbounds = \"guarded\"} : f64\n") == 4
    # between them, every iteration in range: the test of its own stays
    middle = ("    %46 = for %11, %15, %45, %20 : f64[n] {\n"
              "    ^(%j.1: i64, %47: f64[n]):\n"
              "      %48 = index %z, %j.1 {inbounds = true} : f64\n"
              "      %49 = const 1 : i64\n"
              "      %50 = sub %j.1, %49 : i64\n"
              "      %v.3 = index %g, %50 {inbounds = true} : f64\n"
              "      %51 = add %48, %v.3 : f64\n"
              "      %v.4 = index %g, %j.1 {inbounds = true} : f64\n"
              "      %w.1 = mul %3, %v.4 : f64\n"
              "      %52 = add %51, %w.1 : f64\n"
              "      %53 = const 1 : i64\n"
              "      %54 = add %j.1, %53 : i64\n"
              "      %v.5 = index %g, %54 {inbounds = true} : f64\n"
              "      %inside.1 = gt %54, %c : bool\n"
              "      %55 = if %inside.1 : f64 {\n"
              "        %56 = add %52, %v.5 : f64\n"
              "        yield %56\n"
              "      } {\n"
              "        yield %52\n"
              "      }\n"
              "      %57 = update %47, %55, %j.1 {inbounds = true} : f64[n]\n")
    assert middle in out
    # the loops run only when the loop runs, as the selected add needs
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


@pytest.mark.parametrize("fn, gathered", [("smooth_grad", True), ("plain_grad", True),
                                           ("five_grad", True), ("wrapping_grad", False)])
@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, 9, 100])
def test_stencil_gradients_equal_the_interpreters_bit_for_bit(stencils, fn, gathered, n):
    # the reverse sweep of each stencil adds at k - 1, k and k + 1 (five: k +- 2 too); x[i
    # - 1] at i = 0 in `wrapping` is x[n - 1], so its loop stays a loop. Only correctly
    # rounded math (five's sqrt), so that native code and NumPy agree bit for bit.
    scalar = stencils.ir(fn, stage="scalar")
    # gathered: the ends' loops and the middle's, storing; else the loop adding
    assert (scalar.count(" = for "), " add_at " in scalar) == ((3, False) if gathered else
                                                              (1, True))
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
