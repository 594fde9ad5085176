"""Sink: an op whose results only one branch of a later `if` uses moves into that branch,
so it runs only when the branch does.

Passes leave such ops before an `if`: gather makes a loop's adds under `if the loop
runs`, whose else-branch yields the loop's initial array, a `full` of zeros, and in a
heat stencil's reverse sweep native code filled that array at every step to use it
only for an empty one. An op moves when it cannot fail and has no effect
(dce.effect_free): running it in one branch only changes no value and no error. Ops are
taken from the last up, so an op whose only user moved into the branch follows it there,
in the same order; then the `if`s inside each branch take theirs. Nothing moves into a
loop, which would run it at every iteration; constants, which cost nothing, stay, and so
do ops with regions of their own (asking whether a chain of n nested `if`s can fail at
each level of it took n^2 steps).
"""

from __future__ import annotations

import ir

from .dce import effect_free


class Sink:
    name = "sink"

    def apply(self, module: ir.Module) -> ir.Module:
        for fn in module.functions.values():
            sink_in(fn.body, {})
        return module


def sink_in(block: ir.Block, cache: dict) -> None:
    """Sinks the ops of block, then those of its regions. `cache`: ir.outer_uses' (an
    entry is dropped when its block gains an op)."""
    places = {}  # a value of the block -> where it is used: an op, or a branch of an if
    for user in block.ops:
        for value in user.operands:
            places.setdefault(value, set()).add(id(user))
        for region in user.regions:
            place = id(region) if user.name == "if" else id(user)
            for value in ir.outer_uses(region, cache):
                places.setdefault(value, set()).add(place)
    branches = {id(r): r for user in block.ops if user.name == "if" for r in user.regions}
    for op in reversed(block.ops[:-1]):
        used = set().union(*(places.get(r, set()) for r in op.results))
        branch = branches.get(used.pop()) if len(used) == 1 else None
        if branch is None or op.name == "const" or op.regions or not effect_free(op):
            continue
        block.ops.remove(op)
        branch.ops.insert(0, op)
        cache.pop(id(branch), None)
        for value in set(op.operands) & places.keys():
            places[value] = places[value] - {id(op)} | {id(branch)}
    for op in block.ops:
        for region in op.regions:
            sink_in(region, cache)
