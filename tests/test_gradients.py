"""Reverse mode on the examples and on the cases LANGUAGE.md and the docs promise: each
gradient against central finite differences of the primal (relative error at most 1e-6,
error measured as |ad - fd| / max(1, |ad| + |fd|)) on both backends; GMM and LSTM also
against gradients derived by hand (tests/reference_grad.py)."""

from pathlib import Path

import numpy as np
import pytest

from compiler import compile_file, compile_source
from ir import ShapeErrorDP
from numdiff import central_differences, relative_error
from reference import EXAMPLES, make_inputs
from reference_grad import gmm_gradient, lstm_gradient

BACKENDS = ["interp", "native"]
# the function each example differentiates: GradBench's ode eval takes the last element
DIFFERENTIATED = {"ode": "ode_last"}


def finite_differences(f, args, k, samples, rng):
    """Central differences of f with respect to args[k] at `samples` random elements
    (all of them for small arrays): (flat positions, estimates)."""
    size = np.size(args[k])
    positions = np.arange(size) if size <= samples else rng.choice(size, samples, replace=False)
    return positions, central_differences(f, args, k, positions)


def check_against_finite_differences(f, grad, args, positions, samples=25, seed=0):
    grads = grad(*args)
    grads = grads if isinstance(grads, tuple) else (grads,)
    rng = np.random.default_rng(seed)
    worst = 0.0
    for k, g in zip(positions, grads):
        assert np.shape(g) == np.shape(args[k])
        at, fd = finite_differences(f, args, k, samples, rng)
        worst = max(worst, float(np.max(relative_error(np.reshape(g, -1)[at], fd))))
    assert worst <= 1e-6
    return worst


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", list(EXAMPLES))
def test_example_gradient_matches_finite_differences(name, backend):
    file, fn, _ = EXAMPLES[name]
    fn = DIFFERENTIATED.get(name, fn)
    mod = compile_file(f"examples/{file}", backend=backend)
    args = make_inputs(name, "small", seed=1)
    f = mod.function(fn)
    floats = [k for k, t in enumerate(f.function.param_types) if t.elem.name == "f64"]
    check_against_finite_differences(f, mod.grad(fn), args, floats)


@pytest.mark.parametrize("backend", BACKENDS)
def test_gmm_gradient_matches_the_hand_derived_one(backend):
    mod = compile_file("examples/gmm.dp", backend=backend)
    for seed in (0, 1):
        args = make_inputs("gmm", "small", seed)
        got = mod.grad("gmm", wrt=("alphas", "means", "icf"))(*args)
        for g, e in zip(got, gmm_gradient(*args)):
            np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("backend", BACKENDS)
def test_lstm_gradient_matches_the_hand_derived_one(backend):
    mod = compile_file("examples/lstm.dp", backend=backend)
    for seed in (0, 1):
        args = make_inputs("lstm", "small", seed)
        got = mod.grad("lstm", wrt=("main_params", "extra_params"))(*args)
        for g, e in zip(got, lstm_gradient(*args)):
            np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_ode_gradient_matches_the_one_written_by_hand_in_dp(backend):
    """benchmarks/ode_grad.dp, the gather form the benchmark times beside dpc's gradient."""
    by_hand = compile_file("benchmarks/ode_grad.dp", backend=backend).ode_last_grad
    grad = compile_file("examples/ode.dp", backend=backend).grad("ode_last")
    x = 1.0 + np.random.default_rng(1).random(37)  # the gradient does not underflow
    np.testing.assert_allclose(by_hand(x, 13), grad(x, 13), rtol=1e-13, atol=0)


def test_large_gmm_and_lstm_gradients_match_the_hand_derived_ones():
    checks = {"gmm": (("alphas", "means", "icf"), gmm_gradient),
              "lstm": (("main_params", "extra_params"), lstm_gradient)}
    for name, (wrt, by_hand) in checks.items():
        file, fn, _ = EXAMPLES[name]
        args = make_inputs(name, "large", seed=2)
        got = compile_file(f"examples/{file}").grad(fn, wrt=wrt)(*args)
        for g, e in zip(got, by_hand(*args)):
            np.testing.assert_allclose(g, e, rtol=1e-9, atol=1e-9)


# ----------------------------------------------------------------------------- conventions

WHERE_SQRT = """
def f(x: f64) -> f64:
    return where(x > 0.0, sqrt(x), 0.0)

def g(x: f64[n]) -> f64:
    return sum(where(x > 0.0, sqrt(x), 0.0))

def h(x: f64) -> f64:
    return where(x > 0.0, log(x) * x, 0.0)

def relu(x: f64) -> f64:
    return max(x, 0.0)

def absolute(x: f64) -> f64:
    return abs(x)

def first_max(x: f64[n]) -> f64:
    return max(x)
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_masked_out_infinite_derivatives_contribute_nothing(backend):
    """JAX gives NaN for grad of where(x > 0, sqrt(x), 0) at 0 (0 * inf); dpc gives 0."""
    mod = compile_source(WHERE_SQRT, name="where.dp", backend=backend)
    assert mod.grad("f")(0.0) == 0.0
    assert mod.grad("f")(4.0) == 0.25
    np.testing.assert_array_equal(mod.grad("g")(np.array([0.0, 4.0, -1.0])), [0.0, 0.25, 0.0])
    assert mod.grad("h")(0.0) == 0.0


NAN_SAFE = """
def periodic(x: f64) -> f64:
    return where(abs(x) < 1e300, sin(x) + cos(x), 0.0)

def nan_safe(x: f64[n]) -> f64:
    return sum(where(x == x, tanh(x) + sigmoid(x) + abs(x), 0.0))
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_masked_out_nan_derivatives_contribute_nothing(backend):
    """cos(inf), and tanh', sigmoid' and abs' at NaN, are NaN: multiplied by the masked-out
    cotangent 0 unguarded, they made these gradients NaN; forward mode gave 0."""
    mod = compile_source(NAN_SAFE, name="nan_safe.dp", backend=backend)
    assert [mod.grad("periodic")(x) for x in (np.inf, -np.inf, 0.0)] == [0.0, 0.0, 1.0]
    assert mod.jvp("periodic")(np.inf, 1.0) == (0.0, 0.0)
    g = mod.grad("nan_safe")(np.array([np.nan, 0.0, -2.0]))
    np.testing.assert_allclose(g, [0.0, 1.25, -0.824355589743329], rtol=1e-8)


UNGUARDED_PRODUCT = """
def first(x: f64[2], b: f64[2, 2]) -> f64:
    y = x @ b
    return y[0]
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_matrix_products_are_not_zero_guarded(backend):
    """The exception the README states: the cotangent of (x @ b)[0] is [1, 0], and the
    product b @ [1, 0] meets 0 * inf, which is NaN, as in JAX."""
    mod = compile_source(UNGUARDED_PRODUCT, name="product.dp", backend=backend)
    b = np.array([[1.0, np.inf], [3.0, 4.0]])
    np.testing.assert_array_equal(mod.grad("first", wrt="x")(np.array([1.0, 2.0]), b), [np.nan, 3.0])

@pytest.mark.parametrize("backend", BACKENDS)
def test_non_differentiable_points_follow_the_language_conventions(backend):
    mod = compile_source(WHERE_SQRT, name="where.dp", backend=backend)
    assert mod.grad("absolute")(0.0) == 0.0
    assert mod.grad("relu")(0.0) == 1.0  # a tie sends the gradient to the first argument
    np.testing.assert_array_equal(mod.grad("first_max")(np.array([1.0, 3.0, 3.0])), [0, 1, 0])
    # a NaN is the max (max propagates it), and the first NaN gets the gradient: no element
    # equals NaN, and the position past the end was read (garbage in native code)
    x = np.array([1.0, np.nan, 3.0, np.nan])
    np.testing.assert_array_equal(mod.grad("first_max")(x), [0, 1, 0, 0])
    value, tangent = mod.jvp("first_max")(x, np.array([1.0, 2.0, 3.0, 4.0]))
    assert np.isnan(value) and tangent == 2.0
    np.testing.assert_array_equal(mod.hessian("first_max")(x), np.zeros((4, 4)))


GENERATOR_EXTREMES = """
def top(x: f64[n]) -> f64:
    return max(2.0 * x[i] for i in range(n))

def bottom(x: f64[n]) -> f64:
    return min(x[i] for i in range(n))

def top_row(x: f64[m, k]) -> f64:
    return sum(max(x[i] for i in range(m)))
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_generator_extremes_send_the_gradient_to_the_first_nan(backend):
    """As max(x) of an array does: the extreme is NaN, which nothing equals; the first NaN
    won. Before, the reverse and forward sweeps of a generator's max compared with ==
    only, and every element got 0."""
    mod = compile_source(GENERATOR_EXTREMES, name="extremes.dp", backend=backend)
    x = np.array([1.0, np.nan, 3.0, np.nan])
    np.testing.assert_array_equal(mod.grad("top")(x), [0, 2, 0, 0])
    np.testing.assert_array_equal(mod.grad("bottom")(x), [0, 1, 0, 0])
    assert mod.jvp("top")(x, np.array([1.0, 2.0, 3.0, 4.0]))[1] == 4.0
    np.testing.assert_array_equal(mod.grad("top")(np.array([1.0, 5.0, 3.0, 5.0])), [0, 2, 0, 0])
    rows = np.array([[1.0, np.nan], [np.nan, 2.0], [3.0, np.nan]])
    np.testing.assert_array_equal(mod.grad("top_row")(rows), [[0, 1], [1, 0], [0, 0]])
    assert mod.jvp("top_row")(rows, np.arange(6.0).reshape(3, 2))[1] == 3.0


PAIRWISE = """
def folded_max(x: f64[n]) -> f64:
    m = x[0]
    for i in range(1, len(x)):
        m = max(m, x[i])
    return m

def max3(a: f64, b: f64, c: f64) -> f64:
    return max(a, b, c)

def min2(a: f64, b: f64) -> f64:
    return min(a, b)
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_nan_operand_of_max_and_min_gets_the_gradient_as_in_a_reduction(backend):
    # max(a, b) propagates a NaN, so the NaN won, as in max(x): folding max over x's
    # elements gives max(x)'s gradient, not one to an element the NaN beat
    mod = compile_source(PAIRWISE, name="pairwise.dp", backend=backend)
    x = np.array([1.0, np.nan, 3.0, np.nan])
    np.testing.assert_array_equal(mod.grad("folded_max")(x), [0, 1, 0, 0])
    assert mod.grad("max3")(np.nan, 1.0, 2.0) == (1.0, 0.0, 0.0)
    assert mod.grad("max3")(1.0, 2.0, np.nan) == (0.0, 0.0, 1.0)
    assert mod.grad("min2")(np.nan, 1.0) == (1.0, 0.0)
    assert mod.grad("min2")(1.0, np.nan) == (0.0, 1.0)
    assert mod.grad("min2")(np.nan, np.nan) == (1.0, 0.0)
    value, tangent = mod.jvp("min2")(np.nan, 1.0, 2.0, 3.0)
    assert np.isnan(value) and tangent == 2.0


POLYNOMIAL = """
def poly(c: f64[n], x: f64) -> f64:
    return sum(c[k] * x ** k for k in range(n))

def const_power(x: f64) -> f64:
    return x ** 0.0

def power(x: f64, y: f64) -> f64:
    return x ** y
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_zeroth_power_has_derivative_zero_everywhere(backend):
    """x ** 0 is 1 for every x, so its derivative is 0, also at x = 0, where the rule
    y x^(y-1) reads 0 * inf: a polynomial's derivative at 0 was NaN in both modes (JAX
    gives 0 too). The derivative of x ** y in y is log(x), and d2/dx dy is 1 / x."""
    mod = compile_source(POLYNOMIAL, name="poly.dp", backend=backend)
    c = np.array([1.0, 2.0, 3.0])
    assert mod.grad("poly", wrt="x")(c, 0.0) == 2.0
    assert mod.jvp("poly", wrt="x")(c, 0.0, 1.0) == (1.0, 2.0)
    assert mod.hessian("poly", wrt="x")(c, 0.0) == 6.0
    assert mod.grad("const_power")(0.0) == 0.0
    assert mod.jvp("const_power")(0.0, 1.0) == (1.0, 0.0)
    assert mod.grad("power")(0.0, 0.0) == (0.0, 0.0)
    assert mod.grad("power")(2.0, 0.0) == (0.0, np.log(2.0))
    assert mod.hessian("power")(2.0, 0.0) == ((0.0, 0.5), (0.5, np.log(2.0) ** 2))


DATA_SIZED_RULE = """
def f(x: f64[n]) -> f64:
    return sum(x * x)

@derivative(f)
def f_vjp(x: f64[m], ct: f64) -> f64[?]:
    return [2.0 * x[i] * ct for i in range(min(m, 3))]
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_rule_s_result_of_data_dependent_size_is_checked(backend):
    # it was a VerifyError at compile time; a wrong size would be read past its end
    mod = compile_source(DATA_SIZED_RULE, name="r.dp", backend=backend)
    np.testing.assert_array_equal(mod.grad("f")(np.array([1.0, 2.0])), [2.0, 4.0])
    with pytest.raises(ValueError, match=r"^expected f64\[n\].* \(at r.dp:7:5\)$"):
        mod.grad("f")(np.ones(4))


ONE_TRIP_INNER_LOOP = """
def f(z: f64[n]) -> f64:
    y = z
    for i in range(3):
        for j in range(1):
            y = tanh(y)
    return sum(y)
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_inner_loop_of_one_trip_keeps_its_tapes(backend):
    # the tapes kept for the inner loop were typed f64[3, 1, n], its rows f64[?, n]:
    # compiling the gradient raised a TypeRuleError traceback
    mod = compile_source(ONE_TRIP_INNER_LOOP, name="one.dp", backend=backend)
    z = np.array([1.0, 2.0])
    t1 = np.tanh(z)
    t2 = np.tanh(t1)
    want = (1 - np.tanh(t2) ** 2) * (1 - t2 ** 2) * (1 - t1 ** 2)
    np.testing.assert_allclose(mod.grad("f")(z), want, rtol=1e-14)
    np.testing.assert_allclose(mod.grad("f")(z), [0.16770685876939023, 0.018781658980725008],
                               rtol=1e-14)  # JAX's


OPEN_SIZED_PARAMETER = """
def g(x: f64[?]) -> f64:
    return sum(x * x)

@derivative(g)
def g_vjp(x: f64[?], ct: f64) -> f64[?]:
    return [2.0 * x[i] * ct for i in range(min(len(x), 3))]
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_rule_s_cotangent_for_a_parameter_of_open_size_is_checked(backend):
    # the types f64[?] agree, so nothing was checked: a gradient of 3 for an x of 4
    mod = compile_source(OPEN_SIZED_PARAMETER, name="open.dp", backend=backend)
    assert mod.grad("g")(np.array([1.0, 2.0])).tolist() == [2.0, 4.0]
    with pytest.raises(ShapeErrorDP, match=r"^the cotangent g_vjp returns for x: size 3 is not "
                                           r"4 \(at open.dp:7:5\)$"):
        mod.grad("g")(np.ones(4))


LITERAL_SIZES = """
def h(a: f64[3]) -> f64:
    return a[2] * a[0]

def c2(x: f64[n]) -> f64:
    return h(x)

def h3(a: f64[3], b: f64[2, 3]) -> f64[3]:
    return a * b[1]

def c3(x: f64[n], y: f64[m, n]) -> f64:
    return sum(h3(x, y)) * x[0]
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_array_of_named_size_passed_where_a_literal_size_is_due(backend):
    # compiling the gradient raised a TypeRuleError (a traceback): h's cotangent, f64[3],
    # could not be cast to x's type f64[n]
    mod = compile_source(LITERAL_SIZES, name="lit.dp", backend=backend)
    x, y = np.array([1.0, 2.0, 3.0]), np.arange(6.0).reshape(2, 3)
    assert mod.grad("c2")(x).tolist() == [3.0, 0.0, 1.0]
    assert mod.hessian("c2")(x).tolist() == [[0.0, 0.0, 1.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]
    d_x, d_y = mod.grad("c3")(x, y)  # (3 x0 + 4 x1 + 5 x2) x0
    assert d_x.tolist() == [29.0, 4.0, 5.0] and d_y.tolist() == [[0.0] * 3, [1.0, 2.0, 3.0]]
    with pytest.raises(ShapeErrorDP, match=r"^argument a of h \(f64\[3\]\), axis 0: size 4 is "
                                           r"not 3 \(at lit.dp:6:12\)$"):
        mod.grad("c2")(np.ones(4))


CUSTOM = """
def softplus(x: f64) -> f64:
    return log1p(exp(x))

@derivative(softplus)
def softplus_vjp(x: f64, ct: f64) -> f64:
    return ct * sigmoid(x)

def loss(w: f64[n]) -> f64:
    return sum(softplus(w[i]) for i in range(n))

def marked(x: f64) -> f64:
    return x * x

@derivative(marked)
def marked_vjp(x: f64, ct: f64) -> f64:
    return 100.0 * ct
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_custom_derivative_is_used_wherever_the_function_is_called(backend):
    mod = compile_source(CUSTOM, name="custom.dp", backend=backend)
    w = np.array([-800.0, 0.0, 2.0])  # exp(800) overflows: the plain rule would give nan
    with np.errstate(over="ignore"):
        sigmoid = 1.0 / (1.0 + np.exp(-w))
    np.testing.assert_allclose(mod.grad("loss")(w), sigmoid, rtol=1e-15)
    assert mod.grad("marked")(3.0) == 100.0  # the rule, not 2x


BUBBLE = """
def weighted_sorted(x: f64[n]) -> f64:
    y = x * 1.0
    for k in range(n):
        for i in range(n - 1):
            if y[i] > y[i + 1]:
                y[i], y[i + 1] = y[i + 1], y[i]
    return sum([float(i + 1) * y[i] * y[i] for i in range(n)])
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_gradient_flows_through_a_swap_by_unpacking(backend):
    """Each element's slope is 2 (its rank) x: the swaps move it to its rank's place."""
    mod = compile_source(BUBBLE, name="bubble.dp", backend=backend)
    x = np.array([1.0, 3.0, 2.0, -1.0])
    value, slope = mod.value_and_grad("weighted_sorted")(x)
    assert value == 51.0
    np.testing.assert_array_equal(slope, [4.0, 24.0, 12.0, -2.0])
    check_against_finite_differences(mod.function("weighted_sorted"), mod.grad("weighted_sorted"),
                                     [x], [0])


def test_a_million_iterations_differentiate_in_bounded_memory():
    """The tape holds one f64 per iteration (8 MB here), allocated once at the trip count."""
    mod = compile_file("examples/decay.dp")
    value, slope = mod.value_and_grad("decay", wrt="x")(0.5, 1_000_000)
    assert value == pytest.approx(mod.decay(0.5, 1_000_000), rel=1e-15)
    step = 1e-6
    fd = (mod.decay(0.5 + step, 1_000_000) - mod.decay(0.5 - step, 1_000_000)) / (2 * step)
    assert relative_error(slope, fd) <= 1e-6


@pytest.mark.parametrize("backend", BACKENDS)
def test_vjp_of_an_array_valued_function(backend):
    mod = compile_file("examples/ode.dp", backend=backend)
    x, s = make_inputs("ode", "small", seed=3)
    ct = np.random.default_rng(4).standard_normal(len(x))
    d_x = mod.vjp("ode", wrt="x")(x, s, ct)
    projected = lambda x, s: float(ct @ mod.ode(x, s))  # noqa: E731
    _, fd = finite_differences(projected, [x, s], 0, len(x), np.random.default_rng(0))
    assert np.max(relative_error(d_x, fd)) <= 1e-6
    # the same through value_and_grad and positions instead of names
    value, d_x0 = mod.value_and_grad("ode_last", wrt=0)(x, s)
    assert value == mod.ode(x, s)[-1]
    np.testing.assert_allclose(d_x0, mod.vjp("ode", wrt=[0])(x, s, np.eye(len(x))[-1]), rtol=1e-14)


def test_a_derived_function_s_module_has_native_code_for_it_alone(tmp_path):
    # not for the primal and gradient it was derived from: LLVM's time went to them too
    mod = compile_file("examples/lse.dp")
    hvp = mod.hvp("lse")
    assert [line.split("(")[0] for line in mod.ir(hvp, stage="scalar").splitlines()
            if line.startswith("func")] == ["func @lse.hvp"]
    assert "define i32 @dpc_entry_lse(" not in hvp.owner.ir(stage="llvm")
    with pytest.raises(KeyError) as err:
        hvp.owner.function("lse")
    assert err.value.args[0] == ("'lse' is not compiled in the module made for 'lse.hvp'; "
                                 "take it from the module it came from")
    assert hvp.owner.function_names == ["lse.hvp"]
    hvp.owner.build("header", tmp_path / "hvp.h")  # declares what the module compiled
    assert "int32_t dpc_entry_lse__hvp(" in (tmp_path / "hvp.h").read_text()
    with pytest.raises(KeyError) as err:
        hvp.owner.ir("lse.grad", stage="opt")
    assert err.value.args[0] == ("'lse.grad' is not in stage 'opt' of the module made for "
                                 "'lse.hvp': inlined into it or not needed by it")
    x, v = np.array([0.5, -1.0, 2.0]), np.array([1.0, 2.0, 3.0])
    s = np.exp(x) / np.exp(x).sum()
    np.testing.assert_allclose(hvp(x, v), s * v - s * (s @ v), rtol=1e-14)


def test_python_derivative_errors_name_the_problem():
    mod = compile_file("examples/ode.dp", backend="interp")
    with pytest.raises(ValueError, match="cannot differentiate with respect to 's': it is i64"):
        mod.grad("ode_last", wrt="s")
    with pytest.raises(ValueError, match="'y' is not a parameter of 'ode_last'"):
        mod.grad("ode_last", wrt="y")
    for position in (2, -1):  # it was "'2' is not a parameter", as if named '2'
        with pytest.raises(ValueError) as err:
            mod.grad("ode_last", wrt=position)
        assert str(err.value) == (f"wrt position {position} is not a parameter of 'ode_last', "
                                  f"which takes 2 parameters (x, s), counted from 0")
    for item in (None, 1.5):  # said "'None' is not a parameter", as if named 'None'
        with pytest.raises(ValueError) as err:
            mod.grad("ode_last", wrt=("x", item))
        assert str(err.value) == (f"wrt takes parameter names (str) or positions (int), not "
                                  f"{type(item).__name__} {item!r}")
    with pytest.raises(ValueError, match="grad needs a function returning f64, 'ode' returns f64"):
        mod.grad("ode")
    with pytest.raises(ValueError) as err:
        mod.hvp("ode")
    assert str(err.value) == "hvp(ode): hvp needs a function returning f64, 'ode' returns f64[n]"
    with pytest.raises(KeyError, match="no function 'nope'"):
        mod.grad("nope")
    for name, shown in ((["ode"], "list"), (mod.ode, "CompiledFunction (a compiled function "
                                                      "is called as it is)")):
        with pytest.raises(TypeError) as err:  # a list raised "unhashable type: 'list'"
            mod.run(name, np.ones(2), 1)
        assert str(err.value) == (f"mod.function() and mod.run() take a function's name, a "
                                  f"str, not {shown}")
    for derivative in (mod.grad, mod.jvp, mod.vjp, mod.hessian, mod.jacobian):
        with pytest.raises(ValueError) as err:  # as grad(f, wrt=()) in the language
            derivative("ode_last", wrt=())
        assert str(err.value) == "wrt names no parameter of 'ode_last' to differentiate"
    for wrt, kind in ((1.0, "float"), ({"x"}, "set"), (b"x", "bytes"), (True, "bool")):
        with pytest.raises(ValueError) as err:
            mod.grad("ode_last", wrt=wrt)
        assert str(err.value) == (f"wrt takes a parameter name or position, or a list or "
                                  f"tuple of them, not {kind}")
    x = np.array([1.0, 2.0])
    assert np.array_equal(mod.grad("ode_last", wrt=np.int64(0))(x, 3), mod.grad("ode_last")(x, 3))
    with pytest.raises(ValueError) as err:  # too few arguments: named as the Hessian
        mod.hessian("ode_last")(x)
    assert str(err.value) == "ode_last.hessian() takes 2 arguments (x, s), 1 given: s missing"
    counted = compile_source("def count(k: i64) -> f64:\n    return float(k)\n", backend="interp")
    with pytest.raises(ValueError) as err:
        counted.grad("count")
    assert str(err.value) == "'count' has no f64 parameter to differentiate"


NESTED = """
def f(x: f64[n]) -> f64:
    acc = 0.0
    for i in range(n):
        acc = acc * 0.5 + sin(x[i]) * x[i]
    return acc

def hvp_objective(x: f64[n], v: f64[n]) -> f64:
    return dot(grad(f)(x), v)

def hvp(x: f64[n], v: f64[n]) -> f64[n]:
    return grad(hvp_objective, wrt=x)(x, v)

def w(x: f64) -> f64:
    y = x
    k = 0
    while k < 12:
        y = y * cos(y) + 0.1
        k += 1
    return y

def w2(x: f64) -> f64:
    return grad(grad(w))(x)

def decay2(x: f64, steps: i64) -> f64:
    return grad(grad(decay, wrt=x))(x, steps)
""" + Path("examples/decay.dp").read_text()  # decay2 differentiates decay twice


@pytest.mark.parametrize("backend", BACKENDS)
def test_reverse_over_reverse_through_loops(backend):
    mod = compile_source(NESTED, name="nested.dp", backend=backend)
    x, v = np.array([0.3, -0.7, 1.1]), np.array([1.0, 2.0, -1.0])
    grad_f = mod.grad("f")
    hessian = np.array([(grad_f(x + 1e-6 * e) - grad_f(x - 1e-6 * e)) / 2e-6 for e in np.eye(3)])
    assert np.max(relative_error(mod.run("hvp", x, v), hessian @ v)) <= 1e-6
    slope = mod.grad("w")
    fd = (slope(0.4 + 1e-6) - slope(0.4 - 1e-6)) / 2e-6
    assert relative_error(mod.w2(0.4), fd) <= 1e-6


def test_second_derivative_of_a_million_step_loop_needs_no_square_tape():
    """The inner gradient's loop carries its own tape; the outer reverse sweep never reads
    it, so it is not taped again (that would be 10^12 numbers)."""
    mod = compile_source(NESTED, name="nested.dp")
    slope = mod.grad("decay", wrt="x")
    fd = (slope(0.5 + 1e-5, 1_000_000) - slope(0.5 - 1e-5, 1_000_000)) / 2e-5
    assert relative_error(mod.decay2(0.5, 1_000_000), fd) <= 1e-6


PRODUCTS = """
def p(x: f64[n]) -> f64:
    return prod(x)

def generator(x: f64[n]) -> f64:
    return prod(x[i] for i in range(n))

def all_of(a: f64[n, m]) -> f64:
    return prod(a)

def columns(a: f64[n, m], w: f64[m]) -> f64:
    return sum(prod(a, axis=0) * w)

def rows(a: f64[n, m], w: f64[n]) -> f64:
    return sum(prod(a, axis=1) * w)

def row_generator(a: f64[n, m], w: f64[m]) -> f64:
    return sum(prod(a[i] for i in range(n)) * w)
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_gradient_of_prod_is_the_product_of_the_others(backend):
    """At an infinite element, and where the whole product under- or overflows but the
    others' does not, the gradient is still the others' product (as JAX's)."""
    mod = compile_source(PRODUCTS, name="products.dp", backend=backend)
    cases = [([1.0, np.inf, 2.0], [np.inf, 2.0, np.inf]),
             ([1e200, 1e200, 1e-200], [1.0, 1.0, np.inf]),
             ([1e-200, 1e-200, 1e200], [1.0, 1.0, 0.0]),
             ([2.0, -np.inf, 0.0], [np.nan, 0.0, -np.inf]),
             ([np.nan, 1.0, 2.0], [2.0, np.nan, np.nan]),
             ([0.0, 3.0, 4.0], [12.0, 0.0, 0.0]),
             ([0.0, 0.0, 4.0], [0.0, 0.0, 0.0]),
             ([], [])]
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        for x, expected in cases:
            np.testing.assert_array_equal(mod.grad("p")(np.array(x)), expected)
            np.testing.assert_array_equal(mod.grad("generator")(np.array(x)), expected)
        a = np.array([[1e200, 2.0, 0.0], [np.inf, 1e-200, 0.0]])
        np.testing.assert_array_equal(mod.grad("all_of")(a), [[np.nan] * 3, [0.0, np.nan, np.nan]])
        w = np.array([1.0, 2.0, 3.0])
        expected_columns = [[np.inf, 2e-200, 0.0], [1e200, 4.0, 0.0]]  # w times the other row
        np.testing.assert_array_equal(mod.grad("columns", wrt="a")(a, w), expected_columns)
        np.testing.assert_array_equal(mod.grad("row_generator", wrt="a")(a, w), expected_columns)
        np.testing.assert_array_equal(mod.grad("rows", wrt="a")(a, w[:2]),
                                      [[0.0, 0.0, 2e200], [0.0, np.nan, 2 * np.inf * 1e-200]])
