"""Generated random programs through the whole pipeline: they compile, verify, print and
parse back identically, run in the interpreter to a finite number, and the native code
agrees with the interpreter to 1e-12."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import ir
from compiler import compile_source
from random_programs import programs

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@SETTINGS
@given(programs())
def test_random_program_round_trips_and_jit_agrees(program):
    mod = compile_source(program.source, name="random.dp")
    text = ir.print_module(mod.module)
    reparsed = ir.parse_module(text)
    assert ir.print_module(reparsed) == text
    ir.verify_module(reparsed)
    args = program.make_args(np.random.default_rng(0))
    value = mod.interpreter.run("f", args)
    assert np.isfinite(value)
    assert ir.Interpreter(reparsed).run("f", args) == value  # the parsed IR means the same
    assert mod.f(*args) == pytest.approx(value, rel=1e-12, abs=1e-300)


@SETTINGS
@given(programs(smooth=True))
def test_smooth_random_program_round_trips_and_jit_agrees(program):
    mod = compile_source(program.source, name="random.dp")
    assert ir.print_module(ir.parse_module(mod.ir())) == mod.ir()
    args = program.make_args(np.random.default_rng(1))
    value = mod.interpreter.run("f", args)
    assert np.isfinite(value)
    assert mod.f(*args) == pytest.approx(value, rel=1e-12, abs=1e-300)
