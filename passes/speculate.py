"""Speculate: a small `if` whose branches cannot fail becomes a `select`.

Both branches are evaluated and the condition picks a result, which is what lets a loop
whose body holds `a if c else b` vectorize. Only branches of a few ops that cannot raise
are moved (see dce.never_fails), so no program raises an error it did not raise before;
the cost is evaluating both sides.

First, an `add_at` that ends a branch's array result moves out of the `if`: the branch
yields the value it adds, the other branch -0.0 (x + -0.0 is x for every x, -0.0 and nan
included), and the `add_at` after the `if` adds what came out. A reverse sweep makes
such branches (`if a <= d: acc += r[i] * r[i]` accumulates into the adjoint of r in one
branch only), and without the array the `if` may become a select: no branch to mispredict
in the loop. The `add_at` then runs whichever way the test goes, so its index must be
valid either way: it is moved only when an access before the `if` in the same block, to
the same indices of an array as long on those axes, has already shown that it is.
"""

from __future__ import annotations

import ir
from ir.ops import MOVABLE_PROOFS, REPEATED
from ir.types import DYN, F64

from .bounds import INDEXED
from .dce import never_fails

# Per branch, constants not counted: beyond this, evaluating both sides costs more than
# a branch. A mispredicted branch costs some 15 cycles, and a loop body of selects may
# vectorize; Huber's loss as a loop has 13 ops in the else-branch of its gradient with
# respect to r and delta, whose selects made it 2x faster (820 -> 420 µs at n = 200,000).
MAX_OPS = 16


class Speculate:
    name = "speculate"

    def apply(self, module: ir.Module) -> ir.Module:
        for fn in module.functions.values():
            speculate_block(fn.body, {})
        return module


def speculable(op: ir.Op, chains: dict | None = None) -> bool:
    """Can `if` op become selects (once the add_at ops of `chains`, from sinkable_chain,
    have moved out)? A nested if or a loop is more work than the one op it counts as, so
    a branch with one is left a branch (and is not searched for what may fail: along an
    elif chain of n arms, that search took n^2 steps)."""
    chains = chains or {}
    moved = {id(add_at) for _, steps in chains.values() for _, add_at in steps}
    kept = [[inner for inner in region.ops if id(inner) not in moved] for region in op.regions]
    return (op.name == "if"
            and all(r.type.rank == 0 or k in chains for k, r in enumerate(op.results))
            and all(sum(inner.name != "const" for inner in ops) <= MAX_OPS + 1
                    and not any(inner.regions for inner in ops) for ops in kept)
            and all(never_fails(inner) for ops in kept for inner in ops))


def speculate_block(block: ir.Block, replaced: dict) -> None:
    """Speculates the ifs in `block` and its regions, innermost first. `replaced` maps
    the results of the ifs done to their selects: every use of a value comes after its
    definition, so each op's operands are renamed when the walk reaches it."""
    new_ops, valid_indices = [], set()
    for op in block.ops:
        op.operands = [renamed(v, replaced) for v in op.operands]
        for region in op.regions:
            speculate_block(region, replaced)
        if op.name in INDEXED:
            valid_indices.add(index_key(op))
        sunk = sink_updates(op, valid_indices, replaced) if op.name == "if" else []
        if not speculable(op):
            new_ops.append(op)
            continue
        then, other = op.regions
        new_ops += then.ops[:-1] + other.ops[:-1]
        cond = op.operands[0]
        for result, a, c in zip(op.results, then.ops[-1].operands, other.ops[-1].operands):
            if a is c:  # both branches yield it: no choice to make
                replaced[result] = a
                continue
            select = ir.Op("select", [cond, a, c], [result.type], loc=op.loc,
                           result_names=[result.name_hint])
            new_ops.append(select)
            replaced[result] = select.results[0]
        for moved in sunk:  # they add the if's results, now the selects
            moved.operands = [renamed(v, replaced) for v in moved.operands]
        new_ops += sunk
    block.ops = new_ops


def renamed(value: ir.Value, replaced: dict) -> ir.Value:
    """What stands for `value` now: an if's result that sinking renamed may then have
    become a select."""
    while value in replaced:
        value = replaced[value]
    return value


def index_key(op: ir.Op) -> tuple:
    """What an access to a[i, j] shows once it has run (checked, or proved in range where
    it is): that i, j are valid indices of any array as long as a on those axes."""
    array, indices = op.operands[0], op.operands[INDEXED[op.name]:]
    return tuple(array.type.shape[:len(indices)]), tuple(indices)


def sink_updates(op: ir.Op, valid_indices: set, replaced: dict) -> list:
    """Moves the add_at ops that end op's array results out of its branches (see the
    module's docstring) when op can then become selects; returns them, to follow op.
    `replaced` maps each array result of op to the last of them and each other result
    to op's new one. (Where op stays a branch, the adds would only run more often.)"""
    if any(len(region.ops) > 4 * MAX_OPS or any(inner.regions for inner in region.ops)
           for region in op.regions):
        return []  # a branch too big to speculate: not searched (elif chains stay linear)
    chains = {}  # the position of an array result -> (its base array, (branch, add_at)...)
    for k, result in enumerate(op.results):
        chain = result.type.rank > 0 and sinkable_chain(op, k, valid_indices)
        if chain:
            chains[k] = chain
    if not chains or not speculable(op, chains):
        return []
    then, other = op.regions
    taken = {id(add_at) for _, steps in chains.values() for _, add_at in steps}
    for region in op.regions:
        region.ops = [inner for inner in region.ops if id(inner) not in taken]
    kept = [k for k in range(len(op.results)) if k not in chains]
    added = [(branch, add_at) for _, steps in chains.values() for branch, add_at in steps]
    for branch, region in enumerate((then, other)):
        yielded = region.ops[-1].operands
        values = [add_at.operands[1] if b == branch else skipped_addend(region, add_at)
                  for b, add_at in added]
        region.ops[-1].operands = [yielded[k] for k in kept] + values
    old = list(op.results)
    op.set_result_types([old[k].type for k in kept] + [a.operands[1].type for _, a in added],
                        [old[k].name_hint for k in kept] + [None] * len(added))
    for new, k in zip(op.results, kept):
        replaced[old[k]] = new
    sunk, addends = [], iter(op.results[len(kept):])
    for k, (base, steps) in chains.items():
        array = base
        for _, add_at in steps:
            moved = ir.Op("add_at", [array, next(addends), *add_at.operands[2:]],
                          [add_at.results[0].type], attrs=moved_proof(add_at),
                          loc=add_at.loc, result_names=[add_at.results[0].name_hint])
            sunk.append(moved)
            array = moved.results[0]
        replaced[old[k]] = array
    return sunk


def sinkable_chain(op: ir.Op, k: int, valid_indices: set):
    """(base, steps) when op's k-th result is, in each branch, a chain of add_at ops of
    scalars (none of whose results anything else uses) on one array from outside op, at
    indices from outside op that `valid_indices` vouches for; else None."""
    steps, bases = [], []
    inside = ir.defined_within(op)
    for branch, region in enumerate(op.regions):
        uses = {}
        for inner in ir.walk_ops(region):
            for v in inner.operands:
                uses[v] = uses.get(v, 0) + 1
        value, chain, own = region.ops[-1].operands[k], [], {id(inner) for inner in region.ops}
        while (value in inside and value.defining_op.name == "add_at"
               and uses.get(value, 0) == 1 and id(value.defining_op) in own):
            add_at = value.defining_op
            indices = add_at.operands[2:]
            if (add_at.operands[1].type.rank != 0 or any(i in inside for i in indices)
                    or not index_vouched(add_at, valid_indices)):
                return None
            chain.append((branch, add_at))
            value = add_at.operands[0]
        steps += reversed(chain)
        bases.append(value)
    if not steps or bases[0] is not bases[1] or bases[0] in inside:
        return None
    return bases[0], steps


def index_vouched(add_at: ir.Op, valid_indices: set) -> bool:
    if add_at.attrs.get("inbounds") in MOVABLE_PROOFS:
        return True
    shape, indices = index_key(add_at)
    return DYN not in shape and (shape, indices) in valid_indices


def moved_proof(add_at: ir.Op) -> dict:
    """An index shown valid by an access before the `if`, which may have been a negative
    one (Python's, checked): native code maps it as it maps a repeated access."""
    attrs = dict(add_at.attrs)
    if attrs.get("inbounds") not in MOVABLE_PROOFS:
        attrs["inbounds"] = REPEATED
    return attrs


def skipped_addend(region: ir.Block, add_at: ir.Op) -> ir.Value:
    """What the branch that does not add adds: -0.0, which leaves every float as it is,
    or 0 for an integer array."""
    elem = add_at.operands[1].type
    zero = ir.Op("const", [], [elem], attrs={"value": -0.0 if elem == F64 else 0},
                 loc=add_at.loc)
    region.ops.insert(len(region.ops) - 1, zero)
    return zero.results[0]
