"""Ranges: what a value can be where code runs inside loops that are known to run.

A loop body runs only when its range is not empty: inside `for k in range(s)`, s >= 1.
`running_facts` turns the loops around a place into lower bounds of i64 values there,
and `Ranges.magnitude` bounds |v| of an f64 value from its ops and those facts: a step size
h = 2.0 / s (ode's) is at most 2 in such a loop, though it is inf where s = 0. AD reads
it: a cotangent times a bounded factor needs no guard for 0 * inf (passes/emit.py).

The bounds are sound, not tight: None means "not known", never "unbounded".
"""

from __future__ import annotations

import math

from .ops import constant

# |to_f64(i)| for any i64 i: 2**63 - 1 rounds to 2**63.
LARGEST_I64_AS_F64 = 2.0 ** 63
# A bound above this is not trusted to be finite: each step's float arithmetic may round
# it down a little, and a sum or product of bounds near the largest double overflows.
LARGEST_BOUND = 1e300


def running_facts(loops) -> dict:
    """{i64 value: its least value} where every loop (start, stop, step) of `loops` is
    running its body: for a step c > 0 and a constant start a, stop >= a + 1."""
    facts: dict = {}
    for start, stop, step in loops:
        running_from(facts, start, stop, step)
    return facts


def at_least(facts: dict, v, bound: int) -> None:
    """Record v >= bound, and what follows for the values v is made of: from
    maximum(a, c) >= bound with a constant c < bound, a >= bound (reverse mode's trip
    count of range(s) is maximum(s, 0)); from trip_count(a, b, c) >= 1, constants a and
    c > 0, b >= a + 1."""
    if facts.get(v, bound - 1) >= bound:
        return
    facts[v] = bound
    op = v.defining_op
    if op is not None and op.name == "maximum":
        a, b = op.operands
        for this, other in ((a, b), (b, a)):
            c = constant(other)
            if isinstance(c, int) and c < bound:
                at_least(facts, this, bound)
    if op is not None and op.name == "trip_count" and bound >= 1:
        running_from(facts, *op.operands)


def running_from(facts: dict, start, stop, step) -> None:
    """Record what holds where a loop over range(start, stop, step) runs its body."""
    first, stride = constant(start), constant(step)
    if isinstance(first, int) and isinstance(stride, int) and stride > 0:
        at_least(facts, stop, first + 1)


class Ranges:
    """Bounds of values where the loops (start, stop, step) all run their bodies; each
    value's bound is worked out once (a chain of products reads its links many times)."""

    def __init__(self, loops):
        self.facts = running_facts(loops)
        self.known: dict = {}

    def least_int(self, v):
        """A lower bound of the i64 value v, or None."""
        c = constant(v)
        return c if isinstance(c, int) else self.facts.get(v)

    def magnitude(self, v):
        """An upper bound of |v| for an f64 value v, or None: v is then maybe infinite or
        NaN. Bounded are finite constants, integers converted to f64, and sums,
        differences, products and negations of bounded values and their quotients by
        values bounded away from 0."""
        if v not in self.known:
            self.known[v] = self.work_out_magnitude(v)
        return self.known[v]

    def work_out_magnitude(self, v):
        c = constant(v)
        if c is not None:
            return abs(c) if isinstance(c, float) and math.isfinite(c) else None
        op = v.defining_op
        if op is not None and op.name == "to_f64":
            return LARGEST_I64_AS_F64
        if op is None or op.name not in ARITHMETIC:
            return None
        parts = [self.magnitude(a) for a in op.operands]
        if None in parts:
            return None
        bound = ARITHMETIC[op.name](self, parts, op)
        return bound if bound is not None and bound <= LARGEST_BOUND else None

    def least_magnitude(self, v) -> float:
        """A lower bound of |v| for an f64 value v (0.0 when nothing better is known)."""
        c = constant(v)
        if isinstance(c, float):
            return 0.0 if math.isnan(c) else abs(c)
        op = v.defining_op
        if op is not None and op.name == "to_f64":
            least = self.least_int(op.operands[0])
            return 1.0 if least is not None and least >= 1 else 0.0
        return 0.0

    def bounded(self, v) -> bool:
        """Whether the f64 value v is finite (not infinite, not NaN)."""
        return self.magnitude(v) is not None

    def bounded_away_from_zero(self, v) -> bool:
        """Whether the f64 value v is finite and nonzero."""
        return self.bounded(v) and self.least_magnitude(v) > 0.0


def quotient_bound(ranges: Ranges, parts, op):
    least = ranges.least_magnitude(op.operands[1])
    return parts[0] / least if least > 0.0 else None


ARITHMETIC = {
    "add": lambda ranges, parts, op: parts[0] + parts[1],
    "sub": lambda ranges, parts, op: parts[0] + parts[1],
    "mul": lambda ranges, parts, op: parts[0] * parts[1],
    "neg": lambda ranges, parts, op: parts[0],
    "div": quotient_bound,
}
