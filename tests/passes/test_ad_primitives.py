"""Reverse mode, one adjoint rule at a time: for every op of the registry that has an
adjoint rule and can produce an f64, gradients through it match central finite
differences of the primal (relative error |ad - fd| / max(1, |ad| + |fd|) at most 1e-6),
on both backends, and the module after AD verifies.

Each case names the function it differentiates and the ops whose adjoint rule it is
about; test_every_adjoint_rule_is_covered checks, by recording which rules run during
AD, that each case really reaches its ops and that together the cases cover the
registry. Where finite differences do not apply (ties, jumps), a case gives the gradient
the documented convention asks for: abs'(0) = 0; max/maximum send the gradient to the
first maximal element (row-major) or operand; floor, ceil, sign have derivative 0.

The cases are grouped into a few programs, compiled once per backend. Ops the language
cannot write (digamma and trigamma, add_at, to_f64 of an f64) are tested through nested
gradients and through IR text.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

import ir
from compiler import compile_source
from compiler.driver import reachable
from ir.registry import REGISTRY
from numdiff import central_differences, relative_error
from primitive_cases import (ARRAYS, BACKENDS, CASES, TOLERANCE, no_f64_result, program,
                             rules_run, with_wrappers, wrapper_name, wrt_positions)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.group}-{c.id}")
def test_gradient_matches_finite_differences(case, backend):
    prog = program(case.group, backend)
    ir.verify_module(reachable(prog.differentiated, wrapper_name(case)))
    grads = prog.run(wrapper_name(case), *case.args)
    positions = wrt_positions(case)
    grads = list(grads) if len(positions) > 1 else [grads]
    if case.expected is not None:
        wanted = case.expected(*case.args)
    else:
        f = functools.partial(prog.run, case.fn)
        wanted = [central_differences(f, case.args, k).reshape(np.shape(case.args[k]))
                  for k in positions]
    assert len(grads) == len(positions) == len(wanted)
    for k, got, want in zip(positions, grads, wanted):
        assert np.shape(got) == np.shape(case.args[k])
        err = relative_error(got, want)
        assert np.all(err <= TOLERANCE), (
            f"d{case.fn}/d(arg {k}): got {got}, expected {want} (error {np.max(err):.2e})")


def test_integer_parameter_gets_no_gradient():
    """grad(f) differentiates only the f64 parameters: c_tof(x, k) gives one value."""
    for backend in BACKENDS:
        mod = compile_source(ARRAYS + "\ndef g(x: f64, k: i64) -> f64:\n"
                                      "    return grad(c_tof)(x, k)\n", backend=backend)
        assert mod.g(1.3, 3) == pytest.approx(3.0 + 2 * 1.3 * 3, rel=1e-12)


def test_every_adjoint_rule_is_covered(monkeypatch):
    with_rules = {name for name, opdef in REGISTRY.items() if opdef.adjoint is not None}
    wanted = with_rules - no_f64_result()
    assert {"digamma", "trigamma", "add_at", "for", "while", "call"} <= wanted
    covered = set()
    for case in CASES:
        ran = rules_run("adjoint", with_wrappers(case.group), case, wrapper_name(case), monkeypatch)
        missing = case.ops - set(ran)
        assert not missing, f"{case.group}-{case.id}: the rules of {missing} did not run"
        covered |= case.ops
    assert covered == wanted, (f"not covered: {sorted(wanted - covered)}; "
                               f"not expected: {sorted(covered - wanted)}")
