"""Forward mode and nested derivatives on the examples and on the cases LANGUAGE.md
promises: jvp against the gradient, Hessian-vector products against finite differences
of the gradient, dense Hessians against hand-derived ones, every nesting of grad and jvp,
custom @tangent and @derivative rules. Both backends throughout."""

import numpy as np
import pytest

from compiler import compile_file, compile_source
from ir import ShapeErrorDP
from numdiff import directional_difference, relative_error
from reference import EXAMPLES, make_inputs

BACKENDS = ["interp", "native"]
DIFFERENTIATED = {"ode": "ode_last"}  # as in test_gradients.py


def flat(values) -> np.ndarray:
    values = values if isinstance(values, tuple) else (values,)
    return np.concatenate([np.ravel(v) for v in values])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", list(EXAMPLES))
def test_example_jvp_is_the_gradient_dotted_with_the_tangents(name, backend):
    file, fn = EXAMPLES[name][0], DIFFERENTIATED.get(name, EXAMPLES[name][1])
    mod = compile_file(f"examples/{file}", backend=backend)
    args = make_inputs(name, "small", seed=2)
    floats = mod.function(fn).function.float_positions
    rng = np.random.default_rng(3)
    tangents = [rng.uniform(-1.0, 1.0, np.shape(args[k])) for k in floats]
    value, tangent = mod.jvp(fn)(*args, *[t if t.ndim else float(t) for t in tangents])
    assert value == mod.function(fn)(*args)
    want = float(flat(mod.grad(fn)(*args)) @ flat(tuple(tangents)))
    assert relative_error(tangent, want) <= 1e-12


def test_jvp_of_an_array_valued_function_matches_finite_differences():
    mod = compile_file("examples/ode.dp")
    x, s = make_inputs("ode", "small", seed=4)
    t = np.random.default_rng(5).uniform(-1.0, 1.0, x.shape)
    value, tangent = mod.jvp("ode", wrt="x")(x, s, t)
    np.testing.assert_array_equal(value, mod.ode(x, s))
    fd = directional_difference(mod.ode, [x, s], {0: t})
    assert np.max(relative_error(tangent, fd)) <= 1e-8


HVP_CASES = {  # example -> wrt, as names
    "lse": ("x",),
    "gmm": ("alphas", "means", "icf"),
    "mlp": ("w1", "b1", "w2", "b2"),
    "lstm": ("main_params",),
    "llsq": ("x",),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", list(HVP_CASES))
def test_hessian_vector_products_match_finite_differences_of_the_gradient(name, backend):
    file, fn, _ = EXAMPLES[name]
    mod = compile_file(f"examples/{file}", backend=backend)
    args = make_inputs(name, "small", seed=6)
    wrt = HVP_CASES[name]
    names = [p.name_hint for p in mod.function(fn).function.params]
    positions = [names.index(w) for w in wrt]
    rng = np.random.default_rng(7)
    vectors = [rng.uniform(-1.0, 1.0, np.shape(args[k])) for k in positions]
    got = flat(mod.hvp(fn, wrt=wrt)(*args, *vectors))
    gradient = mod.grad(fn, wrt=wrt)
    fd = directional_difference(lambda *a: flat(gradient(*a)), args, dict(zip(positions, vectors)))
    assert np.max(relative_error(got, fd)) <= 1e-6


@pytest.mark.parametrize("backend", BACKENDS)
def test_dense_hessian_of_lse_is_diag_softmax_minus_its_outer_product(backend):
    mod = compile_file("examples/lse.dp", backend=backend)
    x = np.array([0.3, -1.2, 2.0, 0.7, 0.0])
    s = np.exp(x - x.max()) / np.exp(x - x.max()).sum()
    np.testing.assert_allclose(mod.hessian("lse")(x), np.diag(s) - np.outer(s, s),
                               rtol=1e-12, atol=1e-15)


def test_a_dense_derivative_given_to_a_derivative_method_says_what_it_is():
    # mod.hessian and mod.jacobian put their blocks together in Python: no compiled
    # function to show or differentiate, and the message says so, not "not partial"
    mod = compile_file("examples/lse.dp")
    for made, of, shown in [(mod.hessian("lse"), "hessian", "hessian"),
                            (mod.jacobian("lse"), "jacobian", "jacfwd or jacrev")]:
        with pytest.raises(TypeError) as err:
            mod.ir(made)
        assert str(err.value) == (
            f"mod.ir() takes a compiled function, and mod.{of}('lse') is not one: its blocks "
            f"are put together in Python; its compiled part: dpc ir FILE --fn lse "
            f"--derivative {shown}")
    with pytest.raises(TypeError) as err:
        mod.grad(mod.hessian("lse"))
    assert str(err.value) == ("mod.grad() takes a compiled function, and mod.hessian('lse') is "
                              "not one: its blocks are put together in Python")


CUBIC = """\
def f(x: f64[n], w: f64) -> f64:
    s = 0.0
    for i in range(n):
        s += w * x[i] ** 3.0 + x[i] * x[(i + 1) % n]
    return s
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_dense_hessian_blocks_match_the_hand_derived_ones(backend):
    """f = sum w x_i^3 + x_i x_(i+1 mod n): H_xx = diag(6 w x) + the cyclic neighbour
    coupling, H_xw = 3 x^2, H_ww = 0."""
    mod = compile_source(CUBIC, backend=backend)
    x, w = np.array([0.5, -1.5, 2.0, 1.25]), 0.75
    (h_xx, h_xw), (h_wx, h_ww) = mod.hessian("f", wrt=("x", "w"))(x, w)
    n = len(x)
    coupling = np.zeros((n, n))
    for i in range(n):
        coupling[i, (i + 1) % n] += 1.0
        coupling[(i + 1) % n, i] += 1.0
    np.testing.assert_allclose(h_xx, np.diag(6 * w * x) + coupling, rtol=1e-14)
    np.testing.assert_allclose(h_xw, 3 * x ** 2, rtol=1e-14)
    np.testing.assert_allclose(h_wx, 3 * x ** 2, rtol=1e-14)
    assert h_ww == 0.0
    np.testing.assert_allclose(mod.hessian("f", wrt="x")(x, w), h_xx, rtol=1e-14)
    np.testing.assert_array_equal(mod.hessian("f", wrt="x")(w=w, x=x), h_xx)  # by keyword


ZERO_RESIDUALS = """\
def res(x: f64[n]) -> f64:
    r = x[0] + 2.0 * x[1] - 3.0
    return r * r

def product(x: f64[n]) -> f64:
    p = 1.0
    for i in range(n):
        p = p * x[i]
    return p

def res_along(x: f64[n], v: f64[n]) -> f64:
    return dot(grad(res)(x), v)

def res_hvp(x: f64[n], v: f64[n]) -> f64[n]:
    return grad(res_along, wrt=x)(x, v)

def masked(x: f64[n]) -> f64:
    return sum(where(x > 0.0, sqrt(x), 0.0))

def entropy(p: f64[n]) -> f64:
    return -sum(where(p == 0.0, 0.0, p * log(p)))

def own_guard(g: f64, d: f64) -> f64:
    return where(g == 0.0, 0.0, g * d)
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_second_derivatives_through_a_first_derivative_that_is_exactly_zero(backend):
    """At an exact fit (r = 0) the gradient of r^2 is 0, but its Hessian is 2 J^T J: the
    guard that makes a zero cotangent contribute 0 (`ct == 0 ? 0 : ct * d`) must still
    pass on its derivative d * dct. It did not: H of res was [[2, 4], [0, 0]] forward
    over reverse (the second column lost), H v was 0 reverse over reverse, and the
    Hessian of a product loop at [0, 0, 4] was not symmetric."""
    mod = compile_source(ZERO_RESIDUALS, backend=backend)
    x = np.array([1.0, 1.0])
    assert mod.hessian("res")(x).tolist() == [[2.0, 4.0], [4.0, 8.0]]
    assert [mod.res_hvp(x, v).tolist() for v in np.eye(2)] == [[2.0, 4.0], [4.0, 8.0]]
    assert mod.hvp("res")(x, np.array([0.0, 1.0])).tolist() == [4.0, 8.0]
    assert mod.hessian("product")(np.array([0.0, 0.0, 4.0])).tolist() == \
        [[0.0, 4.0, 0.0], [4.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
    # the masked-out branch still contributes nothing: sqrt's infinite slope at 0 stays out
    assert mod.hessian("masked")(np.array([0.0, 4.0])).tolist() == [[0.0, 0.0], [0.0, -0.03125]]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_program_s_own_guard_is_a_branch(backend):
    """Only AD's guards are read as products: a program's where(p == 0, 0, p * log(p))
    takes its branch at p = 0, gradient 0 there (it was inf while every such select was
    taken for a guard), whichever way the product is written."""
    mod = compile_source(ZERO_RESIDUALS, backend=backend)
    p = np.array([0.0, 0.5, 0.5])
    np.testing.assert_array_equal(mod.grad("entropy")(p), [0.0, -np.log(0.5) - 1.0,
                                                           -np.log(0.5) - 1.0])
    assert mod.grad("own_guard")(0.0, 3.0) == (0.0, 0.0)
    assert mod.grad("own_guard")(2.0, 3.0) == (3.0, 2.0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_where_a_zero_derivative_meets_an_infinite_one_each_mode_guards_its_own_flow(backend):
    """The README's one exception to jvp = gradient . tangent: in sqrt(x * x) at 0, forward
    mode's tangent of x * x is 0 and its guard makes 0 * inf zero; reverse mode's cotangent
    reaching x * x is inf and inf * x is NaN (JAX: NaN both). A Jacobian follows its mode."""
    mod = compile_source("def f(x: f64) -> f64:\n    return sqrt(x * x)\n\n"
                         "def g(x: f64[n]) -> f64:\n    return sqrt(sum(x * x))\n",
                         backend=backend)
    assert np.isnan(mod.grad("f")(0.0))
    assert mod.jvp("f")(0.0, 1.0) == (0.0, 0.0)
    assert np.isnan(mod.grad("g")(np.zeros(2))).all()
    assert mod.jvp("g")(np.zeros(2), np.ones(2)) == (0.0, 0.0)
    assert mod.jacobian("g")(np.zeros(1)).tolist() == [0.0]  # one input: forward mode
    assert mod.grad("f")(-2.0) == -1.0 and mod.jvp("f")(-2.0, 1.0) == (2.0, -1.0)


MATRIX = """\
def f(a: f64[m, k], w: f64) -> f64:
    return sum(exp(a * w)) + w * max(a) * prod(a)
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_dense_hessian_is_its_hessian_vector_products_with_unit_vectors(backend):
    """One call computes every row: the row of each input element (block [a][b] at
    that element of a) is the hvp of its unit vector, bit for bit, second derivatives
    being symmetric (d/da of df/db); rows, so that no transpose copies them."""
    mod = compile_source(MATRIX, backend=backend)
    a, w = np.array([[0.5, -0.25, 1.0], [0.75, 2.0, -1.5]]), 0.5
    (h_aa, h_aw), (h_wa, h_ww) = mod.hessian("f")(a, w)
    assert h_aa.shape == (2, 3, 2, 3) and h_aw.shape == (2, 3) and h_wa.shape == (2, 3)
    hvp = mod.hvp("f")
    for j in np.ndindex(2, 3):
        unit = np.zeros((2, 3))
        unit[j] = 1.0
        row_a, row_w = hvp(a, w, unit, 0.0)
        np.testing.assert_array_equal(h_aa[j], row_a)
        assert h_aw[j] == row_w
    row_a, row_w = hvp(a, w, np.zeros((2, 3)), 1.0)
    np.testing.assert_array_equal(h_wa, row_a)
    assert h_ww == row_w
    fd = np.array([[(mod.grad("f", wrt="a")(a + 1e-6 * e, w) - mod.grad("f", wrt="a")(
        a - 1e-6 * e, w)) / 2e-6 for e in np.eye(6)[r].reshape(1, 2, 3)] for r in range(6)])
    np.testing.assert_allclose(h_aa.reshape(6, 6), fd.reshape(6, 6), rtol=1e-6, atol=1e-8)


def test_a_large_dense_hessian_is_the_native_buffer_uncopied():
    # 100 x 100 doubles (80 kB): NumPy takes the buffer native code filled, as it takes
    # any large result; a transpose into columns copied all of it
    mod = compile_file("examples/lse.dp")
    x = np.linspace(-1.0, 1.0, 100)
    h = mod.hessian("lse")(x)
    assert type(h.base).__name__ == "ResultBuffer" and h.flags.c_contiguous
    p = np.exp(x - x.max()) / np.exp(x - x.max()).sum()
    np.testing.assert_allclose(h, np.diag(p) - np.outer(p, p), rtol=1e-12, atol=1e-17)


def test_a_dense_hessian_computes_what_its_columns_share_once():
    """lse's: the max, the exps and their sum are before the loop over the columns
    (LICM, under the guard that the loop runs), not in it."""
    mod = compile_file("examples/lse.dp")
    text = mod.ir(mod._derivative("hessian", "lse", None), stage="opt")
    before, loop = text.split("= for ")
    assert [op in before for op in ("reduce_max", "exp", "reduce_sum")] == [True] * 3
    assert [op in loop for op in ("reduce_max", "exp")] == [False] * 2
    x = np.array([0.3, -1.2, 2.0])
    assert mod.hessian("lse")(x).shape == (3, 3)
    with pytest.raises(ValueError, match=r"^max\(\) of an empty"):  # as lse itself
        mod.hessian("lse")(np.zeros(0))


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_hessian_of_prod_at_two_and_three_zeros(backend):
    """d2/dx_i dx_k prod(x) is the product of the others, also where they are zeros."""
    mod = compile_source("def p(x: f64[n]) -> f64:\n    return prod(x)\n", backend=backend)
    for x in ([0.0, 0.0, 4.0], [0.0, 2.0, 4.0], [0.0, 0.0, 0.0, 3.0], [1.5, 2.0, 3.0]):
        x = np.array(x)
        expected = np.array([[0.0 if i == k else np.prod(np.delete(x, [i, k]))
                              for k in range(len(x))] for i in range(len(x))])
        np.testing.assert_array_equal(mod.hessian("p")(x), expected)


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_hessian_of_a_prod_generator_at_two_zeros_is_that_of_prod(backend):
    """A `prod(... for ...)` generator's reverse rule had no term for a second zero: its
    Hessian at [0, 0, 4] was 0, not 4 off the diagonal."""
    mod = compile_source("def p(x: f64[n]) -> f64:\n    return prod(x[i] for i in range(n))\n"
                         "def q(x: f64[n]) -> f64:\n    return prod(x)\n", backend=backend)
    for x in ([0.0, 0.0, 4.0], [0.0, 2.0, 4.0], [0.0, 0.0, 0.0, 3.0], [1.5, 2.0, 3.0]):
        x = np.array(x)
        np.testing.assert_array_equal(mod.hessian("p")(x), mod.hessian("q")(x))
        np.testing.assert_array_equal(mod.grad("p")(x), mod.grad("q")(x))
    assert mod.hessian("p")(np.array([0.0, 0.0, 4.0]))[0].tolist() == [0.0, 4.0, 0.0]


JACOBIANS = """\
def wave(x: f64[n], w: f64) -> f64[n]:
    return sin(x) * w

def pair(x: f64[n], w: f64) -> (f64[2, 2], f64):
    m = [[x[0] * w, x[1]], [w, x[0] * x[1]]]
    return m, sum(x) * w

def count(x: f64) -> i64:
    return int(x)

def shrink(x: f64[n]) -> f64:
    y = x
    for k in range(n - 1):
        y = [y[j] * y[j + 1] for j in range(len(y) - 1)]
    return y[0]
"""


def modes_compiled(mod) -> set:
    return {key[0] for key in mod._derived}


@pytest.mark.parametrize("backend", BACKENDS)
def test_dense_jacobians_in_the_mode_that_runs_fewer_times(backend):
    x, w = np.array([0.1, 0.2, 0.3]), 2.0
    mod = compile_source(JACOBIANS, name="j.dp", backend=backend)
    d_x, d_w = mod.jacobian("wave")(x, w)  # 4 inputs, 3 outputs: a vjp per output
    np.testing.assert_allclose(d_x, np.diag(np.cos(x) * w), rtol=1e-15)
    np.testing.assert_allclose(d_w, np.sin(x), rtol=1e-15)
    assert modes_compiled(mod) == {"jacrev"}
    mod = compile_source(JACOBIANS, name="j.dp", backend=backend)
    np.testing.assert_allclose(mod.jacobian(mod.wave, wrt="x")(x, w), np.diag(np.cos(x) * w),
                               rtol=1e-15)  # 3 inputs, 3 outputs: a jvp per input
    assert modes_compiled(mod) == {"jacfwd"}
    x = np.array([0.5, -1.5])
    (m_x, m_w), (s_x, s_w) = mod.jacobian("pair")(x, w)  # blocks: result shape + input shape
    np.testing.assert_array_equal(m_x, [[[w, 0.0], [0.0, 1.0]], [[0.0, 0.0], [x[1], x[0]]]])
    np.testing.assert_array_equal(m_w, [[x[0], 0.0], [1.0, 0.0]])
    np.testing.assert_array_equal(s_x, [w, w])
    assert s_w == x.sum()
    assert mod.jacobian("pair")(x, w=w)[1][0].tolist() == [w, w]  # by keyword
    with pytest.raises(ValueError) as err:  # was an IndexError from inside the jacobian
        mod.jacobian("wave")("abc", w)
    assert str(err.value) == "argument x must be f64[n], got str 'abc'"
    # the error alone: not chained to the KeyError of the sizes the jacobian first tried
    assert err.value.__context__ is None
    with pytest.raises(ValueError) as err:
        mod.jacobian("count")
    assert str(err.value) == "jacobian(count): result 0 is i64; a Jacobian needs f64 results"


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_jacobian_in_the_mode_asked_for(backend):
    mod = compile_source(JACOBIANS, name="j.dp", backend=backend)
    x, w = np.array([0.1, 0.2, 0.3]), 2.0
    for mode in ("forward", "reverse"):  # 4 inputs, 3 outputs: either way, same numbers
        d_x, d_w = mod.jacobian("wave", mode=mode)(x, w)
        np.testing.assert_allclose(d_x, np.diag(np.cos(x) * w), rtol=1e-15)
        np.testing.assert_allclose(d_w, np.sin(x), rtol=1e-15)
    assert modes_compiled(mod) == {"jacfwd", "jacrev"}
    # y shrinks by one element per iteration, so reverse mode has no tape for it; forward
    # mode gives a b^2 c's gradient, and so does "auto", which tries reverse first (3
    # inputs, 1 output): it raised reverse mode's error, a mode the user never asked for
    a, b, c = 1.5, -2.0, 0.5
    gradient = [b * b * c, 2 * a * b * c, a * b * b]
    assert mod.jacobian("shrink", mode="forward")([a, b, c]).tolist() == gradient
    assert mod.jacobian("shrink")([a, b, c]).tolist() == gradient
    with pytest.raises(ShapeErrorDP) as err:
        mod.jacobian("shrink", mode="reverse")([a, b, c])
    assert str(err.value) == ("reverse mode cannot differentiate a loop whose carried array "
                              "changes size: 'y' did: size 2 is not 3 (at j.dp:13:5)")
    with pytest.raises(ValueError) as err:
        mod.jacobian("wave", mode="fwd")
    assert str(err.value) == "jacobian mode must be 'auto', 'forward' or 'reverse', not 'fwd'"


def test_the_last_row_of_ode_s_jacobian_is_the_gradient_of_its_last_element():
    mod = compile_file("examples/ode.dp")
    x = 1.0 + np.random.default_rng(3).random(6)
    jacobian = mod.jacobian("ode", wrt="x")(x, 9)
    assert jacobian.shape == (6, 6) and np.all(np.triu(jacobian, 1) == 0.0)  # y_i needs x_0..x_i
    np.testing.assert_allclose(jacobian[-1], mod.grad("ode_last")(x, 9), rtol=1e-13)


NESTING = """\
def f(x: f64, y: f64) -> f64:
    return x ** 3.0 * y ** 2.0 + sin(x * y)

def dfdx(x: f64, y: f64) -> f64:
    return grad(f, wrt=x)(x, y)

def dfdx_fwd(x: f64, y: f64) -> f64:
    v, t = jvp(f, wrt=x)(x, y, 1.0)
    return t

# second derivatives d2f/dx2, four ways
def rr(x: f64, y: f64) -> f64:
    return grad(dfdx, wrt=x)(x, y)

def fr(x: f64, y: f64) -> f64:
    v, t = jvp(dfdx, wrt=x)(x, y, 1.0)
    return t

def rf(x: f64, y: f64) -> f64:
    return grad(dfdx_fwd, wrt=x)(x, y)

def ff(x: f64, y: f64) -> f64:
    v, t = jvp(dfdx_fwd, wrt=x)(x, y, 1.0)
    return t

# the mixed derivative d2f/dxdy, through a function that calls grad
def mixed(x: f64, y: f64) -> f64:
    return grad(dfdx, wrt=y)(x, y)

# third derivatives d3f/dx3, mixing the modes at every level
def fff(x: f64, y: f64) -> f64:
    v, t = jvp(ff, wrt=x)(x, y, 1.0)
    return t

def rfr(x: f64, y: f64) -> f64:
    return grad(fr, wrt=x)(x, y)

def frf(x: f64, y: f64) -> f64:
    v, t = jvp(rf, wrt=x)(x, y, 1.0)
    return t

def rrr(x: f64, y: f64) -> f64:
    return grad(grad(dfdx, wrt=x), wrt=x)(x, y)
"""


def nesting_expected(x, y):
    c, s = np.cos(x * y), np.sin(x * y)
    second = 6 * x * y ** 2 - y ** 2 * s
    mixed = 6 * x ** 2 * y + c - x * y * s
    third = 6 * y ** 2 - y ** 3 * c
    return second, mixed, third


@pytest.mark.parametrize("backend", BACKENDS)
def test_grad_and_jvp_nest_in_every_combination_to_depth_three(backend):
    mod = compile_source(NESTING, name="nesting.dp", backend=backend)
    x, y = 0.7, -1.3
    second, mixed, third = nesting_expected(x, y)
    for fn in ("rr", "fr", "rf", "ff"):
        assert relative_error(mod.run(fn, x, y), second) <= 1e-14, fn
    assert relative_error(mod.mixed(x, y), mixed) <= 1e-14
    for fn in ("fff", "rfr", "frf", "rrr"):
        assert relative_error(mod.run(fn, x, y), third) <= 1e-14, fn



@pytest.mark.parametrize("backend", BACKENDS)
def test_python_derivatives_take_compiled_functions_and_nest(backend):
    """mod.grad, jvp, vjp, hvp and hessian take a compiled function, a derived one
    included, as JAX's transformations take functions: the nestings above, in Python."""
    mod = compile_source(NESTING, name="nesting.dp", backend=backend)
    x, y = 0.7, -1.3
    second, mixed, third = nesting_expected(x, y)
    dfdx = mod.grad(mod.f, wrt="x")
    dfdx_fwd = mod.jvp(mod.f, wrt="x")  # (x, y, dx) -> (f, df)
    seconds = [mod.grad(dfdx, wrt="x")(x, y), mod.jvp(dfdx, wrt="x")(x, y, 1.0)[1],
               mod.vjp(dfdx, wrt="x")(x, y, 1.0), mod.hvp(mod.f, wrt="x")(x, y, 1.0),
               mod.hessian(mod.f, wrt="x")(x, y), mod.jvp(dfdx_fwd, wrt="x")(x, y, 1.0, 1.0)[3]]
    for got in seconds:
        assert relative_error(got, second) <= 1e-14
    assert relative_error(mod.grad(dfdx, wrt="y")(x, y), mixed) <= 1e-14
    assert relative_error(mod.grad(mod.grad(dfdx, wrt="x"), wrt="x")(x, y), third) <= 1e-14


def test_python_derivatives_refuse_what_is_not_a_function():
    mod = compile_source(NESTING, name="nesting.dp", backend="interp")
    with pytest.raises(TypeError) as err:
        mod.grad(3.0)
    assert str(err.value) == (
        "mod.grad() takes a function: its name, or a compiled function such as mod.f or "
        "mod.grad('f'), not float (a function of the module called 'grad' is "
        "mod.function('grad'))")


LOOPY = """\
def energy(x: f64[n]) -> f64:
    e = 0.0
    for i in range(n - 1):
        d = x[i + 1] - x[i]
        if d > 0.0:
            e += d * d * d
        else:
            e += exp(d)
    k = 0
    while k < n:
        e += log1p(x[k] * x[k])
        k += 2
    return e + max(x) * sum(sin(x[i]) for i in range(n))

def g(x: f64[n]) -> f64[n]:
    return grad(energy)(x)

def g_fwd(x: f64[n], v: f64[n]) -> f64:
    e, t = jvp(energy)(x, v)
    return t

def hv_fr(x: f64[n], v: f64[n]) -> f64[n]:
    d, t = jvp(g)(x, v)
    return t

def hv_rf(x: f64[n], v: f64[n]) -> f64[n]:
    return grad(g_fwd, wrt=x)(x, v)
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_hessian_vector_products_through_loops_branches_and_reductions_agree(backend):
    mod = compile_source(LOOPY, name="loopy.dp", backend=backend)
    x = np.array([0.3, 1.1, 0.4, -0.6, 1.7, 1.2])
    v = np.random.default_rng(8).uniform(-1.0, 1.0, x.shape)
    fd = directional_difference(mod.g, [x], {0: v})
    for got in (mod.hv_fr(x, v), mod.hv_rf(x, v), mod.hvp("energy")(x, v)):
        assert np.max(relative_error(got, fd)) <= 1e-7


@pytest.mark.parametrize("backend", BACKENDS)
def test_kmeans_newton_direction_is_centroid_minus_cluster_mean(backend):
    mod = compile_file("examples/kmeans.dp", backend=backend)
    points, centroids = make_inputs("kmeans", "small", seed=0)
    nearest = np.argmin(((points[:, None, :] - centroids[None]) ** 2).sum(-1), axis=1)
    want = np.array([c - points[nearest == j].mean(axis=0) for j, c in enumerate(centroids)])
    np.testing.assert_allclose(mod.kmeans_dir(points, centroids), want, rtol=1e-12, atol=1e-14)


RULES = """\
def snap(x: f64) -> f64:
    return floor(x)

# straight-through rules: the derivative of snap is taken to be 1, where the body's is 0
@derivative(snap)
def snap_vjp(x: f64, ct: f64) -> f64:
    return ct

@tangent(snap)
def snap_jvp(x: f64, t: f64) -> f64:
    return t

def softplus(x: f64) -> f64:
    return log1p(exp(x))

# only a reverse rule: forward mode differentiates the body
@derivative(softplus)
def softplus_vjp(x: f64, ct: f64) -> f64:
    return ct * sigmoid(x)

def loss(x: f64) -> f64:
    return snap(3.0 * x) * x + softplus(x)

def by_grad(x: f64) -> f64:
    return grad(loss)(x)

def by_jvp(x: f64) -> f64:
    v, t = jvp(loss)(x, 1.0)
    return t
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_custom_rules_give_their_derivatives_in_both_modes(backend):
    mod = compile_source(RULES, name="rules.dp", backend=backend)
    x = 0.45
    sigmoid = 1 / (1 + np.exp(-x))
    want = 3.0 * x + np.floor(3.0 * x) + sigmoid  # snap' = 1 by the rules
    assert relative_error(mod.by_grad(x), want) <= 1e-15
    assert relative_error(mod.by_jvp(x), want) <= 1e-15


OPEN_SIZED_TANGENTS = """
def double(x: f64[n]) -> f64[n]:
    return x * 2.0

@tangent(double)
def double_jvp(x: f64[n], t: f64[n]) -> f64[?]:
    return [t[i] * 2.0 for i in range(min(len(t), 3))]

def first(x: f64[n], t: f64) -> f64[?]:
    return [x[i] * t for i in range(int(t))]

@tangent(first)
def first_jvp(x: f64[n], t: f64, tx: f64[n], tt: f64) -> f64[?]:
    return [tx[i] * t + x[i] * tt for i in range(min(int(t), 2))]

def pair(x: f64[n]) -> (f64, f64[?, n]):
    return sum(x), [x for i in range(2)]

@tangent(pair)
def pair_jvp(x: f64[n], t: f64[n]) -> (f64, f64[?, n]):
    return sum(t), [t for i in range(3)]
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_tangent_rule_s_result_is_checked_against_the_result_s_size(backend):
    # a result f64[?] for f64[n] was a VerifyError traceback at compile time; for a
    # result of size ?, a tangent of another size was returned without an error
    mod = compile_source(OPEN_SIZED_TANGENTS, name="tan.dp", backend=backend)
    x, t = np.array([1.0, 2.0]), np.array([1.0, -1.0])
    value, tangent = mod.jvp("double")(x, t)
    assert value.tolist() == [2.0, 4.0] and tangent.tolist() == [2.0, -2.0]
    with pytest.raises(ShapeErrorDP, match=r"^expected f64\[n\]: axis 0 has size 3, not n = 4 "
                                           r"\(at tan.dp:7:5\)$"):
        mod.jvp("double")(np.ones(4), np.ones(4))
    x = np.array([1.0, 2.0, 3.0])
    value, tangent = mod.jvp("first")(x, 2.0, np.ones(3), 1.0)
    assert value.tolist() == [2.0, 4.0] and tangent.tolist() == [3.0, 4.0]
    with pytest.raises(ShapeErrorDP, match=r"^the tangent first_jvp returns for first's result: "
                                           r"size 2 is not 3 \(at tan.dp:14:5\)$"):
        mod.jvp("first")(x, 3.0, np.ones(3), 1.0)
    with pytest.raises(ShapeErrorDP, match=r"^the tangent first_jvp returns for first's result: "
                                           r"size 2 is not 3 \(at tan.dp:14:5\)$"):
        mod.jacobian("first", mode="forward")(x, 3.0)
    with pytest.raises(ShapeErrorDP, match=r"^axis 0 of the tangent pair_jvp returns for pair's "
                                           r"result 2 of 2: size 3 is not 2 \(at tan.dp:21:5\)$"):
        mod.jvp("pair")(x, x)


def test_dumped_ir_shows_where_custom_rules_are_used():
    mod = compile_source(RULES, name="rules.dp", backend="interp")
    forward = mod.ir("by_jvp", stage="ad")
    assert "func @snap.fwd(%x: f64, %t_x: f64) -> (f64, f64) {\n" \
           "  %0 = call %x {callee = @snap} : f64\n" \
           "  %1 = call %x, %t_x {callee = @snap_jvp} : f64\n" \
           "  return %0, %1\n}\n" in forward
    assert "callee = @softplus.fwd}" in forward and "@softplus_vjp" not in forward
    reverse = mod.ir("by_grad", stage="ad")
    assert "{callee = @snap_vjp}" in reverse and "{callee = @softplus_vjp}" in reverse
    assert "@snap_jvp" not in reverse
