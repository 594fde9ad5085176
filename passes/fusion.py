"""Fusion: a temporary array that is read one element at a time is never built.

When `%b = build 0, n, 1 { ^(i): ... yield e }` has exactly one use, an in-range scalar
read `index %b, %j`, that read becomes the build's body evaluated at `%j` (at `%j + n` for
a negative `%j`, where the read is proved in [-n, n)), and the build goes away (DCE).
A build of rows that only builds each row (`build { build { ... } }`, what elementwise
ops on matrices become) read at `index %b, %j, %k` takes the row's body at %j, and the
read of the copied row at %k fuses in the next round. This is what turns `sum(exp(x - m))` into one loop with no temporary:

    %t = build ... { index %x, %i; sub; yield }      %s = reduce ... {
    %e = build ... { index %t, %i; exp; yield }  ->     index %x, %i; sub; exp; yield
    %s = reduce ... { index %e, %i; yield }           }

A read of an element of a `full` array is its fill value. A loop's read of an array it
carries, as the iteration found it, at the one element the iteration touches, is a read
of the array the loop started from, when the loop's final array is unused: the reverse
sweep of `y[i] = f(x[i])` then stops storing 0.0 into y's cotangent and carrying it; and
through a nest of two loops, the sweep of `t[j, i] = ...` by rows.

A row stored or added into an array (`update`/`add_at %a, %b, %i` with %b a build of the
row, used there only) becomes a loop over the row that stores or adds each element as
the build's body computes it: the row is never built. A gradient of a function of pairs of
rows (pairwise distances) adds four such rows per pair into its cotangent of the matrix.

A build read more than once fuses into every read when its body is a few cheap ops (adds,
multiplies, compares, selects, reads: `CHEAP`) and no read is more than one loop deeper
than the build: each element is then computed once per read instead of written to memory
and read back. Runge-Kutta's `k1` feeds both the next stage and the step's update; fused
into both, ode's primal makes three arrays per step instead of four (20% faster). A single
read inside more loops than the build's own (`s[j]` inside loops over i and j) takes the
body only when it is cheap too, since it runs there once per iteration of the extra loop.

Only bodies that cannot fail are moved (no check that could raise, no call), so the
program raises exactly the errors it raised before; work is repeated only as above.
"""

from __future__ import annotations

import itertools

import ir
from ir.ops import GUARDED, MOVABLE_PROOFS, dim_of_value

from .dce import (SAFE_INDEX, body_never_fails, effect_free, eliminate_dead_code,
                  held_only_here, nonzero_step, remove_dead_ops, used_values)
from .fuse_loops import at_element, follow_chain, one_to_one
from .simplify import replace_all, share_scalars

class Fusion:
    name = "fusion"

    def apply(self, module: ir.Module) -> ir.Module:
        for fn in module.functions.values():
            if forward_unwritten_reads(fn.body):  # the slots are dead now
                eliminate_dead_code(fn.body, effect_free, module)
            forward_build_sizes(fn.body)
            forward_filled_reads(fn.body)
            forward_repeated_row_reads(fn.body)
            forward_one_hot_reads(fn.body)
            dce(fn.body)  # the forwarded `dim`s would still count as uses
            while move_read_once(fn.body) | fuse_round(fn.body) | store_rows_by_element(fn.body):
                # Two fused bodies often read one element twice (`x == 0 ? 0 : x / 6`
                # from two builds): one read leaves the array a single reader.
                share_scalars(fn.body)
                dce(fn.body)
        return module


def forward_unwritten_reads(root: ir.Block) -> bool:
    """A loop's read of an array it carries, as the iteration found it (the block
    argument itself), at the one element the iteration touches, reads the array the loop
    started from, when nothing uses the loop's final array: the reverse sweep of a loop
    storing y[i] = ... reads y's cotangent at i and stores 0.0 there, and then no longer
    carries it (native code stored a zero and carried an array per iteration). The
    element is unchanged until then: no other iteration touches it (its index at some
    axis is one to one in the loop's variable, every access proved in range). Only when
    every read is such a read, so that the array is then only written and goes: read
    inside the loop, the initial array would have to be copied before the loop wrote
    into it. A nest of two loops carrying the array through both, touching it at one
    element per pair of iterations (one index one to one in each variable: `t[j, i] =
    ...` by rows), is taken the same way. True when a read moved."""
    used, moved = used_values(root), False
    for loop in [op for op in ir.walk_ops(root) if op.name == "for" and nonzero_step(op)]:
        body = loop.regions[0]
        for slot, start in enumerate(body.args[1:]):
            if loop.results[slot] in used or start.type.rank == 0:
                continue
            reads = unwritten_reads(body, start, [body.args[0]], ir.defined_within(loop))
            if not reads:
                reads = unwritten_nest_reads(loop, slot)
            for read in reads:
                read.operands[0] = loop.operands[3 + slot]
            moved |= bool(reads)
    return moved


def unwritten_nest_reads(outer: ir.Op, slot: int) -> list:
    """For a nest whose body is a `for` carrying the outer loop's array `slot` from its
    start to its yield, and nothing else using it: the inner loop's reads of it, as for a
    single loop, its element one to one in both variables. The outer loop then yields its
    array as it found it (never read again: every read now reads the initial array), so
    the inner loop's array is unused and goes."""
    body = outer.regions[0]
    if len(body.ops) < 2:
        return []
    arg, (inner, end) = body.args[1 + slot], body.ops[-2:]
    if inner.name != "for" or not nonzero_step(inner) or arg not in inner.operands[3:]:
        return []
    q = inner.operands[3:].index(arg)
    users = [op for op in body.ops if arg in set(op.operands) | ir.uses_within(op)]
    if users != [inner] or inner.operands.count(arg) != 1 or \
            end.operands[slot] is not inner.results[q] or end.operands.count(inner.results[q]) != 1:
        return []
    inner_body = inner.regions[0]
    reads = unwritten_reads(inner_body, inner_body.args[1 + q],
                            [inner_body.args[0], body.args[0]], ir.defined_within(outer))
    if reads:
        end.operands[slot] = arg
    return reads


def unwritten_reads(body: ir.Block, start, variables: list, nest_values: set) -> list:
    """The reads of `start` (a carried array) in body when every access of it and of what
    the body makes of it is at one element, the same for all, one to one in each of the
    `variables` at an axis of its own (see fuse_loops.follow_chain), and every read is
    of start itself; else []."""
    chain, places, touching = {start}, set(), set()

    def at_one_place(op):
        touching.add(op)
        return at_element(op, places)
    if not follow_chain(body.ops[:-1], chain, at_one_place) or len(places) != 1:
        return []
    passing = touching | yields(body)
    if any(set(op.operands) & chain and op not in passing for op in ir.walk_ops(body)):
        return []  # used in a loop inside, where follow_chain does not look
    (place,) = places
    axes = [{k for k, index in enumerate(place) if one_to_one(index, var, nest_values)}
            for var in variables]
    if not all(axes) or len(variables) == 2 and len(axes[0] | axes[1]) < 2:
        return []
    reads = [op for op in touching if op.name == "index"]
    return reads if all(op.operands[0] is start for op in reads) else []


def yields(body: ir.Block) -> set:
    """The body's yield and those of the `if`s in it (not of loops in it)."""
    found, blocks = set(), [body]
    while blocks:
        block = blocks.pop()
        found.add(block.terminator)
        blocks += [r for op in block.ops if op.name == "if" for r in op.regions]
    return found


def forward_build_sizes(root: ir.Block) -> None:
    """`dim %b {axis = 0}` of `%b = build 0, n, 1` is `n` when n is itself a size (a
    dimension or a constant >= 0), so the length of a temporary does not keep it alive;
    `dim %b {axis = 1}` of a build of rows that only builds each row is the rows' n, when
    n is a size defined outside %b."""
    for op in list(ir.walk_ops(root)):
        if op.name != "dim":
            continue
        source = op.operands[0].defining_op
        if source is None or source.name != "build":
            continue
        level = source
        for _ in range(op.attrs["axis"]):
            level = level.regions[0].ops[0] if row_is_a_build(level) else None
            if level is None:
                break
        if level is None or level is not source and level.operands[1] in ir.defined_within(source):
            continue
        start, stop, step = (dim_of_value(v) for v in level.operands)
        stop_is_size = isinstance(stop, str) or isinstance(stop, int) and stop >= 0
        if start == 0 and step == 1 and stop_is_size and stop != ir.DYN:
            replace_uses(root, op.results[0], level.operands[1])


def forward_filled_reads(root: ir.Block) -> None:
    """A read of one element of `%a = full %v, ...`, proved in range, is %v: the adjoint
    seed of a sum, spread to an array, is then never filled in memory."""
    for op in list(ir.walk_ops(root)):
        if op.name != "index" or op.attrs.get(SAFE_INDEX) is not True:
            continue
        source = op.operands[0].defining_op
        if source is None or source.name != "full" or len(op.operands) - 1 != source.results[0].type.rank:
            continue
        replace_uses(root, op.results[0], source.operands[0])


def forward_repeated_row_reads(root: ir.Block) -> None:
    """A read, proved in range, of `%b = build { yield %r }` (every row the same array %r
    from outside, as reverse mode spreads a vector's cotangent over a matrix's rows) is a
    read of %r at the read's other indices, or %r itself: the matrix is never filled."""
    for op in list(ir.walk_ops(root)):
        if op.name != "index" or op.attrs.get(SAFE_INDEX) is not True:
            continue
        row = repeated_row(op.operands[0])
        if row is None:
            continue
        if len(op.operands) == 2:
            replace_uses(root, op.results[0], row)
        else:
            op.operands = [row, *op.operands[2:]]


def repeated_row(v):
    """%r when v is `build { yield %r }` with %r defined outside it, else None."""
    build = v.defining_op
    if build is None or build.name != "build" or len(build.regions[0].ops) != 1:
        return None
    (row,) = build.regions[0].ops[0].operands
    return None if row in build.regions[0].args else row


def forward_one_hot_reads(root: ir.Block) -> None:
    """A read, proved in range, of `%u = update %a, %v, %j` (in range too) where %a is a
    1-D `full %c` is `select(index == %j, %v, %c)`: forward mode's seed e_j of a column of
    a Jacobian or Hessian is then never copied and written, once per column."""
    picked = {}  # read -> its select; the uses are rewritten once, at the end
    for block in list(blocks(root)):
        for position, op in reversed(list(enumerate(block.ops))):
            one_hot = one_hot_source(op)
            if one_hot is None:
                continue
            filled, value, hot = one_hot
            test = ir.Op("eq", [op.operands[1], hot], [ir.BOOL], loc=op.loc)
            pick = ir.Op("select", [test.results[0], value, filled], [op.results[0].type],
                         loc=op.loc)
            block.ops[position:position + 1] = [test, pick]
            picked[op.results[0]] = pick.results[0]
    if picked:
        for op in ir.walk_ops(root):
            op.operands = [picked.get(v, v) for v in op.operands]


def one_hot_source(read: ir.Op):
    """(fill value, stored value, its index) when `read` reads such an array, else None."""
    if read.name != "index" or len(read.operands) != 2 or read.attrs.get(SAFE_INDEX) is not True:
        return None
    store = read.operands[0].defining_op
    if store is None or store.name != "update" or len(store.operands) != 3 \
            or store.attrs.get(SAFE_INDEX) is not True or store.operands[1].type.rank != 0:
        return None
    base = store.operands[0].defining_op
    if base is None or base.name != "full" or len(base.operands) != 2:
        return None
    return base.operands[0], store.operands[1], store.operands[2]


def uses_of(block: ir.Block) -> dict:
    uses: dict = {}
    for op in ir.walk_ops(block):
        for v in op.operands:
            uses.setdefault(v, []).append(op)
    return uses


def fusible(op: ir.Op, uses: dict, depth: dict, safe: SafeOps) -> list | None:
    """The element reads that can take `op`'s body, or None: a single read, or several
    when the body is cheap enough to repeat at each and none of them is more than one
    loop deeper than the build (so each element is still computed once per read). A
    read nested deeper than the build's own loops takes only a cheap body."""
    if op.name != "build" or not counts_from_zero(op):
        return None
    rank = op.results[0].type.rank
    if rank > 1 and not row_is_a_build(op):
        return None
    readers = uses.get(op.results[0], [])
    if not readers:
        return None
    several = len(readers) > 1
    if several and (rank > 1 or any(depth[id(r)] > depth[id(op)] + 1 for r in readers)):
        return None
    # A read in a loop the build's own loops do not account for (`s[j]` in a loop over
    # points i and components j) takes the body at every iteration of that loop, the same
    # element over and over: only a cheap body is worth that. In GMM specialized, a sum
    # over d per component, read per point and component, ran 1000 times per component
    # (the generic code kept the array: the sum's reads were not proved in bounds there).
    deeper = any(depth[id(r)] > depth[id(op)] + rank for r in readers)
    if (several or deeper) and not cheap_to_repeat(op.regions[0]):
        return None
    # a read proved in range only under its `if` (`guarded`) takes the body there
    proofs = (*MOVABLE_PROOFS, GUARDED) if rank == 1 else (True, GUARDED)
    for reader in readers:
        if reader.name != "index" or reader.attrs.get(SAFE_INDEX) not in proofs \
                or len(reader.operands) != 1 + rank or reader.operands[0] is not op.results[0]:
            return None
    if not safe.body(op.regions[0]):
        return None
    return readers


class SafeOps:
    """Which build bodies cannot fail (`body_never_fails`), found for every build at the
    start of a round. The answers stay right through the round: fusion only moves or
    copies into a body the ops of bodies that cannot fail, and reads proved in range.
    Checked when asked, a chain of n builds, each moved into the next, had its growing
    bodies checked: n^2 / 2 ops."""

    def __init__(self, root: ir.Block):
        self.known: dict = {}  # id(block) -> (block, answer); the block is held, its id kept
        for op in ir.walk_ops(root):
            if op.name == "build":
                self.body(op.regions[0])

    def body(self, block: ir.Block) -> bool:
        known = self.known.get(id(block))
        if known is None or known[0] is not block:  # a body copied in this round
            known = self.known[id(block)] = (block, body_never_fails(block))
        return known[1]


# Repeating a body at each of several reads costs these ops once more per read, and
# saves writing the array and reading it back: worth it for a few adds and multiplies
# (a Runge-Kutta stage), not for a division or an exp. Bodies larger than 16 ops made
# ode's gradient slower (48: 30% slower), the loops being bound by their arithmetic.
CHEAP = {"const", "dim", "add", "sub", "mul", "neg", "abs", "select", "lt", "le", "gt",
         "ge", "eq", "ne", "and", "or", "not", "index", "if", "yield"}
MAX_REPEATED_OPS = 16


def cheap_to_repeat(body: ir.Block) -> bool:
    ops = list(itertools.islice(ir.walk_ops(body), MAX_REPEATED_OPS + 1))
    return len(ops) <= MAX_REPEATED_OPS and all(op.name in CHEAP for op in ops)


def counts_from_zero(loop: ir.Op) -> bool:
    start, _, step = (dim_of_value(v) for v in loop.operands[:3])
    return start == 0 and step == 1


def row_is_a_build(op: ir.Op) -> bool:
    """A build of rows whose body only builds the row, `build { build { ... } }`: a read
    of one element takes the row's body at the row's index (the inner build, copied, is
    then read once and fuses in turn), and nothing computed once per row is repeated per
    element."""
    body = op.regions[0]
    if len(body.ops) != 2 or body.ops[0].name != "build":
        return False
    row = body.ops[0]
    return body.ops[1].operands[0] is row.results[0] and counts_from_zero(row)


def fuse_round(root: ir.Block) -> bool:
    """Copies into its reads every build that is fusible by the uses at the start of the
    round, in program order, except those inside a build fused in this round and those
    read from inside one (that body is dead: its copy is where the work now happens). A
    chain of builds, each read by the next, fuses in one round. Builds read at one element
    of one loop were moved there just before (`move_read_once`), not copied."""
    uses = uses_of(root)
    block_of = {id(op): block for block in blocks(root) for op in block.ops}
    inside_fused: set = set()
    replaced: dict = {}  # read -> the value its inlined copy computes
    depth = loop_depths(root)
    safe = SafeOps(root)
    for op in list(ir.walk_ops(root)):
        if id(op) in inside_fused:
            continue
        readers = fusible(op, uses, depth, safe)
        if readers is None or any(id(reader) in inside_fused for reader in readers):
            continue
        for reader in readers:
            inline_at(block_of[id(reader)], op, reader, replaced)
        inside_fused.update(id(inner) for inner in ir.walk_ops(op.regions[0]))
    if replaced:
        for inner in ir.walk_ops(root):
            inner.operands = [resolve(v, replaced) for v in inner.operands]
    return bool(inside_fused)


def move_read_once(root: ir.Block) -> bool:
    """Moves the body of every build whose reads are all of one element, in one block,
    to the first of them (the others take its value), last build first. A chain of
    builds each read by the next and by one loop (a gradient's adjoint, scaled link by
    link, each link also read by the parameter's adjoint) comes together in that loop
    in one sweep: moving the last link puts its read of the one before beside that
    loop's own read of it. Round by round, sharing those two reads afterwards, took one
    round per link (a chain of 300: 50 rounds, quadratic time)."""
    uses = uses_of(root)
    block_of = {id(op): block for block in blocks(root) for op in block.ops}
    depth = loop_depths(root)
    replaced: dict = {}
    moved = False
    safe = SafeOps(root)
    for op in reversed(list(ir.walk_ops(root))):
        reads = reads_of_one_element(op, uses, depth, block_of, replaced, safe)
        if reads is None:
            continue
        block = block_of[id(reads[0])]
        first, *others = sorted(reads, key=block.ops.index)
        for other in others:
            block.ops.remove(other)
            replaced[other.results[0]] = first.results[0]
        move_to(block_of, op, first, replaced)
        moved = True
    if replaced:
        for inner in ir.walk_ops(root):
            inner.operands = [resolve(v, replaced) for v in inner.operands]
    return moved


def reads_of_one_element(build: ir.Op, uses: dict, depth: dict, block_of: dict,
                         replaced: dict, safe: SafeOps) -> list | None:
    """The uses of a 1-D build when every one is an in-range read of the same element,
    in one block one loop deeper than the build (what `move_to` takes), else None."""
    if build.name != "build" or build.results[0].type.rank != 1 or not counts_from_zero(build):
        return None
    reads = uses.get(build.results[0], [])
    if not reads or any(read.name != "index" or len(read.operands) != 2
                        or read.operands[0] is not build.results[0]
                        or read.attrs.get(SAFE_INDEX) is not True
                        or depth[id(read)] != depth[id(build)] + 1 for read in reads):
        return None
    if len({id(block_of[id(read)]) for read in reads}) != 1 or \
            len({id(resolve(read.operands[1], replaced)) for read in reads}) != 1:
        return None
    return reads if safe.body(build.regions[0]) else None


def loop_depths(block: ir.Block, depth: int = 0, out: dict | None = None) -> dict:
    """{id(op): how many loops (build, reduce, for, while) enclose it}."""
    out = {} if out is None else out
    for op in block.ops:
        out[id(op)] = depth
        inner = depth + (op.name in ("build", "reduce", "for", "while"))
        for region in op.regions:
            loop_depths(region, inner, out)
    return out


def resolve(v, replaced: dict):
    """What v stands for now: the end of its chain of replacements, which is then
    recorded for every value on the chain (a chain of 500 builds each moved into the
    next is walked once, not once per use)."""
    chain = []
    while v in replaced:
        chain.append(v)
        v = replaced[v]
    for passed in chain[:-1]:
        replaced[passed] = v
    return v


def move_to(block_of: dict, build: ir.Op, reader: ir.Op, replaced: dict) -> None:
    """Replaces `reader` (index %b, %j), the build's only read left, with the build's body
    ops, its index standing for %j (through `replaced`, as the uses are rewritten at the
    end of the round). Copying it instead made a chain of n builds, each read by the
    next, copy n^2 / 2 ops: each body had grown by the ones fused into it."""
    body = build.regions[0]
    moved, ending = body.ops[:-1], body.ops[-1]
    body.ops = [ending]  # the build, now dead, yields what the moved ops compute
    block = block_of[id(reader)]
    position = block.ops.index(reader)
    block.ops[position:position + 1] = moved
    for op in moved:
        block_of[id(op)] = block
    replaced[body.args[0]] = resolve(reader.operands[1], replaced)
    replaced[reader.results[0]] = ending.operands[0]


def store_rows_by_element(root: ir.Block) -> bool:
    """Replaces each row store (`update` or `add_at` of a 1-D build into a row of an array)
    that `row_store_of_build` accepts by a loop storing the row element by element."""
    uses = uses_of(root)
    safe = SafeOps(root)
    stored: dict = {}  # a row store's result -> its loop's
    for block in list(blocks(root)):
        for position, op in enumerate(block.ops):
            if row_store_of_build(op, uses, safe):
                block.ops[position] = element_loop(op)
                stored[op.results[0]] = block.ops[position].results[0]
    replace_all(root, stored)
    return bool(stored)


def row_store_of_build(op: ir.Op, uses: dict, safe: SafeOps) -> bool:
    """Whether `op` stores a row made by a build, of the row's literal or named size, at
    indices proved in range (so that a loop of no steps, for an empty row, misses no
    error), where the build's body cannot fail and does not read the array stored into
    (the loop holds its new value; reading the old one would copy it). A build used
    elsewhere too must be cheap to repeat, and its other uses element reads or row stores
    (fuse_round takes the reads): each computes an element once, as the build did."""
    if op.name not in ("update", "add_at") or op.attrs.get(SAFE_INDEX) is not True:
        return False
    target, value = op.operands[:2]
    build = value.defining_op
    if (build is None or build.name != "build" or value.type.rank != 1
            or not counts_from_zero(build)):
        return False
    row = target.type.shape[len(op.operands) - 2:]
    if row != value.type.shape or ir.DYN in row:
        return False
    body = build.regions[0]
    others = [use for use in uses.get(value, []) if use is not op]
    if others and not (cheap_to_repeat(body) and all(
            use.name == "index" or use.name in ("update", "add_at") and use.operands[1] is value
            and value not in use.operands[2:] and use.operands[0] is not value
            for use in others)):
        return False
    return safe.body(body) and not any(reads_array(v, target) for v in ir.outer_uses(body, {}))


def reads_array(v, array) -> bool:
    """Whether v is `array` or a row of it."""
    while v is not array and v.defining_op is not None and v.defining_op.name == "index":
        v = v.defining_op.operands[0]
    return v is array


def element_loop(store: ir.Op) -> ir.Op:
    """`for i in range(len(row))`, carrying the array: the build's body at i, stored or
    added at the store's indices and i."""
    target, value, *indices = store.operands
    build = value.defining_op
    body = build.regions[0]
    loop_body = ir.Block([ir.I64, target.type], ["i", target.name_hint])
    i, carried = loop_body.args
    values = {body.args[0]: i}
    loop_body.ops = [ir.clone.clone_op(inner, values) for inner in body.ops[:-1]]
    element = values.get(body.ops[-1].operands[0], body.ops[-1].operands[0])
    stored = ir.Op(store.name, [carried, element, *indices, i], [target.type],
                   {SAFE_INDEX: True}, loc=store.loc)
    loop_body.ops += [stored, ir.Op("yield", stored.results, [], loc=store.loc)]
    return ir.Op("for", [*build.operands, target], [target.type], regions=[loop_body],
                 loc=store.loc, result_names=[store.results[0].name_hint])


def blocks(block: ir.Block):
    yield block
    for op in block.ops:
        for region in op.regions:
            yield from blocks(region)


def inline_at(block: ir.Block, build: ir.Op, reader: ir.Op, replaced: dict) -> None:
    """Replaces `reader` (index %b, %j), an op of `block`, with a copy of the build's
    body at %j, and records in `replaced` the value that stands for the read (the uses
    are rewritten once, at the end of the round, and in a body before it is copied)."""
    body = build.regions[0]
    for inner in ir.walk_ops(body):  # reads fused into it earlier in the round
        inner.operands = [resolve(v, replaced) for v in inner.operands]
    at, wrapping = resolve(reader.operands[1], replaced), []
    if reader.attrs[SAFE_INDEX] == "wraps":  # -1 is the last element: the body at n - 1
        wrapping = wrapped(at, build.operands[1], reader.loc)
        at = wrapping[-1].results[0]
    values = {body.args[0]: at}
    copies = wrapping + [ir.clone.clone_op(op, values) for op in body.ops[:-1]]
    guarded = reader.attrs[SAFE_INDEX] == GUARDED
    if guarded:  # the body's reads hold at `at` only under the read's test
        held_only_here(copies, {at})
    result = values.get(body.ops[-1].operands[0], body.ops[-1].operands[0])
    if len(reader.operands) > 2:  # a row: read its element, in range as the read was
        rest = [resolve(v, replaced) for v in reader.operands[2:]]
        element = ir.Op("index", [result] + rest, [reader.results[0].type],
                        {SAFE_INDEX: GUARDED if guarded else True}, loc=reader.loc)
        copies.append(element)
        result = element.results[0]
    position = block.ops.index(reader)
    block.ops[position:position + 1] = copies
    replaced[reader.results[0]] = result


def wrapped(index, size, loc) -> list:
    """Ops computing index + size where index < 0, else index (at the read's place)."""
    zero = ir.Op("const", [], [ir.I64], {"value": 0}, loc=loc)
    negative = ir.Op("lt", [index, zero.results[0]], [ir.BOOL], loc=loc)
    shifted = ir.Op("add", [index, size], [ir.I64], loc=loc)
    chosen = ir.Op("select", [negative.results[0], shifted.results[0], index], [ir.I64], loc=loc)
    return [zero, negative, shifted, chosen]


def replace_uses(block: ir.Block, old, new) -> None:
    for op in ir.walk_ops(block):
        op.operands = [new if v is old else v for v in op.operands]


def dce(block: ir.Block) -> None:
    """Removes ops whose results nobody uses and that have no effect (nothing in them
    can fail), innermost first, until nothing changes."""
    remove_dead_ops(block, effect_free)
