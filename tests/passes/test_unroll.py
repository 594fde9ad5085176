"""Unroll (passes/unroll.py): loops of a few known trips in element code written out."""

import numpy as np
import pytest

import ir
from compiler import compile_source
from passes.unroll import Unroll
from programs import NEWTON

# Two Newton steps for each element, in a build (written out), and a loop of two trips
# over the whole array (kept: not element code)
BEFORE = (
    "func @f(%x: f64[n]) -> f64[n] {\n"
    "  %n = dim %x {axis = 0} : i64\n"
    "  %0 = const 0 : i64\n"
    "  %1 = const 1 : i64\n"
    "  %2 = const 2 : i64\n"
    "  %3 = build %0, %n, %1 : f64[n] {\n"
    "  ^(%i: i64):\n"
    "    %a = index %x, %i : f64\n"
    "    %y = for %0, %2, %1, %a : f64 {\n"
    "    ^(%k: i64, %y.1: f64):\n"
    "      %4 = mul %y.1, %y.1 : f64\n"
    "      %5 = sub %4, %a : f64\n"
    "      %6 = add %y.1, %y.1 : f64\n"
    "      %7 = div %5, %6 : f64\n"
    "      %y.2 = sub %y.1, %7 : f64\n"
    "      yield %y.2\n"
    "    }\n"
    "    yield %y\n"
    "  }\n"
    "  %8 = for %0, %2, %1, %3 : f64[n] {\n"
    "  ^(%j: i64, %z: f64[n]):\n"
    "    %9 = mul %z, %z : f64[n]\n"
    "    yield %9\n"
    "  }\n"
    "  return %8\n"
    "}\n"
)

AFTER = (
    "func @f(%x: f64[n]) -> f64[n] {\n"
    "  %n = dim %x {axis = 0} : i64\n"
    "  %0 = const 0 : i64\n"
    "  %1 = const 1 : i64\n"
    "  %2 = const 2 : i64\n"
    "  %3 = build %0, %n, %1 : f64[n] {\n"
    "  ^(%i: i64):\n"
    "    %a = index %x, %i : f64\n"
    "    %k = const 0 : i64\n"
    "    %4 = mul %a, %a : f64\n"
    "    %5 = sub %4, %a : f64\n"
    "    %6 = add %a, %a : f64\n"
    "    %7 = div %5, %6 : f64\n"
    "    %y = sub %a, %7 : f64\n"
    "    %k.1 = const 1 : i64\n"
    "    %8 = mul %y, %y : f64\n"
    "    %9 = sub %8, %a : f64\n"
    "    %10 = add %y, %y : f64\n"
    "    %11 = div %9, %10 : f64\n"
    "    %y.1 = sub %y, %11 : f64\n"
    "    yield %y.1\n"
    "  }\n"
    "  %12 = for %0, %2, %1, %3 : f64[n] {\n"
    "  ^(%j: i64, %z: f64[n]):\n"
    "    %13 = mul %z, %z : f64[n]\n"
    "    yield %13\n"
    "  }\n"
    "  return %12\n"
    "}\n"
)


def unrolled(source: str) -> str:
    module = Unroll().apply(ir.parse_module(source))
    ir.verify_module(module)
    return ir.print_module(module)


def test_before_and_after():
    # each copy of the body reads the value the one before yields, the first the
    # loop's initial value; the index is a constant, which DCE removes when unused
    assert unrolled(BEFORE) == AFTER
    assert ir.print_module(ir.parse_module(AFTER)) == AFTER


def test_a_loop_of_more_than_32_trips_stays():
    source = BEFORE.replace("%2 = const 2 : i64", "%2 = const 33 : i64")
    assert unrolled(source) == source


def test_a_loop_of_more_trips_than_python_can_count_stays():
    # len(range(-2**62, 2**62)) raises OverflowError; the trip count saturates instead
    source = BEFORE.replace("%0 = const 0 : i64", "%0 = const -4611686018427387904 : i64") \
                   .replace("%2 = const 2 : i64", "%2 = const 4611686018427387904 : i64")
    assert unrolled(source) == source


def test_a_loop_of_a_run_time_trip_count_stays():
    source = BEFORE.replace("func @f(%x: f64[n])", "func @f(%x: f64[n], %s: i64)") \
                   .replace("%y = for %0, %2, %1, %a", "%y = for %0, %s, %1, %a")
    assert unrolled(source) == source


@pytest.mark.parametrize("trips, written_out", [(20, True), (32, True), (33, False)])
def test_a_newton_iteration_mapped_over_an_array_is_written_out_up_to_32_steps(trips,
                                                                               written_out):
    # with its loop inside, the loop over the elements ran one element at a time (20
    # steps over 10^5 values: 4.7 ms; written out and vectorized, 0.6 ms)
    mod = compile_source(NEWTON.replace("TRIPS", str(trips)))
    opt = mod.ir("roots", stage="opt")
    assert (opt.count(" = for "), opt.count(" = div ")) == ((0, trips) if written_out else (1, 1))
    x = np.array([0.5, 2.0, 3.0, 7.0])
    assert mod.roots(x) == mod.interpreter.run("roots", [x])
    np.testing.assert_allclose(mod.roots(x), np.sum(np.sqrt(x)), rtol=1e-15)
