"""The NumPy references in reference.py, checked against plain scalar-loop Python written
separately here (to catch slips in the vectorized code), against textbook definitions
(the GMM log posterior from densities, closed-form ODE solutions), and against the
conventions of GradBench's evals (shapes, packing, how inputs are drawn)."""

import math

import numpy as np
import pytest

import reference as R

SEEDS = range(4)


# --- scalar-loop versions ---------------------------------------------------------------

def lse_loop(x):
    top = x[0]
    for v in x:
        top = max(top, v)
    return top + math.log(sum(math.exp(v - top) for v in x))


def llsq_loop(x, n):
    acc = 0.0
    for i in range(n):
        t = -1 + i * 2 / (n - 1)
        r = (t > 0) - (t < 0)
        for j in range(len(x)):
            r -= x[j] * t ** j
        acc += r * r
    return acc / 2


def ode_loop(x, s):
    n = len(x)

    def f(y):
        return [x[0]] + [x[i] * y[i - 1] for i in range(1, n)]

    def axpy(y, a, k):
        return [y[i] + a * k[i] for i in range(n)]

    h = 2.0 / s
    y = [0.0] * n
    for _ in range(s):
        k1 = f(y)
        k2 = f(axpy(y, h / 2, k1))
        k3 = f(axpy(y, h / 2, k2))
        k4 = f(axpy(y, h, k3))
        y = [y[i] + h / 6 * (k1[i] + 2 * k2[i] + 2 * k3[i] + k4[i]) for i in range(n)]
    return np.array(y)


def q_matrix_loop(icf_row, d):
    q = [[0.0] * d for _ in range(d)]
    pos = d
    for c in range(d):
        q[c][c] = math.exp(icf_row[c])
        for r in range(c + 1, d):
            q[r][c] = icf_row[pos]
            pos += 1
    return q


def gmm_loop(alphas, means, icf, x, gamma, m):
    """The log posterior, by loops over the simplified formula (as GradBench states it)."""
    n, d = x.shape
    k = len(alphas)

    def logsumexp(v):
        top = max(v)
        return top + math.log(sum(math.exp(u - top) for u in v))

    total = 0.0
    for i in range(n):
        beta = []
        for j in range(k):
            q = q_matrix_loop(icf[j], d)
            sq = 0.0
            for r in range(d):
                acc = sum(q[r][c] * (x[i][c] - means[j][c]) for c in range(d))
                sq += acc * acc
            beta.append(alphas[j] + sum(icf[j][:d]) - 0.5 * sq)
        total += logsumexp(beta)
    loglik = -n * (d / 2 * math.log(2 * math.pi) + logsumexp(alphas)) + total
    dof = d + m + 1
    log_gamma_d = d * (d - 1) / 4 * math.log(math.pi)
    for j in range(1, d + 1):
        log_gamma_d += math.lgamma(dof / 2 + (1 - j) / 2)
    prior = k * (dof * d * math.log(gamma / math.sqrt(2)) - log_gamma_d)
    for j in range(k):
        q = q_matrix_loop(icf[j], d)
        frob = sum(q[r][c] ** 2 for r in range(d) for c in range(d))
        prior += -gamma ** 2 / 2 * frob + m * sum(icf[j][:d])
    return loglik + prior


def gmm_from_densities(alphas, means, icf, x, gamma, m):
    """The log posterior straight from its definition: mixture of Gaussian densities with
    precision Q^T Q and weights softmax(alphas), times Wishart(I / gamma^2, d + m + 1)
    densities of the precisions. Only usable at small sizes (no log-space tricks)."""
    n, d = x.shape
    k = len(alphas)
    phi = np.exp(alphas) / np.sum(np.exp(alphas))
    precisions = [np.array(q_matrix_loop(icf[j], d)).T @ np.array(q_matrix_loop(icf[j], d))
                  for j in range(k)]
    log_lik = 0.0
    for i in range(n):
        p = 0.0
        for j in range(k):
            diff = x[i] - means[j]
            p += phi[j] * math.exp(-0.5 * diff @ precisions[j] @ diff) / math.sqrt(
                (2 * math.pi) ** d / np.linalg.det(precisions[j]))
        log_lik += math.log(p)
    dof = d + m + 1
    scale = np.eye(d) / gamma ** 2
    log_multigamma = d * (d - 1) / 4 * math.log(math.pi) + sum(
        math.lgamma(dof / 2 + (1 - j) / 2) for j in range(1, d + 1))
    log_prior = 0.0
    for prec in precisions:
        log_prior += ((dof - d - 1) / 2 * math.log(np.linalg.det(prec))
                      - np.trace(np.linalg.inv(scale) @ prec) / 2
                      - dof * d / 2 * math.log(2) - dof / 2 * math.log(np.linalg.det(scale))
                      - log_multigamma)
    return log_lik + log_prior


def lstm_loop(main_params, extra_params, state, sequence):
    """Scalar loops over the flat row-major buffers, with the offsets ADBench uses: layer
    i's weights at 8 b i, its biases 4 b after that, gate g at g b within each."""
    l2, four_b = main_params.shape
    b = four_b // 4
    layers = l2 // 2
    main = list(main_params.ravel())
    extra = list(extra_params.ravel())
    st = list(state.ravel())               # layer i: hidden at 2 b i, cell at 2 b i + b
    c = len(sequence)

    def sig(v):
        return 1 / (1 + math.exp(-v))

    total = 0.0
    for t in range(c - 1):
        inp = [sequence[t][j] * extra[j] for j in range(b)]
        for i in range(layers):
            w, bias, hid, cel = 8 * b * i, 8 * b * i + 4 * b, 2 * b * i, 2 * b * i + b
            for j in range(b):
                forget = sig(inp[j] * main[w + j] + main[bias + j])
                ingate = sig(st[hid + j] * main[w + b + j] + main[bias + b + j])
                outgate = sig(inp[j] * main[w + 2 * b + j] + main[bias + 2 * b + j])
                change = math.tanh(st[hid + j] * main[w + 3 * b + j] + main[bias + 3 * b + j])
                st[cel + j] = st[cel + j] * forget + ingate * change
                st[hid + j] = outgate * math.tanh(st[cel + j])
            inp = st[hid:hid + b]
        ypred = [inp[j] * extra[b + j] + extra[2 * b + j] for j in range(b)]
        norm = math.log(sum(math.exp(v) for v in ypred) + 2)
        total += sum(sequence[t + 1][j] * (ypred[j] - norm) for j in range(b))
    return -total / ((c - 1) * b)


def kmeans_loop(points, centroids):
    cost = 0.0
    for p in points:
        best = math.inf
        for cen in centroids:
            best = min(best, sum((a - b) ** 2 for a, b in zip(p, cen)))
        cost += best
    return cost


def mlp_loop(w1, b1, w2, b2, x, y):
    d, h = w1.shape
    o = len(b2)
    acc = 0.0
    for i in range(len(x)):
        hidden = [math.tanh(sum(x[i][a] * w1[a][u] for a in range(d)) + b1[u]) for u in range(h)]
        for v in range(o):
            out = sum(hidden[u] * w2[u][v] for u in range(h)) + b2[v]
            acc += (out - y[i][v]) ** 2
    return acc / (len(x) * o)


LOOPS = {
    "lse": lse_loop, "llsq": llsq_loop, "ode": ode_loop, "gmm": gmm_loop,
    "lstm": lstm_loop, "kmeans": kmeans_loop, "mlp": mlp_loop,
}


# --- references against the loops ------------------------------------------------------

@pytest.mark.parametrize("name", sorted(R.EXAMPLES))
@pytest.mark.parametrize("seed", SEEDS)
def test_reference_matches_loops(name, seed):
    args = R.make_inputs(name, "small", seed)
    np.testing.assert_allclose(R.EXAMPLES[name][2](*args), LOOPS[name](*args),
                               rtol=1e-12, atol=1e-14)


def test_long_names_are_the_same_functions():
    assert R.gmm is R.gmm_objective and R.lstm is R.lstm_objective
    assert R.kmeans is R.kmeans_cost


# --- lse, llsq ---------------------------------------------------------------------------

def test_lse_is_stable_and_shift_equivariant():
    x = np.array([1000.0, 1001.0, 999.5])
    assert np.isfinite(R.lse(x))
    assert R.lse(x) == pytest.approx(1000.0 + R.lse(x - 1000.0), rel=1e-15)
    y = np.array([0.1, -0.3, 0.7])
    assert R.lse(y) == pytest.approx(math.log(sum(math.exp(v) for v in y)), rel=1e-15)


@pytest.mark.parametrize("n", [3, 5, 7, 11, 21, 101])
def test_llsq_middle_point_is_exactly_zero(n):
    # With odd n the middle sample is t = 0 exactly, where sign(t) = 0, as in GradBench.
    t = R.llsq_points(n)
    assert t[0] == -1.0 and t[-1] == 1.0 and t[(n - 1) // 2] == 0.0


def test_llsq_exact_fit_and_known_value():
    # sign(t) - (x0 + x1 t) at t = -1, 0, 1 with x = (0, 1): residuals 0, 0, 0.
    assert R.llsq(np.array([0.0, 1.0]), 3) == 0.0
    # x = 0: residuals are sign(t), so the value is half the number of nonzero t.
    assert R.llsq(np.zeros(4), 7) == 3.0


# --- ode ---------------------------------------------------------------------------------

@pytest.mark.parametrize("s", [1, 2, 10])
def test_ode_is_exact_for_short_chains(s):
    # y_i(t) = x_0 ... x_i t^(i+1) / (i+1)!; for n <= 4 the solution is a polynomial of
    # degree <= 4, which one RK4 step integrates exactly. tf = 2, y(0) = 0.
    x = np.array([0.7, 1.3, 0.4, 2.1])
    exact = [np.prod(x[:i + 1]) * 2.0 ** (i + 1) / math.factorial(i + 1) for i in range(4)]
    np.testing.assert_allclose(R.ode(x, s), exact, rtol=1e-14)


def test_ode_converges_for_longer_chains():
    x = np.random.default_rng(5).random(8)
    exact = [np.prod(x[:i + 1]) * 2.0 ** (i + 1) / math.factorial(i + 1) for i in range(8)]
    err = [np.max(np.abs(R.ode(x, s) - exact)) for s in (4, 8)]
    assert err[1] < err[0] / 12          # fourth order: halving h divides the error by ~16


def test_ode_output_has_the_shape_of_x():
    x, s = R.make_inputs("ode", "small", 0)
    assert R.ode(x, s).shape == x.shape and isinstance(s, int)


# --- gmm ---------------------------------------------------------------------------------

def test_q_unpacking_is_column_by_column():
    q = R.unpack_q(np.array([0.0, math.log(2.0), math.log(3.0), 4.0, 5.0, 6.0]), 3)
    np.testing.assert_allclose(q, [[1, 0, 0], [4, 2, 0], [5, 6, 3]], rtol=1e-15)
    for d in range(1, 6):
        row = np.random.default_rng(d).normal(size=d * (d + 1) // 2)
        np.testing.assert_allclose(R.unpack_q(row, d), q_matrix_loop(row, d), rtol=1e-15)


@pytest.mark.parametrize("seed", SEEDS)
def test_gmm_is_the_log_posterior(seed):
    # GradBench's corrected objective: log likelihood plus the log Wishart density.
    args = R.make_inputs("gmm", "small", seed)
    assert R.gmm_objective(*args) == pytest.approx(gmm_from_densities(*args), rel=1e-10)


def test_gmm_inputs_follow_gradbench():
    alphas, means, icf, x, gamma, m = R.make_inputs("gmm", "small", 0)
    k, d = means.shape
    assert alphas.shape == (k,) and icf.shape == (k, d * (d + 1) // 2) and x.shape[1] == d
    assert (gamma, m) == (1.0, 0)                     # GradBench's defaults
    assert isinstance(m, int) and isinstance(gamma, float)
    _, _, _, _, gamma1, m1 = R.make_inputs("gmm", "small", 1)
    assert (gamma1, m1) != (1.0, 0)                   # other seeds exercise the prior terms


# --- lstm --------------------------------------------------------------------------------

def test_lstm_shapes_follow_gradbench():
    main_params, extra_params, state, sequence = R.make_inputs("lstm", "small", 0)
    layers = main_params.shape[0] // 2
    b = extra_params.shape[1]
    assert main_params.shape == (2 * layers, 4 * b)
    assert extra_params.shape == (3, b) and state.shape == (2 * layers, b)
    assert sequence.shape[1] == b and set(np.unique(sequence)) <= {0.0, 1.0}
    assert np.ndim(R.lstm_objective(main_params, extra_params, state, sequence)) == 0
    # GradBench's `jacobian` is d/d(main_params) then d/d(extra_params), row-major, joined.
    assert main_params.size + extra_params.size == 2 * layers * 4 * b + 3 * b


def test_lstm_does_not_modify_its_state_argument():
    args = R.make_inputs("lstm", "small", 1)
    before = [a.copy() for a in args]
    R.lstm_objective(*args)
    for a, b in zip(args, before):
        np.testing.assert_array_equal(a, b)


# --- kmeans ------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", SEEDS)
def test_kmeans_every_cluster_is_nonempty(seed):
    points, centroids = R.make_inputs("kmeans", "small", seed)
    sq = ((points[:, None, :] - centroids[None, :, :]) ** 2).sum(axis=2)
    assert set(np.argmin(sq, axis=1)) == set(range(len(centroids)))
    np.testing.assert_array_equal(centroids, points[-len(centroids):])


def test_kmeans_cost_of_points_as_centroids_is_zero():
    points = np.random.default_rng(0).random((5, 3))
    assert R.kmeans_cost(points, points) == 0.0


# --- inputs ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(R.EXAMPLES))
def test_inputs_are_deterministic_and_vary_with_the_seed(name):
    a, b, c = (R.make_inputs(name, "small", s) for s in (3, 3, 4))
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert any(not np.array_equal(u, v) for u, v in zip(a, c))


@pytest.mark.parametrize("name", sorted(R.EXAMPLES))
def test_large_inputs_have_the_same_structure(name):
    small, large = R.make_inputs(name, "small", 0), R.make_inputs(name, "large", 0)
    assert [np.ndim(a) for a in small] == [np.ndim(a) for a in large]
    assert [np.asarray(a).dtype for a in small] == [np.asarray(a).dtype for a in large]


def test_unknown_names_and_sizes_are_refused():
    with pytest.raises(KeyError):
        R.make_inputs("nope")
    with pytest.raises(ValueError):
        R.make_inputs("lse", "medium")
