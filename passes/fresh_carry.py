"""Fresh carried arrays: a loop over an array's indices that carries an array it is given
freshly filled (`full`), and touches it at the loop's index only, needs neither the fill
nor, often, the array.

Reverse mode makes such loops: each reverse step of a loop over arrays starts the
adjoints of the step's inputs at zero and adds into them element by element,

    %z = full 0.0, %n
    %ub, %tb = for 0, %n, 1, %z, %t { ^(%k, %p, %q):
      %e = index %vb, %k  ...  %p.1 = add_at %p, %g, %k  ...
      yield %p.1, %q.1 }

and then drops the adjoints it took in (%vb above, read at k only). Native code allocates
and zeroes %z at every step, and reads each zero back to add to it. The pass rewrites
slot j of such a loop (start 0, step 1, stop the `full`'s size, the `full` used by the
loop only, its array touched by `index`, `add_at` and `update` at the loop's variable
only, as passes/fuse_loops.py checks):

- contracted: when nothing uses the loop's result for the slot and every op touching it
  is in the body itself (not in an `if`), the array is a scalar: each iteration starts
  from the fill value, `add_at` becomes `add`, `update` the value, `index` the value so far;
- else stored first: when the body's first op touching the array (in the body itself) is
  an `add_at` at k, it becomes an `update` of (fill + value), or it is an `update`: every
  element is stored before it is read, so the `full` is marked {overwritten} (native code
  does not fill it);
- and then reused: when an array of the same type, made in the loop's block before the
  loop (or carried by the loop around it), is used by nothing after the loop and in the
  body only by `index` at k before that first store, the slot takes it instead of the
  `full`, its reads become reads of the slot (which holds it until element k is stored),
  and native code updates it in place: no array is allocated at all.

A slot touched by one `add_at` only, at k + c for a constant c < 0, under tests that
let it run exactly in the iterations whose element is in range (k >= -c), is stored first
too: reverse mode's sweep of a stencil `[x[0] if i == 0 else x[i] * y[i - 1] for i in
range(n)]` adds into y's adjoint at k - 1 where k != 0, each element below n - 1 once.
The `full` is then not filled but for its last -c elements, by a loop before the sweep
(ode's reverse step zeroed three such arrays of n, 4-6% of its gradient's time).

The fill may also be a `build` over the same range that the loop alone uses, of cheap
elementwise ops that cannot fail (reverse mode sums a step's cotangents into the array
the next sweep adds into): each element's first touch then computes the build's element
there, a copy of its body, and adds to it; the build's loop and its pass over memory are
gone (ode's last sweep of a reverse step starts from the sum of four arrays: 5% of its
gradient). Reads in a copy under the shifted add's tests are proved in range there only.

Each element gets the same ops on the same values in the same order (0.0 + g where the
zero was read back): the same bits. It runs after fuse_loops, whose fused loops have the
most to gain (a read of one loop's adjoint by the next, within one iteration).
"""

from __future__ import annotations

from collections import Counter

import ir
from ir import Block, Builder

from ir.clone import clone_op
from ir.ops import GUARDED, OVERWRITTEN, constant

from .bounds import offset_from
from .dce import drop_carried, never_fails
from .fusion import CHEAP
from .fuse_loops import CHAINED, chain_ops, follow_chain, same_constant, use_counts
from .simplify import replace_all

VIEWS = ("index", "transpose")  # a row or a transpose: native code copies it to own it


class FreshCarry:
    name = "fresh_carry"

    def apply(self, module: ir.Module) -> ir.Module:
        for fn in module.functions.values():
            in_block(fn.body, carried=[], b=Builder(module))
        return module


def in_block(block: Block, carried: list, b: Builder) -> None:
    """Rewrites the loops of block and of its regions; `carried` are the block's
    arguments that a loop around it carries (arrays it owns, which a slot may reuse)."""
    for op in block.ops:
        for region in op.regions:
            in_block(region, region.args[1:] if op.name == "for" else [], b)
    for loop in [op for op in block.ops if op.name == "for" and counts_up_from_zero(op)]:
        for j in reversed(range(len(loop.results))):
            rewrite_slot(block, carried, loop, j, b)


def counts_up_from_zero(loop: ir.Op) -> bool:
    return constant(loop.operands[0]) == 0 and constant(loop.operands[2]) == 1


def rewrite_slot(block: Block, carried: list, loop: ir.Op, j: int, b: Builder) -> None:
    uses = use_counts(block)  # the block's, before this slot's rewrite changes them
    fill = fresh_init(block, loop, j, uses)
    if fill is None:
        return
    body = loop.regions[0]
    chain = touching_chain(body, j)
    if chain is None:
        shifted = shifted_add(body, j)
        if shifted is not None:
            store_shifted(block, loop, j, fill, *shifted, b)
        return
    top = [op for op in body.ops[:-1] if touches(op, chain)]
    if not uses[loop.results[j]] and all(op.name in ("index", *CHAINED) for op in top):
        contract(block, loop, j, fill, top)  # (an `if` touching it would be in top)
        return
    first = top[0] if top else None
    if first is None or first.name not in CHAINED:
        return
    if first.name == "add_at":
        store_first(body, first, fill, pinned=False)
    reused = reusable(block, carried, loop, fill, first, uses)
    if reused is None:
        as_unfilled(block, fill, b)
        return
    reuse(block, loop, j, reused, fill)


def fresh_init(block: Block, loop: ir.Op, j: int, uses: Counter):
    """The `full` or cheap `build` op making slot j's init, if it is a rank-1 array of
    loop's stop that nothing else uses, made in block."""
    v = loop.operands[3 + j]
    fill = v.defining_op
    if fill is None or fill.name not in ("full", "build") or fill not in block.ops:
        return None
    if v.type.rank != 1 or v.type.elem not in (ir.F64, ir.I64) or uses[v] != 1:
        return None
    if fill.name == "build" and not copyable_build(fill, loop):
        return None
    size, stop = fill_size(fill), loop.operands[1]
    return fill if size is stop or same_constant(size, stop) else None


def fill_size(fill: ir.Op):
    return fill.operands[1]  # a full's (value, size), a build's (start, stop, step)


def copyable_build(build: ir.Op, loop: ir.Op) -> bool:
    """Does `build` count up from 0 by 1 with a body of cheap ops (fusion's: they cost
    the same in any loop, where a division or a call might lose the build's vector form)
    that cannot fail and have no regions, whose reads are proved in range and read no
    array the loop carries (native code may update those in place)?"""
    if constant(build.operands[0]) != 0 or constant(build.operands[2]) != 1:
        return False
    ops = build.regions[0].ops
    if any(op.name not in CHEAP or op.regions or not never_fails(op) for op in ops):
        return False
    reads = [op for op in ops if op.name == "index"]
    return all(op.attrs.get("inbounds") is True and op.operands[0] not in loop.operands
               for op in reads)


def fill_at(fill: ir.Op, element, pinned: bool) -> tuple[list, ir.Value]:
    """The ops computing the fill's element at `element`, and its value: the `full`'s
    value, or the build's body copied at that element. `pinned`: the copy runs only where
    tests prove the element in range, so its reads are proved in range there only."""
    if fill.name == "full":
        return [], fill.operands[0]
    body = fill.regions[0]
    values = {body.args[0]: element}
    ops = [clone_op(op, values) for op in body.ops[:-1]]
    for op in ops:
        if pinned and op.name == "index":
            op.attrs["inbounds"] = GUARDED
    value = body.terminator.operands[0]
    return ops, values.get(value, value)


def as_unfilled(block: Block, fill: ir.Op, b: Builder) -> ir.Op:
    """The fill, marked overwritten: native code allocates its array and does not fill
    it. A build becomes such a `full` (of zero) in its place."""
    if fill.name == "build":
        made, array = Block(), fill.results[0]
        with b.at(made), b.located(fill.loc):
            zero = b.const(0.0 if array.type.elem == ir.F64 else 0)
            full = b.op("full", [zero, fill_size(fill)], result_types=[array.type],
                        names=[array.name_hint])
        at = block.ops.index(fill)
        block.ops[at:at + 1] = made.ops
        replace_all(block, {array: full.results[0]})
        fill = full
    fill.attrs[OVERWRITTEN] = True
    return fill


def touching_chain(body: Block, j: int):
    """The values slot j's array takes in the body, if it is touched at the loop's index
    only (by no op with regions but an `if`) and passed on to slot j only; else None."""
    var, chain = body.args[0], {body.args[1 + j]}
    if not chain_ops(body.ops[:-1], chain, var) or not passed_on(body, j, chain):
        return None
    return chain


def touches(op: ir.Op, chain: set) -> bool:
    return bool(set(op.operands) & chain or ir.uses_within(op) & chain)


def contract(block: Block, loop: ir.Op, j: int, fill: ir.Op, chain_ops_: list) -> None:
    """Slot j's array becomes the scalar each iteration makes of the fill's element k."""
    body = loop.regions[0]
    ops, value = fill_at(fill, body.args[0], pinned=False)
    subst = {}
    for op in body.ops:
        if op not in chain_ops_:
            ops.append(op)
        elif op.name == "index":
            subst[op.results[0]] = value
        elif op.name == "update":
            value = op.operands[1]
        else:  # add_at: the slot's old value, then the added one, as native code adds
            added = ir.Op("add", [value, op.operands[1]], [value.type], loc=op.loc)
            ops.append(added)
            value = added.results[0]
    body.ops = ops
    replace_all(body, subst)
    drop_carried(loop, j)
    block.ops.remove(fill)


def shifted_add(body: Block, j: int):
    """(the op, its block, c) when slot j's array is touched in the body by one `add_at`
    only, at the loop's variable k plus a constant c < 0, under `if`s that run it exactly
    in the iterations k >= -c, those whose element k + c is in range: reverse mode's
    sweep of `[x[0] if i == 0 else x[i] * y[i - 1] for i in range(n)]` adds into y's
    adjoint at k - 1 where k != 0. Else None."""
    var, chain = body.args[0], {body.args[1 + j]}

    def shifted(op: ir.Op) -> bool:
        return op.name == "add_at" and len(op.operands) == 3 and \
            (offset_from(op.operands[2], var) or 0) < 0
    if not follow_chain(body.ops[:-1], chain, shifted) or not passed_on(body, j, chain):
        return None
    touching = [op for op in ir.walk_ops(body) if op.name in ("index", *CHAINED)
                and op.operands[0] in chain]
    if len(touching) != 1:
        return None
    add = touching[0]
    c = offset_from(add.operands[2], var)
    found = path_to(body, add, [])
    if found is None or first_iteration(found[1], var) != -c:
        return None
    return add, found[0], c


def passed_on(body: Block, j: int, chain: set) -> bool:
    """Is the array yielded as slot j only, and used by no op with regions but `if`?"""
    yielded = body.terminator.operands
    if yielded[j] not in chain or any(v in chain for q, v in enumerate(yielded) if q != j):
        return False
    return not any(op.regions and op.name != "if" and ir.uses_within(op) & chain
                   for op in ir.walk_ops(body))


def path_to(block: Block, target: ir.Op, tests: list):
    """(the block holding target, the tests (value, holds) of the `if`s around it)."""
    for op in block.ops:
        if op is target:
            return block, tests
        if op.name == "if":
            for region, holds in zip(op.regions, (True, False)):
                found = path_to(region, target, tests + [(op.operands[0], holds)])
                if found is not None:
                    return found
    return None


# A test of the loop's variable k against a constant v that holds exactly when k >= m,
# as (op, k's place, holds) -> m from v: k > v, k >= v, not k < v, not k <= v, and
# the same written the other way round; for k >= 0, k != 0 (from not k == 0) is k >= 1.
FIRST_ITERATION = {
    ("gt", 0, True): 1, ("ge", 0, True): 0, ("lt", 0, False): 0, ("le", 0, False): 1,
    ("lt", 1, True): 1, ("le", 1, True): 0, ("gt", 1, False): 0, ("ge", 1, False): 1,
}


def first_iteration(tests: list, var):
    """The least k >= 0 from which all the tests hold, when each holds exactly from
    some k on; else None."""
    least = 0
    for test, holds in tests:
        op = test.defining_op
        if op is None or len(op.operands) != 2 or var not in op.operands:
            return None
        place = op.operands.index(var)
        v = constant(op.operands[1 - place])
        if not isinstance(v, int):
            return None
        if (op.name, holds) in (("eq", False), ("ne", True)) and v == 0:
            least = max(least, 1)
        elif (op.name, place, holds) in FIRST_ITERATION:
            least = max(least, v + FIRST_ITERATION[op.name, place, holds])
        else:
            return None
    return least


def store_shifted(block: Block, loop: ir.Op, j: int, fill: ir.Op, add: ir.Op,
                  add_block: Block, c: int, b: Builder) -> None:
    """The add at k + c stores (fill + value) instead: no other iteration touches that
    element, and every element below size + c is so stored (iterations k >= -c). The
    array is allocated unfilled and its last -c elements are filled before the loop."""
    store_first(add_block, add, fill, pinned=True)
    unfilled = as_unfilled(block, fill, b)
    size, array = fill_size(unfilled), unfilled.results[0]
    tail = Block()
    zero, one = loop.operands[0], loop.operands[2]  # the loop's start and step
    with b.at(tail), b.located(fill.loc):
        first = b.emit("maximum", b.emit("add", size, b.const(c)), zero)
        body = Block([ir.I64, array.type], ["j", array.name_hint])
        body.ops, value = fill_at(fill, body.args[0], pinned=False)
        with b.at(body):
            b.op("yield", [b.emit("update", body.args[1], value, body.args[0], inbounds=True)])
        filled = b.op("for", [first, size, one, array], {}, [body]).results[0]
    at = block.ops.index(loop)
    block.ops[at:at] = tail.ops
    loop.operands[3 + j] = filled


def store_first(body: Block, first: ir.Op, fill: ir.Op, pinned: bool) -> None:
    """`add_at %p, %g, %e`, the first touch of element e, as `update %p, fill[e] + %g, %e`
    (`pinned`: see fill_at)."""
    element_ops, value = fill_at(fill, first.operands[2], pinned)
    added = ir.Op("add", [value, first.operands[1]], [value.type], loc=first.loc)
    at = body.ops.index(first)
    body.ops[at:at] = element_ops + [added]
    first.name = "update"
    first.operands[1] = added.results[0]


def reusable(block: Block, carried: list, loop: ir.Op, fill: ir.Op, first: ir.Op,
             uses: Counter):
    """An array of the fill's type that the block makes before the loop (or that a loop
    around carries), not a view into another, that nothing uses after the loop, and that
    the loop reads only by `index` at its variable: in the body itself (such a read may
    move up, as it cannot fail), or within an op before `first`. None if there is none.
    Its reads in the body move above `first`."""
    body, t = loop.regions[0], fill.results[0].type
    if ir.DYN in t.shape:
        return None
    at = body.ops.index(first)
    reads = Counter(read.operands[0] for read in reads_at_var(body, at))
    made = carried + [r for op in block.ops[:block.ops.index(loop)] for r in op.results
                      if op.name not in VIEWS]
    for d in made:
        if d.type == t and reads[d] and uses[d] == reads[d] and d not in loop.operands:
            moved = [op for op in body.ops[at:] if op.name == "index" and op.operands[0] is d]
            body.ops = [op for op in body.ops if op not in moved]
            at = body.ops.index(first)
            body.ops[at:at] = moved
            return d
    return None


def reads_at_var(body: Block, at: int) -> list:
    """The `index` ops at the loop's variable alone: within the ops before body.ops[at],
    and in the body itself after it if they cannot fail."""
    var = body.args[0]
    before = [inner for op in body.ops[:at] for inner in [op, *ir.ops_within(op)]]
    after = [op for op in body.ops[at:] if never_fails(op)]
    return [op for op in before + after if op.name == "index" and op.operands[1:] == [var]]


def reuse(block: Block, loop: ir.Op, j: int, reused, fill: ir.Op) -> None:
    """Slot j starts from `reused`, whose reads in the body read the slot instead."""
    body = loop.regions[0]
    loop.operands[3 + j] = reused
    replace_all(body, {reused: body.args[1 + j]})
    block.ops.remove(fill)
