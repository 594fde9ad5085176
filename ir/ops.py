"""Every op of the IR: its type rule and its meaning (see ir/registry.py for the signatures).

Groups: constants and casts; elementwise unary and binary math (scalars and arrays, with
NumPy broadcasting); array construction, indexing, updates and reductions; linear algebra;
structured control flow (`for`, `while`, `if`, `build`, `reduce`); calls; derivative forms
(`grad`, `value_and_grad`, `jvp`, `vjp`), which the AD passes replace before the IR runs;
`assert`; terminators.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
import sys

import numpy as np

from . import errors
from .core import Symbol, defined_within, indexed_name
from .errors import TypeRuleError, count
from .printer import format_attr
from .registry import REGISTRY, OpDef, register
from .types import (BOOL, DYN, F64, I64, ArrayType, ScalarType, ShapeMismatch, Type,
                    array_or_scalar, assignable, broadcast_shapes, results_text, with_elem)

NP_DTYPE = {F64: np.float64, I64: np.int64, BOOL: np.bool_}
I64_MAX = 2**63 - 1


# ----------------------------------------------------------------------------- helpers

def operand_types(op) -> list[Type]:
    return [v.type for v in op.operands]


def yield_types(block) -> list[Type]:
    term = block.terminator
    if term is None or term.name != "yield":
        raise TypeRuleError("region does not end in 'yield'")
    return [v.type for v in term.operands]


def yielded_type(block) -> Type:
    """The type of the one value a region yields (a build's element, a reduce's term)."""
    types = yield_types(block)
    if len(types) != 1:
        raise TypeRuleError(f"the region must yield one value, it yields {len(types)}")
    return types[0]


def constant(value):
    """The value of a `const` op's result; None for any other value."""
    op = value.defining_op
    return op.attrs["value"] if op is not None and op.name == "const" else None


def dim_of_value(value) -> object:
    """The symbolic size an i64 value stands for: a literal for a constant, the dimension
    name for `dim` of an array whose type names it, `?` otherwise."""
    op = value.defining_op
    if op is None:
        return DYN
    if op.name == "const" and value.type == I64:
        return int(op.attrs["value"])
    if op.name == "dim":
        return op.operands[0].type.shape[op.attrs["axis"]]
    return DYN


def size_dim(value) -> object:
    """The dimension an i64 size operand gives an array: dim_of_value, but `?` for a
    negative constant, which makes no array (the op fails at run time)."""
    size = dim_of_value(value)
    return DYN if isinstance(size, int) and size < 0 else size


def count_dim(value) -> object:
    """The symbolic length of range(value) or arange(value): dim_of_value, but 0 for a
    negative constant (range(-1) is empty)."""
    count = dim_of_value(value)
    return max(count, 0) if isinstance(count, int) else count


def range_count_dim(op) -> object:
    """Symbolic trip count of a `range(start, stop, step)` given by the first 3 operands."""
    start, stop, step = op.operands[:3]
    if dim_of_value(start) == 0 and dim_of_value(step) == 1:
        return count_dim(stop)
    return DYN


def check_range_operands(op, what: str) -> None:
    for v in op.operands[:3]:
        if v.type != I64:
            raise TypeRuleError(f"{what} bounds must be i64, got {v.type}")


def fmt_loc(op) -> str:
    return f" (at {op.loc})" if op.loc is not None else ""


def as_np(value, t: Type):
    """A Python or NumPy value as the NumPy value of IR type `t`."""
    dtype = NP_DTYPE[t.elem]
    if t.rank == 0:
        return dtype(value)
    return np.asarray(value, dtype=dtype)


def check_size(op, shape) -> None:
    """MemoryErrorDP when an array of `shape` with op's result elements takes more bytes
    than an i64 holds: native code checks the same."""
    if bytes_overflow(shape, item_bytes(op)):
        raise cannot_allocate(op, shape)


def bytes_overflow(sizes, item_size: int) -> bool:
    """Do `sizes` take more bytes than an i64 holds, sizes 0 left out (NumPy's rule)?"""
    return math.prod(int(d) for d in sizes if d) * item_size > I64_MAX


def never_allocated(t: Type) -> bool:
    """Is an array of type t too large for any machine by its literal sizes alone (its
    other sizes make it larger, or are 0, which does not count)? Making it always fails."""
    literal = [d for d in t.shape if isinstance(d, int)]
    return bool(literal) and bytes_overflow(literal, np.dtype(NP_DTYPE[t.elem]).itemsize)


def allocate(op, shape, make):
    """make(), which makes op's result array of `shape`; MemoryErrorDP, as from native
    code, when its byte size does not fit in an i64 or NumPy finds no memory for it."""
    check_size(op, shape)
    try:
        return make()
    except MemoryError:
        raise cannot_allocate(op, shape) from None


def cannot_allocate(op, shape) -> errors.MemoryErrorDP:
    return errors.cannot_allocate(shape, str(op.results[0].type.elem), item_bytes(op), fmt_loc(op),
                                  stored=bool(op.attrs.get(OVERWRITTEN)))


def item_bytes(op) -> int:
    return np.dtype(NP_DTYPE[op.results[0].type.elem]).itemsize


def different_shapes(what: str, shape: tuple, first: tuple, op) -> errors.ShapeErrorDP:
    """Elements of one array that differ in shape, worded as native code words it: at the
    first axis where `shape` is not the first element's, the first element's size, then
    this one's (the order they come in)."""
    this, first_size = next((a, b) for a, b in zip(shape, first) if a != b)
    return errors.ShapeErrorDP(f"{what} have different shapes: size {first_size} is not "
                               f"{this}{fmt_loc(op)}")


def range_count(start: int, stop: int, step: int, op) -> int:
    if step == 0:
        raise errors.ValueErrorDP(f"range() step must not be zero{fmt_loc(op)}")
    return range_length(int(start), int(stop), int(step))


def range_length(start: int, stop: int, step: int) -> int:
    """len(range(start, stop, step)) for a step other than 0, at most 2**63 - 1, as native
    code counts (a loop that runs longer could never finish). Python's len() raises
    OverflowError past 2**63 - 1."""
    if step > 0:
        count = (stop - start + step - 1) // step
    else:
        count = (start - stop - step - 1) // -step
    return min(max(count, 0), I64_MAX)


# ----------------------------------------------------------------------------- constants and casts

def infer_const(op, module):
    value = op.attrs["value"]
    if isinstance(value, bool):
        return [BOOL]
    if isinstance(value, int):
        if not -I64_MAX - 1 <= value <= I64_MAX:  # IR text can spell any integer
            raise TypeRuleError(f"const value {value} does not fit in i64")
        return [I64]
    if isinstance(value, float):
        return [F64]
    raise TypeRuleError(f"const value must be a number or a boolean, got {format_attr(value)}")


def interp_const(op, args, ctx):
    return [as_np(op.attrs["value"], op.results[0].type)]


register(OpDef("const", infer_const, interp_const, operands=0, attrs=("value",)))


def infer_cast(target: ScalarType, sources: tuple[ScalarType, ...]):
    def infer(op, module):
        (t,) = operand_types(op)
        if t.elem not in sources:
            names = " or ".join(str(s) for s in sources)
            raise TypeRuleError(f"cannot convert {t} to {target}: expected {names}")
        return [with_elem(t, target)]
    return infer


def interp_to_f64(op, args, ctx):
    (x,) = args
    return [as_np(x, op.results[0].type)]


def interp_to_i64(op, args, ctx):
    (x,) = args
    values = np.asarray(x)
    # [-2**63, 2**63): the doubles an i64 holds after truncation; NaN is in no range
    low, high = float(-I64_MAX - 1), float(I64_MAX + 1)
    held = (values >= low) & (values < high)
    if values.dtype == np.float64 and not np.all(held):
        first = values.flat[np.argmin(held)]  # native code checks in the same order
        raise errors.cannot_convert(first, fmt_loc(op))
    return [as_np(np.trunc(x), op.results[0].type)]


def adjoint_identity(ad, op, cts):
    return list(cts)


def tangent_identity(fw, op):
    return [fw.dx(op.operands[0])]


register(OpDef("to_f64", infer_cast(F64, (I64, BOOL, F64)), interp_to_f64, operands=1,
               tangent=tangent_identity, adjoint=adjoint_identity))
register(OpDef("to_i64", infer_cast(I64, (F64, BOOL, I64)), interp_to_i64, operands=1))


# ----------------------------------------------------------------------------- elementwise math

def sigmoid(x):
    # Two branches so that neither exp overflows: exp(-x) for x >= 0, exp(x) below.
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _libm_lgamma():
    """C's lgamma, which native code calls: Python's math.lgamma is its own, and near the
    function's zeros (1, 2, -2.457...) off by up to 1e-5 relative, so the interpreter
    disagreed with native code far beyond the last bits. None where no libm is found."""
    name = ctypes.util.find_library("m")
    try:
        fn = ctypes.CDLL(name).lgamma if name else None
    except (OSError, AttributeError):
        return None
    if fn is not None:
        fn.restype, fn.argtypes = ctypes.c_double, [ctypes.c_double]
    return fn


_C_LGAMMA = _libm_lgamma()


def _lgamma_scalar(x: float) -> float:
    if _C_LGAMMA is not None:
        return _C_LGAMMA(x)
    try:
        return math.lgamma(x)
    except ValueError:  # the poles at 0, -1, -2, ...: C's lgamma gives +inf
        return math.inf


def lgamma(x):
    return np.vectorize(_lgamma_scalar, otypes=[np.float64])(x)


# The asymptotic series of psi and psi' in r = 1/z^2, as the coefficients c0, c1, ... of
# c0 - r (c1 - r (c2 - ...)), the Bernoulli numbers' signs alternating:
#     psi(z)  ~ log z - 1/(2z) - r (1/12 - r (1/120 - r (1/252 - ...)))
#     psi'(z) ~ 1/z + r/2 + r/z (1/6 - r (1/30 - r (1/42 - ...)))
# From z = 10 on, where the recurrence hands over. Cut after the z^-14 (psi) and z^-17
# (psi') terms, the first omitted term is 4e-17 (psi, B_16 / 16 z^16) and 5e-18 (psi',
# B_18 / z^19) there: under half an ulp of psi(10) = 2.25 and psi'(10) = 0.105. Shared
# with runtime.scalars, whose native functions evaluate them in the same order.
POLYGAMMA_SERIES = {
    "digamma": (1 / 12, 1 / 120, 1 / 252, 1 / 240, 1 / 132, 691 / 32760, 1 / 12),
    "trigamma": (1 / 6, 1 / 30, 1 / 42, 1 / 30, 5 / 66, 691 / 2730, 7 / 6, 3617 / 510),
}


def _in_r(r, coefficients):
    """c0 - r (c1 - r (... - r c_last)), innermost first."""
    *outer, innermost = coefficients
    poly = r * innermost
    for c in reversed(outer[1:]):
        poly = r * (c - poly)
    return outer[0] - poly


def _off_nearest_integer(x):
    """x - m for the integer m nearest x, without rounding (Sterbenz), so that the
    reflections' tan(pi x), sin(pi x), whose period is 1 or 2 and which enter squared or
    as cot, are taken at pi (x - m), |x - m| <= 1/2: pi x itself rounds by an ulp of pi x,
    which far from 0 is most of tan's value next to a pole (runtime.scalars does the same)."""
    return x - np.floor(x + 0.5)


def _upward(z, term):
    """Moves z up by 1 until z >= 10, where the asymptotic series are accurate; returns
    the new z and the sum of term(z) over the steps (the recurrence's correction)."""
    acc = np.zeros_like(z)
    while np.any(z < 10.0):
        small = z < 10.0
        acc = acc + np.where(small, term(z), 0.0)
        z = np.where(small, z + 1.0, z)
    return z, acc


def digamma(x):
    """psi(x) = d/dx lgamma(x): reflection below 1/2, recurrence up to 10, then the
    asymptotic series. NaN at the poles 0, -1, -2, ..."""
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(all="ignore"):
        reflect = x < 0.5
        z, acc = _upward(np.where(reflect, 1.0 - x, x), lambda z: -(1.0 / z))
        r = 1.0 / (z * z)
        series = np.log(z) - 0.5 / z - r * _in_r(r, POLYGAMMA_SERIES["digamma"])
        psi = acc + series
        out = np.where(reflect, psi - np.pi / np.tan(np.pi * _off_nearest_integer(x)), psi)
        return np.where(reflect & (x == np.floor(x)), np.nan, out)


def trigamma(x):
    """psi'(x): reflection below 1/2, recurrence up to 10, then the asymptotic series.
    +inf at the poles 0, -1, -2, ..., which psi' nears from both sides (as SciPy and JAX
    give it); NaN at -inf."""
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(all="ignore"):
        reflect = x < 0.5
        z, acc = _upward(np.where(reflect, 1.0 - x, x), lambda z: 1.0 / (z * z))
        r = 1.0 / (z * z)
        series = 1.0 / z + 0.5 * r + r / z * _in_r(r, POLYGAMMA_SERIES["trigamma"])
        psi1 = acc + series
        s = np.sin(np.pi * _off_nearest_integer(x))
        out = np.where(reflect, np.pi * np.pi / (s * s) - psi1, psi1)
        pole = np.where(np.isinf(x), np.nan, np.inf)
        return np.where(reflect & (x == np.floor(x)), pole, out)


# name: (NumPy implementation, element types accepted, verb for messages)
UNARY = {
    "neg": (np.negative, (F64, I64), "negate"),
    "abs": (np.abs, (F64, I64), "take abs of"),
    "sign": (np.sign, (F64, I64), "take sign of"),
    "exp": (np.exp, (F64,), "take exp of"),
    "log": (np.log, (F64,), "take log of"),
    "log1p": (np.log1p, (F64,), "take log1p of"),
    "expm1": (np.expm1, (F64,), "take expm1 of"),
    "sqrt": (np.sqrt, (F64,), "take sqrt of"),
    "sin": (np.sin, (F64,), "take sin of"),
    "cos": (np.cos, (F64,), "take cos of"),
    "tan": (np.tan, (F64,), "take tan of"),
    "tanh": (np.tanh, (F64,), "take tanh of"),
    "sigmoid": (sigmoid, (F64,), "take sigmoid of"),
    "floor": (np.floor, (F64,), "take floor of"),
    "ceil": (np.ceil, (F64,), "take ceil of"),
    "lgamma": (lgamma, (F64,), "take lgamma of"),
    "digamma": (digamma, (F64,), "take digamma of"),
    "trigamma": (trigamma, (F64,), "take trigamma of"),
    "not": (np.logical_not, (BOOL,), "apply 'not' to"),
}


# name: the cotangent of the operand, from (ad, ct, x, y) where y = op(x). `ad.times` and
# `ad.over` multiply and divide by a derivative that may be infinite or NaN (sqrt at 0,
# log at 0, cos at inf, tanh's 1 - y^2 at a NaN x) and give 0 where ct is 0: an adjoint
# that a `where` masked out contributes nothing, rather than 0 * inf = NaN (the gradient
# of where(x == x, tanh(x), 0.0) at NaN is 0). Ops missing here (sign, floor, ceil, not)
# have derivative 0.
UNARY_ADJOINT = {
    "neg": lambda ad, ct, x, y: ad.emit("neg", ct),
    "abs": lambda ad, ct, x, y: ad.times(ct, ad.emit("sign", x)),
    "exp": lambda ad, ct, x, y: ad.times(ct, y),
    "log": lambda ad, ct, x, y: ad.over(ct, x),
    "log1p": lambda ad, ct, x, y: ad.over(ct, ad.emit("add", x, ad.const(1.0))),
    "expm1": lambda ad, ct, x, y: ad.times(ct, ad.emit("add", y, ad.const(1.0))),
    "sqrt": lambda ad, ct, x, y: ad.over(ct, ad.emit("mul", y, ad.const(2.0))),
    "sin": lambda ad, ct, x, y: ad.times(ct, ad.emit("cos", x)),
    "cos": lambda ad, ct, x, y: ad.emit("neg", ad.times(ct, ad.emit("sin", x))),
    "tan": lambda ad, ct, x, y: ad.times(ct, ad.emit("add", ad.const(1.0), ad.emit("mul", y, y))),
    "tanh": lambda ad, ct, x, y: ad.times(ct, ad.emit("sub", ad.const(1.0), ad.emit("mul", y, y))),
    "sigmoid": lambda ad, ct, x, y: ad.times(ct, ad.emit(
        "mul", y, ad.emit("sub", ad.const(1.0), y))),
    "lgamma": lambda ad, ct, x, y: ad.times(ct, ad.emit("digamma", x)),
    "digamma": lambda ad, ct, x, y: ad.times(ct, ad.emit("trigamma", x)),
    "trigamma": lambda ad, ct, x, y: ad.times(ct, tetragamma(ad, x)),
}


def tetragamma(ad, x):
    """psi''(x), emitted with existing ops: only the third derivative of lgamma needs it,
    too rarely for an op (and a native function) of its own. As trigamma: reflection
    below 1/2; then ten steps of psi''(z) = psi''(z + 1) - 2 / z^3, a fixed count so that
    the code is straight-line for arrays too, up to z >= 10.5; then the asymptotic series
    -r - r w - r^2 (1/2 - r / 6 + ...) with w = 1 / z, r = w^2, to the z^-18 term (the
    next, 1044.5 z^-20, is 4e-17 relative at z = 10.5).
    Powers of z are formed as powers of w: 1 / (z * z) has a derivative through z^4,
    which overflows from z ~ 1e77 (the fourth derivative of lgamma was 0 at 1e100, and
    in forward mode NaN from 1e154, where it is 2 / z^3)."""
    emit, const = ad.emit, ad.const
    reflect = emit("lt", x, const(0.5))
    z = emit("select", reflect, emit("sub", const(1.0), x), x)
    cubes = const(0.0)  # sum of 1 / z^3 over the steps
    for _ in range(10):
        w = emit("div", const(1.0), z)
        cubes = emit("add", cubes, emit("mul", w, emit("mul", w, w)))
        z = emit("add", z, const(1.0))
    w = emit("div", const(1.0), z)
    r = emit("mul", w, w)
    tail = const(3617 / 30)
    for coefficient in (35 / 2, 691 / 210, 5 / 6, 3 / 10, 1 / 6, 1 / 6, 1 / 2):
        tail = emit("sub", const(coefficient), emit("mul", r, tail))
    leading = emit("add", r, emit("mul", r, w))
    series = emit("neg", emit("add", leading, emit("mul", emit("mul", r, r), tail)))
    psi2 = emit("sub", series, emit("mul", const(2.0), cubes))
    # psi''(x) = psi''(1 - x) - 2 pi^3 cos(pi x) / sin(pi x)^3
    pi_t = emit("mul", const(math.pi), emit(
        "sub", x, emit("floor", emit("add", x, const(0.5)))))
    s = emit("sin", pi_t)
    cos = emit("cos", pi_t)
    reflection = emit("div", emit("mul", const(2 * math.pi ** 3), cos),
                      emit("mul", s, emit("mul", s, s)))
    return emit("select", reflect, emit("sub", psi2, reflection), psi2)


def adjoint_unary(name):
    rule = UNARY_ADJOINT.get(name)

    def adjoint(ad, op, cts):
        if rule is None:
            return [None]
        return [rule(ad, cts[0], ad.x(op.operands[0]), ad.x(op.result))]
    return adjoint


def tangent_unary(name):
    """An elementwise op's Jacobian is diagonal, hence its own transpose: the tangent is
    the adjoint rule applied to the operand's tangent."""
    rule = UNARY_ADJOINT.get(name)

    def tangent(fw, op):
        t = fw.dx(op.operands[0])
        if rule is None or t is None:
            return [None]
        return [rule(fw, t, fw.x(op.operands[0]), fw.x(op.result))]
    return tangent


def infer_unary(accepted, verb):
    def infer(op, module):
        (t,) = operand_types(op)
        if t.elem not in accepted:
            names = " or ".join(str(s) for s in accepted)
            raise TypeRuleError(f"cannot {verb} {t}: expected {names}")
        return [t]
    return infer


def interp_unary(fn):
    def interp(op, args, ctx):
        with np.errstate(all="ignore"):
            return [as_np(fn(args[0]), op.results[0].type)]
    return interp


# Math functions far dearer than arithmetic: OpDef.costly.
COSTLY = {"exp", "log", "log1p", "expm1", "sqrt", "sin", "cos", "tan", "tanh", "sigmoid",
          "lgamma", "digamma", "trigamma"}
# Those of them whose f64 result NumPy and native code may round differently (every one
# but sqrt, correctly rounded in both), and float powers: not folded (OpDef.folds).
NOT_FOLDED = (COSTLY - {"sqrt"}) | {"pow"}

for _name, (_fn, _accepted, _verb) in UNARY.items():
    register(OpDef(_name, infer_unary(_accepted, _verb), interp_unary(_fn), operands=1,
                   tangent=tangent_unary(_name), adjoint=adjoint_unary(_name),
                   costly=_name in COSTLY, folds=_name not in NOT_FOLDED))


def divides_by_zero(a, b) -> bool:
    """Does some element of a // b (a % b) divide by zero? Not where there is no element:
    x // 0 for an empty x divides nothing, in native code and NumPy alike."""
    a, b = np.broadcast_arrays(a, b)
    return bool(np.any(b == 0))


def negative_power(a, b) -> bool:
    """Is some element of a ** b raised to a negative power? As for divides_by_zero, not
    where there is no element: x ** -1 of an empty x, in native code and NumPy alike."""
    a, b = np.broadcast_arrays(a, b)
    return bool(np.any(b < 0))


def int_floordiv(a, b, op):
    if divides_by_zero(a, b):
        raise errors.ZeroDivisionErrorDP(f"integer division by zero{fmt_loc(op)}")
    return np.floor_divide(a, b)


def int_mod(a, b, op):
    if divides_by_zero(a, b):
        raise errors.ZeroDivisionErrorDP(f"integer modulo by zero{fmt_loc(op)}")
    return np.mod(a, b)


def int_pow(a, b, op):
    if negative_power(a, b):
        raise errors.ValueErrorDP(f"integers to negative integer powers are not allowed{fmt_loc(op)}")
    return np.power(a, b)


def float_pow(a, b, op):
    """pow as C defines it at its special values, as native code (which calls libm's pow)
    does. np.power with a scalar exponent of 0.5 takes a sqrt shortcut that disagrees
    at two points (pow(-inf, 0.5) is inf, not nan; pow(-0.0, 0.5) is 0.0, not -0.0), also
    when the exponent is a 0-d array or a broadcast view with stride 0; an exponent that
    is a real array of the base's shape does not. Elsewhere NumPy's vectorized pow may
    differ from libm's in the last bit (both are within an ulp): the backends agree
    to rounding there, not bit for bit."""
    a, b = np.broadcast_arrays(a, b)
    exponent = np.atleast_1d(b).copy()
    return np.power(np.atleast_1d(a), exponent).reshape(a.shape)


def num_only(fn):
    return lambda a, b, op: fn(a, b)


def ieee_maximum(a, b):
    """max of doubles as IEEE 754-2019 `maximum`: NaN if either is NaN, and +0 above -0.
    Unlike np.maximum (which returns the second of two tied zeros) this is associative and
    commutative, so a max reduction gives the same result in any order: native code
    combines many elements at once."""
    if np.result_type(a, b).kind != "f":
        return np.maximum(a, b)
    tied_zeros = (a == 0) & (b == 0)
    return np.where(tied_zeros, np.where(np.signbit(a) & np.signbit(b), -0.0, 0.0),
                    np.maximum(a, b))


def ieee_minimum(a, b):
    """min of doubles as IEEE 754-2019 `minimum`: NaN if either is NaN, -0 below +0."""
    if np.result_type(a, b).kind != "f":
        return np.minimum(a, b)
    tied_zeros = (a == 0) & (b == 0)
    return np.where(tied_zeros, np.where(np.signbit(a) | np.signbit(b), -0.0, 0.0),
                    np.minimum(a, b))


def ieee_max(a, axis=None):
    """max(a) with ieee_maximum's order: a maximal zero is +0 when any element is +0."""
    top = np.max(a, axis=axis)
    if a.dtype.kind != "f":
        return top
    positive_zero = np.any((a == 0) & ~np.signbit(a), axis=axis)
    return np.where(top == 0, np.where(positive_zero, 0.0, -0.0), top)


def ieee_min(a, axis=None):
    """min(a) with ieee_minimum's order: a minimal zero is -0 when any element is -0."""
    bottom = np.min(a, axis=axis)
    if a.dtype.kind != "f":
        return bottom
    negative_zero = np.any((a == 0) & np.signbit(a), axis=axis)
    return np.where(bottom == 0, np.where(negative_zero, -0.0, 0.0), bottom)


# name: (f64 implementation, i64 implementation or None, element types accepted, result
# element type or None for "same as operands", verb for messages)
NUMERIC = (F64, I64)
BINARY = {
    "add": (num_only(np.add), num_only(np.add), NUMERIC, None, "add"),
    "sub": (num_only(np.subtract), num_only(np.subtract), NUMERIC, None, "subtract"),
    "mul": (num_only(np.multiply), num_only(np.multiply), NUMERIC, None, "multiply"),
    "div": (num_only(np.divide), None, (F64,), None, "divide"),
    "floordiv": (num_only(np.floor_divide), int_floordiv, NUMERIC, None, "floor-divide"),
    "mod": (num_only(np.mod), int_mod, NUMERIC, None, "take modulo of"),
    "pow": (float_pow, int_pow, NUMERIC, None, "raise"),
    "maximum": (num_only(ieee_maximum), num_only(np.maximum), NUMERIC, None, "take max of"),
    "minimum": (num_only(ieee_minimum), num_only(np.minimum), NUMERIC, None, "take min of"),
    "lt": (num_only(np.less), num_only(np.less), NUMERIC, BOOL, "compare"),
    "le": (num_only(np.less_equal), num_only(np.less_equal), NUMERIC, BOOL, "compare"),
    "gt": (num_only(np.greater), num_only(np.greater), NUMERIC, BOOL, "compare"),
    "ge": (num_only(np.greater_equal), num_only(np.greater_equal), NUMERIC, BOOL, "compare"),
    "eq": (num_only(np.equal), num_only(np.equal), (F64, I64, BOOL), BOOL, "compare"),
    "ne": (num_only(np.not_equal), num_only(np.not_equal), (F64, I64, BOOL), BOOL, "compare"),
    "and": (num_only(np.logical_and), None, (BOOL,), BOOL, "apply 'and' to"),
    "or": (num_only(np.logical_or), None, (BOOL,), BOOL, "apply 'or' to"),
}


def broadcast_result_shape(types: list[Type], verb: str) -> tuple:
    try:
        return broadcast_shapes(*(t.shape for t in types))
    except ShapeMismatch as e:
        listed = errors.series([str(t) for t in types])
        raise TypeRuleError(f"cannot {verb} {listed}: dimension {e.a} is not {e.b}") from None


def infer_binary(accepted, result_elem, verb):
    def infer(op, module):
        a, b = operand_types(op)
        if a.elem != b.elem or a.elem not in accepted:
            names = " or ".join(str(s) for s in accepted)
            if a.elem == b.elem:
                raise TypeRuleError(f"cannot {verb} {a} and {b}: expected {names}")
            raise TypeRuleError(f"cannot {verb} {a} and {b}: element types differ")
        shape = broadcast_result_shape([a, b], verb)
        return [array_or_scalar(result_elem or a.elem, shape)]
    return infer


def interp_binary(float_fn, int_fn):
    def interp(op, args, ctx):
        a, b = args
        fn = float_fn if op.operands[0].type.elem != I64 else int_fn
        check_broadcast(op, args)
        with np.errstate(all="ignore"):
            return [as_np(fn(a, b, op), op.results[0].type)]
    return interp


def operand_mismatch(op, axis: int) -> str:
    """What a run-time check of `op`'s operands' sizes along the result's `axis` says
    before the sizes, in the words of the type rule's message: 'cannot add f64[m, n] and
    f64[m, k] along axis 1'."""
    verb = REGISTRY[op.name].verb or f"apply {op.name} to"
    types = errors.series([str(v.type) for v in op.operands])
    result = op.results[0].type
    if result.rank <= 1:
        return f"cannot {verb} {types}"
    same_rank = all(v.type.rank in (0, result.rank) for v in op.operands)
    return f"cannot {verb} {types} along axis {axis}{'' if same_rank else ' of the result'}"


def check_broadcast(op, args) -> None:
    """Run-time shape check where the types left a dimension open (`?`). Only a dimension
    that is the literal 1 in the type broadcasts: a `?` that turns out to be 1 at run time
    must still match, as in the native code. Along each axis, every operand's size is
    compared with that of the first operand whose type names the result's size there, as
    passes/scalarize.py compares them, so the message is native code's: the two sizes in
    the operands' order."""
    result = op.results[0].type
    for axis in range(result.rank):
        found = []  # (named as the result's size, the size), in the operands' order
        for v, a in zip(op.operands, args):
            k = axis - (result.rank - v.type.rank)
            if k >= 0 and v.type.shape[k] != 1:
                found.append((v.type.shape[k] == result.shape[axis], np.shape(a)[k]))
        ref = next((k for k, (named, _) in enumerate(found) if named), 0)
        for k, (_, size) in enumerate(found):
            if size != found[ref][1]:
                left, right = (size, found[ref][1]) if k < ref else (found[ref][1], size)
                raise errors.sizes_differ(operand_mismatch(op, axis), left, right, fmt_loc(op))


def adjoint_div(ad, ct, a, b, y):
    inverse = reciprocal_of_constant(b)
    ct_a = ad.over(ct, b) if inverse is None else ad.times(ct, ad.const(inverse))
    return ct_a, ad.emit("neg", ad.times(ct_a, y))


def reciprocal_of_constant(b):
    """1 / c for a divisor that is the constant c when that is a normal number, else None.
    A cotangent divided by a constant at every element (ode's RK4 `... / 6.0`) is then
    multiplied by 1 / c: a vector division costs about eight products. The product is
    within an ulp of the quotient, and it is what jax.jit computes (XLA turns a division
    by a constant into a product, in primals too; dpc's primals keep the division)."""
    c = constant(b)
    if not isinstance(c, float) or not math.isfinite(c) or c == 0.0:
        return None
    inverse = 1.0 / c
    return inverse if abs(inverse) >= sys.float_info.min and math.isfinite(inverse) else None


def adjoint_pow(ad, ct, a, b, y):
    # d/da a^b = b a^(b-1), taken as 0 at b = 0 (as JAX does): a^0 is 1 everywhere, but
    # 0 * 0^-1 is nan, which made the gradient of a polynomial sum(c[k] * x ** k ...) nan
    # at x = 0. A guarded product, so its own derivative in b (1/a at b = 0) stays, from
    # the guard's rules (zero_guard). d/db a^b = log(a) a^b, taken as 0 at a = 0 (as JAX
    # does) so that x ** 2.0 at x = 0 stays finite whatever the exponent's activity.
    one, zero = ad.const(1.0), ad.const(0.0)
    ct_a = ad.times(ct, ad.times(b, ad.emit("pow", a, ad.emit("sub", b, one))))
    log_a = ad.emit("select", ad.emit("eq", a, zero), zero, ad.emit("log", a))
    return ct_a, ad.times(ct, ad.emit("mul", log_a, y))


def adjoint_mod(ad, ct, a, b, y):
    # a mod b = a - floor(a / b) b
    return ct, ad.emit("neg", ad.times(ct, ad.emit("floor", ad.emit("div", a, b))))


def adjoint_pick(keep_first):
    """maximum / minimum: ct goes to a where a wins or ties or is NaN, else to b. A NaN
    operand is the result (NaN propagates), so it won, as the first NaN of a max(x)
    reduction does: max folded over x's elements then has max(x)'s gradient."""
    def rule(ad, ct, a, b, y):
        first = ad.emit("or", ad.emit(keep_first, a, b), ad.emit("ne", a, a))
        zero = ad.const(0.0)
        return ad.emit("select", first, ct, zero), ad.emit("select", first, zero, ct)
    return rule


# name: (ad, ct, a, b, y) -> (ct_a, ct_b), at the result's shape; the AD pass sums them
# over broadcast axes. Comparisons, and/or and floordiv have derivative 0. Products go
# through `ad.times` too: in where(x > 0, log(x) * x, 0) at 0, the masked-out cotangent
# of the product must not meet log(0) = -inf.
BINARY_ADJOINT = {
    "add": lambda ad, ct, a, b, y: (ct, ct),
    "sub": lambda ad, ct, a, b, y: (ct, ad.emit("neg", ct)),
    "mul": lambda ad, ct, a, b, y: (ad.times(ct, b), ad.times(ct, a)),
    "div": adjoint_div,
    "pow": adjoint_pow,
    "mod": adjoint_mod,
    "maximum": adjoint_pick("ge"),
    "minimum": adjoint_pick("le"),
}


def adjoint_binary(name):
    rule = BINARY_ADJOINT.get(name)

    def adjoint(ad, op, cts):
        if rule is None:
            return [None, None]
        a, b = op.operands
        return list(rule(ad, cts[0], ad.x(a), ad.x(b), ad.x(op.result)))
    return adjoint


def tangent_binary(name):
    """Elementwise, so as for unary ops: the part of the adjoint rule for each operand,
    applied to that operand's tangent; the tangent is their sum."""
    rule = BINARY_ADJOINT.get(name)

    def tangent(fw, op):
        if rule is None:
            return [None]
        a, b = fw.xs(op.operands)
        y = fw.x(op.result)
        return [fw.total([rule(fw, t, a, b, y)[k] if t is not None else None
                          for k, t in enumerate(map(fw.dx, op.operands))])]
    return tangent


for _name, (_f, _i, _accepted, _res, _verb) in BINARY.items():
    register(OpDef(_name, infer_binary(_accepted, _res, _verb), interp_binary(_f, _i), operands=2,
                   tangent=tangent_binary(_name), adjoint=adjoint_binary(_name), verb=_verb,
                   folds=_name not in NOT_FOLDED))


# The ops that apply to arrays element by element: their result has the shape their
# array operands broadcast to (passes/scalarize.py makes them loops; passes/dce.py
# follows a shape back through them).
ELEMENTWISE = set(UNARY) | set(BINARY) | {"select", "to_f64", "to_i64"}

SELECT_VERB = "apply where() to"


def infer_select(op, module):
    c, a, b = operand_types(op)
    if c.elem != BOOL:
        raise TypeRuleError(f"where() needs a bool condition, got {c}")
    if a.elem != b.elem:
        raise TypeRuleError(f"where() branches have different element types: {a} and {b}")
    return [array_or_scalar(a.elem, broadcast_result_shape([c, a, b], SELECT_VERB))]


def interp_select(op, args, ctx):
    check_broadcast(op, args)
    return [as_np(np.where(*args), op.results[0].type)]


# The attribute that marks AD's guarded products (passes/emit.py, Emitter.guarded): only
# those are read as products below, never a program's own `where(g == 0.0, 0.0, g * d)`,
# whose derivative at g = 0 is that of the branch it takes (0 for p * log(p) at p = 0).
ZERO_GUARD = "zero_guard"


def zero_guard(op):
    """(g, d, "mul" or "div") when op is AD's `select(g == 0, 0, g * d)` or `select(g ==
    0, 0, g / d)` {zero_guard}: a derivative's product guarded so that an exactly zero g
    gives 0 even where d is infinite or NaN; else None. The guard is not a branch: it is
    g * d with that convention, and its own derivative has the part through g, d * dg,
    also where g is 0. Without that part a Hessian lost every term whose first derivative
    passed through a zero (r * r at a residual r = 0 had Hessian 0, not 2)."""
    c, _, b = op.operands
    test, product = c.defining_op, b.defining_op
    if not op.attrs.get(ZERO_GUARD) or test is None or product is None \
            or product.name not in ("mul", "div") or product.operands[0] is not test.operands[0]:
        return None  # not a guard, or no longer one after a pass rewrote its parts
    return product.operands[0], product.operands[1], product.name


def through_guarded(d, name: str, dg, factor):
    """The part of a guarded g * factor (g / factor) that comes from g: dg * factor
    (dg / factor), itself 0 where dg is 0."""
    return d.times(dg, factor) if name == "mul" else d.over(dg, factor)


def adjoint_select(ad, op, cts):
    (ct,) = cts
    c = ad.x(op.operands[0])
    zero = ad.const(0.0)
    guard = zero_guard(op)
    if guard is not None:  # where g is 0, the product's cotangent still reaches g
        g, factor, name = guard
        ad.accumulate(g, ad.emit("select", c, through_guarded(ad, name, ct, ad.x(factor)), zero))
    return [None, ad.emit("select", c, ct, zero), ad.emit("select", c, zero, ct)]


def tangent_select(fw, op):
    c, a, b = op.operands
    guard = zero_guard(op)
    if guard is not None and fw.dx(guard[0]) is not None:  # where g is 0: dg * factor
        g, factor, name = guard
        at_zero = through_guarded(fw, name, fw.dx(g), fw.x(factor))
        return [fw.emit("select", fw.x(c), at_zero, fw.t(b))]
    return [fw.emit("select", fw.x(c), fw.t(a), fw.t(b))]


register(OpDef("select", infer_select, interp_select, operands=3, tangent=tangent_select,
               adjoint=adjoint_select, verb=SELECT_VERB))


# ----------------------------------------------------------------------------- arrays

def is_position(value) -> bool:
    """An axis or a parameter position: an int, not a bool (which Python counts as one)."""
    return isinstance(value, int) and not isinstance(value, bool)


def infer_dim(op, module):
    (t,) = operand_types(op)
    axis = op.attrs["axis"]
    if not is_position(axis):
        raise TypeRuleError(f"dim axis must be an integer, got {format_attr(axis)}")
    if not 0 <= axis < t.rank:
        raise TypeRuleError(f"dim axis {axis} is out of range for {t}")
    return [I64]


def interp_dim(op, args, ctx):
    return [np.int64(np.shape(args[0])[op.attrs["axis"]])]


register(OpDef("dim", infer_dim, interp_dim, operands=1, attrs=("axis",)))


def index_result_type(a: Type, idx: list[Type]) -> Type:
    """The type of `a[idx...]`: a scalar with one index per axis, else a sub-array."""
    if a.rank == 0:
        raise TypeRuleError(f"cannot index {a}: it is not an array")
    if not 1 <= len(idx) <= a.rank:
        raise TypeRuleError(f"too many indices for {a}: {len(idx)} given, rank is {a.rank}")
    for t in idx:
        if t != I64:
            raise TypeRuleError(f"an index must be i64, got {t}")
    return array_or_scalar(a.elem, a.shape[len(idx):])


def check_proof(op) -> None:
    """An `inbounds` proof drops native code's bounds check, so a value that means none of
    the proofs below must not pass unnoticed (IR text can say anything)."""
    proof = op.attrs.get("inbounds", False)
    if not isinstance(proof, (bool, str)) or proof not in PROOFS:  # 1 == True: not a proof
        named = [format_attr(p) for p in PROOFS]
        raise TypeRuleError(f"inbounds must be {', '.join(named[:-1])} or {named[-1]}, "
                            f"got {format_attr(proof)}")


def infer_index(op, module):
    check_proof(op)
    if len(op.operands) < 2:
        raise TypeRuleError(f"index takes an array and at least one index, got "
                            f"{count(len(op.operands), 'operand')}")
    a, *idx = operand_types(op)
    return [index_result_type(a, idx)]


def normalize_index(i, size: int, axis: int, op) -> int:
    """Python indexing: -size <= i < size, negative counting from the end."""
    i = int(i)
    if not -size <= i < size:
        name = indexed_name(op)
        of = f" of {name}" if name else ""
        raise errors.IndexErrorDP(
            f"index {i} is out of bounds for axis {axis}{of} with size {size}{fmt_loc(op)}")
    return i + size if i < 0 else i


def normalized_indices(op, array, idx) -> tuple:
    shape = np.shape(array)
    return tuple(normalize_index(i, shape[k], k, op) for k, i in enumerate(idx))


def interp_index(op, args, ctx):
    a, *idx = args
    picked = a[normalized_indices(op, a, idx)]
    return [as_np(picked.copy() if isinstance(picked, np.ndarray) else picked, op.results[0].type)]


def adjoint_index(ad, op, cts):
    a, *idx = op.operands
    ad.add_at(a, cts[0], ad.xs(idx))  # O(1): into the array's adjoint, never a one-hot
    return [None] * len(op.operands)


# `inbounds` proofs: an index op carrying one is in range, and native code does not check
# it. true: in [0, size) wherever the op is moved; "wraps": in [-size, size), a negative
# index counting from the end. Valid only where the op stands (passes/dce.never_fails
# keeps them there): "guarded", in [0, size) under the test of the enclosing `if`
# (passes/bounds.py); "repeated", an access AD makes that repeats one an op of the
# program, run on the same values, has checked (one done under `if j < n`, or in a loop
# that may run no iteration, must stay where it is; the bounds pass upgrades it when the
# loops alone prove it); "assumed", any index under --unchecked.
REPEATED, GUARDED, ASSUMED = "repeated", "guarded", "assumed"
PROOFS = (True, False, "wraps", GUARDED, REPEATED, ASSUMED)  # False: none
MOVABLE_PROOFS = (True, "wraps")
WRAPPING_PROOFS = ("wraps", REPEATED, ASSUMED)  # native code maps a negative index


def tangent_index(fw, op):
    a, *idx = op.operands
    return [fw.emit("index", fw.dx(a), *fw.xs(idx), inbounds=REPEATED)]


register(OpDef("index", infer_index, interp_index, tangent=tangent_index, adjoint=adjoint_index))


def infer_update(op, module):
    check_proof(op)
    if len(op.operands) < 3:
        raise TypeRuleError(f"{op.name} takes an array, a value and at least one index, "
                            f"got {count(len(op.operands), 'operand')}")
    a, v, *idx = operand_types(op)
    slot = index_result_type(a, idx)
    if v.elem != a.elem:
        advice = " (convert with int(...), which truncates toward zero)" if (
            v.elem == F64 and a.elem == I64) else ""
        raise TypeRuleError(f"cannot store {v} into an element of {a}{advice}")
    try:
        fits = broadcast_shapes(v.shape, slot.shape) == slot.shape and v.rank <= slot.rank
        reason = ""
    except ShapeMismatch as e:
        fits, reason = False, f": {e}"
    if not fits:
        part = {0: "an element", 1: "a row"}.get(slot.rank, "a sub-array")
        raise TypeRuleError(f"cannot store {v} into {part} of {a}, which is {slot}{reason}")
    return [a]


def check_store(op, v, slot_shape) -> None:
    """A value stored into (or added to) a slot broadcasts as in binary ops: along missing
    leading axes and axes whose size is the literal 1 in its type, never along a `?` that
    happens to be 1 at run time (as in native code)."""
    v_type = op.operands[1].type
    aligned = slot_shape[len(slot_shape) - v_type.rank:]  # the type rule: rank <= the slot's
    for d, t, s in zip(np.shape(v), v_type.shape, aligned):
        if t != 1 and d != s:  # compared axis by axis, as native code compares them
            raise errors.sizes_differ(op.attrs.get("message", errors.STORED_ROW), d, s, fmt_loc(op))


def interp_update(op, args, ctx):
    a, v, *idx = args
    out = a.copy()  # value semantics: the caller's array is never changed
    key = normalized_indices(op, a, idx)
    check_store(op, v, np.shape(out[key]))
    out[key] = v
    return [out]


def adjoint_update(ad, op, cts):
    """The stored slot's cotangent goes to the value; the array's is ct with the slot
    zeroed. The read comes first, so native code can zero the slot of ct in place."""
    (ct,) = cts
    a, v, *idx = op.operands
    at = ad.xs(idx)  # checked when the update ran
    slot = ad.emit("index", ct, *at, inbounds=REPEATED) if ad.active(v) else None
    rest = ad.emit("update", ct, ad.const(0.0), *at, inbounds=REPEATED) if ad.active(a) else None
    return [rest, slot] + [None] * len(idx)


def tangent_store(fw, op):
    """update / add_at: the same store into the array's tangent, of the value's tangent."""
    a, v, *idx = op.operands
    if fw.dx(v) is None and op.name == "add_at":
        return [fw.dx(a)]
    stored = fw.dx(v) if fw.dx(v) is not None else fw.const(0.0)
    return [fw.emit(op.name, fw.t(a), stored, *fw.xs(idx), inbounds=REPEATED)]


register(OpDef("update", infer_update, interp_update, tangent=tangent_store,
               adjoint=adjoint_update))


def interp_add_at(op, args, ctx):
    a, v, *idx = args
    out = a.copy()
    key = normalized_indices(op, a, idx)
    check_store(op, v, np.shape(out[key]))
    out[key] = out[key] + v
    return [out]


def adjoint_add_at(ad, op, cts):
    (ct,) = cts
    a, v, *idx = op.operands
    slot = ad.emit("index", ct, *ad.xs(idx), inbounds=REPEATED) if ad.active(v) else None
    return [ct, slot] + [None] * len(idx)


# add_at(a, v, i...): `a` with v added to a[i...] (a row when fewer indices than axes).
# Reverse mode turns each indexing read into one: an O(1) accumulation into the array's
# adjoint, done in place by native code when the adjoint is not shared.
register(OpDef("add_at", infer_update, interp_add_at, tangent=tangent_store,
               adjoint=adjoint_add_at))


def infer_full(op, module):
    if not op.operands:
        raise TypeRuleError("full takes a fill value and at least one dimension, got no "
                            "operand")
    v, *dims = op.operands
    if v.type.rank != 0:
        raise TypeRuleError(f"the fill value must be a scalar, got {v.type}")
    if not dims:
        raise TypeRuleError("an array needs at least one dimension")
    for d in dims:
        if d.type != I64:
            raise TypeRuleError(f"array dimensions must be i64, got {d.type}")
    return [ArrayType(v.type.elem, tuple(size_dim(d) for d in dims))]


# A `full` {overwritten} is an array whose every element is stored before it is read:
# reverse mode's tapes, which the forward loop fills one row per iteration. Native code
# then leaves the buffer unfilled (the fill of ode's y tape was 3% of its gradient); the
# interpreter fills an f64 one with NaN, so that a read before the store shows in the
# values the tests compare.
OVERWRITTEN = "overwritten"

# A sum {in_order} adds its elements one after another, however many there are, where
# native code would add a long sum in partial sums (runtime/lower.py, sum_of_doubles):
# scalarize's sum along axis 0 of a matrix whose rows have a size `?`, a sum per column,
# which must give the bits of a sum of the rows (sum_of_rows), its form for other rows.
IN_ORDER = "in_order"

# The shortest sum of doubles native code adds in partial sums (runtime/lower.py,
# sum_of_doubles), lanes of a vector; reverse mode sums a scalar's cotangent over a loop in
# parts only from there (passes/ad.py, summed_in_parts), where reduce_sum uses the lanes.
SUM_LANES_FROM = 16


def interp_full(op, args, ctx):
    v, *dims = args
    for d in dims:
        if d < 0:
            raise errors.ValueErrorDP(f"negative array dimension {int(d)}{fmt_loc(op)}")
    shape = tuple(int(d) for d in dims)
    elem = op.results[0].type.elem
    if op.attrs.get(OVERWRITTEN) and elem == F64:
        v = np.nan
    return [allocate(op, shape, lambda: np.full(shape, v, dtype=NP_DTYPE[elem]))]


def adjoint_full(ad, op, cts):
    (ct,) = cts
    return [ad.emit("reduce_sum", ct)] + [None] * (len(op.operands) - 1)


def tangent_full(fw, op):
    return [fw.emit("full", fw.dx(op.operands[0]), *fw.xs(op.operands[1:]))]


register(OpDef("full", infer_full, interp_full, tangent=tangent_full, adjoint=adjoint_full))


# arange(n) is 0, 1, ..., n - 1, as NumPy's and range(n): empty for a negative n, not an
# error (zeros(n) is one, as in NumPy), so arange(n) agrees with [i for i in range(n)].
def infer_arange(op, module):
    (n,) = op.operands
    if n.type != I64:
        raise TypeRuleError(f"arange() needs an i64 length, got {n.type}")
    return [ArrayType(I64, (count_dim(n),))]


def interp_arange(op, args, ctx):
    n = max(int(args[0]), 0)
    return [allocate(op, (n,), lambda: np.arange(n, dtype=np.int64))]


register(OpDef("arange", infer_arange, interp_arange, operands=1))


def infer_stack(op, module):
    types = operand_types(op)
    if not types:
        raise TypeRuleError("an array literal needs at least one element")
    first = types[0]
    for t in types[1:]:
        if t.elem != first.elem or t.rank != first.rank:
            raise TypeRuleError(f"array literal elements differ: {first} and {t}")
    shape = first.shape
    for t in types[1:]:
        if t.shape != shape:
            try:
                shape = tuple(d if d == e else _stack_dim(d, e) for d, e in zip(shape, t.shape))
            except ShapeMismatch:
                raise TypeRuleError(f"array literal elements differ: {first} and {t}") from None
    return [ArrayType(first.elem, (len(types), *shape))]


def _stack_dim(d, e):
    if DYN in (d, e):
        return d if e == DYN else e
    raise ShapeMismatch(d, e)


def interp_stack(op, args, ctx):
    for a in args[1:]:
        if np.shape(a) != np.shape(args[0]):
            raise different_shapes("array literal rows", np.shape(a), np.shape(args[0]), op)
    return [np.array(args, dtype=NP_DTYPE[op.results[0].type.elem])]


def adjoint_stack(ad, op, cts):
    (ct,) = cts
    return [ad.emit("index", ct, ad.const(k), inbounds=True) for k in range(len(op.operands))]


def tangent_stack(fw, op):
    return [fw.emit("stack", *map(fw.t, op.operands))]


register(OpDef("stack", infer_stack, interp_stack, tangent=tangent_stack, adjoint=adjoint_stack))


def infer_shape_cast(op, module):
    """Checked at run time: the operand's `?` dimensions are the declared ones. With an
    `argument` attribute (a parameter's name), it checks that argument's size as the
    calling convention does, and its error says so."""
    (t,) = operand_types(op)
    declared = op.attrs["type"]
    if not isinstance(declared, (ScalarType, ArrayType)):
        raise TypeRuleError(f"the type attribute must be a type such as f64[n], got {format_attr(declared)}")
    if t.elem != declared.elem or t.rank != declared.rank:
        raise TypeRuleError(f"cannot use {t} as {declared}")
    for d, e in zip(t.shape, declared.shape):
        if d != e and d != DYN and e != DYN:
            raise TypeRuleError(f"cannot use {t} as {declared}: dimension {d} is not {e}")
    return [declared]


def interp_shape_cast(op, args, ctx):
    (a,) = args
    declared = op.attrs["type"]
    for axis, (size, d) in enumerate(zip(np.shape(a), declared.shape)):
        expected = ctx.dim_value(d)
        if expected is not None and size != expected and "argument" in op.attrs:
            raise errors.argument_size(op.attrs["argument"], declared, axis, size, expected)
        if expected is not None and size != expected:
            raise errors.not_declared(declared, d, axis, size, expected, fmt_loc(op))
    return [a]


register(OpDef("shape_cast", infer_shape_cast, interp_shape_cast, operands=1, attrs=("type",),
               tangent=tangent_identity, adjoint=adjoint_identity))


def infer_shape_check(op, module):
    a, b = operand_types(op)
    if a != I64 or b != I64:
        raise TypeRuleError(f"shape_check compares two i64 sizes, got {a} and {b}")
    return []


def interp_shape_check(op, args, ctx):
    if args[0] != args[1]:
        raise errors.sizes_differ(op.attrs["message"], args[0], args[1], fmt_loc(op))
    return []


register(OpDef("shape_check", infer_shape_check, interp_shape_check, operands=2,
               attrs=("message",), pure=False))


# reductions over all elements (axis None) or one axis
REDUCTIONS = {
    "reduce_sum": (np.sum, "sum", (F64, I64)),
    "reduce_prod": (np.prod, "prod", (F64, I64)),
    "reduce_max": (ieee_max, "max", (F64, I64)),
    "reduce_min": (ieee_min, "min", (F64, I64)),
}


def infer_reduction(what):
    def infer(op, module):
        (t,) = operand_types(op)
        if t.rank == 0 or t.elem not in (F64, I64):
            raise TypeRuleError(f"{what}() needs a numeric array, got {t}")
        axis = op.attrs.get("axis")
        if axis is None:
            return [t.elem]
        if not is_position(axis):
            raise TypeRuleError(f"axis must be an integer, got {format_attr(axis)}")
        if not 0 <= axis < t.rank:
            raise TypeRuleError(f"axis {axis} is out of range for {t} (rank {t.rank})")
        return [array_or_scalar(t.elem, t.shape[:axis] + t.shape[axis + 1:])]
    return infer


def interp_reduction(fn, what):
    def interp(op, args, ctx):
        (a,) = args
        axis = op.attrs.get("axis")
        empty = a.size == 0 if axis is None else a.shape[axis] == 0
        if empty and what in ("max", "min"):
            raise errors.ValueErrorDP(f"{what}() of an empty sequence{fmt_loc(op)}")
        return [as_np(fn(a, axis=axis), op.results[0].type)]
    return interp


def adjoint_reduce_sum(ad, op, cts):
    return [ad.spread(cts[0], op.attrs.get("axis"), ad.x(op.operands[0]))]


def tangent_reduce_sum(fw, op):
    return [fw.emit("reduce_sum", fw.dx(op.operands[0]), **op.attrs)]


def product_of_others(d, op):
    """For each element of reduce_prod's operand, the product of the other elements it
    is reduced with (Emitter.products_of_others)."""
    return d.products_of_others(d.x(op.operands[0]), op.attrs.get("axis"))


def adjoint_reduce_prod(ad, op, cts):
    a = ad.x(op.operands[0])
    return [ad.emit("mul", ad.spread(cts[0], op.attrs.get("axis"), a), product_of_others(ad, op))]


def tangent_reduce_prod(fw, op):
    t = fw.emit("mul", fw.dx(op.operands[0]), product_of_others(fw, op))
    return [fw.emit("reduce_sum", t, **op.attrs)]


def adjoint_reduce_pick(ad, op, cts):
    """max / min: all of ct to the first extreme element (in row-major order)."""
    ad.add_at_first(op.operands[0], op.result, cts[0], op.attrs.get("axis"))
    return [None]


def tangent_reduce_pick(fw, op):
    """max / min: the tangent of the first extreme element (in row-major order)."""
    a, t = fw.x(op.operands[0]), fw.dx(op.operands[0])
    axis = op.attrs.get("axis")
    firsts = fw.first_extreme(a, fw.x(op.result), axis)
    if axis is None:
        return [fw.emit("index", t, *firsts, inbounds=True)]
    return [fw.nest(fw.dims(firsts), lambda idx: fw.emit(
        "index", t, *idx[:axis], fw.at(firsts, idx), *idx[axis:], inbounds=True))]


REDUCTION_ADJOINT = {"reduce_sum": adjoint_reduce_sum, "reduce_prod": adjoint_reduce_prod,
                     "reduce_max": adjoint_reduce_pick, "reduce_min": adjoint_reduce_pick}
REDUCTION_TANGENT = {"reduce_sum": tangent_reduce_sum, "reduce_prod": tangent_reduce_prod,
                     "reduce_max": tangent_reduce_pick, "reduce_min": tangent_reduce_pick}

for _name, (_fn, _what, _accepted) in REDUCTIONS.items():
    register(OpDef(_name, infer_reduction(_what), interp_reduction(_fn, _what), operands=1,
                   tangent=REDUCTION_TANGENT[_name], adjoint=REDUCTION_ADJOINT[_name]))


# ----------------------------------------------------------------------------- linear algebra

def need_f64_arrays(types, what, ranks):
    for t in types:
        if t.elem != F64 or t.rank not in ranks:
            raise TypeRuleError(f"{what} needs f64 arrays of rank {' or '.join(map(str, ranks))}, got {t}")


def same_dim(a, b, what, ta, tb):
    if a != b and DYN not in (a, b):
        raise TypeRuleError(f"cannot {what} {ta} and {tb}: dimension {a} is not {b}")
    return b if a == DYN else a


def infer_dot(op, module):
    a, b = operand_types(op)
    need_f64_arrays([a, b], "dot()", (1,))
    same_dim(a.shape[0], b.shape[0], "take dot of", a, b)
    return [F64]


def infer_matmul(op, module):
    a, b = operand_types(op)
    # worded for `a @ b` and for dot(a, b) alike: the two lower to this op
    need_f64_arrays([a, b], "a matrix product (a @ b, dot(a, b))", (1, 2))
    if a.rank == 1 and b.rank == 1:
        raise TypeRuleError(f"'@' of two vectors {a} and {b}: use dot(a, b)")
    same_dim(a.shape[-1], b.shape[0], "matrix-multiply", a, b)
    return [array_or_scalar(F64, a.shape[:-1] + b.shape[1:])]


def infer_transpose(op, module):
    """NumPy's: the axes reversed (a vector stays as it is). Any element type: a transpose
    moves elements and computes nothing (NumPy's keeps an integer matrix integer)."""
    (a,) = operand_types(op)
    if a.rank == 0:
        raise TypeRuleError(f"transpose() needs an array, got {a}")
    return [ArrayType(a.elem, tuple(reversed(a.shape)))]


def infer_outer(op, module):
    a, b = operand_types(op)
    need_f64_arrays([a, b], "outer()", (1,))
    return [ArrayType(F64, (a.shape[0], b.shape[0]))]


def interp_linalg(fn, contracted: str | None = None):
    """The rule of a linear-algebra op; `contracted`, for a product, is the message of the
    check that the left operand's last size is the right one's first."""
    def interp(op, args, ctx):
        if contracted is not None:
            left, right = np.shape(args[0])[-1], np.shape(args[1])[0]
            if left != right:  # the sizes native code compares, in its order
                raise errors.sizes_differ(contracted, left, right, fmt_loc(op))
        with np.errstate(all="ignore"):  # 0 * inf is NaN here as in native code, silently
            return [as_np(fn(*args), op.results[0].type)]
    return interp


def adjoint_dot(ad, op, cts):
    (ct,) = cts
    a, b = ad.xs(op.operands)
    return [ad.times(ct, b), ad.times(ct, a)]


def adjoint_matmul(ad, op, cts):
    (ct,) = cts
    a, b = ad.xs(op.operands)
    if a.type.rank == 1:  # a @ B: ct_a = B ct, ct_B = outer(a, ct)
        return [ad.emit("matmul", b, ct), ad.emit("outer", a, ct)]
    if b.type.rank == 1:  # A @ b: ct_A = outer(ct, b), ct_b = A^T ct = ct A
        return [ad.emit("outer", ct, b), ad.emit("matmul", ct, a)]
    return [ad.emit("matmul", ct, ad.emit("transpose", b)),
            ad.emit("matmul", ad.emit("transpose", a), ct)]


def adjoint_transpose(ad, op, cts):
    return [ad.emit("transpose", cts[0])]


def adjoint_outer(ad, op, cts):
    (ct,) = cts
    a, b = ad.xs(op.operands)
    return [ad.emit("matmul", ct, b), ad.emit("matmul", a, ct)]


def tangent_bilinear(fw, op):
    """dot, matmul, outer: (a + da)(b + db) = ab + da b + a db + ..."""
    a, b = op.operands
    da, db = fw.dx(a), fw.dx(b)
    return [fw.total([fw.emit(op.name, da, fw.x(b)) if da is not None else None,
                      fw.emit(op.name, fw.x(a), db) if db is not None else None])]


def tangent_transpose(fw, op):
    return [fw.emit("transpose", fw.dx(op.operands[0]))]


def from_plus_zero(product):
    """A product whose sums start from +0.0, as native code's do (and np.sum's): where
    every term is -0.0, np.dot's sum is -0.0, native code's +0.0. Adding +0.0 changes
    nothing else."""
    return lambda a, b: product(a, b) + 0.0


register(OpDef("dot", infer_dot, interp_linalg(from_plus_zero(np.dot), errors.DOT_LENGTHS),
               operands=2, tangent=tangent_bilinear, adjoint=adjoint_dot))
register(OpDef("matmul", infer_matmul,
               interp_linalg(from_plus_zero(np.matmul), errors.INNER_DIMENSIONS), operands=2,
               tangent=tangent_bilinear, adjoint=adjoint_matmul))
register(OpDef("transpose", infer_transpose, interp_linalg(lambda a: np.ascontiguousarray(a.T)),
               operands=1, tangent=tangent_transpose, adjoint=adjoint_transpose))
register(OpDef("outer", infer_outer, interp_linalg(np.outer), operands=2,
               tangent=tangent_bilinear, adjoint=adjoint_outer))


# ----------------------------------------------------------------------------- control flow

def check_carried(op, block, inits: list[Type], lead: int, what: str) -> None:
    """Region arguments after the first `lead` take the carried values; yields feed them back."""
    args = [a.type for a in block.args[lead:]]
    if len(args) != len(inits):
        raise TypeRuleError(f"{what} region has {len(args)} carried arguments for {len(inits)} values")
    for init, arg in zip(inits, args):
        if not assignable(init, arg):
            raise TypeRuleError(f"{what} carries {init} into an argument of type {arg}")


def check_yield(block, expected: list[Type], what: str) -> None:
    got = yield_types(block)
    if len(got) != len(expected):
        raise TypeRuleError(f"{what} region yields {len(got)} values, expected {len(expected)}")
    for g, e in zip(got, expected):
        if not assignable(g, e):
            raise TypeRuleError(f"{what} region yields {g} where {e} is expected")


def infer_for(op, module):
    """for(start, stop, step, init...) { ^(i, carried...): ... yield carried' }"""
    check_range_operands(op, "for")
    (body,) = op.regions
    inits = [v.type for v in op.operands[3:]]
    if not body.args or body.args[0].type != I64:
        raise TypeRuleError("for region's first argument must be the i64 induction variable")
    check_carried(op, body, inits, 1, "for")
    carried = [a.type for a in body.args[1:]]
    check_yield(body, carried, "for")
    return carried


def interp_for(op, args, ctx):
    start, stop, step, *carried = args
    (body,) = op.regions
    for i in range(int(start), int(stop), int(step) if step != 0 else _zero_step(op)):
        carried = ctx.run_block(body, [np.int64(i), *carried])
    return list(carried)


def _zero_step(op):
    raise errors.ValueErrorDP(f"range() step must not be zero{fmt_loc(op)}")


# trip_count(start, stop, step): how many iterations `for i in range(start, stop, step)`
# runs, for AD's tapes and reverse loops. Computed as i64 arithmetic, stop - start + step - 1
# wraps around for ranges like range(0, 2**63 - 1, 2**62), and a tape one row short of the
# loop that fills it corrupts memory. A count of 2**63 or more (range(-1, 2**63 - 1)) is
# 2**63 - 1, as every loop counts (range_length); step 0 gives 0, the loop itself raising
# the error.
def infer_trip_count(op, module):
    if any(t != I64 for t in operand_types(op)):
        raise TypeRuleError(f"trip_count needs i64 start, stop and step, got {operand_types(op)}")
    return [I64]


def interp_trip_count(op, args, ctx):
    start, stop, step = (int(a) for a in args)
    return [np.int64(range_length(start, stop, step) if step else 0)]


register(OpDef("trip_count", infer_trip_count, interp_trip_count, operands=3))


register(OpDef("for", infer_for, interp_for, region_arity=1,
               tangent=lambda fw, op: fw.tangent_for(op),
               adjoint=lambda ad, op, cts: ad.reverse_for(op, cts)))


def infer_while(op, module):
    """while(init...) { ^(carried...): yield cond } { ^(carried...): yield carried' }"""
    cond, body = op.regions
    inits = operand_types(op)
    check_carried(op, cond, inits, 0, "while condition")
    check_carried(op, body, inits, 0, "while body")
    carried = [a.type for a in body.args]
    if [a.type for a in cond.args] != carried:
        raise TypeRuleError("while condition and body take different argument types")
    check_yield(cond, [BOOL], "while condition")
    check_yield(body, carried, "while body")
    return carried


def interp_while(op, args, ctx):
    cond, body = op.regions
    carried = list(args)
    while ctx.run_block(cond, carried)[0]:
        carried = ctx.run_block(body, carried)
    return carried


register(OpDef("while", infer_while, interp_while, region_arity=2,
               tangent=lambda fw, op: fw.tangent_while(op),
               adjoint=lambda ad, op, cts: ad.reverse_while(op, cts)))


def infer_if(op, module):
    """if(c) { yield a... } { yield b... }: results take the declared types."""
    (c,) = operand_types(op)
    if c != BOOL:
        raise TypeRuleError(f"if condition must be bool, got {c}")
    then, other = op.regions
    if then.args or other.args:
        raise TypeRuleError("if regions take no arguments")
    declared = [r.type for r in op.results]
    check_yield(then, declared, "if-then")
    check_yield(other, declared, "if-else")
    return declared


def interp_if(op, args, ctx):
    then, other = op.regions
    return ctx.run_block(then if args[0] else other, [])


register(OpDef("if", infer_if, interp_if, operands=1, region_arity=2,
               tangent=lambda fw, op: fw.tangent_if(op),
               adjoint=lambda ad, op, cts: ad.reverse_if(op, cts)))


def infer_build(op, module):
    """build(start, stop, step) { ^(i): yield e } -> array of e, one per i."""
    check_range_operands(op, "comprehension")
    (body,) = op.regions
    if len(body.args) != 1 or body.args[0].type != I64:
        raise TypeRuleError("build region takes one i64 argument")
    elem = yielded_type(body)
    return [ArrayType(elem.elem, (range_count_dim(op), *elem.shape))]


# A build that stands for an array op (passes/scalarize.py) whose result's type leaves a
# row size `?`: its rows are builds nested in its body, of sizes fixed before it, and with
# no row it still has those sizes (exp of a 0 x k matrix is 0 x k), where a comprehension
# of no elements has 0 along a `?`, no row having run to say more.
KNOWN_ROWS = "known_rows"


def known_row_sizes(op) -> list | None:
    """The stops of the builds nested in a build marked KNOWN_ROWS, outermost first, one
    per axis after the first (each counts from 0 by 1, its stop computed before the
    build); None for any other build."""
    if not op.attrs.get(KNOWN_ROWS):
        return None
    sizes, inner, inside = [], op, defined_within(op)
    while len(sizes) < op.results[0].type.rank - 1:
        body = inner.regions[0]
        row = body.ops[-1].operands[0].defining_op
        if row is None or row.name != "build" or row not in body.ops or \
                row.operands[1] in inside:
            return None
        sizes.append(row.operands[1])
        inner = row
    return sizes


def interp_build(op, args, ctx):
    """Allocates as native code does: an array of scalars before the first element, an
    array of arrays once the first element fixes the shape of the others."""
    start, stop, step = args
    (body,) = op.regions
    n = range_count(start, stop, step, op)
    rtype = op.results[0].type
    dtype = NP_DTYPE[rtype.elem]
    if n == 0:
        known = known_row_sizes(op)
        if known is not None:
            shape = (0, *(int(ctx.frame.env[v]) for v in known))
        else:  # a row's sizes as the type names them, 0 along a `?`
            shape = (0, *(ctx.dim_value(d) or 0 for d in rtype.shape[1:]))
        return [np.zeros(shape, dtype=dtype)]
    out = allocate(op, (n,), lambda: np.empty(n, dtype=dtype)) if rtype.rank == 1 else None
    for k, i in enumerate(range(int(start), int(stop), int(step))):
        (x,) = ctx.run_block(body, [np.int64(i)])
        if out is None:
            shape = (n, *np.shape(x))
            out = allocate(op, shape, lambda: np.empty(shape, dtype=dtype))
        elif np.shape(x) != out.shape[1:]:
            raise different_shapes("comprehension elements", np.shape(x), out.shape[1:], op)
        out[k] = x
    return [out]


register(OpDef("build", infer_build, interp_build, operands=3, region_arity=1,
               tangent=lambda fw, op: fw.tangent_build(op),
               adjoint=lambda ad, op, cts: ad.reverse_build(op, cts)))


REDUCE_KINDS = {"sum": np.add, "prod": np.multiply, "max": ieee_maximum, "min": ieee_minimum}


def infer_reduce(op, module):
    """reduce(start, stop, step) {kind} { ^(i): yield e } -> e combined over all i."""
    check_range_operands(op, "reduction")
    if not isinstance(op.attrs["kind"], str) or op.attrs["kind"] not in REDUCE_KINDS:
        raise TypeRuleError(f"unknown reduction kind {format_attr(op.attrs['kind'])}")
    (body,) = op.regions
    if len(body.args) != 1 or body.args[0].type != I64:
        raise TypeRuleError("reduce region takes one i64 argument")
    elem = yielded_type(body)
    if elem.elem not in (F64, I64):
        raise TypeRuleError(f"{op.attrs['kind']}() needs numeric elements, got {elem}")
    return [elem]


def interp_reduce(op, args, ctx):
    start, stop, step = args
    kind = op.attrs["kind"]
    (body,) = op.regions
    n = range_count(start, stop, step, op)
    rtype = op.results[0].type
    if n == 0:
        if kind in ("max", "min"):
            raise errors.ValueErrorDP(f"{kind}() of an empty sequence{fmt_loc(op)}")
        return [as_np(np.full(tuple(ctx.dim_value(d) or 0 for d in rtype.shape),
                              0 if kind == "sum" else 1), rtype)]
    acc = None
    combine = REDUCE_KINDS[kind]
    for i in range(int(start), int(stop), int(step)):
        (x,) = ctx.run_block(body, [np.int64(i)])
        if acc is not None and np.shape(x) != np.shape(acc):  # NumPy would broadcast them
            raise different_shapes("generator elements", np.shape(x), np.shape(acc), op)
        acc = first_term(kind, x) if acc is None else combine(acc, x)
    return [as_np(acc, rtype)]


def first_term(kind: str, x):
    """A reduction's accumulator after its first element: a sum starts from +0.0, as
    NumPy's and Python's sums and native code do, so a sum of -0.0s is +0.0 (the element
    itself would make it -0.0); the other kinds' identities change no element."""
    return np.add(np.zeros_like(x), x) if kind == "sum" else x


register(OpDef("reduce", infer_reduce, interp_reduce, operands=3, region_arity=1, attrs=("kind",),
               tangent=lambda fw, op: fw.tangent_reduce(op),
               adjoint=lambda ad, op, cts: ad.reverse_reduce(op, cts)))


# ----------------------------------------------------------------------------- calls

def callee_of(op, module):
    sym = op.attrs.get("callee")
    if not isinstance(sym, Symbol):
        raise TypeRuleError(f"{op.name} needs a callee attribute @name")
    if module is None or sym.name not in module.functions:
        raise TypeRuleError(f"call to unknown function @{sym.name}")
    return module.functions[sym.name]


def check_call_args(fn, arg_types: list[Type], what: str) -> None:
    params = fn.param_types
    if len(arg_types) != len(params):
        raise TypeRuleError(f"{what} takes {count(len(params), 'argument')}, "
                            f"{len(arg_types)} given")
    for k, (a, p) in enumerate(zip(arg_types, params)):
        if a.elem != p.elem or a.rank != p.rank:
            name = fn.params[k].name_hint or f"#{k}"
            raise TypeRuleError(f"argument {name} of {what} must be {p}, got {a}")


def infer_call(op, module):
    fn = callee_of(op, module)
    check_call_args(fn, operand_types(op), f"@{fn.name}")
    return bind_result_dims(fn, operand_types(op))


def bind_result_dims(fn, arg_types: list[Type]) -> list[Type]:
    """The callee's result types with its dimension names replaced by the caller's dims."""
    params = [(p.name_hint or f"#{k}", t) for k, (p, t) in enumerate(zip(fn.params, fn.param_types))]
    binding = bind_dims(fn.name, params, arg_types)
    return [array_or_scalar(t.elem, tuple(binding.get(d, DYN) if isinstance(d, str) else d
                                          for d in t.shape)) for t in fn.return_types]


def bind_dims(callee: str, params: list, arg_types: list[Type]) -> dict:
    """The caller's dim for each dimension name of the callee's parameters (params: (name,
    type) of each); raises TypeRuleError where two arguments give one name two dims, or an
    argument's literal size is not the parameter's. A `?`, or a name for a literal, is
    left to the run-time check of the call."""
    binding: dict[str, object] = {}
    first: dict[str, tuple] = {}  # dimension name -> (argument, axis) that bound it
    for k, (a, (name, p)) in enumerate(zip(arg_types, params)):
        for axis, (d_arg, d_par) in enumerate(zip(a.shape, p.shape)):
            if isinstance(d_par, int):
                if isinstance(d_arg, int) and d_arg != d_par:
                    raise TypeRuleError(f"argument {name} of {callee} ({p}): axis {axis} is "
                                        f"{d_arg}, not {d_par}")
                continue
            if d_par == DYN:  # a result of data-dependent size: each its own, checked at run time
                continue
            seen = binding.get(d_par, DYN)
            if seen == DYN:  # the first size the types show binds the name
                binding[d_par], first[d_par] = d_arg, (k, axis)
            elif seen != d_arg and d_arg != DYN:
                k0, axis0 = first[d_par]
                there = f"on axis {axis0}" if k0 == k else f"in argument {params[k0][0]}"
                here = f"on axis {axis}" if k0 == k else "here"
                raise TypeRuleError(f"argument {name} of {callee} ({p}): dimension {d_par} is "
                                    f"{d_arg} {here} but {seen} {there}")
    return binding


def interp_call(op, args, ctx):
    return ctx.call(op.attrs["callee"].name, args)


register(OpDef("call", infer_call, interp_call, attrs=("callee",),
               tangent=lambda fw, op: fw.tangent_call(op),
               adjoint=lambda ad, op, cts: ad.reverse_call(op, cts)))


# ----------------------------------------------------------------------------- derivative forms

def wrt_params(op, fn) -> list[int]:
    wrt = op.attrs["wrt"]
    if not isinstance(wrt, list) or not all(is_position(k) for k in wrt):
        raise TypeRuleError("wrt must be a list of parameter positions")
    for k in wrt:
        if not 0 <= k < len(fn.params):
            raise TypeRuleError(f"wrt position {k} is out of range for @{fn.name}")
        if fn.param_types[k].elem != F64:
            name = fn.params[k].name_hint or f"#{k}"
            raise TypeRuleError(f"cannot differentiate with respect to {name}: it is {fn.param_types[k]}, not f64")
    return wrt


def infer_derivative(kind):
    """Result types of grad / value_and_grad / jvp / vjp, from the callee's signature.

    Operands: the callee's arguments, then for jvp one tangent per wrt parameter, for vjp
    one cotangent per result."""
    def infer(op, module):
        fn = callee_of(op, module)
        wrt = wrt_params(op, fn)
        n = len(fn.params)
        args, extra = operand_types(op)[:n], operand_types(op)[n:]
        check_call_args(fn, args, f"{kind}(@{fn.name})")
        results = bind_result_dims(fn, args)
        # shaped as the argument, but with the callee's literal sizes, as the generated
        # function's results are (its parameter f64[3] gets f64[3] back, also for f64[m])
        grads = [args[k] if args[k].rank == 0 else ArrayType(args[k].elem, tuple(
            p if isinstance(p, int) else a for a, p in zip(args[k].shape, fn.param_types[k].shape)))
            for k in wrt]
        if kind in ("grad", "value_and_grad"):
            if len(results) != 1 or results[0] != F64:
                raise TypeRuleError(f"{kind} needs a function returning f64, '{fn.written}' "
                                    f"returns {results_text(results)}{other_modes(results)}")
            _expect_extra(extra, [], kind)
            return grads if kind == "grad" else [F64, *grads]
        if kind == "jvp":
            _expect_extra(extra, grads, "jvp tangent")
            bind_extra_dims(fn, kind, wrt, operand_types(op))
            return [*results, *results]
        _expect_extra(extra, results, "vjp cotangent")
        bind_extra_dims(fn, kind, wrt, operand_types(op))
        return grads
    return infer


def other_modes(results: list[Type]) -> str:
    """What differentiates f64 results that grad cannot: an array, or several."""
    if any(t.elem != F64 for t in results):
        return ""
    what = "an array result" if len(results) == 1 else "several results"
    return f" (for {what}, use vjp or jvp)"


def bind_extra_dims(fn, kind: str, wrt: list[int], arg_types: list[Type]) -> None:
    """Tangents (cotangents) are sized by f's dimension names, as the parameters (results)
    they go with: the generated function that takes them all binds those names once."""
    types = fn.param_types + tangent_types(kind, fn, wrt)
    bind_dims(f"{kind}({fn.written})", list(zip(derived_param_names(kind, fn, wrt), types)), arg_types)


def tangent_types(kind: str, fn, wrt: list[int]) -> list[Type]:
    """The types of the arguments f's derivative form `kind` takes after f's: a tangent
    per wrt parameter (jvp), a cotangent per result (vjp)."""
    if kind == "jvp":
        return [fn.param_types[k] for k in wrt]
    if kind == "vjp":
        return list(fn.return_types)
    return []


def derived_param_names(kind: str, fn, wrt: list[int]) -> list[str]:
    """The parameters of f's derivative form `kind` (jvp or vjp): f's, then t_x for the
    tangent of x (jvp), ct or ct0, ct1, ... for the cotangents of f's results (vjp); a
    name already used gets _2, _3, ...: the derived function's parameters are called by
    name from Python, and jvp(jvp(f)) would have two t_x."""
    names = [p.name_hint or f"#{k}" for k, p in enumerate(fn.params)]
    if kind == "jvp":
        names += [f"t_{names[k]}" for k in wrt]
    elif kind == "vjp":
        results = len(fn.return_types)
        names += ["ct" if results == 1 else f"ct{k}" for k in range(results)]
    return distinct(names)


def distinct(names: list[str]) -> list[str]:
    seen, out = set(), []
    for name in names:
        fresh, k = name, 2
        while fresh in seen:
            fresh, k = f"{name}_{k}", k + 1
        seen.add(fresh)
        out.append(fresh)
    return out


def _expect_extra(got: list[Type], expected: list[Type], what: str) -> None:
    if len(got) != len(expected):
        raise TypeRuleError(f"{what}: {len(expected)} extra arguments expected, {len(got)} given")
    for g, e in zip(got, expected):
        if g.elem != e.elem or g.rank != e.rank:
            raise TypeRuleError(f"{what} must be {e}, got {g}")


def interp_derivative(op, args, ctx):
    raise errors.NotLoweredError(
        f"'{op.name}' of @{op.attrs['callee'].name} must be transformed by the AD pass "
        f"(passes/ad.py) before it runs{fmt_loc(op)}")


for _kind in ("grad", "value_and_grad", "jvp", "vjp"):
    register(OpDef(_kind, infer_derivative(_kind), interp_derivative, attrs=("callee", "wrt")))


# ----------------------------------------------------------------------------- assert, terminators

def infer_assert(op, module):
    (c,) = operand_types(op)
    if c != BOOL:
        raise TypeRuleError(f"assert needs a bool condition, got {c}")
    if not isinstance(op.attrs["message"], str):
        raise TypeRuleError("assert message must be a string")
    return []


def interp_assert(op, args, ctx):
    if not args[0]:
        raise errors.AssertionErrorDP(f"{op.attrs['message']}{fmt_loc(op)}")
    return []


register(OpDef("assert", infer_assert, interp_assert, operands=1, attrs=("message",), pure=False))


def infer_terminator(op, module):
    return []


def interp_terminator(op, args, ctx):
    return list(args)


register(OpDef("yield", infer_terminator, interp_terminator, terminator=True))
register(OpDef("return", infer_terminator, interp_terminator, terminator=True))
