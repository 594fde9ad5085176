"""Loop fusion: two `for` loops in a row over the same range, whose shared arrays each
iteration touches at its own index only, become one loop.

Reverse mode makes one scatter loop per elementwise step of the primal: the adjoint of
`w = u / (v + a)` adds into the adjoints of u, v and a at the loop's index, and the
adjoint of the next step's `build` is another such loop, reading what the first added:

    %ub, %vb = for 0, %n, 1, %z1, %z2 { ^(%k, %p, %q):
      ... %p.1 = add_at %p, %g, %k;  %q.1 = add_at %q, %h, %k
      yield %p.1, %q.1 }
    %ub.1, %xb = for 0, %n, 1, %ub, %z3 { ^(%k, %p, %r):
      %e = index %vb, %k;  ... add_at %p, %f, %k;  add_at %r, %e, %k ...
      yield ... }

Each loop vectorizes, but each reads and writes its arrays whole, and the values both
need (w above) are computed in both. As one loop, iteration k runs the first body and
then the second, the second's reads of the first's arrays at k taking what the first
body just gave element k (which is then final: the first loop touches element k at
iteration k only), and the values both compute are computed once. The same ops on the
same values in the same order for each element: the same bits. The gradient of a
two-variable iteration on each of 1000 values, 1000 steps (benchmarks/gradient.py
--tables element_loops), its three loops per reverse step as one: 1.5 -> 1.1 ms, and on 4
values, 10^5 steps, where each loop is mostly its overhead, 8.0 -> 3.8 ms.

The pass fuses a `for` with the next `for` in its block (ops between them that do not
use the first and cannot fail move above it) when both have the same start, stop and
step values, carry arrays only, have no loop inside their bodies (the innermost loops,
the ones that vectorize) and cannot fail (so no error is raised earlier or later than
before), and every array one of them passes to or shares with the other is touched at
the loop's index only: the first loop's results that the second carries or reads, by
the first's `index`, `add_at` and `update` ops with its variable as the index of one axis
(through `if`s), the second's reads of them likewise, and the carried ones by the second
the same way, that axis the same for all of them (element or row k of a vector or
matrix, column k of a matrix's rows). An
array the second carries on may have no other use; neither loop may read what the
other consumes. It runs last among the native passes, after the builds are fused.
"""

from __future__ import annotations

from collections import Counter

import ir
from ir import Block
from ir.clone import clone_op

from .dce import body_never_fails, effect_free, never_fails, remove_dead_ops
from .simplify import replace_all, share_scalars

LOOPS = ("for", "while", "build", "reduce", "call")
CHAINED = ("add_at", "update")  # ops whose result is their array operand, changed


class FuseLoops:
    name = "fuse_loops"

    def apply(self, module: ir.Module) -> ir.Module:
        for fn in module.functions.values():
            fuse_in_block(fn.body)
        return module


def fuse_in_block(block: Block) -> None:
    for op in block.ops:
        for region in op.regions:
            fuse_in_block(region)
    i = 0
    while i < len(block.ops):
        if not fuse_with_next(block, i):
            i += 1


def fuse_with_next(block: Block, i: int) -> bool:
    """Fuses the loop at block.ops[i] with the next loop, if it can; True if it did."""
    first = block.ops[i]
    if not innermost_loop(first):
        return False
    j = i + 1
    while j < len(block.ops) and block.ops[j].name != "for":
        j += 1
    if j == len(block.ops):
        return False
    second, between = block.ops[j], block.ops[i + 1:j]
    if not (innermost_loop(second) and movable_above(between, first)
            and same_range(first, second) and aligned(first, second, use_counts(block))):
        return False
    fused, subst = fused_loop(first, second)
    block.ops[i:j + 1] = [*between, fused]
    replace_all(block, subst)
    return True


def innermost_loop(op: ir.Op) -> bool:
    """A `for` carrying arrays only, with no loop or call in its body, that cannot fail."""
    if op.name != "for" or not op.results:
        return False
    body = op.regions[0]
    return (all(r.type.rank > 0 for r in op.results)
            and not any(inner.name in LOOPS for inner in ir.walk_ops(body))
            and body_never_fails(body, in_place=True))


def movable_above(between: list, first: ir.Op) -> bool:
    """Can the ops between the loops run before the first? (They do not use it and
    cannot fail.)"""
    made = set(first.results)
    for op in between:
        if set(op.operands) & made or ir.uses_within(op) & made or not never_fails(op):
            return False
        made.update(op.results)
    return True


def same_range(first: ir.Op, second: ir.Op) -> bool:
    return all(a is b or same_constant(a, b) for a, b in zip(first.operands[:3],
                                                            second.operands[:3]))


def same_constant(a, b) -> bool:
    ops = (a.defining_op, b.defining_op)
    return all(op is not None and op.name == "const" for op in ops) and \
        ops[0].attrs == ops[1].attrs and a.type == b.type


def use_counts(block: Block) -> Counter:
    return Counter(v for op in ir.walk_ops(block) for v in op.operands)


def aligned(first: ir.Op, second: ir.Op, uses: Counter) -> bool:
    """Does each loop touch what it shares with the other at its index only?"""
    results = set(first.results)
    carried_on = [v for v in second.operands[3:] if v in results]
    read = {v for inner in ir.walk_ops(second.regions[0]) for v in inner.operands if v in results}
    if set(second.operands[:3]) & results or set(carried_on) & read:
        return False
    if any(uses[v] != 1 or second.operands[3:].count(v) != 1 for v in carried_on):
        return False  # the first loop's value must be gone once the second carries it on
    # neither loop reads what the other consumes (its inits), nor do they share one
    inits1, inits2 = set(first.operands[3:]), set(second.operands[3:]) - results
    if inits1 & inits2 or inits1 & (ir.uses_within(second) | set(second.operands[:3])) \
            or inits2 & ir.uses_within(first):
        return False
    body1, body2 = first.regions[0], second.regions[0]
    axes = {v.index: set() for v in [*carried_on, *read]}  # first's result -> the axes
    for p in axes:
        if not chain_at_index(body1, p, axes[p]):
            return False
    for q, v in enumerate(second.operands[3:]):
        if v in results and not chain_at_index(body2, q, axes[v.index]):
            return False
    for v, found in reads_at_index(body2, read, body2.args[0]).items():
        if found is None:
            return False
        axes[v.index] |= found
    return all(len(found) <= 1 for found in axes.values())


def chain_at_index(body: Block, slot: int, axes: set) -> bool:
    """Does the loop body touch its carried array `slot` (and what it makes of it) only
    by `index`, `add_at` and `update` with the loop's variable among the indices (adding
    its axes to `axes`), passing it on to slot only? When every access of an array has
    the variable at one axis, iteration k touches only the elements whose coordinate
    there is k: the row k of a cotangent matrix (x_bar[k] += ...), or the column k of
    its row i (x_bar[i, k] += ..., x_bar[j, k] += ..., adding a pair's rows)."""
    var, chain = body.args[0], {body.args[1 + slot]}
    if not chain_ops(body.ops[:-1], chain, var, axes):
        return False
    yielded = body.terminator.operands
    return yielded[slot] in chain and not any(v in chain for q, v in enumerate(yielded)
                                              if q != slot)


def chain_ops(ops: list, chain: set, var, axes: set | None = None) -> bool:
    """Whether `ops` touch the arrays of `chain` only at elements of `var`: with the
    variable as the first index, or (given `axes`, which collects them) at any one axis."""
    def at_own_index(op: ir.Op) -> bool:
        axis = own_axis(op, var) if len(op.operands) >= 2 + (op.name in CHAINED) else None
        if axis is None or axes is None and axis != 0:
            return False
        if axes is not None:
            axes.add(axis)
        return True
    return follow_chain(ops, chain, at_own_index)


def follow_chain(ops: list, chain: set, touch) -> bool:
    """Whether `ops` use the arrays of `chain` only as the first operand of ops that
    touch(op) accepts, and through `if`s that pass them on in both branches or in
    neither (not as a test). The chain grows with what `add_at`, `update` and such
    `if`s make of its arrays."""
    for op in ops:
        if op.name == "if":
            if set(op.operands) & chain:
                return False
            for region in op.regions:
                if not follow_chain(region.ops[:-1], chain, touch):
                    return False
            for p, result in enumerate(op.results):
                passed = [region.terminator.operands[p] in chain for region in op.regions]
                if any(passed) and not all(passed):
                    return False
                if all(passed):
                    chain.add(result)
            continue
        touched = [k for k, v in enumerate(op.operands) if v in chain]
        if not touched:
            continue
        if touched != [0] or not touch(op):
            return False
        if op.name in CHAINED:
            chain.add(op.results[0])
    return True


def at_element(op: ir.Op, places: set) -> bool:
    """Is op an `index`, `add_at` or `update` of one element, proved in range? Its
    indices go to places."""
    first_index = 2 if op.name in CHAINED else 1
    if op.name not in ("index", *CHAINED) or op.attrs.get("inbounds") is not True or \
            len(op.operands) - first_index != op.operands[0].type.rank:
        return False
    places.add(tuple(op.operands[first_index:]))
    return True


def one_to_one(value, var, nest_values: set) -> bool:
    """Is value a one-to-one function of var: var plus or minus a value that does not
    change in the nest, or subtracted from one, and so on? (At 64 bits too: adding a
    value is a bijection even where it wraps around.)"""
    while value is not var:
        op = value.defining_op
        if op is None or op.name not in ("add", "sub"):
            return False
        left, right = op.operands
        if invariant(right, nest_values):
            value = left
        elif invariant(left, nest_values):
            value = right
        else:
            return False
    return True


def invariant(value, nest_values: set) -> bool:
    """Is value the same throughout the nest: made outside it, or from such values?"""
    if value not in nest_values:
        return True
    op = value.defining_op
    return op is not None and not op.regions and \
        all(invariant(v, nest_values) for v in op.operands)


def own_axis(op: ir.Op, var):
    """The first axis at which op, an `index`, `add_at` or `update` of its first operand
    proved in range, takes `var` as index, else None. Iteration k then touches only
    elements whose coordinate on that axis is k: a negative index, which counts from the
    end (unchecked code takes it as valid), would make iterations -n and 0 touch the same
    element."""
    first_index = 2 if op.name in CHAINED else 1
    if op.name not in ("index", *CHAINED) or op.attrs.get("inbounds") is not True:
        return None
    indices = op.operands[first_index:]
    return next((axis for axis, v in enumerate(indices) if v is var), None)


def reads_at_index(body: Block, arrays: set, var) -> dict:
    """{array: the axes at which the body reads it}, each read an `index` with `var` as
    one of its indices (see own_axis); None for an array read otherwise."""
    found: dict = {v: set() for v in arrays}
    for op in ir.walk_ops(body):
        for k, v in enumerate(op.operands):
            if v not in arrays or found[v] is None:
                continue
            axis = own_axis(op, var) if op.name == "index" and k == 0 else None
            if axis is None:
                found[v] = None
            else:
                found[v].add(axis)
    return found


def fused_loop(first: ir.Op, second: ir.Op) -> tuple[ir.Op, dict]:
    """One loop: first's body, then second's, carrying first's values and the second's
    own (a value the second carries on from the first is one slot); and what stands for
    the two loops' results."""
    body1, body2 = first.regions[0], second.regions[0]
    own = [q for q, v in enumerate(second.operands[3:]) if v not in first.results]
    slot_of = {q: v.index for q, v in enumerate(second.operands[3:]) if v in first.results}
    body = Block([a.type for a in body1.args] + [body2.args[1 + q].type for q in own],
                 [a.name_hint for a in body1.args] + [body2.args[1 + q].name_hint for q in own])
    values = dict(zip(body1.args, body.args))
    body.ops = [clone_op(op, values) for op in body1.ops[:-1]]
    given = [values.get(v, v) for v in body1.terminator.operands]
    values.update({body2.args[0]: body.args[0]})
    values.update({body2.args[1 + q]: given[p] for q, p in slot_of.items()})
    values.update({body2.args[1 + q]: body.args[len(body1.args) + k] for k, q in enumerate(own)})
    values.update({r: given[r.index] for r in first.results})  # the second's reads at k
    body.ops += [clone_op(op, values) for op in body2.ops[:-1]]
    taken = [values.get(v, v) for v in body2.terminator.operands]
    for q, p in slot_of.items():
        given[p] = taken[q]
    yielded = given + [taken[q] for q in own]
    body.ops.append(ir.Op("yield", yielded, [], loc=body2.terminator.loc))
    fused = ir.Op("for", first.operands + [second.operands[3 + q] for q in own],
                  [v.type for v in yielded], dict(first.attrs), [body], first.loc,
                  [r.name_hint for r in first.results]
                  + [second.results[q].name_hint for q in own])
    for q, p in slot_of.items():  # the slot's value is the second loop's result
        fused.results[p].name_hint = second.results[q].name_hint
    share_scalars(body)  # what both bodies computed (w above), once
    remove_dead_ops(body, effect_free)
    subst = dict(zip(first.results, fused.results))
    subst.update({second.results[q]: fused.results[p] for q, p in slot_of.items()})
    subst.update({second.results[q]: fused.results[len(given) + k] for k, q in enumerate(own)})
    return fused, subst
