"""Unrolling: a `for` loop of a few known trips written out, one copy of its body per
trip, each reading the values the copy before it yields.

`unroll(block, small)` does it for the loops in a block that a size rule says are small;
specialization (passes/specialize.py) and reverse mode (passes/ad.py) use it with their
rules. The pass here, `Unroll` ("unroll", in the `opt` stage), writes out the loops of
element code, the body of a `build` or `reduce`: two Newton steps for each element,

    %r = build 0, %n, 1 { ^(%i):                 %r = build 0, %n, 1 { ^(%i):
      %a = index %x, %i                            %a = index %x, %i
      %y = for 0, 2, 1, %a { ^(%k, %y0):     ->    %k = const 0
        %y1 = newton_step %y0, %a                  %y = newton_step %a, %a
        yield %y1 }                                %k.1 = const 1
      yield %y }                                   %y.1 = newton_step %y, %a
                                                   yield %y.1 }

(newton_step standing for the ops of one step). Native code vectorizes innermost loops
only: with a loop inside, the loop over the elements ran one element at a time, and 20
Newton steps for each of 10^5 values took 4.7 ms, written out 0.6 ms. Loops elsewhere
stay: LLVM writes out those of up to 8 known trips itself (runtime/jit.py), and writing
out a longer one that no loop encloses only makes the code bigger.
"""

from __future__ import annotations

import ir
from ir import Block
from ir.clone import clone_op
from ir.ops import constant, range_length
from ir.types import I64

from .simplify import replace_all

# The loops written out outside specialization (reverse mode's and Unroll's): no more
# trips, ops in the body, and ops written out.
WRITE_OUT_TRIPS, WRITE_OUT_BODY_OPS, WRITE_OUT_OPS = 32, 64, 512


def small_to_write_out(trips: int, ops: int) -> bool:
    """Is a loop small enough to write out: at most WRITE_OUT_TRIPS trips, a body of at
    most WRITE_OUT_BODY_OPS ops (as specialization's), WRITE_OUT_OPS ops written out?
    (Without the bound on the body, reverse mode wrote out lstm's loop over its 2 layers
    in its specialized form, inside the loop over time, and that gradient went from 600
    to 750 us.)"""
    return (trips <= WRITE_OUT_TRIPS and ops <= WRITE_OUT_BODY_OPS
            and trips * ops <= WRITE_OUT_OPS)


class Unroll:
    name = "unroll"

    def apply(self, module: ir.Module) -> ir.Module:
        for fn in module.functions.values():
            for body in element_code(fn.body):
                unroll(body, small_to_write_out)
        return module


def element_code(block: Block):
    """The bodies of the outermost `build` and `reduce` ops in block, at any depth."""
    for op in block.ops:
        if op.name in ("build", "reduce"):
            yield op.regions[0]
        else:
            for region in op.regions:
                yield from element_code(region)


def unroll(block: Block, small) -> bool:
    """Unrolls the `for` loops of known trip count in block (and its regions) that
    small(trips, ops in the body) says are small."""
    changed = False
    ops, block.ops = block.ops, []
    subst: dict = {}
    for op in ops:
        op.operands = [subst.get(v, v) for v in op.operands]
        for region in op.regions:
            changed |= unroll(region, small)
        trips = known_trips(op, small)
        if trips is None:
            block.ops.append(op)
            continue
        start, _, step = (constant(v) for v in op.operands[:3])
        carried = list(op.operands[3:])
        body = op.regions[0]
        for k in range(trips):
            index = ir.Op("const", [], [I64], {"value": start + k * step},
                          result_names=[body.args[0].name_hint])
            block.ops.append(index)
            values = dict(zip(body.args, [index.result] + typed_as(block, carried, body.args[1:])))
            copies = [clone_op(inner, values) for inner in body.ops[:-1]]
            block.ops.extend(copies)
            carried = [values.get(v, v) for v in body.ops[-1].operands]
        subst.update(zip(op.results, typed_as(block, carried, op.results)))
        changed = True
    if subst:
        replace_all(block, subst)
    return changed


def typed_as(block: Block, values: list, slots: list) -> list:
    """values, each cast (at the end of block) to the type of the loop's argument or
    result it stands for where the two differ: narrowing gave a carried array a literal
    size (zeros(k): f64[3]) where the loop leaves it open (f64[?]), and the body's ops
    were typed against the open one (f64[?] + f64[n]; f64[3] + f64[n] is a type error)."""
    typed = []
    for v, slot in zip(values, slots):
        if v.type != slot.type:
            cast = ir.Op("shape_cast", [v], [slot.type], {"type": slot.type})
            block.ops.append(cast)
            v = cast.results[0]
        typed.append(v)
    return typed


def known_trips(op: ir.Op, small) -> int | None:
    """The trip count of a `for` loop with constant bounds that small(trips, ops in the
    body) says is small; None otherwise."""
    if op.name != "for":
        return None
    start, stop, step = (constant(v) for v in op.operands[:3])
    if None in (start, stop, step) or step == 0:
        return None
    trips = range_length(start, stop, step)  # len() raises past 2**63 - 1
    size = sum(1 for _ in ir.walk_ops(op.regions[0]))
    return trips if small(trips, size) else None
