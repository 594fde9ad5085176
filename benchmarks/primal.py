"""Time the primal (the plain function, no derivatives) of every example against NumPy and
against the same algorithm hand-written in C.

    python benchmarks/primal.py [--sizes small,large] [--only lse,gmm] [--repeat N]

Columns: NumPy written the natural vectorized way (tests/reference.py), C compiled with
gcc -O3 -march=native (benchmarks/c/NAME.c, the loops of examples/NAME.dp), and dpc's
compiled function. The three are timed interleaved, one sample of each in turn, so that
load from other processes on a shared machine hits them alike and the ratios stay
meaningful. Every figure is a median.

Then shifted reads: a loop that reads x[i + 1] under `if i < n - 1` (the reverse sweep's
shape) against one that reads x[i - 1] under `if i > 0`, which needs no test to stay in
range; the first is vectorized only since the bounds pass takes the `if`'s test as a proof
(before that, 3.7-4.5x slower than the second). Then a matrix times a vector (and row
sums) against NumPy. Then the per-call overhead of a trivial
dpc function and the compile time of
examples/gmm.dp, of its gradient and of its Hessian-vector product, cold and from the
on-disk cache.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

import reference  # noqa: E402  (needs the tests folder on sys.path)
from compiler import compile_file, compile_source  # noqa: E402
from compiler.driver import BACKENDS  # noqa: E402

WORKLOADS = ["lse", "llsq", "ode", "gmm", "lstm", "mlp", "kmeans"]
FAST_MATH = [False]  # set by --fast-math
MIN_RUNS = 5
MIN_SECONDS = 0.2       # per implementation and cell
SAMPLE_SECONDS = 2e-4   # calls faster than this are timed in batches (timer resolution)
INTERP_MAX_RUNS = 3     # the interpreter is slow: a few runs at the small size only


# ----------------------------------------------------------------------------- timing

def batch_size(fn) -> int:
    """Warms `fn` up once and returns how many calls to time per sample, so that one
    sample lasts at least SAMPLE_SECONDS and perf_counter's resolution does not matter."""
    t0 = time.perf_counter_ns()
    fn()
    once = max(time.perf_counter_ns() - t0, 1) * 1e-9
    return max(1, int(SAMPLE_SECONDS / once))


def sample(fn, batch: int, warm: bool = False) -> float:
    """Seconds per call, averaged over one batch of calls; warm: after one call untimed."""
    if warm:
        fn()
    t0 = time.perf_counter_ns()
    for _ in range(batch):
        fn()
    return (time.perf_counter_ns() - t0) * 1e-9 / batch


def measure(fns: dict, min_runs: int = MIN_RUNS, min_seconds: float = MIN_SECONDS,
            max_runs: int | None = None, batch: int | None = None, warm: bool = False) -> dict:
    """Median seconds per call of each callable in `fns`, sampled round-robin until each
    has at least `min_runs` samples and `min_seconds` of timed calls (or `max_runs`).
    `batch` fixes the calls per sample (after the warm-up) instead of calibrating it.
    warm: each sample starts with a call that is not timed, so that no callable is timed
    on the caches, branch predictors and TLB that the one before it left (frameworks
    side by side: a PyTorch call of 34 ms before each of dpc's ode gradients made those
    1.46x slower than alone)."""
    batches = {name: batch_size(fn) if batch is None else (fn(), batch)[1]
               for name, fn in fns.items()}
    samples = {name: [] for name in fns}
    spent = {name: 0.0 for name in fns}
    while True:
        runs = len(next(iter(samples.values())))
        if max_runs is not None and runs >= max_runs:
            break
        if runs >= min_runs and all(s >= min_seconds for s in spent.values()):
            break
        for name, fn in fns.items():
            per_call = sample(fn, batches[name], warm)
            samples[name].append(per_call)
            spent[name] += per_call * batches[name]
    return {name: float(np.median(s)) for name, s in samples.items()}


def fmt_time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.3g} µs"
    if seconds < 1.0:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds:.3g} s"


# ----------------------------------------------------------------------------- the C side

def build_c_library() -> ctypes.CDLL:
    """Compiles benchmarks/c/*.c into one shared library, unless it is newer than every
    source, and loads it."""
    sources = sorted((BENCH / "c").glob("*.c"))
    out_dir = BENCH / "build"
    out_dir.mkdir(exist_ok=True)
    lib = out_dir / "libprimal.so"
    if not lib.exists() or lib.stat().st_mtime < max(s.stat().st_mtime for s in sources):
        # build under a temporary name and rename, so a concurrent run never loads half a file
        tmp = out_dir / f"libprimal.{os.getpid()}.so"
        cmd = ["gcc", "-O3", "-march=native", "-shared", "-fPIC", "-o", str(tmp),
               *map(str, sources), "-lm"]
        subprocess.run(cmd, check=True)
        os.replace(tmp, lib)
    return ctypes.CDLL(str(lib))


DOUBLE_P = ctypes.POINTER(ctypes.c_double)
D, I, P = ctypes.c_double, ctypes.c_int64, DOUBLE_P

# C function: (result type, argument types). The pointers are row-major float64 arrays.
C_SIGNATURES = {
    "lse": (D, [P, I]),
    "llsq": (D, [P, I, I]),
    "ode": (None, [P, I, I, P]),
    "gmm": (D, [P, P, P, P, I, I, I, D, I]),
    "lstm": (D, [P, P, P, P, I, I, I]),
    "kmeans": (D, [P, P, I, I, I]),
    "mlp_loss": (D, [P, P, P, P, P, P, I, I, I, I]),
    "add_one": (D, [D]),
    # ode_last's gradient written by hand (benchmarks/c/ode_grad.c; benchmarks/gradient.py)
    "ode_last_grad_plain": (None, [P, I, I, P]),
    "ode_last_grad_replay": (None, [P, I, I, P]),
    "ode_last_grad_taped": (None, [P, I, I, P]),
    "flush_subnormals": (ctypes.c_int, [ctypes.c_int]),  # benchmarks/c/subnormals.c
}


def declare(lib: ctypes.CDLL) -> None:
    for name, (restype, argtypes) in C_SIGNATURES.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = restype, argtypes


def ptr(a: np.ndarray):
    return a.ctypes.data_as(DOUBLE_P)


def c_call(lib, name: str, args: list):
    """A zero-argument callable running the C version of workload `name` on the
    make_inputs arguments `args`. Pointers and sizes are made here, outside the timed
    call (a.ctypes.data_as alone costs microseconds); the closure keeps the arrays alive."""
    arrays = [np.ascontiguousarray(a, dtype=np.float64) if isinstance(a, np.ndarray) else a
              for a in args]
    fn, c_args, out = c_arguments(name, arrays)
    c_fn = getattr(lib, fn)
    converted = [ptr(a) if isinstance(a, np.ndarray) else a for a in c_args]
    if out is None:
        return lambda: c_fn(*converted)

    def run():  # ode fills an output array instead of returning a double
        c_fn(*converted)
        return out
    return run


def c_arguments(name: str, arrays: list):
    """(C function, its arguments with arrays still as arrays, the output array or None):
    the array arguments in order, then the sizes the C code needs."""
    if name == "lse":
        (x,) = arrays
        return "lse", [x, len(x)], None
    if name == "llsq":
        x, n = arrays
        return "llsq", [x, len(x), n], None
    if name == "ode":
        x, s = arrays
        y = np.empty_like(x)
        return "ode", [x, len(x), s, y], y
    if name == "gmm":
        alphas, means, icf, x, gamma, m = arrays
        k, d = means.shape
        return "gmm", [alphas, means, icf, x, k, d, len(x), gamma, m], None
    if name == "lstm":
        main, extra, state, seq = arrays
        r, b = state.shape
        return "lstm", [main, extra, state, seq, r, b, len(seq)], None
    if name == "kmeans":
        points, centroids = arrays
        (n, d), k = points.shape, len(centroids)
        return "kmeans", [points, centroids, n, k, d], None
    if name == "mlp":
        w1, b1, w2, b2, x, y = arrays
        (d, h), o = w1.shape, len(b2)
        return "mlp_loss", [*arrays, d, h, o, len(x)], None
    raise KeyError(name)


def agrees(result, expected, rtol: float = 1e-10) -> bool:
    # atol: a subnormal where the reference has 0 is agreement, not a wrong result
    return bool(np.allclose(np.asarray(result, dtype=np.float64), expected, rtol=rtol, atol=1e-300))


# ----------------------------------------------------------------------------- the dpc side

def choose_backend(requested: str) -> str:
    if requested != "auto":
        return requested
    return "native" if "native" in BACKENDS else "interp"


def dpc_function(name: str, backend: str):
    """The compiled entry function of examples/NAME.dp, and whether it runs in the
    interpreter (asked for, or the native backend fell back to it)."""
    file, fn, _ = reference.EXAMPLES[name]
    mod = compile_file(ROOT / "examples" / file, backend=backend, fast_math=FAST_MATH[0])
    interpreted = backend == "interp" or getattr(mod, "native", True) is None
    return mod.function(fn), interpreted


def short_error(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"error: {type(e).__name__}: {text[0] if text else ''}"[:70]


# ----------------------------------------------------------------------------- one cell

def bench_cell(lib, name: str, size: str, backend: str, repeat: int) -> dict:
    """Medians (seconds) for NumPy, C and dpc on one workload and size; a failing column
    holds an error string instead."""
    args = reference.make_inputs(name, size)
    ref = reference.EXAMPLES[name][2]
    expected = np.asarray(ref(*args), dtype=np.float64)
    fns = {"numpy": lambda: ref(*args)}
    row = {}

    try:
        c_fn = c_call(lib, name, args)
        if agrees(c_fn(), expected):
            fns["c"] = c_fn
        else:
            row["c"] = "error: C result differs from NumPy"
    except Exception as e:  # noqa: BLE001  (report and go on)
        row["c"] = short_error(e)

    interp_fn = None
    try:
        f, interpreted = dpc_function(name, backend)
        if interpreted and size != "small":
            row["dpc"] = "-"  # the interpreter runs the small size only
        else:
            got = f(*args)
            # looser than the C check: only to refuse timing a wrong result, the test
            # suite owns dpc's accuracy
            if not agrees(got, expected, rtol=1e-8):
                row["dpc"] = "error: result differs from NumPy"
            elif interpreted:
                interp_fn = lambda: f(*args)  # noqa: E731
            else:
                fns["dpc"] = lambda: f(*args)
    except Exception as e:  # noqa: BLE001
        row["dpc"] = short_error(e)

    row.update(measure(fns, min_runs=repeat))
    if interp_fn is not None:
        row["dpc"] = measure({"dpc": interp_fn}, min_runs=1, min_seconds=0.0,
                             max_runs=min(repeat, INTERP_MAX_RUNS), batch=1)["dpc"]
    return row


def ratio(a, b) -> str:
    if isinstance(a, float) and isinstance(b, float):
        return f"{a / b:.2f}x"
    return "-"


def cell(value) -> str:
    return fmt_time(value) if isinstance(value, float) else str(value)


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths))
    print(line)
    print("-" * len(line))
    for r in rows:
        print("  ".join(v.ljust(w) if i < 2 else v.rjust(w)
                        for i, (v, w) in enumerate(zip(r, widths))))


# ----------------------------------------------------------------------------- extras

TRIVIAL = "def f(x: f64) -> f64:\n    return x + 1.0\n"


def call_overhead(lib, backend: str) -> None:
    """Per-call cost of a function that does (almost) nothing, against a plain Python
    function and a ctypes call into C."""
    mod = compile_source(TRIVIAL, name="<trivial>", backend=backend)
    f = mod.function("f")
    py = lambda x: x + 1.0  # noqa: E731
    fns = {
        "dpc, function object f(x)": lambda: f(1.0),
        "dpc, mod.run('f', x)": lambda: mod.run("f", 1.0),
        "ctypes call of C add_one(x)": lambda: lib.add_one(1.0),
        "Python lambda x: x + 1.0": lambda: py(1.0),
    }
    if backend == "interp":
        del fns["dpc, mod.run('f', x)"]  # the interpreted call is slow enough already
    medians = measure(fns, min_runs=20, min_seconds=0.3)
    print(f"\nPer-call overhead, trivial scalar function ({backend}), median:")
    for what, t in medians.items():
        print(f"  {what:30s} {t * 1e9:8.0f} ns")


SHIFTED = """\
def back(x: f64[n], s: i64) -> f64:
    y = x
    for t in range(s):
        y = [x[0] if i == 0 else x[i] * y[i - 1] for i in range(n)]
    return y[0]

def ahead(x: f64[n], s: i64) -> f64:
    y = x
    for t in range(s):
        y = [x[i + 1] * y[i + 1] if i < n - 1 else 0.0 for i in range(n)]
    return y[0]
"""


def shifted_reads(backend: str) -> None:
    """100 sweeps over 1000 elements, each element read one place back (x[i - 1],
    in range for i > 0 by the loop alone) or one place ahead (x[i + 1], in range only
    under the test i < n - 1)."""
    mod = compile_source(SHIFTED, name="<shifted>", backend=backend)
    x = np.random.default_rng(0).random(1000)
    s = 100 if backend == "native" else 2
    medians = measure({"back": lambda: mod.back(x, s), "ahead": lambda: mod.ahead(x, s)})
    print(f"\nShifted reads, {s} sweeps of 1000 elements ({backend}), median:")
    print_table(["read", "time", "time / back"],
                [["x[i - 1] if i > 0 (back)", fmt_time(medians["back"]), "1.00"],
                 ["x[i + 1] if i < n - 1 (ahead)", fmt_time(medians["ahead"]),
                  ratio(medians["ahead"], medians["back"])]])


MATRIX_VECTOR = """\
def mv(a: f64[m, n], v: f64[n]) -> f64[m]:
    return a @ v

def tv(a: f64[n, m], v: f64[n]) -> f64[m]:
    return transpose(a) @ v

def rows(a: f64[m, n]) -> f64[m]:
    return sum(a, axis=1)
"""


def matrix_vector(backend: str) -> None:
    """a @ v, transpose(a) @ v and the row sums of a, against NumPy's (BLAS for the
    products), at 1000 x 1000 and 256 x 128."""
    if backend != "native":
        return
    mod = compile_source(MATRIX_VECTOR, name="<matrix-vector>")
    rows = []
    for m, n in ((1000, 1000), (256, 128)):
        rng = np.random.default_rng(0)
        a, at, v = rng.random((m, n)), rng.random((n, m)), rng.random(n)
        t = measure({"mv": lambda: mod.mv(a, v), "np mv": lambda: a @ v,
                     "tv": lambda: mod.tv(at, v), "np tv": lambda: at.T @ v,
                     "rows": lambda: mod.rows(a), "np rows": lambda: a.sum(axis=1)})
        for what, key in (("a @ v", "mv"), ("transpose(a) @ v", "tv"),
                          ("sum(a, axis=1)", "rows")):
            rows.append([f"{m} x {n}", what, fmt_time(t[key]), fmt_time(t["np " + key]),
                         ratio(t[key], t["np " + key])])
    print("\nMatrix times vector, median:")
    print_table(["a", "op", "dpc", "NumPy", "dpc / NumPy"], rows)


ELEMENTWISE = """\
def logs(x: f64[n]) -> f64:
    return sum(log(x))

def softplus(x: f64[n]) -> f64:
    return sum(log1p(exp(x)))

def expm1s(x: f64[n]) -> f64:
    return sum(expm1(x))

def cubes(x: f64[n]) -> f64:
    return sum(x ** 3.0)

def sines(x: f64[n]) -> f64:
    return sum(sin(x))

def cosines(x: f64[n]) -> f64:
    return sum(cos(x))

def tangents(x: f64[n]) -> f64:
    return sum(tan(x))

def powers(x: f64[n]) -> f64:
    return sum(x ** 2.7)

def roots(x: f64[n]) -> f64:
    return sum(x ** 0.5)
"""


def elementwise_math(backend: str) -> None:
    """Sums of math functions of 10^5 doubles in [0.1, 2], against NumPy, and the
    gradient of sum(x ** 0.5) (which takes x ** -0.5) against NumPy's 0.5 / sqrt(x):
    dpc's exp, log, log1p, expm1, sin, cos, tan and powers are generated code,
    vectorized."""
    if backend != "native":
        return
    mod = compile_source(ELEMENTWISE, name="<elementwise>")
    x = np.random.default_rng(0).uniform(0.1, 2.0, 100_000)
    cases = {"sum(log(x))": (mod.logs, lambda: np.log(x).sum()),
             "sum(log1p(exp(x)))": (mod.softplus, lambda: np.log1p(np.exp(x)).sum()),
             "sum(expm1(x))": (mod.expm1s, lambda: np.expm1(x).sum()),
             "sum(x ** 3.0)": (mod.cubes, lambda: (x ** 3.0).sum()),
             "sum(sin(x))": (mod.sines, lambda: np.sin(x).sum()),
             "sum(cos(x))": (mod.cosines, lambda: np.cos(x).sum()),
             "sum(tan(x))": (mod.tangents, lambda: np.tan(x).sum()),
             "sum(x ** 2.7)": (mod.powers, lambda: (x ** 2.7).sum()),
             "grad of sum(x ** 0.5)": (mod.grad("roots"), lambda: 0.5 / np.sqrt(x))}
    fns = {}
    for what, (dpc_fn, numpy_fn) in cases.items():
        fns[what] = lambda dpc_fn=dpc_fn: dpc_fn(x)
        fns["np " + what] = numpy_fn
    t = measure(fns)
    rows = [[what, fmt_time(t[what]), fmt_time(t["np " + what]), ratio(t[what], t["np " + what])]
            for what in cases]
    print("\nElementwise math on 10^5 doubles, median:")
    print_table(["op", "dpc", "NumPy", "dpc / NumPy"], rows)


LOOPS_INSIDE_LOOPS = """\
def maxima(a: f64[n, m]) -> f64:
    total = 0.0
    for i in range(n):
        total += max(a[i])
    return total

def squares(a: f64[n, m]) -> f64:
    total = 0.0
    for i in range(n):
        total += sum(a[i] * a[i])
    return total

def row_maxima(a: f64[n, m]) -> f64[n]:
    return max(a, axis=1)

def column_maxima(a: f64[n, m]) -> f64[m]:
    return max(a, axis=0)

def newton_step(x: f64) -> f64:
    y = x
    for k in range(2):
        y = y - (y * y - x) / (2.0 * y)
    return y

def newton(x: f64[n]) -> f64:
    return sum([newton_step(x[i]) for i in range(n)])
"""


def loops_inside_loops(backend: str) -> None:
    """A loop's work for each element or row of a loop around it: the maximum of each row
    or column (a vector maximum per row from 32 elements, op_reduce; otherwise blocks of
    8 rows or columns, build_reductions) and each row's sum of squares (eight partial
    sums, as outside loops) against NumPy, and the gradient
    of a 2-step Newton iteration mapped over 10^5 values against its primal (reverse mode
    unrolls the 2 steps: no tape)."""
    if backend != "native":
        return
    mod = compile_source(LOOPS_INSIDE_LOOPS, name="<loops>")
    rng = np.random.default_rng(0)
    square, tall, x = rng.random((1000, 1000)), rng.random((100_000, 10)), 1.0 + rng.random(100_000)
    grad = mod.grad("newton")
    t = measure({"loop": lambda: mod.maxima(square), "np loop": lambda: square.max(axis=1).sum(),
                 "squares": lambda: mod.squares(square),
                 "np squares": lambda: (square * square).sum(axis=1).sum(),
                 "square": lambda: mod.row_maxima(square), "np square": lambda: square.max(axis=1),
                 "tall": lambda: mod.row_maxima(tall), "np tall": lambda: tall.max(axis=1),
                 "columns": lambda: mod.column_maxima(square),
                 "np columns": lambda: square.max(axis=0),
                 "newton": lambda: mod.newton(x), "newton grad": lambda: grad(x)})
    rows = [[what, fmt_time(t[key]), fmt_time(t["np " + key]), ratio(t[key], t["np " + key])]
            for what, key in (("sum of max(a[i]) in a loop, 1000 x 1000", "loop"),
                              ("sum of sum(a[i] * a[i]) in a loop, 1000 x 1000", "squares"),
                              ("max(a, axis=1), 1000 x 1000", "square"),
                              ("max(a, axis=1), 100000 x 10", "tall"),
                              ("max(a, axis=0), 1000 x 1000", "columns"))]
    print("\nLoops inside loops, median:")
    print_table(["op", "dpc", "NumPy", "dpc / NumPy"], rows)
    print(f"2-step Newton iteration mapped over 10^5 values: primal {fmt_time(t['newton'])}, "
          f"gradient {fmt_time(t['newton grad'])}, gradient / primal "
          f"{ratio(t['newton grad'], t['newton'])}")


def compile_times(backend: str, repeat: int) -> None:
    """Compile time of examples/gmm.dp, of its gradient and of its Hessian-vector
    product, with the object cache empty and then warm. The cache is pointed at a
    temporary folder, so the user's cache is left alone."""
    import runtime

    path = ROOT / "examples" / "gmm.dp"
    print(f"\nCompile time of examples/gmm.dp (backend {backend}), median of {repeat}:")
    if backend != "native" or not hasattr(runtime, "clear_cache"):
        t = measure({"c": lambda: compile_file(path, backend=backend)},
                    min_runs=repeat, min_seconds=0.0, max_runs=repeat, batch=1)["c"]
        print(f"  compile_file: {fmt_time(t)} (no object cache yet)")
        return

    def timed_compiles(clear: bool) -> list[float]:
        """Seconds for the module, then mod.grad("gmm"), then mod.hvp("gmm")."""
        if clear:
            runtime.clear_cache()
        t0 = time.perf_counter()
        mod = compile_file(path, backend=backend)
        t1 = time.perf_counter()
        mod.grad("gmm")
        t2 = time.perf_counter()
        mod.hvp("gmm")
        return [t1 - t0, t2 - t1, time.perf_counter() - t2]

    saved = os.environ.get("DPC_CACHE_DIR")
    with tempfile.TemporaryDirectory(prefix="dpc-bench-cache-") as folder:
        os.environ["DPC_CACHE_DIR"] = folder
        try:
            cold = np.median([timed_compiles(clear=True) for _ in range(repeat)], axis=0)
            warm = np.median([timed_compiles(clear=False) for _ in range(repeat)], axis=0)
        finally:
            if saved is None:
                del os.environ["DPC_CACHE_DIR"]
            else:
                os.environ["DPC_CACHE_DIR"] = saved
    rows = [[what, fmt_time(c), fmt_time(w)] for what, c, w in
            zip(["compile_file", 'mod.grad("gmm")', 'mod.hvp("gmm")'], cold, warm)]
    print_table(["compile", "cold (cache cleared)", "cached"], rows)


# ----------------------------------------------------------------------------- main

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="small,large", help="comma-separated: small,large")
    p.add_argument("--only", default=",".join(WORKLOADS), help="comma-separated workloads")
    p.add_argument("--repeat", type=int, default=MIN_RUNS,
                   help=f"minimum timed runs per cell (default {MIN_RUNS})")
    p.add_argument("--backend", default="auto", choices=("auto", *BACKENDS),
                   help="dpc backend (default: native if available, else interp)")
    p.add_argument("--fast-math", action="store_true",
                   help="compile dpc with fast-math (the C baseline is gcc's default "
                        "-O3 -march=native, which contracts a*b+c into FMA)")
    args = p.parse_args(argv)
    FAST_MATH[0] = args.fast_math
    args.sizes = [s for s in args.sizes.split(",") if s]
    args.only = [w for w in args.only.split(",") if w]
    for w in args.only:
        if w not in WORKLOADS:
            p.error(f"unknown workload {w!r}; choose from {', '.join(WORKLOADS)}")
    for s in args.sizes:
        if s not in ("small", "large"):
            p.error(f"unknown size {s!r}; sizes are small, large")
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    backend = choose_backend(args.backend)
    lib = build_c_library()
    declare(lib)
    dpc_header = "dpc" if backend == "native" else f"dpc ({backend})"
    if args.fast_math:
        dpc_header += " fast"
    headers = ["workload", "size", "NumPy", "C", dpc_header, "dpc/C", "dpc/NumPy"]
    rows = []
    for size in args.sizes:
        for name in args.only:
            r = bench_cell(lib, name, size, backend, max(1, args.repeat))
            rows.append([name, size, cell(r.get("numpy")), cell(r.get("c")), cell(r.get("dpc")),
                         ratio(r.get("dpc"), r.get("c")), ratio(r.get("dpc"), r.get("numpy"))])
            print(f"  done {name}/{size}", file=sys.stderr, flush=True)
    print(f"\nPrimal, median time per call (backend {backend}):")
    print_table(headers, rows)
    for extra in (lambda: shifted_reads(backend), lambda: matrix_vector(backend),
                  lambda: elementwise_math(backend), lambda: loops_inside_loops(backend),
                  lambda: call_overhead(lib, backend),
                  lambda: compile_times(backend, repeat=3)):
        try:
            extra()
        except Exception as e:  # noqa: BLE001  (the table above is still worth having)
            print(f"\n{short_error(e)}")


if __name__ == "__main__":
    main()
