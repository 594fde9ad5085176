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

An access AD made to repeat one the program checked (`inbounds = "repeated"`: valid where
it stands, not elsewhere) gets the proof above when there is one, so it may move.

Inside the then-branch of `if i + a < d - b` (also `<=`, `>`, `>=` written the other
way, and `and` of such tests), i + c for 0 < c <= a + b is below the size d:
`x[i + 1] if i < n - 1 else 0.0`, the shifted read a reverse sweep makes, is marked
`inbounds = "guarded"`. That proof holds only under the test, so such a read is never
moved out of its branch (dce.never_fails is false for it: no speculation, no hoisting);
native code skips its check, and LLVM vectorizes the branch as a masked load.
"""

from __future__ import annotations

import ir
from ir.ops import REPEATED, constant, dim_of_value
from ir.types import DYN

LOOPS = ("for", "build", "reduce")
INDEXED = {"index": 1, "update": 2, "add_at": 2}  # op: position of its first index operand


class Bounds:
    name = "bounds"

    def apply(self, module: ir.Module) -> ir.Module:
        for fn in module.functions.values():
            mark_block(fn.body, [])
        return module


GUARDED = "guarded"  # in [0, size), proved by an enclosing `if`'s test: not movable
ASSUMED = "assumed"  # taken as in [-size, size) where the program reads it: not movable


class Unchecked:
    """`compile_file(..., checked=False)`, `--unchecked`: every index the bounds pass could
    not prove is taken as valid (negative ones still count from the end), so no bounds
    check is left; an index out of range is then undefined behaviour, as in C. Valid
    where the program makes the access, that is: `x[c[i]] if c[i] < n else 0.0` must not
    read x[c[i]] when the test fails, so such an index (`inbounds = "assumed"`) is never
    moved (no speculation, no hoisting)."""
    name = "unchecked"

    def apply(self, module: ir.Module) -> ir.Module:
        for fn in module.functions.values():
            for op in ir.walk_ops(fn.body):
                if op.name in INDEXED and not op.attrs.get("inbounds"):
                    op.attrs["inbounds"] = ASSUMED
        return module


def prove_repeated(fn: ir.Function) -> None:
    """Gives AD's repeated accesses the proofs that hold wherever they move: i + c in
    range for every i of the loop (not a constant, whose proof needs the loop to run, nor
    an `if`'s test), so the optimization passes may hoist them (LICM's tables)."""
    mark_block(fn.body, [], anywhere=True)


def mark_block(block: ir.Block, loops: list, anywhere: bool = False) -> None:
    """`loops`: facts (variable, start, size, headroom, guarded) about the induction
    variables of the enclosing loops that start at a constant >= 0 and step by 1, innermost
    last: start <= variable and variable + headroom < size. A loop's own fact has headroom
    0; the test of an enclosing `if` adds one with `guarded` set."""
    for op in block.ops:
        # a repeated access (AD's) is valid where it stands; proved, it may also move
        marks = (REPEATED,) if anywhere else (None, False, REPEATED)
        if op.name in INDEXED and op.attrs.get("inbounds") in marks:
            proof = in_range(op, loops, anywhere)
            if proof:
                op.attrs["inbounds"] = proof
        inner = loops
        if op.name in LOOPS:
            start, stop, step = (dim_of_value(v) for v in op.operands[:3])
            if stop == DYN:
                stop = bound_of(op.operands[1], loops)
            if isinstance(start, int) and start >= 0 and step == 1 and stop != DYN:
                inner = loops + [(op.regions[0].args[0], start, stop, 0, False)]
        if op.name == "if" and not anywhere:
            test = op.operands[0]
            mark_block(op.regions[0], loops + guard_facts(test, loops, holds=True))
            mark_block(op.regions[1], loops + guard_facts(test, loops, holds=False))
            continue
        for region in op.regions:
            mark_block(region, inner, anywhere)


# A comparison that does not hold is its opposite, written the same way round.
OPPOSITE = {"lt": "ge", "le": "gt", "gt": "le", "ge": "lt"}


def guard_facts(test, loops: list, holds: bool) -> list:
    """Facts an `if` gives the branch where its test `holds` (the then-branch) or not
    (the else-branch): from `i + a < d - b`, with i a loop variable, i + (a + b) < d."""
    op = test.defining_op
    if op is None:
        return []
    if op.name == "not":
        return guard_facts(op.operands[0], loops, not holds)
    parts = both_parts(op, "and" if holds else "or")
    if parts:  # both parts hold (or both fail)
        return [fact for part in parts for fact in guard_facts(part, loops, holds)]
    if op.name not in OPPOSITE or op.operands[0].type != ir.I64:
        return []
    name = op.name if holds else OPPOSITE[op.name]
    low, high = op.operands if name in ("lt", "le") else reversed(op.operands)
    size, below = size_minus(high)
    strict = name in ("lt", "gt")
    facts = []
    for variable, start, _, _, _ in loops:
        offset = offset_from(low, variable)
        if offset is None or size == DYN:
            continue
        headroom = offset + below - (0 if strict else 1)
        if headroom > 0:
            facts.append((variable, start, size, headroom, True))
    return facts


def both_parts(op: ir.Op, name: str) -> list:
    """The two tests of `a and b` (name "and") or `a or b` ("or"), also in the form a
    short-circuit takes (`select a, b, false`, `select a, true, b`); else []."""
    if op.name == name:
        return list(op.operands)
    if op.name == "select":
        test, then, other = op.operands
        if name == "and" and constant(other) is False:
            return [test, then]
        if name == "or" and constant(then) is True:
            return [test, other]
    return []


def size_minus(value) -> tuple:
    """(d, b) when value is d - b for a size d (a dimension or a constant) and a constant
    b >= 0, else (?, 0)."""
    size = dim_of_value(value)
    if size != DYN:
        return size, 0
    op = value.defining_op
    if op is None or op.name not in ("add", "sub") or not is_constant(op.operands[1]):
        return DYN, 0
    size, c = dim_of_value(op.operands[0]), dim_of_value(op.operands[1])
    if size == DYN or not isinstance(c, int):
        return DYN, 0
    below = c if op.name == "sub" else -c
    if below < 0:
        return DYN, 0
    return size, below


def bound_of(stop, loops: list):
    """The dimension a loop stopping at `stop` stays below when stop is an enclosing
    loop's variable plus at most 1 (`range(r)` inside `range(d)`: below d), else `?`."""
    for variable, _, bound, _, by_test in loops:
        offset = offset_from(stop, variable)
        if offset is not None and offset <= 1 and not by_test:
            return bound
    return DYN


def in_range(op: ir.Op, loops: list, anywhere: bool = False):
    """True when every index is in [0, size), "wraps" when some may be negative but all
    are in [-size, size), False when that is not proved."""
    array, indices = op.operands[0], op.operands[INDEXED[op.name]:]
    proofs = [index_in_range(index, array.type.shape[axis], loops, anywhere)
              for axis, index in enumerate(indices)]
    if not all(proofs) or "wraps" in proofs and GUARDED in proofs:
        return False
    return "wraps" if "wraps" in proofs else GUARDED if GUARDED in proofs else True


def index_in_range(index, size, loops: list, anywhere: bool = False):
    """True for 0 <= index < size, "wraps" for -size <= index < 0 possible, "guarded" for
    0 <= index < size under the test of an enclosing `if`, False for not proved."""
    constant = dim_of_value(index) if is_constant(index) else None
    guarded = False
    for variable, start, bound, headroom, by_test in loops:
        # the same size, or literal sizes where the loop's is the smaller
        if bound != size and not (isinstance(bound, int) and isinstance(size, int) and bound <= size):
            continue
        offset = offset_from(index, variable)
        if by_test:
            guarded = guarded or offset is not None and 0 < offset <= headroom and start + offset >= 0
            continue
        # inside a loop over this size that runs at all, size > start >= 0
        if isinstance(constant, int) and -1 <= constant <= start and not anywhere:
            return True if constant >= 0 else "wraps"
        if offset is not None and offset <= 0 and start + offset >= -1:
            return True if start + offset >= 0 else "wraps"
    return GUARDED if guarded else False


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
