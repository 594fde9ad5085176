"""Gather: a loop that adds into one array at several offsets of its variable becomes a
`build` (or, for a single loop, loops storing each element) in which each element adds
up what the loop added to it.

Reverse mode turns a stencil's reads into adds: the gradient of
`[x[i - 1] + 2.0 * x[i] + x[i + 1] for i in range(n)]` (inside the bounds) is a loop

    %xb = for 1, %m, 1, %zeros { ^(%k, %acc):           %m = n - 1
      %g = index %yb, %k
      %a1 = add_at %acc, %g, %k - 1
      %a2 = add_at %a1, 2.0 * %g, %k
      %a3 = add_at %a2, %g, %k + 1
      yield %a3 }

whose iteration k writes what iteration k + 1 reads back, so it runs one element at a
time (a stencil's gradient took 11 primals). Element j receives, in the loop's order,
the adds of iterations j + 1 (offset -1), j (offset 0) and j - 1 (offset +1) that are in
the loop's range; the pass computes them per element, each from the ops the loop used
for it, at that iteration:

    %xb = build 0, n, 1 { ^(%j):
      %e0 = index %zeros, %j
      %k1 = sub %j, 1;  %e1 = if 1 <= %k1 < %m { (%g at %k1); %e0 + %g } else { %e0 }
      %k2 = %j;         %e2 = if 1 <= %k2 < %m { (%g at %k2); %e1 + 2.0 * %g } ...
      %k3 = add %j, 1;  %e3 = if 1 <= %k3 < %m { (%g at %k3); %e2 + %g } ...
      yield %e3 }

The same additions in the same order, so the same bits, and a loop that vectorizes (the
reads under each `if` are proved in range only there, `guarded`, and stay at
consecutive elements, which LLVM loads as vectors). Adds under an `if` in the body are
taken under the same test at that iteration, as nested `if`s; in a single loop such an
add computes its iteration's ops unconditionally, at the loop's start when it is out of
range (a valid iteration: every index the loop proved stays in range; the build is
then made only when the loop runs), and selects the sum, as LLVM vectorized that and
not the `if`. An axis the loop covers whole needs no test at offset 0.

Those tests are needed only near the ends: element j takes iteration j - c's add at
offset c, in the loop's range [start, stop) for j in [start + c, stop + c). So a single
loop's elements are stored by three loops over one fresh array: from `first` = start +
the largest offset to `last` = stop + the smallest (clipped to the array), every add
is computed at its iteration with no test of the range, and the elements before and
after are made as above. The middle loop's reads are plain vectors, not masked (under
an `if`) or loaded one at a time (at a selected index).

The pass takes a `for` that carries that one array and nothing else, steps by 1, and
whose body only adds scalars into it (`add_at`, maybe under `if`s) at its variable plus
distinct constants, each proved in range without wrapping (ir/ops.py's proofs; `wraps`
where a test or the loop's start keeps the index >= 0), and cannot fail otherwise (so
leaving out ops no add needs changes no error). A matrix's loop nest, one `for` per
axis, each body but the innermost only the next loop and ops for it, the inner loops'
ranges fixed before the nest starts, is taken the same way: a 5-point Laplacian's
gradient adds at (k - 1, k1), (k, k1 - 1), ... and becomes a build of rows, element
(j, j1) adding what iterations (j + 1, j1), (j, j1 + 1), ... added to it, in the nest's
order. A loop that adds at one offset only is left alone: it has no dependence from one
iteration to the next and LLVM vectorizes it as it is (ode's reverse sweep). It runs
after `bounds`, whose proofs it reads.
"""

from __future__ import annotations

from typing import NamedTuple

import ir
from ir import Block, Builder
from ir.clone import clone_op
from ir.ops import GUARDED, constant, dim_of_value
from ir.types import ZERO, ArrayType, I64

from .bounds import guard_facts, lower_bound, offset_from
from .dce import SAFE_INDEX, body_never_fails, held_only_here, never_fails
from .simplify import replace_all
from .unroll import typed_as

# How much recomputation a loop that vectorizes is worth: the ops cloned for all the adds
# together, at most this many times the ops of the loop body (each add recomputes what
# it needs at its own iteration).
MAX_GROWTH = 4


class Gather:
    name = "gather"

    def apply(self, module: ir.Module) -> ir.Module:
        for fn in module.functions.values():
            gather_block(fn.body, Builder(module))
        return module


class Add(NamedTuple):
    """One `add_at` of the innermost loop body: the op, its indices' offsets from the
    loop variables, the tests (value, holds) of the `if`s it is under, from the outside
    in, and per block from the outermost loop's body down to its own, the ops of that
    block its value and its tests are computed from (needed_ops)."""
    op: ir.Op
    offsets: tuple
    tests: list
    needed: list


def gather_block(block: Block, b: Builder) -> None:
    ops, block.ops = block.ops, []
    replaced = {}
    for op in ops:
        for region in op.regions:
            gather_block(region, b)
        found = gathered_adds(op)
        if found is None:
            block.ops.append(op)
            continue
        with b.at(block), b.located(op.loc):
            replaced[op.results[0]] = gathered(b, *found)
    if replaced:
        replace_all(block, replaced)


def gathered_adds(op: ir.Op) -> tuple | None:
    """(the loop nest, its adds in the body's order) for a loop the pass rewrites; None
    for any other op."""
    nest = loop_nest(op)
    if nest is None:
        return None
    bodies = [loop.regions[0] for loop in nest]
    ks = [body.args[0] for body in bodies]
    acc = bodies[-1].args[1]
    if acc.type.rank != len(nest) or not body_never_fails(bodies[-1], in_place=True) or \
            not all(never_fails(o, in_place=True) for body, inner in zip(bodies, nest[1:])
                    for o in body.ops if o is not inner):
        return None
    adds = []
    final = chain_adds(bodies[-1], ks, acc, [], bodies, adds, {acc})
    if final is None or bodies[-1].ops[-1].operands != [final]:
        return None
    starts = [constant(loop.operands[0]) for loop in nest]
    if len({a.offsets for a in adds}) < 2 or not all(never_wraps(a, ks, starts) for a in adds):
        return None
    cloned = sum(len(ops) for a in adds for ops in a.needed)
    return (nest, adds) if cloned <= MAX_GROWTH * sum(1 for _ in ir.walk_ops(bodies[0])) \
        else None


def loop_nest(op: ir.Op) -> list | None:
    """[op, the loop in its body, ...]: `for`s stepping by 1 and carrying one array and
    nothing else, each body but the last using the array only for the next loop, whose
    range the outermost loop does not compute."""
    if not carries_one_array(op):
        return None
    nest = [op]
    while True:
        body = nest[-1].regions[0]
        acc = body.args[1]
        users = [o for o in body.ops[:-1] if acc in o.operands or acc in ir.uses_within(o)]
        inner = users[0] if len(users) == 1 else None
        if inner is None or not carries_one_array(inner) or inner.operands[3] is not acc \
                or body.ops[-1].operands != inner.results \
                or set(inner.operands[:2]) & ir.defined_within(op):
            return nest
        nest.append(inner)


def carries_one_array(op: ir.Op) -> bool:
    return op.name == "for" and len(op.operands) == 4 and constant(op.operands[2]) == 1 \
        and isinstance(op.operands[3].type, ArrayType)


def chain_adds(block: Block, ks: list, acc, tests: list, blocks: list, adds: list,
               chain: set):
    """Follows the array through block: `add_at`s of a scalar into it at the loop
    variables plus constants, and `if`s that yield it, nothing else using it or an
    earlier value of it (`chain`, which grows). Appends each add to `adds` and returns
    the array's last value; None when anything else uses it."""
    for op in block.ops[:-1]:
        used = (set(op.operands) | ir.uses_within(op)) & chain
        if not used:
            continue
        if used != {acc}:
            return None
        if op.name == "add_at" and op.operands[0] is acc and acc not in op.operands[1:]:
            offsets = tuple(offset_from(i, k) for i, k in zip(op.operands[2:], ks))
            if len(op.operands) != 2 + len(ks) or None in offsets:
                return None
            adds.append(Add(op, offsets, tests, needed_ops(op, tests, blocks)))
        elif op.name == "if" and len(op.results) == 1 and acc not in op.operands:
            for region, holds in zip(op.regions, (True, False)):
                last = chain_adds(region, ks, acc, tests + [(op.operands[0], holds)],
                                  blocks + [region], adds, chain)
                if last is None or region.ops[-1].operands != [last]:
                    return None
        else:
            return None
        acc = op.results[0]
        chain.add(acc)
    return acc


def never_wraps(add: Add, ks: list, starts: list) -> bool:
    """Are the add's indices in range and >= 0 wherever it runs? (`wraps` and the proofs
    like it let a negative index stand for one from the end; the element an iteration
    adds to must be at k + offset itself.) What the loop's start and the tests of the
    `if`s the add is under say of k, as the bounds pass reads tests."""
    proof = add.op.attrs.get(SAFE_INDEX)
    if proof in (True, GUARDED):
        return True
    if not proof:
        return False
    facts = [fact for test, holds in add.tests for fact in guard_facts(test, [], holds)]
    for k, start, offset in zip(ks, starts, add.offsets):
        lowest = [low for low in (start, lower_bound(k, facts)) if isinstance(low, int)]
        if not lowest or max(lowest) + offset < 0:
            return False
    return True


def needed_ops(add: ir.Op, tests: list, blocks: list) -> list:
    """Per block of `blocks` (the outermost loop's body first, the add's own last), the
    ops of that block the add's value and its tests are computed from, in order."""
    levels = {op: depth for depth, block in enumerate(blocks) for op in block.ops}
    needed, pending = set(), [add.operands[1]] + [t for t, _ in tests]
    while pending:
        op = pending.pop().defining_op
        if op is None or op not in levels or op in needed:
            continue
        needed.add(op)
        pending += list(op.operands) + list(ir.uses_within(op))
    return [[op for op in block.ops if op in needed] for block in blocks]


def gathered(b: Builder, nest: list, adds: list):
    """The nest's result as a build (of rows, for a matrix), each element adding up what
    the loops added to it, in their order (the adds of earlier iterations first: higher
    offsets). When an add clamps its iteration to the loop's start, the build is made
    only when the loop runs (else the result is the array)."""
    loop = nest[0]
    init = loop.operands[3]
    ks = [inner.regions[0].args[0] for inner in nest]
    ranges = [(*inner.operands[:2], spans_axis(inner, init, axis))
              for axis, inner in enumerate(nest)]

    def built(block):
        if len(nest) == 1:
            made = built_in_pieces(b, init, adds, ks, ranges)
        else:
            made = build_over(b, init, len(nest), [], lambda js: gathered_element(
                b, init, adds, ks, js, ranges))
        return typed_as(block, [made], loop.results)[0]
    if not any(clamps(add, ks) for add in adds):
        return built(b.block)
    then, other = Block(), Block()
    with b.at(then):
        b.op("yield", [built(then)])
    with b.at(other):
        b.op("yield", typed_as(other, [init], loop.results))
    runs = [b.emit("lt", start, stop) for start, stop, _ in ranges]
    while len(runs) > 1:
        runs[-2:] = [b.emit("and", runs[-2], runs[-1])]
    return b.op("if", runs, {}, [then, other], result_types=[loop.results[0].type]).result


def spans_axis(loop: ir.Op, array, axis: int) -> bool:
    """Does loop run over 0 .. the array's length on that axis (known from their types)?"""
    size = array.type.shape[axis]
    return constant(loop.operands[0]) == 0 and size != ir.DYN and \
        dim_of_value(loop.operands[1]) == size


def build_over(b: Builder, array, rank: int, js: list, element):
    """A build over the rows (and, inside, the elements) of `array`, element(indices)
    emitting each element."""
    body = Block([I64], ["j"])
    with b.at(body):
        indices = js + [body.args[0]]
        inner = element(indices) if len(indices) == rank else \
            build_over(b, array, rank, indices, element)
        b.op("yield", [inner])
    size = b.emit("dim", array, axis=len(js))
    return b.op("build", [b.const(0), size, b.const(1)], {}, [body]).result


def built_in_pieces(b: Builder, init, adds: list, ks: list, ranges: list):
    """A single loop's build as three loops storing its elements: between `first` and
    `last`, the elements whose adding iterations are all in the loop's range, computed
    at those iterations with no test of the range; before and after them, the others, as
    gathered_add makes them. The middle loop reads at consecutive elements without a
    mask or a selected index, which LLVM loads as plain vectors (a heat stencil's
    gradient, with its edges under `if`, went from 17 to 3.7 primals)."""
    (start, stop, _), = ranges
    # Element j takes the add at k + c of iteration k = j - c: in range from start + c.
    offsets = [add.offsets[0] for add in adds]
    size = b.emit("dim", init, axis=0)
    first = within(b, shifted(b, start, max(offsets)), b.const(0), size)
    last = within(b, shifted(b, stop, min(offsets)), first, size)
    fill = b.const(ZERO[init.type.elem])  # never read
    made = b.emit("full", fill, size, overwritten=True)
    for lo, hi, inside in ((b.const(0), first, False), (first, last, True),
                           (last, size, False)):
        made = storing_loop(b, lo, hi, made, lambda j, inside=inside: gathered_element(
            b, init, adds, ks, [j], ranges, inside))
    return made


def shifted(b: Builder, value, c: int):
    return value if c == 0 else b.emit("add", value, b.const(c))


def within(b: Builder, value, low, high):
    return b.emit("minimum", b.emit("maximum", value, low), high)


def storing_loop(b: Builder, start, stop, array, element):
    """`for j in range(start, stop)` storing element(j) at j of the array it carries."""
    body = Block([I64, array.type], ["j", array.name_hint])
    with b.at(body):
        j, carried = body.args
        b.op("yield", [b.emit("update", carried, element(j), j, inbounds=True)])
    return b.op("for", [start, stop, b.const(1), array], {}, [body]).result


def gathered_element(b: Builder, init, adds: list, ks: list, js: list, ranges: list,
                     inside: bool = False):
    """Element js of the build: init's element plus the adds to it, in the loops' order;
    inside: every add's iteration is known to be in the loops' ranges."""
    element = b.emit("index", init, *js, inbounds=True)
    for add in sorted(adds, key=lambda a: tuple(-c for c in a.offsets)):  # stable
        element = gathered_add(b, add, ks, js, element, ranges, inside)
    return element


def gathered_add(b: Builder, add: Add, ks: list, js: list, element, ranges: list,
                 inside: bool = False):
    """element plus the add of the iteration that adds to element js, when that
    iteration is in the loops' ranges (and its tests hold), its ops computed at that
    iteration: under an `if` on the range, or, for an add under tests of its own in a
    single loop, selected, the ops computed at the loop's start when the iteration is
    out of range. (The `if` keeps every read at its iteration's index, consecutive
    elements LLVM loads as vectors, where a selected index is loaded one element at a
    time (the JIT asks for no gather instructions): a 3-point stencil's gradient 1.8x
    faster, a 5-point Laplacian's 1.4x; but a single loop with a test inside each add
    LLVM rewrote to carry values from one element to the next, and did not vectorize:
    2x slower.)"""
    ats = [j if c == 0 else b.emit("sub", j, b.const(c)) if c > 0 else
           b.emit("add", j, b.const(-c)) for j, c in zip(js, add.offsets)]
    if inside:
        return under_tests(b, add, len(ks), dict(zip(ks, ats)), element, None)
    in_range, tested = None, set()
    for at, c, (start, stop, whole) in zip(ats, add.offsets, ranges):
        if whole and c == 0 and not clamps(add, ks):
            continue  # the element's own iteration on an axis the loop covers
        inside = b.emit("and", b.emit("ge", at, start), b.emit("lt", at, stop))
        in_range = inside if in_range is None else b.emit("and", in_range, inside)
        tested.add(at)
    if in_range is None:
        return under_tests(b, add, len(ks), dict(zip(ks, ats)), element, None)
    if clamps(add, ks):
        values = {k: b.emit("select", in_range, at, start)
                  for k, at, (start, _, _) in zip(ks, ats, ranges)}
        total = under_tests(b, add, len(ks), values, element, None)
        return b.emit("select", in_range, total, element)
    taken, skipped = Block(), Block()
    with b.at(taken):
        b.op("yield", [under_tests(b, add, len(ks), dict(zip(ks, ats)), element, tested)])
    with b.at(skipped):
        b.op("yield", [element])
    return b.op("if", [in_range], {}, [taken, skipped], result_types=[element.type]).result


def clamps(add: Add, ks: list) -> bool:
    """Does gathered_add select the add's iteration (at the loop's start when out of
    range) rather than test its range with an `if`?"""
    return bool(add.tests) and len(ks) == 1


def under_tests(b: Builder, add: Add, bodies: int, values: dict, element, derived,
                depth: int = 0):
    """Emits the add's ops of the loop bodies (`bodies` of them), then those of each
    block under its tests, as nested `if`s, ending with element plus its value; returns
    the sum. derived: the iteration's indices when an `if` tests its range (the reads
    computed from them hold only there: dce.held_only_here), else None."""
    for ops in add.needed[:bodies] if depth == 0 else [add.needed[bodies - 1 + depth]]:
        for op in ops:
            b.block.ops.append(clone_op(op, values))
            if derived is not None:
                held_only_here(b.block.ops[-1:], derived)
    if depth == len(add.tests):
        value = add.op.operands[1]
        return b.emit("add", element, values.get(value, value))
    test, holds = add.tests[depth]
    taken, skipped = Block(), Block()
    with b.at(taken):
        b.op("yield", [under_tests(b, add, bodies, values, element, derived, depth + 1)])
    with b.at(skipped):
        b.op("yield", [element])
    regions = [taken, skipped] if holds else [skipped, taken]
    return b.op("if", [values.get(test, test)], {}, regions,
                result_types=[element.type]).result
