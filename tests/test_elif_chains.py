"""A long elif chain (a piecewise function as generated code writes it) compiles in time
linear in its arms, value and gradient alike. Each arm's else branch nests the rest of
the chain; passes that searched or copied that subtree once per level were n^2: the
gradient of 1000 arms took two minutes to compile (speculation's search for what may
fail, the reverse sweep's replay of every nested if, native lowering's last uses).

The work is counted, not timed: the ops the passes walk, copy and test, for chains of
100 and 400 arms. Linear work grows 4 times; n^2 work grew 16 times."""

import pytest

import ir
import ir.core
import passes.ad
import passes.dce
from compiler import compile_source


def chain(arms: int) -> str:
    """y = k x + k + 1/4 for the first k with x < k + 1/2, k = 0 .. arms - 1; else y = x."""
    lines = ["def f(x: f64) -> f64:", "    y = 0.0"]
    for k in range(arms):
        lines += [f"    {'if' if k == 0 else 'elif'} x < {k}.5:", f"        y = x * {k}.0 + {k}.25"]
    return "\n".join(lines + ["    else:", "        y = x", "    return y", ""])


@pytest.mark.parametrize("backend", ["native", "interp"])
def test_a_chain_of_600_arms_gives_value_and_gradient(backend):
    # the interpreter recursed past Python's 1000 frames at 500 arms
    module = compile_source(chain(600), backend=backend)
    for x in (-3.0, 0.2, 3.2, 598.7, 2000.0):
        k = min(max(0, int(x + 0.5)), 600)
        slope, offset = (k, k + 0.25) if k < 600 else (1.0, 0.0)
        assert module.f(x) == x * slope + offset
        assert module.grad("f")(x) == slope


def work(arms: int) -> dict:
    """How many ops the compilation of the chain's value and gradient walks, copies and
    asks never_fails about."""
    counts = {"walked": 0, "copied": 0, "tested": 0}
    walk_ops, clone_op, never_fails = ir.walk_ops, passes.ad.clone_op, passes.dce.never_fails

    def walked(block):
        for op in walk_ops(block):
            counts["walked"] += 1
            yield op

    def copied(op, *args, **kwargs):
        counts["copied"] += 1
        return clone_op(op, *args, **kwargs)

    def tested(op, in_place=False):
        counts["tested"] += 1
        return never_fails(op, in_place)

    patched = [(ir, "walk_ops", walked), (ir.core, "walk_ops", walked),
               (passes.ad, "clone_op", copied), (passes.dce, "never_fails", tested)]
    for owner, name, counted in patched:
        setattr(owner, name, counted)
    try:
        module = compile_source(chain(arms))
        module.grad("f")
    finally:
        for (owner, name, _), original in zip(patched, (walk_ops, walk_ops, clone_op, never_fails)):
            setattr(owner, name, original)
    return counts


def test_the_work_grows_linearly_with_the_arms(monkeypatch):
    monkeypatch.setenv("DPC_CACHE", "0")  # a cached module skips the passes
    small, large = work(100), work(400)
    for what in small:
        assert large[what] < 6 * small[what], (what, small[what], large[what])
