"""Checks: work kept only for its errors shrinks to the checks, which raise as before."""

import numpy as np
import pytest

import ir
from compiler import compile_source
from passes.checks import Checks

BEFORE = (
    "func @f(%x: f64[n, d], %j: i64[k]) -> f64 {\n"
    "  %n = dim %x {axis = 0} : i64\n"
    "  %d = dim %x {axis = 1} : i64\n"
    "  %k = dim %j {axis = 0} : i64\n"
    "  %0 = const 0 : i64\n"
    "  %1 = const 1 : i64\n"
    "  for %0, %n, %1 {\n"
    "  ^(%i: i64):\n"
    "    %2 = index %x, %i {inbounds = true} : f64[d]\n"
    "    %3 = dim %2 {axis = 0} : i64\n"
    "    %4 = build %0, %k, %1 : f64[k] {\n"
    "    ^(%a: i64):\n"
    "      %5 = index %j, %a {inbounds = true} : i64\n"
    "      %6 = index %x, %5, %a : f64\n"
    "      %7 = exp %6 : f64\n"
    "      yield %7\n"
    "    }\n"
    "    %8 = reduce %0, %3, %1 {kind = \"max\"} : f64 {\n"
    "    ^(%b: i64):\n"
    "      %9 = index %2, %b {inbounds = true} : f64\n"
    "      yield %9\n"
    "    }\n"
    "    yield\n"
    "  }\n"
    "  %10 = const 0.0 : f64\n"
    "  return %10\n"
    "}\n"
)

AFTER = (
    "func @f(%x: f64[n, d], %j: i64[k]) -> f64 {\n"
    "  %n = dim %x {axis = 0} : i64\n"
    "  %d = dim %x {axis = 1} : i64\n"
    "  %k = dim %j {axis = 0} : i64\n"
    "  %0 = const 0 : i64\n"
    "  %1 = const 1 : i64\n"
    "  %2 = lt %0, %n : bool\n"
    "  if %2 {\n"
    "    for %0, %k, %1 {\n"
    "    ^(%a: i64):\n"
    "      %3 = index %j, %a {inbounds = true} : i64\n"
    "      %4 = index %x, %3, %a : f64\n"
    "      yield\n"
    "    }\n"
    "    %5 = reduce %0, %d, %1 {kind = \"max\"} : i64 {\n"
    "    ^(%6: i64):\n"
    "      %7 = const 0 : i64\n"
    "      yield %7\n"
    "    }\n"
    "    yield\n"
    "  } {\n"
    "    yield\n"
    "  }\n"
    "  %8 = const 0.0 : f64\n"
    "  return %8\n"
    "}\n"
)


def test_before_and_after():
    # The loop over i keeps only what can fail: the unchecked read x[j[a], a] and max's
    # empty-range check. The row's length is the named dimension d, so nothing reads i
    # and the checks run once, when the loop runs at all.
    module = ir.parse_module(BEFORE)
    after = Checks().apply(module)
    ir.verify_module(after)
    assert ir.print_module(after) == AFTER
    assert ir.print_module(ir.parse_module(AFTER)) == AFTER


def test_a_loop_that_reads_its_variable_keeps_its_iterations():
    source = BEFORE.replace("%6 = index %x, %5, %a : f64", "%6 = index %x, %5, %i : f64")
    after = ir.print_module(Checks().apply(ir.parse_module(source)))
    assert "for %0, %n, %1" in after and " if " not in after


PROGRAM = """\
def f(x: f64[n], j: i64[k]) -> f64:
    total = 0.0
    for i in range(n):
        total += x[i] * max(x[j[a]] for a in range(k))
    return total
"""


@pytest.mark.parametrize("backend", ["native", "interp"])
@pytest.mark.parametrize("j, error, message", [
    (np.array([0, 3]), IndexError,
     "index 3 is out of bounds for axis 0 of x with size 3 (at <source>:4:30)"),
    (np.array([], dtype=np.int64), ValueError, "max() of an empty sequence (at <source>:4:29)"),
])
def test_the_gradient_raises_what_the_primal_raises(backend, j, error, message):
    mod = compile_source(PROGRAM, backend=backend)
    x = np.array([1.0, 2.0, 3.0])
    with pytest.raises(error) as primal:
        mod.f(x, j)
    with pytest.raises(error) as gradient:
        mod.grad("f")(x, j)
    assert str(primal.value) == str(gradient.value) == message


@pytest.mark.parametrize("backend", ["native", "interp"])
def test_the_gradient_is_unchanged(backend):
    mod = compile_source(PROGRAM, backend=backend)
    x, j = np.array([1.0, -2.0, 3.0]), np.array([2, 0])
    # d/dx_i of sum_i x_i * max(x[j]) = max(x[j]) + [i = argmax] * sum(x)
    expected = np.full(3, 3.0)
    expected[2] += x.sum()
    assert np.array_equal(mod.grad("f")(x, j), expected)
