"""Specialization: a function partially evaluated for known integer parameters and
dimensions, then re-optimized.

`specialize(module, fn, ints, dims, name)` adds a copy of `fn` named `name` in which

- each integer parameter in `ints` (position -> value) is no longer a parameter: its uses
  read a constant;
- each dimension in `dims` (name -> size) is that literal size in every type, so `dim`
  of it is a constant and the native code knows the trip counts of loops over it (the
  calling convention checks the arguments' sizes against it);
- the program's calls are inlined (as before AD), then constants fold, and `for` loops
  whose trip count became a known number no larger than UNROLL_TRIPS, with bodies of at
  most UNROLL_OPS ops, are unrolled, until nothing changes;
- after each of these steps the types are narrowed (passes/narrow.py): an array sized by
  a parameter, a folded sum or an unrolled index (`zeros(k)`, `[... for i in range(k)]`)
  has that literal size in its type and in the types computed from it, the values loops
  carry and the function's result included;
- fn's custom rules (@derivative, @tangent), which take fn's parameters first, are
  specialized for the same integer parameters, so that they still apply to the copy.

The result is ordinary IR that the rest of the pipeline (AD, the `opt` stage, native
code) treats like any function.
"""

from __future__ import annotations

import ir
from ir import I64, ArrayType, Block, Function
from ir.clone import clone_block, clone_op
from ir.ops import constant, in_order
from ir.types import DYN, sized

from .narrow import narrow_types
from .simplify import InlineCalls, fold_constants, replace_all, retype

UNROLL_TRIPS = 8
UNROLL_OPS = 64


def specialize(module: ir.Module, fn: Function, ints: dict, dims: dict, name: str) -> Function:
    body = clone_block(fn.body, {})
    known = [(body.args[k], value) for k, value in ints.items()]
    body.args = [a for k, a in enumerate(body.args) if k not in ints]
    for k, arg in enumerate(body.args):
        arg.index = k
    fixed = [ir.Op("const", [], [I64], {"value": int(value)}, result_names=[arg.name_hint])
             for arg, value in known]
    body.ops[:0] = fixed + size_checks(body.args, {d for d, v in dims.items() if v == 1})
    replace_all(body, {arg: op.result for (arg, _), op in zip(known, fixed)})
    # A dimension fixed to 1 keeps its name: a literal 1 broadcasts, where the name must
    # equal the sizes it meets (the generic function's size error would become a result).
    dims = {d: v for d, v in dims.items() if v != 1}
    retype(body, dims)
    attrs = dict(fn.attrs) | specialized_rules(module, fn, ints, name)
    special = Function(name, body, [sized(t, dims) for t in fn.return_types], attrs, fn.filename)
    module.add(special)
    narrow_types(body, module)  # the constant sizes are literals in the types
    # Calls are inlined first (as before AD), counted without fn itself: unrolling would
    # copy a call that is inlined in fn into several, too many to inline by size.
    inliner = InlineCalls()
    inliner.count(module, [f for k, f in module.functions.items() if k != fn.name])
    inliner.inline_into(module, body)
    while True:
        fold_constants(body)
        narrow_types(body, module)  # after folding and unrolling, sizes become known
        if not unroll(body):
            break
    # what it returns may now have sizes the generic signature leaves `?`
    special.return_types = [v.type for v in body.terminator.operands]
    return special


def specialized_rules(module: ir.Module, fn: Function, ints: dict, name: str) -> dict:
    """fn's custom rules (@derivative, @tangent) for the integer parameters fixed in fn:
    a rule takes fn's parameters first, so the same positions are fixed in it, and the
    specialized fn, which no longer takes them, can call it. Dimensions stay names in
    the rule: its parameters take arrays of any size."""
    rules = {}
    for kind in ("derivative", "tangent"):
        if ints and kind in fn.attrs:
            rule = module.functions[fn.attrs[kind].name]
            rules[kind] = ir.Symbol(specialize(module, rule, ints, {}, f"{name}.{kind}").name)
    return rules


def size_checks(params: list, ones: set) -> list:
    """For each parameter with a dimension fixed to 1, a `shape_cast` to the type with 1
    there, whose run-time check is the one the calling convention makes of a literal size
    (its result is unused; it is kept because it can fail)."""
    checks = []
    for p in params:
        if isinstance(p.type, ArrayType) and ones & set(p.type.shape):
            unknown = sized(p.type, dict.fromkeys(ones, DYN))  # a name is cast to 1 via ?
            checks.append(ir.Op("shape_cast", [p], [unknown], {"type": unknown}))
            t = sized(p.type, dict.fromkeys(ones, 1))
            # the error names the argument, as the calling convention's does
            checks.append(ir.Op("shape_cast", [checks[-1].results[0]], [t],
                                {"type": t, "argument": p.name_hint}))
    return checks


def small_loop(trips: int, ops: int) -> bool:
    """Is a loop of `trips` trips with `ops` ops in its body small enough to unroll here?"""
    return trips <= UNROLL_TRIPS and ops <= UNROLL_OPS


def unroll(block: Block, small=small_loop) -> bool:
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
            in_order(copies)
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


def known_trips(op: ir.Op, small=small_loop) -> int | None:
    """The trip count of a `for` loop with constant bounds that small(trips, ops in the
    body) says is small; None otherwise."""
    if op.name != "for":
        return None
    start, stop, step = (constant(v) for v in op.operands[:3])
    if None in (start, stop, step) or step == 0:
        return None
    trips = len(range(start, stop, step))
    size = sum(1 for _ in ir.walk_ops(op.regions[0]))
    return trips if small(trips, size) else None
