"""LICM: work that does not change from one iteration of a loop to the next is done
once, before the loop.

An op inside a loop L, at any depth, is invariant in L when everything it reads is
defined before L, is computed by other invariant ops, or is the induction variable of
a loop between L and the op. With no such variable, the op (and what it reads inside L)
is copied before L and its uses read the copy. With some, it is tabulated: a `build`
over those loops' ranges, before L, computes it for every combination once, and the op
becomes a read of that table. GMM's exp(icf[j, r]) inside the loop over points is the
case in point:

    for 0, %n, 1 { ^(%i):                      %e = build 0, %k, 1 { ^(%j2):
      build 0, %k, 1 { ^(%j):                     build 0, %d, 1 { ^(%r2): exp(icf[j2, r2]) } }
        build 0, %d, 1 { ^(%r):          ->    for 0, %n, 1 { ^(%i):
          exp(icf[j, r]) ...                      build ... build ... { index %e, %j, %r ... }

Only ops that cannot fail move (they then run even when L runs no iteration, and must
not raise where the program did not); an array whose size no array of the program
bounds (a `?`, as range(b)'s for an integer b) stays in a loop that may run no
iteration, as made there all the same it could be of any size. There is one exception:
an op that can fail (a `max` of an array, which is empty, an index that may be out of
range) but sits in the body of a `for` L itself, not in a loop or branch inside it, runs
in L's first iteration with the same operands. L is then put under an `if` that it runs
at least once, and the op moves before L inside that `if`:

    %r = for 0, %n, 1, %acc { ...                %0 = lt 0, %n
      %m = reduce_max %x                   ->     %r = if %0 { %m = reduce_max %x
      ...                                                    %r1 = for 0, %n, 1, %acc { ... }
    }                                                        yield %r1 } { yield %acc }

The dense Hessian of a function is such a loop: a Hessian-vector product per column, of
which everything but the tangent's part is the same in every column (that also needs
the op not to be behind others that can fail, which then fail first). Only ops that cost
something move, with what they read: a loop, a new array other than a `full`, a
reduction of an array, a transcendental function. A table only holds
scalars (its size is then one iteration of L's worth of that op's values). Ops under an
`if` stay (they may not run at all), as do those whose tabulated loops do not start at 0
with step 1 or whose ranges are computed inside L.
"""

from __future__ import annotations

import ir
from ir.clone import clone_op
from ir.ops import dim_of_value, range_count_dim
from ir.types import ArrayType

from .checks import name_dims, walk_regions
from .dce import effect_free, eliminate_dead_code, never_fails, operands_within
from .fusion import replace_uses
from .simplify import share_scalars

LOOPS = ("for", "build", "reduce", "while")
COUNTED = ("for", "build", "reduce")


class LICM:
    name = "licm"

    def apply(self, module: ir.Module) -> ir.Module:
        for fn in module.functions.values():
            name_dims(fn)
            if hoist_in(fn.body):
                # each move took its own copy of what it reads, and a failing op it
                # repeats stays in the loop: equal scalars become one value, then the
                # copies left unused go
                share_scalars(fn.body)
                eliminate_dead_code(fn.body, effect_free, module)
        return module


def hoist_in(block: ir.Block) -> bool:
    """Hoists out of every loop of `block`, outer loops first, then inside them."""
    changed = False
    for op in list(block.ops):
        if op.name in LOOPS:
            changed |= hoist_out_of(op, block)
            if needs_guard(op):
                hoist_out_of(op, guard(op, block), may_fail=True)
                changed = True
        for region in op.regions:
            changed |= hoist_in(region)
    return changed


def needs_guard(loop: ir.Op) -> bool:
    """Does `loop`, a `for` of a constant step, hold an op that could move but for
    what it may raise (which it raises in the first iteration too)?"""
    if loop.name != "for":
        return False
    step = dim_of_value(loop.operands[2])
    if not isinstance(step, int) or step == 0:
        return False
    nest = Nest(loop)
    for op in walk_regions(loop):
        if costly(op):
            found = invariant_slice(op, nest, may_fail=True)
            if found is not None and found[2]:
                return True
    return False


def guard(loop: ir.Op, block: ir.Block) -> ir.Block:
    """Puts `loop` under an `if` that it runs at least once; its results become the
    if's, its initial values when it does not run. Returns the block `loop` is now in."""
    start, stop, step = loop.operands[:3]
    runs = ir.Op("lt" if dim_of_value(step) > 0 else "gt", [start, stop], [ir.BOOL], loc=loop.loc)
    then, other = ir.Block([], []), ir.Block([], [])
    branch = ir.Op("if", [runs.result], [r.type for r in loop.results], regions=[then, other],
                   loc=loop.loc, result_names=[r.name_hint for r in loop.results])
    for old, new in zip(loop.results, branch.results):
        replace_uses(block, old, new)
    position = block.ops.index(loop)
    block.ops[position:position + 1] = [runs, branch]
    then.ops = [loop, ir.Op("yield", list(loop.results), [], loc=loop.loc)]
    other.ops = [ir.Op("yield", list(loop.operands[3:]), [], loc=loop.loc)]
    return then


class Nest:
    """Where each op and block inside `loop` sits: the op owning each block, the block
    holding each op, and the values defined inside."""

    def __init__(self, loop: ir.Op):
        self.loop = loop
        self.owner: dict = {}
        self.block_of: dict = {}
        self.inside: set = set()
        for region in loop.regions:
            self.visit(region, loop)

    def visit(self, block: ir.Block, owner: ir.Op) -> None:
        self.owner[id(block)] = owner
        self.inside.update(block.args)
        for op in block.ops:
            self.block_of[id(op)] = block
            self.inside.update(op.results)
            for region in op.regions:
                self.visit(region, op)

    def induction_loop(self, value) -> ir.Op | None:
        """The counted loop strictly inside `loop` whose induction variable `value` is."""
        if not isinstance(value.owner, ir.Block) or value.index != 0:
            return None
        op = self.owner.get(id(value.owner))
        return op if op is not None and op is not self.loop and op.name in COUNTED else None

    def loops_above(self, op: ir.Op) -> list | None:
        """The ops between `loop` and `op`, outermost first; None when one is not a loop."""
        chain = []
        block = self.block_of[id(op)]
        while True:
            owner = self.owner[id(block)]
            if owner is self.loop:
                return chain[::-1]
            if owner.name not in LOOPS:
                return None
            chain.append(owner)
            block = self.block_of[id(owner)]


def hoist_out_of(loop: ir.Op, block: ir.Block, may_fail: bool = False) -> bool:
    """Moves the invariant ops of `loop` before it in `block`; with may_fail, also
    those that can fail in the first iteration (`loop` runs at least once)."""
    nest = Nest(loop)
    changed = False
    for op in list(walk_regions(loop)):
        if id(op) not in nest.block_of or not costly(op):
            continue
        found = invariant_slice(op, nest, may_fail)
        if found is None:
            continue
        ops, tabulated, _ = found
        if tabulated and op.results[0].type.rank > 0:
            continue
        if not may_fail and may_not_run(loop) and makes_unsized_array(ops, tabulated):
            continue
        position = block.ops.index(loop)
        block.ops[position:position] = hoisted(op, ops, tabulated, nest)
        changed = True
        nest = Nest(loop)
    return changed


def may_not_run(loop: ir.Op) -> bool:
    """Can `loop` run no iteration (its trip count not a constant of at least 1)?"""
    if loop.name == "while":
        return True
    count = range_count_dim(loop)
    return not (isinstance(count, int) and count >= 1)


def makes_unsized_array(ops: list, tabulated: list) -> bool:
    """Do `ops`, or the table over the `tabulated` loops, make an array with a `?` size
    (range(b) of an integer b, say), which no array of the program bounds? Moved before a
    loop that runs no iteration, it would be made all the same: needless work, or an
    out-of-memory error for a size the program never allocates (a b of 2**62)."""
    if any(range_count_dim(loop) == ir.DYN for loop in tabulated):
        return True
    made = [r for op in ops for inner in (op, *walk_regions(op)) for r in inner.results]
    return any(isinstance(r.type, ArrayType) and ir.DYN in r.type.shape for r in made)


def costly(op: ir.Op) -> bool:
    if len(op.results) != 1:
        return False
    if op.regions:
        return op.name in ("build", "reduce")
    # A `full` stays: filling is no dearer than the copy a hoisted one needs wherever the
    # loop updates it in place (the reverse sweep's zero adjoints, carried into inner
    # loops: ode's gradient copied one per step), and a read of one is its fill value.
    if op.name in ("index", "dim", "full"):
        return False
    # an array made, or one read whole (a sum, a max, a dot product: as dear as the first)
    return (ir.REGISTRY[op.name].costly or op.results[0].type.rank > 0
            or any(v.type.rank > 0 for v in op.operands))


def invariant_slice(op: ir.Op, nest: Nest, may_fail: bool = False):
    """(the ops inside the loop that `op` needs, op included, in an order that defines
    before use; the loops whose induction variables they read, outermost first; whether
    one of them can fail), or None when `op` is not invariant or cannot move. With
    may_fail, ops that can fail may be among them if they sit right in the loop's body."""
    chain = nest.loops_above(op)
    if chain is None:
        return None
    depth = {id(loop): k for k, loop in enumerate(chain)}
    ops, tabulated, seen = [], set(), set()
    fails = False
    pending = [op]
    while pending:
        inner = pending.pop()
        if id(inner) in seen:
            continue
        seen.add(id(inner))
        if not ir.REGISTRY[inner.name].pure:
            return None
        if not never_fails(inner):
            if not may_fail or nest.block_of[id(inner)] is not nest.loop.regions[-1]:
                return None
            fails = True
        ops.append(inner)
        for v in operands_within(inner) - ir.defined_within(inner):
            if v not in nest.inside:
                continue
            source = v.defining_op
            if source is not None:
                if nest.loops_above(source) is None:
                    return None
                pending.append(source)
                continue
            loop = nest.induction_loop(v)
            if loop is None or id(loop) not in depth or not countable(loop, nest):
                return None
            tabulated.add(id(loop))
    if fails and (tabulated or not first_to_fail(ops, nest.loop.regions[-1])):
        return None  # a table computes ops for iterations that may not run
    order = {id(o): k for k, o in enumerate(walk_regions(nest.loop))}
    ops.sort(key=lambda o: order[id(o)])
    return ops, [loop for loop in chain if id(loop) in tabulated], fails


def first_to_fail(ops: list, body: ir.Block) -> bool:
    """Does every op of `body` that comes before one of `ops` that can fail either
    never fail or belong to `ops`? Then moving `ops` out, in order, raises the error
    that the first iteration would have raised first (a user's assert before them, say)."""
    moving = {id(op) for op in ops}
    for op in body.ops:
        if id(op) in moving:
            if not never_fails(op) and not all(id(o) in moving or never_fails(o)
                                               for o in body.ops[:body.ops.index(op)]):
                return False
    return True


def countable(loop: ir.Op, nest: Nest) -> bool:
    """Can a table be indexed by this loop's variable, over a range known before
    `nest.loop` (its stop defined outside, or a constant)?"""
    start, stop, step = loop.operands[:3]
    known = all(v not in nest.inside or v.defining_op is not None and v.defining_op.name == "const"
                for v in (start, stop, step))
    return dim_of_value(start) == 0 and dim_of_value(step) == 1 and known


def hoisted(op: ir.Op, ops: list, tabulated: list, nest: Nest) -> list:
    """The ops to put before the loop; `op`'s uses are redirected to what they compute."""
    block = nest.block_of[id(op)]
    if not tabulated:
        # every op of the slice computes the same in each iteration: its uses read the
        # copy, and it goes (DCE would leave one that can fail, to run every iteration)
        values: dict = {}
        copies = [clone_op(inner, values) for inner in ops]
        for inner in ops:
            for result in inner.results:
                redirect(nest.loop, result, values[result])
            nest.block_of[id(inner)].ops.remove(inner)
        return copies
    table, constants = tabulate(op, ops, tabulated, nest)
    ivs = [loop.regions[-1].args[0] for loop in tabulated]
    read = ir.Op("index", [table.results[0], *ivs], [op.results[0].type], {"inbounds": True},
                 loc=op.loc, result_names=[op.results[0].name_hint])
    block.ops[block.ops.index(op)] = read
    redirect(nest.loop, op.results[0], read.results[0])
    return constants + [table]


def tabulate(op: ir.Op, ops: list, tabulated: list, nest: Nest) -> tuple:
    """Nested builds over the tabulated loops' ranges of a copy of `ops`, yielding op,
    and copies of the constants among those ranges that are defined inside the loop."""
    values: dict = {}
    constants = []
    for loop in tabulated:
        for v in loop.operands[:3]:
            if v in nest.inside and v not in values:
                constants.append(clone_op(v.defining_op, values))
    blocks = []
    for loop in tabulated:
        iv = loop.regions[-1].args[0]
        body = ir.Block([ir.I64], [iv.name_hint])
        values[iv] = body.args[0]
        blocks.append(body)
    innermost = blocks[-1]
    innermost.ops = [clone_op(inner, values) for inner in ops]
    innermost.ops.append(ir.Op("yield", [values[op.results[0]]], [], loc=op.loc))
    elem = op.results[0].type
    shape = list(elem.shape)
    built = None
    for loop, body in reversed(list(zip(tabulated, blocks))):
        if built is not None:
            body.ops = [built, ir.Op("yield", [built.results[0]], [], loc=op.loc)]
        shape.insert(0, range_count_dim(loop))
        built = ir.Op("build", [values.get(v, v) for v in loop.operands[:3]],
                      [ArrayType(elem.elem, tuple(shape))], regions=[body], loc=op.loc)
    return built, constants


def redirect(loop: ir.Op, old, new) -> None:
    for region in loop.regions:
        replace_uses(region, old, new)
