"""Loop order: a nest of two loops that walks the arrays it carries down their columns
runs the other way round, along their rows.

A program's loops over a matrix written column by column, `for j in range(n): for i in
range(m): ... a[i, j] ...`, have a reverse sweep that adds into the cotangent at (i, j)
in the same order: each step of the inner loop a row further, memory a row's length
apart, so no two adds share a cache line and none is in a vector. When every array the
nest carries is touched at one element per iteration, the inner loop's variable giving
its row and the outer's its column, each element gets the ops of one iteration only, and
the order of the iterations changes no value: the loops are swapped. The same ops on the
same values for each element: the same bits.

The pass takes a `for` whose body is ops that compute from its variable and cannot fail
(`n - 1 - k`, a reverse sweep's index), then a `for` carrying the same arrays, whose
range does not depend on the outer loop, and the yield of that loop's results. The inner
body has no loop, cannot fail, and touches each carried array (rank 2, as `index`,
`add_at` and `update`, through `if`s, proved in range) always at the same two indices: a
one-to-one function of the inner variable first, of the outer variable second (the
variable plus or minus values the nest does not change, or subtracted from one). A loop carrying a scalar (a sum, whose order would change its bits) or a nest
already walking along rows is left alone.
"""

from __future__ import annotations

import ir
from ir import Block
from ir.clone import clone_op

from .dce import body_never_fails, never_fails, nonzero_step
from .fuse_loops import at_element, follow_chain, one_to_one
from .simplify import replace_all

LOOPS = ("for", "while", "build", "reduce", "call")


class LoopOrder:
    name = "loop_order"

    def apply(self, module: ir.Module) -> ir.Module:
        for fn in module.functions.values():
            order_in(fn.body)
        return module


def order_in(block: Block) -> None:
    replaced = {}
    for position, op in enumerate(block.ops):
        for region in op.regions:
            order_in(region)
        if column_walk(op):
            block.ops[position] = swapped(op)
            replaced.update(zip(op.results, block.ops[position].results))
    if replaced:
        replace_all(block, replaced)


def column_walk(outer: ir.Op) -> bool:
    """Is `outer` a nest the pass swaps (see the module's docstring)?"""
    if not carries_arrays(outer):
        return False
    body = outer.regions[0]
    if len(body.ops) < 2:
        return False
    *prelude, inner, end = body.ops
    if not carries_arrays(inner) or inner.operands[3:] != body.args[1:] \
            or end.operands != inner.results:
        return False
    nest_values = ir.defined_within(outer)
    if set(inner.operands[:3]) & nest_values or \
            not all(not p.regions and never_fails(p) for p in prelude):
        return False
    inner_body = inner.regions[0]
    if any(o.name in LOOPS for o in ir.walk_ops(inner_body)) or \
            not body_never_fails(inner_body, in_place=True):
        return False
    ks = (inner_body.args[0], body.args[0])
    return all(touched_by_rows(inner_body, slot, ks, nest_values)
               for slot in range(len(inner.results)))


def carries_arrays(op: ir.Op) -> bool:
    """A `for` stepping by a constant other than 0 (a step of 0 raises, and swapped, the
    loop that raises would run where it did not), carrying matrices only."""
    return (op.name == "for" and nonzero_step(op) and len(op.operands) > 3
            and all(v.type.rank == 2 for v in op.operands[3:]))


def touched_by_rows(body: Block, slot: int, ks: tuple, nest_values: set) -> bool:
    """Does the inner body touch its carried array `slot` only at one element, its row
    set by the inner variable and its column by the outer one, passing it on to slot?"""
    chain, places = {body.args[1 + slot]}, set()
    if not follow_chain(body.ops[:-1], chain, lambda op: at_element(op, places)):
        return False
    yielded = body.terminator.operands
    if yielded[slot] not in chain or any(v in chain for q, v in enumerate(yielded) if q != slot):
        return False
    if len(places) != 1:
        return False
    row, column = places.pop()
    return one_to_one(row, ks[0], nest_values) and one_to_one(column, ks[1], nest_values)


def swapped(outer: ir.Op) -> ir.Op:
    """The nest with the inner loop's range outside and the outer's inside; the outer
    body's ops, computed from its variable, at the start of the new inner body."""
    body = outer.regions[0]
    *prelude, inner, _ = body.ops
    inner_body = inner.regions[0]
    new_outer_body = Block([a.type for a in inner_body.args], [a.name_hint for a in inner_body.args])
    new_inner_body = Block([a.type for a in body.args], [a.name_hint for a in body.args])
    values = {body.args[0]: new_inner_body.args[0], inner_body.args[0]: new_outer_body.args[0]}
    values.update(zip(inner_body.args[1:], new_inner_body.args[1:]))
    new_inner_body.ops = [clone_op(op, values) for op in prelude + inner_body.ops]
    types, names = [r.type for r in outer.results], [r.name_hint for r in inner.results]
    new_inner = ir.Op("for", outer.operands[:3] + new_outer_body.args[1:], types,
                      dict(outer.attrs), [new_inner_body], inner.loc, names)
    new_outer_body.ops = [new_inner, ir.Op("yield", new_inner.results, [], loc=body.terminator.loc)]
    return ir.Op("for", inner.operands[:3] + outer.operands[3:], types, dict(inner.attrs),
                 [new_outer_body], outer.loc, [r.name_hint for r in outer.results])
