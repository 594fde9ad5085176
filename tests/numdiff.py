"""Finite differences and the error measure the gradient tests share: an oracle that
knows nothing of dpc's AD.

    relative_error(ad, fd)          |ad - fd| / max(1, |ad| + |fd|), elementwise
    central_differences(f, args, k) d f(*args) / d args[k], element by element
    directional_difference(f, args, {k: t})  the derivative along tangent t of args[k]
"""

import numpy as np


def relative_error(ad, fd):
    ad, fd = np.asarray(ad, dtype=np.float64), np.asarray(fd, dtype=np.float64)
    return np.abs(ad - fd) / np.maximum(1.0, np.abs(ad) + np.abs(fd))


def central_differences(f, args, k, positions=None, eps=1e-6, order=2):
    """Estimates of d f(*args) / d args[k] at the flat `positions` (all by default), with
    step eps * max(1, |x|): the plain central difference (order 2) or the fourth-order
    stencil (8 (f(x+h) - f(x-h)) - (f(x+2h) - f(x-2h))) / 12h."""
    x = np.asarray(args[k], dtype=np.float64)
    positions = range(x.size) if positions is None else positions

    def moved(j, delta):
        y = x.copy()
        y.reshape(-1)[j] += delta
        shifted = list(args)
        shifted[k] = y if x.ndim else float(y)
        return float(f(*shifted))

    estimates = []
    for j in positions:
        h = eps * max(1.0, abs(float(x.reshape(-1)[j])))
        near = (moved(j, h) - moved(j, -h)) / (2 * h)
        if order == 4:
            far = (moved(j, 2 * h) - moved(j, -2 * h)) / (4 * h)
            near = (4 * near - far) / 3
        estimates.append(near)
    return np.array(estimates)


def directional_difference(f, args, tangents: dict, eps=1e-6):
    """Estimate of the derivative of f(*args) along `tangents` (position -> tangent of
    that argument), by a central difference with step eps * max(1, |largest argument|)."""
    scale = max([1.0] + [float(np.max(np.abs(args[k]))) for k in tangents])
    h = eps * scale

    def moved(delta):
        shifted = list(args)
        for k, t in tangents.items():
            x = np.asarray(args[k], dtype=np.float64) + delta * np.asarray(t, dtype=np.float64)
            shifted[k] = x if x.ndim else float(x)
        return np.asarray(f(*shifted), dtype=np.float64)

    return (moved(h) - moved(-h)) / (2 * h)
