"""Dead code elimination, including dead loop-carried values.

An op goes when nobody uses its results and `removable(op)` says dropping it changes
nothing (it is pure, and either cannot fail, `effect_free`, or is known to repeat work
that already succeeded). `never_fails` is also what lets fusion and speculation move
work without changing which errors a program raises. A value carried by a `for` or
`while` goes when its result is unused and, in the loop body, it only feeds its own next
value: that is how a tape the reverse sweep never reads disappears with the updates that
fill it.
"""

from __future__ import annotations

from collections import Counter

import ir
from ir.ops import (ELEMENTWISE, GUARDED, MOVABLE_PROOFS, REPEATED, dim_of_value,
                    never_allocated)
from ir.registry import REGISTRY

from .narrow import narrow_types

SAFE_INDEX = "inbounds"
NEVER_FAILS = {"const", "dim", "add", "sub", "mul", "div", "neg", "exp", "log", "log1p",
               "expm1", "sqrt", "sin", "cos", "tan", "tanh", "sigmoid", "abs", "sign",
               "floor", "ceil", "lgamma", "digamma", "trigamma", "maximum", "minimum", "lt",
               "le", "gt", "ge", "eq", "ne", "and", "or", "not", "select", "to_f64",
               "reduce_sum", "reduce_prod", "trip_count", "yield"}


def shapes_agree(op: ir.Op) -> bool:
    """Do the types show that op's array operands broadcast together? A `?` meeting
    another size may not (x + ones(k)): the op then fails at run time on a mismatch."""
    arrays = [v for v in op.operands if v.type.rank > 0]
    shapes = [v.type.shape for v in arrays]
    if len(shapes) < 2:
        return True
    if len(set(shapes)) == 1 and len({shape_source(v) for v in arrays}) == 1:
        return True  # one shape, `?` sizes included: made from one array
    for axis in range(1, max(map(len, shapes)) + 1):  # from the last axis, as broadcasting
        sizes = [shape[-axis] for shape in shapes if len(shape) >= axis and shape[-axis] != 1]
        if len(sizes) > 1 and (len(set(sizes)) > 1 or ir.DYN in sizes):
            return False
    return True


def sized_like(sizes: list, like) -> bool:
    """Is each size `dim` of like's axis of that place, or of an array that elementwise
    ops made from like (which have its shape, or raised)? So `full(1.0, dim(y * y))`
    multiplied into y, where y: f64[?], is y."""
    return (sized_by_dims(sizes) and len(sizes) == like.type.rank
            and shape_source(sizes[0].defining_op.operands[0]) is shape_source(like))


def shape_source(v):
    """The array whose shape v has, followed back through elementwise ops whose array
    operands all have v's shape (no broadcasting: they are equal, or the op raised) and
    through `full`s sized by `dim`s of it."""
    op = v.defining_op
    while op is not None:
        if op.name == "full" and sized_by_dims(op.operands[1:]):
            v = op.operands[1].defining_op.operands[0]
        elif op.name in ELEMENTWISE and v.type.rank > 0 and all(
                a.type.rank == 0 or a.type.shape == v.type.shape for a in op.operands):
            v = next(a for a in op.operands if a.type.rank > 0)
        else:
            return v
        op = v.defining_op
    return v


def sized_by_dims(sizes: list) -> bool:
    """Is each size `dim` of one array's axis of that place, one per axis?"""
    ops = [s.defining_op for s in sizes]
    if not ops or ops[0] is None or ops[0].name != "dim":
        return False
    return all(op is not None and op.name == "dim" and op.attrs["axis"] == axis
               and op.operands[0] is ops[0].operands[0] for axis, op in enumerate(ops)) \
        and len(sizes) == ops[0].operands[0].type.rank


def body_never_fails(block: ir.Block, in_place: bool = False) -> bool:
    return all(never_fails(op, in_place) for op in block.ops)


def never_fails(op: ir.Op, in_place: bool = False) -> bool:
    """Can running `op` never raise, whatever the values? (Then it may be moved or
    removed without changing which errors a program raises.) With `in_place`, only where
    it is: an index proved in range by the test of the `if` it is in may be removed, not
    moved."""
    name = op.name
    if any(never_allocated(r.type) for r in op.results):  # always fails, out of memory
        return False
    if name in NEVER_FAILS:  # a yield passes values on (an if's branches may differ)
        return name == "yield" or shapes_agree(op)
    if name == "index":
        return proved(op, in_place)
    if name in ("update", "add_at"):  # in range, and a value that fits the slot
        return proved(op, in_place) and fits_slot(op)
    if name in ("transpose", "outer"):
        return True
    if name in ("dot", "matmul"):  # the sizes multiplied together agree
        left, right = op.operands[0].type.shape[-1], op.operands[1].type.shape[0]
        return left == right != ir.DYN
    if name in ("floordiv", "mod"):  # integers: unless by a known nonzero constant
        divisor = dim_of_value(op.operands[1])
        return op.operands[0].type.elem.name == "f64" or isinstance(divisor, int) and divisor != 0
    if name == "pow":
        return op.operands[0].type.elem.name == "f64"
    if name == "full":  # fails only for a negative size; a dimension never is one
        if sized_by_dims(op.operands[1:]):
            return True
        return all(never_negative(v) for v in op.operands[1:])
    if name == "if":
        return all(body_never_fails(r, in_place) for r in op.regions)
    if name == "for" and in_place:  # to remove one, not to move it: it may be much work
        return nonzero_step(op) and body_never_fails(op.regions[0], True)
    if name in ("build", "reduce"):
        if may_be_ragged(op):
            return False
        kind_ok = name == "build" or op.attrs.get("kind") in ("sum", "prod")
        return (nonzero_step(op) and kind_ok
                and body_never_fails(op.regions[0], in_place))
    return False


def nonzero_step(loop: ir.Op) -> bool:
    """Does a `for`, `build` or `reduce` step by a constant other than 0 (a step of 0
    raises; any other gives each iteration a value of its own)?"""
    step = dim_of_value(loop.operands[2])
    return isinstance(step, int) and step != 0


def never_negative(size) -> bool:
    """A dimension, a constant >= 0, or the maximum of one and anything (a tape's row
    count: the trip count, max(stop - start, 0) for a step of 1)."""
    dim = dim_of_value(size)
    if isinstance(dim, str) and dim != ir.DYN or isinstance(dim, int) and dim >= 0:
        return True
    op = size.defining_op
    return (op is not None and op.name == "maximum"
            and any(never_negative(v) for v in op.operands))


def fits_slot(op: ir.Op) -> bool:
    """Does the value an update or add_at stores fit the slot its indices pick: a scalar
    (any slot), or an array of the slot's shape, every size known alike (a tape's row)?"""
    array, value, *indices = op.operands
    slot = array.type.shape[len(indices):]
    return value.type.rank == 0 or value.type.shape == slot and ir.DYN not in slot


def may_be_ragged(op: ir.Op) -> bool:
    """Can a build or reduce of arrays fail for elements of different lengths (`[zeros(i)
    for i in range(n)]`)? Only when the elements' type leaves a size unknown."""
    shape = op.results[0].type.shape if op.results else ()
    return op.name == "build" and ir.DYN in shape[1:] or op.name == "reduce" and ir.DYN in shape


def proved(op: ir.Op, in_place: bool) -> bool:
    """Is op's index in range where op is, or (not in_place) wherever it is moved? (The
    proofs: ir/ops.py, above REPEATED.)"""
    proof = op.attrs.get(SAFE_INDEX)
    return bool(proof) if in_place else proof in MOVABLE_PROOFS


def held_only_here(ops: list, derived: set) -> None:
    """Marks the proofs of the index ops among `ops` (and the ops in them) that are
    computed from `derived` (which grows with their results): ops copied to a place that
    only an `if` keeps in range, from a place where that held throughout. They stay
    where they are, proved in range under the test (`guarded`) or, mapping a negative
    index as before, `repeated`."""
    for op in ops:
        for inner in [op, *ir.ops_within(op)]:
            if not (set(inner.operands) | ir.uses_within(inner)) & derived:
                continue
            derived.update(inner.results)
            proof = inner.attrs.get(SAFE_INDEX)
            if proof is True:
                inner.attrs[SAFE_INDEX] = GUARDED
            elif proof == "wraps":
                inner.attrs[SAFE_INDEX] = REPEATED


def effect_free(op: ir.Op) -> bool:
    """May op go when nobody uses its results? (It is pure and cannot fail.)"""
    return REGISTRY[op.name].pure and never_fails(op, in_place=True)


def eliminate_dead_code(block: ir.Block, removable, module: ir.Module) -> None:
    """Removes dead ops and dead carried values from `block` and its regions, until
    nothing changes. A carried value that the body passes on unchanged is first
    replaced by its initial value (module holds the callees, for the types that
    replacement narrows)."""
    if forward_invariant_carried(block):
        narrow_types(block, module)  # a size carried unchanged may be a known one
    while True:
        remove_dead_ops(block, removable)
        if not prune_carried(block, removable):
            return


def forward_invariant_carried(root: ir.Block) -> bool:
    """Replaces each carried value the body passes on unchanged by its initial value;
    True when it replaced one."""
    subst = {}
    for op in ir.walk_ops(root):
        if op.name not in ("for", "while"):
            continue
        lead = 1 if op.name == "for" else 0
        inits = op.operands[3:] if op.name == "for" else op.operands
        yields = op.regions[-1].ops[-1].operands
        for j, init in enumerate(inits):
            init = subst.get(init, init)
            if yields[j] is op.regions[-1].args[lead + j] and all(
                    r.args[lead + j].type == init.type for r in op.regions):
                subst[op.results[j]] = init
                subst.update((r.args[lead + j], init) for r in op.regions)
    if subst:
        for op in ir.walk_ops(root):
            op.operands = [subst.get(v, v) for v in op.operands]
    return bool(subst)


def used_values(block: ir.Block) -> set:
    return {v for op in ir.walk_ops(block) for v in op.operands}


def remove_dead_ops(block: ir.Block, removable) -> None:
    """Removes the ops nothing uses that `removable` lets go, then those only they used.
    Every use of a value comes after its definition (in its block, or in a region of a
    later op), so one walk from the end with a count of each value's uses finds them all;
    sweeping until nothing changed took a sweep per link of a dead chain, quadratic in a
    sum of 1000 terms whose value a gradient does not need."""
    uses = Counter(v for op in ir.walk_ops(block) for v in op.operands)
    sweep(block, uses, removable)


def sweep(block: ir.Block, uses: Counter, removable) -> None:
    kept = []
    for op in reversed(block.ops):
        if op.results and not any(uses[r] for r in op.results) and removable(op):
            uses.subtract(op.operands)
            uses.subtract(v for inner in ir.ops_within(op) for v in inner.operands)
            continue
        for region in op.regions:
            sweep(region, uses, removable)
        kept.append(op)
    block.ops = kept[::-1]


# ----------------------------------------------------------------------------- carried values

def prune_carried(root: ir.Block, removable) -> bool:
    used = used_values(root)
    changed = False
    for op in list(ir.walk_ops(root)):
        if op.name in ("for", "while"):
            dead = [j for j in range(len(op.results)) if j not in live_carried(op, used, removable)]
            for j in reversed(dead):
                drop_carried(op, j)
            changed |= bool(dead)
    return changed


def live_carried(op: ir.Op, used: set, removable) -> set:
    """Positions of the carried values that something needs: the loop's users, the
    `while` condition, or the body's work toward another live value or an effect."""
    body = op.regions[-1]
    lead = 1 if op.name == "for" else 0
    live = {j for j, r in enumerate(op.results) if r in used}
    if op.name == "while":
        cond_uses = used_values(op.regions[0])
        live |= {j for j, a in enumerate(op.regions[0].args) if a in cond_uses}
    while True:
        yields = body.ops[-1].operands
        needed = needed_values(body, {yields[j] for j in live}, removable)
        grown = live | {j for j, a in enumerate(body.args[lead:]) if a in needed}
        if grown == live:
            return live
        live = grown


def needed_values(block: ir.Block, roots: set, removable) -> set:
    """The values that the ops producing `roots`, or having effects, read."""
    needed = set(roots)
    for op in reversed(block.ops[:-1]):
        if any(r in needed for r in op.results) or not removable(op) or not op.results:
            needed.update(operands_within(op))
    return needed


def operands_within(op: ir.Op) -> set:
    return set(op.operands) | ir.uses_within(op)


def drop_carried(op: ir.Op, j: int) -> None:
    lead = 1 if op.name == "for" else 0
    del op.operands[(3 if op.name == "for" else 0) + j]
    for region in op.regions:
        del region.args[lead + j]
        renumber(region.args)
    body = op.regions[-1]
    del body.ops[-1].operands[j]
    del op.results[j]
    renumber(op.results)


def renumber(values: list) -> None:
    for k, v in enumerate(values):
        v.index = k
