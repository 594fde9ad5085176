"""The IR's data structures: values, ops, blocks, functions, modules.

SSA with structured control flow. An op has operands (values), results (values), attributes
(plain data) and regions; a region is one block with arguments and a list of ops that ends
in a terminator (`yield` in regions, `return` in a function body). There are no branches:
only `runtime` turns regions into basic blocks.

Values carry a type and an optional `name_hint` from the source; names for printing are
chosen by the printer, so dumps stay stable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .types import F64, Type

# The derivative forms whose functions are named `f.kind` (see Function.derived_name).
DERIVED_KINDS = ("grad", "value_and_grad", "jvp", "vjp", "hvp", "hessian", "jacfwd", "jacrev")


@dataclass(frozen=True)
class Symbol:
    """A reference to a function of the module, printed `@name`."""

    name: str

    def __str__(self) -> str:
        return f"@{self.name}"


@dataclass(frozen=True)
class Loc:
    """Where an op came from in the source, for run-time error messages."""

    filename: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.filename}:{self.line}:{self.col}"


class Value:
    """An SSA value: an op result or a block argument."""

    __slots__ = ("type", "name_hint", "owner", "index")

    def __init__(self, type: Type, name_hint: str | None = None, owner: Any = None, index: int = 0):
        self.type = type
        self.name_hint = name_hint
        self.owner = owner  # the defining Op, or the Block for an argument
        self.index = index  # position among the owner's results or arguments

    @property
    def defining_op(self) -> "Op | None":
        return self.owner if isinstance(self.owner, Op) else None

    def __repr__(self) -> str:
        return f"<Value {self.name_hint or '?'}: {self.type}>"


class Block:
    """A region's single block: arguments, then ops, the last one a terminator."""

    def __init__(self, arg_types: list[Type] = (), arg_names: list[str | None] | None = None):
        names = arg_names or [None] * len(arg_types)
        self.args = [Value(t, n, self, i) for i, (t, n) in enumerate(zip(arg_types, names))]
        self.ops: list[Op] = []

    def add_arg(self, type: Type, name: str | None = None) -> Value:
        v = Value(type, name, self, len(self.args))
        self.args.append(v)
        return v

    @property
    def terminator(self) -> "Op | None":
        return self.ops[-1] if self.ops else None


# The attribute of an `index` or `update` op that holds the name the program indexes the
# array by (y in y[i]). Passes replace the operand with values of other names (after
# y = x, or y = x * 1.0 simplified, it is x); an index out of range names the array as
# written, on both backends. The printer leaves it out where the operand has that name.
WRITTEN_NAME = "array"


def computing_attrs(op: "Op") -> list:
    """op's attributes but the written name, sorted: two ops that differ only in the name
    compute the same value, and the first of them is the one to fail, so merging them
    keeps its message."""
    return sorted((k, v) for k, v in op.attrs.items() if k != WRITTEN_NAME)


def indexed_name(op: "Op") -> str | None:
    """The name of the array `op` indexes, for messages: the one written, else its value's."""
    return op.attrs.get(WRITTEN_NAME, op.operands[0].name_hint)


class Op:
    """One operation. `name` keys the op registry (ir.ops.REGISTRY)."""

    __slots__ = ("name", "operands", "results", "attrs", "regions", "loc")

    def __init__(self, name: str, operands: list[Value], result_types: list[Type],
                 attrs: dict[str, Any] | None = None, regions: list[Block] | None = None,
                 loc: Loc | None = None, result_names: list[str | None] | None = None):
        self.name = name
        self.operands = list(operands)
        self.set_result_types(result_types, result_names)
        self.attrs = dict(attrs or {})
        self.regions = list(regions or [])
        self.loc = loc

    def set_result_types(self, types: list[Type], names: list[str | None] | None = None) -> None:
        names = names or [None] * len(types)
        self.results = [Value(t, n, self, i) for i, (t, n) in enumerate(zip(types, names))]

    @property
    def result(self) -> Value:
        assert len(self.results) == 1, f"{self.name} has {len(self.results)} results"
        return self.results[0]

    def __repr__(self) -> str:
        return f"<Op {self.name}>"


@dataclass
class Function:
    name: str
    body: Block
    return_types: list[Type]
    attrs: dict[str, Any] = field(default_factory=dict)
    filename: str | None = None

    @property
    def params(self) -> list[Value]:
        return self.body.args

    @property
    def param_types(self) -> list[Type]:
        return [p.type for p in self.body.args]

    @property
    def float_positions(self) -> list[int]:
        """Positions of the f64 parameters (scalars and arrays): what derivatives are
        taken with respect to unless told otherwise."""
        return [k for k, t in enumerate(self.param_types) if t.elem == F64]

    def derived_name(self, kind: str, wrt: list[int]) -> str:
        """The name of a function derived from this one: `f.kind`, with the wrt
        positions appended unless they are f's f64 parameters (`f.jvp.0.2`)."""
        suffix = "" if list(wrt) == self.float_positions else "." + ".".join(map(str, wrt))
        return f"{self.name}.{kind}{suffix}"

    @property
    def written(self) -> str:
        """How a program writes this function: `f`, or for one derived from f its
        derivative forms, `jvp(grad(f), wrt=x)` for `f.grad.jvp.0`. A derived function's
        parameters begin with those of the function it derives from, so its position k
        names the same parameter at every depth."""
        base, *parts = self.name.split(".")
        forms: list[tuple[str, list[int]]] = []  # (kind, wrt positions), innermost first
        for part in parts:
            if part in DERIVED_KINDS:
                forms.append((part, []))
            elif part.isdigit() and forms:
                forms[-1][1].append(int(part))
            else:
                return self.name  # not a derived function's name
        text = base
        for kind, wrt in forms:
            names = [self.params[k].name_hint or f"#{k}" for k in wrt]
            shown = names[0] if len(names) == 1 else f"({', '.join(names)})"
            text = f"{kind}({text}, wrt={shown})" if names else f"{kind}({text})"
        return text


@dataclass
class Module:
    functions: dict[str, Function] = field(default_factory=dict)
    # For a module read from IR text: (line, col) there of each op and of each function
    # (keyed by name), so that the verifier can say where in the text a rule is broken.
    # Copies do not keep it.
    positions: dict = field(default_factory=dict, repr=False, compare=False)

    def add(self, fn: Function) -> Function:
        self.functions[fn.name] = fn
        return fn

    def __getitem__(self, name: str) -> Function:
        return self.functions[name]

    def __contains__(self, name: str) -> bool:
        return name in self.functions


def ops_within(op: Op):
    """Every op inside op's regions, depth first (op itself not included)."""
    for region in op.regions:
        yield from walk_ops(region)


def uses_within(op: Op) -> set:
    """The values that ops inside op's regions use (op's own operands not included)."""
    return {v for inner in ops_within(op) for v in inner.operands}


def outer_uses(block: Block, cache: dict) -> list:
    """The values that `block` (or a region in it) uses but does not define, in the order
    of their first use. `cache` (the id of a block -> its list) keeps each nested block's,
    so that asking at every level of n nested ifs takes n steps, not n^2; whoever holds it
    must not change the blocks meanwhile."""
    found = cache.get(id(block))
    if found is None:
        defined, uses = set(block.args), {}  # a dict keeps the order
        for op in block.ops:
            uses.update((v, None) for v in op.operands if v not in defined)
            for region in op.regions:
                uses.update((v, None) for v in outer_uses(region, cache) if v not in defined)
            defined.update(op.results)
        found = cache[id(block)] = list(uses)
    return found


def defined_within(op: Op) -> set:
    """The values op's regions define: their ops' results and their blocks' arguments."""
    values = set()
    for region in op.regions:
        values.update(region.args)
        for inner in walk_ops(region):
            values.update(inner.results)
            for block in inner.regions:
                values.update(block.args)
    return values


def walk_ops(block: Block):
    """Every op in the block and, depth first, in its regions. A stack of our own: nested
    generators passed each op up through one generator per level of nesting."""
    stack = [iter(block.ops)]
    while stack:
        op = next(stack[-1], None)
        if op is None:
            stack.pop()
            continue
        yield op
        stack.extend(iter(region.ops) for region in reversed(op.regions))
