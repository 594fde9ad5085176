"""The examples with a few tokens changed, through the whole pipeline: a name for another,
an operator, type or literal swapped, a token dropped, an index or a term added, a line
repeated. What compiles is run, interpreted and native, and differentiated where it
returns an f64. Every failure on the way must be a dpc error (a compile error with a line
and column, or a run-time error), never a Python exception from inside the compiler, a
pass or the runtime. (tests/compiler/test_syntax.py mutates characters, which mostly
stops at the parser; about a quarter of these mutants compile.)
"""

import random
import re
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler import compile_source
from compiler.diagnostics import CompileError
from ir.errors import RuntimeErrorDP
from strategies import Program, parse_type

# The top-level examples: none has a `while`, so no mutant can loop for ever.
EXAMPLES = sorted((Path(__file__).parents[1] / "examples").glob("*.dp"))

TOKEN = re.compile(r"[A-Za-z_]\w*|\d+\.\d*|\d+|\*\*|//|==|!=|<=|>=|->|[-+*/@%<>=(),:\[\]]")
SWAPS = {"+": ["-", "*"], "-": ["+", "*"], "*": ["+", "/", "@"], "/": ["*", "//"],
         "@": ["*"], "f64": ["i64", "bool"], "i64": ["f64"], "range": ["len"],
         "sum": ["max", "mean", "len"], "==": ["<", "!="], "<": ["<=", ">"],
         "0": ["1", "-1"], "1": ["0", "2"], "n": ["m", "k"]}
ADDED = ["+ 1", "[0]", "* x", ", 1", "[0, 0]", ".T", "- 1.0"]


def mutate(source: str, rng: random.Random) -> str:
    names = sorted({t for t in TOKEN.findall(source) if t[0].isalpha() or t[0] == "_"})
    for _ in range(rng.randint(1, 3)):
        match = rng.choice(list(TOKEN.finditer(source)))
        token, r = match.group(), rng.random()
        if r < 0.35 and token in names:
            new = rng.choice(names)
        elif r < 0.6 and token in SWAPS:
            new = rng.choice(SWAPS[token])
        elif r < 0.7:
            new = ""
        elif r < 0.85:
            new = f"{token} {rng.choice(ADDED)}"
        else:
            lines = source.split("\n")
            lines.insert(rng.randrange(len(lines)), rng.choice(lines))
            source = "\n".join(lines)
            continue
        source = source[:match.start()] + new + source[match.end():]
    return source


def arguments(fn, seed: int) -> list | None:
    """Arguments of the right types for fn's parameters (strategies.Program.make_args),
    each dimension name one size from 1 to 4; None when a parameter is not an f64, i64 or
    bool scalar or array."""
    params = {f"p{k}": str(t) for k, t in enumerate(fn.param_types)}
    types = [parse_type(text) for text in params.values()]
    if any(base not in ("f64", "i64", "bool") for base, _ in types):
        return None
    rng = np.random.default_rng(seed)
    dims = {d: int(d) if d.isdigit() else int(rng.integers(1, 5))
            for _, names in types for d in names}
    return Program("", fn.name, params, dims).arg_list(rng)


def run_everything(source: str, seed: int) -> None:
    for backend in ("interp", "native"):
        mod = compile_source(source, name="mutant.dp", backend=backend)
        for name, fn in mod.module.functions.items():
            args = arguments(fn, seed)
            if args is None:
                continue
            try:
                mod.run(name, *args)
                if [str(t) for t in fn.return_types] == ["f64"] and \
                        any(str(t).startswith("f64") for t in fn.param_types):
                    mod.grad(name)(*args)
            except RuntimeErrorDP:
                pass


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(EXAMPLES) - 1), st.integers(0, 2**32 - 1))
def test_mutated_examples_raise_only_dpc_errors(which, seed):
    source = mutate(EXAMPLES[which].read_text(), random.Random(seed))
    try:
        run_everything(source, seed)
    except CompileError as err:
        assert err.line >= 1 and err.col >= 1, str(err)
        str(err)  # formats without failing
