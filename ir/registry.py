"""The op registry: one `OpDef` per op name holds every rule about that op.

Rule signatures, one per kind of rule:

- `infer(op, module) -> list[Type]`: the type rule. Reads operand types, attributes and
  region yields; raises `TypeRuleError` with a user-facing sentence. The builder uses it to
  type new ops, the verifier to check printed or transformed ones, the front end to report
  type errors at the source location.
- `interp(op, args, ctx) -> list`: the meaning of the op, on NumPy values. `ctx` is the
  running interpreter (for regions, calls and the dimension environment). Constant folding
  calls the same function, so each op has one definition of what it means.
- `tangent`, `adjoint`, `lower`: forward-mode, reverse-mode and LLVM lowering rules; filled
  in by the AD and JIT work, always here and never in a side table.

`region_arity` is the number of regions; `operands` the exact operand count, or None when
variadic (the type rule then checks it); `attrs` the required attribute names; `pure` says
that removing an unused op changes nothing (false for `assert`); `costly` marks math
functions far dearer than arithmetic (exp, tanh, lgamma, ...): worth computing once
before a loop (passes/licm.py) or storing for the reverse sweep (passes/ad.py). `verb`
names what an elementwise op of several operands does, for messages about its operands
("cannot add f64[n] and f64[m]"). `folds` false: constant folding must not compute the op's
f64 result with `interp`, as native code computes it another way (exp, tanh, pow: its own
approximations or libm's, NumPy's differ in the last bit), so folding would make a
specialized function's result differ from the generic one's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .errors import TypeRuleError


@dataclass
class OpDef:
    name: str
    infer: Callable
    interp: Callable
    operands: int | None = None
    region_arity: int = 0
    attrs: tuple[str, ...] = ()
    pure: bool = True
    terminator: bool = False
    costly: bool = False
    tangent: Callable | None = None
    adjoint: Callable | None = None
    lower: Callable | None = None
    verb: str | None = None
    folds: bool = True


REGISTRY: dict[str, OpDef] = {}


def register(opdef: OpDef) -> OpDef:
    assert opdef.name not in REGISTRY, f"op {opdef.name} registered twice"
    REGISTRY[opdef.name] = opdef
    return opdef


def lookup(name: str) -> OpDef:
    try:
        return REGISTRY[name]
    except KeyError:
        raise TypeRuleError(f"unknown op '{name}'") from None
