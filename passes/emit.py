"""What both AD modes share: emitting the IR their rules ask for, and activity analysis.

`Emitter` is the part of the interface of derivative rules (ir/ops.py) that does not
depend on the direction: `x` (a value's primal where code is emitted), `emit`, `const`,
`times`/`over` (products with a derivative that may be infinite, 0 where the other factor
is 0), loop nests for array rules, trip counts. The reverse-mode `Differentiator`
(passes/ad.py) and the forward-mode `Tangents` (passes/forward.py) extend it.
"""

from __future__ import annotations

from contextlib import contextmanager

import ir
from ir import F64, I64, Block, Builder, Function
from ir.ops import REPEATED, constant, dim_of_value
from ir.ranges import Ranges
from ir.types import DYN, ZERO


class DifferentiationError(Exception):
    """A program that AD cannot differentiate; `loc` says where."""

    def __init__(self, message: str, loc: ir.Loc | None):
        super().__init__(message)
        self.message = message
        self.loc = loc


class Emitter:
    """Emits IR at `self.b`; `self.primal` maps values of the function being transformed
    to the values holding them where code is emitted."""

    def __init__(self, module: ir.Module, fn: Function, wrt: list[int]):
        self.module = module
        self.fn = fn
        self.wrt = wrt
        self.active_values = activity(fn, wrt)
        self.primal: dict = {}
        self.b = Builder(module)
        self.running: list = []  # (start, stop, step) of the loops whose body is being emitted

    def x(self, v):
        """The primal value of `v` where code is being emitted."""
        return self.primal[v]

    def xs(self, values) -> list:
        return [self.primal[v] for v in values]

    def emit(self, name: str, *operands, **attrs):
        return self.b.emit(name, *operands, **attrs)

    def const(self, value):
        return self.b.const(value)

    def active(self, v) -> bool:
        return v in self.active_values

    def times(self, d_in, d):
        """d_in * d, but 0 where d_in is 0 even if d is infinite or NaN. Where d is bounded
        (a finite constant, or ode's step 2.0 / s inside the loop over s steps, which runs
        only for s >= 1: ir/ranges.py) the product is that already (a zero, signed as JAX's
        product is), and is left unguarded: ode's RK4 weights and step made 15 of the 23
        guards of its reverse step, whose compares and selects took 11% of its time."""
        product = self.emit("mul", d_in, d)
        return product if self.ranges().bounded(d) else self.guarded(d_in, product)

    def over(self, d_in, d):
        """d_in / d, but 0 where d_in is 0 even if d is 0 (unguarded where d is bounded
        and nonzero, as in `times`)."""
        quotient = self.emit("div", d_in, d)
        return quotient if self.ranges().bounded_away_from_zero(d) else self.guarded(d_in, quotient)

    def ranges(self) -> Ranges:
        """What values can be where code is being emitted."""
        return Ranges(self.running)

    @contextmanager
    def running_loop(self, start, stop, step):
        """Code emitted inside runs in the body of a loop over range(start, stop, step)."""
        self.running.append((start, stop, step))
        try:
            yield
        finally:
            self.running.pop()

    def guarded(self, d_in, value):
        """d_in * d (or / d), marked so that differentiating it again reads it as the
        product it is, not as a branch (ir.ops.zero_guard)."""
        zero = self.const(0.0)
        return self.emit("select", self.emit("eq", d_in, zero), zero, value, zero_guard=True)

    def is_extreme(self, e, extreme):
        """e == extreme, or both NaN: max and min propagate NaN, so when an element is NaN
        the extreme is NaN, which nothing equals, and the first NaN is the one that won
        (as for max(x) of an array and max(a, b))."""
        both_nan = self.emit("and", self.emit("ne", e, e), self.emit("ne", extreme, extreme))
        return self.emit("or", self.emit("eq", e, extreme), both_nan)

    def spread(self, value, axis, like):
        """`value` repeated along the axis of `like` that a reduction removed (every axis
        when axis is None), at the shape of `like`."""
        if like.type.rank == 0:
            return value
        if axis is None:
            return self.emit("full", value, *self.dims(like))
        return self.nest(self.dims(like), lambda idx: self.at(value, idx[:axis] + idx[axis + 1:]))

    def at(self, value, idx: list):
        """value[idx...], or value itself for no indices."""
        return self.emit("index", value, *idx, inbounds=True) if idx else value

    def zeros_like(self, value):
        if value.type.rank == 0:
            return self.const(ZERO[value.type.elem])
        zero = self.const(ZERO[value.type.elem])
        return self.emit("full", zero, *self.dims(value))

    def dims(self, value) -> list:
        return [self.emit("dim", value, axis=k) for k in range(value.type.rank)]

    def first_extreme(self, a, m, axis):
        """For max / min `m` of array `a` over `axis` (None: all axes): the indices of the
        first element, in row-major order, equal to m (axis None); else an i64 array over
        the other axes holding, along `axis`, the position of the first one."""
        dims = self.dims(a)
        if axis is None:
            size = self.const(1)
            for d in dims:
                size = self.emit("mul", size, d)

            def first(test):
                return self.nest_reduce("min", dims, lambda idx: self.emit(
                    "select", test(self.emit("index", a, *idx, inbounds=True)),
                    self.flat_index(idx, dims), size))
            flat = self.or_first_nan(first(lambda e: self.emit("eq", e, m)), size,
                                     lambda: first(lambda e: self.emit("ne", e, e)))
            return self.unflatten(flat, dims)

        def first(idx):
            def along(test):
                def hit(t):
                    elem = self.emit("index", a, *idx[:axis], t[0], *idx[axis:], inbounds=True)
                    return self.emit("select", test(elem), t[0], dims[axis])
                return self.nest_reduce("min", [dims[axis]], hit)
            m_here = self.at(m, idx)
            return self.or_first_nan(along(lambda e: self.emit("eq", e, m_here)), dims[axis],
                                     lambda: along(lambda e: self.emit("ne", e, e)))
        return self.nest(dims[:axis] + dims[axis + 1:], first)

    def products_of_others(self, a, axis):
        """For each element of `a`, the product of the other elements a reduction over
        `axis` (None: all axes) multiplies it with: the product of those before it times
        the product of those after it, two scans. Never the product over all divided by
        the element: that is NaN at an infinite element (prod([1, inf, 2]) has
        derivatives [inf, 2, inf]), 0 or inf where the whole product under- or
        overflows though the others' does not, and needs a case for each count of zeros."""
        dims = self.dims(a)
        if axis is None and len(dims) > 1:  # along the elements in row-major order
            size = self.const(1)
            for d in dims:
                size = self.emit("mul", size, d)
            flat = self.nest([size], lambda f: self.emit(
                "index", a, *self.unflatten(f[0], dims), inbounds=True))
            others = self.products_of_others(flat, 0)
            return self.nest(dims, lambda idx: self.emit(
                "index", others, self.flat_index(idx, dims), inbounds=True))
        if axis:  # the scans run along axis 0: move `axis` there and back
            moved = self.nest([dims[axis]] + dims[:axis] + dims[axis + 1:], lambda idx: self.emit(
                "index", a, *idx[1:axis + 1], idx[0], *idx[axis + 1:], inbounds=True))
            others = self.products_of_others(moved, 0)
            return self.nest(dims, lambda idx: self.emit(
                "index", others, idx[axis], *idx[:axis], *idx[axis + 1:], inbounds=True))
        before = self.exclusive_products(a, dims, backward=False)
        return self.emit("mul", before, self.exclusive_products(a, dims, backward=True))

    def exclusive_products(self, a, dims: list, backward: bool):
        """Along axis 0 of `a`: at each position, the product of the rows before it (after
        it when `backward`), 1 for none. A loop carrying the running product; the rows it
        stores are never read in the loop, so a reverse sweep through it tapes only that
        running product."""
        row = self.const(1.0)
        if len(dims) > 1:
            row = self.emit("full", row, *dims[1:])
        out = self.emit("full", self.const(1.0), *dims)
        last = self.emit("sub", dims[0], self.const(1)) if backward else None
        block = Block([I64, row.type, out.type], ["k", "running", "products"])
        k, running, products = block.args
        with self.b.at(block):
            at = self.emit("sub", last, k) if backward else k
            products = self.emit("update", products, running, at, inbounds=True)
            value = self.emit("index", a, at, inbounds=True)
            self.b.op("yield", [self.emit("mul", running, value), products])
        loop = self.b.op("for", [self.const(0), dims[0], self.const(1), row, out], regions=[block])
        return loop.results[1]

    def or_first_nan(self, found, none, first_nan):
        """`found`, the position of the first element equal to the extreme; or, when no
        element is (`none`), the position first_nan() computes: max and min propagate
        NaN, so the extreme is then NaN, which nothing equals, and the first NaN won.
        That second search runs only then (the position past the end was read before)."""
        then, other = ir.Block([], []), ir.Block([], [])
        with self.b.at(then):
            self.b.op("yield", [first_nan()])
        with self.b.at(other):
            self.b.op("yield", [found])
        missing = self.emit("eq", found, none)
        return self.b.op("if", [missing], regions=[then, other], result_types=[I64]).result

    # --- loop nests for the array rules
    def nest(self, sizes: list, element):
        """An array of shape `sizes` whose element at idx is element(idx)."""
        return self.nested("build", sizes, element, [], None)

    def nest_reduce(self, kind: str, sizes: list, element):
        return self.nested("reduce", sizes, element, [], kind)

    def nested(self, opname, sizes, element, idx, kind):
        if not sizes:
            return element(idx)
        block = Block([I64], ["i"])
        with self.b.at(block):
            inner = self.nested(opname, sizes[1:], element, idx + [block.args[0]], kind)
            self.b.op("yield", [inner])
        attrs = {"kind": kind} if kind else {}
        return self.b.op(opname, [self.const(0), sizes[0], self.const(1)], attrs, [block]).result

    def flat_index(self, idx: list, dims: list):
        flat = idx[0]
        for i, d in zip(idx[1:], dims[1:]):
            flat = self.emit("add", self.emit("mul", flat, d), i)
        return flat

    def unflatten(self, flat, dims: list) -> list:
        idx = []
        for d in reversed(dims[1:]):
            idx.append(self.emit("mod", flat, d))
            flat = self.emit("floordiv", flat, d)
        return [flat] + idx[::-1]

    # --- ranges
    def trip_count(self, start, stop, step):
        if constant(start) == 0 and constant(step) == 1:
            count = dim_of_value(stop)
            if isinstance(count, int) and count < 0:
                return self.const(0)  # range(-1) is empty: a tape of -1 rows fails
            if count != DYN:
                return stop  # a dimension or a nonnegative constant
            return self.emit("maximum", stop, self.const(0))
        return self.emit("trip_count", start, stop, step)

    def position(self, k, start, step):
        """The induction variable at iteration k."""
        if constant(start) == 0 and constant(step) == 1:
            return k
        return self.emit("add", start, self.emit("mul", k, step))

    def iteration(self, i, start, step):
        """The iteration number of induction variable i: len(range(start, i, step)), which
        does not wrap around where (i - start) // step does (range(-2**63, 2**63 - 1,
        2**62) numbered its iterations 0, 1, -2, -1)."""
        if constant(start) == 0 and constant(step) == 1:
            return i
        return self.emit("trip_count", start, i, step)


def checked_rule_result(b: Builder, value, like, what: str):
    """A custom rule's result `value`, as the derivative of `like` (a parameter or a
    result of the function) must be: of like's type (a `?` size of the rule's result is
    checked by the cast) and, on every axis whose size the type leaves open (`?`), of
    like's size at run time. `what` names the rule's result in the error."""
    if value.type != like.type:
        value = b.emit("shape_cast", value, type=like.type)
    shape = getattr(like.type, "shape", ())
    for axis, d in enumerate(shape):
        if d == DYN:
            where = f"axis {axis} of {what}" if len(shape) > 1 else what
            sizes = [b.emit("dim", value, axis=axis), b.emit("dim", like, axis=axis)]
            b.op("shape_check", sizes, {"message": where})
    return value


def mark_checked(op: ir.Op) -> None:
    """A replayed op repeats one that already ran on the same values, so its indices are
    known to be valid (negative ones still count from the end)."""
    for inner in [op, *(o for r in op.regions for o in ir.walk_ops(r))]:
        if inner.name == "index" and not inner.attrs.get("inbounds"):
            inner.attrs["inbounds"] = REPEATED


def activity(fn: Function, wrt: list[int]) -> set:
    """The values of fn that depend on a wrt parameter and can carry a derivative (f64)."""
    active = {fn.params[k] for k in wrt}
    while True:
        size = len(active)
        mark_block(fn.body, active)
        if len(active) == size:
            return active


def mark_block(block: Block, active: set) -> None:
    def add(values, flags):
        active.update(v for v, f in zip(values, flags) if f and v.type.elem == F64)

    for op in block.ops:
        if op.name in ("for", "while"):
            lead = 1 if op.name == "for" else 0
            inits = op.operands[3:] if op.name == "for" else op.operands
            yields = op.regions[-1].ops[-1].operands
            flags = [v in active or y in active for v, y in zip(inits, yields)]
            for region in op.regions:
                add(region.args[lead:], flags)
        for region in op.regions:
            mark_block(region, active)
        if op.name in ("for", "while"):
            add(op.results, [a in active for a in op.regions[-1].args[lead:]])
        elif op.name == "if":
            then, other = (r.ops[-1].operands for r in op.regions)
            add(op.results, [a in active or b in active for a, b in zip(then, other)])
        elif op.name in ("build", "reduce"):
            add(op.results, [op.regions[0].ops[-1].operands[0] in active])
        else:
            add(op.results, [any(v in active for v in op.operands)] * len(op.results))
