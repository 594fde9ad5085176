"""Reverse mode on generated programs (tests/strategies.py, smooth=True): the gradient of
the entry `f` with respect to every f64 parameter (scalars and arrays) matches finite
differences of the primal, element by element, on both backends, with relative error
|ad - fd| / max(1, |ad| + |fd|) at most 1e-6; native gradients agree with interpreted ones;
value_and_grad's value is the primal's; vjp of array-valued programs matches finite
differences of dot(ct, f(x)).

Smooth programs never branch on f64 values and keep every intermediate moderate, so a
fourth-order central difference (h = 1e-4 * max(1, |x|)) is accurate to about 1e-11 here:
a miss of 1e-6 is a wrong derivative, not noise.
"""

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from compiler import compile_source
from numdiff import central_differences, relative_error
from strategies import Program, parse_type, programs

TOLERANCE = 1e-6          # finite differences versus AD (the issue's requirement)
AGREEMENT = 1e-9          # native gradients versus interpreted ones
STEP = 1e-4               # relative finite-difference step of the 4-point stencil

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
NATIVE_SETTINGS = settings(SETTINGS, max_examples=30)

seeds = st.integers(0, 2**32 - 1)


# ----------------------------------------------------------------------------- helpers

def float_params(program) -> list[int]:
    """Positions of the entry's f64 parameters (scalars and arrays): the default wrt."""
    return [k for k, text in enumerate(program.params.values())
            if parse_type(text)[0] == "f64"]


def as_tuple(grads, count: int) -> tuple:
    """grad returns one value for one wrt parameter, else a tuple in wrt order."""
    if count == 1:
        assert not isinstance(grads, tuple), "one wrt parameter: expected a single gradient"
        return (grads,)
    assert isinstance(grads, tuple) and len(grads) == count, grads
    return grads


def check_gradients(program, phi, grads, args, positions, what="gradient") -> None:
    """Each gradient has its parameter's shape and matches finite differences of phi."""
    names = list(program.params)
    for k, g in zip(positions, grads):
        assert np.shape(g) == np.shape(args[k]), (names[k], np.shape(g))
        fd = central_differences(phi, args, k, eps=STEP, order=4).reshape(np.shape(args[k]))
        err = relative_error(g, fd)
        worst = int(np.argmax(err)) if err.size else 0
        assert float(np.max(err)) <= TOLERANCE, (
            f"{what} with respect to {names[k]} (element {worst} of shape {np.shape(g)}): "
            f"AD {np.reshape(g, -1)[worst]!r}, finite differences {fd.reshape(-1)[worst]!r}, "
            f"relative error {float(np.max(err)):.3g}\nAD: {g!r}\nFD: {fd!r}\n"
            f"arguments: {dict(zip(names, args))!r}\n{program.source}")


def assert_agree(got, expected, tol=AGREEMENT) -> None:
    for g, e in zip(got, expected):
        assert np.shape(g) == np.shape(e)
        assert float(np.max(relative_error(g, e), initial=0.0)) <= tol, (g, e)


# ----------------------------------------------------------------------------- gradients

@SETTINGS
@given(programs(smooth=True), seeds)
def test_interpreted_gradient_matches_finite_differences(program, seed):
    assert program.result == "f64"
    mod = compile_source(program.source, name="random.dp", backend="interp")
    args = program.arg_list(np.random.default_rng(seed))
    positions = float_params(program)
    f = mod.function(program.entry)
    grads = as_tuple(mod.grad(program.entry)(*args), len(positions))
    check_gradients(program, f, grads, args, positions)

    # value_and_grad: the primal's value and the same gradients
    value, *same = mod.value_and_grad(program.entry)(*args)
    assert value == f(*args)
    assert_agree(same, grads, tol=1e-12)

    # an explicit wrt, in another order, by name
    names = list(program.params)
    order = positions[::-1]
    chosen = as_tuple(mod.grad(program.entry, wrt=tuple(names[k] for k in order))(*args),
                      len(order))
    assert_agree(chosen, grads[::-1], tol=1e-12)

    # vjp of a scalar result: the gradient scaled by the cotangent
    scaled = as_tuple(mod.vjp(program.entry)(*args, -2.5), len(positions))
    assert_agree(scaled, [-2.5 * np.asarray(g) for g in grads], tol=1e-12)


# Found by this test (hand-minimized): the reverse sweep's loop over the comprehension
# carries v's adjoint, starts it from w's adjoint and also reads w's adjoint inside the
# loop; natively that initial buffer was recycled for `ones(n)` after the first iteration.
CARRIED_AND_READ = Program(
    source="def f(x: f64[n]) -> f64:\n"
           "    w = x + [dot(x, ones(n)) for c in range(n)]\n"
           "    return w[1] * 3.0\n",
    entry="f", params={"x": "f64[n]"}, dims={"n": 2}, smooth=True)


@NATIVE_SETTINGS
@example(CARRIED_AND_READ, 0)
@given(programs(smooth=True), seeds)
def test_native_gradient_matches_finite_differences_and_the_interpreter(program, seed):
    mod = compile_source(program.source, name="random.dp", backend="native")
    args = program.arg_list(np.random.default_rng(seed))
    positions = float_params(program)
    f = mod.function(program.entry)
    grads = as_tuple(mod.grad(program.entry)(*args), len(positions))
    check_gradients(program, f, grads, args, positions)

    interpreted = compile_source(program.source, name="random.dp", backend="interp")
    expected = as_tuple(interpreted.grad(program.entry)(*args), len(positions))
    assert_agree(grads, expected)

    # value_and_grad: the primal's value and the same gradients
    value, *same = mod.value_and_grad(program.entry)(*args)
    assert value == f(*args)
    assert_agree(same, grads, tol=1e-12)


# ----------------------------------------------------------------------------- vjp

def check_vjp(program, seed, backend) -> None:
    mod = compile_source(program.source, name="random.dp", backend=backend)
    rng = np.random.default_rng(seed)
    args = program.arg_list(rng)
    positions = float_params(program)
    f = mod.function(program.entry)
    out = f(*args)
    assert np.ndim(out) == len(parse_type(program.result)[1])
    ct = rng.standard_normal(np.shape(out))
    cotangents = as_tuple(mod.vjp(program.entry)(*args, ct), len(positions))

    def phi(*xs):
        return float(np.sum(ct * f(*xs)))

    check_gradients(program, phi, cotangents, args, positions, what="vjp")
    if backend == "native":
        interpreted = compile_source(program.source, name="random.dp", backend="interp")
        expected = as_tuple(interpreted.vjp(program.entry)(*args, ct), len(positions))
        assert_agree(cotangents, expected)


@SETTINGS
@given(programs(smooth=True, array_results=True), seeds)
def test_interpreted_vjp_of_array_results_matches_finite_differences(program, seed):
    check_vjp(program, seed, "interp")


@settings(NATIVE_SETTINGS, max_examples=20)
@given(programs(smooth=True, array_results=True), seeds)
def test_native_vjp_of_array_results_matches_finite_differences(program, seed):
    check_vjp(program, seed, "native")
