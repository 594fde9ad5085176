"""Types made as precise as the type rules say again, after a pass replaced values.

A type rule reads more than its operands' types: the rule of `full`, `arange`, `build`
reads the value of its i64 size operands (`ir.ops.dim_of_value`): a constant is a literal
size in the result type, `dim` of an axis is that axis's size, anything else `?`. A pass
that replaces a value by a better known one (a constant for a specialized parameter, a
folded sum, an argument of an inlined call, the index of an unrolled loop, a forwarded
loop-invariant value) leaves the declared types behind their rules: `full %0, %k`
declared `f64[?]` where the rule now says `f64[3]`, which the verifier rejects (a
declared type may be more precise than its rule, not less).

`narrow_types(block, module)` runs the rules again, operands before users, and gives
every result the more precise of its declared and its inferred type, so the new sizes
reach everything computed from them:

- a `for` or `while` carries the most precise types its initial values and its yields
  agree on: tried first with the initial values' types, widened (and the body narrowed
  again) while a yield disagrees;
- an `if` gives what both branches yield;
- where a more precise operand makes a rule fail, a literal meeting a dimension name
  (`zeros(k) + x` with k = 3 and `x: f64[n]`, which the generic program checks at run
  time), the op reads that operand through a `shape_cast` to its former type, so the
  check stays a run-time one;
- a `?` that became 1 is read as `?` (through a `shape_cast`) by every op: a literal 1
  broadcasts, a `?` that happens to be 1 must equal the size it meets, and the program
  must keep its meaning.

Types only ever become more precise, and a value's narrowed type is assignable wherever
its former one was, so block arguments, yields and returns stay valid.
"""

from __future__ import annotations

import ir
from ir import Block, Op, Value
from ir.errors import TypeRuleError
from ir.registry import REGISTRY
from ir.types import DYN, Type, array_or_scalar, join

LOOPS = ("for", "while")


def narrow_types(block: Block, module: ir.Module) -> None:
    """Narrows the types of block and its regions (module holds the callees)."""
    Narrower(module).block(block)


def meet(declared: Type, inferred: Type) -> Type | None:
    """The more precise of two descriptions of one value, None where they disagree."""
    if declared.elem != inferred.elem or declared.rank != inferred.rank:
        return None
    dims = []
    for d, i in zip(declared.shape, inferred.shape):
        if d != i and DYN not in (d, i):
            return None
        dims.append(i if d == DYN else d)
    return array_or_scalar(declared.elem, tuple(dims))


class Narrower:
    def __init__(self, module: ir.Module):
        self.module = module
        self.former: dict[Value, Type] = {}  # each narrowed value's type before
        self.casts: list[tuple[Block, Op, Op, int]] = []  # (block, cast, user, operand)

    def narrow(self, value: Value, t: Type) -> None:
        if t != value.type:
            self.former.setdefault(value, value.type)
            value.type = t

    def block(self, block: Block) -> None:
        ops, block.ops = block.ops, []
        for op in ops:  # appends op, after the casts it needs
            self.op(block, op)

    def op(self, block: Block, op: Op) -> None:
        self.keep_units_dynamic(block, op)
        if op.name in LOOPS:
            self.loop(op)
        else:
            for region in op.regions:
                self.block(region)
        types = self.inferred(op)
        if types is None and self.cast_back(block, op):
            types = self.inferred(op)
        block.ops.append(op)
        for r, t in zip(op.results, types or []):
            self.narrow(r, t)

    def inferred(self, op: Op) -> list[Type] | None:
        """op's result types, each the meet of its declared and its rule's type; None
        where the rule fails or disagrees with the declared type."""
        declared = [r.type for r in op.results]
        try:
            rule = if_types(op) if op.name == "if" else REGISTRY[op.name].infer(op, self.module)
        except TypeRuleError:
            return None
        if len(rule) != len(declared):
            return None
        types = [meet(d, i) for d, i in zip(declared, rule)]
        return None if None in types else types

    def keep_units_dynamic(self, block: Block, op: Op) -> None:
        """Makes op read an operand whose `?` became 1 as `?` there: a literal 1
        broadcasts, a `?` that happens to be 1 does not (it must equal the other size)."""
        for k, v in enumerate(op.operands):
            if v in self.former:
                dynamic = units_dynamic(v.type, self.former[v])
                if dynamic != v.type:
                    self.cast(block, op, k, dynamic)

    def cast_back(self, block: Block, op: Op) -> bool:
        """Makes op read its narrowed operands through a `shape_cast` to their former
        types (the rule held for those); False when it has none."""
        narrowed = [k for k, v in enumerate(op.operands) if self.former.get(v, v.type) != v.type]
        for k in narrowed:
            self.cast(block, op, k, self.former[op.operands[k]])
        return bool(narrowed)

    def cast(self, block: Block, op: Op, k: int, t: Type) -> None:
        """op's operand k read through a `shape_cast` to t, inserted before op."""
        cast = Op("shape_cast", [op.operands[k]], [t], {"type": t}, loc=op.loc)
        block.ops.append(cast)
        op.operands[k] = cast.results[0]
        self.casts.append((block, cast, op, k))

    def loop(self, op: Op) -> None:
        """Narrows the carried values of a `for` or `while` and then its regions."""
        lead = 1 if op.name == "for" else 0
        inits = op.operands[3:] if op.name == "for" else op.operands
        carried = [v.type for v in inits]  # assignable to the declared ones: more precise
        saved = {v: v.type for v in ir.defined_within(op)}
        first_cast = len(self.casts)
        while True:
            for region in op.regions:
                for arg, t in zip(region.args[lead:], carried):
                    self.narrow(arg, t)
                self.block(region)
            yields = [v.type for v in op.regions[-1].terminator.operands]
            wider = [join(c, y) for c, y in zip(carried, yields)]
            if wider == carried:
                return
            # start again from the declared types, which the wider ones refine
            self.undo_casts(first_cast)
            for v, t in saved.items():
                v.type = t
            carried = wider

    def undo_casts(self, first: int) -> None:
        """Removes the casts inserted since casts[first]: their users read the value again."""
        for block, cast, user, k in reversed(self.casts[first:]):
            user.operands[k] = cast.operands[0]
            block.ops.remove(cast)
        del self.casts[first:]


def units_dynamic(t: Type, former: Type) -> Type:
    """t with `?` again where former had `?` and t has 1."""
    return array_or_scalar(t.elem, tuple(DYN if d == 1 and f == DYN else d
                                         for d, f in zip(t.shape, former.shape)))


def if_types(op: Op) -> list[Type]:
    """What both branches of an `if` yield (its rule returns the declared types)."""
    REGISTRY["if"].infer(op, None)  # the condition and the yields are checked
    then, other = (region.terminator.operands for region in op.regions)
    return [join(a.type, b.type) for a, b in zip(then, other)]
