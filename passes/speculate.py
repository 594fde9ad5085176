"""Speculate: a small `if` whose branches cannot fail becomes a `select`.

Both branches are evaluated and the condition picks a result, which is what lets a loop
whose body holds `a if c else b` vectorize. Only branches of a few ops that cannot raise
are moved (see dce.never_fails), so no program raises an error it did not raise before;
the cost is evaluating both sides.
"""

from __future__ import annotations

import ir

from .dce import body_never_fails

MAX_OPS = 8  # per branch: beyond this, evaluating both sides costs more than a branch


class Speculate:
    name = "speculate"

    def apply(self, module: ir.Module) -> ir.Module:
        for fn in module.functions.values():
            speculate_block(fn.body, {})
        return module


def speculable(op: ir.Op) -> bool:
    """A nested if or a loop is more work than the one op it counts as, so a branch with
    one is left a branch (and is not searched for what may fail: along an elif chain of
    n arms, that search took n^2 steps)."""
    return (op.name == "if" and all(r.type.rank == 0 for r in op.results)
            and all(len(r.ops) <= MAX_OPS + 1 and not any(inner.regions for inner in r.ops)
                    for r in op.regions)
            and all(body_never_fails(r) for r in op.regions))


def speculate_block(block: ir.Block, replaced: dict) -> None:
    """Speculates the ifs in `block` and its regions, innermost first. `replaced` maps
    the results of the ifs done to their selects: every use of a value comes after its
    definition, so each op's operands are renamed when the walk reaches it."""
    new_ops = []
    for op in block.ops:
        op.operands = [replaced.get(v, v) for v in op.operands]
        for region in op.regions:
            speculate_block(region, replaced)
        if not speculable(op):
            new_ops.append(op)
            continue
        then, other = op.regions
        new_ops += then.ops[:-1] + other.ops[:-1]
        cond = op.operands[0]
        for result, a, c in zip(op.results, then.ops[-1].operands, other.ops[-1].operands):
            select = ir.Op("select", [cond, a, c], [result.type], loc=op.loc,
                           result_names=[result.name_hint])
            new_ops.append(select)
            replaced[result] = select.results[0]
    block.ops = new_ops
