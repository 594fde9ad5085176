"""Bounds: marks `index`, `update` and `add_at` ops whose indices are provably in range,
so native code skips the check (and loops with no check left can be vectorized).

An index is in range when it is the induction variable i of a `for`, `build` or `reduce`
that starts at a constant >= 0, steps by 1 and stops at the indexed array's size on that
axis (the same dimension name or literal in both types, checked at the call; never `?`)
or at the variable (plus at most 1) of a loop that does, or i + c for a constant c <= 0
with start + c >= -1, or a constant in [-1, start] inside such a loop (which only runs
when the size exceeds start). `inbounds = true` means
0 <= index < size; `inbounds = "wraps"` means -size <= index < size, valid through
Python's negative indices (x[i - 1] at i = 0), so native code still maps a negative index
to size + index. Neither is ever checked.
"""

from __future__ import annotations

import ir
from ir.ops import dim_of_value
from ir.types import DYN

LOOPS = ("for", "build", "reduce")
INDEXED = {"index": 1, "update": 2, "add_at": 2}  # op: position of its first index operand


class Bounds:
    name = "bounds"

    def apply(self, module: ir.Module) -> ir.Module:
        for fn in module.functions.values():
            mark_block(fn.body, [])
        return module


class Unchecked:
    """`compile_file(..., checked=False)`, `--unchecked`: every index the bounds pass could
    not prove is taken as valid (negative ones still count from the end), so no bounds
    check is left; an index out of range is then undefined behaviour, as in C."""
    name = "unchecked"

    def apply(self, module: ir.Module) -> ir.Module:
        for fn in module.functions.values():
            for op in ir.walk_ops(fn.body):
                if op.name in INDEXED and not op.attrs.get("inbounds"):
                    op.attrs["inbounds"] = "wraps"
        return module


def mark_block(block: ir.Block, loops: list) -> None:
    """`loops`: (induction variable, start, dimension it stops at) of the enclosing loops
    that start at a constant >= 0 and step by 1, innermost last."""
    for op in block.ops:
        if op.name in INDEXED and not op.attrs.get("inbounds"):
            proof = in_range(op, loops)
            if proof:
                op.attrs["inbounds"] = proof
        inner = loops
        if op.name in LOOPS:
            start, stop, step = (dim_of_value(v) for v in op.operands[:3])
            if stop == DYN:
                stop = bound_of(op.operands[1], loops)
            if isinstance(start, int) and start >= 0 and step == 1 and stop != DYN:
                inner = loops + [(op.regions[0].args[0], start, stop)]
        for region in op.regions:
            mark_block(region, inner)


def bound_of(stop, loops: list):
    """The dimension a loop stopping at `stop` stays below when stop is an enclosing
    loop's variable plus at most 1 (`range(r)` inside `range(d)`: below d), else `?`."""
    for variable, _, bound in loops:
        offset = offset_from(stop, variable)
        if offset is not None and offset <= 1:
            return bound
    return DYN


def in_range(op: ir.Op, loops: list):
    """True when every index is in [0, size), "wraps" when some may be negative but all
    are in [-size, size), False when that is not proved."""
    array, indices = op.operands[0], op.operands[INDEXED[op.name]:]
    proofs = [index_in_range(index, array.type.shape[axis], loops)
              for axis, index in enumerate(indices)]
    if not all(proofs):
        return False
    return "wraps" if "wraps" in proofs else True


def index_in_range(index, size, loops: list):
    """True for 0 <= index < size, "wraps" for -size <= index < 0 possible, False for not
    proved, on every run of the enclosing loops."""
    constant = dim_of_value(index) if is_constant(index) else None
    for variable, start, bound in loops:
        # the same size, or literal sizes where the loop's is the smaller
        if bound != size and not (isinstance(bound, int) and isinstance(size, int) and bound <= size):
            continue
        # inside a loop over this size that runs at all, size > start >= 0
        if isinstance(constant, int) and -1 <= constant <= start:
            return True if constant >= 0 else "wraps"
        offset = offset_from(index, variable)
        if offset is not None and offset <= 0 and start + offset >= -1:
            return True if start + offset >= 0 else "wraps"
    return False


def is_constant(value) -> bool:
    op = value.defining_op
    return op is not None and op.name == "const"


def offset_from(value, variable):
    """c when value is variable + c for a constant c, else None."""
    if value is variable:
        return 0
    op = value.defining_op
    if op is None or op.name not in ("add", "sub") or op.operands[0] is not variable:
        return None
    if not is_constant(op.operands[1]):
        return None
    c = dim_of_value(op.operands[1])
    if not isinstance(c, int):
        return None
    return c if op.name == "add" else -c
