"""The verifier: checks a module against the IR's rules and names the op and the broken rule.

Rules: every op is registered; has its operand count, region count and required
attributes; passes its type rule; declares result types its rule agrees with; uses only
values defined before it in an enclosing scope; defines each value once; every block ends
in the right terminator and has no other; `return` matches the function's signature; every
dimension name in a type is bound by the function's parameters; function attributes name
functions that exist (`derivative` and `tangent` always name one, whose signature is that
of such a rule); no function reaches itself, by calls or by differentiation (recursion).
For a module read from IR text, an error also gives the line and column of the op (or
function) in that text.
"""

from __future__ import annotations

from .calls import RULE_ATTRS, closing_site, describe, listed_types, module_calls, rule_mismatch
from .core import Block, Function, Module, Op, Symbol, Value
from .errors import TypeRuleError, VerifyError
from .printer import Printer, format_attr
from .registry import REGISTRY
from .types import assignable, dim_names, refines


class FunctionVerifier:
    def __init__(self, module: Module, fn: Function):
        self.module = module
        self.fn = fn
        printer = Printer()
        printer.function(fn)  # only for the names used in messages
        self.namer = printer.namer
        self.defined: set[Value] = set()
        # the values in scope at the op being checked: those of enclosing blocks defined
        # before it. One set, grown and shrunk as blocks open and close, keeps the check
        # linear in the ops (a fresh set per op made a function of 45000 ops take seconds)
        self.visible: set[Value] = set()
        self.bound_dims = {d for t in fn.param_types for d in dim_names(t)}

    def fail(self, message: str, op: Op | None = None) -> VerifyError:
        where = f"@{self.fn.name}"
        if op is not None:
            where += f": op '{op.name}' ({self.describe(op)})"
        # an op a pass made after parsing has no position: better none than the function's
        line, col = self.module.positions.get(self.fn.name if op is None else op, (None, None))
        return VerifyError(f"{where}: {message}", line, col)

    def describe(self, op: Op) -> str:
        uses = ", ".join(self.namer.use(v) for v in op.operands)
        text = op.name + (" " + uses if uses else "")
        if op.results:
            text = ", ".join(self.namer.use(r) for r in op.results) + " = " + text
        return text

    def run(self) -> None:
        self.check_attrs()
        self.define_all(self.fn.body.args, None)
        for v in self.fn.body.args:
            self.check_dims(v, None)
        self.block(self.fn.body, "return")
        ret = self.fn.body.terminator
        got = [v.type for v in ret.operands]
        if len(got) != len(self.fn.return_types) or not all(
                assignable(g, e) for g, e in zip(got, self.fn.return_types)):
            raise self.fail(f"returns {', '.join(map(str, got)) or 'nothing'} but the function "
                            f"is declared to return {', '.join(map(str, self.fn.return_types))}", ret)

    def check_attrs(self) -> None:
        for key, value in self.fn.attrs.items():
            if key in RULE_ATTRS and not isinstance(value, Symbol):
                raise self.fail(f"attribute {key} must name a function (@name), got "
                                f"{format_attr(value)}")
            if isinstance(value, Symbol) and value.name not in self.module.functions:
                raise self.fail(f"attribute {key} names unknown function @{value.name}")
            if key in RULE_ATTRS:
                self.check_rule(key, self.module.functions[value.name])

    def check_rule(self, kind: str, rule: Function) -> None:
        wrong = rule_mismatch(kind, self.fn, rule)
        if wrong:
            verb, expected, got = wrong
            raise self.fail(f"attribute {kind}: a {kind} rule of @{self.fn.name} must {verb} "
                            f"{listed_types(verb, expected)}, but @{rule.name} {verb}s "
                            f"{listed_types(verb, got)}")

    def define_all(self, values: list[Value], op: Op | None) -> None:
        for v in values:
            if v in self.defined:
                raise self.fail(f"value {self.namer.use(v)} is defined twice", op)
            self.defined.add(v)
            self.visible.add(v)

    def check_dims(self, value: Value, op: Op | None) -> None:
        for d in dim_names(value.type):
            if d not in self.bound_dims:
                raise self.fail(f"type {value.type} of {self.namer.use(value)} uses dimension "
                                f"'{d}', which no parameter binds", op)

    def block(self, block: Block, terminator: str, owner: Op | None = None) -> None:
        if not block.ops and owner is not None:
            raise self.fail(f"its region is empty: it must end in '{terminator}'", owner)
        if not block.ops or block.ops[-1].name != terminator:
            last = block.ops[-1] if block.ops else None
            raise self.fail(f"block does not end in '{terminator}'", last)
        for k, op in enumerate(block.ops):
            opdef = REGISTRY.get(op.name)
            if opdef is not None and opdef.terminator and k != len(block.ops) - 1:
                raise self.fail("terminator in the middle of a block", op)
            if op.name in ("yield", "return") and op.name != terminator:
                raise self.fail(f"'{op.name}' where '{terminator}' is expected", op)
            self.op(op)
            self.define_all(op.results, op)
        self.visible.difference_update(r for op in block.ops for r in op.results)

    def op(self, op: Op) -> None:
        opdef = REGISTRY.get(op.name)
        if opdef is None:
            raise self.fail(f"unknown op '{op.name}'", op)
        for v in op.operands:
            if v not in self.visible:
                raise self.fail(f"operand {self.namer.use(v)} is not defined before this op "
                                f"in an enclosing scope", op)
        if opdef.operands is not None and len(op.operands) != opdef.operands:
            raise self.fail(f"takes {opdef.operands} operands, has {len(op.operands)}", op)
        if len(op.regions) != opdef.region_arity:
            raise self.fail(f"takes {opdef.region_arity} regions, has {len(op.regions)}", op)
        for name in opdef.attrs:
            if name not in op.attrs:
                raise self.fail(f"missing attribute '{name}'", op)
        for region in op.regions:
            self.define_all(region.args, op)
            self.block(region, "yield", op)
            self.visible.difference_update(region.args)
        for r in op.results:
            self.check_dims(r, op)
        try:
            inferred = opdef.infer(op, self.module)
        except TypeRuleError as e:
            raise self.fail(str(e), op) from None
        declared = [r.type for r in op.results]
        if len(declared) != len(inferred) or not all(
                refines(d, i) for d, i in zip(declared, inferred)):
            raise self.fail(f"result types {', '.join(map(str, declared)) or '(none)'} do not "
                            f"match the type rule's {', '.join(map(str, inferred)) or '(none)'}", op)


def verify_function(module: Module, fn: Function) -> None:
    FunctionVerifier(module, fn).run()


def verify_module(module: Module) -> None:
    for fn in module.functions.values():
        verify_function(module, fn)
    cycle = module_calls(module).cycle()
    if cycle:
        name, op = closing_site(cycle)
        message = "recursion is not supported: " + describe(cycle, lambda n: f"@{n}")
        raise FunctionVerifier(module, module.functions[name]).fail(message, op)
