"""Time gradients against primals, their growth, Hessian-vector products, specialization.

    python benchmarks/gradient.py [--sizes small,large] [--only lse,gmm] [--repeat N]

Table 1: for each workload, the primal (the compiled function) and its gradient
(`mod.grad(fn)`, every f64 parameter), timed interleaved in one run, and the ratio
gradient / primal. Medians. The cheap gradient principle says this ratio is a small
constant (the optimizer's target is at most 3). Beside them, from the same run: the
gradient compiled without stage `opt` (`compile_file(..., optimize=False)`), the speed-up
`opt` gives, and the gradient's op count at stage `ad` and at stage `opt` (its function
and those it calls). Then, where JAX and PyTorch are installed (`pip install ".[bench]"`),
the same gradients written naturally in them (benchmarks/peers.py), timed interleaved with
dpc's gradient in a second run (each on one thread, as a dpc call), and dpc's time divided
by theirs. The two runs are apart so that PyTorch's slow calls do not sit between dpc's
primal and gradient calls: they flush the caches, and slowed the primal more. Wherever
peers are timed beside dpc, each sample of each callable comes after one call of it that
is not timed: right after another framework's call (PyTorch's ode gradient takes 34 ms),
a call ran on the caches, branch predictors and TLB that one left, and took up to 1.5x
as long as in a loop of its own (dpc's ode and lstm gradients; JAX's lse and MLP
gradients 1.2-1.35x).

Table 2: scaling. time(2n) / time(n) for the llsq and ode gradients beside the same
ratio for their primals: a gradient whose cost grows like the primal's has the same
ratio (the check: within 20%). llsq doubles its sample points n, ode its state size n.

Then a loop of 10^6 iterations: its gradient's time and the peak memory the process
reached (the tape holds one f64 per iteration).

Table 3: ode's gradient beside gradients written by hand in C (benchmarks/c/ode_grad.c,
gcc -O3 -march=native) at the large size, all timed interleaved with dpc's primal and
gradient and the C primal: the transposition written loop by loop, the same rearranged
as gathers, and that again keeping the Runge-Kutta stages on the tape instead of
replaying them; and the gather form with the stages replayed written in .dp
(benchmarks/ode_grad.dp), compiled by dpc as a primal. Each time is also given divided
by dpc's primal: what gradient/primal would be with that gradient. On x86-64 all are
timed again with subnormal numbers flushed to zero (benchmarks/c/subnormals.c): at this
size the state's tail and the adjoint's head pass through the subnormal range, whose
arithmetic the CPU runs on a slow path, in the primal as in the gradients.

Table 4: Hessian-vector products (`mod.hvp(fn)`, forward mode over reverse, every f64
parameter) against the gradient, for gmm and the MLP at the large size: a small
constant is expected (under 4).

Table 5: specialization. For gmm, kmeans and lstm at the large size, the primal and the
gradient of `mod.specialize(fn, ...)`, every dimension and integer parameter fixed at the
input's values, against the generic ones: the native code knows the trip counts.

Table 6: dense Hessians of lse for n = 10, 100, 1000: `mod.hessian` (one native call
looping over the columns, what they share computed once before the loop) against a
Python loop calling `mod.hvp` once per column (how mod.hessian worked before), and
against JAX's `jax.jit(jax.hessian(lse))` where JAX is installed.

Table 7: loops inside element code. A Newton iteration and a two-variable iteration
mapped over an array (`[root(x[i], s) for i in range(n)]`, s steps of run-time count),
summed: primal and gradient as dpc compiles them (passes/interchange.py: each step a loop
over the elements), the same compiled without that pass (a loop per element, as before
it), and JAX's `vmap` of a `fori_loop`, all timed interleaved.

Table 8: loops written one element at a time. Huber's loss as a loop with an `if` that
adds one of two terms (its reverse sweep adds to r's adjoint in one branch: passes/
speculate.py moves that add after the branch, which becomes selects), the same as array
code with `where`, and a recurrence y[i] = c * y[i - 1] + x[i] (whose forward sweep
tapes the elements it reads, not the array: passes/ad.py, element_reads). Two
comprehensions over pairs of elements: a kernel matrix exp(-(x[i] - x[j])^2 / ell) times
y (the add into x's cotangent at i, the same place in every step of the inner loop, is
made once after it: passes/ad.py, invariant_reads), and the distances of all pairs of
rows of x (each pair's rows are added into x's cotangent element by element, in one loop:
passes/fusion.py, store_rows_by_element). A heat stencil with its edges under `if` (its
reverse step gathered in three loops, the middle one with no test: passes/gather.py), a
sliding window x[i + j] (proved in range from the loops' ranges: passes/bounds.py), and
a sum over a matrix by columns (its reverse sweep along rows: passes/loop_order.py).
Beside dpc's primal and gradient, JAX's gradient of the same written as JAX writes it
(`where`, `lax.scan`, broadcasting, shifted copies, `correlate`).

    python benchmarks/gradient.py --tables element_loops   # one table (or several, commas)
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import ir  # noqa: E402
import peers as peers_module  # noqa: E402
import reference  # noqa: E402  (needs the tests folder on sys.path)
from compiler import compile_file, compile_source, driver  # noqa: E402
from compiler.driver import reachable  # noqa: E402
from primal import (MIN_RUNS, agrees, build_c_library, c_call, declare, fmt_time,  # noqa: E402
                    measure, print_table, ptr)

WORKLOADS = ["lse", "llsq", "ode", "gmm", "lstm", "mlp", "kmeans"]
HVP_WORKLOADS = ["gmm", "mlp"]
SPECIALIZED_WORKLOADS = ["gmm", "kmeans", "lstm"]
DIFFERENTIATED = {"ode": "ode_last"}  # GradBench's ode gradient is of the last element
# workload: (inputs at size n, the n to start from) for the scaling table
SCALING = {
    "llsq": (lambda n: [np.random.default_rng(0).random(128), n], 4096),
    "ode": (lambda n: [np.random.default_rng(0).random(n), 100], 1000),
}


def functions(name: str, optimize: bool = True):
    """The compiled primal of workload `name` and its gradient."""
    file, fn, _ = reference.EXAMPLES[name]
    fn = DIFFERENTIATED.get(name, fn)
    mod = compile_file(ROOT / "examples" / file, optimize=optimize)
    return mod.function(fn), mod.grad(fn)


def op_count(module: ir.Module, root: str) -> int:
    """Ops (regions included) of `root` and the functions it calls."""
    return sum(1 for fn in reachable(module, root).functions.values() for _ in ir.walk_ops(fn.body))


def ratio_table(names: list[str], sizes: list[str], repeat: int) -> None:
    rows, peer_rows = [], []
    peers = peers_module.installed_peers()
    for size in sizes:
        for name in names:
            primal, grad = functions(name)
            _, plain = functions(name, optimize=False)
            args = reference.make_inputs(name, size)
            fns = {"primal": lambda: primal(*args), "grad": lambda: grad(*args),
                   "plain": lambda: plain(*args)}
            t = measure(fns, min_runs=repeat)
            # The peers in a run of their own, interleaved with dpc's gradient: PyTorch's
            # slow calls (up to a second) between dpc's flush its caches and skewed the
            # ratios above, which compare dpc with itself. Each sample after a call that
            # is not timed (warm), so that none is timed on what the one before it left.
            versus = {"dpc": fns["grad"]}
            for peer, gradient in peers_module.peer_gradients(name).items():
                versus[peer] = lambda gradient=gradient: gradient(*args)
            for fn in versus.values():
                fn()  # warm-up: JAX compiles here
            v = measure(versus, min_runs=repeat, warm=True) if len(versus) > 1 \
                else {"dpc": t["grad"]}
            owner = grad.owner
            rows.append([name, size, fmt_time(t["primal"]), fmt_time(t["grad"]),
                         f"{t['grad'] / t['primal']:.2f}", fmt_time(t["plain"]),
                         f"{t['plain'] / t['grad']:.2f}",
                         str(op_count(owner._differentiated, grad.name)),
                         str(op_count(owner._optimized, grad.name))])
            peer_rows.append([name, size, fmt_time(v["dpc"])]
                             + [fmt_time(v[p]) for p in peers]
                             + [f"{v['dpc'] / v[p]:.2f}" for p in peers])
            print(f"  done {name}/{size}", file=sys.stderr, flush=True)
    print("\nGradient against primal, median time per call (native), and what stage opt does:")
    print_table(["workload", "size", "primal", "gradient", "gradient/primal", "without opt",
                 "opt speed-up", "ops at ad", "ops at opt"], rows)
    if peers:
        print("\nThe same gradients in " + " and ".join(peers) + " (timed interleaved with dpc's "
              "gradient, each sample after an untimed call, in a run after the one above; "
              "dpc/peer < 1: dpc is faster):")
        print_table(["workload", "size", "dpc"] + peers + [f"dpc/{p}" for p in peers], peer_rows)
    else:
        print("\n(JAX and PyTorch are not installed: pip install \".[bench]\" to time them too)")


def scaling_table(repeat: int) -> None:
    rows = []
    for name, (inputs, n) in SCALING.items():
        primal, grad = functions(name)
        small, large = inputs(n), inputs(2 * n)
        t = measure({"primal n": lambda: primal(*small), "primal 2n": lambda: primal(*large),
                     "grad n": lambda: grad(*small), "grad 2n": lambda: grad(*large)},
                    min_runs=repeat)
        primal_growth = t["primal 2n"] / t["primal n"]
        grad_growth = t["grad 2n"] / t["grad n"]
        within = abs(grad_growth / primal_growth - 1.0) <= 0.2
        rows.append([name, str(n), f"{primal_growth:.2f}", f"{grad_growth:.2f}",
                     f"{grad_growth / primal_growth:.2f}", "yes" if within else "NO"])
    print("\nGrowth when n doubles, time(2n) / time(n), medians:")
    print_table(["workload", "n", "primal", "gradient", "gradient/primal", "within 20%"], rows)


def long_loop(repeat: int) -> None:
    mod = compile_file(ROOT / "examples" / "decay.dp")
    grad = mod.grad("decay", wrt="x")
    steps = 1_000_000
    t = measure({"primal": lambda: mod.decay(0.5, steps), "grad": lambda: grad(0.5, steps)},
                min_runs=repeat)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(f"\nA loop of {steps:,} iterations: primal {fmt_time(t['primal'])}, gradient "
          f"{fmt_time(t['grad'])} ({t['grad'] / t['primal']:.2f}x); peak memory of this "
          f"process so far {peak:.0f} MiB (the tape: {8 * steps / 2**20:.1f} MiB)")


# The hand-written gradients of ode_last in benchmarks/c/ode_grad.c, each (x, n, s, xb).
HAND_WRITTEN = {
    "C gradient, stages transposed loop by loop": "ode_last_grad_plain",
    "C gradient, rearranged as gathers": "ode_last_grad_replay",
    "C gradient, gathers, stages on the tape": "ode_last_grad_taped",
}


def hand_written_gradient(lib, fn: str, x: np.ndarray, s: int):
    """A zero-argument callable running C gradient `fn` at (x, s), and its result array
    (lib declared by primal.declare, which knows the gradients' signatures)."""
    c_fn = getattr(lib, fn)
    xb = np.empty_like(x)
    x_p, xb_p = ptr(x), ptr(xb)
    return (lambda: c_fn(x_p, len(x), s, xb_p)), xb


def hand_written_table(repeat: int) -> None:
    lib = build_c_library()
    declare(lib)
    primal, grad = functions("ode")
    # check on a state whose gradient does not underflow (at the large size it is all 0)
    x = 1.0 + np.random.default_rng(1).random(37)
    for fn in HAND_WRITTEN.values():
        run, xb = hand_written_gradient(lib, fn, x, 13)
        run()
        if not agrees(xb, grad(x, 13), rtol=1e-12):
            raise SystemExit(f"{fn} in benchmarks/c/ode_grad.c disagrees with dpc's gradient")
    by_hand = compile_file(ROOT / "benchmarks" / "ode_grad.dp").ode_last_grad
    if not agrees(by_hand(x, 13), grad(x, 13), rtol=1e-12):
        raise SystemExit("benchmarks/ode_grad.dp disagrees with dpc's gradient")
    x, s = reference.make_inputs("ode", "large")
    fns = {"dpc primal": lambda: primal(x, s), "C primal (benchmarks/c/ode.c)":
           c_call(lib, "ode", [x, s]), "dpc gradient": lambda: grad(x, s)}
    for label, fn in HAND_WRITTEN.items():
        fns[label] = hand_written_gradient(lib, fn, x, s)[0]
    fns["gathers, stages replayed, in .dp (benchmarks/ode_grad.dp)"] = lambda: by_hand(x, s)
    t = measure(fns, min_runs=repeat)
    rows = [[label, fmt_time(seconds), f"{seconds / t['dpc primal']:.2f}",
             f"{t['dpc gradient'] / seconds:.2f}"] for label, seconds in t.items()]
    header = ["code", "time", "time / dpc primal", "dpc gradient / time"]
    # The same calls with subnormal numbers flushed to zero: how much of each time is the
    # CPU's slow path for them (x86-64 only; numerics change, so only timed here).
    if lib.flush_subnormals(1):
        try:
            flushed = measure(fns, min_runs=repeat)
        finally:
            lib.flush_subnormals(0)
        header += ["flushed: time", "/ dpc primal"]
        for row, seconds in zip(rows, flushed.values()):
            row += [fmt_time(seconds), f"{seconds / flushed['dpc primal']:.2f}"]
    print("\node_last at the large size beside its gradient written by hand in C and in .dp, "
          "medians; then the same with subnormals flushed to zero (MXCSR FTZ and DAZ):")
    print_table(header, rows)


def hvp_table(repeat: int) -> None:
    rows = []
    for name in HVP_WORKLOADS:
        file, fn, _ = reference.EXAMPLES[name]
        mod = compile_file(ROOT / "examples" / file)
        grad, hvp = mod.grad(fn), mod.hvp(fn)
        args = reference.make_inputs(name, "large")
        rng = np.random.default_rng(1)
        vectors = [rng.standard_normal(np.shape(args[k])) for k in mod.function(fn).function.float_positions]
        vectors = [v if v.ndim else float(v) for v in vectors]
        t = measure({"grad": lambda: grad(*args), "hvp": lambda: hvp(*args, *vectors)},
                    min_runs=repeat)
        rows.append([name, fmt_time(t["grad"]), fmt_time(t["hvp"]), f"{t['hvp'] / t['grad']:.2f}"])
        print(f"  done hvp {name}", file=sys.stderr, flush=True)
    print("\nHessian-vector product against gradient, large size, median time per call:")
    print_table(["workload", "gradient", "hvp", "hvp/gradient"], rows)


def hessian_table(repeat: int) -> None:
    mod = compile_file(ROOT / "examples" / "lse.dp")
    hessian, hvp = mod.hessian("lse"), mod.hvp("lse")
    jax_hessian = peers_module.jax_hessian("lse") if "jax" in peers_module.installed_peers() else None
    rows = []
    for n in (10, 100, 1000):
        x = np.random.default_rng(2).standard_normal(n)
        units = np.eye(n)

        def by_columns():
            return np.stack([hvp(x, unit) for unit in units], axis=1)

        fns = {"dpc": lambda: hessian(x), "columns": by_columns}
        if jax_hessian is not None:
            fns["jax"] = lambda: jax_hessian(x)
        for fn in fns.values():
            fn()  # warm-up: JAX compiles here
        if not agrees(fns["dpc"](), by_columns()):
            raise SystemExit(f"mod.hessian('lse') disagrees with its hvp columns at n = {n}")
        t = measure(fns, min_runs=repeat, warm=True)
        row = [str(n), fmt_time(t["dpc"]), fmt_time(t["columns"]),
               f"{t['columns'] / t['dpc']:.1f}"]
        if jax_hessian is not None:
            row += [fmt_time(t["jax"]), f"{t['dpc'] / t['jax']:.2f}"]
        rows.append(row)
        print(f"  done hessian lse {n}", file=sys.stderr, flush=True)
    print("\nDense Hessian of lse, median time per call (dpc/jax < 1: dpc is faster):")
    header = ["n", "mod.hessian", "hvp per column from Python", "speed-up"]
    print_table(header + (["jax", "dpc/jax"] if jax_hessian is not None else []), rows)


def static_values(fn, args) -> dict:
    """Every i64 parameter and dimension of fn, at the values args give them."""
    values = {}
    for p, a in zip(fn.params, args):
        if str(p.type) == "i64":
            values[p.name_hint] = int(a)
        for d, size in zip(getattr(p.type, "shape", ()), np.shape(a)):
            if isinstance(d, str) and d != "?":
                values[d] = size
    return values


def specialization_table(repeat: int) -> None:
    rows = []
    for name in SPECIALIZED_WORKLOADS:
        file, fn, _ = reference.EXAMPLES[name]
        mod = compile_file(ROOT / "examples" / file)
        generic = mod.function(fn)
        args = reference.make_inputs(name, "large")
        values = static_values(generic.function, args)
        special = mod.specialize(fn, **values)
        rest = [a for p, a in zip(generic.function.params, args) if str(p.type) != "i64"]
        grad, special_grad = mod.grad(fn), mod.grad(special)
        t = measure({"primal": lambda: generic(*args), "primal static": lambda: special(*rest),
                     "grad": lambda: grad(*args), "grad static": lambda: special_grad(*rest)},
                    min_runs=repeat)
        shown = ",".join(f"{k}={v}" for k, v in sorted(values.items()))
        rows.append([name, shown, fmt_time(t["primal"]), fmt_time(t["primal static"]),
                     f"{t['primal'] / t['primal static']:.2f}", fmt_time(t["grad"]),
                     fmt_time(t["grad static"]), f"{t['grad'] / t['grad static']:.2f}"])
        print(f"  done specialize {name}", file=sys.stderr, flush=True)
    print("\nSpecialized for the input's sizes (mod.specialize) against generic, large size:")
    print_table(["workload", "static", "primal", "specialized", "speed-up", "gradient",
                 "specialized", "speed-up"], rows)


ELEMENT_LOOPS = """
def root(a: f64, s: i64) -> f64:
    y = a
    for k in range(s):
        y = 0.5 * (y + a / y)
    return y

def newton(x: f64[n], s: i64) -> f64:
    return sum([root(x[i], s) for i in range(n)])

def pair(a: f64, s: i64) -> f64:
    u = a
    v = 1.0
    for k in range(s):
        w = u / (v + a)
        u, v = u - 0.1 * w * v, v + 0.1 * (w - v * u)
    return u + v

def coupled(x: f64[n], s: i64) -> f64:
    return sum([pair(x[i], s) for i in range(n)])

def newton_grad(x: f64[n], s: i64) -> f64[n]:
    return grad(newton)(x, s)

def coupled_grad(x: f64[n], s: i64) -> f64[n]:
    return grad(coupled)(x, s)
"""


def compiled_per_element(text: str):
    """text compiled as it was before passes/interchange.py: its loops per element
    (derivatives made later, as mod.grad makes them, would have the pass)."""
    from passes.ad import AutoDiff
    from passes.simplify import InlineCalls
    passes = driver.derivative_passes
    driver.derivative_passes = lambda: [InlineCalls(), AutoDiff()]
    try:
        return compile_source(text, name="<element loops, per element>")
    finally:
        driver.derivative_passes = passes


def element_loops_table(repeat: int) -> None:
    mod = compile_source(ELEMENT_LOOPS, name="<element loops>")
    before = compiled_per_element(ELEMENT_LOOPS)
    jax_fns = (peers_module.jax_element_loops()
               if "jax" in peers_module.installed_peers() else None)
    rows = []
    for name in ("newton", "coupled"):
        for n, steps in ((100_000, 10), (1000, 1000), (4, 100_000)):
            x = 1.0 + np.random.default_rng(0).random(n)
            grad, grad_before = mod.function(name + "_grad"), before.function(name + "_grad")
            if not agrees(grad(x, steps), grad_before(x, steps), rtol=1e-12):
                raise SystemExit(f"{name}: the interchanged gradient disagrees")
            fns = {"primal": lambda: mod.function(name)(x, steps),
                   "grad": lambda: grad(x, steps),
                   "before primal": lambda: before.function(name)(x, steps),
                   "before grad": lambda: grad_before(x, steps)}
            if jax_fns is not None:
                import jax
                jax_f = jax.jit(jax_fns[name], static_argnums=1)
                jax_g = jax.jit(jax.grad(jax_fns[name]), static_argnums=1)
                if not agrees(np.asarray(jax_g(x, steps)), grad(x, steps), rtol=1e-10):
                    raise SystemExit(f"{name}: JAX's gradient disagrees with dpc's")
                fns["jax primal"] = lambda: jax.block_until_ready(jax_f(x, steps))
                fns["jax grad"] = lambda: jax.block_until_ready(jax_g(x, steps))
            t = measure(fns, min_runs=repeat, warm=True)
            row = [name, f"{n:,} x {steps:,}", fmt_time(t["primal"]), fmt_time(t["grad"]),
                   f"{t['grad'] / t['primal']:.2f}", fmt_time(t["before primal"]),
                   fmt_time(t["before grad"]), f"{t['before primal'] / t['primal']:.2f}",
                   f"{t['before grad'] / t['grad']:.2f}"]
            if jax_fns is not None:
                row += [fmt_time(t["jax primal"]), fmt_time(t["jax grad"]),
                        f"{t['grad'] / t['jax grad']:.2f}"]
            rows.append(row)
            print(f"  done element loops {name} {n} x {steps}", file=sys.stderr, flush=True)
    print("\nLoops inside element code (n elements x s steps), median time per call: "
          "interchanged (dpc), per element (before), JAX's vmap of fori_loop:")
    print_table(["program", "n x s", "primal", "gradient", "grad/primal", "before: primal",
                 "gradient", "speed-up primal", "gradient"]
                + (["jax: primal", "gradient", "dpc grad/jax grad"] if jax_fns else []), rows)


SCALAR_LOOPS = """
def huber_if(r: f64[n], delta: f64) -> f64:
    acc = 0.0
    for i in range(n):
        a = abs(r[i])
        if a <= delta:
            acc += 0.5 * r[i] * r[i]
        else:
            acc += delta * (a - 0.5 * delta)
    return acc

def huber_where(r: f64[n], delta: f64) -> f64:
    a = abs(r)
    return sum(where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta)))

def iir(x: f64[n], c: f64) -> f64:
    y = zeros(n)
    y[0] = x[0]
    for i in range(1, n):
        y[i] = c * y[i - 1] + x[i]
    return sum(y * y)

def kernel(x: f64[n], y: f64[n], ell: f64) -> f64:
    K = [[exp(-(x[i] - x[j]) * (x[i] - x[j]) / ell) for j in range(n)] for i in range(n)]
    return sum((K @ y) * y)

def pairwise(x: f64[n, d]) -> f64:
    return sum(sum(sqrt(sum((x[i] - x[j]) * (x[i] - x[j])) + 1e-9) for j in range(n))
               for i in range(n))

def heat(u0: f64[n], s: i64) -> f64:
    u = u0
    for t in range(s):
        u = [u[i] + 0.2 * ((u[i - 1] if i > 0 else 0.0) - 2.0 * u[i] +
                           (u[i + 1] if i < n - 1 else 0.0)) for i in range(n)]
    return sum(u * u)

def window(x: f64[n], w: f64[k]) -> f64:
    return sum(tanh([sum(w[j] * x[i + j] for j in range(k)) for i in range(n - k + 1)]))

def columns(a: f64[m, n], w: f64[n]) -> f64:
    acc = 0.0
    for j in range(n):
        for i in range(m):
            acc += a[i, j] * a[i, j] * w[j]
    return acc
"""


def scalar_loops_table(repeat: int) -> None:
    mod = compile_source(SCALAR_LOOPS, name="<scalar loops>")
    jax_fns = (peers_module.jax_scalar_loops()
               if "jax" in peers_module.installed_peers() else None)
    rng = np.random.default_rng(0)
    n = 200_000
    r, x = rng.standard_normal(n), rng.standard_normal(n)
    near = rng.standard_normal(500), rng.standard_normal(500), 0.7
    points = rng.standard_normal((300, 3))
    signal, taps = rng.standard_normal(100_000), rng.standard_normal(9)
    matrix, weights = rng.standard_normal((500, 500)), rng.standard_normal(500)
    # (program, the parameters differentiated, size, inputs): every f64 parameter, and for
    # the Huber loss also r alone, its usual use; the kernel matrix and the distances are
    # comprehensions over pairs, each pair's reverse sweep adding into x's cotangent at
    # both ends
    cases = [("huber_if", ("r", "delta"), f"{n:,}", (r, 1.0)),
             ("huber_if", ("r",), f"{n:,}", (r, 1.0)),
             ("huber_where", ("r", "delta"), f"{n:,}", (r, 1.0)),
             ("huber_where", ("r",), f"{n:,}", (r, 1.0)),
             ("iir", ("x", "c"), f"{n:,}", (x, 0.7)),
             ("kernel", ("x",), "500", near), ("pairwise", ("x",), "300 x 3", (points,)),
             ("heat", ("u0",), "2,000, 100 steps", (x[:2000], 100)),
             ("window", ("x", "w"), "100,000, 9", (signal, taps)),
             ("columns", ("a",), "500 x 500", (matrix, weights))]
    rows = []
    for name, wrt, size, args in cases:
        primal, grad = mod.function(name), mod.grad(name, wrt=wrt)
        fns = {"primal": lambda: primal(*args), "grad": lambda: grad(*args)}
        if jax_fns is not None:
            import jax
            counts = tuple(k for k, a in enumerate(args) if isinstance(a, int))  # trips
            jax_g = jax.jit(jax.grad(jax_fns[name], argnums=tuple(range(len(wrt)))),
                            static_argnums=counts)
            # to 1e-9 of the largest element: the window's cotangent of w sums 10^5 terms
            # that cancel to a few 1e-3, where the orders of two sums differ in the 1e-12s
            if not all(np.max(np.abs(np.asarray(j) - d), initial=0.0)
                       <= 1e-9 * np.max(np.abs(d), initial=0.0)
                       for j, d in zip(jax_g(*args), peers_module.as_tuple(grad(*args)))):
                raise SystemExit(f"{name}: JAX's gradient disagrees with dpc's")
            fns["jax grad"] = lambda: jax.block_until_ready(jax_g(*args))
        t = measure(fns, min_runs=repeat, warm=True)
        row = [name, ", ".join(wrt), size, fmt_time(t["primal"]), fmt_time(t["grad"]),
               f"{t['grad'] / t['primal']:.2f}"]
        if jax_fns is not None:
            row += [fmt_time(t["jax grad"]), f"{t['grad'] / t['jax grad']:.2f}"]
        rows.append(row)
        print(f"  done scalar loops {name} wrt {wrt}", file=sys.stderr, flush=True)
    print("\nLoops over elements written one scalar at a time (an `if` in an accumulating loop; "
          "a recurrence; comprehensions over pairs: a kernel matrix, pairwise distances; a "
          "stencil with its edges under `if`; a sliding window; loops down columns), and "
          "huber as array code; JAX as it writes them (where, scan, broadcasting, shifted "
          "copies, correlate, one product), median time per call:")
    print_table(["program", "wrt", "n", "primal", "gradient", "grad/primal"]
                + (["jax: gradient", "dpc grad/jax grad"] if jax_fns else []), rows)


TABLES = ("ratio", "scaling", "long_loop", "hand_written", "hvp", "specialization", "hessian",
          "element_loops", "scalar_loops")  # in the order they print


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="large", help="comma-separated: small,large (default large)")
    p.add_argument("--only", default=",".join(WORKLOADS), help="comma-separated workloads")
    p.add_argument("--repeat", type=int, default=MIN_RUNS,
                   help=f"minimum timed runs per cell (default {MIN_RUNS})")
    p.add_argument("--tables", default=",".join(TABLES),
                   help=f"comma-separated tables to print (default all: {', '.join(TABLES)})")
    args = p.parse_args(argv)
    args.tables = [t for t in args.tables.split(",") if t]
    for t in args.tables:
        if t not in TABLES:
            p.error(f"unknown table {t!r}; choose from {', '.join(TABLES)}")
    args.sizes = [s for s in args.sizes.split(",") if s]
    args.only = [w for w in args.only.split(",") if w]
    for w in args.only:
        if w not in WORKLOADS:
            p.error(f"unknown workload {w!r}; choose from {', '.join(WORKLOADS)}")
    return args


def machine() -> str:
    """The CPU the figures are of: the machine a run lands on changes from day to day, and
    with it the vectors LLVM may use (a matrix product's tiles are sized by them)."""
    from llvmlite import binding
    features = binding.get_host_cpu_features()
    vectors = ("AVX-512" if features.get("avx512f") else "AVX2" if features.get("avx2")
               else "no AVX2")
    return f"Machine: {binding.get_host_cpu_name()} (LLVM's name), {vectors}, {os.cpu_count()} cores"


def main(argv=None) -> None:
    args = parse_args(argv)
    peers_module.limit_threads(1)
    print(machine())
    tables = {"ratio": lambda repeat: ratio_table(args.only, args.sizes, repeat),
              "scaling": scaling_table, "long_loop": long_loop,
              "hand_written": hand_written_table, "hvp": hvp_table,
              "specialization": specialization_table, "hessian": hessian_table,
              "element_loops": element_loops_table, "scalar_loops": scalar_loops_table}
    for name in TABLES:
        if name in args.tables:
            tables[name](args.repeat)


if __name__ == "__main__":
    main()
