"""The IR text format. `ir.parser.parse_module` reads it back: print -> parse -> print is
the identity.

    func @lse(%x: f64[n]) -> f64 {
      %m = reduce_max %x : f64
      %0 = sub %x, %m : f64[n]
      %1 = exp %0 : f64[n]
      %2 = reduce_sum %1 : f64
      %3 = log %2 : f64
      %4 = add %m, %3 : f64
      return %4
    }

An op line is `results = name operands {attributes} : result types`, then its regions in
braces; a region that has arguments starts with `^(%i: i64, ...):`. Printed with
`locations=True`, an op line ends with the place in the source the op came from,
`loc("lse.dp":3:10)` (file, line, column); ops that AD derives from an op carry that op's
place. The parser reads it back. Value names come from
source names (`name_hint`), made unique with `.1`, `.2`; unnamed values are numbered.
"""

from __future__ import annotations

import json
import math

from .core import WRITTEN_NAME, Block, Function, Module, Op, Symbol, Value
from .types import ArrayType, ScalarType

INDENT = "  "


class Namer:
    """Gives each value of a function a unique printed name, in definition order."""

    def __init__(self):
        self.names: dict[Value, str] = {}
        self.taken: set[str] = set()
        self.counter = 0
        # the first suffix k not yet tried for each name hint: a variable assigned 2000
        # times tried y.1, y.2, ... afresh at each, quadratic in the function's length
        self.suffix: dict[str, int] = {}

    def define(self, value: Value) -> str:
        if value in self.names:  # only malformed IR defines a value twice; keep one name
            return "%" + self.names[value]
        if value.name_hint is None:
            name = str(self.counter)
            self.counter += 1
        else:
            name = value.name_hint
            k = self.suffix.get(name, 1)
            while name in self.taken:
                name = f"{value.name_hint}.{k}"
                k += 1
            self.suffix[value.name_hint] = k
        self.taken.add(name)
        self.names[value] = name
        return "%" + name

    def use(self, value: Value) -> str:
        name = self.names.get(value)
        return "%" + name if name is not None else f"%<undefined {value.name_hint or ''}>"


def format_attr(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):  # with its sign, which a hand-written const -nan has
            return "-nan" if math.copysign(1.0, value) < 0 else "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if value is None:
        return "none"
    if isinstance(value, list):
        return "[" + ", ".join(format_attr(v) for v in value) + "]"
    if isinstance(value, (Symbol, ScalarType, ArrayType)):
        return str(value)
    raise TypeError(f"cannot print attribute {value!r}")


def format_attrs(attrs: dict) -> str:
    if not attrs:
        return ""
    return " {" + ", ".join(f"{k} = {format_attr(attrs[k])}" for k in sorted(attrs)) + "}"


def shown_attrs(op: Op) -> dict:
    """op's attributes less the name an array is indexed by where its value has that name
    (the parser reads it back as that value's name): y[i] prints as index %y, %i."""
    if op.operands and op.attrs.get(WRITTEN_NAME, "") == op.operands[0].name_hint:
        return {k: v for k, v in op.attrs.items() if k != WRITTEN_NAME}
    return op.attrs


def format_types(types) -> str:
    return ", ".join(str(t) for t in types)


def format_loc(loc) -> str:
    return f' loc({json.dumps(loc.filename)}:{loc.line}:{loc.col})' if loc is not None else ""


class Printer:
    def __init__(self, locations: bool = False):
        self.namer = Namer()
        self.lines: list[str] = []
        self.locations = locations

    def function(self, fn: Function) -> None:
        params = ", ".join(f"{self.namer.define(p)}: {p.type}" for p in fn.params)
        rets = fn.return_types
        ret = str(rets[0]) if len(rets) == 1 else f"({format_types(rets)})"
        attrs = f" attributes{format_attrs(fn.attrs)}" if fn.attrs else ""
        self.lines.append(f"func @{fn.name}({params}) -> {ret}{attrs} {{")
        self.block_ops(fn.body, 1)
        self.lines.append("}")

    def block_ops(self, block: Block, depth: int) -> None:
        for op in block.ops:
            self.op(op, depth)

    def head(self, op: Op) -> str:
        """The op's line without its regions; names its results."""
        uses = ", ".join(self.namer.use(v) for v in op.operands)
        if op.name == "const" and set(op.attrs) == {"value"}:
            uses = format_attr(op.attrs["value"])  # constants read best inline: const 1.0
            head = f"const {uses}"
        else:
            head = op.name + (" " + uses if uses else "") + format_attrs(shown_attrs(op))
        if op.results:
            defs = ", ".join(self.namer.define(r) for r in op.results)
            head = f"{defs} = {head} : {format_types(r.type for r in op.results)}"
        return head + format_loc(op.loc) if self.locations else head

    def op(self, op: Op, depth: int) -> None:
        pad = INDENT * depth
        head = self.head(op)
        if not op.regions:
            self.lines.append(pad + head)
            return
        self.lines.append(f"{pad}{head} {{")
        for k, region in enumerate(op.regions):
            if k > 0:
                self.lines.append(f"{pad}}} {{")
            if region.args:
                args = ", ".join(f"{self.namer.define(a)}: {a.type}" for a in region.args)
                self.lines.append(f"{pad}^({args}):")
            self.block_ops(region, depth + 1)
        self.lines.append(pad + "}")


def print_function(fn: Function, locations: bool = False) -> str:
    p = Printer(locations)
    p.function(fn)
    return "\n".join(p.lines) + "\n"


def print_module(module: Module, locations: bool = False) -> str:
    return "\n".join(print_function(fn, locations) for fn in module.functions.values())
