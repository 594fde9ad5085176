"""Time `dpc gradbench` through GradBench's protocol, at the evals' default sizes.

    python benchmarks/gradbench.py [--only lse,gmm] [--sizes largest|all]
                                   [--min-runs N] [--min-seconds S] [--fast-math]
                                   [--lstm-text evals/lstm/data/lstm_full.txt]

Starts `dpc gradbench` as a subprocess and plays each eval's part: one `define` per module
(its compile time is printed beside the module), then for each default size of the eval
(its run.py's defaults, inputs made the way run.py makes them) one `evaluate` of the
primal and one of the derivative, each asking for --min-runs runs and --min-seconds
seconds. The table gives the median of the `evaluate` timings the tool reports (native
code only, no JSON) and derivative / primal. `--sizes largest` (the default) runs only
the largest default size of each eval; `--sizes all` runs every one.

The lstm eval reads its characters from GradBench's evals/lstm/data/lstm_full.txt; pass
that file with --lstm-text, or a stand-in ASCII text is used (the same sizes: 7 bits a
character; only which bits are set differs).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

STAND_IN_TEXT = ("It is a truth universally acknowledged, that a single man in possession "
                 "of a good fortune, must be in want of a wife. However little known the "
                 "feelings or views of such a man may be on his first entering a "
                 "neighbourhood, this truth is so well fixed in the minds of the "
                 "surrounding families, that he is considered as the rightful property "
                 "of some one or other of their daughters. ")


# --- inputs, as each eval's run.py makes them (default sizes, in run.py's order) -----------

def lse_inputs(text):
    np.random.seed(31337)
    for n in [2500 * 2 ** i for i in range(10)]:
        yield f"n={n}", {"x": np.random.rand(n).tolist()}


def llsq_inputs(text):
    np.random.seed(31337)
    sizes = [16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8196, 16392]
    for n, m in sorted([(n, 128) for n in sizes], key=lambda v: v[0] * v[1]):
        yield f"n={n},m={m}", {"x": np.random.rand(m).tolist(), "n": n}


def det_inputs(text):
    np.random.seed(31337)
    for ell in range(5, 12):
        yield f"ell={ell}", {"A": np.random.rand(ell * ell).tolist(), "ell": ell}


def ode_inputs(text):
    np.random.seed(31337)
    combos = sorted([(n, s) for n in (1000, 10000, 100000) for s in (1, 10, 100)],
                    key=lambda v: v[0] * v[1])
    for n, s in combos:
        yield f"n={n},s={s}", {"x": np.random.rand(n).tolist(), "s": s}


def gmm_inputs(text):
    combos = sorted([(d, k) for d in (2, 10, 20, 32, 64) for k in (5, 10, 25, 50, 100)],
                    key=lambda v: v[0] * v[1])
    for d, k in combos:
        rng = np.random.default_rng(seed=31337)
        n = 1000
        yield f"d={d},k={k},n={n}", {
            "d": d, "k": k, "n": n,
            "x": rng.normal(size=(n, d)).tolist(), "m": 0, "gamma": 1.0,
            "alpha": rng.normal(size=k).tolist(),
            "mu": rng.uniform(size=(k, d)).tolist(),
            "q": rng.normal(size=(k, d)).tolist(),
            "l": rng.normal(size=(k, d * (d - 1) // 2)).tolist(),
        }


def lstm_inputs(text):
    np.random.seed(31337)  # run.py does not seed; we do, to time the same inputs each run
    combos = sorted([(l, c) for l in (2, 4, 6) for c in (1024, 4096, 8192)],
                    key=lambda v: v[0] * v[1])
    for layers, chars in combos:
        use = text[:chars]
        bits = math.ceil(math.log2(max(ord(ch) for ch in use)))
        yield f"l={layers},c={chars}", {
            "main_params": np.random.random((2 * layers, 4 * bits)).tolist(),
            "extra_params": np.random.random((3, bits)).tolist(),
            "state": np.random.random((2 * layers, bits)).tolist(),
            "sequence": [[float(b) for b in bin(ord(ch))[2:].zfill(bits)] for ch in use],
        }


def kmeans_inputs(text):
    np.random.seed(31337)
    combos = sorted([(k, n, d) for k in (10, 100, 1000) for n in (1000, 10000) for d in (8, 16)],
                    key=lambda v: v[0] * v[1] * v[2])
    for k, n, d in combos:
        points = np.random.rand(n, d).tolist()
        yield f"k={k},n={n},d={d}", {"points": points, "centroids": points[-k:]}


def saddle_inputs(text):
    yield "start=[1,1]", {"start": [1.0, 1.0]}


def particle_inputs(text):
    yield "w=0", {"w": 0.0}


def hello_inputs(text):
    yield "x=1", 1.0


# module: (its inputs, the primal's name, the derivative's name)
EVALS = {
    "hello": (hello_inputs, "square", "double"),
    "lse": (lse_inputs, "primal", "gradient"),
    "llsq": (llsq_inputs, "primal", "gradient"),
    "det": (det_inputs, "primal", "gradient"),
    "ode": (ode_inputs, "primal", "gradient"),
    "gmm": (gmm_inputs, "objective", "jacobian"),
    "lstm": (lstm_inputs, "objective", "jacobian"),
    "kmeans": (kmeans_inputs, "cost", "dir"),
    # no primal: the columns are the variants rr (outer and inner reverse) and ff
    "saddle": (saddle_inputs, "rr", "ff"),
    "particle": (particle_inputs, "rr", "ff"),
}


# --- the protocol ---------------------------------------------------------------------------

class Tool:
    """A `dpc gradbench` process."""

    def __init__(self, fast_math: bool):
        command = [sys.executable, "-m", "compiler.cli", "gradbench"]
        self.process = subprocess.Popen(command + (["--fast-math"] if fast_math else []),
                                        cwd=ROOT, stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)
        self.next_id = 0

    def ask(self, kind: str, **fields) -> dict:
        self.next_id += 1
        self.process.stdin.write(json.dumps({"id": self.next_id, "kind": kind, **fields}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit("dpc gradbench stopped answering")
        return json.loads(line)

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()


def median_seconds(response: dict) -> float | str:
    if not response.get("success"):
        return "error: " + response.get("error", "?").splitlines()[0][:60]
    return float(np.median([t["nanoseconds"] for t in response["timings"]])) / 1e9


def fmt_time(seconds) -> str:
    if isinstance(seconds, str):
        return seconds
    if seconds < 1e-3:
        return f"{seconds * 1e6:.3g} µs"
    if seconds < 1.0:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds:.3g} s"


def ratio(a, b) -> str:
    return f"{a / b:.2f}" if isinstance(a, float) and isinstance(b, float) and b > 0 else ""


def print_row(cells: list[str], widths: list[int]) -> None:
    print("  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                    for i, (c, w) in enumerate(zip(cells, widths))), flush=True)


def run(args) -> None:
    text = Path(args.lstm_text).read_text(encoding="utf8") if args.lstm_text else \
        STAND_IN_TEXT * (8192 // len(STAND_IN_TEXT) + 1)
    runs = {"min_runs": args.min_runs, "min_seconds": args.min_seconds}
    tool = Tool(args.fast_math)
    tool.ask("start")
    headers = ["module", "size", "primal", "derivative", "ratio", "compile"]
    widths = [6, 18, 10, 10, 6, 8]
    print_row(headers, widths)
    print("-" * (sum(widths) + 2 * (len(widths) - 1)))
    for module in args.only:
        make, primal, derivative = EVALS[module]
        defined = tool.ask("define", module=module)
        compile_time = fmt_time(defined["timings"][0]["nanoseconds"] / 1e9) \
            if defined.get("success") else "failed"
        cases = list(make(text))
        if args.sizes == "largest":
            cases = cases[-1:]
        for size, input in cases:
            if isinstance(input, dict):
                input = input | runs
            p = median_seconds(tool.ask("evaluate", module=module, function=primal, input=input))
            d = median_seconds(tool.ask("evaluate", module=module, function=derivative,
                                        input=input))
            print_row([module, size, fmt_time(p), fmt_time(d), ratio(d, p), compile_time],
                      widths)
            compile_time = ""
    tool.close()


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(EVALS),
                        help="comma-separated modules (default: all)")
    parser.add_argument("--sizes", choices=("largest", "all"), default="largest",
                        help="the largest default size of each eval, or every one")
    parser.add_argument("--min-runs", type=int, default=3)
    parser.add_argument("--min-seconds", type=float, default=1.0)
    parser.add_argument("--fast-math", action="store_true")
    parser.add_argument("--lstm-text", metavar="FILE",
                        help="GradBench's evals/lstm/data/lstm_full.txt")
    args = parser.parse_args(argv)
    args.only = [m.strip() for m in args.only.split(",") if m.strip()]
    unknown = [m for m in args.only if m not in EVALS]
    if unknown:
        parser.error(f"no module {', '.join(unknown)}; modules: {', '.join(EVALS)}")
    return args


def main(argv=None) -> None:
    began = time.perf_counter()
    run(parse_args(argv))
    print(f"\n(measured in {time.perf_counter() - began:.0f} s)")


if __name__ == "__main__":
    main()
