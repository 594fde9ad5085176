"""Scalar clean-up passes for the `opt` stage: constant folding, algebraic simplification
that stays honest about IEEE, common subexpression elimination, dead code elimination.

- `constfold`: a pure scalar op whose operands are all constants becomes a constant,
  computed by the op's own interpreter rule (one meaning per op). An op that would raise
  (integer division by zero) or give inf or NaN is left alone. A folded size is then a
  literal in the types of the arrays it sizes (passes/narrow.py), as after `simplify`
  and `inline`, which can also make a size known.
- `simplify`: rewrites that hold for every IEEE value: x * 1.0, 1.0 * x, x / 1.0 (1.0
  also an array of ones the shape of x) and x - 0.0 are x; -(-x) is x; where(true, a, b) is a; where(c, a, a) is a. Not x * 0.0,
  which is NaN for x = inf, nor x + 0.0, which is +0.0 for x = -0.0. With constfold, this
  removes AD's structural zeros: its guard `where(ct == 0.0, 0.0, ct * d)` with the seed
  ct = 1.0 becomes d.
- `cse`: a pure op without regions and with scalar results that repeats one already
  computed, with the same operands and attributes, where the first one is in scope, is
  replaced by it. (Arrays are not shared: see CSE.block.)
- `dce`: ops whose results nobody uses and that cannot fail, and dead loop-carried values.
"""

from __future__ import annotations

import math
from collections import Counter

import ir
from ir import Block
from ir.calls import module_calls
from ir.clone import clone_op
from ir.ops import BINARY, constant, dim_of_value
from ir.types import DYN, sized
from ir.registry import REGISTRY

from .dce import effect_free, eliminate_dead_code, forward_invariant_carried, sized_like
from .narrow import narrow_types


def is_const(v, value) -> bool:
    c = constant(v)
    return c is not None and type(c) is type(value) and c == value and (
        not isinstance(c, float) or math.copysign(1.0, c) == math.copysign(1.0, value))


def is_filled_with(v, value, like) -> bool:
    """v is the constant `value`, or an array `full` of it known to have the shape of
    `like` (of another shape, the op it is an operand of raises)."""
    op = v.defining_op
    if op is not None and op.name == "full" and v.type == like.type and (
            DYN not in v.type.shape or sized_like(op.operands[1:], like)):
        v = op.operands[0]
    return is_const(v, value)


def filled_choice(cond, then, other):
    """The operand a select takes everywhere when cond is a comparison of a `full` of a
    constant with a constant (as a zero guard of a seed of ones is) and has the
    operand's shape; None otherwise."""
    op = cond.defining_op
    if op is None or op.name not in BINARY or BINARY[op.name][3] != ir.BOOL \
            or cond.type.rank == 0:
        return None
    filled = [a for a in op.operands if a.type.rank > 0]
    if len(filled) != 1 or filled[0].defining_op is None or filled[0].defining_op.name != "full":
        return None
    full = filled[0].defining_op
    values = [constant(full.operands[0] if a is filled[0] else a) for a in op.operands]
    if any(v is None for v in values) or full.results[0].type.shape != cond.type.shape:
        return None
    float_fn, int_fn = BINARY[op.name][:2]  # the registry's own semantics of the op
    value = (int_fn if full.operands[0].type == ir.I64 else float_fn)(*values, op)
    chosen = then if bool(value) else other
    same = DYN not in cond.type.shape or sized_like(full.operands[1:], chosen)
    return chosen if same and chosen.type.shape == cond.type.shape else None


def replace_all(root: ir.Block, subst: dict) -> None:
    if subst:
        for op in ir.walk_ops(root):
            op.operands = [subst.get(v, v) for v in op.operands]


class ConstantFold:
    name = "constfold"

    def apply(self, module: ir.Module) -> ir.Module:
        for fn in module.functions.values():
            # A value a loop carries unchanged is its initial value; reverse mode makes
            # one of every cotangent that reaches a loop (a gradient's seed 1.0 among
            # them), and only as a constant does it fold in the body.
            forward_invariant_carried(fn.body)
            fold_constants(fn.body)
            narrow_types(fn.body, module)  # a folded size is a literal in the types
        return module

    @staticmethod
    def folded(op: ir.Op):
        """The constant op computes, or None. A call is left alone: what remains of calls
        here is of functions with a custom rule (the others were inlined), whose bodies
        are not at hand, and AD must still see the call to use the rule."""
        if (op.name in ("const", "call") or op.regions or len(op.results) != 1
                or not op.operands or op.results[0].type.rank != 0
                or not REGISTRY[op.name].pure):
            return None
        values = [constant(v) for v in op.operands]
        if any(v is None for v in values):
            return None
        t = op.results[0].type
        if t == ir.F64 and not REGISTRY[op.name].folds:  # native code rounds it its own way
            return None
        try:
            (out,) = REGISTRY[op.name].interp(op, [ir.ops.as_np(v, a.type) for v, a in
                                                   zip(values, op.operands)], None)
        except (ir.RuntimeErrorDP, ArithmeticError, ValueError):
            return None
        if t == ir.F64:
            out = float(out)
            return out if math.isfinite(out) else None
        return bool(out) if t == ir.BOOL else int(out)


def fold_constants(block: ir.Block) -> None:
    """Every scalar op of block and its regions whose operands are constants becomes the
    constant it computes; `dim` of an axis of literal size (a specialized function's)
    becomes that size."""
    for op in ir.walk_ops(block):  # operands before users: folds chain
        value = ConstantFold.folded(op)
        if op.name == "dim" and isinstance(dim_of_value(op.results[0]), int):
            value = dim_of_value(op.results[0])
        if value is not None:
            op.name, op.operands, op.attrs = "const", [], {"value": value}


class Simplify:
    name = "simplify"

    def apply(self, module: ir.Module) -> ir.Module:
        for fn in module.functions.values():
            subst = {}
            for op in ir.walk_ops(fn.body):
                op.operands = [subst.get(v, v) for v in op.operands]
                if op.name == "dim":
                    size_from_operand(op)
                same = self.identity(op)
                if same is not None and same.type == op.results[0].type:
                    subst[op.results[0]] = same
            if subst:
                replace_all(fn.body, subst)
                narrow_types(fn.body, module)  # a size may now be a constant
        return module

    @staticmethod
    def identity(op: ir.Op):
        """The operand that op's result always equals, or None."""
        a = op.operands
        one = 1 if a and a[0].type.elem == ir.I64 else 1.0
        if op.name == "mul":  # an array of ones only where the other operand has the shape
            if is_filled_with(a[1], one, a[0]):
                return a[0]
            if is_filled_with(a[0], one, a[1]):
                return a[1]
        if op.name == "div" and is_filled_with(a[1], 1.0, a[0]):
            return a[0]
        if op.name == "sub" and is_const(a[1], one - one):
            return a[0]
        if op.name == "add" and one == 1:  # integers only: -0.0 + 0.0 is +0.0
            if is_const(a[1], 0):
                return a[0]
            if is_const(a[0], 0):
                return a[1]
        if op.name == "neg" and a[0].defining_op is not None and a[0].defining_op.name == "neg":
            return a[0].defining_op.operands[0]
        if op.name == "select":
            if a[1] is a[2]:
                return a[1]
            if constant(a[0]) is not None:
                return a[1] if constant(a[0]) else a[2]
            chosen = filled_choice(a[0], a[1], a[2])
            if chosen is not None:
                return chosen
        return None


def size_from_operand(dim: ir.Op) -> None:
    """Makes `dim` of a product's or a transpose's axis read that size off the operand it
    comes from, so that a product used only for its shape (the seed of sum(a @ b)'s
    gradient) is not computed."""
    while True:
        source = dim.operands[0].defining_op
        axis = dim.attrs["axis"]
        if source is None or source.name not in ("matmul", "outer", "transpose"):
            return
        a = source.operands[0]
        if source.name == "transpose":
            dim.operands, dim.attrs["axis"] = [a], a.type.rank - 1 - axis
        elif source.name == "outer":
            dim.operands, dim.attrs["axis"] = [source.operands[axis]], 0
        elif axis < a.type.rank - 1:  # matmul: a's axes but its last, then b's but its first
            dim.operands = [a]
        else:
            dim.operands, dim.attrs["axis"] = [source.operands[1]], axis - a.type.rank + 2


class CSE:
    name = "cse"

    def apply(self, module: ir.Module) -> ir.Module:
        for fn in module.functions.values():
            share_scalars(fn.body)
        return module


def share_scalars(root: ir.Block) -> None:
    """Every use of a scalar op that repeats one in scope uses the first instead (the
    repeat is then dead)."""
    subst = {}
    share_in_block(root, {}, subst)
    replace_all(root, subst)


def share_in_block(block: ir.Block, seen: dict, subst: dict) -> None:
    seen = dict(seen)  # what an enclosing block computed is in scope here, not back
    for op in block.ops:
        op.operands = [subst.get(v, v) for v in op.operands]
        for region in op.regions:
            share_in_block(region, seen, subst)
        # Arrays stay apart: one value shared by two uses is not updated in place
        # where one of them updates it (an adjoint accumulator above all), and is
        # kept alive longer; measured, sharing them made the ode and lstm gradients
        # 5% slower. Scalars are shared.
        if op.regions or not op.results or not REGISTRY[op.name].pure or \
                any(r.type.rank > 0 for r in op.results):
            continue
        key = (op.name, tuple(id(v) for v in op.operands), repr(ir.computing_attrs(op)),
               tuple(str(r.type) for r in op.results))
        if key in seen:
            subst.update(zip(op.results, seen[key].results))
        else:
            seen[key] = op


# A callee called from several places is inlined only when it has at most this many ops
# (regions included): nested derivatives call large generated functions from many places,
# and copying each into every caller multiplied the code (and LLVM's time) several times.
SMALL_OPS = 60


class Inline:
    """Calls of derived functions (`f.rev`, `f.bwd`, `f.fwd`, `f.grad`: made for their callers)
    are replaced by the callee's body, so that what the caller knows (the seed 1.0 of a
    gradient) reaches it; derived functions nobody calls any more go. A callee is inlined
    where it is the only call of it, or everywhere when it is small (SMALL_OPS)."""

    name = "inline"

    @staticmethod
    def wanted(callee: ir.Function) -> bool:
        return "." in callee.name

    def inlined(self, callee: ir.Function) -> bool:
        if not self.wanted(callee):
            return False
        return self.call_count[callee.name] == 1 or self.small[callee.name]

    def apply(self, module: ir.Module) -> ir.Module:
        self.count(module, module.functions.values())
        for fn in callees_first(module):  # a body copied in then has no calls left to inline
            self.inline_into(module, fn.body)
        called = {op.attrs["callee"].name for fn in module.functions.values()
                  for op in ir.walk_ops(fn.body) if "callee" in op.attrs}
        called |= {s.name for fn in module.functions.values() for s in fn.attrs.values()
                   if isinstance(s, ir.Symbol)}
        for name in [n for n in module.functions if generated(n) and n not in called]:
            del module.functions[name]
        return module

    def count(self, module: ir.Module, callers) -> None:
        """What decides which calls go: how many calls of each function `callers` make,
        and which functions are small as written (inlining into callees first must not
        make one too big to go)."""
        self.call_count = call_counts(callers)
        self.small = {fn.name: sum(1 for _ in ir.walk_ops(fn.body)) <= SMALL_OPS
                      for fn in module.functions.values()}

    def inline_into(self, module: ir.Module, body: ir.Block) -> None:
        """Inlines the wanted calls of `body`, and then those their bodies brought."""
        inlined = False
        while self.block(module, body):
            inlined = True
        if inlined:
            narrow_types(body, module)  # the arguments' sizes reach the copied types

    def block(self, module: ir.Module, block: ir.Block) -> bool:
        changed = False
        ops, block.ops = block.ops, []
        subst = {}
        for op in ops:
            op.operands = [subst.get(v, v) for v in op.operands]
            for region in op.regions:
                changed |= self.block(module, region)
            callee = op.attrs.get("callee") if op.name == "call" else None
            dims = None
            if callee is not None and self.inlined(module.functions[callee.name]):
                dims = dim_mapping(module.functions[callee.name], op.operands)
            if dims is None:
                block.ops.append(op)
                continue
            body = module.functions[callee.name].body
            values = dict(zip(body.args, op.operands))
            copies = Block()
            copies.ops = [clone_op(inner, values) for inner in body.ops[:-1]]
            retype(copies, dims)
            block.ops += copies.ops
            returned = [values.get(v, v) for v in body.ops[-1].operands]
            made = {id(r) for o in copies.ops for r in o.results}
            for result, value in zip(op.results, returned):
                if id(value) in made and result.name_hint:  # the caller's name for it
                    value.name_hint = result.name_hint
            subst.update(zip(op.results, returned))
            changed = True
        if subst:
            replace_all(block, subst)
        return changed


class InlineCalls(Inline):
    """Before AD: calls of the program's functions (those without a custom derivative
    rule, which must stay calls for the rule to be used) are replaced by their bodies.
    Differentiated in place, an indexing read of an array argument becomes an O(1)
    `add_at` into the caller's cotangent, where a differentiated call returns (and adds)
    a whole cotangent array for each array argument, however little of it the callee
    read."""

    name = "inline_calls"

    @staticmethod
    def wanted(callee: ir.Function) -> bool:
        return not ({"derivative", "tangent"} & set(callee.attrs))


def callees_first(module: ir.Module) -> list:
    """The module's functions, each after those it calls (the language has no recursion:
    a function met again on the way down is left where it first came). Inlining in this
    order copies bodies whose own calls are already inlined: in module order, a chain of
    n functions took n rounds over a growing body in each."""
    calls = module_calls(module).calls
    callees = {name: list(dict.fromkeys(callee for callee, _, _ in sites))
               for name, sites in calls.items()}
    order: dict = {}
    for root in module.functions:
        stack = [(root, iter(callees[root]))]
        on_path = {root}
        while stack:
            name, rest = stack[-1]
            callee = next(rest, None)
            if callee is None:
                stack.pop()
                on_path.discard(name)
                order.setdefault(name, module.functions[name])
            elif callee not in order and callee not in on_path:
                on_path.add(callee)
                stack.append((callee, iter(callees[callee])))
    return list(order.values())


def call_counts(functions) -> Counter:
    """How many calls of each function `functions` make."""
    return Counter(op.attrs["callee"].name for fn in functions for op in ir.walk_ops(fn.body)
                   if op.name == "call")


def dim_mapping(fn: ir.Function, args: list) -> dict | None:
    """The caller's size for each of fn's dimension names, when the call binds each name
    to one known size (a name or a literal), and each literal size of fn's to itself;
    else None: the call then stays, after the front end's checks that its arguments'
    sizes are what fn's types say (compiler/lower.py, check_call_sizes)."""
    dims: dict = {}
    for p, a in zip(fn.param_types, args):
        for d, e in zip(p.shape, a.type.shape):
            if isinstance(d, int) and e != d:
                return None
            if isinstance(d, str) and (e == ir.DYN or dims.setdefault(d, e) != e):
                return None
    return {d: e for d, e in dims.items() if d != e}


def retype(block: Block, dims: dict) -> None:
    """Every type in block and its regions with its dimension names replaced."""
    if not dims:
        return
    for v in block.args:
        v.type = sized(v.type, dims)
    for op in block.ops:
        for r in op.results:
            r.type = sized(r.type, dims)
        if "type" in op.attrs:  # shape_cast
            op.attrs["type"] = sized(op.attrs["type"], dims)
        for region in op.regions:
            retype(region, dims)


def generated(name: str) -> bool:
    """Made by AD for its callers (`f.rev`, `f.bwd.0`, `f.fwd`), not asked for by name."""
    return any(part in ("rev", "bwd", "fwd") for part in name.split(".")[1:])


class DeadCode:
    name = "dce"

    def apply(self, module: ir.Module) -> ir.Module:
        for fn in module.functions.values():
            eliminate_dead_code(fn.body, effect_free, module)
        return module


def optimization_passes() -> list:
    """The `opt` stage, from `ad`."""
    from .licm import LICM
    from .loop_cse import LoopCSE
    from .unroll import Unroll
    return [Inline(), ConstantFold(), Unroll(), Simplify(), CSE(), LICM(), LoopCSE(),
            DeadCode()]

