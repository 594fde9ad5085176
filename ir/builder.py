"""Building IR: an insertion point plus one method that types each new op by its rule."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any

from .core import Block, Loc, Module, Op, Value
from .registry import lookup
from .errors import TypeRuleError
from .types import MAX_RANK, Type


class Builder:
    """Appends ops to `block`, typing each with its registry type rule."""

    def __init__(self, module: Module, block: Block | None = None):
        self.module = module
        self.block = block
        self.loc: Loc | None = None  # attached to every op built while set

    def op(self, name: str, operands: list[Value], attrs: dict[str, Any] | None = None,
           regions: list[Block] | None = None, result_types: list[Type] | None = None,
           names: list[str | None] | None = None) -> Op:
        """Build and append op `name`. The type rule gives the result types unless they are
        passed (as for `if`, whose results are declared); it raises TypeRuleError."""
        op = Op(name, operands, [], attrs, regions, self.loc)
        types = lookup(name).infer(op, self.module) if result_types is None else result_types
        for t in types:
            if t.rank > MAX_RANK:
                raise TypeRuleError(f"this would be an array of {t.rank} dimensions; arrays "
                                    f"have at most {MAX_RANK} (NumPy's limit)")
        op.set_result_types(types, names)
        self.block.ops.append(op)
        return op

    def emit(self, name: str, *operands: Value, name_hint: str | None = None, **attrs) -> Value:
        """Build a single-result op and return its value."""
        return self.op(name, list(operands), attrs, names=[name_hint]).result

    def const(self, value, name_hint: str | None = None) -> Value:
        return self.emit("const", value=value, name_hint=name_hint)

    def size_check(self, value: Value, axis: int, size: Value, message: str) -> Op:
        """A run-time check that axis `axis` of array `value` has `size` elements; it
        fails with `message` and the two sizes."""
        return self.op("shape_check", [self.emit("dim", value, axis=axis), size],
                       {"message": message})

    @contextmanager
    def located(self, loc: Loc | None):
        """Attach `loc` to the ops built during the `with`, then restore the previous one:
        an op's rule that builds a region's ops at their own places must not leave the
        last of those places to the ops built after it (the loop itself, say)."""
        saved = self.loc
        self.loc = loc
        try:
            yield
        finally:
            self.loc = saved

    @contextmanager
    def at(self, block: Block):
        """Build into `block` for the duration of the `with`."""
        saved = self.block
        self.block = block
        try:
            yield block
        finally:
            self.block = saved
