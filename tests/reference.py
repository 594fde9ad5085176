"""Independent NumPy implementations of the examples, written the natural vectorized way
(not transcribed from the .dp code), and input generators shaped like GradBench's.

| example            | function  | parameters                                               |
| ------------------ | --------- | -------------------------------------------------------- |
| examples/lse.dp    | lse       | x[n]                                                     |
| examples/llsq.dp   | llsq      | x[m], n                                                  |
| examples/ode.dp    | ode       | x[n], s                                                  |
| examples/gmm.dp    | gmm       | alphas[k], means[k, d], icf[k, d(d+1)/2], x[n, d], gamma, m |
| examples/lstm.dp   | lstm      | main_params[2l, 4b], extra_params[3, b], state[2l, b], sequence[c, b] |
| examples/kmeans.dp | kmeans    | points[n, d], centroids[k, d]                            |
| examples/mlp.dp    | mlp_loss  | w1[d, h], b1[h], w2[h, o], b2[o], x[n, d], y[n, o]        |
"""

import math

import numpy as np


def lse(x):
    m = x.max()
    return m + np.log(np.exp(x - m).sum())


def llsq(x, n):
    t = np.linspace(-1.0, 1.0, n)
    powers = t[:, None] ** np.arange(len(x))[None, :]
    r = np.sign(t) - powers @ x
    return 0.5 * (r @ r)


def ode(x, s):
    def f(y):
        return np.concatenate([x[:1], x[1:] * y[:-1]])

    h = 2.0 / s
    y = np.zeros_like(x)
    for _ in range(s):
        k1 = f(y)
        k2 = f(y + h * k1 / 2)
        k3 = f(y + h * k2 / 2)
        k4 = f(y + h * k3)
        y = y + h * (k1 + 2 * k2 + 2 * k3 + k4) / 6
    return y


def unpack_q(icf_row, d):
    """The inverse Cholesky factor Q from its packed form (log diagonal, then the strictly
    lower triangle column by column)."""
    q = np.diag(np.exp(icf_row[:d]))
    rows, cols = [], []
    for c in range(d):
        for r in range(c + 1, d):
            rows.append(r)
            cols.append(c)
    q[rows, cols] = icf_row[d:]
    return q


def logsumexp(v, axis=None):
    m = np.max(v, axis=axis, keepdims=True)
    return np.squeeze(m, axis=axis) + np.log(np.exp(v - m).sum(axis=axis))


def gmm(alphas, means, icf, x, gamma, m):
    n, d = x.shape
    k = len(alphas)
    qs = np.stack([unpack_q(icf[j], d) for j in range(k)])          # k, d, d
    centered = x[:, None, :] - means[None, :, :]                      # n, k, d
    mahal = np.einsum("kab,nkb->nka", qs, centered)                   # n, k, d
    sum_qs = icf[:, :d].sum(axis=1)
    inner = alphas[None, :] + sum_qs[None, :] - 0.5 * (mahal ** 2).sum(axis=2)
    p = d
    wn = p + m + 1
    frob = (np.exp(icf[:, :d]) ** 2).sum(axis=1) + (icf[:, d:] ** 2).sum(axis=1)
    log_gamma_p = 0.25 * p * (p - 1) * math.log(math.pi) + sum(
        math.lgamma(0.5 * wn + 0.5 * (1 - j)) for j in range(1, p + 1))
    c = wn * p * (math.log(gamma) - 0.5 * math.log(2.0)) - log_gamma_p
    prior = (0.5 * gamma ** 2 * frob - m * sum_qs).sum() - k * c
    constant = -n * d * 0.5 * math.log(2 * math.pi)
    return constant + logsumexp(inner, axis=1).sum() - n * logsumexp(alphas) + prior


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def lstm(main_params, extra_params, state, sequence):
    layers = main_params.shape[0] // 2
    b = state.shape[1]
    s = state.copy()
    total = 0.0
    c = sequence.shape[0]
    for t in range(c - 1):
        x = sequence[t] * extra_params[0]
        for i in range(layers):
            w = main_params[2 * i].reshape(4, b)
            bias = main_params[2 * i + 1].reshape(4, b)
            h, cell = s[2 * i], s[2 * i + 1]
            forget = sigmoid(x * w[0] + bias[0])
            ingate = sigmoid(h * w[1] + bias[1])
            outgate = sigmoid(x * w[2] + bias[2])
            change = np.tanh(h * w[3] + bias[3])
            cell = cell * forget + ingate * change
            h = outgate * np.tanh(cell)
            s[2 * i], s[2 * i + 1] = h, cell
            x = h
        ypred = x * extra_params[1] + extra_params[2]
        ynorm = ypred - np.log(np.exp(ypred).sum() + 2.0)
        total += (sequence[t + 1] * ynorm).sum()
    return -total / ((c - 1) * b)


def kmeans(points, centroids):
    dist = ((points[:, None, :] - centroids[None, :, :]) ** 2).sum(axis=2)
    return dist.min(axis=1).sum()


def mlp_loss(w1, b1, w2, b2, x, y):
    err = np.tanh(x @ w1 + b1) @ w2 + b2 - y
    return (err ** 2).mean()


def make_inputs(name, size="small", seed=0):
    """Arguments for example `name`, in parameter order. `size` is "small" (for the
    interpreter) or "large" (for benchmarks)."""
    rng = np.random.default_rng(seed)
    large = size == "large"
    if name == "lse":
        return [rng.standard_normal(100_000 if large else 20)]
    if name == "llsq":
        return [rng.standard_normal(32 if large else 5), 4096 if large else 17]
    if name == "ode":
        return [rng.random(1000 if large else 6), 100 if large else 4]
    if name == "gmm":
        d, k, n = (10, 25, 1000) if large else (3, 4, 7)
        return [rng.standard_normal(k), rng.random((k, d)),
                rng.standard_normal((k, d * (d + 1) // 2)) * 0.3, rng.random((n, d)), 1.0, 0]
    if name == "lstm":
        layers, b, c = (2, 14, 1024) if large else (2, 4, 5)
        return [rng.standard_normal((2 * layers, 4 * b)) * 0.5,
                rng.standard_normal((3, b)) * 0.5, rng.standard_normal((2 * layers, b)) * 0.5,
                rng.standard_normal((c, b))]
    if name == "kmeans":
        n, k, d = (10_000, 50, 8) if large else (12, 3, 2)
        return [rng.random((n, d)), rng.random((k, d))]
    if name == "mlp":
        d, h, o, n = (64, 128, 10, 256) if large else (3, 5, 2, 6)
        return [rng.standard_normal((d, h)) * 0.3, rng.standard_normal(h) * 0.1,
                rng.standard_normal((h, o)) * 0.3, rng.standard_normal(o) * 0.1,
                rng.standard_normal((n, d)), rng.standard_normal((n, o))]
    raise KeyError(name)


# example name -> (file, entry function, reference)
EXAMPLES = {
    "lse": ("lse.dp", "lse", lse),
    "llsq": ("llsq.dp", "llsq", llsq),
    "ode": ("ode.dp", "ode", ode),
    "gmm": ("gmm.dp", "gmm", gmm),
    "lstm": ("lstm.dp", "lstm", lstm),
    "kmeans": ("kmeans.dp", "kmeans", kmeans),
    "mlp": ("mlp.dp", "mlp_loss", mlp_loss),
}
