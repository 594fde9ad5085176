"""Plain NumPy references for GradBench's nested-AD evals `saddle` and `particle`
(Pearlmutter and Siskind), with every derivative worked out by hand: no autodiff library,
no finite differences, nothing from dpc. examples/gradbench/saddle.dp and particle.dp
compute the same things with dpc's `grad` and `jvp`; tests/test_nested.py compares them.

| function          | arguments       | returns                                          |
| ----------------- | --------------- | ------------------------------------------------ |
| argmin(f, g, x0)  | cost, gradient, start (1-d array) | GradBench's gradient-descent argmin |
| saddle(start)     | start: [2]      | [x1, x2, y1, y2]: x = argmin_x max_y f, y = argmax_y f(x, .) |
| particle(w0)      | w0: float       | the w that brings the particle to the origin     |

The solver (GradBench's, e.g. tools/futhark/solver.fut and cpp/gradbench/gd.hpp):
state x, f(x), g(x), step size eta = 1e-5 and a counter i = 0 of accepted steps; repeat

1. if |g(x)| <= 1e-5: stop with x;
2. else if i == 10: eta = 2 eta, i = 0 (this round takes no step);
3. else x' = x - eta g(x); if |x - x'| <= 1e-5: stop with x;
4. else if f(x') < f(x): accept x' (and its f and g), i = i + 1;
5. else: eta = eta / 2, i = 0.

argmax(f, g) is argmin(-f, -g). Expected outputs (python/gradbench/gradbench/evals/*/run.py):
saddle([1, 1]) = four times 8.246324826140356e-06, particle(0) = 0.2071918746486116,
compared with |a - e| / max(1, |a| + |e|) <= 1e-4.
"""

import numpy as np

SADDLE_EXPECTED = np.full(4, 8.246324826140356e-06)
SADDLE_START = np.array([1.0, 1.0])
PARTICLE_EXPECTED = 0.2071918746486116
PARTICLE_START = 0.0


# --- the solver ----------------------------------------------------------------------------

def argmin(f, g, x0):
    """GradBench's gradient descent with an adaptive step (module docstring)."""
    x = np.array(x0, dtype=np.float64)
    fx, gx = f(x), g(x)
    eta, accepted = 1e-5, 0
    while True:
        if np.sqrt(np.sum(gx * gx)) <= 1e-5:
            return x
        if accepted == 10:
            eta, accepted = 2.0 * eta, 0
            continue
        trial = x - eta * gx
        if np.sqrt(np.sum((x - trial) * (x - trial))) <= 1e-5:
            return x
        f_trial = f(trial)
        if f_trial < fx:
            x, fx, gx, accepted = trial, f_trial, g(trial), accepted + 1
        else:
            eta, accepted = eta / 2.0, 0


def argmax(f, g, x0):
    return argmin(lambda x: -f(x), lambda x: -g(x), x0)


# --- saddle --------------------------------------------------------------------------------

def saddle_f(x, y):
    """f(x, y) = (x1^2 + x2^2) - (y1^2 + y2^2): the outer player x minimizes, the inner
    player y maximizes (GradBench's f(x1, y1, x2, y2) with the outer point first)."""
    return (x[0] * x[0] + x[1] * x[1]) - (y[0] * y[0] + y[1] * y[1])


def saddle_grad_x(x, y):
    return 2.0 * x


def saddle_grad_y(x, y):
    return -2.0 * y


def saddle_inner_argmax(x, start):
    return argmax(lambda y: saddle_f(x, y), lambda y: saddle_grad_y(x, y), start)


def saddle_inner_max(x, start):
    """max_y f(x, y), found by the solver from `start`."""
    return saddle_f(x, saddle_inner_argmax(x, start))


def saddle_inner_max_grad(x, start):
    """d/dx of saddle_inner_max, through the solver: y* = argmax does not depend on x at
    all (the inner gradient -2y does not involve x, and the branches have derivative
    zero), so the derivative is df/dx at (x, y*) = 2x."""
    return saddle_grad_x(x, saddle_inner_argmax(x, start))


def saddle(start):
    start = np.asarray(start, dtype=np.float64)
    x = argmin(lambda x: saddle_inner_max(x, start),
               lambda x: saddle_inner_max_grad(x, start), start)
    y = saddle_inner_argmax(x, start)
    return np.concatenate([x, y])


# --- particle ------------------------------------------------------------------------------

DT = 0.1


def charges(w):
    return [np.array([10.0, 10.0 - w]), np.array([10.0, 0.0])]


def potential(x, w):
    """p(x; w) = sum over the charges c of 1 / |x - c|."""
    return sum(1.0 / np.sqrt(np.sum((x - c) * (x - c))) for c in charges(w))


def potential_grad(x, w):
    """grad_x p = sum_c -(x - c) / |x - c|^3."""
    total = np.zeros(2)
    for c in charges(w):
        d = x - c
        r = np.sqrt(np.sum(d * d))
        total -= d / r ** 3
    return total


def potential_grad_tangent(x, tx, w, tw):
    """The derivative of grad_x p(x; w) along (tx, tw). For one charge, with d = x - c and
    r = |d|: d/dd [-d / r^3] = -I / r^3 + 3 d d^T / r^5. Only the first charge
    (10, 10 - w) moves with w: dd/dw = (0, 1) there."""
    total = np.zeros(2)
    for k, c in enumerate(charges(w)):
        d = x - c
        r = np.sqrt(np.sum(d * d))
        td = tx + (np.array([0.0, tw]) if k == 0 else 0.0)
        total += -td / r ** 3 + 3.0 * d * np.dot(d, td) / r ** 5
    return total


def naive_euler(w, tw=None):
    """The particle's squared x at the crossing of y = 0. Euler steps of DT with
    acceleration -grad p, while the next position stays above y = 0; then the crossing is
    interpolated linearly from the last position above it: x + (-x_y / xdot_y) xdot.
    With a tangent tw of w: (value, derivative along tw), carried forward by hand."""
    x, xdot = np.array([0.0, 8.0]), np.array([0.75, 0.0])
    tx, txdot = np.zeros(2), np.zeros(2)
    tw = 0.0 if tw is None else tw
    while True:
        xddot = -potential_grad(x, w)
        txddot = -potential_grad_tangent(x, tx, w, tw)
        x_new = x + DT * xdot
        if not x_new[1] > 0.0:
            break
        x, tx = x_new, tx + DT * txdot
        xdot, txdot = xdot + DT * xddot, txdot + DT * txddot
    dt_f = -x[1] / xdot[1]
    tdt_f = -(tx[1] * xdot[1] - x[1] * txdot[1]) / (xdot[1] * xdot[1])
    x_f = x + dt_f * xdot
    tx_f = tx + tdt_f * xdot + dt_f * txdot
    return x_f[0] * x_f[0], 2.0 * x_f[0] * tx_f[0]


def particle_cost(w):
    return naive_euler(w)[0]


def particle_cost_grad(w):
    return naive_euler(w, 1.0)[1]


def particle(w0):
    w = argmin(lambda w: particle_cost(w[0]),
               lambda w: np.array([particle_cost_grad(w[0])]), [w0])
    return float(w[0])
