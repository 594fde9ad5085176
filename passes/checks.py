"""Checks: work kept only for the errors it may raise is cut down to those checks.

A gradient replays the primal's loops in its reverse sweep with their index checks
marked done (`inbounds = "repeated"`), so the primal's own forward loop stays in the
gradient, though nobody reads its values, for the checks it makes. Run whole, it costs a
second primal. Three rewrites shrink it to what can fail, raising the same errors in the
same order:

1. Dimensions by name. `dim %v {axis}` where v's type names the dimension (`f64[d]`)
   becomes the function's own `%d` (the `dim` of a parameter at the top of the body),
   or a constant where the type has a literal size, so a length no longer depends on
   the array it was read from (a row `x[i]` has the length d whatever i is).
2. Dead work that may fail. A `build` or `reduce` whose result nobody uses becomes a
   `for` over the same range whose body yields nothing; DCE then removes what in it
   cannot fail. Not a build or reduce of arrays whose length the type leaves open: its
   elements may differ in length, which only the build or reduce itself checks. A
   `max`/`min` reduction also fails on an empty range: that check stays as the same
   reduction of a constant.
3. Repeated checks. A `for` that carries nothing and whose body never reads its
   induction variable does the same checks in every iteration: it runs the body once,
   when the range is not empty.
"""

from __future__ import annotations

import ir
from ir.ops import dim_of_value

from .dce import effect_free, eliminate_dead_code, may_be_ragged, used_values


class Checks:
    name = "checks"

    def apply(self, module: ir.Module) -> ir.Module:
        for fn in module.functions.values():
            name_dims(fn)
            eliminate_dead_code(fn.body, effect_free, module)
            while slice_to_checks(fn.body, used_values(fn.body)):
                eliminate_dead_code(fn.body, effect_free, module)
            while run_once(fn.body):
                eliminate_dead_code(fn.body, effect_free, module)
        return module


# ----------------------------------------------------------------------- dimensions by name

def name_dims(fn: ir.Function) -> None:
    """Every `dim` whose type names its dimension, below the top-level `dim` of a
    parameter that binds that name, is replaced by the binding; one of a literal size
    (a specialized function's) by a constant."""
    bound: dict = {}
    subst: dict = {}
    literals = sorted({size for op in ir.walk_ops(fn.body) if op.name == "dim"
                       for size in [dim_of_value(op.results[0])] if isinstance(size, int)})
    constants = [ir.Op("const", [], [ir.I64], {"value": size}) for size in literals]
    fn.body.ops[:0] = constants
    bound.update((size, op.results[0]) for size, op in zip(literals, constants))
    params = set(fn.params)
    for op in fn.body.ops:
        for inner in walk_regions(op):
            replace_dim(inner, bound, subst)
        if op.name == "dim" and op.operands[0] in params:
            name = dim_of_value(op.results[0])
            if isinstance(name, str) and name != ir.DYN and name not in bound:
                bound[name] = op.results[0]
                continue
        replace_dim(op, bound, subst)
    if subst:
        for op in ir.walk_ops(fn.body):
            op.operands = [subst.get(v, v) for v in op.operands]


def walk_regions(op: ir.Op):
    for region in op.regions:
        yield from ir.walk_ops(region)


def replace_dim(op: ir.Op, bound: dict, subst: dict) -> None:
    if op.name != "dim":
        return
    name = dim_of_value(op.results[0])
    if name in bound and bound[name] is not op.results[0]:
        subst[op.results[0]] = bound[name]


# ------------------------------------------------------------------- dead work that may fail

def slice_to_checks(block: ir.Block, used: set) -> bool:
    """Turns each unused build or reduce of `block` and its regions into a loop of its
    checks; True when something changed."""
    changed = False
    ops = []
    for op in block.ops:
        for region in op.regions:
            changed |= slice_to_checks(region, used)
        if op.name in ("build", "reduce") and not any(r in used for r in op.results) \
                and not empty_range_check(op) and not may_be_ragged(op):
            ops += checks_of(op)
            changed = True
        else:
            ops.append(op)
    block.ops = ops
    return changed


def empty_range_check(op: ir.Op) -> bool:
    """Is op a max/min reduction of a constant, kept only for its empty-range check?"""
    body = op.regions[0].ops
    return op.attrs.get("kind") in ("max", "min") and len(body) == 2 and body[0].name == "const"


def checks_of(op: ir.Op) -> list:
    """The ops that fail where `op` (an unused build or reduce) fails."""
    body = op.regions[0]
    body.ops[-1].operands = []
    loop = ir.Op("for", op.operands[:3], [], regions=[body], loc=op.loc)
    if op.attrs.get("kind") not in ("max", "min"):
        return [loop]
    # the empty-range check: the same reduction of a constant, which LLVM keeps only for it
    nothing = ir.Block([ir.I64])
    zero = ir.Op("const", [], [ir.I64], {"value": 0}, loc=op.loc)
    nothing.ops = [zero, ir.Op("yield", [zero.results[0]], [], loc=op.loc)]
    empty = ir.Op("reduce", op.operands[:3], [ir.I64], dict(op.attrs), [nothing], loc=op.loc)
    return [empty, loop]


# ---------------------------------------------------------------------------- repeated checks

def run_once(block: ir.Block) -> bool:
    """Replaces every `for` of `block` and its regions that carries nothing and whose
    body does not read its induction variable by an `if` on the range being non-empty."""
    changed = False
    ops = []
    for op in block.ops:
        for region in op.regions:
            changed |= run_once(region)
        step = dim_of_value(op.operands[2]) if op.name == "for" else None
        body = op.regions[0] if op.name == "for" else None
        if (body is None or len(op.operands) != 3 or not isinstance(step, int) or step == 0
                or body.args[0] in used_values(body)):
            ops.append(op)
            continue
        if len(body.ops) == 1:  # nothing in it: a loop that cannot fail goes
            changed = True
            continue
        start, stop = op.operands[:2]
        compare = ir.Op("lt" if step > 0 else "gt", [start, stop], [ir.BOOL], loc=op.loc)
        once = ir.Block()
        once.ops = body.ops
        never = ir.Block()
        never.ops = [ir.Op("yield", [], [], loc=op.loc)]
        ops += [compare, ir.Op("if", [compare.results[0]], [], regions=[once, never], loc=op.loc)]
        changed = True
    block.ops = ops
    return changed

