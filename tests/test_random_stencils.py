"""Generated time-stepping programs in the shape of GradBench's ode: a loop over steps whose
stages are comprehensions reading their input at i, i - 1 (the last element at i = 0, as
in Python), min(i + 1, n - 1) and i + 1 below n - 1, often under `if i == 0` or `if i >
0`. Their reverse sweeps are what the passes on shifted reads and writes rewrite
(fresh_carry's shifted adds and built fills, gather, fuse_loops, fusion of stage builds),
so this checks those passes on many shapes at once: the value against a Python + NumPy
oracle; the native gradient against the interpreter's and against the gradient of the
function specialized for its size and number of steps (`mod.specialize`), both bit for
bit (the programs use +, -, *, / and tests only); and against finite differences
(tests/test_random_gradients.py for the tolerance). Sizes from 1, where i - 1 is i itself
at i = 0, to 37, where native loops run their vector bodies and the scalar iterations
before and after them.
"""

import random

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler import compile_source
from numdiff import central_differences, relative_error
from strategies import Program, evaluate_python

SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
TOLERANCE = 1e-6   # finite differences versus AD


# ----------------------------------------------------------------------------- programs

NEIGHBOURS = ["{v}[i]", "{v}[i - 1]", "{v}[min(i + 1, n - 1)]",
              "({v}[i + 1] if i < n - 1 else 0.5)", "{v}[n - 1 - i]", "{v}[0]"]


def term(rng: random.Random, depth: int) -> str:
    """An f64 expression in i: products and sums of reads of x, a (parameters) and y (the
    stage's input) at i and its neighbours, some under a test of i."""
    if depth == 0 or rng.random() < 0.3:
        v = rng.choice(["x", "a", "y", "y"])
        return rng.choice(NEIGHBOURS).format(v=v)
    left, right = term(rng, depth - 1), term(rng, depth - 1)
    form = rng.choice(["mul", "mul", "add", "sub", "at_zero", "after_zero", "squash"])
    if form == "at_zero":
        return f"({left} if i == 0 else {right})"
    if form == "after_zero":
        return f"({left} if i > 0 else {right})"
    if form == "squash":
        return f"squash({left})"
    return f"({left} {dict(mul='*', add='+', sub='-')[form]} {right})"


INTEGRATORS = {
    "euler": ["y = y + h * rhs(x, a, y)"],
    "midpoint": ["k1 = rhs(x, a, y)",
                 "k2 = rhs(x, a, y + h * k1 / 2.0)",
                 "y = y + h * k2"],
    "rk4": ["k1 = rhs(x, a, y)",
            "k2 = rhs(x, a, y + h * k1 / 2.0)",
            "k3 = rhs(x, a, y + h * k2 / 2.0)",
            "k4 = rhs(x, a, y + h * k3)",
            "y = y + h * (k1 + 2.0 * k2 + 2.0 * k3 + k4) / 6.0"],
    "leapfrog": ["v = v + h * rhs(x, a, y)",
                 "y = y + h * v"],
}
INITS = ["zeros(n)", "x * 0.5", "[a[i] * x[i - 1] for i in range(n)]"]
RESULTS = ["y[n - 1]", "sum(y * y)", "dot(y, a)", "y[0] * y[n - 1]"]


def stencil_program(seed: int) -> Program:
    rng = random.Random(seed)
    body = term(rng, 3)
    if rng.random() < 0.4:  # ode's own shape: a chain along i, its first element apart
        chain = rng.choice(["x[i] * y[i - 1]", "a[i] * y[i - 1]", "x[i] * y[min(i + 1, n - 1)]"])
        extra = rng.choice(["", "", f" + {term(rng, 0)}", f" * {term(rng, 1)}", f" - {body}"])
        body = f"({term(rng, 0)} if i == 0 else {chain}{extra})"
    # squash keeps the right-hand side bounded, so no step size makes the values blow up
    rhs = f"squash({body})" if rng.random() < 0.5 else body
    integrator = rng.choice(sorted(INTEGRATORS))
    lines = ["def squash(v: f64) -> f64:",
             "    return v / (1.0 + v * v)",
             "",
             "def rhs(x: f64[n], a: f64[n], y: f64[n]) -> f64[n]:",
             f"    return [{rhs} for i in range(n)]",
             "",
             "def f(x: f64[n], a: f64[n], s: i64) -> f64:",
             "    h = 0.5 / (s + 1)",
             f"    y = {rng.choice(INITS)}"]
    if integrator == "leapfrog":
        lines.append("    v = a * 0.25")
    lines.append("    for step in range(s):")
    lines += ["        " + line for line in INTEGRATORS[integrator]]
    lines.append(f"    return {rng.choice(RESULTS)}")
    return Program(source="\n".join(lines) + "\n", entry="f",
                   params={"x": "f64[n]", "a": "f64[n]", "s": "i64"},
                   dims={"n": rng.choice([1, 2, 3, 4, 5, 7, 13, 37])}, smooth=True)


def arguments(program: Program, seed: int) -> list:
    rng = np.random.default_rng(seed)
    n = program.dims["n"]
    return [0.5 * rng.standard_normal(n), 0.5 * rng.standard_normal(n), int(rng.integers(0, 4))]


def agree(got, expected, tol) -> bool:
    return np.shape(got) == np.shape(expected) and \
        float(np.max(relative_error(got, expected), initial=0.0)) <= tol


# ----------------------------------------------------------------------------- tests

@SETTINGS
@given(st.integers(0, 2**32 - 1))
def test_stencil_values_match_the_oracle_on_both_backends(seed):
    program = stencil_program(seed)
    args = arguments(program, seed)
    expected = evaluate_python(program, dict(zip(program.params, args)))
    for backend in ("interp", "native"):
        got = compile_source(program.source, name="stencil.dp", backend=backend).run("f", *args)
        assert agree(got, expected, 1e-12), (backend, got, expected, args, program.source)


@settings(SETTINGS, max_examples=25)  # three compilations and finite differences each
@given(st.integers(0, 2**32 - 1))
def test_stencil_gradients_match_the_interpreter_and_finite_differences(seed):
    program = stencil_program(seed)
    args = arguments(program, seed)
    native = compile_source(program.source, name="stencil.dp", backend="native")
    interpreted = compile_source(program.source, name="stencil.dp", backend="interp")
    grads = native.grad("f", wrt=("x", "a"))(*args)
    expected = interpreted.grad("f", wrt=("x", "a"))(*args)
    # specialized for the size and the number of steps (the loops' trip counts known)
    special = native.specialize("f", n=program.dims["n"], s=args[2])
    specialized = native.grad(special, wrt=("x", "a"))(*args[:2])
    f = native.function("f")
    for k, (g, e, p) in enumerate(zip(grads, expected, specialized)):
        # +, -, *, / and tests only, each rounded once in both: the same bits, whatever
        # order of loops and elements the passes chose
        assert np.array_equal(g, e), (k, g, e, args, program.source)
        assert np.array_equal(p, g), (k, p, g, args, program.source)
        fd = central_differences(f, args, k, eps=1e-4, order=4)
        assert agree(g, fd, TOLERANCE), (k, g, fd, args, program.source)
