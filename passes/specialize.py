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
from ir import I64, ArrayType, Function
from ir.clone import clone_block
from ir.types import DYN, sized

from .narrow import narrow_types
from .simplify import InlineCalls, fold_constants, replace_all, retype
from .unroll import unroll

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
        if not unroll(body, small_loop):
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
