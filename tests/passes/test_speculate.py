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
