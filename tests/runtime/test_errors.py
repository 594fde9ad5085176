"""Run-time errors: the same kind and message on both backends, at the place in the source
where the program fails, also when it fails inside a derivative."""

import numpy as np
import pytest

from compiler import compile_source
from ir import ValueErrorDP

BACKENDS = ["native", "interp"]

ZERO_STEP = """\
def steps(x: f64, k: i64) -> f64:
    acc = 0.0
    for i in range(0, 5, k):
        acc += x * x
    return acc
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_loop_s_zero_step_is_reported_at_the_loop_in_every_derivative(backend):
    # reverse mode counted the trips with no place attached; forward mode built the loop
    # at the place of the last op of its body
    mod = compile_source(ZERO_STEP, name="steps.dp", backend=backend)
    for call in (lambda: mod.steps(2.0, 0), lambda: mod.grad("steps")(2.0, 0),
                 lambda: mod.vjp("steps")(2.0, 0, 1.0), lambda: mod.jvp("steps")(2.0, 0, 1.0),
                 lambda: mod.hvp("steps")(2.0, 0, 1.0), lambda: mod.hessian("steps")(2.0, 0)):
        with pytest.raises(ValueErrorDP) as err:
            call()
        assert str(err.value) == "range() step must not be zero (at steps.dp:3:5)"
    assert mod.grad("steps")(2.0, 2) == 12.0

