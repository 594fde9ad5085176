"""The benchmark workloads written in JAX and in PyTorch (CPU, float64), for timing dpc's
gradients beside theirs.

    python benchmarks/peers.py --check                 # every peer gradient against dpc's
    python benchmarks/peers.py --time [--only lse,gmm] [--repeat N] [--threads N]

Needs the `bench` extra (`pip install ".[bench]"`: jax[cpu] and a CPU build of torch).
A framework that is not installed is skipped.

Each workload is written the way a user of the framework would write it: vectorized array
code, with a loop only where the computation has one (ode's Runge-Kutta steps and lstm's
sequence: `lax.fori_loop` / `lax.scan` in JAX, a Python loop in PyTorch), and the
library's own helpers where a user would reach for them (logsumexp, sigmoid, multigammaln).
The math is that of examples/NAME.dp (NumPy versions in tests/reference.py).

A gradient is taken with respect to every f64 parameter of the dpc function, as
`mod.grad(fn)` does by default, and returned in dpc's parameter order:

| workload | dpc function | differentiated parameters                           | integers |
| -------- | ------------ | --------------------------------------------------- | -------- |
| lse      | lse          | x                                                   |          |
| llsq     | llsq         | x                                                   | n        |
| ode      | ode_last     | x                                                   | s        |
| gmm      | gmm          | alphas, means, icf, x, gamma                        | m        |
| lstm     | lstm         | main_params, extra_params, state, sequence          |          |
| mlp      | mlp_loss     | w1, b1, w2, b2, x, y                                |          |
| kmeans   | kmeans       | points, centroids                                   |          |

The integer parameters fix array sizes and trip counts: JAX takes them as
`static_argnums`, PyTorch as plain Python ints.

JAX: `jax.jit(jax.grad(f, argnums=...))` with x64 enabled (importing JAX through this
module turns `jax_enable_x64` on for the process); the callable blocks until the result is
ready. PyTorch: each call wraps the NumPy inputs with `torch.from_numpy` (no copy), marks
them `requires_grad`, runs the forward pass and `.backward()`, and returns the leaves'
`.grad` -- what a gradient costs a PyTorch user in eager mode (no torch.compile).

--time runs dpc and the peers interleaved (benchmarks/primal.py's `measure`), each on one
thread by default, since a dpc call runs on one: on a shared machine, torch's default
thread pool stalls whenever another process holds a core (10-100x slower calls).
`--threads 0` keeps each framework's default.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
WORKLOADS = ["lse", "llsq", "ode", "gmm", "lstm", "mlp", "kmeans"]
DIFFERENTIATED = {"ode": "ode_last"}  # GradBench's ode gradient is of the last element

# workload -> (positions of the differentiated parameters, positions of the integers)
PARAMS = {
    "lse": ((0,), ()),
    "llsq": ((0,), (1,)),
    "ode": ((0,), (1,)),
    "gmm": ((0, 1, 2, 3, 4), (5,)),
    "lstm": ((0, 1, 2, 3), ()),
    "mlp": ((0, 1, 2, 3, 4, 5), ()),
    "kmeans": ((0, 1), ()),
}

CHECK_RTOL = 1e-8
CHECK_SEEDS = (0, 1)


# ----------------------------------------------------------------------------- JAX

def jax_objectives() -> dict[str, Callable]:
    """The workloads as JAX functions of dpc's positional arguments. Imports JAX (and
    enables float64); raises ImportError if it is not installed."""
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    from jax import lax
    from jax.scipy.special import multigammaln

    def lse(x):
        return jax.nn.logsumexp(x)

    def llsq(x, n):
        t = -1.0 + jnp.arange(n, dtype=jnp.float64) * 2.0 / (n - 1)
        residual = jnp.sign(t) - jnp.vander(t, len(x), increasing=True) @ x
        return 0.5 * jnp.dot(residual, residual)

    def ode_last(x, s):
        h = 2.0 / s

        def rhs(y):
            return jnp.concatenate([x[:1], x[1:] * y[:-1]])

        def step(_, y):
            k1 = rhs(y)
            k2 = rhs(y + h * k1 / 2.0)
            k3 = rhs(y + h * k2 / 2.0)
            k4 = rhs(y + h * k3)
            return y + h * (k1 + 2.0 * k2 + 2.0 * k3 + k4) / 6.0

        return lax.fori_loop(0, s, step, jnp.zeros_like(x))[-1]

    def gmm(alphas, means, icf, x, gamma, m):
        n, d = x.shape
        k = alphas.shape[0]
        log_diag = icf[:, :d]
        cols, rows = np.triu_indices(d, 1)   # strictly lower triangle, column by column
        qs = (jnp.zeros((k, d, d)).at[:, rows, cols].set(icf[:, d:])
              + jnp.exp(log_diag)[:, :, None] * jnp.eye(d))
        z = jnp.einsum("jab,ijb->ija", qs, x[:, None, :] - means[None, :, :])
        beta = alphas + jnp.sum(log_diag, axis=1) - 0.5 * jnp.sum(z * z, axis=2)
        log_likelihood = (-0.5 * n * d * math.log(2.0 * math.pi)
                          + jnp.sum(jax.nn.logsumexp(beta, axis=1))
                          - n * jax.nn.logsumexp(alphas))
        dof = d + m + 1
        frobenius = jnp.sum(jnp.exp(log_diag) ** 2, axis=1) + jnp.sum(icf[:, d:] ** 2, axis=1)
        norm = dof * d * (jnp.log(gamma) - 0.5 * math.log(2.0)) - multigammaln(0.5 * dof, d)
        log_prior = k * norm + jnp.sum(m * jnp.sum(log_diag, axis=1)
                                       - 0.5 * gamma ** 2 * frobenius)
        return log_likelihood + log_prior

    def lstm(main_params, extra_params, state, sequence):
        layers = main_params.shape[0] // 2
        c, b = sequence.shape
        weights = main_params[0::2].reshape(layers, 4, b)   # forget, input, output, change
        biases = main_params[1::2].reshape(layers, 4, b)

        def step(s, symbols):
            current, following = symbols
            x = current * extra_params[0]
            new = []
            for i in range(layers):
                hidden, cell = s[2 * i], s[2 * i + 1]
                w, bias = weights[i], biases[i]
                forget = jax.nn.sigmoid(x * w[0] + bias[0])
                ingate = jax.nn.sigmoid(hidden * w[1] + bias[1])
                outgate = jax.nn.sigmoid(x * w[2] + bias[2])
                change = jnp.tanh(hidden * w[3] + bias[3])
                cell = cell * forget + ingate * change
                hidden = outgate * jnp.tanh(cell)
                new += [hidden, cell]
                x = hidden
            ypred = x * extra_params[1] + extra_params[2]
            ynorm = ypred - jnp.log(jnp.sum(jnp.exp(ypred)) + 2.0)   # ADBench's "+ 2"
            return jnp.stack(new), jnp.dot(following, ynorm)

        _, terms = lax.scan(step, state, (sequence[:-1], sequence[1:]))
        return -jnp.sum(terms) / ((c - 1) * b)

    def mlp_loss(w1, b1, w2, b2, x, y):
        pred = jnp.tanh(x @ w1 + b1) @ w2 + b2
        return jnp.mean((pred - y) ** 2)

    def kmeans(points, centroids):
        sq = jnp.sum((points[:, None, :] - centroids[None, :, :]) ** 2, axis=2)
        return jnp.sum(jnp.min(sq, axis=1))

    return {"lse": lse, "llsq": llsq, "ode": ode_last, "gmm": gmm, "lstm": lstm,
            "mlp": mlp_loss, "kmeans": kmeans}


def jax_gradient(name: str) -> Callable:
    import jax
    wrt, static = PARAMS[name]
    grad = jax.jit(jax.grad(jax_objectives()[name], argnums=wrt), static_argnums=static)
    return lambda *args: jax.block_until_ready(grad(*args))


def jax_primal(name: str) -> Callable:
    import jax
    _, static = PARAMS[name]
    f = jax.jit(jax_objectives()[name], static_argnums=static)
    return lambda *args: jax.block_until_ready(f(*args))


def jax_element_loops() -> dict[str, Callable]:
    """The loops inside element code of benchmarks/gradient.py's element-loop table, as
    JAX writes them: `vmap` of a function with a `fori_loop` of static trips (a `scan`,
    which reverse mode can differentiate), summed. Each is f(x, s), s static."""
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    from jax import lax

    def root(a, s):
        return lax.fori_loop(0, s, lambda k, y: 0.5 * (y + a / y), a)

    def pair(a, s):
        def step(k, uv):
            u, v = uv
            w = u / (v + a)
            return u - 0.1 * w * v, v + 0.1 * (w - v * u)
        u, v = lax.fori_loop(0, s, step, (a, jnp.ones_like(a)))
        return u + v

    return {name: lambda x, s, element=element: jnp.sum(jax.vmap(element, (0, None))(x, s))
            for name, element in (("newton", root), ("coupled", pair))}


def jax_scalar_loops() -> dict[str, Callable]:
    """The programs of benchmarks/gradient.py's scalar-loop table as JAX writes them: the
    Huber loss with `where` (both of dpc's forms), the recurrence with `lax.scan`, the
    kernel matrix and the distances by broadcasting, the heat stencil with shifted
    copies, the sliding window with `correlate`, the column loops as one product."""
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    from jax import lax

    def huber(r, delta):
        a = jnp.abs(r)
        return jnp.sum(jnp.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta)))

    def iir(x, c):
        def step(previous, xi):
            y = c * previous + xi
            return y, y
        _, ys = lax.scan(step, x[0], x[1:])
        return x[0] * x[0] + jnp.sum(ys * ys)

    def kernel(x, y, ell):
        d = x[:, None] - x[None, :]
        return jnp.sum((jnp.exp(-d * d / ell) @ y) * y)

    def pairwise(x):
        d = x[:, None, :] - x[None, :, :]
        return jnp.sum(jnp.sqrt(jnp.sum(d * d, axis=-1) + 1e-9))

    def heat(u0, s):  # s static: a loop of known trips, as reverse mode needs
        def step(t, u):
            below = jnp.concatenate([jnp.zeros(1), u[:-1]])
            above = jnp.concatenate([u[1:], jnp.zeros(1)])
            return u + 0.2 * (below - 2.0 * u + above)
        return jnp.sum(lax.fori_loop(0, s, step, u0) ** 2)

    def window(x, w):
        return jnp.sum(jnp.tanh(jnp.correlate(x, w, "valid")))

    def columns(a, w):
        return jnp.sum(a * a * w)

    return {"huber_if": huber, "huber_where": huber, "iir": iir, "kernel": kernel,
            "pairwise": pairwise, "heat": heat, "window": window, "columns": columns}


def jax_hessian(name: str) -> Callable:
    """The jitted dense Hessian (jax.hessian: forward over reverse) of a workload with one
    f64 parameter."""
    import jax
    hessian = jax.jit(jax.hessian(jax_objectives()[name]))
    return lambda *args: jax.block_until_ready(hessian(*args))


# ----------------------------------------------------------------------------- PyTorch

def torch_objectives() -> dict[str, Callable]:
    """The workloads as PyTorch functions of float64 tensors (integers stay Python ints).
    Raises ImportError if torch is not installed."""
    import torch

    def lse(x):
        return torch.logsumexp(x, dim=0)

    def llsq(x, n):
        t = -1.0 + torch.arange(n, dtype=torch.float64) * 2.0 / (n - 1)
        residual = torch.sign(t) - torch.vander(t, len(x), increasing=True) @ x
        return 0.5 * torch.dot(residual, residual)

    def ode_last(x, s):
        h = 2.0 / s

        def rhs(y):
            return torch.cat([x[:1], x[1:] * y[:-1]])

        y = torch.zeros_like(x)
        for _ in range(s):
            k1 = rhs(y)
            k2 = rhs(y + h * k1 / 2.0)
            k3 = rhs(y + h * k2 / 2.0)
            k4 = rhs(y + h * k3)
            y = y + h * (k1 + 2.0 * k2 + 2.0 * k3 + k4) / 6.0
        return y[-1]

    def gmm(alphas, means, icf, x, gamma, m):
        n, d = x.shape
        k = alphas.shape[0]
        log_diag = icf[:, :d]
        cols, rows = np.triu_indices(d, 1)   # strictly lower triangle, column by column
        lower = icf.new_zeros((k, d, d))
        lower[:, rows, cols] = icf[:, d:]
        qs = lower + torch.diag_embed(torch.exp(log_diag))
        z = torch.einsum("jab,ijb->ija", qs, x[:, None, :] - means[None, :, :])
        beta = alphas + log_diag.sum(dim=1) - 0.5 * (z * z).sum(dim=2)
        log_likelihood = (-0.5 * n * d * math.log(2.0 * math.pi)
                          + torch.logsumexp(beta, dim=1).sum()
                          - n * torch.logsumexp(alphas, dim=0))
        dof = d + m + 1
        frobenius = (torch.exp(log_diag) ** 2).sum(dim=1) + (icf[:, d:] ** 2).sum(dim=1)
        multigamma = torch.special.multigammaln(
            torch.tensor(0.5 * dof, dtype=torch.float64), d)
        norm = dof * d * (torch.log(gamma) - 0.5 * math.log(2.0)) - multigamma
        log_prior = k * norm + (m * log_diag.sum(dim=1) - 0.5 * gamma ** 2 * frobenius).sum()
        return log_likelihood + log_prior

    def lstm(main_params, extra_params, state, sequence):
        layers = main_params.shape[0] // 2
        c, b = sequence.shape
        weights = main_params[0::2].reshape(layers, 4, b)   # forget, input, output, change
        biases = main_params[1::2].reshape(layers, 4, b)
        hidden = [state[2 * i] for i in range(layers)]
        cell = [state[2 * i + 1] for i in range(layers)]
        total = 0.0
        for t in range(c - 1):
            x = sequence[t] * extra_params[0]
            for i in range(layers):
                w, bias = weights[i], biases[i]
                forget = torch.sigmoid(x * w[0] + bias[0])
                ingate = torch.sigmoid(hidden[i] * w[1] + bias[1])
                outgate = torch.sigmoid(x * w[2] + bias[2])
                change = torch.tanh(hidden[i] * w[3] + bias[3])
                cell[i] = cell[i] * forget + ingate * change
                hidden[i] = outgate * torch.tanh(cell[i])
                x = hidden[i]
            ypred = x * extra_params[1] + extra_params[2]
            ynorm = ypred - torch.log(torch.exp(ypred).sum() + 2.0)   # ADBench's "+ 2"
            total = total + torch.dot(sequence[t + 1], ynorm)
        return -total / ((c - 1) * b)

    def mlp_loss(w1, b1, w2, b2, x, y):
        pred = torch.tanh(x @ w1 + b1) @ w2 + b2
        return torch.mean((pred - y) ** 2)

    def kmeans(points, centroids):
        sq = ((points[:, None, :] - centroids[None, :, :]) ** 2).sum(dim=2)
        return sq.min(dim=1).values.sum()

    return {"lse": lse, "llsq": llsq, "ode": ode_last, "gmm": gmm, "lstm": lstm,
            "mlp": mlp_loss, "kmeans": kmeans}


def torch_leaf(value, requires_grad: bool):
    """A float64 tensor for a NumPy array (sharing its memory) or a Python float."""
    import torch
    if isinstance(value, np.ndarray):
        tensor = torch.from_numpy(value)
    else:
        tensor = torch.tensor(value, dtype=torch.float64)
    return tensor.requires_grad_(requires_grad)


def torch_gradient(name: str) -> Callable:
    wrt, static = PARAMS[name]
    f = torch_objectives()[name]

    def gradient(*args):
        inputs = [a if k in static else torch_leaf(a, k in wrt) for k, a in enumerate(args)]
        f(*inputs).backward()
        return tuple(inputs[k].grad for k in wrt)

    return gradient


def torch_primal(name: str) -> Callable:
    import torch
    _, static = PARAMS[name]
    f = torch_objectives()[name]

    def primal(*args):
        with torch.no_grad():
            return f(*[a if k in static else torch_leaf(a, False) for k, a in enumerate(args)])

    return primal


# ----------------------------------------------------------------------------- API

PEERS = {"jax": (jax_gradient, jax_primal), "torch": (torch_gradient, torch_primal)}


def installed_peers() -> list[str]:
    """The peer frameworks that can be imported, in PEERS order."""
    found = []
    for peer in PEERS:
        try:
            __import__(peer)
        except ImportError:
            continue
        found.append(peer)
    return found


def peer_gradients(name: str) -> dict[str, Callable]:
    """Peer name ("jax", "torch"; the installed ones) -> a callable taking dpc's positional
    arguments for workload `name` and returning the gradient with respect to every f64
    parameter, as a tuple of arrays in dpc's parameter order."""
    if name not in PARAMS:
        raise KeyError(f"no workload named {name!r}; choose from {', '.join(WORKLOADS)}")
    return {peer: PEERS[peer][0](name) for peer in installed_peers()}


def peer_primals(name: str) -> dict[str, Callable]:
    """Like peer_gradients, for the differentiated function's value (for ode, the last
    element of the solution: dpc's `ode_last`)."""
    if name not in PARAMS:
        raise KeyError(f"no workload named {name!r}; choose from {', '.join(WORKLOADS)}")
    return {peer: PEERS[peer][1](name) for peer in installed_peers()}


# ----------------------------------------------------------------------------- dpc side

def dpc_functions(name: str):
    """dpc's compiled primal and gradient of workload `name` (needs the repository root
    and tests/ on sys.path)."""
    import reference
    from compiler import compile_file
    file, fn, _ = reference.EXAMPLES[name]
    fn = DIFFERENTIATED.get(name, fn)
    mod = compile_file(ROOT / "examples" / file)
    return mod.function(fn), mod.grad(fn)


def as_tuple(gradient) -> tuple:
    """dpc returns a bare array for a single differentiated parameter."""
    return gradient if isinstance(gradient, tuple) else (gradient,)


def relative_error(got, want) -> float:
    """max |got - want| / max |want|, over one gradient array."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return math.inf
    scale = float(np.max(np.abs(want))) if want.size else 0.0
    diff = float(np.max(np.abs(got - want))) if want.size else 0.0
    return diff / scale if scale > 0.0 else diff


def setup_paths() -> None:
    for path in (ROOT / "benchmarks", ROOT, ROOT / "tests"):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))


# ----------------------------------------------------------------------------- --check

def check(names: list[str]) -> bool:
    """Every installed peer's gradient and value against dpc's at the small size, for the
    inputs of seeds CHECK_SEEDS (gmm's seed 1 has m = 1 and gamma = 0.7)."""
    import reference
    peers = installed_peers()
    print(f"peers: {', '.join(peers) or 'none installed'}; tolerance {CHECK_RTOL:g} relative; "
          f"small size, seeds {', '.join(map(str, CHECK_SEEDS))}")
    all_ok = True
    for name in names:
        primal, grad = dpc_functions(name)
        gradients, values = peer_gradients(name), peer_primals(name)
        for peer in peers:
            errors = []   # (gradient error, value error) per seed
            for seed in CHECK_SEEDS:
                args = reference.make_inputs(name, "small", seed=seed)
                want, got = as_tuple(grad(*args)), gradients[peer](*args)
                grad_error = max(relative_error(g, w) for g, w in zip(got, want))
                if len(got) != len(want):
                    grad_error = math.inf
                errors.append((grad_error, relative_error(values[peer](*args), primal(*args))))
            grad_error = max(e[0] for e in errors)
            value_error = max(e[1] for e in errors)
            ok = max(grad_error, value_error) <= CHECK_RTOL
            all_ok &= ok
            print(f"  {name:7} {peer:6} {'ok' if ok else 'MISMATCH':9} largest relative error: "
                  f"gradient {grad_error:.1e}, value {value_error:.1e}")
    return all_ok


# ----------------------------------------------------------------------------- --time

def time_gradients(names: list[str], repeat: int) -> None:
    """Median time of dpc's gradient and each peer's at the large size, interleaved."""
    import reference
    from primal import fmt_time, measure, print_table
    peers = installed_peers()
    rows = []
    for name in names:
        args = reference.make_inputs(name, "large")
        _, grad = dpc_functions(name)
        fns = {"dpc": lambda: grad(*args)}
        for peer, gradient in peer_gradients(name).items():
            fns[peer] = lambda gradient=gradient: gradient(*args)
        for fn in fns.values():
            fn()   # warm-up: JAX compiles here, dpc loads its native code
        t = measure(fns, min_runs=repeat, warm=True)
        row = [name] + [fmt_time(t[p]) for p in ["dpc", *peers]]
        row += [f"{t['dpc'] / t[p]:.2f}" for p in peers]
        rows.append(row)
        print(f"  done {name}", file=sys.stderr, flush=True)
    print("\nGradient, large size, median time per call (after a warm-up call; "
          "JAX compile excluded):")
    print_table(["workload", "dpc", *peers, *[f"dpc/{p}" for p in peers]], rows)
    threads = []
    if "torch" in peers:
        import torch
        count = torch.get_num_threads()
        threads.append(f"torch {torch.__version__} on {count} thread{'s' * (count > 1)}")
    if "jax" in peers:
        import jax
        single = "intra_op_parallelism_threads=1" in os.environ.get("XLA_FLAGS", "")
        threads.append(f"jax {jax.__version__} on {jax.devices()[0].platform}, "
                       f"{'1 thread' if single else 'default threads'}")
    if threads:
        print("(" + "; ".join(threads) + ")")


def limit_threads(threads: int) -> None:
    """Run the peers' kernels on `threads` threads (dpc's calls run on one). Must come
    before JAX's first computation: XLA reads its flags when its CPU client starts."""
    if threads == 1:
        flags = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + flags).strip()
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(threads)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true",
                      help="compare every peer's gradient with dpc's at the small size")
    mode.add_argument("--time", action="store_true",
                      help="time dpc's gradient against the peers' at the large size")
    p.add_argument("--only", default=",".join(WORKLOADS), help="comma-separated workloads")
    p.add_argument("--repeat", type=int, default=5, help="minimum timed runs (default 5)")
    p.add_argument("--threads", type=int, default=1,
                   help="threads for the peers' kernels, 0 for each framework's default "
                        "(default 1, like a dpc call)")
    args = p.parse_args(argv)
    args.only = [w for w in args.only.split(",") if w]
    for w in args.only:
        if w not in WORKLOADS:
            p.error(f"unknown workload {w!r}; choose from {', '.join(WORKLOADS)}")
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    setup_paths()
    if args.threads > 0:
        limit_threads(args.threads)
    if args.check:
        sys.exit(0 if check(args.only) else 1)
    time_gradients(args.only, args.repeat)


if __name__ == "__main__":
    main()
