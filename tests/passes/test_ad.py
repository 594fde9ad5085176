"""The reverse-mode pass (passes/ad.py), IR before and after. Gradients themselves are
checked against finite differences in tests/test_gradients.py, per primitive in
test_ad_primitives.py and on random programs in tests/test_random_gradients.py."""

import math

import numpy as np
import pytest

import ir
from ir import IndexErrorDP
from compiler import compile_source
from passes.ad import AutoDiff, Differentiator

from native_math import native
from programs import NEWTON

LOOP = """\
func @f(%x: f64[n], %w: f64) -> f64 {
  %n = dim %x {axis = 0} : i64
  %0 = const 0 : i64
  %1 = const 1 : i64
  %2 = const 0.0 : f64
  %3 = for %0, %n, %1, %2 : f64 {
  ^(%i: i64, %acc: f64):
    %4 = index %x, %i : f64
    %5 = mul %acc, %w : f64
    %6 = add %5, %4 : f64
    yield %6
  }
  return %3
}

func @g(%x: f64[n], %w: f64) -> (f64[n], f64) {
  %0, %1 = grad %x, %w {callee = @f, wrt = [0, 1]} : f64[n], f64
  return %0, %1
}
"""

# A loop is reversed from a tape of its carried value, written from the last row to the
# first so that the reverse loop reads it in order; the index read x[i] becomes an
# add_at into x's cotangent; the mul's cotangents are guarded so that a zero cotangent
# stays zero whatever the other factor is. The scalar w's cotangent is not carried: each
# step stores its part, and reduce_sum adds the parts (in lanes) after the loop.
LOOP_REVERSED = """\
func @f.rev(%x: f64[n], %w: f64, %ct: f64) -> (f64, f64[n], f64) {
  %n = dim %x {axis = 0} : i64
  %0 = const 0 : i64
  %1 = const 1 : i64
  %2 = const 0.0 : f64
  %3 = const 0.0 : f64
  %tape = full %3, %n {overwritten = true} : f64[n]
  %4 = shape_cast %tape {type = f64[?]} : f64[?]
  %5, %6 = for %0, %n, %1, %2, %4 : f64, f64[?] {
  ^(%i: i64, %acc: f64, %7: f64[?]):
    %8 = const 1 : i64
    %9 = sub %n, %8 : i64
    %10 = sub %9, %i : i64
    %11 = update %7, %acc, %10 {inbounds = true} : f64[?]
    %12 = index %x, %i : f64
    %13 = mul %acc, %w : f64
    %14 = add %13, %12 : f64
    yield %14, %11
  }
  %15 = const 0.0 : f64
  %16 = const 0.0 : f64
  %17 = dim %x {axis = 0} : i64
  %18 = full %16, %17 : f64[n]
  %19 = full %15, %n : f64[n]
  %20 = const 0 : i64
  %21 = const 1 : i64
  %22, %x_bar, %23 = for %20, %n, %21, %ct, %18, %19 : f64, f64[n], f64[n] {
  ^(%k: i64, %ct.1: f64, %24: f64[n], %25: f64[n]):
    %26 = const 1 : i64
    %27 = sub %n, %26 : i64
    %28 = sub %27, %k : i64
    %29 = index %6, %k {inbounds = true} : f64
    %30 = mul %ct.1, %w : f64
    %31 = const 0.0 : f64
    %32 = eq %ct.1, %31 : bool
    %33 = select %32, %31, %30 {zero_guard = true} : f64
    %34 = mul %ct.1, %29 : f64
    %35 = const 0.0 : f64
    %36 = eq %ct.1, %35 : bool
    %37 = select %36, %35, %34 {zero_guard = true} : f64
    %38 = add_at %24, %ct.1, %28 {inbounds = true} : f64[n]
    %39 = update %25, %37, %k {inbounds = true} : f64[n]
    yield %33, %38, %39
  }
  %w_bar = reduce_sum %23 : f64
  return %5, %x_bar, %w_bar
}
"""

SUM = """\
func @total(%x: f64[n]) -> f64 {
  %n = dim %x {axis = 0} : i64
  %0 = const 0 : i64
  %1 = const 1 : i64
  %2 = const 0.0 : f64
  %3 = for %0, %n, %1, %2 : f64 {
  ^(%i: i64, %acc: f64):
    %4 = index %x, %i : f64
    %5 = add %acc, %4 : f64
    yield %5
  }
  return %3
}

func @g(%x: f64[n]) -> f64[n] {
  %0 = grad %x {callee = @total, wrt = [0]} : f64[n]
  return %0
}
"""

# Adding does not need the values it adds: the tape is never read, so it is not kept,
# and the cotangent passed on unchanged is no longer carried.
SUM_REVERSED = """\
func @total.rev(%x: f64[n], %ct: f64) -> (f64, f64[n]) {
  %n = dim %x {axis = 0} : i64
  %0 = const 0 : i64
  %1 = const 1 : i64
  %2 = const 0.0 : f64
  %3 = for %0, %n, %1, %2 : f64 {
  ^(%i: i64, %acc: f64):
    %4 = index %x, %i : f64
    %5 = add %acc, %4 : f64
    yield %5
  }
  %6 = const 0.0 : f64
  %7 = dim %x {axis = 0} : i64
  %8 = full %6, %7 : f64[n]
  %9 = const 0 : i64
  %10 = const 1 : i64
  %x_bar = for %9, %n, %10, %8 : f64[n] {
  ^(%k: i64, %11: f64[n]):
    %12 = const 1 : i64
    %13 = sub %n, %12 : i64
    %14 = sub %13, %k : i64
    %15 = add_at %11, %ct, %14 {inbounds = true} : f64[n]
    yield %15
  }
  return %3, %x_bar
}
"""


def differentiate(text: str) -> ir.Module:
    module = AutoDiff().apply(ir.parse_module(text))
    ir.verify_module(module)
    return module


# Each branch of the reverse `if` yields the cotangents it makes of x and y, which no
# other op has reached yet: as they are, not added to a zero made before the `if` (0.0 +
# ct is not ct for ct = -0.0, so nothing removed that add; in a loop it chained each
# step's cotangent to the one before, which kept the loop from vectorizing).
BRANCHES = """\
func @f(%x: f64, %y: f64, %c: bool) -> f64 {
  %z = if %c : f64 {
    %z.1 = mul %x, %y : f64
    yield %z.1
  } {
    %0 = const 3.0 : f64
    %z.2 = mul %0, %y : f64
    yield %z.2
  }
  return %z
}

func @g(%x: f64, %y: f64, %c: bool) -> (f64, f64) {
  %0, %1 = grad %x, %y, %c {callee = @f, wrt = [0, 1]} : f64, f64
  return %0, %1
}
"""

BRANCHES_REVERSED = """\
func @f.rev(%x: f64, %y: f64, %c: bool, %ct: f64) -> (f64, f64, f64) {
  %z = if %c : f64 {
    %z.1 = mul %x, %y : f64
    yield %z.1
  } {
    %0 = const 3.0 : f64
    %z.2 = mul %0, %y : f64
    yield %z.2
  }
  %x_bar, %y_bar = if %c : f64, f64 {
    %1 = mul %ct, %y : f64
    %2 = const 0.0 : f64
    %3 = eq %ct, %2 : bool
    %4 = select %3, %2, %1 {zero_guard = true} : f64
    %5 = mul %ct, %x : f64
    %6 = const 0.0 : f64
    %7 = eq %ct, %6 : bool
    %8 = select %7, %6, %5 {zero_guard = true} : f64
    yield %4, %8
  } {
    %9 = const 3.0 : f64
    %10 = mul %ct, %9 : f64
    %11 = const 0.0 : f64
    yield %11, %10
  }
  return %z, %x_bar, %y_bar
}
"""


def test_an_if_gives_first_cotangents_as_they_are():
    module = differentiate(BRANCHES)
    assert ir.print_function(module.functions["f.rev"]) == BRANCHES_REVERSED


def test_loop_before_and_after():
    module = differentiate(LOOP)
    assert ir.print_function(module.functions["f.rev"]) == LOOP_REVERSED
    assert ir.print_function(module.functions["g"]) == (
        "func @g(%x: f64[n], %w: f64) -> (f64[n], f64) {\n"
        "  %0 = const 1.0 : f64\n"
        "  %1, %2, %3 = call %x, %w, %0 {callee = @f.rev} : f64, f64[n], f64\n"
        "  return %2, %3\n"
        "}\n")
    x = np.array([1.0, 2.0, 3.0])
    gx, gw = ir.Interpreter(module).run("g", [x, 0.5])
    np.testing.assert_allclose(gx, [0.25, 0.5, 1.0], rtol=1e-15)  # w^(n-1-i)
    assert gw == pytest.approx(2 * 0.5 * 1.0 + 1.0 * 2.0, rel=1e-15)  # d/dw (w^2 + 2w + 3)



@pytest.mark.parametrize("backend", ["interp", "native"])
def test_a_read_at_the_same_place_in_a_loop_of_no_steps_adds_nothing(backend):
    # x[k] with k = n + 2 is never read when m is 0, so its index was never checked: its
    # add into x's cotangent after the loop runs only where the loop ran
    grad = compile_source("def f(x: f64[n], m: i64) -> f64:\n    k = n + 2\n"
                          "    return sum([x[k] * x[j] for j in range(m)])\n",
                          backend=backend).grad("f", wrt="x")
    x = np.array([1.0, -0.0, 2.0])
    assert grad(x, 0).tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(IndexErrorDP, match="^index 5 is out of bounds for axis 0 of x with "
                                           "size 3 "):
        grad(x, 2)

SCALED = "def f(x: f64[n], a: f64) -> f64:\n    return sum([a * x[j] for j in range({})])\n"


@pytest.mark.parametrize("trips, carried, summed", [
    ("n", "    %21 = update %12, %17, %k {inbounds = true} : f64[n]\n",
     "  %a_bar = reduce_sum %10 : f64\n"),
    ("3", "    %20 = add %12, %17 : f64\n", "  return %x_bar, %a_bar\n")])
def test_a_scalars_cotangent_is_summed_in_parts_unless_the_loop_is_known_short(
        trips, carried, summed):
    # over range(n) each step stores its part of a's cotangent and reduce_sum adds them
    # after the loop (in lanes); over range(3), too short for lanes, the sum is carried
    module = compile_source(SCALED.format(trips))
    text = module.ir(module.grad("f", wrt=("x", "a")), stage="opt")
    assert carried in text and summed in text
    x = np.linspace(-1.0, 2.0, 40)
    assert module.grad("f", wrt="a")(x, 0.5) == pytest.approx(
        math.fsum(x[:40 if trips == "n" else 3]), rel=1e-15, abs=1e-15)


# x[i] is read at the same place by every step of the inner sum (twice): its cotangent
# is summed in parts like a scalar's, and added into x's once after the loop, where the
# loop ran (with no step the index was never checked). In the loop, the add into x_bar[i]
# was a chain through memory at every step that kept it from vectorizing.
SAME_PLACE = """\
func @f(%x: f64[n]) -> f64 {
  %n = dim %x {axis = 0} : i64
  %0 = const 0 : i64
  %1 = const 1 : i64
  %2 = reduce %0, %n, %1 {kind = "sum"} : f64 {
  ^(%i: i64):
    %3 = reduce %0, %n, %1 {kind = "sum"} : f64 {
    ^(%j: i64):
      %4 = index %x, %i : f64
      %5 = index %x, %j : f64
      %6 = mul %4, %5 : f64
      %7 = index %x, %i : f64
      %8 = mul %6, %7 : f64
      yield %8
    }
    yield %3
  }
  return %2
}

func @g(%x: f64[n]) -> f64[n] {
  %0 = grad %x {callee = @f, wrt = [0]} : f64[n]
  return %0
}
"""

SAME_PLACE_REVERSED = """\
func @f.rev(%x: f64[n], %ct: f64) -> (f64, f64[n]) {
  %n = dim %x {axis = 0} : i64
  %0 = const 0 : i64
  %1 = const 1 : i64
  %2 = reduce %0, %n, %1 {kind = "sum"} : f64 {
  ^(%i: i64):
    %3 = reduce %0, %n, %1 {kind = "sum"} : f64 {
    ^(%j: i64):
      %4 = index %x, %i : f64
      %5 = index %x, %j : f64
      %6 = mul %4, %5 : f64
      %7 = index %x, %i : f64
      %8 = mul %6, %7 : f64
      yield %8
    }
    yield %3
  }
  %9 = const 0.0 : f64
  %10 = dim %x {axis = 0} : i64
  %11 = full %9, %10 : f64[n]
  %12 = const 0 : i64
  %13 = const 1 : i64
  %x_bar = for %12, %n, %13, %11 : f64[n] {
  ^(%k: i64, %14: f64[n]):
    %15 = const 0.0 : f64
    %16 = full %15, %n : f64[n]
    %17 = const 0 : i64
    %18 = const 1 : i64
    %19, %20 = for %17, %n, %18, %14, %16 : f64[n], f64[n] {
    ^(%k.1: i64, %21: f64[n], %22: f64[n]):
      %23 = index %x, %k {inbounds = true} : f64
      %24 = index %x, %k.1 {inbounds = true} : f64
      %25 = mul %23, %24 : f64
      %26 = index %x, %k {inbounds = true} : f64
      %27 = mul %ct, %26 : f64
      %28 = const 0.0 : f64
      %29 = eq %ct, %28 : bool
      %30 = select %29, %28, %27 {zero_guard = true} : f64
      %31 = mul %ct, %25 : f64
      %32 = const 0.0 : f64
      %33 = eq %ct, %32 : bool
      %34 = select %33, %32, %31 {zero_guard = true} : f64
      %35 = mul %30, %24 : f64
      %36 = const 0.0 : f64
      %37 = eq %30, %36 : bool
      %38 = select %37, %36, %35 {zero_guard = true} : f64
      %39 = mul %30, %23 : f64
      %40 = const 0.0 : f64
      %41 = eq %30, %40 : bool
      %42 = select %41, %40, %39 {zero_guard = true} : f64
      %43 = add %34, %38 : f64
      %44 = add_at %21, %42, %k.1 {inbounds = true} : f64[n]
      %45 = update %22, %43, %k.1 {inbounds = true} : f64[n]
      yield %44, %45
    }
    %46 = reduce_sum %20 : f64
    %47 = const 0 : i64
    %48 = gt %n, %47 : bool
    %49 = if %48 : f64[n] {
      %50 = add_at %19, %46, %k {inbounds = true} : f64[n]
      yield %50
    } {
      yield %19
    }
    yield %49
  }
  return %2, %x_bar
}
"""


def test_a_read_at_the_same_place_in_every_step_is_added_once_after_the_loop():
    module = differentiate(SAME_PLACE)
    assert ir.print_function(module.functions["f.rev"]) == SAME_PLACE_REVERSED
    x = np.array([0.5, -1.0, 2.0, -0.0, 3.0])
    expected = 2.0 * x * np.sum(x) + np.sum(x * x)  # of sum over i, j of x_i^2 x_j
    for backend in ("interp", "native"):
        grad = compile_source(
            "def f(x: f64[n]) -> f64:\n"
            "    return sum(sum(x[i] * x[j] * x[i] for j in range(n)) for i in range(n))\n",
            backend=backend).grad("f")
        assert grad(x).tolist() == expected.tolist()
        assert grad(np.zeros(0)).tolist() == []


# A loop of a few known trips is unrolled in the copy of f that reverse mode reads: each
# iteration's value is an SSA value of the forward sweep, not a row of a tape.
SQUARED_TWICE = """\
func @f(%x: f64) -> f64 {
  %0 = const 0 : i64
  %1 = const 2 : i64
  %2 = const 1 : i64
  %y = for %0, %1, %2, %x : f64 {
  ^(%k: i64, %y.1: f64):
    %y.2 = mul %y.1, %y.1 : f64
    yield %y.2
  }
  return %y
}

func @g(%x: f64) -> f64 {
  %0 = grad %x {callee = @f, wrt = [0]} : f64
  return %0
}
"""

SQUARED_TWICE_REVERSED = """\
func @f.rev(%x: f64, %ct: f64) -> (f64, f64) {
  %y = mul %x, %x : f64
  %y.1 = mul %y, %y : f64
  %0 = mul %ct, %y : f64
  %1 = const 0.0 : f64
  %2 = eq %ct, %1 : bool
  %3 = select %2, %1, %0 {zero_guard = true} : f64
  %4 = mul %ct, %y : f64
  %5 = const 0.0 : f64
  %6 = eq %ct, %5 : bool
  %7 = select %6, %5, %4 {zero_guard = true} : f64
  %8 = add %3, %7 : f64
  %9 = mul %8, %x : f64
  %10 = const 0.0 : f64
  %11 = eq %8, %10 : bool
  %12 = select %11, %10, %9 {zero_guard = true} : f64
  %13 = mul %8, %x : f64
  %14 = const 0.0 : f64
  %15 = eq %8, %14 : bool
  %16 = select %15, %14, %13 {zero_guard = true} : f64
  %x_bar = add %12, %16 : f64
  return %y.1, %x_bar
}
"""


def test_a_loop_of_few_known_trips_is_unrolled_and_needs_no_tape():
    module = differentiate(SQUARED_TWICE)
    assert ir.print_function(module.functions["f.rev"]) == SQUARED_TWICE_REVERSED
    assert ir.print_function(module.functions["f"]) == SQUARED_TWICE.split("\n\n")[0] + "\n"
    assert ir.Interpreter(module).run("g", [0.5]) == 4 * 0.5 ** 3  # d/dx x^4


@pytest.mark.parametrize("backend", ["interp", "native"])
@pytest.mark.parametrize("trips, taped", [(8, False), (32, False), (33, True)])
def test_a_newton_iteration_mapped_over_an_array_keeps_no_tape_up_to_32_steps(backend, trips,
                                                                              taped):
    # Its tape was one buffer that every element wrote and read again, so the loop over
    # the elements ran one at a time; unrolled, it vectorizes. From 33 steps, the tape.
    mod = compile_source(NEWTON.replace("TRIPS", str(trips)), name="newton.dp",
                         backend=backend)
    rev = mod.grad("roots").owner.ir("roots.rev", stage="ad")
    assert ("overwritten" in rev, rev.count(" = for ")) == (taped, 4 if taped else 1)
    x = np.array([0.5, 2.0, 3.0])
    # converged: y = sqrt(a), whose derivative is 1 / (2 sqrt(a))
    np.testing.assert_allclose(mod.grad("roots")(x), 0.5 / np.sqrt(x), rtol=1e-15)
    assert_matches_forward_mode(mod, "roots", [x])


SHRINKING = """\
def f(x: f64[n]) -> f64:
    y = x
    for k in range(3):
        y = [y[j] * y[j + 1] for j in range(len(y) - 1)]
    return sum(y)
"""


@pytest.mark.parametrize("backend", ["interp", "native"])
def test_a_loop_of_few_known_trips_may_change_its_carried_array_s_size(backend):
    # unrolled, each iteration's y is a value of its own size: no tape needs rows of one
    # size (with range(s), reverse mode raises; see tests/runtime/test_errors.py)
    mod = compile_source(SHRINKING, name="shrinking.dp", backend=backend)
    x = np.array([0.5, 2.0, 3.0, -1.5, 0.7])
    # y after 3 steps: y_j = x_j x_(j+1)^3 x_(j+2)^3 x_(j+3), j = 0, 1
    expected = [x[1] ** 3 * x[2] ** 3 * x[3],
                3 * x[0] * x[1] ** 2 * x[2] ** 3 * x[3] + x[2] ** 3 * x[3] ** 3 * x[4],
                3 * x[0] * x[1] ** 3 * x[2] ** 2 * x[3] + 3 * x[1] * x[2] ** 2 * x[3] ** 3 * x[4],
                x[0] * x[1] ** 3 * x[2] ** 3 + 3 * x[1] * x[2] ** 3 * x[3] ** 2 * x[4],
                x[1] * x[2] ** 3 * x[3] ** 3]
    np.testing.assert_allclose(mod.grad("f")(x), expected, rtol=1e-15)


# A tape is left unfilled ({overwritten}: every row is stored before it is read). The
# interpreter fills an f64 one with NaN, so a row read before it was stored would show;
# native code leaves the buffer as allocated. Here the loop stores rows 1 and 2 only.
PARTLY_STORED = """\
func @f(%x: f64) -> (f64, f64) {
  %0 = const 0.0 : f64
  %1 = const 3 : i64
  %tape = full %0, %1 {overwritten = true} : f64[3]
  %2 = const 1 : i64
  %3 = update %tape, %x, %2 {inbounds = true} : f64[3]
  %4 = const 2 : i64
  %5 = update %3, %x, %4 {inbounds = true} : f64[3]
  %6 = index %5, %2 {inbounds = true} : f64
  %7 = const 0 : i64
  %8 = index %5, %7 {inbounds = true} : f64
  return %6, %8
}
"""


def test_a_tape_is_unfilled_and_the_interpreter_shows_a_row_read_before_it_is_stored():
    module = ir.parse_module(PARTLY_STORED)
    ir.verify_module(module)
    stored, never_stored = ir.Interpreter(module).run("f", [2.5])
    assert stored == 2.5 and np.isnan(never_stored)
    assert native(module).functions["f"](2.5)[0] == 2.5


def test_unneeded_tape_and_invariant_cotangent_are_dropped():
    module = differentiate(SUM)
    assert ir.print_function(module.functions["total.rev"]) == SUM_REVERSED


def test_printed_reverse_function_parses_back_and_means_the_same():
    module = differentiate(LOOP)
    text = ir.print_module(module)
    again = ir.parse_module(text)
    assert ir.print_module(again) == text
    x = np.array([0.5, -1.0, 2.0, 4.0])
    np.testing.assert_array_equal(ir.Interpreter(again).run("f.rev", [x, 0.7, 1.0])[1],
                                  ir.Interpreter(module).run("f.rev", [x, 0.7, 1.0])[1])


QUOTIENTS = """\
func @f(%x: f64, %y: f64) -> f64 {
  %0 = const 6.0 : f64
  %1 = div %x, %0 : f64
  %2 = div %1, %y : f64
  return %2
}

func @g(%x: f64, %y: f64) -> (f64, f64) {
  %0, %1 = grad %x, %y {callee = @f, wrt = [0, 1]} : f64, f64
  return %0, %1
}
"""

# The cotangent of a quotient by a constant is a product with its reciprocal (computed
# here, once): a division costs about eight products in vector code. By a value, it
# stays a division, guarded (the value may be 0); by a finite constant the product needs
# no guard.
QUOTIENTS_REVERSED = """\
func @f.rev(%x: f64, %y: f64, %ct: f64) -> (f64, f64, f64) {
  %0 = const 6.0 : f64
  %1 = div %x, %0 : f64
  %2 = div %1, %y : f64
  %3 = div %ct, %y : f64
  %4 = const 0.0 : f64
  %5 = eq %ct, %4 : bool
  %6 = select %5, %4, %3 {zero_guard = true} : f64
  %7 = mul %6, %2 : f64
  %8 = const 0.0 : f64
  %9 = eq %6, %8 : bool
  %10 = select %9, %8, %7 {zero_guard = true} : f64
  %y_bar = neg %10 : f64
  %11 = const 0.16666666666666666 : f64
  %x_bar = mul %6, %11 : f64
  return %2, %x_bar, %y_bar
}
"""


def test_a_quotient_by_a_constant_passes_its_cotangent_times_the_reciprocal():
    module = differentiate(QUOTIENTS)
    assert ir.print_function(module.functions["f.rev"]) == QUOTIENTS_REVERSED
    gx, gy = ir.Interpreter(module).run("g", [3.0, 0.5])
    assert (gx, gy) == (1.0 / 0.5 * (1.0 / 6.0), -(1.0 / 0.5) * (3.0 / 6.0 / 0.5))


CONSTANT_FACTORS = """\
def scaled(x: f64) -> f64:
    return where(x > 0.0, -2.0 * x, 0.0)

def overflowing(x: f64) -> f64:
    return where(x > 0.0, 1e400 * x, 0.0)
"""


@pytest.mark.parametrize("backend", ["interp", "native"])
def test_a_cotangent_times_a_finite_constant_is_not_guarded(backend):
    # ct * c is already 0 where ct is: no compare and select (a third of ode's guards).
    # Where x <= 0 the cotangent reaching -2.0 * x is 0 and the gradient is 0 * -2.0,
    # -0.0 as JAX gives it. Times an infinite constant the guard stays: 0, not 0 * inf.
    mod = compile_source(CONSTANT_FACTORS, name="factors.dp", backend=backend)
    assert "zero_guard" not in mod.ir(mod.grad("scaled"), stage="ad")
    assert "zero_guard" in mod.ir(mod.grad("overflowing"), stage="ad")
    assert [mod.grad("scaled")(x) for x in (3.0, -1.0)] == [-2.0, 0.0]
    assert math.copysign(1.0, mod.grad("scaled")(-1.0)) == -1.0
    assert [mod.grad("overflowing")(x) for x in (3.0, -1.0)] == [math.inf, 0.0]
    assert math.copysign(1.0, mod.grad("overflowing")(-1.0)) == 1.0


STEP_FACTORS = """\
def euler(x: f64, s: i64) -> f64:
    h = 1.0 / s
    y = x
    for k in range(s):
        y = y - h * y * y
    return y

def once(x: f64, s: i64) -> f64:
    h = 1.0 / s
    return h * x

def slope(x: f64, s: i64) -> f64:
    value, tangent = jvp(euler)(x, s, 1.0)
    return tangent
"""


@pytest.mark.parametrize("backend", ["interp", "native"])
def test_a_cotangent_times_a_step_bounded_in_its_loop_is_not_guarded(backend):
    # Inside the loop over range(s), s >= 1 and h = 1.0 / s is finite (ir/ranges.py): the
    # products by h need no guard, in reverse and in forward mode; those by y do (y may be
    # inf), and so does h * x outside any loop, where s = 0 makes h inf.
    mod = compile_source(STEP_FACTORS, name="steps.dp", backend=backend)
    reverse = mod.ir(mod.grad("euler"), stage="ad")
    assert reverse.count("zero_guard") == 2  # the cotangent times y, twice
    assert "zero_guard" in mod.ir(mod.grad("once"), stage="ad")
    assert mod.ir("slope", stage="ad").count("zero_guard") == 2
    y, slope = 0.5, 1.0
    for _ in range(4):
        slope *= 1.0 - 2.0 * 0.25 * y
        y = y - 0.25 * y * y
    assert mod.grad("euler", wrt=["x"])(0.5, 4) == pytest.approx(slope, rel=1e-15)
    assert mod.slope(0.5, 4) == pytest.approx(slope, rel=1e-15)
    assert (mod.grad("euler", wrt=["x"])(0.5, 0), mod.slope(0.5, 0)) == (1.0, 1.0)
    assert mod.grad("once", wrt=["x"])(0.5, 0) == math.inf


TINY_DIVISOR = """\
def f(x: f64) -> f64:
    return (1e-20 * x) / 1e-310

def slope(x: f64) -> f64:
    value, tangent = jvp(f)(x, 1.0)
    return tangent
"""


@pytest.mark.parametrize("backend", ["interp", "native"])
def test_a_divisor_without_a_normal_reciprocal_is_still_divided_by(backend):
    # 1 / 1e-310 overflows to inf: times the tangent 1e-20 it would be inf, where the
    # quotient 1e-20 / 1e-310 is finite.
    mod = compile_source(TINY_DIVISOR, name="tiny.dp", backend=backend)
    assert mod.slope(1.0) == 1e-20 / 1e-310


WHILE = """\
def f(x: f64) -> f64:
    y = x
    k = 0
    while k < 20:
        y = sin(y) + 0.5 * y
        k += 1
    return y
"""


@pytest.mark.parametrize("backend", ["interp", "native"])
def test_while_loop_counts_then_refills_a_tape_of_that_length(backend):
    grad = compile_source(WHILE, name="w.dp", backend=backend).grad("f")
    text = grad.owner.ir("f.rev", stage="ad")
    counting, refill, reverse = text.index("while"), text.index("full"), text.rindex("for")
    assert counting < refill < reverse and text.count("for ") == 2
    slope = grad(0.3)
    y, expected = 0.3, 1.0
    for _ in range(20):
        expected *= np.cos(y) + 0.5
        y = np.sin(y) + 0.5 * y
    assert slope == pytest.approx(expected, rel=1e-13)


INTEGER_LOOP = """\
def f(x: f64[n]) -> f64:
    j = 0
    for i in range(n):
        j = (j * 7 + i) % n
    return x[j] * x[0]
"""


def test_loops_that_carry_nothing_differentiable_are_not_taped():
    mod = compile_source(INTEGER_LOOP, name="i.dp", backend="interp")
    rev = mod.grad("f").owner.ir("f.rev", stage="ad")
    assert "full" not in rev.split("for")[0]  # no tape before the loop
    assert rev.count("for") == 1
    x = np.array([2.0, 3.0, 5.0, 7.0])
    j = 0
    for i in range(4):
        j = (j * 7 + i) % 4
    expected = np.zeros(4)
    expected[j] += x[0]
    expected[0] += x[j]
    np.testing.assert_array_equal(mod.grad("f")(x), expected)


# The trip counts of these tests' loops are arguments: reverse mode unrolls loops of a few
# known trips (see test_a_loop_of_few_known_trips_is_unrolled_and_needs_no_tape).
GATED = """\
def f(x: f64[n], w: f64[n], trips: i64) -> f64:
    h = x
    for i in range(trips):
        g = sigmoid(h * w)
        h = g * h + tanh(w)
    return sum(h)
"""


def assert_matches_forward_mode(mod, fn: str, arrays: list, *integers) -> None:
    """The gradient of fn (of f64 array parameters, then integers) against forward mode
    (passes/forward.py, written apart from reverse mode): mod.jacobian's forward mode, one
    tangent per unit vector of each array."""
    cotangents = mod.grad(fn)(*arrays, *integers)
    tangents = mod.jacobian(fn, mode="forward")(*arrays, *integers)
    if len(arrays) == 1:
        cotangents, tangents = [cotangents], [tangents]
    for cotangent, tangent in zip(cotangents, tangents, strict=True):
        np.testing.assert_allclose(cotangent, tangent, rtol=1e-13)


@pytest.mark.parametrize("backend", ["interp", "native"])
def test_costly_intermediates_of_a_loop_are_taped_not_recomputed(backend):
    # the forward loop stores g = sigmoid(h * w) and tanh(w) per iteration beside h; the
    # reverse loop reads them: it computes no sigmoid or tanh of its own
    mod = compile_source(GATED, name="gated.dp", backend=backend)
    rev = mod.grad("f").owner.ir("f.rev", stage="ad")
    forward, reverse = rev[:rev.rindex("for ")], rev[rev.rindex("for "):]
    assert (forward.count("sigmoid"), forward.count("tanh"), forward.count("tape = full")) == \
        (1, 1, 3)
    assert (reverse.count("sigmoid"), reverse.count("tanh")) == (0, 0)
    x, w = np.array([0.3, -0.7]), np.array([1.5, 0.2])
    assert_matches_forward_mode(mod, "f", [x, w], 3)


NESTED = """\
def f(x: f64[n], w: f64[n], steps: i64, layers: i64) -> f64:
    h = x
    total = 0.0
    for t in range(steps):
        for layer in range(layers):
            h = tanh(h * w + float(layer))
        total += sum(h * h)
    return total
"""


@pytest.mark.parametrize("backend", ["interp", "native"])
def test_an_inner_loop_s_tapes_are_kept_by_the_outer_loop(backend):
    # the forward loop over t records the loop over layers' own tapes (its h per layer,
    # its tanh) at every t; the reverse sweep reads them and runs no loop over layers
    # forward again: tanh is computed once, in the forward loop
    mod = compile_source(NESTED, name="nested.dp", backend=backend)
    rev = mod.grad("f").owner.ir("f.rev", stage="ad")
    assert rev.count("tanh") == 1
    assert rev.count(" = for ") == 4  # forward: t, layers; reverse: t, layers
    x, w = np.array([0.3, -0.7, 0.1]), np.array([1.5, 0.2, -0.4])
    assert_matches_forward_mode(mod, "f", [x, w], 4, 3)


INACTIVE_INNER = """\
def f(x: f64[n], a: f64[n, m]) -> f64[n]:
    for i in range(n):
        y = zeros(n)
        for j in range(n):
            y[j] = prod(tanh(zeros(n))) + 1.0
        a = zeros(n, m)
    return zeros(n) + x[0]
"""


@pytest.mark.parametrize("backend", ["interp", "native"])
def test_an_inner_loop_that_computes_nothing_differentiable_keeps_no_tapes(backend):
    # the loop over j computes a costly tanh but nothing x or a reaches: the outer loop
    # planned tapes for it that its replay never made (KeyError), found by
    # tests/test_random_gradients.py
    mod = compile_source(INACTIVE_INNER, backend=backend)
    xb, ab = mod.vjp("f")(np.array([1.0, 2.0]), np.ones((2, 1)), np.array([1.0, 3.0]))
    assert xb.tolist() == [4.0, 0.0] and ab.tolist() == [[0.0], [0.0]]


PROD = """\
func @p(%x: f64[n]) -> f64 {
  %0 = reduce_prod %x : f64
  return %0
}

func @g(%x: f64[n]) -> f64[n] {
  %0 = grad %x {callee = @p, wrt = [0]} : f64[n]
  return %0
}
"""

# Each element's cotangent is ct times the product of the others: those before it (a
# loop forward) times those after it (a loop backward). Dividing the whole product by
# the element instead gave NaN at an infinite element, and 0 or inf where the whole
# product under- or overflows but the others' does not.
PROD_REVERSED = """\
func @p.rev(%x: f64[n], %ct: f64) -> (f64, f64[n]) {
  %0 = reduce_prod %x : f64
  %1 = dim %x {axis = 0} : i64
  %2 = full %ct, %1 : f64[n]
  %3 = dim %x {axis = 0} : i64
  %4 = const 1.0 : f64
  %5 = const 1.0 : f64
  %6 = full %5, %3 : f64[n]
  %7 = const 0 : i64
  %8 = const 1 : i64
  %9, %10 = for %7, %3, %8, %4, %6 : f64, f64[n] {
  ^(%k: i64, %running: f64, %products: f64[n]):
    %11 = update %products, %running, %k {inbounds = true} : f64[n]
    %12 = index %x, %k {inbounds = true} : f64
    %13 = mul %running, %12 : f64
    yield %13, %11
  }
  %14 = const 1.0 : f64
  %15 = const 1.0 : f64
  %16 = full %15, %3 : f64[n]
  %17 = const 1 : i64
  %18 = sub %3, %17 : i64
  %19 = const 0 : i64
  %20 = const 1 : i64
  %21, %22 = for %19, %3, %20, %14, %16 : f64, f64[n] {
  ^(%k.1: i64, %running.1: f64, %products.1: f64[n]):
    %23 = sub %18, %k.1 : i64
    %24 = update %products.1, %running.1, %23 {inbounds = true} : f64[n]
    %25 = index %x, %23 {inbounds = true} : f64
    %26 = mul %running.1, %25 : f64
    yield %26, %24
  }
  %27 = mul %10, %22 : f64[n]
  %x_bar = mul %2, %27 : f64[n]
  return %0, %x_bar
}
"""


def test_prod_passes_each_element_the_product_of_the_others():
    module = differentiate(PROD)
    assert ir.print_function(module.functions["p.rev"]) == PROD_REVERSED
    run = ir.Interpreter(module).run
    np.testing.assert_array_equal(run("g", [np.array([1.0, np.inf, 2.0])]), [np.inf, 2.0, np.inf])
    np.testing.assert_array_equal(run("g", [np.array([1e-200, 1e-200, 1e200])]), [1.0, 1.0, 0.0])


def nested_whiles(depth: int) -> str:
    """f(x): `depth` while loops, each directly in the one before, each of one trip."""
    lines = ["def f(x: f64) -> f64:", "    y = x"]
    for d in range(depth):
        pad = "    " * (d + 1)
        lines += [pad + f"c{d} = 0", pad + f"while c{d} < 1:", pad + f"    c{d} += 1"]
    return "\n".join(lines + ["    " * (depth + 1) + "y = y * 1.5", "    return y"]) + "\n"


def test_a_while_loop_that_counts_tapes_no_loop_inside_it(monkeypatch):
    # the loop that counts a while's iterations taped the whiles inside it too, for
    # nothing: 2**depth - 1 of them (depth 14: 15 s and 700 MB to compile the gradient)
    taped = []
    forward_while = Differentiator.forward_while
    monkeypatch.setattr(Differentiator, "forward_while",
                        lambda self, op: taped.append(op) or forward_while(self, op))
    mod = compile_source(nested_whiles(12), backend="interp")
    assert (mod.f(2.0), mod.grad("f")(2.0)) == (3.0, 1.5)
    # while k (from 1) is taped by the forward sweep, and again by the reverse sweep of
    # each of the k - 1 loops around it, which replays their bodies: 1 + 2 + ... + 12
    assert len(taped) == 78


# y[i] = a y[i - 1] + y[i]: the reverse sweep needs y[i - 1] of each iteration (the
# multiplication's other operand), not y. The forward loop tapes that element, f64[?],
# where it taped all of y, f64[?, n]: n^2 time and memory (at n = 50,000, 32 s and 20 GB
# for a gradient that now takes half a millisecond). y stands for itself in the reverse
# replay by its initial value, which gives the size the cotangent needs.
RECURRENCE = """\
func @f(%x: f64[n], %a: f64) -> f64 {
  %n = dim %x {axis = 0} : i64
  %0 = const 1 : i64
  %1 = const 1 : i64
  %y = for %0, %n, %1, %x : f64[n] {
  ^(%i: i64, %y.1: f64[n]):
    %2 = const 1 : i64
    %3 = sub %i, %2 : i64
    %4 = index %y.1, %3 : f64
    %5 = mul %a, %4 : f64
    %6 = index %y.1, %i : f64
    %7 = add %5, %6 : f64
    %y.2 = update %y.1, %7, %i : f64[n]
    yield %y.2
  }
  %8 = const 1 : i64
  %9 = sub %n, %8 : i64
  %10 = index %y, %9 : f64
  return %10
}

func @g(%x: f64[n], %a: f64) -> (f64[n], f64) {
  %0, %1 = grad %x, %a {callee = @f, wrt = [0, 1]} : f64[n], f64
  return %0, %1
}
"""

RECURRENCE_REVERSED = """\
func @f.rev(%x: f64[n], %a: f64, %ct: f64) -> (f64, f64[n], f64) {
  %n = dim %x {axis = 0} : i64
  %0 = const 1 : i64
  %1 = const 1 : i64
  %2 = trip_count %0, %n, %1 : i64
  %3 = const 0.0 : f64
  %tape = full %3, %2 {overwritten = true} : f64[?]
  %4, %5 = for %0, %n, %1, %x, %tape : f64[n], f64[?] {
  ^(%i: i64, %y: f64[n], %tape.1: f64[?]):
    %6 = trip_count %0, %i, %1 : i64
    %7 = const 1 : i64
    %8 = sub %2, %7 : i64
    %9 = sub %8, %6 : i64
    %10 = const 1 : i64
    %11 = sub %i, %10 : i64
    %12 = index %y, %11 : f64
    %13 = mul %a, %12 : f64
    %14 = index %y, %i : f64
    %15 = add %13, %14 : f64
    %y.1 = update %y, %15, %i : f64[n]
    %16 = update %tape.1, %12, %9 {inbounds = true} : f64[?]
    yield %y.1, %16
  }
  %17 = const 1 : i64
  %18 = sub %n, %17 : i64
  %19 = index %4, %18 : f64
  %20 = const 0.0 : f64
  %21 = dim %4 {axis = 0} : i64
  %22 = full %20, %21 : f64[n]
  %23 = add_at %22, %ct, %18 {inbounds = "repeated"} : f64[n]
  %24 = const 0.0 : f64
  %25 = full %24, %2 : f64[?]
  %26 = const 0 : i64
  %27 = const 1 : i64
  %x_bar, %28 = for %26, %2, %27, %23, %25 : f64[n], f64[?] {
  ^(%k: i64, %29: f64[n], %30: f64[?]):
    %31 = const 1 : i64
    %32 = sub %2, %31 : i64
    %33 = sub %32, %k : i64
    %34 = index %5, %k {inbounds = true} : f64
    %35 = mul %33, %1 : i64
    %36 = add %0, %35 : i64
    %37 = const 1 : i64
    %38 = sub %36, %37 : i64
    %39 = index %29, %36 {inbounds = "repeated"} : f64
    %40 = const 0.0 : f64
    %41 = update %29, %40, %36 {inbounds = "repeated"} : f64[n]
    %42 = add_at %41, %39, %36 {inbounds = "repeated"} : f64[n]
    %43 = mul %39, %34 : f64
    %44 = const 0.0 : f64
    %45 = eq %39, %44 : bool
    %46 = select %45, %44, %43 {zero_guard = true} : f64
    %47 = mul %39, %a : f64
    %48 = const 0.0 : f64
    %49 = eq %39, %48 : bool
    %50 = select %49, %48, %47 {zero_guard = true} : f64
    %51 = add_at %42, %50, %38 {inbounds = "repeated"} : f64[n]
    %52 = update %30, %46, %k {inbounds = true} : f64[?]
    yield %51, %52
  }
  %a_bar = reduce_sum %28 : f64
  return %19, %x_bar, %a_bar
}
"""


def test_a_recurrence_tapes_the_elements_it_reads_not_its_array():
    module = differentiate(RECURRENCE)
    assert ir.print_function(module.functions["f.rev"]) == RECURRENCE_REVERSED
    x = np.array([1.0, 2.0, 3.0, 4.0])
    gx, ga = ir.Interpreter(module).run("g", [x, 0.5])
    np.testing.assert_allclose(gx, [0.125, 0.25, 0.5, 1.0], rtol=1e-15)  # a^(n-1-i)
    # y3 = x3 + a x2 + a^2 x1 + a^3 x0, so d/da = x2 + 2 a x1 + 3 a^2 x0
    assert ga == pytest.approx(3.0 + 2 * 0.5 * 2.0 + 3 * 0.25 * 1.0, rel=1e-15)


# Recurrences whose arrays' elements are taped (the first three), and loops where the
# array is used otherwise and is taped whole: read after its update, read in a branch,
# updated twice, inside an outer loop, passed to a sum.
RECURRENCES = {
    "two lags": """\
def f(x: f64[n], a: f64) -> f64:
    y = zeros(n)
    y[0] = x[0]
    y[1] = x[1]
    for i in range(2, n):
        y[i] = a * y[i - 1] - 0.5 * y[i - 2] * y[i - 1] + x[i]
    return sum(y * y)
""",
    "thomas": """\
def f(a: f64[n], b: f64[n], d: f64[n]) -> f64:
    cp = zeros(n)
    dp = zeros(n)
    cp[0] = 0.5 / b[0]
    dp[0] = d[0] / b[0]
    for i in range(1, n):
        den = b[i] - a[i] * cp[i - 1]
        cp[i] = 0.5 / den
        dp[i] = (d[i] - a[i] * dp[i - 1]) / den
    x = zeros(n)
    x[n - 1] = dp[n - 1]
    for k in range(1, n):
        x[n - 1 - k] = dp[n - 1 - k] - cp[n - 1 - k] * x[n - k]
    return sum(x * x)
""",
    "scalar and array carried": """\
def f(x: f64[n]) -> f64:
    c = zeros(n)
    run = 1.0
    for i in range(1, n):
        run = run * cos(x[i])
        c[i] = run * sin(c[i - 1] + x[i])
    return sum(c * c)
""",
    "read after the update": """\
def f(x: f64[n], a: f64) -> f64:
    y = x
    s = 0.0
    for i in range(1, n):
        y[i] = a * y[i - 1] * y[i]
        s += y[i] * y[i]
    return s
""",
    "read in a branch": """\
def f(x: f64[n], a: f64) -> f64:
    y = x
    for i in range(1, n):
        if x[i] > 0.0:
            y[i] = a * y[i - 1] * y[i - 1]
        else:
            y[i] = y[i] * a
    return sum(y)
""",
    "updated twice": """\
def f(x: f64[n], a: f64) -> f64:
    y = x
    for i in range(1, n - 1):
        y[i] = a * y[i - 1] * y[i]
        y[i + 1] = y[i + 1] * sin(y[i - 1])
    return sum(y)
""",
    "inside an outer loop": """\
def f(x: f64[n], a: f64, s: i64) -> f64:
    y = x
    for t in range(s):
        for i in range(1, n):
            y[i] = a * y[i - 1] * y[i] + 0.1
    return sum(y * y)
""",
    "summed in the body": """\
def f(x: f64[n], a: f64) -> f64:
    y = x
    s = 0.0
    for i in range(1, n):
        y[i] = a * y[i - 1]
        s += sum(y * x)
    return s
""",
}


@pytest.mark.parametrize("backend", ["interp", "native"])
@pytest.mark.parametrize("kind", RECURRENCES)
def test_recurrences_have_the_gradient_of_finite_differences(kind, backend):
    from numdiff import central_differences, relative_error
    mod = compile_source(RECURRENCES[kind], backend=backend)
    rng = np.random.default_rng(3)
    args = [rng.uniform(0.5, 1.5, 6) if p.type.rank else 3 if str(p.type) == "i64" else 0.7
            for p in mod.module.functions["f"].params]
    if kind == "thomas":
        args[1] = args[1] + 3.0  # diagonally dominant
    grads = mod.grad("f")(*args)
    grads = grads if isinstance(grads, tuple) else (grads,)
    for k, g in enumerate(grads):
        fd = central_differences(mod.f, args, k, order=4)
        assert np.max(relative_error(g, fd)) < 1e-8, (k, g, fd)


def test_only_the_recurrences_tape_elements():
    tapes = {}
    for kind, source in RECURRENCES.items():
        rev = compile_source(source, backend="interp").grad("f").owner.ir("f.rev", stage="ad")
        tapes[kind] = sorted(line.split(" : ")[-1] for line in rev.splitlines()
                             if "{overwritten = true}" in line)
    assert tapes == {
        "two lags": ["f64[?]", "f64[?]", "f64[?]"],  # y[i - 1] is read twice
        "thomas": ["f64[?]", "f64[?]", "f64[?]"],  # cp[i - 1], dp[i - 1]; x[n - k]
        "scalar and array carried": ["f64[?]", "f64[?]"],
        "read after the update": ["f64[?, n]"],
        "read in a branch": ["f64[?, n]"],
        "updated twice": ["f64[?, n]"],
        # the outer loop's y goes to the inner loop whole; the inner loop reads two
        # elements, each a factor of a product
        "inside an outer loop": ["f64[?, n]", "f64[?]", "f64[?]"],
        "summed in the body": ["f64[?, n]"],
    }
