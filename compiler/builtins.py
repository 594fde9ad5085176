"""Built-in functions of the language: each name maps to a function that lowers a call.

Every handler has one signature, `handler(lowering, call) -> Value | list[Value]`, and
reports misuse (arity, keywords, types) at the call with a sentence the user can act on.
"""

from __future__ import annotations

from ir import BOOL, F64, I64

from . import ast as A
from .diagnostics import GENERATOR_PLACES

# math functions that take numbers and give f64; integers are promoted
FLOAT_MATH = ("exp", "log", "log1p", "expm1", "sqrt", "sin", "cos", "tan", "tanh", "sigmoid",
              "floor", "ceil", "lgamma")
# math functions that keep the element type
SAME_TYPE_MATH = ("abs", "sign")
REDUCTION_OPS = {"sum": "reduce_sum", "prod": "reduce_prod", "max": "reduce_max",
                 "min": "reduce_min"}


def expect_args(lw, e: A.Call, name: str, n: int | tuple, kwargs: tuple = ()) -> None:
    for kw in e.kwargs:  # first: exp(x=1.0) has one argument, given by a keyword
        if kw.name not in kwargs:
            allowed = f"; it takes {', '.join(k + '=' for k in kwargs)}" if kwargs else \
                "; pass arguments by position"
            raise lw.error(kw, f"{name}() has no keyword argument '{kw.name}'{allowed}")
    low, high = (n, n) if isinstance(n, int) else n
    if not low <= len(e.args) <= high:
        want = str(low) if low == high else f"{low} to {high}"
        raise lw.error(e, f"{name}() takes {want} argument{'s' if high != 1 else ''}, "
                          f"{len(e.args)} given{positional_axis_advice(e, name, kwargs)}")
    for a in e.args:
        if isinstance(a, A.Generator) and name not in REDUCTION_OPS:
            raise lw.error(a, GENERATOR_PLACES)


def positional_axis_advice(e: A.Call, name: str, kwargs: tuple) -> str:
    """sum(x, 1), as NumPy allows: the axis goes by keyword here."""
    if "axis" not in kwargs or len(e.args) != 2 or not isinstance(e.args[1], A.Num):
        return ""
    return f" (pass the axis by keyword: {name}(..., axis={e.args[1].value}))"


def float_math(name):
    def handler(lw, e):
        expect_args(lw, e, name, 1)
        return lw.emit(e, name, lw.to_float(e, lw.expr(e.args[0])))
    return handler


def same_type_math(name):
    def handler(lw, e):
        expect_args(lw, e, name, 1)
        x = lw.expr(e.args[0])
        if x.type.elem == BOOL:
            raise lw.error(e, f"{name}() needs a number, got {x.type}")
        return lw.emit(e, name, x)
    return handler


def lower_pow(lw, e):
    expect_args(lw, e, "pow", 2)
    return lw.binary(e, "**", lw.expr(e.args[0]), lw.expr(e.args[1]))


def axis_of(lw, e: A.Call, rank: int) -> int | None:
    for kw in e.kwargs:
        if kw.name != "axis":
            continue
        node = kw.value
        negative = isinstance(node, A.UnaryOp) and node.op == "-" and isinstance(node.operand, A.Num)
        literal = node.operand if negative else node
        if not isinstance(literal, A.Num) or not isinstance(literal.value, int):
            raise lw.error(A.leftmost(node), "axis must be an integer literal")
        axis = -literal.value if negative else literal.value
        if not -rank <= axis < rank:
            raise lw.error(node, f"axis {axis} is out of range for an array of rank {rank}")
        return axis % rank
    return None


def reduction(name):
    """sum/prod/max/min: of an array (optionally along an axis), of a generator, or, for
    max and min, elementwise over two or more arguments."""
    def handler(lw, e):
        if not e.args and name in ("max", "min"):
            raise lw.error(e, f"{name}() takes an array, a generator, or two or more numbers")
        if name in ("max", "min") and len(e.args) >= 2:
            expect_args(lw, e, name, (2, 64))
            return pairwise(lw, e, "maximum" if name == "max" else "minimum")
        expect_args(lw, e, name, 1, ("axis",))
        (arg,) = e.args
        if isinstance(arg, A.Generator):
            if e.kwargs:
                raise lw.error(e.kwargs[0], f"{name}() of a generator takes no axis")
            return lw.reduction(arg, name)
        x = lw.expr(arg)
        if x.type.rank == 0:
            raise lw.error(arg, f"{name}() needs an array, got {x.type}" +
                           (f" (for two numbers use {name}(a, b))" if name in ("max", "min") else ""))
        if x.type.elem == BOOL:
            raise lw.error(arg, f"{name}() of a bool array; convert it with float(...) first")
        axis = axis_of(lw, e, x.type.rank)
        attrs = {} if axis is None else {"axis": axis}
        return lw.emit(e, REDUCTION_OPS[name], x, **attrs)
    return handler


def pairwise(lw, e, opname: str):
    acc = lw.expr(e.args[0])
    for arg in e.args[1:]:
        acc, other = lw.numeric_pair(e, acc, lw.expr(arg), "compare")
        acc = lw.emit(e, opname, acc, other)
    return acc


def lower_mean(lw, e):
    expect_args(lw, e, "mean", 1, ("axis",))
    x = lw.to_float(e, lw.expr(e.args[0]))
    if x.type.rank == 0:
        raise lw.error(e.args[0], f"mean() needs an array, got {x.type}")
    axis = axis_of(lw, e, x.type.rank)
    if axis is None:
        total = lw.emit(e, "reduce_sum", x)
        count = lw.emit(e, "dim", x, axis=0)
        for k in range(1, x.type.rank):
            count = lw.emit(e, "mul", count, lw.emit(e, "dim", x, axis=k))
    else:
        total = lw.emit(e, "reduce_sum", x, axis=axis)
        count = lw.emit(e, "dim", x, axis=axis)
    return lw.emit(e, "div", total, lw.emit(e, "to_f64", count))


def lower_where(lw, e):
    expect_args(lw, e, "where", 3)
    c, a, b = (lw.expr(x) for x in e.args)
    if c.type.elem != BOOL:
        raise lw.error(e.args[0], f"where() needs a bool condition, got {c.type}")
    if a.type.elem != b.type.elem:
        a, b = lw.numeric_pair(e, a, b, "choose between")
    return lw.emit(e, "select", c, a, b)


def lower_float(lw, e):
    expect_args(lw, e, "float", 1)
    x = lw.expr(e.args[0])
    return x if x.type.elem == F64 else lw.emit(e, "to_f64", x)


def lower_int(lw, e):
    expect_args(lw, e, "int", 1)
    x = lw.expr(e.args[0])
    return x if x.type.elem == I64 else lw.emit(e, "to_i64", x)


def dims_of(lw, e, nodes, name: str) -> list:
    if not nodes:
        raise lw.error(e, "an array needs at least one dimension")
    out = []
    for node in nodes:
        if isinstance(node, A.TupleLit):  # NumPy's zeros((n, m))
            raise lw.error(node, f"{name}() takes the sizes as separate arguments: "
                                 f"{name}({'value, ' if name == 'full' else ''}n, m)")
        d = lw.expr(node)
        if d.type != I64:
            first = " (full takes the fill value first: full(value, n))" if name == "full" else ""
            raise lw.error(node, f"an array dimension must be i64, got {d.type}{first}")
        out.append(d)
    return out


def filled(value: float, name: str):
    def handler(lw, e):
        expect_args(lw, e, name, (1, 8))
        return lw.emit(e, "full", lw.const(e, value), *dims_of(lw, e, e.args, name))
    return handler


def lower_full(lw, e):
    expect_args(lw, e, "full", (2, 9))
    if isinstance(e.args[0], A.TupleLit):  # NumPy's full((n, m), value)
        raise lw.error(e.args[0], "full() takes the fill value first, then the sizes: "
                                  "full(value, n, m)")
    v = lw.expr(e.args[0])
    if v.type.rank != 0:
        raise lw.error(e.args[0], f"full() fills with a scalar, got {v.type}")
    return lw.emit(e, "full", v, *dims_of(lw, e, e.args[1:], "full"))


def lower_arange(lw, e):
    expect_args(lw, e, "arange", 1)
    return lw.emit(e, "arange", *dims_of(lw, e, e.args, "arange"))


def array_op(name: str, n: int, opname: str):
    def handler(lw, e):
        expect_args(lw, e, name, n)
        return lw.emit(e, opname, *(lw.to_float(e, lw.expr(a)) for a in e.args))
    return handler


def lower_transpose(lw, e):
    expect_args(lw, e, "transpose", 1)
    return lw.emit(e, "transpose", lw.expr(e.args[0]))


def lower_dot(lw, e):
    """dot(a, b) as NumPy's: the dot product of two vectors, the matrix product where one
    is a matrix (as `a @ b`), and a * b where one is a scalar."""
    expect_args(lw, e, "dot", 2)
    a, b = (lw.expr(x) for x in e.args)
    if a.type.rank == 0 or b.type.rank == 0:
        return lw.binary(e, "*", a, b)
    return lw.binary(e, "@", a, b)


def lower_len(lw, e):
    expect_args(lw, e, "len", 1)
    x = lw.expr(e.args[0])
    if x.type.rank == 0:
        raise lw.error(e.args[0], f"len() needs an array, got {x.type}")
    return lw.emit(e, "dim", x, axis=0)


def lower_range(lw, e):
    raise lw.error(e, "range() is only allowed in 'for' loops and comprehensions")


BUILTINS = {
    **{name: float_math(name) for name in FLOAT_MATH},
    **{name: same_type_math(name) for name in SAME_TYPE_MATH},
    **{name: reduction(name) for name in REDUCTION_OPS},
    "pow": lower_pow,
    "mean": lower_mean,
    "where": lower_where,
    "float": lower_float,
    "int": lower_int,
    "zeros": filled(0.0, "zeros"),
    "ones": filled(1.0, "ones"),
    "full": lower_full,
    "arange": lower_arange,
    "dot": lower_dot,
    "outer": array_op("outer", 2, "outer"),
    "transpose": lower_transpose,
    "len": lower_len,
    "range": lower_range,
}
