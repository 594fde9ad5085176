"""Bounds: marks `index` ops whose indices are provably in range, so native code skips
the check (and loops with no check left can be vectorized).

An index is in range when it is the induction variable of a `for`, `build` or `reduce`
that starts at a constant >= 0, steps by 1 and stops at the indexed array's size on that
axis: the same dimension name or literal in both types (names are checked at the call),
never `?`.
"""

from __future__ import annotations

import ir
from ir.ops import dim_of_value
from ir.types import DYN

LOOPS = ("for", "build", "reduce")


class Bounds:
    name = "bounds"

    def apply(self, module: ir.Module) -> ir.Module:
        for fn in module.functions.values():
            ranges = induction_ranges(fn.body)
            for op in ir.walk_ops(fn.body):
                if op.name == "index" and not op.attrs.get("inbounds") and in_range(op, ranges):
                    op.attrs["inbounds"] = True
        return module


def induction_ranges(block: ir.Block) -> dict:
    """induction variable -> the dimension its loop stops at, for loops from a constant
    >= 0 by steps of 1."""
    ranges = {}
    for op in ir.walk_ops(block):
        if op.name not in LOOPS:
            continue
        start, stop, step = (dim_of_value(v) for v in op.operands[:3])
        if isinstance(start, int) and start >= 0 and step == 1 and stop != DYN:
            ranges[op.regions[0].args[0]] = stop
    return ranges


def in_range(op: ir.Op, ranges: dict) -> bool:
    array, *indices = op.operands
    for axis, i in enumerate(indices):
        bound = ranges.get(i)
        if bound is None or bound != array.type.shape[axis]:
            return False
    return True
