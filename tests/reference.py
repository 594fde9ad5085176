"""Independent NumPy implementations of the example programs, written the natural
vectorized NumPy way (not transcribed from the .dp code), and input generators shaped
like the inputs GradBench's evals send (see examples/gradbench/NOTES.md).

| example file       | function | parameters, in order, with shapes                                   |
| ------------------ | -------- | ------------------------------------------------------------------- |
| examples/lse.dp    | lse      | x[n]                                                                |
| examples/llsq.dp   | llsq     | x[m], n: i64                                                        |
| examples/ode.dp    | ode      | x[n], s: i64  (returns f64[n]; `ode_last` returns its last element) |
| examples/gmm.dp    | gmm      | alphas[k], means[k, d], icf[k, d(d+1)/2], x[n, d], gamma: f64, m: i64 |
| examples/lstm.dp   | lstm     | main_params[2l, 4b], extra_params[3, b], state[2l, b], sequence[c, b] |
| examples/kmeans.dp | kmeans   | points[n, d], centroids[k, d]                                       |
| examples/mlp.dp    | mlp_loss | w1[d, h], b1[h], w2[h, o], b2[o], x[n, d], y[n, o]                  |

All results are f64 scalars except `ode`, which returns f64[n]. The references are also
available under the longer names gmm_objective, lstm_objective and kmeans_cost.

GMM packing (ADBench's `icf`): row j of icf is GradBench's q[j] (the d logs of the
diagonal of the lower-triangular factor Q_j) followed by GradBench's l[j] (the strictly
lower triangle of Q_j, column by column), so icf = concatenate([q, l], axis=1). The
objective is GradBench's corrected log posterior (the Wishart prior is added with the
sign of a log density, unlike the original ADBench code).
"""

import math

import numpy as np


# --- lse, llsq, ode (cmpad-derived evals) ----------------------------------------------

def lse(x):
    """log(sum(exp(x))), shifted by the maximum so that it cannot overflow."""
    top = np.max(x)
    return top + np.log(np.sum(np.exp(x - top)))


def llsq_points(n):
    """GradBench's sample points t_i = -1 + 2 i / (n - 1), computed with the same rounding
    as the eval (np.linspace rounds differently, which matters for sign(t) at t = 0)."""
    i = np.arange(n, dtype=np.float64)
    return -1.0 + i * 2.0 / (n - 1)


def llsq(x, n):
    """Half the squared residual of the polynomial sum_j x_j t^j against sign(t)."""
    t = llsq_points(n)
    vander = t[:, None] ** np.arange(len(x))[None, :]      # n x m, columns t^0, t^1, ...
    residual = np.sign(t) - vander @ x
    return 0.5 * np.dot(residual, residual)


def ode_rhs(x, y):
    """Right-hand side of cmpad's an_ode: z_0 = x_0, z_i = x_i y_{i-1}."""
    z = np.empty_like(y)
    z[0] = x[0]
    z[1:] = x[1:] * y[:-1]
    return z


def ode(x, s, tf=2.0):
    """y(tf) for y' = ode_rhs(x, y), y(0) = 0, by s classic Runge-Kutta 4 steps."""
    h = tf / s
    y = np.zeros_like(x)
    for _ in range(s):
        k1 = ode_rhs(x, y)
        k2 = ode_rhs(x, y + h * k1 / 2.0)
        k3 = ode_rhs(x, y + h * k2 / 2.0)
        k4 = ode_rhs(x, y + h * k3)
        y = y + h * (k1 + 2.0 * k2 + 2.0 * k3 + k4) / 6.0
    return y


# --- gmm ---------------------------------------------------------------------------------

def ltri_positions(d):
    """(rows, cols) of the strictly lower triangle of a d x d matrix, in packing order
    (column by column, top to bottom)."""
    cols, rows = np.triu_indices(d, 1)    # upper triangle row by row = lower column by column
    return rows, cols


def unpack_q(icf_row, d):
    """The lower-triangular factor Q from one packed row: exp of the first d entries on
    the diagonal, the remaining d(d-1)/2 below it, column by column."""
    q = np.diag(np.exp(icf_row[:d]))
    rows, cols = ltri_positions(d)
    q[rows, cols] = icf_row[d:]
    return q


def logsumexp(v, axis=None):
    top = np.max(v, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(v - top), axis=axis, keepdims=True)) + top
    return out.reshape(()) if axis is None else np.squeeze(out, axis=axis)


def log_multigamma(a, p):
    """log Gamma_p(a), the multivariate gamma function."""
    return 0.25 * p * (p - 1) * math.log(math.pi) + sum(
        math.lgamma(a + 0.5 * (1 - j)) for j in range(1, p + 1))


def gmm_objective(alphas, means, icf, x, gamma, m):
    """GradBench's gmm `objective`: the log posterior of a k-component Gaussian mixture in
    d dimensions at n points x, with a Wishart(gamma, m) prior on the precisions."""
    n, d = x.shape
    k = len(alphas)
    log_diag = icf[:, :d]                                        # k x d
    qs = np.stack([unpack_q(icf[j], d) for j in range(k)])       # k x d x d
    centered = x[:, None, :] - means[None, :, :]                 # n x k x d
    z = np.einsum("jab,ijb->ija", qs, centered)                  # Q_j (x_i - mu_j)
    beta = alphas[None, :] + log_diag.sum(axis=1)[None, :] - 0.5 * np.sum(z * z, axis=2)
    log_likelihood = (-0.5 * n * d * math.log(2.0 * math.pi)
                      + np.sum(logsumexp(beta, axis=1)) - n * logsumexp(alphas))
    dof = d + m + 1
    frobenius = np.sum(np.exp(log_diag) ** 2, axis=1) + np.sum(icf[:, d:] ** 2, axis=1)
    per_component = dof * d * (math.log(gamma) - 0.5 * math.log(2.0)) - log_multigamma(0.5 * dof, d)
    log_prior = k * per_component + np.sum(m * log_diag.sum(axis=1) - 0.5 * gamma ** 2 * frobenius)
    return log_likelihood + log_prior


# --- lstm --------------------------------------------------------------------------------

def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def lstm_objective(main_params, extra_params, state, sequence):
    """ADBench's LSTM loss (GradBench `lstm` eval, function `objective`)."""
    layers = main_params.shape[0] // 2
    b = extra_params.shape[1]
    c = sequence.shape[0]
    hidden = [state[2 * i].copy() for i in range(layers)]
    cell = [state[2 * i + 1].copy() for i in range(layers)]
    total = 0.0
    for t in range(c - 1):
        inp = sequence[t] * extra_params[0]
        for i in range(layers):
            w_forget, w_in, w_out, w_change = main_params[2 * i].reshape(4, b)
            b_forget, b_in, b_out, b_change = main_params[2 * i + 1].reshape(4, b)
            forget = sigmoid(inp * w_forget + b_forget)
            ingate = sigmoid(hidden[i] * w_in + b_in)
            outgate = sigmoid(inp * w_out + b_out)
            change = np.tanh(hidden[i] * w_change + b_change)
            cell[i] = cell[i] * forget + ingate * change
            hidden[i] = outgate * np.tanh(cell[i])
            inp = hidden[i]
        ypred = inp * extra_params[1] + extra_params[2]
        ynorm = ypred - np.log(np.sum(np.exp(ypred)) + 2.0)   # ADBench's "+ 2" quirk
        total += np.dot(sequence[t + 1], ynorm)
    return -total / ((c - 1) * b)


# --- kmeans, mlp -------------------------------------------------------------------------

def kmeans_cost(points, centroids):
    """Sum over points of the squared distance to the nearest centroid."""
    sq = np.sum((points[:, None, :] - centroids[None, :, :]) ** 2, axis=2)   # n x k
    return np.sum(np.min(sq, axis=1))


def mlp_loss(w1, b1, w2, b2, x, y):
    """Mean squared error of tanh(x w1 + b1) w2 + b2 against y, over all n*o entries."""
    pred = np.tanh(x @ w1 + b1) @ w2 + b2
    return np.mean((pred - y) ** 2)


# Short names, matching the entry functions of the .dp files.
gmm = gmm_objective
lstm = lstm_objective
kmeans = kmeans_cost


# --- inputs ------------------------------------------------------------------------------

def make_inputs(name, size="small", seed=0):
    """Arguments for example `name`, in parameter order, drawn the way GradBench's run.py
    draws them. `size` is "small" (fast enough for the interpreter) or "large"
    (benchmark-sized, one of GradBench's default workloads)."""
    if size not in ("small", "large"):
        raise ValueError(f"size must be 'small' or 'large', not {size!r}")
    rng = np.random.default_rng(seed)
    large = size == "large"
    if name == "lse":
        # GradBench draws uniform [0, 1); a wider range exercises the max shift.
        n = 100_000 if large else 20
        return [rng.uniform(-10.0, 10.0, n)]
    if name == "llsq":
        m, n = (128, 4096) if large else (6, 21)      # odd n: t = 0 is a sample point
        return [rng.random(m), n]
    if name == "ode":
        n, s = (1000, 100) if large else (4, 10)
        return [rng.random(n), s]
    if name == "gmm":
        d, k, n = (10, 25, 1000) if large else (3, 4, 10)
        # GradBench's defaults are m = 0, gamma = 1; other seeds vary them.
        m = 0 if large else seed % 3
        gamma = 1.0 if large or seed % 2 == 0 else 0.7
        x = rng.normal(size=(n, d))
        alphas = rng.normal(size=k)
        means = rng.uniform(size=(k, d))
        q = rng.normal(size=(k, d))
        l = rng.normal(size=(k, d * (d - 1) // 2))
        return [alphas, means, np.concatenate([q, l], axis=1), x, gamma, m]
    if name == "lstm":
        # GradBench: b = bits per character of a text, sequence = those bits (0 or 1),
        # parameters and state uniform [0, 1).
        layers, b, c = (2, 7, 1024) if large else (2, 5, 6)
        main_params = rng.random((2 * layers, 4 * b))
        extra_params = rng.random((3, b))
        state = rng.random((2 * layers, b))
        sequence = rng.integers(0, 2, size=(c, b)).astype(np.float64)
        return [main_params, extra_params, state, sequence]
    if name == "kmeans":
        n, k, d = (10_000, 100, 8) if large else (12, 3, 2)
        points = rng.random((n, d))
        # GradBench takes the last k points as centroids, so no cluster is empty.
        return [points, points[-k:].copy()]
    if name == "mlp":
        d, h, o, n = (64, 128, 10, 256) if large else (3, 5, 2, 6)
        return [rng.standard_normal((d, h)) * 0.3, rng.standard_normal(h) * 0.1,
                rng.standard_normal((h, o)) * 0.3, rng.standard_normal(o) * 0.1,
                rng.standard_normal((n, d)), rng.standard_normal((n, o))]
    raise KeyError(f"no example named {name!r}")


# example name -> (file under examples/, entry function, NumPy reference)
EXAMPLES = {
    "lse": ("lse.dp", "lse", lse),
    "llsq": ("llsq.dp", "llsq", llsq),
    "ode": ("ode.dp", "ode", ode),
    "gmm": ("gmm.dp", "gmm", gmm_objective),
    "lstm": ("lstm.dp", "lstm", lstm_objective),
    "kmeans": ("kmeans.dp", "kmeans", kmeans_cost),
    "mlp": ("mlp.dp", "mlp_loss", mlp_loss),
}
