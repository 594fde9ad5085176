"""Scalarize: array-level ops become loops over scalars.

Elementwise math on arrays (with broadcasting), `select`, casts, reductions, `dot`,
`transpose` and `outer` are rewritten into `build` (one element per index) and
`reduce` regions whose bodies index the operands and apply the scalar op. After this pass
the only ops that touch whole arrays are `build`, `reduce`, `index`, `update`, `full`,
`arange`, `stack`, `dim`, `shape_cast`, `matmul` (a native kernel), a `transpose` whose
one use is a matmul's left operand (the kernel reads the matrix it transposes), and
calls; that is what native lowering handles, and what fusion works on.

    %z = add %x, %y : f64[n]
becomes
    %0 = dim %x {axis = 0} : i64
    %z = build %c0, %0, %c1 : f64[n] {
    ^(%i: i64):
      %1 = index %x, %i : f64
      %2 = index %y, %i : f64
      %3 = add %1, %2 : f64
      yield %3
    }

Where two operands' sizes are not the same by their types (a `?`), a `shape_check`
compares them at run time, so a mismatch is an error and never a silent wrong answer.
"""

from __future__ import annotations

from ir import Block, Builder, Function, Module, Op, errors, walk_ops
from ir.ops import ELEMENTWISE, IN_ORDER, KNOWN_ROWS, operand_mismatch
from ir.types import DYN, I64

from .fusion import uses_of

REDUCE_KIND = {"reduce_sum": "sum", "reduce_prod": "prod", "reduce_max": "max",
               "reduce_min": "min"}


class Scalarize:
    name = "scalarize"

    def apply(self, module: Module) -> Module:
        for fn in module.functions.values():
            rewrite_function(module, fn)
        return module


def rewrite_function(module: Module, fn: Function) -> None:
    b = Builder(module)
    rewrite_block(fn.body, b, {}, read_transposed(fn.body))


def read_transposed(root: Block) -> set:
    """The transposes of matrices whose one use is the left operand of a matmul: they
    stay, and native code reads the matrix they transpose in place of a transposed copy
    (the gradient of x @ w has transpose(x) @ ct, that of m @ v transpose(m) @ ct)."""
    uses = uses_of(root)
    kept = set()
    for op in walk_ops(root):
        readers = uses.get(op.result, []) if op.name == "transpose" else []
        if len(readers) == 1 and readers[0].name == "matmul" and \
                readers[0].operands[0] is op.result and op.operands[0].type.rank == 2:
            kept.add(op)
    return kept


def rewrite_block(block: Block, b: Builder, subst: dict, kept: set) -> None:
    old_ops, block.ops = block.ops, []
    with b.at(block):
        for op in old_ops:
            op.operands = [subst.get(v, v) for v in op.operands]
            for region in op.regions:
                rewrite_block(region, b, subst, kept)
            rule = None if op in kept else rule_for(op)
            if rule is None:
                block.ops.append(op)
                continue
            b.loc = op.loc
            new = rule(b, op)
            if new.type != op.result.type:  # keep the type later ops were checked against
                new = b.emit("shape_cast", new, type=op.result.type)
            new.name_hint = op.result.name_hint
            subst[op.result] = new


def rule_for(op: Op):
    if not op.results or op.results[0].type.rank == 0 and op.name not in REDUCE_KIND and \
            op.name != "dot":
        return None
    if op.name in ELEMENTWISE:
        return elementwise
    if op.name in REDUCE_KIND:
        return reduction
    # `matmul` stays: native code has a kernel with a cache-friendly loop order for it
    return {"dot": dot, "transpose": transpose, "outer": outer}.get(op.name)


# ----------------------------------------------------------------------------- loop nests

class Nest:
    """Emits nested `build` (or `reduce`) regions over a list of i64 sizes."""

    def __init__(self, b: Builder):
        self.b = b
        self.zero = b.const(0)
        self.one = b.const(1)

    def build(self, sizes: list, body) -> object:
        """An array of shape `sizes`; body(indices) -> scalar emits one element."""
        return self.loops(sizes, body, "build", [])

    def reduce(self, kind: str, sizes: list, body, outer: list | None = None,
               in_order: bool = False) -> object:
        return self.loops(sizes, body, "reduce", outer or [], kind, in_order)

    def loops(self, sizes, body, opname, indices, kind=None, in_order=False):
        if not sizes:
            return body(indices)
        region = Block([I64], ["i"])
        with self.b.at(region):
            inner = self.loops(sizes[1:], body, opname, indices + [region.args[0]], kind)
            self.b.op("yield", [inner])
        attrs = {"kind": kind} if kind else {}
        if in_order:
            attrs[IN_ORDER] = True
        result = self.b.op(opname, [self.zero, sizes[0], self.one], attrs, [region]).result
        if opname == "build" and DYN in result.type.shape[1:]:
            result.owner.attrs[KNOWN_ROWS] = True  # with no row, still sizes[1:]
        return result


def size_of(b: Builder, value, axis: int):
    return b.emit("dim", value, axis=axis)


def agree(b: Builder, axes: list, what: str, ref: int = 0):
    """The size of (array, axis) axes[ref], after run-time checks that the other sizes
    equal it; sizes the types already prove equal are not checked. `axes` are in the
    operands' order, which a check's two sizes keep, so its message reads as the source."""
    first, first_axis = axes[ref]
    first_dim = first.type.shape[first_axis]
    size = size_of(b, first, first_axis)
    for k, (value, axis) in enumerate(axes):
        dim = value.type.shape[axis]
        if k != ref and (dim != first_dim or dim == DYN):
            other = size_of(b, value, axis)
            b.op("shape_check", [other, size] if k < ref else [size, other], {"message": what})
    return size


# ----------------------------------------------------------------------------- rules

def elementwise(b: Builder, op: Op):
    result = op.result.type
    rank = result.rank
    sizes = []
    for axis in range(rank):
        found = []
        for v in op.operands:
            k = axis - (rank - v.type.rank)
            if k >= 0 and v.type.shape[k] != 1:
                found.append((v, k))
        if not found:
            sizes.append(b.const(1))
            continue
        # prefer an operand whose size the result type names, so the new type matches
        named = [v.type.shape[k] == result.shape[axis] for v, k in found]
        ref = named.index(True) if True in named else 0
        sizes.append(agree(b, found, operand_mismatch(op, axis), ref))
    nest = Nest(b)

    def element(indices):
        args = []
        for v in op.operands:
            if v.type.rank == 0:
                args.append(v)
                continue
            own = indices[rank - v.type.rank:]
            own = [nest.zero if d == 1 else i for d, i in zip(v.type.shape, own)]
            args.append(b.emit("index", v, *own, inbounds=True))
        return b.op(op.name, args, dict(op.attrs)).result

    return nest.build(sizes, element)


def reduction(b: Builder, op: Op):
    (x,) = op.operands
    kind = REDUCE_KIND[op.name]
    axis = op.attrs.get("axis")
    if axis == 0 and kind == "sum" and x.type.rank > 1 and DYN not in x.type.shape[1:]:
        return sum_of_rows(b, x)
    sizes = [size_of(b, x, k) for k in range(x.type.rank)]
    nest = Nest(b)
    if axis is None:
        return nest.reduce(kind, sizes, lambda idx: b.emit("index", x, *idx, inbounds=True))
    kept = [s for k, s in enumerate(sizes) if k != axis]
    others = [d for k, d in enumerate(x.type.shape) if k != axis]
    if kind in ("max", "min") and may_be_zero(x.type.shape[axis]) and \
            any(map(may_be_zero, others)):
        empty_axis_check(nest, kind, sizes[axis])

    def element(outer):
        def inner(idx):
            full = list(outer)
            full.insert(axis, idx[0])
            return b.emit("index", x, *full, inbounds=True)
        # a sum per column of a matrix: in order, as sum_of_rows adds each column
        per_column = axis == 0 and kind == "sum" and x.type.rank > 1
        return nest.reduce(kind, [sizes[axis]], inner, in_order=per_column)

    return nest.build(kept, element)


def sum_of_rows(b: Builder, x):
    """sum(x, axis=0) as the sum of x's rows: each element still adds its column in
    order from 0.0, the same bits as a sum per column, but the rows are read as they lie
    in memory, all columns at once (a sum per column reads one element per row, one
    dependent addition at a time: 256 x 128 took 29 us, by rows 8 us). Not for rows of
    a size `?`: native code shapes a sum of no rows by the result's type."""
    rows = size_of(b, x, 0)
    return Nest(b).reduce("sum", [rows], lambda idx: b.emit("index", x, idx[0], inbounds=True))


def may_be_zero(dim) -> bool:
    return not (isinstance(dim, int) and dim > 0)


def empty_axis_check(nest: Nest, kind: str, size) -> None:
    """max/min along an empty axis fails even where the result has no elements (a 0 x 0
    matrix along either axis), as in NumPy; the loops over the result would not run the
    reduction that checks. The check is the same reduction of a constant, which LLVM
    keeps only for its test of the size."""
    nest.reduce(kind, [size], lambda idx: nest.b.const(0))


def dot(b: Builder, op: Op):
    x, y = op.operands
    n = agree(b, [(x, 0), (y, 0)], errors.DOT_LENGTHS)
    return Nest(b).reduce("sum", [n], lambda i: b.emit(
        "mul", b.emit("index", x, *i, inbounds=True), b.emit("index", y, *i, inbounds=True)))


def matmul(b: Builder, op: Op):
    x, y = op.operands
    k = agree(b, [(x, x.type.rank - 1), (y, 0)], errors.INNER_DIMENSIONS)
    nest = Nest(b)
    rows = [size_of(b, x, 0)] if x.type.rank == 2 else []
    cols = [size_of(b, y, 1)] if y.type.rank == 2 else []

    def element(idx):
        i, j = idx[:len(rows)], idx[len(rows):]
        return nest.reduce("sum", [k], lambda l: b.emit(
            "mul", b.emit("index", x, *i, *l, inbounds=True), b.emit("index", y, *l, *j, inbounds=True)))

    return nest.build(rows + cols, element)


def transpose(b: Builder, op: Op):
    """out[i, j, k] = x[k, j, i]: the axes reversed, of any rank."""
    (x,) = op.operands
    nest = Nest(b)
    sizes = [size_of(b, x, axis) for axis in reversed(range(x.type.rank))]
    return nest.build(sizes, lambda idx: b.emit("index", x, *reversed(idx), inbounds=True))


def outer(b: Builder, op: Op):
    x, y = op.operands
    nest = Nest(b)
    sizes = [size_of(b, x, 0), size_of(b, y, 0)]
    return nest.build(sizes, lambda idx: b.emit("mul", b.emit("index", x, idx[0], inbounds=True),
                                                b.emit("index", y, idx[1], inbounds=True)))
