"""Nested AD on GradBench's `saddle` and `particle` evals (examples/gradbench/saddle.dp,
particle.dp): each of the four variants ff, fr, rf, rr (forward or reverse mode for the
outer and the inner derivative) against the plain NumPy reference with hand-derived
derivatives (tests/nested_reference.py), and against each other; the reference against
GradBench's expected outputs. Errors are |a - e| / max(1, |a| + |e|), GradBench's measure.

A full GradBench run takes milliseconds natively but one to four minutes per variant in
the reference interpreter (the solvers take tens of thousands of inner steps), so the
interpreter runs the variants from starts where the solvers stop after their first
gradient, and the nested derivatives themselves (one whole inner solve or trajectory,
differentiated) at the points of the GradBench runs. DPC_SLOW_TESTS=1 adds the full
GradBench runs on the interpreter.
"""

import functools
import os

import numpy as np
import pytest

import nested_reference as ref
from compiler import compile_file
from numdiff import central_differences, relative_error

BACKENDS = ["interp", "native"]
# GradBench's function name -> (outer mode is forward, inner mode is forward)
VARIANTS = {"ff": (True, True), "fr": (True, False), "rf": (False, True), "rr": (False, False)}
TOLERANCE = 1e-8          # dpc against the NumPy reference, and the variants among themselves
GRADBENCH_TOLERANCE = 1e-4
SLOW = os.environ.get("DPC_SLOW_TESTS") == "1"
FULL_RUN_BACKENDS = ["native", pytest.param("interp", marks=pytest.mark.skipif(
    not SLOW, reason="minutes per variant in the interpreter; DPC_SLOW_TESTS=1 runs it"))]


@functools.cache
def program(name: str, backend: str):
    return compile_file(f"examples/gradbench/{name}.dp", backend=backend)


@functools.cache
def reference_saddle(start: tuple) -> np.ndarray:
    """ref.saddle takes seconds (tens of thousands of inner steps in NumPy): once per start."""
    return ref.saddle(np.array(start))


@functools.cache
def reference_particle(w0: float) -> float:
    return ref.particle(w0)


def worst(got, expected) -> float:
    return float(np.max(relative_error(got, expected)))


# --------------------------------------------------------------------- the NumPy reference

def test_reference_reproduces_gradbench_expected_outputs():
    saddle = reference_saddle(tuple(ref.SADDLE_START))
    particle = reference_particle(ref.PARTICLE_START)
    assert worst(saddle, ref.SADDLE_EXPECTED) <= GRADBENCH_TOLERANCE
    assert worst(particle, ref.PARTICLE_EXPECTED) <= GRADBENCH_TOLERANCE
    # in fact it lands on them to the last bit (saddle) or within a few ulps (particle)
    assert worst(saddle, ref.SADDLE_EXPECTED) <= 1e-15
    assert worst(particle, ref.PARTICLE_EXPECTED) <= 1e-15


def test_reference_derivatives_match_finite_differences():
    rng = np.random.default_rng(0)
    for _ in range(5):
        x, w = rng.uniform(-5.0, 5.0, 2), float(rng.uniform(-1.0, 1.0))
        fd = central_differences(ref.potential, [x, w], 0, order=4)
        assert worst(ref.potential_grad(x, w), fd) <= 1e-9
        tx, tw = rng.standard_normal(2), float(rng.standard_normal())
        along = lambda s: ref.potential_grad(x + s * tx, w + s * tw)  # noqa: E731
        for k in range(2):
            fd = central_differences(lambda s: along(s)[k], [0.0], 0, order=4)
            assert worst(ref.potential_grad_tangent(x, tx, w, tw)[k], fd) <= 1e-8
        y = rng.uniform(-2.0, 2.0, 2)
        fd = central_differences(ref.saddle_inner_max, [y, ref.SADDLE_START], 0, order=4)
        assert worst(ref.saddle_inner_max_grad(y, ref.SADDLE_START), fd) <= 1e-8
    for w in (0.0, 0.1, 0.2, 0.3):
        fd = central_differences(ref.particle_cost, [w], 0, order=4)
        assert worst(ref.particle_cost_grad(w), fd) <= 1e-7


# ----------------------------------------------------------- the four variants, full runs

@pytest.mark.parametrize("backend", FULL_RUN_BACKENDS)
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_saddle_variant_matches_the_reference_and_gradbench(variant, backend):
    got = program("saddle", backend).function(variant)(ref.SADDLE_START)
    assert got.shape == (4,)
    assert worst(got, reference_saddle(tuple(ref.SADDLE_START))) <= TOLERANCE
    assert worst(got, ref.SADDLE_EXPECTED) <= GRADBENCH_TOLERANCE


@pytest.mark.parametrize("backend", FULL_RUN_BACKENDS)
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_particle_variant_matches_the_reference_and_gradbench(variant, backend):
    got = program("particle", backend).function(variant)(ref.PARTICLE_START)
    assert worst(got, reference_particle(ref.PARTICLE_START)) <= TOLERANCE
    assert worst(got, ref.PARTICLE_EXPECTED) <= GRADBENCH_TOLERANCE


@pytest.mark.parametrize("name, start", [("saddle", ref.SADDLE_START),
                                         ("particle", ref.PARTICLE_START)])
def test_the_four_variants_agree(name, start):
    mod = program(name, "native")
    results = [mod.function(variant)(start) for variant in VARIANTS]
    for result in results[1:]:
        assert worst(result, results[0]) <= TOLERANCE


# Starts where every solver stops at its first step (too short to count): the whole
# program, solvers included, in both backends, in seconds.
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_variants_from_starts_near_the_answer(variant, backend):
    start = np.array([0.3, -0.2])
    got = program("saddle", backend).function(variant)(start)
    assert worst(got, reference_saddle(tuple(start))) <= TOLERANCE
    got = program("particle", backend).function(variant)(0.21)
    assert worst(got, reference_particle(0.21)) <= TOLERANCE


# ----------------------------------------------- the nested derivatives, mode by mode

SADDLE_POINTS = [np.array([1.0, 1.0]), np.array([0.3, -0.2]), np.array([-2.0, 0.5])]


@pytest.mark.parametrize("backend", BACKENDS)
def test_saddle_inner_solver_and_its_derivative(backend):
    """max_y f(x, y) by the inner solver, and its derivative in x through that solve, in
    each pair of modes: the hand-derived derivative is 2x (the inner iterates do not
    depend on x)."""
    mod = program("saddle", backend)
    start = ref.SADDLE_START
    for x in SADDLE_POINTS:
        y = ref.saddle_inner_argmax(x, start)
        assert worst(mod.argmax_y_r(x, start), y) <= TOLERANCE
        assert worst(mod.argmax_y_f(x, start), y) <= TOLERANCE
        assert worst(mod.max_y_r(x, start), ref.saddle_inner_max(x, start)) <= TOLERANCE
        assert worst(mod.max_y_f(x, start), ref.saddle_inner_max(x, start)) <= TOLERANCE
        expected = ref.saddle_inner_max_grad(x, start)
        for variant, (outer, inner) in VARIANTS.items():
            assert worst(mod.dmax_dx(x, start, outer, inner), expected) <= TOLERANCE, variant


@pytest.mark.parametrize("backend", BACKENDS)
def test_particle_trajectory_and_its_derivative(backend):
    """The cost (the whole Euler trajectory, with grad_x p at every step) in each inner
    mode, and its derivative in w in each pair of modes, against the tangent carried
    forward by hand through the same trajectory."""
    mod = program("particle", backend)
    for w in (ref.PARTICLE_START, ref.PARTICLE_EXPECTED, 0.3):
        for inner in (False, True):
            assert worst(mod.cost(w, inner), ref.particle_cost(w)) <= TOLERANCE
        expected = ref.particle_cost_grad(w)
        for variant, (outer, inner) in VARIANTS.items():
            assert worst(mod.cost_derivative(w, outer, inner), expected) <= TOLERANCE, variant


@pytest.mark.parametrize("backend", BACKENDS)
def test_particle_acceleration_in_both_modes(backend):
    mod = program("particle", backend)
    rng = np.random.default_rng(1)
    for _ in range(5):
        x, w = rng.uniform(-5.0, 5.0, 2), float(rng.uniform(-1.0, 1.0))
        expected = -ref.potential_grad(x, w)
        assert worst(mod.acceleration_r(x, w), expected) <= 1e-14
        assert worst(mod.acceleration_f(x, w), expected) <= 1e-14
