"""The forward-mode transformation (passes/forward.py), IR before and after. Tangents
themselves are checked against finite differences per primitive in
test_forward_primitives.py and on the examples and nestings in tests/test_forward.py."""

import numpy as np
import pytest

import ir
from passes.ad import AutoDiff

LOOP_AND_BRANCH = """\
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
  %7 = const 0.0 : f64
  %8 = gt %3, %7 : bool
  %9 = if %8 : f64 {
    %10 = sqrt %3 : f64
    yield %10
  } {
    yield %7
  }
  return %9
}

func @g(%x: f64[n], %w: f64, %tx: f64[n], %tw: f64) -> (f64, f64) {
  %0, %1 = jvp %x, %w, %tx, %tw {callee = @f, wrt = [0, 1]} : f64, f64
  return %0, %1
}
"""

# The loop carries the tangent of its carried value beside it; the branch yields the
# tangent of its result after the result. Products by a derivative are guarded, so that a
# zero tangent stays zero whatever the derivative is (sqrt at 0).
TANGENTS = """\
func @f.fwd(%x: f64[n], %w: f64, %t_x: f64[n], %t_w: f64) -> (f64, f64) {
  %n = dim %x {axis = 0} : i64
  %0 = const 0 : i64
  %1 = const 1 : i64
  %2 = const 0.0 : f64
  %3 = const 0.0 : f64
  %4, %5 = for %0, %n, %1, %2, %3 : f64, f64 {
  ^(%i: i64, %acc: f64, %t_acc: f64):
    %6 = index %x, %i : f64
    %7 = index %t_x, %i {inbounds = true} : f64
    %8 = mul %acc, %w : f64
    %9 = mul %t_acc, %w : f64
    %10 = const 0.0 : f64
    %11 = eq %t_acc, %10 : bool
    %12 = select %11, %10, %9 {zero_guard = true} : f64
    %13 = mul %t_w, %acc : f64
    %14 = const 0.0 : f64
    %15 = eq %t_w, %14 : bool
    %16 = select %15, %14, %13 {zero_guard = true} : f64
    %17 = add %12, %16 : f64
    %18 = add %8, %6 : f64
    %19 = add %17, %7 : f64
    yield %18, %19
  }
  %20 = const 0.0 : f64
  %21 = gt %4, %20 : bool
  %22, %23 = if %21 : f64, f64 {
    %24 = sqrt %4 : f64
    %25 = const 2.0 : f64
    %26 = mul %24, %25 : f64
    %27 = div %5, %26 : f64
    %28 = const 0.0 : f64
    %29 = eq %5, %28 : bool
    %30 = select %29, %28, %27 {zero_guard = true} : f64
    yield %24, %30
  } {
    %31 = const 0.0 : f64
    yield %20, %31
  }
  return %22, %23
}
"""


def differentiate(text: str) -> ir.Module:
    module = AutoDiff().apply(ir.parse_module(text))
    ir.verify_module(module)
    return module


def test_loop_and_branch_before_and_after():
    module = differentiate(LOOP_AND_BRANCH)
    assert ir.print_function(module.functions["f.fwd"]) == TANGENTS
    assert ir.print_function(module.functions["g"]) == (
        "func @g(%x: f64[n], %w: f64, %tx: f64[n], %tw: f64) -> (f64, f64) {\n"
        "  %0, %1 = call %x, %w, %tx, %tw {callee = @f.fwd} : f64, f64\n"
        "  return %0, %1\n"
        "}\n")


def test_tangent_function_parses_back_and_computes_the_derivative():
    module = differentiate(LOOP_AND_BRANCH)
    again = ir.parse_module(ir.print_module(module))
    assert ir.print_module(again) == ir.print_module(module)
    x, w = np.array([1.0, 2.0, 3.0]), 0.5
    tx, tw = np.array([0.3, -0.2, 0.1]), 0.7
    value, tangent = ir.Interpreter(again).run("g", [x, w, tx, tw])
    s = w * w * x[0] + w * x[1] + x[2]  # the loop: ((0 w + x0) w + x1) w + x2
    ds = w * w * tx[0] + w * tx[1] + tx[2] + (2 * w * x[0] + x[1]) * tw
    assert value == pytest.approx(np.sqrt(s), rel=1e-15)
    assert tangent == pytest.approx(ds / (2 * np.sqrt(s)), rel=1e-15)

