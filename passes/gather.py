"""Gather: a loop that adds into one array at several offsets of its variable becomes a
`build` in which each element adds up what the loop added to it.

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
      %k1 = sub %j, 1;  (%g at %k1);  %e1 = select(1 <= %k1 < %m, %e0 + %g, %e0)
      %k2 = %j;         (%g at %k2);  %e2 = select(1 <= %k2 < %m, %e1 + 2.0 * %g, %e1)
      %k3 = add %j, 1;  (%g at %k3);  %e3 = select(1 <= %k3 < %m, %e2 + %g, %e2)
      yield %e3 }

The same additions in the same order, so the same bits, and a loop that vectorizes. An
element's iteration outside the range is computed at the loop's start instead (a valid
iteration, so every index the loop proved stays in range; the loop is known to run) and
its add skipped. Adds under an `if` in the body are taken under the same test at that
iteration, as nested `if`s.

The pass takes a `for` that carries that one array and nothing else, steps by 1, and
whose body only adds scalars into it (`add_at`, maybe under `if`s) at its variable plus
distinct constants, each proved in range without wrapping (ir/ops.py's proofs; `wraps`
where a test or the loop's start keeps the index >= 0), and cannot fail otherwise (so
leaving out ops no add needs changes no error). A loop that adds at one offset only is
left alone: it has no dependence from one iteration to the next and LLVM vectorizes it as
it is (the ode's reverse sweep). It runs after `bounds`, whose proofs it reads.
"""

from __future__ import annotations

from typing import NamedTuple

import ir
from ir import Block, Builder
from ir.clone import clone_op
from ir.ops import GUARDED, constant
from ir.types import I64

from .dce import SAFE_INDEX, body_never_fails
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
    """One `add_at` of the loop body: the op, its index's offset from the loop variable,
    the tests (value, holds) of the `if`s it is under, from the outside in, and the
    blocks from the body down to its own."""
    op: ir.Op
    offset: int
    tests: list
    blocks: list


def gather_block(block: Block, b: Builder) -> None:
    ops, block.ops = block.ops, []
    replaced = {}
    for op in ops:
        for region in op.regions:
            gather_block(region, b)
        adds = gathered_adds(op)
        if adds is None:
            block.ops.append(op)
            continue
        with b.at(block), b.located(op.loc):
            replaced[op.results[0]] = gathered(b, op, adds)
    if replaced:
        replace_all(block, replaced)


def gathered_adds(op: ir.Op) -> list | None:
    """The adds of a loop the pass rewrites, in the body's order; None for any other op."""
    if op.name != "for" or len(op.operands) != 4 or constant(op.operands[2]) != 1:
        return None
    body = op.regions[0]
    k, acc = body.args
    if acc.type.rank != 1 or not body_never_fails(body, in_place=True):
        return None
    adds = []
    final = chain_adds(body, k, acc, [], [body], adds, {acc})
    if final is None or body.ops[-1].operands != [final]:
        return None
    start = constant(op.operands[0])
    if len({a.offset for a in adds}) < 2 or not all(never_wraps(a, k, start) for a in adds):
        return None
    cloned = sum(len(ops) for a in adds for ops in needed_ops(a))
    return adds if cloned <= MAX_GROWTH * sum(1 for _ in ir.walk_ops(body)) else None


def chain_adds(block: Block, k, acc, tests: list, blocks: list, adds: list, chain: set):
    """Follows the array through block: `add_at`s of a scalar into it at k plus a
    constant, and `if`s that yield it, nothing else using it or an earlier value of it
    (`chain`, which grows). Appends each add to `adds` and returns the array's last
    value; None when anything else uses it."""
    for op in block.ops[:-1]:
        used = (set(op.operands) | ir.uses_within(op)) & chain
        if not used:
            continue
        if used != {acc}:
            return None
        if op.name == "add_at" and op.operands[0] is acc and len(op.operands) == 3 \
                and acc not in op.operands[1:] and offset_of(op.operands[2], k) is not None:
            adds.append(Add(op, offset_of(op.operands[2], k), tests, blocks))
        elif op.name == "if" and len(op.results) == 1 and acc not in op.operands:
            for region, holds in zip(op.regions, (True, False)):
                last = chain_adds(region, k, acc, tests + [(op.operands[0], holds)],
                                  blocks + [region], adds, chain)
                if last is None or region.ops[-1].operands != [last]:
                    return None
        else:
            return None
        acc = op.results[0]
        chain.add(acc)
    return acc


def offset_of(index, k) -> int | None:
    """c when index is k + c (k itself, `add k, c`, `add c, k` or `sub k, c`)."""
    if index is k:
        return 0
    op = index.defining_op
    if op is None or op.name not in ("add", "sub"):
        return None
    a, c = op.operands
    if op.name == "add" and c is k:
        a, c = c, a
    value = constant(c)
    if a is not k or not isinstance(value, int) or isinstance(value, bool):
        return None
    return value if op.name == "add" else -value


def never_wraps(add: Add, k, start) -> bool:
    """Is the add's index in range and >= 0 wherever it runs? (`wraps` and the proofs
    like it let a negative index stand for one from the end; the element an iteration
    adds to must be k + offset itself.)"""
    proof = add.op.attrs.get(SAFE_INDEX)
    if proof in (True, GUARDED):
        return True
    if not proof:
        return False
    lowest = [start] if isinstance(start, int) else []
    for test, holds in add.tests:
        lowest += lower_bounds(test, holds, k)
    return any(low + add.offset >= 0 for low in lowest)


def lower_bounds(test, holds: bool, k) -> list:
    """Constants m such that k >= m where `test` is `holds` (k > m, k >= m, m < k, m <=
    k, not k < m, not k <= m, and `and`s of them)."""
    op = test.defining_op
    if op is None:
        return []
    if op.name == "and" and holds or op.name == "or" and not holds:  # both tests hold
        return [m for v in op.operands for m in lower_bounds(v, holds, k)]
    if op.name == "not":
        return lower_bounds(op.operands[0], not holds, k)
    a, c = (op.operands + [None, None])[:2]
    flipped = {"lt": "gt", "le": "ge", "gt": "lt", "ge": "le"}
    name = op.name
    if c is k and name in flipped:
        a, c, name = c, a, flipped[name]
    m = constant(c) if a is k else None
    if not isinstance(m, int) or isinstance(m, bool):
        return []
    bound = {("gt", True): m + 1, ("ge", True): m, ("lt", False): m, ("le", False): m + 1}
    return [bound[name, holds]] if (name, holds) in bound else []


def needed_ops(add: Add) -> list:
    """Per block of the add's (the body first), the ops of that block its value and its
    tests are computed from, in order."""
    levels = {op: depth for depth, block in enumerate(add.blocks) for op in block.ops}
    needed, pending = set(), [add.op.operands[1]] + [t for t, _ in add.tests]
    while pending:
        op = pending.pop().defining_op
        if op is None or op not in levels or op in needed:
            continue
        needed.add(op)
        pending += list(op.operands) + list(ir.uses_within(op))
    return [[op for op in block.ops if op in needed] for block in add.blocks]


def gathered(b: Builder, loop: ir.Op, adds: list):
    """The loop's result as a build, each element adding up what the loop added to it,
    in the loop's order (the adds of earlier iterations first: higher offsets); the loop's
    array when it runs no iteration."""
    start, stop, _, init = loop.operands
    k = loop.regions[0].args[0]
    then, other = Block(), Block()
    with b.at(then):
        body = Block([I64], ["j"])
        with b.at(body):
            element = b.emit("index", init, body.args[0], inbounds=True)
            for add in sorted(adds, key=lambda a: -a.offset):  # stable: body order
                element = gathered_add(b, add, k, body.args[0], element, start, stop)
            b.op("yield", [element])
        size = b.emit("dim", init, axis=0)
        built = b.op("build", [b.const(0), size, b.const(1)], {}, [body]).result
        b.op("yield", typed_as(then, [built], loop.results))
    with b.at(other):
        b.op("yield", [init])
    runs = b.emit("lt", start, stop)
    return b.op("if", [runs], {}, [then, other], result_types=[loop.results[0].type]).result


def gathered_add(b: Builder, add: Add, k, j, element, start, stop):
    """element plus the add of the iteration that adds to element j, when that iteration
    is in the loop's range (and its tests hold); its ops computed at that iteration, or
    at the loop's start when it is out of range."""
    at = j if add.offset == 0 else b.emit("sub", j, b.const(add.offset)) if add.offset > 0 \
        else b.emit("add", j, b.const(-add.offset))
    in_range = b.emit("and", b.emit("ge", at, start), b.emit("lt", at, stop))
    values = {k: b.emit("select", in_range, at, start)}
    total = under_tests(b, add, needed_ops(add), 0, values, element)
    return b.emit("select", in_range, total, element)


def under_tests(b: Builder, add: Add, needed: list, depth: int, values: dict, element):
    """Emits the add's ops of block `depth`, then element plus its value under the tests
    from `depth` on (nested `if`s); returns the sum."""
    for op in needed[depth]:
        b.block.ops.append(clone_op(op, values))
    if depth == len(add.tests):
        value = add.op.operands[1]
        return b.emit("add", element, values.get(value, value))
    test, holds = add.tests[depth]
    taken, skipped = Block(), Block()
    with b.at(taken):
        b.op("yield", [under_tests(b, add, needed, depth + 1, values, element)])
    with b.at(skipped):
        b.op("yield", [element])
    regions = [taken, skipped] if holds else [skipped, taken]
    return b.op("if", [values.get(test, test)], {}, regions,
                result_types=[element.type]).result
