"""Sink (passes/sink.py): an op that cannot fail, used in one branch of a later `if` only,
moves into that branch."""

import re

import numpy as np
import pytest

import ir
from compiler import compile_source
from passes.sink import Sink

# gather's shape: the zeros a loop would have started from, yielded when it does not run
BEFORE = (
    "func @f(%g: f64[n]) -> f64[n] {\n"
    "  %n = dim %g {axis = 0} : i64\n"
    "  %0 = const 0.0 : f64\n"
    "  %z = full %0, %n : f64[n]\n"
    "  %1 = const 0 : i64\n"
    "  %2 = lt %1, %n : bool\n"
    "  %3 = if %2 : f64[n] {\n"
    "    %4 = exp %g : f64[n]\n"
    "    yield %4\n"
    "  } {\n"
    "    yield %z\n"
    "  }\n"
    "  return %3\n"
    "}\n"
)

AFTER = (
    "func @f(%g: f64[n]) -> f64[n] {\n"
    "  %n = dim %g {axis = 0} : i64\n"
    "  %0 = const 0.0 : f64\n"
    "  %1 = const 0 : i64\n"
    "  %2 = lt %1, %n : bool\n"
    "  %3 = if %2 : f64[n] {\n"
    "    %4 = exp %g : f64[n]\n"
    "    yield %4\n"
    "  } {\n"
    "    %z = full %0, %n : f64[n]\n"
    "    yield %z\n"
    "  }\n"
    "  return %3\n"
    "}\n"
)


def sunk(source: str) -> str:
    module = Sink().apply(ir.parse_module(source))
    ir.verify_module(module)
    return ir.print_module(module)


def test_before_and_after():
    # the full (its fill value, a constant, stays)
    assert sunk(BEFORE) == AFTER
    assert ir.print_module(ir.parse_module(AFTER)) == AFTER


@pytest.mark.parametrize("old, new", [
    # used after the if too
    ("  return %3\n", "  %5 = add %3, %z : f64[n]\n  return %5\n"),
    # used in both branches
    ("    %4 = exp %g : f64[n]\n", "    %4 = exp %z : f64[n]\n"),
    # used by the if's test
    ("  %2 = lt %1, %n : bool\n", "  %2 = lt %1, %n : bool\n  %s = const 0.0 : f64\n"
                                  "  %2.z = index %z, %1 : f64\n  %2.t = lt %2.z, %s : bool\n"),
    # may fail: a size that may be negative
    ("  %z = full %0, %n : f64[n]\n", "  %m.c = const 0 : i64\n  %m = sub %m.c, %n : i64\n"
                                       "  %z = full %0, %m : f64[?]\n"),
])
def test_ops_it_leaves(old, new):
    source = BEFORE.replace(old, new, 1)
    if "%2.t" in new:
        source = source.replace("  %3 = if %2 ", "  %3 = if %2.t ")
    if "%m" in new:
        source = source.replace("  %3 = if %2 : f64[n] {\n", "  %3 = if %2 : f64[?] {\n") \
            .replace("    %4 = exp %g : f64[n]\n    yield %4\n",
                     "    %4 = full %0, %m : f64[?]\n    yield %4\n").replace(
            "func @f(%g: f64[n]) -> f64[n]", "func @f(%g: f64[n]) -> f64[?]")
    assert source != BEFORE
    module = ir.parse_module(source)
    ir.verify_module(module)
    assert sunk(source) == ir.print_module(module)


LOOP = (
    "func @f(%g: f64[n], %s: i64) -> f64[n] {\n"
    "  %n = dim %g {axis = 0} : i64\n"
    "  %0 = const 0.0 : f64\n"
    "  %z = full %0, %n : f64[n]\n"
    "  %1 = const 0 : i64\n"
    "  %2 = const 1 : i64\n"
    "  %3 = for %1, %s, %2, %g : f64[n] {\n"
    "  ^(%k: i64, %a: f64[n]):\n"
    "    %4 = add %a, %z : f64[n]\n"
    "    yield %4\n"
    "  }\n"
    "  return %3\n"
    "}\n"
)


def test_nothing_moves_into_a_loop():
    # it would be made at every iteration
    assert sunk(LOOP) == ir.print_module(ir.parse_module(LOOP))


NESTED = (
    "func @f(%g: f64[n], %c: bool, %d: bool) -> f64[n] {\n"
    "  %n = dim %g {axis = 0} : i64\n"
    "  %0 = const 0.0 : f64\n"
    "  %z = full %0, %n : f64[n]\n"
    "  %1 = if %c : f64[n] {\n"
    "    yield %g\n"
    "  } {\n"
    "    %2 = if %d : f64[n] {\n"
    "      yield %g\n"
    "    } {\n"
    "      yield %z\n"
    "    }\n"
    "    yield %2\n"
    "  }\n"
    "  return %1\n"
    "}\n"
)


def test_an_op_goes_down_to_the_innermost_branch_that_uses_it():
    # with the dimension that only the full used
    assert sunk(NESTED) == (
        "func @f(%g: f64[n], %c: bool, %d: bool) -> f64[n] {\n"
        "  %0 = const 0.0 : f64\n"
        "  %1 = if %c : f64[n] {\n"
        "    yield %g\n"
        "  } {\n"
        "    %2 = if %d : f64[n] {\n"
        "      yield %g\n"
        "    } {\n"
        "      %n = dim %g {axis = 0} : i64\n"
        "      %z = full %0, %n : f64[n]\n"
        "      yield %z\n"
        "    }\n"
        "    yield %2\n"
        "  }\n"
        "  return %1\n"
        "}\n")


HEAT = """
def heat(u0: f64[n], s: i64) -> f64:
    u = u0
    for t in range(s):
        u = [u[i] + 0.2 * ((u[i - 1] if i > 0 else 0.0) - 2.0 * u[i] +
                           (u[i + 1] if i < n - 1 else 0.0)) for i in range(n)]
    return sum(u * u)

def heat_grad(u0: f64[n], s: i64) -> f64[n]:
    return grad(heat, wrt=u0)(u0, s)
"""


def test_a_stencils_reverse_step_fills_no_zeros_it_does_not_yield():
    # the heat equation's step with its edges under `if`: gather's loops under `if the
    # loop runs`, the zeros of an empty array in the else-branch only
    mod = compile_source(HEAT)
    scalar = mod.ir("heat_grad", stage="scalar")
    reverse = scalar[scalar.index("%u0_bar = for"):]
    assert reverse.count(" = full ") == 2  # the elements' array, and the empty array's
    assert re.search(r"  \} \{\n      (%\d+) = full %3, %n : f64\[n\]\n      yield \1\n    \}\n",
                     reverse)
    for n in (0, 1, 2, 5, 40):
        u0 = np.random.default_rng(n).normal(size=n)
        got = mod.heat_grad(u0, 7)
        want = mod.interpreter.run("heat_grad", [u0, 7])
        assert got.tobytes() == np.asarray(want, dtype=np.float64).tobytes()
