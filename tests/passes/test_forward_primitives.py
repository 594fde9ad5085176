"""Forward mode, one tangent rule at a time, on the cases of test_ad_primitives.py: for
every case, `jvp` along a random tangent matches a central finite difference along it
(relative error |ad - fd| / max(1, |ad| + |fd|) at most 1e-6) on both backends; where the
case fixes the gradient by convention (ties, kinks), the jvp is that gradient dotted with
the tangent. test_every_tangent_rule_is_covered checks, by recording the rules that run,
that the cases reach every op with a tangent rule.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

import ir
from compiler import compile_source
from numdiff import directional_difference, relative_error
from ir.registry import REGISTRY
from passes.ad import AutoDiff
from primitive_cases import (BACKENDS, CASES, GROUPS, TOLERANCE, Case, native_module,
                             no_f64_result, parse_group, rules_run, signatures, wrappers,
                             wrt_positions)

RNG = np.random.default_rng(7)


def jvp_name(case: Case) -> str:
    return f"j_{case.fn}_" + "_".join(map(str, wrt_positions(case)))


def jvp_wrapper(case: Case) -> str:
    """A function taking case.fn's arguments and one tangent per wrt parameter that
    returns the tangent of case.fn's result, in the group's language."""
    fn = signatures(case.group)[case.fn]
    wrt = wrt_positions(case)
    names = [p.name_hint for p in fn.params]
    types = list(fn.param_types) + [fn.param_types[k] for k in wrt]
    all_names = names + [f"t_{names[k]}" for k in wrt]
    if GROUPS[case.group].is_ir:
        params = ", ".join(f"%{n}: {t}" for n, t in zip(all_names, types))
        return (f"\nfunc @{jvp_name(case)}({params}) -> f64 {{\n"
                f"  %jvp_value, %jvp_tangent = jvp {', '.join('%' + n for n in all_names)} "
                f"{{callee = @{case.fn}, wrt = [{', '.join(map(str, wrt))}]}} : f64, f64\n"
                f"  return %jvp_tangent\n}}\n")
    params = ", ".join(f"{n}: {t}" for n, t in zip(all_names, types))
    wrt_names = "".join(f"{names[k]}, " for k in wrt)
    return (f"\ndef {jvp_name(case)}({params}) -> f64:\n"
            f"    v, t = jvp({case.fn}, wrt=({wrt_names}))({', '.join(all_names)})\n"
            f"    return t\n")


def jvp_wrappers(name: str) -> str:
    return wrappers(name, jvp_wrapper, jvp_name)


@functools.cache
def program(name: str, backend: str):
    """fn name, args -> result, for the group's functions and jvp wrappers."""
    group = GROUPS[name]
    text = group.text + jvp_wrappers(name)
    if not group.is_ir:
        mod = compile_source(text, name=f"{name}.dp", backend=backend)
        assert backend == "interp" or mod._native is not None, "fell back to the interpreter"
        return mod.run
    module = AutoDiff().apply(ir.parse_module(text))
    ir.verify_module(module)
    if backend == "interp":
        interpreter = ir.Interpreter(module)
        return lambda fn, *args: interpreter.run(fn, list(args))
    functions = native_module(module).functions
    return lambda fn, *args: functions[fn](*args)


def tangents_for(case: Case) -> dict:
    return {k: RNG.uniform(-1.0, 1.0, np.shape(case.args[k])) for k in wrt_positions(case)}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.group}-{c.id}")
def test_jvp_matches_finite_differences(case, backend):
    run = program(case.group, backend)
    tangents = tangents_for(case)
    got = run(jvp_name(case), *case.args, *tangents.values())
    if case.expected is not None:
        want = sum(float(np.sum(g * t)) for g, t in zip(case.expected(*case.args), tangents.values()))
    else:
        want = directional_difference(functools.partial(run, case.fn), case.args, tangents)
    err = relative_error(got, want)
    assert err <= TOLERANCE, f"jvp of {case.fn}: got {got}, expected {want} (error {err:.2e})"


def test_every_tangent_rule_is_covered(monkeypatch):
    with_rules = {name for name, opdef in REGISTRY.items() if opdef.tangent is not None}
    wanted = with_rules - no_f64_result()
    assert {"digamma", "trigamma", "add_at", "for", "while", "call", "matmul"} <= wanted
    covered = set()
    for case in CASES:
        module = parse_group(GROUPS[case.group], jvp_wrappers(case.group))
        covered |= set(rules_run("tangent", module, case, jvp_name(case), monkeypatch)) & wanted
    assert covered == wanted, f"not covered: {sorted(wanted - covered)}"


def test_every_op_with_an_adjoint_has_a_tangent():
    missing = [name for name, opdef in REGISTRY.items()
               if opdef.adjoint is not None and opdef.tangent is None]
    assert missing == []
