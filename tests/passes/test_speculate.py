"""Speculate: a small `if` whose branches cannot fail becomes a `select`."""

import numpy as np
import pytest

import ir
from compiler import compile_source
from passes.bounds import Bounds
from passes.speculate import Speculate


def lowered(source):
    return compile_source(source, backend="interp").module


def test_before_and_after():
    module = lowered("def f(x: f64[n], c: bool) -> f64:\n    return x[0] if c else 2.0\n")
    # x[0] may fail outside a loop, so the front end made an `if`; speculation leaves it
    assert ir.print_module(Speculate().apply(ir.clone_module(module))) == ir.print_module(module)
    source = "def f(x: f64[n]) -> f64:\n    return sum(x[i] if x[i] > 0.0 else 0.5 * x[i] for i in range(n))\n"
    module = Bounds().apply(lowered(source))
    before = ir.print_function(module.functions["f"])
    assert "= if " in before
    after = ir.print_function(Speculate().apply(module).functions["f"])
    assert "= if " not in after
    assert "select" in after


def test_values_unchanged():
    source = ("def f(x: f64[n]) -> f64[n]:\n"
              "    return [x[i] if x[i] > 0.0 else 0.5 * x[i] for i in range(n)]\n")
    module = lowered(source)
    fast = Speculate().apply(Bounds().apply(ir.clone_module(module)))
    ir.verify_module(fast)
    x = np.array([1.0, -2.0, 3.0])
    np.testing.assert_array_equal(ir.Interpreter(fast).run("f", [x]),
                                  ir.Interpreter(module).run("f", [x]))


def test_a_branch_that_can_fail_stays_a_branch():
    source = "def f(x: f64[n], j: i64) -> f64:\n    return x[j] if j >= 0 else 0.0\n"
    module = Speculate().apply(Bounds().apply(lowered(source)))
    assert "= if " in ir.print_function(module.functions["f"])
    with pytest.raises(IndexError):
        ir.Interpreter(module).run("f", [np.ones(2), 5])


# The inner if of the else branch becomes a select first; the outer if's branches are then
# a few ops that cannot fail, and it becomes one too: each use of a replaced result reads
# the select (%8 in the gt, the yield and the return's if). The third if's branch holds a
# reduction, more work than the branch saves, and stays.
NESTED_BEFORE = (
    "func @f(%x: f64, %w: f64[m]) -> f64 {\n"
    "  %0 = const 0.0 : f64\n"
    "  %1 = const 1.0 : f64\n"
    "  %2 = lt %x, %0 : bool\n"
    "  %3 = if %2 : f64 {\n"
    "    %4 = neg %x : f64\n"
    "    yield %4\n"
    "  } {\n"
    "    %5 = lt %x, %1 : bool\n"
    "    %6 = if %5 : f64 {\n"
    "      %7 = mul %x, %x : f64\n"
    "      yield %7\n"
    "    } {\n"
    "      %8 = exp %x : f64\n"
    "      yield %8\n"
    "    }\n"
    "    yield %6\n"
    "  }\n"
    "  %9 = gt %3, %1 : bool\n"
    "  %10 = if %9 : f64 {\n"
    "    %11 = const 0 : i64\n"
    "    %12 = const 1 : i64\n"
    "    %m = dim %w {axis = 0} : i64\n"
    "    %13 = reduce %11, %m, %12 {kind = \"sum\"} : f64 {\n"
    "    ^(%j: i64):\n"
    "      %14 = index %w, %j {inbounds = true} : f64\n"
    "      yield %14\n"
    "    }\n"
    "    yield %13\n"
    "  } {\n"
    "    yield %3\n"
    "  }\n"
    "  return %10\n"
    "}\n"
)

NESTED_AFTER = (
    "func @f(%x: f64, %w: f64[m]) -> f64 {\n"
    "  %0 = const 0.0 : f64\n"
    "  %1 = const 1.0 : f64\n"
    "  %2 = lt %x, %0 : bool\n"
    "  %3 = neg %x : f64\n"
    "  %4 = lt %x, %1 : bool\n"
    "  %5 = mul %x, %x : f64\n"
    "  %6 = exp %x : f64\n"
    "  %7 = select %4, %5, %6 : f64\n"
    "  %8 = select %2, %3, %7 : f64\n"
    "  %9 = gt %8, %1 : bool\n"
    "  %10 = if %9 : f64 {\n"
    "    %11 = const 0 : i64\n"
    "    %12 = const 1 : i64\n"
    "    %m = dim %w {axis = 0} : i64\n"
    "    %13 = reduce %11, %m, %12 {kind = \"sum\"} : f64 {\n"
    "    ^(%j: i64):\n"
    "      %14 = index %w, %j {inbounds = true} : f64\n"
    "      yield %14\n"
    "    }\n"
    "    yield %13\n"
    "  } {\n"
    "    yield %8\n"
    "  }\n"
    "  return %10\n"
    "}\n"
)


def test_nested_ifs_innermost_first_and_a_branch_with_a_loop_stays():
    module = Speculate().apply(ir.parse_module(NESTED_BEFORE))
    ir.verify_module(module)
    assert ir.print_module(module) == NESTED_AFTER


def test_an_elif_chain_is_speculated_in_linear_time():
    # each arm's speculability searched the whole chain below it: n^2 ops visited (and
    # a gradient of 1000 arms took two minutes to compile)
    arms = "".join(f"    elif x < {k}.5:\n        y = x * {k}.0\n" for k in range(1, 300))
    source = f"def f(x: f64) -> f64:\n    y = 0.0\n    if x < 0.5:\n        y = x\n{arms}" \
             "    else:\n        y = x\n    return y\n"
    module = lowered(source)
    visits = count_never_fails_calls(lambda: Speculate().apply(module))
    assert visits < 20 * 300
    assert ir.Interpreter(module).run("f", [3.2]) == 3.2 * 3.0


def count_never_fails_calls(run) -> int:
    import passes.dce as dce
    calls, original = [0], dce.never_fails

    def counted(op, in_place=False):
        calls[0] += 1
        return original(op, in_place)
    dce.never_fails = counted
    try:
        run()
    finally:
        dce.never_fails = original
    return calls[0]


# A reverse sweep's `if`: one branch adds to the adjoint of an array, the other passes it
# on. The adds move after the `if`, adding what the branch yields (-0.0 from the other,
# which leaves any float as it is); the `if`, scalars only now, becomes selects. Reading
# x[%i] before the `if` showed %i valid for any array of length n, so the adds keep no
# check, and map a negative index as that read did.
SINK_BEFORE = """\
func @f(%x: f64[n], %a: f64[n], %c: bool, %i: i64, %v: f64) -> f64[n] {
  %0 = index %x, %i : f64
  %1 = if %c : f64[n] {
    %2 = mul %v, %0 : f64
    %3 = add_at %a, %2, %i : f64[n]
    %4 = add_at %3, %v, %i : f64[n]
    yield %4
  } {
    yield %a
  }
  return %1
}
"""

SINK_AFTER = """\
func @f(%x: f64[n], %a: f64[n], %c: bool, %i: i64, %v: f64) -> f64[n] {
  %0 = index %x, %i : f64
  %1 = mul %v, %0 : f64
  %2 = const -0.0 : f64
  %3 = const -0.0 : f64
  %4 = select %c, %1, %2 : f64
  %5 = select %c, %v, %3 : f64
  %6 = add_at %a, %4, %i {inbounds = "repeated"} : f64[n]
  %7 = add_at %6, %5, %i {inbounds = "repeated"} : f64[n]
  return %7
}
"""


def test_adds_to_an_array_move_out_of_the_if():
    module = Speculate().apply(ir.parse_module(SINK_BEFORE))
    ir.verify_module(module)
    assert ir.print_module(module) == SINK_AFTER
    x, a = np.array([1.0, 2.0, 3.0]), np.array([-0.0, 0.5, 0.0])
    for c, i in [(True, 1), (False, 1), (True, -1), (False, -3)]:
        expected = ir.Interpreter(ir.parse_module(SINK_BEFORE)).run("f", [x, a.copy(), c, i, 2.0])
        got = ir.Interpreter(module).run("f", [x, a.copy(), c, i, 2.0])
        np.testing.assert_array_equal(got, expected)
        assert np.signbit(got[0])  # a[-3] + -0.0, at c False, stays -0.0


@pytest.mark.parametrize("change", [
    ("  %0 = index %x, %i : f64\n", "  %0 = const 1.0 : f64\n"),  # nothing showed %i valid
    ("%x: f64[n]", "%x: f64[m]"),  # valid for x, which may be shorter than a
    ("%x: f64[n], %a: f64[n]", "%x: f64[?], %a: f64[?]"),  # lengths not known alike
    ("    %4 = add_at %3, %v, %i : f64[n]\n    yield %4",  # the first add's array is read
     "    %4 = add_at %3, %v, %i : f64[n]\n    %5 = index %3, %i : f64\n    yield %4"),
])
def test_adds_stay_in_the_branch(change):
    source = SINK_BEFORE.replace(*change)
    module = Speculate().apply(ir.parse_module(source))
    assert ir.print_module(module) == ir.print_module(ir.parse_module(source))


HUBER = """\
def f(r: f64[n], delta: f64) -> f64:
    acc = 0.0
    for i in range(n):
        a = abs(r[i])
        if a <= delta:
            acc += 0.5 * r[i] * r[i]
        else:
            acc += delta * (a - 0.5 * delta)
    return acc
"""


@pytest.mark.parametrize("backend", ["native", "interp"])
def test_a_gradient_through_an_if_in_a_loop_has_no_branch_left(backend):
    # its reverse sweep added to r's adjoint in one branch only: with the adds moved out,
    # the branch is selects (no misprediction, and the loop vectorizes), and the gradient
    # is the same at and about the kink; with delta's adjoint too, the else-branch has 13
    # ops, which MAX_OPS admits
    mod = compile_source(HUBER, backend=backend)
    r = np.array([-3.0, -1.0, -0.5, -0.0, 0.0, 0.25, 1.0, 2.0, np.inf])
    grad_r = mod.grad("f", wrt="r")
    assert "= if " not in mod.ir(grad_r, stage="scalar")
    expected = np.where(np.abs(r) <= 1.0, r, np.sign(r))
    np.testing.assert_array_equal(grad_r(r, 1.0), expected)
    grad = mod.grad("f")
    assert "= if " not in mod.ir(grad, stage="scalar")
    r_bar, delta_bar = grad(r[:-1], 1.0)
    np.testing.assert_array_equal(r_bar, expected[:-1])
    assert delta_bar == (3.0 - 1.0) + (2.0 - 1.0)  # |r| - delta where |r| > delta
