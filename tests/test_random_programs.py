"""Generated random programs (tests/strategies.py) through the whole pipeline: they
compile, verify, print and parse back identically; the interpreter agrees with the
generator's independent Python oracle; native code agrees with the interpreter."""

import numpy as np
from hypothesis import HealthCheck, given, settings

import ir
from compiler import compile_source
from strategies import evaluate_python, programs

SETTINGS = settings(max_examples=50, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@SETTINGS
@given(programs())
def test_random_program_round_trips_and_matches_the_oracle(program):
    mod = compile_source(program.source, name="random.dp", backend="interp")
    text = ir.print_module(mod.module)
    reparsed = ir.parse_module(text)
    assert ir.print_module(reparsed) == text
    ir.verify_module(reparsed)
    args = program.make_args(np.random.default_rng(0))
    value = mod.interpreter.run(program.entry, list(args.values()))
    np.testing.assert_allclose(value, evaluate_python(program, args), rtol=1e-9, atol=1e-12)
    # the parsed IR means the same
    np.testing.assert_array_equal(ir.Interpreter(reparsed).run(program.entry, list(args.values())),
                                  value)


# Smooth programs branch only on integers and bools, so no near-tie float comparison can
# go one way natively and the other way in the interpreter. libm and NumPy may differ in
# the last bit of tanh, exp, ...; a result that cancels (1 - tanh(3.9)) magnifies that
# relative to itself, so the check also allows a few ulps of the generator's O(1) values.
CLOSE = dict(rtol=1e-12, atol=1e-14)
@SETTINGS
@given(programs(smooth=True))
def test_native_code_agrees_with_the_interpreter(program):
    mod = compile_source(program.source, name="random.dp")
    args = program.arg_list(np.random.default_rng(1))
    expected = mod.interpreter.run(program.entry, args)
    np.testing.assert_allclose(mod.run(program.entry, *args), expected, **CLOSE)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(programs(smooth=True, array_results=True))
def test_native_array_results_agree(program):
    mod = compile_source(program.source, name="random.dp")
    args = program.arg_list(np.random.default_rng(2))
    expected = mod.interpreter.run(program.entry, args)
    got = mod.run(program.entry, *args)
    assert np.shape(got) == np.shape(expected)
    np.testing.assert_allclose(got, expected, **CLOSE)
