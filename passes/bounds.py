"""Bounds: marks `index`, `update` and `add_at` ops whose indices are provably in range,
so native code skips the check (and loops with no check left can be vectorized).

An index is in range when it is the induction variable i of a `for`, `build` or `reduce`
that starts at a constant >= 0, steps up by a constant and stops at the indexed array's
size on that axis (the same dimension name or literal in both types, checked at the call;
never `?`) or at the variable (plus at most 1) of a loop that does, or that counts down
from that size minus at least 1 to a constant >= -1 (loop_fact); or i + c for a constant
c <= 0 with start + c >= -1 (start: i's lowest value); or d - b - i for a constant
b >= 1 with i below d (a reverse sweep's n - 1 - k); or a constant in [-1, start] inside
such a loop (which only runs when the size exceeds start). `inbounds = true` means
0 <= index < size; `inbounds = "wraps"` means -size <= index < size, valid through
Python's negative indices (x[i - 1] at i = 0), so native code still maps a negative index
to size + index. Neither is ever checked.

An access AD made to repeat one the program checked (`inbounds = "repeated"`: valid where
it stands, not elsewhere) gets the proof above when there is one, so it may move.

Inside the then-branch of `if i + a < d - b` (also `<=`, `>`, `>=` written the other
way, `not`, and `and` of such tests; the else-branch takes the opposite), i + c for
c <= a + b is below the size d, and it is >= 0 when i is a loop variable from start >= -c
or the test also says `i >= -c`. Such a read, `x[i + 1] if i < n - 1 else 0.0` (the
shifted read a reverse sweep makes) or `x[c[i]] if 0 <= c[i] < n else 0.0`, is marked
`inbounds = "guarded"`. That proof holds only under the test, so such a read is never
moved out of its branch (dce.never_fails is false for it: no speculation, no hoisting);
native code skips its check, and LLVM vectorizes the branch as a masked load.

When none of that proves an index, its bounds are computed from the ranges of the loops
whose variables it adds and subtracts (affine_in_range, below): `x[i + j]` for i in
range(n - k + 1) and j in range(k) is in [0, n - 1]. A loop up to `max(a, c)`, c a
constant no higher than its start, runs below a (reverse mode's loops over a computed
range). Such a proof holds wherever its variables do, so it may move.
"""

from __future__ import annotations

from typing import NamedTuple

import ir
from ir.calling import LARGEST_SIZE
from ir.ops import ASSUMED, GUARDED, REPEATED, constant, dim_of_value, size_dim
from ir.types import DYN

LOOPS = ("for", "build", "reduce")
INDEXED = {"index": 1, "update": 2, "add_at": 2}  # op: position of its first index operand


class Bounds:
    name = "bounds"

    def apply(self, module: ir.Module) -> ir.Module:
        for fn in module.functions.values():
            mark_block(fn.body, [])
        return module


class Fact(NamedTuple):
    """start <= value and value + headroom < size, where the fact holds: for the variable
    of an enclosing loop (from_test False, headroom 0) or from the test of an enclosing
    `if` (from_test True; start None when the test does not bound it below, size ? when
    it bounds it only below)."""
    value: object
    start: object
    size: object
    headroom: int
    from_test: bool


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


def mark_block(block: ir.Block, facts: list, anywhere: bool = False,
               loops: dict | None = None) -> None:
    """`facts`: what holds in `block`, innermost last: one per enclosing loop with a
    loop_fact, and (unless `anywhere`) those of enclosing `if`s' tests. `loops`: the
    enclosing loops, by their variables."""
    loops = {} if loops is None else loops
    for op in block.ops:
        # a repeated access (AD's) is valid where it stands; proved, it may also move
        marks = (REPEATED,) if anywhere else (None, False, REPEATED)
        if op.name in INDEXED and op.attrs.get("inbounds") in marks:
            proof = in_range(op, facts, anywhere, loops)
            if proof:
                op.attrs["inbounds"] = proof
        fact = loop_fact(op, facts) if op.name in LOOPS else None
        inner = facts + [fact] if fact else facts
        if op.name == "if" and not anywhere:
            test = op.operands[0]
            mark_block(op.regions[0], facts + guard_facts(test, facts, holds=True), False,
                       loops)
            mark_block(op.regions[1], facts + guard_facts(test, facts, holds=False), False,
                       loops)
            continue
        around = {**loops, op.regions[0].args[0]: op} if op.name in LOOPS else loops
        for region in op.regions:
            mark_block(region, inner, anywhere, around)


def loop_fact(loop: ir.Op, facts: list):
    """What holds for the variable i of `loop`, None when nothing is proved. Up from a
    constant start >= 0 by a constant step to a size d (or to an enclosing loop's variable
    plus at most 1, below d): start <= i < d. Down from d - b (b >= 1) by a constant step
    to a constant c >= -1, as in `range(n - 1, -1, -1)`: c + 1 <= i < d."""
    start, stop, step = (dim_of_value(v) for v in loop.operands[:3])
    i = loop.regions[0].args[0]
    if isinstance(step, int) and step >= 1:
        if stop == DYN:
            stop = bound_of(loop.operands[1], facts)
        if isinstance(start, int) and start >= 0 and is_size(stop):
            return Fact(i, start, stop, 0, False)
    if isinstance(step, int) and step <= -1:
        size, below = size_minus(loop.operands[0])
        if isinstance(stop, int) and stop >= -1 and below >= 1 and is_size(size):
            return Fact(i, stop + 1, size, 0, False)
    return None


def is_size(bound) -> bool:
    """A dimension (checked at the call to be at most LARGEST_SIZE) or a literal no larger."""
    return bound != DYN and not (isinstance(bound, int) and bound > LARGEST_SIZE)


# A comparison that does not hold is its opposite, written the same way round.
OPPOSITE = {"lt": "ge", "le": "gt", "gt": "le", "ge": "lt"}


def guard_facts(test, facts: list, holds: bool) -> list:
    """Facts an `if` gives the branch where its test `holds` (the then-branch) or not
    (the else-branch): `v + a < d - b` says v + (a + b) < d, and `c <= v + a` says
    v >= c - a, for a loop variable or any other i64 value v."""
    op = test.defining_op
    if op is None:
        return []
    if op.name == "not":
        return guard_facts(op.operands[0], facts, not holds)
    parts = both_parts(op, "and" if holds else "or")
    if parts:  # both parts hold (or both fail)
        return [fact for part in parts for fact in guard_facts(part, facts, holds)]
    if op.name not in OPPOSITE or op.operands[0].type != ir.I64:
        return []
    name = op.name if holds else OPPOSITE[op.name]
    low, high = op.operands if name in ("lt", "le") else reversed(op.operands)
    strict = name in ("lt", "gt")
    return upper_fact(low, high, strict, facts) + lower_fact(low, high, strict, facts)


def upper_fact(low, high, strict: bool, facts: list) -> list:
    """low < high (low <= high unless strict) with high = d - b: low's base v, which is
    low - a, has v + (a + b) < d, or v + (a + b - 1) < d."""
    size, below = size_minus(high)
    value, a = base_and_offset(low)
    start = loop_start(value, facts)
    if size == DYN or not exact(value, a, start) or below > SMALL:
        return []
    return [Fact(value, start, size, a + below - (0 if strict else 1), True)]


def lower_fact(low, high, strict: bool, facts: list) -> list:
    """c < high (c <= high unless strict) for a constant c: high's base v, which is
    high - a, has v >= c + 1 - a, or v >= c - a. A fact with no size bounds only below."""
    c = dim_of_value(low) if is_constant(low) else None
    if not isinstance(c, int):
        return []
    value, a = base_and_offset(high)
    if not exact(value, a, loop_start(value, facts)):
        return []
    return [Fact(value, c + (1 if strict else 0) - a, DYN, 0, True)]


# A test says what it seems to only when its arithmetic does not wrap around at 64 bits
# (`i + 2**63 - 1 < n` holds for every i >= 1): a loop variable with a fact stays below
# a dimension (at most LARGEST_SIZE, checked at the call) or a literal no larger, so
# i + a cannot wrap for |a| <= SMALL, nor d - b for b <= SMALL; any other value v is
# taken as it is compared, v < d - b, never v + a.
SMALL = 2**32


def loop_start(value, facts: list):
    """The start of the loop whose variable `value` is, None when it is none's."""
    return next((f.start for f in facts if f.value is value and not f.from_test), None)


def exact(value, a: int, start) -> bool:
    """Can `value + a` be taken at its word, value being a loop variable from start (or
    any value when start is None)?"""
    return a == 0 or start is not None and abs(a) <= SMALL


def base_and_offset(value) -> tuple:
    """(v, c) when value is v + c or v - c for a constant c, else (value, 0)."""
    op = value.defining_op
    if op is not None and op.name in ("add", "sub") and is_constant(op.operands[1]):
        offset = offset_from(value, op.operands[0])
        if offset is not None:
            return op.operands[0], offset
    return value, 0


def both_parts(op: ir.Op, name: str) -> list:
    """The two tests of `a and b` (name "and") or `a or b` ("or"), also in the forms a
    short-circuit takes (`if a {b} {false}`, `select a, b, false`, and for `or` true in
    the then-branch); else []."""
    if op.name == name:
        return list(op.operands)
    if op.name == "select":
        test, then, other = op.operands
    elif op.name == "if" and len(op.results) == 1:  # before speculation makes it a select
        test, (then,), (other,) = op.operands[0], *(r.ops[-1].operands for r in op.regions)
    else:
        return []
    if name == "and" and constant(other) is False:
        return [test, then]
    if name == "or" and constant(then) is True:
        return [test, other]
    return []


def size_minus(value) -> tuple:
    """(d, b) when value is d - b for a size d (a dimension or a constant >= 0) and a
    constant b >= 0, else (?, 0)."""
    base, offset = base_and_offset(value)
    size = size_dim(base)
    if size == DYN or offset > 0:
        return DYN, 0
    return size, -offset


def bound_of(stop, facts: list):
    """The dimension a loop stopping at `stop` stays below when stop is an enclosing
    loop's variable plus at most 1 (`range(r)` inside `range(d)`: below d), else `?`."""
    for fact in facts:
        offset = offset_from(stop, fact.value)
        if offset is not None and offset <= 1 and not fact.from_test:
            return fact.size
    return DYN


def in_range(op: ir.Op, facts: list, anywhere: bool = False, loops: dict | None = None):
    """True when every index is in [0, size), "wraps" when some may be negative but all
    are in [-size, size), False when that is not proved."""
    array, indices = op.operands[0], op.operands[INDEXED[op.name]:]
    proofs = [index_in_range(index, array.type.shape[axis], facts, anywhere) or
              affine_in_range(index, array.type.shape[axis], loops or {})
              for axis, index in enumerate(indices)]
    if not all(proofs) or "wraps" in proofs and GUARDED in proofs:
        return False
    if "wraps" in proofs:
        return "wraps"
    return GUARDED if GUARDED in proofs else True


def index_in_range(index, size, facts: list, anywhere: bool = False):
    """True for 0 <= index < size, "wraps" for -size <= index < 0 possible, "guarded" for
    0 <= index < size under the test of an enclosing `if`, False for not proved."""
    constant = dim_of_value(index) if is_constant(index) else None
    for fact in facts:
        if fact.from_test or not within(fact.size, size):
            continue
        # inside a loop over this size that runs at all, size > start >= 0
        if isinstance(constant, int) and -1 <= constant <= fact.start and not anywhere:
            return True if constant >= 0 else "wraps"
        offset = offset_from(index, fact.value)
        if offset is not None and offset <= 0 and fact.start + offset >= -1:
            return True if fact.start + offset >= 0 else "wraps"
        lowest = mirrored_lowest(index, fact)
        if lowest is not None and lowest >= -1:
            return True if lowest >= 0 else "wraps"
    return GUARDED if guarded_by_test(index, size, facts) else False


def mirrored_lowest(index, fact: Fact):
    """The lowest value of index when it is d - b - v for the variable v of a loop below
    d that starts at `start`, with b + start >= 1 (so index < d): d - b - (d - 1), the
    reverse sweep's i = n - 1 - k. None for any other index."""
    op = index.defining_op
    if op is None or op.name != "sub" or op.operands[1] is not fact.value:
        return None
    size, below = size_minus(op.operands[0])
    if size != fact.size or below + fact.start < 1:
        return None
    return 1 - below + fact.headroom


def guarded_by_test(index, size, facts: list) -> bool:
    """Is index = v + c in [0, size) by the facts of enclosing tests: v + headroom < size
    for some headroom >= c, and v >= start for some start >= -c?"""
    for fact in facts:
        if not fact.from_test or not within(fact.size, size):
            continue
        offset = offset_from(index, fact.value)
        lowest = lower_bound(fact.value, facts)
        if offset is not None and offset <= fact.headroom and lowest is not None \
                and lowest + offset >= 0:
            return True
    return False


def within(bound, size) -> bool:
    """Is a value below `bound` below `size`: the same size, or literal sizes where the
    bound is the smaller? (A fact that bounds only below has bound ?, which none is.)"""
    if bound == DYN:
        return False
    return bound == size or isinstance(bound, int) and isinstance(size, int) and bound <= size


def lower_bound(value, facts: list):
    """The largest c with value >= c among the facts, None when none bounds it."""
    starts = [f.start for f in facts if f.value is value and f.start is not None]
    return max(starts) if starts else None


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


# ----------------------------------------------------------------------------- affine bounds
#
# An index computed by adding, subtracting and selecting loop variables, dimensions and
# constants is bounded by sums of dimensions: in `[sum(w[j] * x[i + j] for j in
# range(k)) for i in range(n - k + 1)]`, i <= n - k and j <= k - 1, so i + j <= n - 1.
# A bound is a form {dimension name: coefficient, 1: constant}; a dimension is >= 0, so a
# form with no negative coefficient is >= 0. Every form met keeps its coefficients'
# magnitudes at most MAX_WEIGHT in all and its constant within SMALL, so the values it
# bounds are below 2**63 (dimensions are at most 2**60) and their arithmetic never wraps.
MAX_WEIGHT = 4
MAX_DEPTH = 16


def affine_in_range(index, size, loops: dict) -> bool:
    """0 <= index < size by the ranges of the loops (`loops`: variable -> loop) the index
    is computed from? Holds wherever the index can be computed (its variables' loops run
    there), so the proof may move."""
    bounds = None if size == DYN else affine_bounds(index, loops, 0)
    if bounds is None:
        return False
    low, high = bounds
    limit = {1: size} if isinstance(size, int) else {size: 1}
    return nonnegative(low) and nonnegative(plus(limit, plus(high, {1: 1}), -1))


def affine_bounds(value, loops: dict, depth: int):
    """(low, high): forms with low <= value <= high, or None."""
    if depth > MAX_DEPTH or value.type != ir.I64:
        return None
    found = leaf_bounds(value, loops, depth) if value.defining_op is None or \
        value.defining_op.name in ("const", "dim") else op_bounds(value.defining_op, loops,
                                                                     depth)
    if found is None or None in found or not all(small(form) for form in found):
        return None
    return found


def leaf_bounds(value, loops: dict, depth: int):
    """A constant, a dimension, or a loop's variable: start <= i <= stop - 1 up by a
    constant step, stop + 1 <= i <= start down."""
    size = dim_of_value(value)
    if isinstance(size, int):
        return {1: size}, {1: size}
    if size != DYN:
        return {size: 1}, {size: 1}
    loop = loops.get(value)
    step = dim_of_value(loop.operands[2]) if loop is not None else None
    if not isinstance(step, int) or step == 0:
        return None
    start = affine_bounds(loop.operands[0], loops, depth + 1)
    stop = affine_bounds(running_stop(loop, start) if step > 0 else loop.operands[1], loops,
                         depth + 1)
    if start is None or stop is None:
        return None
    if step > 0:
        return start[0], plus(stop[1], {1: -1})
    return plus(stop[0], {1: 1}), start[1]


def running_stop(loop: ir.Op, start):
    """The stop of a loop counting up, as it is while the loop runs: of `max(a, c)`, a
    constant c no higher than the start, a (the loop runs only when its stop exceeds
    its start, so when a does); reverse mode's `range(max(n - k + 1, 0))`."""
    stop = loop.operands[1]
    op = stop.defining_op
    if op is None or op.name != "maximum" or start is None:
        return stop
    for a, c in (op.operands, reversed(op.operands)):
        low = dim_of_value(c) if is_constant(c) else None
        if isinstance(low, int) and nonnegative(plus(start[0], {1: -low})):
            return a
    return stop


def op_bounds(op: ir.Op, loops: dict, depth: int):
    """Bounds of neg, add, sub, a product by a constant, maximum, minimum and select."""
    if op.name == "neg":
        negated = affine_bounds(op.operands[0], loops, depth + 1)
        return None if negated is None else (times(negated[1], -1), times(negated[0], -1))
    if op.name not in ("add", "sub", "mul", "maximum", "minimum", "select"):
        return None
    parts = [affine_bounds(v, loops, depth + 1) for v in op.operands[-2:]]
    if None in parts:
        return None
    (low_a, high_a), (low_b, high_b) = parts
    if op.name == "add":
        return plus(low_a, low_b), plus(high_a, high_b)
    if op.name == "sub":
        return plus(low_a, high_b, -1), plus(high_a, low_b, -1)
    if op.name == "mul":
        return scaled(op.operands, parts)
    lows, highs = [low_a, low_b], [high_a, high_b]
    if op.name == "maximum":
        return larger(lows, any_one=True), larger(highs)
    if op.name == "minimum":
        return smaller(lows), smaller(highs, any_one=True)
    return smaller(lows), larger(highs)  # select: either one


def scaled(operands: list, parts: list):
    """Bounds of c * v or v * c for a constant c."""
    for (low, high), other in zip(parts, reversed(parts)):
        if len(low) == 1 and low == high and 1 in low:
            c = low[1]
            scaled_low, scaled_high = (times(f, c) for f in other)
            return (scaled_low, scaled_high) if c >= 0 else (scaled_high, scaled_low)
    return None


def larger(forms: list, any_one: bool = False):
    """A form at least each of `forms` (at least one of them, with any_one): the one the
    other is provably below; None when neither is (any_one: the first)."""
    a, b = forms
    if nonnegative(plus(a, b, -1)):
        return a
    if nonnegative(plus(b, a, -1)):
        return b
    return a if any_one else None


def smaller(forms: list, any_one: bool = False):
    found = larger([times(f, -1) for f in forms], any_one)
    return None if found is None else times(found, -1)


def plus(a: dict, b: dict, sign: int = 1) -> dict:
    total = dict(a)
    for symbol, coefficient in b.items():
        total[symbol] = total.get(symbol, 0) + sign * coefficient
    return {symbol: c for symbol, c in total.items() if c != 0 or symbol == 1}


def times(form: dict, c: int) -> dict:
    return {symbol: c * coefficient for symbol, coefficient in form.items()}


def nonnegative(form: dict) -> bool:
    return all(coefficient >= 0 for coefficient in form.values())


def small(form: dict) -> bool:
    weight = sum(abs(c) for symbol, c in form.items() if symbol != 1)
    return weight <= MAX_WEIGHT and abs(form.get(1, 0)) <= SMALL
