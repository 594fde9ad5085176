"""Generated random programs through the whole front end: they compile, verify, print and
parse back identically, and run in the interpreter to a finite number."""

import numpy as np
from hypothesis import HealthCheck, given, settings

import ir
from compiler import compile_source
from strategies import programs

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@SETTINGS
@given(programs())
def test_random_program_round_trips_and_runs(program):
    mod = compile_source(program.source, name="random.dp")
    text = ir.print_module(mod.module)
    reparsed = ir.parse_module(text)
    assert ir.print_module(reparsed) == text
    ir.verify_module(reparsed)
    args = program.make_args(np.random.default_rng(0))
    value = mod.run("f", *args)
    assert np.isfinite(value)
    assert ir.Interpreter(reparsed).run("f", args) == value  # the parsed IR means the same


@SETTINGS
@given(programs(smooth=True))
def test_smooth_random_program_round_trips_and_runs(program):
    mod = compile_source(program.source, name="random.dp")
    assert ir.print_module(ir.parse_module(mod.ir())) == mod.ir()
    assert np.isfinite(mod.run("f", *program.make_args(np.random.default_rng(1))))
