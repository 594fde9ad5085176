"""Lowering of scalar ops: arithmetic with NumPy's semantics (floor division and modulo
with the divisor's sign, NaN-propagating max/min), math through LLVM intrinsics or libm,
or as generated functions of their own (exp, log, log1p, expm1, tanh, sin, cos, digamma,
trigamma), comparisons, logic, casts and select.
Integer division by zero and the other run-time errors go through the function's error
exit."""

from __future__ import annotations

import decimal
import math
from fractions import Fraction

from llvmlite import ir as ll

from ir.calling import I64_MAX, I64_MIN
from ir.ops import POLYGAMMA_SERIES
from ir.types import BOOL, F64, I64

DOUBLE = ll.DoubleType()
INT = ll.IntType(64)
I1 = ll.IntType(1)

INTRINSIC_MATH = {"sqrt": "sqrt", "floor": "floor", "ceil": "ceil", "abs": "fabs"}
LIBM_MATH = {"lgamma": "lgamma"}
FCMP = {"lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "=="}
ICMP = {"lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "==", "ne": "!="}


def lower_scalar(fl, op):
    name = op.name
    args = [fl.get(v) for v in op.operands]
    t = op.operands[0].type.elem if op.operands else None
    if len(args) == 2:
        return binary(fl, op, name, t, *args)
    if name == "select":
        return fl.b.select(*args)
    if name in ("to_f64", "to_i64"):
        return cast(fl, op, name, t, args[0])
    return unary(fl, op, name, t, args[0])


def math_function(owner, name: str) -> ll.Function:
    if name == "exp":
        return exp_function(owner)
    if name == "tanh":
        return tanh_function(owner)
    if name == "log":
        return log_function(owner)
    if name == "log1p":
        return log1p_function(owner)
    if name == "expm1":
        return expm1_function(owner)
    if name in ("sin", "cos", "tan"):
        return sine_function(owner, name)
    if name in INTRINSIC_MATH:
        return owner.intrinsic(INTRINSIC_MATH[name])
    if name in POLYGAMMA_SERIES:
        return polygamma_function(owner, name)
    return owner.declare(LIBM_MATH[name], DOUBLE, [DOUBLE])


def call_math(fl, name: str, x):
    return fl.b.call(math_function(fl.owner, name), [x])


def unary(fl, op, name, t, x):
    b = fl.b
    if name == "not":
        return b.not_(x)
    if t == I64:
        if name == "neg":
            return b.neg(x)
        if name == "abs":
            return b.select(b.icmp_signed("<", x, INT(0)), b.neg(x), x)
        if name == "sign":
            return b.sub(b.zext(b.icmp_signed(">", x, INT(0)), INT),
                         b.zext(b.icmp_signed("<", x, INT(0)), INT))
    if name == "neg":
        return b.fneg(x)
    if name == "sign":  # NaN stays NaN; either zero gives +0.0, as in NumPy
        pos = b.fcmp_ordered(">", x, DOUBLE(0.0))
        neg = b.fcmp_ordered("<", x, DOUBLE(0.0))
        zero_or_nan = b.select(b.fcmp_unordered("uno", x, x), x, DOUBLE(0.0))
        return b.select(pos, DOUBLE(1.0), b.select(neg, DOUBLE(-1.0), zero_or_nan))
    if name == "sigmoid":  # exp of a non-positive number only: no overflow
        e = call_math(fl, "exp", b.fneg(call_math(fl, "abs", x)))
        one_plus = b.fadd(DOUBLE(1.0), e)
        return b.select(b.fcmp_ordered(">=", x, DOUBLE(0.0)), b.fdiv(DOUBLE(1.0), one_plus),
                        b.fdiv(e, one_plus))
    return call_math(fl, name, x)


def _ln2_split() -> tuple[float, float]:
    """ln 2 = LN2_HI + LN2_LO (to ~1e-31): LN2_HI has 42 significant bits, so k * LN2_HI is
    exact for |k| < 2^11, which covers every k exp needs."""
    ln2 = Fraction(decimal.Context(prec=50).ln(2))
    hi = Fraction(math.floor(ln2 * 2**42), 2**42)
    return float(hi), float(ln2 - hi)


LN2_HI, LN2_LO = _ln2_split()
# exp(r) = 1 + r + r^2 Q(r) on |r| <= 0.3466 (a little over ln(2)/2), Q of degree 9 with
# these coefficients of r^0 .. r^9 (close to 1/2!, 1/3!, ..., 1/11!): a minimax fit of
# (exp(r) - 1 - r) / r^2 with weight r^2 exp(-r), made with the Remez algorithm in
# 50-digit arithmetic. Relative error 3.6e-18 (1.1e-17 with coefficients rounded to double),
# against 2^-53 = 1.1e-16 for rounding.
EXP_Q = (0.5000000000000011, 0.16666666666666413, 0.04166666666653018,
         0.008333333333494435, 0.0013888888943622486, 0.00019841269506617757,
         2.4801493107682435e-05, 2.7557586356527625e-06, 2.7630244972919377e-07,
         2.5000061421551256e-08)
# Beyond these exp(x) is inf or rounds to 0; clamping keeps 2^k's exponent in range.
EXP_CLAMP = (-746.0, 710.0)


def exp_function(owner) -> ll.Function:
    """`double dpc.exp(double)`: exp without a libm call, straight-line code with selects
    and no branches, always inlined, so that LLVM vectorizes the loops that use it (it
    cannot vectorize a call to libm's exp). Within 1 ulp of the correctly rounded result
    over the whole range (tests/runtime/test_exp.py).

    x = k ln2 + r with k = round(x / ln2) and |r| <= ln(2)/2, r computed exactly up to one
    rounding with ln 2 split in two (Cody and Waite); exp(r) = 1 + r + r^2 Q(r); exp(x) =
    exp(r) * 2^k, multiplied in two steps, 2^(k // 2) then 2^(k - k // 2), so each factor
    is a normal double even when the result is subnormal (then only the last product
    rounds). x is first clamped to [-746, 710], where the same arithmetic gives 0 and inf;
    +-inf follow, and NaN comes back as it is."""
    existing = owner.llmod.globals.get("dpc.exp")
    if existing is not None:
        return existing
    fn, b, x = inlined_function(owner, "dpc.exp")
    y = exp_of_reduced(owner, b, *reduced_exp(owner, b, clamped(b, x, EXP_CLAMP)))
    b.ret(b.select(b.fcmp_unordered("uno", x, x), x, y))
    return fn


def exp_of_reduced(owner, b, kf, r, dr, r2, q):
    """exp(k ln 2 + r + dr) = exp(r + dr) 2^k from reduced_exp's parts."""
    muladd = owner.intrinsic("fmuladd", 3)  # fused where the CPU has FMA, else * and +
    # exp(r + dr) = 1 + r + r^2 Q(r) + dr (1 + r), where 1 + r = u + du exactly
    # (Fast2Sum): only the last addition rounds at the scale of the result
    u = b.fadd(DOUBLE(1.0), r)
    du = b.fadd(b.fsub(DOUBLE(1.0), u), r)
    small = b.fadd(du, b.call(muladd, [dr, r, dr]))
    exp_r = b.fadd(u, b.call(muladd, [r2, q, small]))

    k = b.fptosi(kf, ll.IntType(32))  # -1076 .. 1024
    k_half = b.ashr(k, ll.IntType(32)(1))
    return b.fmul(b.fmul(exp_r, power_of_two(b, k_half)), power_of_two(b, b.sub(k, k_half)))


def clamped(b, x, bounds):
    """x clamped to bounds = (low, high), NaN to low too ("unordered or less"), so nothing
    after it sees a NaN."""
    low, high = bounds
    x = b.select(b.fcmp_ordered(">", x, DOUBLE(high)), DOUBLE(high), x)
    return b.select(b.fcmp_unordered("<", x, DOUBLE(low)), DOUBLE(low), x)


# Below this expm1(x) rounds to -1 (exp(x) < 2^-57); above it, to inf.
EXPM1_CLAMP = (-40.0, 710.0)


def expm1_function(owner) -> ll.Function:
    """`double dpc.expm1(double)`: exp(x) - 1, accurate near 0 where that difference
    cancels, straight-line and always inlined like dpc.exp (libm's expm1 is a call, which
    keeps loops scalar). Within 2 ulp of the correctly rounded result
    (tests/runtime/test_expm1.py).

    From exp's reduction x = k ln 2 + r: exp(x) - 1 = 2^k (exp(r) - 1) + (2^k - 1), with
    exp(r) - 1 = r + r^2 Q(r) + dr (1 + r) as in dpc.tanh, written as 2 (h E + (h - 1/2))
    with h = 2^(k-1), so that k = 1024 (x near the overflow threshold) needs no 2^1024.
    h - 1/2 is exact for k >= -52, and the sum cancels at most about half its terms'
    digits (k = 1 with r near -ln(2)/2). For k = 0 the result is exp(r) - 1 itself, so
    small x keeps its full relative accuracy. -0 stays -0, -inf gives -1, and NaN comes back as
    it is."""
    existing = owner.llmod.globals.get("dpc.expm1")
    if existing is not None:
        return existing
    fn, b, x = inlined_function(owner, "dpc.expm1")
    muladd = owner.intrinsic("fmuladd", 3)
    kf, r, dr, r2, q = reduced_exp(owner, b, clamped(b, x, EXPM1_CLAMP))
    em1_r = exp_minus_one_reduced(owner, b, r, dr, r2, q)
    k = b.fptosi(kf, ll.IntType(32))  # -58 .. 1024
    h = power_of_two(b, b.sub(k, ll.IntType(32)(1)))
    y = b.fmul(DOUBLE(2.0), b.call(muladd, [h, em1_r, b.fsub(h, DOUBLE(0.5))]))
    # for k = 0, h E would halve a subnormal E and lose its last bit
    y = b.select(b.icmp_signed("==", k, ll.IntType(32)(0)), em1_r, y)
    y = b.select(b.fcmp_ordered("==", x, DOUBLE(0.0)), x, y)  # keeps -0's sign
    b.ret(b.select(b.fcmp_unordered("uno", x, x), x, y))
    return fn


def exp_minus_one_reduced(owner, b, r, dr, r2, q):
    """exp(r + dr) - 1 = r + r^2 Q(r) + dr (1 + r) from reduced_exp's parts, with no 1
    added, so small r keeps its full relative accuracy (expm1 and tanh)."""
    muladd = owner.intrinsic("fmuladd", 3)
    return b.fadd(r, b.call(muladd, [r2, q, b.call(muladd, [dr, r, dr])]))


def inlined_function(owner, name: str, arity: int = 1):
    """A new internal, always-inlined `double name(double, ...)`: it, a builder at its
    entry and its first argument."""
    fn = ll.Function(owner.llmod, ll.FunctionType(DOUBLE, [DOUBLE] * arity), name=name)
    fn.linkage = "internal"
    fn.attributes.add("alwaysinline")
    return fn, ll.IRBuilder(fn.append_basic_block("entry")), fn.args[0]


def power_of_two(b, e):
    """2^e for an i32 -1022 <= e <= 1023, from its exponent bits."""
    biased = b.add(b.sext(e, INT), INT(1023))
    return b.bitcast(b.shl(biased, INT(52)), DOUBLE)


def reduced_exp(owner, b, x, x_lo=None):
    """For a finite x in exp's clamped range: k (a double), r + dr = x - k ln 2 with
    |r| <= ln(2)/2, r^2, and Q(r), where exp(r) = 1 + r + r^2 Q(r). x_lo, if given, is
    a low part of the argument, below x's ulp, and r + dr = x + x_lo - k ln 2."""
    muladd = owner.intrinsic("fmuladd", 3)
    kf = b.call(owner.intrinsic("roundeven"), [b.fmul(x, DOUBLE(1 / math.log(2)))])
    hi = b.call(muladd, [b.fneg(kf), DOUBLE(LN2_HI), x])  # exact
    lo = b.fmul(kf, DOUBLE(LN2_LO))  # |lo| < 6e-11: its rounding error is negligible
    if x_lo is not None:  # so is this one's
        lo = b.fsub(lo, x_lo)
    r = b.fsub(hi, lo)
    dr = b.fsub(b.fsub(hi, r), lo)  # r + dr = hi - lo, to ~1e-26
    # Q(r) by Estrin's scheme: a shorter chain of dependent operations than Horner's,
    # which matters where exp stays scalar
    r2 = b.fmul(r, r)
    r4 = b.fmul(r2, r2)
    pairs = [b.call(muladd, [DOUBLE(c1), r, DOUBLE(c0)])
             for c0, c1 in zip(EXP_Q[0::2], EXP_Q[1::2])]
    quads = [b.call(muladd, [p1, r2, p0]) for p0, p1 in zip(pairs[0::2], pairs[1::2])]
    q = b.call(muladd, [b.call(muladd, [pairs[4], r4, quads[1]]), r4, quads[0]])
    return kf, r, dr, r2, q


# log(1 + f) = 2 atanh(s) = 2s + s R(s^2) with s = f / (2 + f), where R(z) = 2/3 z + 2/5 z^2
# + 2/7 z^3 + ...: the coefficients 2/(2k + 1) of z^k for k = 1 .. 11. With m = 1 + f in
# [sqrt(2)/2, sqrt(2)), s^2 <= 0.0295, and the first term left out, 2/25 z^12, is below
# 1e-19 of the result.
LOG_R = tuple(2.0 / (2 * k + 1) for k in range(1, 12))
SQRT2 = math.sqrt(2.0)


def log_function(owner) -> ll.Function:
    """`double dpc.log(double)`: the natural logarithm without a libm call, straight-line
    code with selects, always inlined, so that loops that use it vectorize (LLVM cannot
    vectorize a call to libm's log). Within 1 ulp of the correctly rounded result
    (tests/runtime/test_log.py). A subnormal x is scaled by 2^54 first, so reduced_log
    reads a normal double's exponent. 0 gives -inf, a negative x NaN, inf inf, and NaN
    comes back as it is."""
    existing = owner.llmod.globals.get("dpc.log")
    if existing is not None:
        return existing
    fn, b, x = inlined_function(owner, "dpc.log")
    y = reduced_log(owner, b, *normalized(b, x))
    y = b.select(b.fcmp_ordered("==", x, DOUBLE(math.inf)), x, y)
    y = b.select(b.fcmp_ordered("==", x, DOUBLE(0.0)), DOUBLE(-math.inf), y)
    y = b.select(b.fcmp_ordered("<", x, DOUBLE(0.0)), DOUBLE(math.nan), y)
    b.ret(b.select(b.fcmp_unordered("uno", x, x), x, y))
    return fn


def log1p_function(owner) -> ll.Function:
    """`double dpc.log1p(double)`: log(1 + x), accurate where 1 + x rounds, straight-line
    and always inlined like dpc.log (libm's log1p is a call, which keeps loops scalar).
    Within 1 ulp of the correctly rounded result (tests/runtime/test_log1p.py).

    u = 1 + x rounds, but its error c = (1 + x) - u is exact (Fast2Sum, adding the smaller
    of 1 and x to the larger), and log(1 + x) = log(u + c) = log(u) + c/u up to (c/u)^2 <
    2^-106: log(u) as in dpc.log, with c/u added among its small terms. u is at least
    2^-53 for x > -1, so never subnormal. -1 gives -inf, below it NaN, inf inf, -0 -0,
    and NaN comes back as it is."""
    existing = owner.llmod.globals.get("dpc.log1p")
    if existing is not None:
        return existing
    fn, b, x = inlined_function(owner, "dpc.log1p")
    u = b.fadd(DOUBLE(1.0), x)
    x_small = b.fcmp_ordered("<=", b.call(owner.intrinsic("fabs"), [x]), DOUBLE(1.0))
    c = b.select(x_small, b.fsub(x, b.fsub(u, DOUBLE(1.0))),
                 b.fsub(DOUBLE(1.0), b.fsub(u, x)))
    y = reduced_log(owner, b, u, INT(0), b.fdiv(c, u))
    y = b.select(b.fcmp_ordered("==", x, DOUBLE(math.inf)), x, y)
    y = b.select(b.fcmp_ordered("==", x, DOUBLE(0.0)), x, y)  # keeps -0's sign
    y = b.select(b.fcmp_ordered("==", x, DOUBLE(-1.0)), DOUBLE(-math.inf), y)
    y = b.select(b.fcmp_ordered("<", x, DOUBLE(-1.0)), DOUBLE(math.nan), y)
    b.ret(b.select(b.fcmp_unordered("uno", x, x), x, y))
    return fn


def reduced_log(owner, b, x, scale, correction=None):
    """log(x / 2^scale), plus a small correction if given, for a positive normal finite x
    (scale an i64; other x give a value the caller replaces).

    x = 2^k m with m in [sqrt(2)/2, sqrt(2)) read from x's bits; f = m - 1 is exact.
    log(x) = k ln2 + log(1 + f), where log(1 + f) = f - (f^2/2 - s (f^2/2 + R)): f, the
    largest part, is exact, and the rest, at most a sixth of it, carries the rounding
    errors, and the correction joins it; k ln2 is ln 2 split in two, its high part times
    k exact."""
    muladd = owner.intrinsic("fmuladd", 3)
    kf, f = log_reduction(b, x, scale)
    s = b.fdiv(f, b.fadd(DOUBLE(2.0), f))
    z = b.fmul(s, s)
    r = b.fmul(z, polynomial(owner, b, z, LOG_R))
    half_f2 = b.fmul(DOUBLE(0.5), b.fmul(f, f))
    small = b.fmul(kf, DOUBLE(LN2_LO))
    if correction is not None:
        small = b.call(muladd, [kf, DOUBLE(LN2_LO), correction])
    tail = b.call(muladd, [s, b.fadd(half_f2, r), small])
    return b.fsub(b.fmul(kf, DOUBLE(LN2_HI)), b.fsub(b.fsub(half_f2, tail), f))


def normalized(b, x):
    """For a positive x: x, or x 2^54 if x is subnormal, and that scale (0 or 54, an i64),
    so that log_reduction reads a normal double's exponent."""
    tiny = b.fcmp_ordered("<", x, DOUBLE(2.0 ** -1022))
    return b.select(tiny, b.fmul(x, DOUBLE(2.0 ** 54)), x), b.select(tiny, INT(54), INT(0))


def log_reduction(b, x, scale):
    """x / 2^scale = 2^k (1 + f) for a positive normal finite x (scale an i64): k as a
    double, and f, with 1 + f in [sqrt(2)/2, sqrt(2)) read from x's bits, so f is exact."""
    bits = b.bitcast(x, INT)
    k = b.sub(b.lshr(bits, INT(52)), b.add(scale, INT(1023)))
    m = b.bitcast(b.or_(b.and_(bits, INT(2**52 - 1)), INT(1023 << 52)), DOUBLE)  # [1, 2)
    big = b.fcmp_ordered(">=", m, DOUBLE(SQRT2))
    m = b.select(big, b.fmul(m, DOUBLE(0.5)), m)
    return b.sitofp(b.add(k, b.zext(big, INT)), DOUBLE), b.fsub(m, DOUBLE(1.0))


def polynomial(owner, b, z, coefficients):
    """c0 + c1 z + c2 z^2 + ... by Estrin's scheme: pairs c0 + c1 z, then pairs of those
    with z^2, and so on; a shorter chain of dependent operations than Horner's."""
    muladd = owner.intrinsic("fmuladd", 3)
    terms = [DOUBLE(c) for c in coefficients]
    power = z
    while len(terms) > 1:
        pairs = [b.call(muladd, [high, power, low]) for low, high in zip(terms[0::2], terms[1::2])]
        terms = pairs + terms[len(pairs) * 2:]
        power = b.fmul(power, power)
    return terms[0]


# tanh(a) rounds to 1 from here on (1 - tanh(a) ~ 2 exp(-2a) < 2^-54)
TANH_ONE = 20.0


def tanh_function(owner) -> ll.Function:
    """`double dpc.tanh(double)`: like dpc.exp, straight-line and always inlined so loops
    that use it vectorize (libm's tanh is a call). With a = |x| and E = expm1(2a),
    tanh(a) = E / (E + 2), and tanh(x) takes x's sign.

    E from exp's reduction, 2a = k ln 2 + r: exp(2a) - 1 = 2^k (r + r^2 Q(r)) + (2^k - 1),
    where 2^k - 1 is exact (k <= 58) and the sum does not cancel (for k >= 1 its terms
    have the same sign or the second dominates), so small a keeps full relative accuracy:
    for k = 0 it is r + r^2 Q(r) itself. Within 2 ulp (tests/runtime/test_tanh.py).
    From a = 20 on the result is 1; NaN comes back as it is."""
    existing = owner.llmod.globals.get("dpc.tanh")
    if existing is not None:
        return existing
    fn, b, x = inlined_function(owner, "dpc.tanh")
    muladd = owner.intrinsic("fmuladd", 3)
    a = b.call(owner.intrinsic("fabs"), [x])
    big = b.fcmp_unordered(">=", a, DOUBLE(TANH_ONE))  # NaN too: nothing below sees it
    y = b.fmul(b.select(big, DOUBLE(TANH_ONE), a), DOUBLE(2.0))
    kf, r, dr, r2, q = reduced_exp(owner, b, y)
    em1_r = exp_minus_one_reduced(owner, b, r, dr, r2, q)
    p = power_of_two(b, b.fptosi(kf, ll.IntType(32)))  # 0 <= k <= 58
    e = b.call(muladd, [p, em1_r, b.fsub(p, DOUBLE(1.0))])
    t = b.select(big, DOUBLE(1.0), b.fdiv(e, b.fadd(e, DOUBLE(2.0))))
    signed = b.call(owner.intrinsic("copysign", 2), [t, x])
    b.ret(b.select(b.fcmp_unordered("uno", x, x), x, signed))
    return fn


def _pi() -> Fraction:
    """pi to 80 digits by Machin's formula, pi = 16 atan(1/5) - 4 atan(1/239)."""
    ctx = decimal.Context(prec=80)

    def atan_of_inverse(n: int) -> decimal.Decimal:
        x, x2 = ctx.divide(1, n), ctx.divide(1, n * n)
        total, power, k = decimal.Decimal(0), x, 0
        while power > ctx.power(10, -ctx.prec - 5):
            term = ctx.divide(power, 2 * k + 1)
            total = ctx.add(total, term) if k % 2 == 0 else ctx.subtract(total, term)
            power, k = ctx.multiply(power, x2), k + 1
        return total

    return Fraction(ctx.subtract(ctx.multiply(16, atan_of_inverse(5)),
                                 ctx.multiply(4, atan_of_inverse(239))))


def _half_pi_split() -> tuple[float, float, float]:
    """pi/2 = P1 + P2 + P3 to about 2^-160: each part is what the ones before leave,
    rounded to a double."""
    rest = _pi() / 2
    parts = []
    for _ in range(3):
        parts.append(float(rest))
        rest -= Fraction(parts[-1])
    return tuple(parts)


HALF_PI_1, HALF_PI_2, HALF_PI_3 = _half_pi_split()
# sin and cos reduce |x| up to here themselves; beyond it (and for inf and NaN) they call
# libm, which reduces any double exactly.
SINE_REDUCED_LIMIT = 2.0 ** 30
# sin(r) = r + r^3 S(r^2) and cos(r) = 1 - r^2/2 + r^4 C(r^2) on |r| <= pi/4 (and a
# little over): Taylor coefficients, -1/3!, 1/5!, ..., 1/17! and 1/4!, -1/6!, ..., 1/16!.
# The series alternate, so what is left out is below its first term: r^19/19! and
# r^18/18!, at most 1.2e-19 and 2.9e-18 of the result, against 2^-53 = 1.1e-16.
SIN_S = tuple((-1) ** (k + 1) / math.factorial(2 * k + 3) for k in range(8))
COS_C = tuple((-1) ** k / math.factorial(2 * k + 4) for k in range(7))


def sine_function(owner, name: str) -> ll.Function:
    """`double dpc.sin(double)`, `dpc.cos` and `dpc.tan`: without a libm call for |x| <=
    2^30, so that loops using them vectorize (LLVM cannot vectorize a call to libm's sin).
    Within 1 ulp of the correctly rounded result (tests/runtime/test_sine.py).

    x = k pi/2 + r with k = round(2x/pi): r + dr from pi/2 in three parts (reduced_sine),
    then sin or cos of r by quadrant, k mod 4, or their quotient. Larger |x|, inf and NaN
    go to a branch that calls libm; always inlined, it costs the loop a test per
    element."""
    existing = owner.llmod.globals.get(f"dpc.{name}")
    if existing is not None:
        return existing
    fn, b, x = inlined_function(owner, f"dpc.{name}")

    def reduced(b):
        k, r, dr = reduced_sine(owner, b, x)
        quadrant = b.fptosi(k, INT)
        if name == "cos":
            quadrant = b.add(quadrant, INT(1))  # cos(x) = sin(x + pi/2)
        sine, cosine = sine_and_cosine(owner, b, r, dr)
        if name == "tan":
            y = tangent_of_quadrant(owner, b, quadrant, sine, cosine)
        else:
            y = sine_of_quadrant(b, quadrant, sine[0], cosine[0])
        if name == "cos":
            return y
        return b.select(b.fcmp_ordered("==", x, DOUBLE(0.0)), x, y)  # keeps -0's sign

    with_libm_outside(owner, fn, b, name, sine_outside, reduced)
    return fn


def sine_outside(b, args, fabs, constant):
    """Where sin, cos and tan call libm: |x| > 2^30, inf and NaN."""
    return b.fcmp_unordered(">", b.call(fabs, [args[0]]), constant(SINE_REDUCED_LIMIT))


def with_libm_outside(owner, fn, b, name: str, outside, compute) -> None:
    """The body of fn (dpc.sin, dpc.pow, ...): compute(b)'s value where outside(b, args,
    fabs, constant) is false, libm's `name` of fn's arguments where it is true, through a
    branch; fn being always inlined, that costs a loop a test per element. outside builds
    the test from fabs and constant (llvm.fabs and a double here), so that libm_fallback's
    vector versions build it for vectors."""
    args = fn.args
    fast_block, libm_block, done = (fn.append_basic_block(part)
                                    for part in ("fast", "libm", "done"))
    b.cbranch(outside(b, args, owner.intrinsic("fabs"), DOUBLE), libm_block, fast_block)
    b.position_at_end(fast_block)
    y = compute(b)
    fast_end = b.block
    b.branch(done)
    b.position_at_end(libm_block)
    from_libm = b.call(libm_fallback(owner, name, len(args), outside), args)
    b.branch(done)
    b.position_at_end(done)
    out = b.phi(DOUBLE)
    out.add_incoming(y, fast_end)
    out.add_incoming(from_libm, libm_block)
    b.ret(out)


def libm_fallback(owner, name: str, arity: int, outside) -> ll.Function:
    """`dpc.libm_sin(x)` (`dpc.libm_pow(x, y)`, ...): libm's `name` of its arguments where
    outside(...) holds (sin of |x| > 2^30, inf or NaN; see with_libm_outside), 0 elsewhere.
    Without memory effects (internal_without_memory_effects) and with vector versions of
    2, 4, 8 and 16 lanes that give the same per lane, so that a loop calling it for some
    elements still vectorizes: each vector call tests all its lanes at once and calls libm
    only if one of them needs it."""
    fname = f"dpc.libm_{name}"
    existing = owner.llmod.globals.get(fname)
    if existing is not None:
        return existing
    fn = ll.Function(owner.llmod, ll.FunctionType(DOUBLE, [DOUBLE] * arity), name=fname)
    internal_without_memory_effects(fn)
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    libm = owner.declare(name, DOUBLE, [DOUBLE] * arity)
    with b.if_then(outside(b, fn.args, owner.intrinsic("fabs"), DOUBLE)):
        b.ret(b.call(libm, fn.args))
    b.ret(DOUBLE(0.0))
    variants = [f"_ZGV_LLVM_N{lanes}{'v' * arity}_{fname}"
                f"({wide_libm_fallback(owner, fn, lanes, libm, outside).name})"
                for lanes in (2, 4, 8, 16)]
    owner.add_string_attributes(fn, f'"vector-function-abi-variant"="{",".join(variants)}"')
    owner.keep(fn)  # listed, it keeps its arguments: LLVM would otherwise drop those
    #                 every call passes as the same constant, and the vector versions'
    #                 signatures would no longer match it
    return fn


def internal_without_memory_effects(fn: ll.Function) -> None:
    """Internal, never inlined, and marked as reading and writing no memory: libm's calls
    in libm_fallback's functions may set errno, which nothing here reads."""
    fn.linkage = "internal"
    for attribute in ("noinline", "readnone", "nounwind"):
        fn.attributes.add(attribute)


def wide_libm_fallback(owner, scalar: ll.Function, lanes: int, libm: ll.Function,
                       outside) -> ll.Function:
    """The vector version of `scalar` (dpc.libm_sin, ...) for `lanes` lanes, the same per
    lane: zeros if no lane is outside (one test for all lanes), else libm's value in the
    lanes outside."""
    vector = ll.VectorType(DOUBLE, lanes)
    arity = len(scalar.args)
    fn = ll.Function(owner.llmod, ll.FunctionType(vector, [vector] * arity),
                     name=f"{scalar.name}.v{lanes}")
    internal_without_memory_effects(fn)
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    fabs = owner.declare(f"llvm.fabs.v{lanes}f64", vector, [vector])
    lanes_outside = outside(b, fn.args, fabs, lambda c: ll.Constant(vector, [DOUBLE(c)] * lanes))
    bits = ll.VectorType(I1, lanes)
    any_outside = b.call(owner.declare(f"llvm.vector.reduce.or.v{lanes}i1", I1, [bits]),
                         [lanes_outside])
    with b.if_then(any_outside):
        y = ll.Constant(vector, None)
        for lane in range(lanes):  # libm itself: calls of `scalar` would be vectorized into
            #                        calls of this function
            lane_args = [b.extract_element(a, INT(lane)) for a in fn.args]
            y = b.insert_element(y, b.call(libm, lane_args), INT(lane))
        b.ret(b.select(lanes_outside, y, ll.Constant(vector, None)))
    b.ret(ll.Constant(vector, None))
    owner.keep(fn)
    return fn


def reduced_sine(owner, b, x):
    """For |x| <= 2^30: k (a double), and r + dr = x - k pi/2 with |r| a little over pi/4
    at most, accurate where x is close to a multiple of pi/2 too (x - k pi/2 can then be
    2^-53 where x's ulp is 2^-23). x - k P1 is exact in one fused operation: for k != 0,
    x and k P1 are multiples of 2^-53 and their difference is below 1. k P2 = w + w_lo
    exactly, and r + e = (x - k P1) - w exactly (TwoSum); dr gathers e, w_lo and k P3,
    whose errors are far below r's ulp. The fused operations must be fused on every CPU:
    llvm.fma, not fmuladd."""
    fma = owner.intrinsic("fma", 3)
    k = b.call(owner.intrinsic("roundeven"), [b.fmul(x, DOUBLE(2 / math.pi))])
    minus_k = b.fneg(k)
    r1 = b.call(fma, [minus_k, DOUBLE(HALF_PI_1), x])
    w = b.fmul(k, DOUBLE(HALF_PI_2))
    w_lo = b.call(fma, [k, DOUBLE(HALF_PI_2), b.fneg(w)])
    r = b.fsub(r1, w)
    back = b.fsub(r, r1)
    e = b.fadd(b.fsub(r1, b.fsub(r, back)), b.fsub(b.fneg(w), back))
    dr = b.call(fma, [minus_k, DOUBLE(HALF_PI_3), b.fsub(e, w_lo)])
    return k, r, dr


def sine_and_cosine(owner, b, r, dr):
    """sin(r + dr) and cos(r + dr), each as a pair (rounded value, the rest): the rest is
    the part of the sum the rounding dropped, recovered exactly (tan divides the pairs)."""
    muladd = owner.intrinsic("fmuladd", 3)
    fma = owner.intrinsic("fma", 3)
    z = b.fmul(r, r)
    z_lo = b.call(fma, [r, r, b.fneg(z)])  # r^2 = z + z_lo exactly
    half_z = b.fmul(DOUBLE(0.5), z)
    # sin(r + dr) = r + (r z S(z) + dr (1 - z/2)): the first term exact, the rest at most
    # a sixth of it
    sin_tail = b.call(muladd, [b.fmul(r, z), polynomial(owner, b, z, SIN_S),
                               b.call(muladd, [b.fneg(dr), half_z, dr])])
    sin_r = b.fadd(r, sin_tail)
    # cos(r + dr) = (1 - z/2) + (z^2 C(z) - z_lo/2 - r dr), with the rounding error of
    # 1 - z/2 recovered exactly (Fast2Sum, 1 >= z/2)
    head = b.fsub(DOUBLE(1.0), half_z)
    head_error = b.fsub(b.fsub(DOUBLE(1.0), head), half_z)
    small = b.fsub(head_error, b.call(muladd, [DOUBLE(0.5), z_lo, b.fmul(r, dr)]))
    cos_tail = b.call(muladd, [b.fmul(z, z), polynomial(owner, b, z, COS_C), small])
    cos_r = b.fadd(head, cos_tail)
    # Fast2Sum again: |r| >= |sin_tail| and 1 - z/2 >= |cos_tail|
    return ((sin_r, b.fsub(sin_tail, b.fsub(sin_r, r))),
            (cos_r, b.fsub(cos_tail, b.fsub(cos_r, head))))


def sine_of_quadrant(b, quadrant, sin_r, cos_r):
    """sin(quadrant pi/2 + r): sin(r) or cos(r) by the quadrant's low bit, negated by its
    second bit (an i64 quadrant, any sign)."""
    odd = b.trunc(quadrant, I1)
    negated = b.trunc(b.lshr(quadrant, INT(1)), I1)
    y = b.select(odd, cos_r, sin_r)
    return b.select(negated, b.fneg(y), y)


def tangent_of_quadrant(owner, b, quadrant, sine, cosine):
    """tan(quadrant pi/2 + r) = sin(r) / cos(r), or -cos(r) / sin(r) for an odd quadrant:
    the quotient q of the rounded values, corrected by (n - q d) / d with n - q d from a
    fused multiply-add plus the parts the roundings dropped, so that the result errs
    about as little as sin and cos themselves."""
    fma = owner.intrinsic("fma", 3)
    odd = b.trunc(quadrant, I1)
    num, num_lo = b.select(odd, cosine[0], sine[0]), b.select(odd, cosine[1], sine[1])
    den, den_lo = b.select(odd, sine[0], cosine[0]), b.select(odd, sine[1], cosine[1])
    q = b.fdiv(num, den)
    residual = b.fadd(b.call(fma, [b.fneg(q), den, num]),
                      b.call(fma, [b.fneg(q), den_lo, num_lo]))
    y = b.fadd(q, b.fdiv(residual, den))
    return b.select(odd, b.fneg(y), y)


def polygamma_function(owner, name: str) -> ll.Function:
    """`double dpc.digamma(double)` / `dpc.trigamma`, made the first time a module needs
    it: a branch and a loop, kept out of the caller's blocks (LLVM still inlines it where
    that pays). The same algorithm and operation order as ir.ops.digamma /
    trigamma, so native and interpreter results agree to rounding (dpc's tan, sin, log
    against NumPy's): reflection below 1/2, the recurrence psi(z) = psi(z + 1) - 1/z
    (psi'(z) = psi'(z + 1) + 1/z^2) up to z >= 10, then the asymptotic series."""
    existing = owner.llmod.globals.get(f"dpc.{name}")
    if existing is not None:
        return existing
    fn = ll.Function(owner.llmod, ll.FunctionType(DOUBLE, [DOUBLE]), name=f"dpc.{name}")
    fn.linkage = "internal"
    entry, loop, step, series, reflect_block, done = (fn.append_basic_block(n) for n in (
        "entry", "loop", "step", "series", "reflect", "done"))
    b = ll.IRBuilder(entry)
    (x,) = fn.args
    fns = {n: math_function(owner, n) for n in ("log", "floor", "sin", "tan")}
    digamma = name == "digamma"

    # x < 1/2 (false for NaN) is computed at z = 1 - x > 1/2 and reflected at the end
    reflect = b.fcmp_ordered("<", x, DOUBLE(0.5))
    z0 = b.select(reflect, b.fsub(DOUBLE(1.0), x), x)
    b.branch(loop)

    # z >= 1/2 here, so at most 10 steps; NaN and inf fail the test and skip the loop
    b.position_at_end(loop)
    z, acc = b.phi(DOUBLE), b.phi(DOUBLE)
    z.add_incoming(z0, entry)
    acc.add_incoming(DOUBLE(0.0), entry)
    b.cbranch(b.fcmp_ordered("<", z, DOUBLE(10.0)), step, series)
    b.position_at_end(step)
    if digamma:
        acc.add_incoming(b.fsub(acc, b.fdiv(DOUBLE(1.0), z)), step)
    else:
        acc.add_incoming(b.fadd(acc, b.fdiv(DOUBLE(1.0), b.fmul(z, z))), step)
    z.add_incoming(b.fadd(z, DOUBLE(1.0)), step)
    b.branch(loop)

    b.position_at_end(series)
    r = b.fdiv(DOUBLE(1.0), b.fmul(z, z))
    *outer, innermost = POLYGAMMA_SERIES[name]
    poly = b.fmul(r, DOUBLE(innermost))
    for c in reversed(outer[1:]):
        poly = b.fmul(r, b.fsub(DOUBLE(c), poly))
    poly = b.fsub(DOUBLE(outer[0]), poly)
    if digamma:
        head = b.fsub(b.call(fns["log"], [z]), b.fdiv(DOUBLE(0.5), z))
        value = b.fadd(acc, b.fsub(head, b.fmul(r, poly)))
    else:
        head = b.fadd(b.fdiv(DOUBLE(1.0), z), b.fmul(DOUBLE(0.5), r))
        value = b.fadd(acc, b.fadd(head, b.fmul(b.fdiv(r, z), poly)))
    b.cbranch(reflect, reflect_block, done)

    # psi(x) = psi(1 - x) - pi / tan(pi x);  psi'(x) = pi^2 / sin^2(pi x) - psi'(1 - x).
    # At the poles 0, -1, -2, ... psi is NaN and psi' is +inf (it nears +inf from both
    # sides); at -inf both are NaN, as in ir.ops' versions.
    b.position_at_end(reflect_block)
    # at pi (x - m) for the integer m nearest x, as ir.ops._off_nearest_integer says why
    nearest = b.call(fns["floor"], [b.fadd(x, DOUBLE(0.5))])
    pi_x = b.fmul(DOUBLE(math.pi), b.fsub(x, nearest))
    if digamma:
        reflected = b.fsub(value, b.fdiv(DOUBLE(math.pi), b.call(fns["tan"], [pi_x])))
    else:
        s = b.call(fns["sin"], [pi_x])
        reflected = b.fsub(b.fdiv(DOUBLE(math.pi * math.pi), b.fmul(s, s)), value)
    pole = b.fcmp_ordered("==", x, b.call(fns["floor"], [x]))
    at_pole = DOUBLE(math.nan) if digamma else b.select(
        b.fcmp_ordered("==", x, DOUBLE(-math.inf)), DOUBLE(math.nan), DOUBLE(math.inf))
    reflected = b.select(pole, at_pole, reflected)
    b.branch(done)

    b.position_at_end(done)
    out = b.phi(DOUBLE)
    out.add_incoming(value, series)
    out.add_incoming(reflected, reflect_block)
    b.ret(out)
    return fn


def binary(fl, op, name, t, x, y):
    b = fl.b
    if t == BOOL:
        return {"and": b.and_, "or": b.or_}.get(name, lambda p, q: b.icmp_unsigned(
            ICMP[name], p, q))(x, y)
    if t == I64:
        return int_binary(fl, op, name, x, y)
    if name in ("add", "sub", "mul", "div"):
        return fl.float_op(name, x, y)
    if name == "pow":
        if isinstance(y, ll.Constant) and float(y.constant) in CONSTANT_POWERS:
            return constant_power(fl.owner, b, x, float(y.constant))
        if isinstance(y, ll.Constant) and float(y.constant) in LLVM_POWERS:
            return b.call(fl.owner.intrinsic("pow", 2), [x, y])
        return b.call(pow_function(fl.owner), [x, y])
    if name in ("maximum", "minimum"):
        return ieee_extreme(fl, name, x, y)
    if name in FCMP:
        return b.fcmp_ordered(FCMP[name], x, y)
    if name == "ne":
        return b.fcmp_unordered("!=", x, y)
    if name in ("floordiv", "mod"):
        return float_divmod(fl, x, y)[0 if name == "floordiv" else 1]
    raise NotImplementedError(name)


# Exponents that constant_power computes without pow. LLVM itself turns x ** 2.0 into x * x,
# x ** 0.5 into a square root and x ** -1.0 into 1 / x, with pow's results.
CONSTANT_POWERS = (3.0, 4.0, -2.0, -3.0, -4.0, -0.5, 1.5, -1.5)
# Exponents for which LLVM replaces a call of llvm.pow (x, 1, 1 / x, x * x, a square root);
# every other goes to dpc.pow.
LLVM_POWERS = (0.0, 1.0, -1.0, 2.0, 0.5)


def constant_power(owner, b, x, c: float):
    """x ** c for c in CONSTANT_POWERS without a call to pow, which keeps loops scalar:
    the exponents of polynomials and of the derivatives of x ** 0.5, x ** 3.0, x ** -1.0
    and the like. Products, quotients and square roots, with pow's results at 0, -0, +-inf
    and NaN, within 1 ulp (2 for -1.5, 3 for -4 of the tiniest x, whose fourth power is
    subnormal: tests/runtime/test_constant_power.py).

    x^3 and x^4 from x^2 = hi + lo, exact with a fused multiply-add, so only the last
    operation rounds: x^3 = hi x + lo x and x^4 = hi^2 + 2 hi lo. A negative power is 1
    over the positive one, which gives -0 and +-inf their signs as pow does. The
    half-integers go to half_power."""
    if c != int(c):
        return half_power(owner, b, x, c)
    fma = owner.intrinsic("fma", 3)
    fabs = owner.intrinsic("fabs")
    hi = b.fmul(x, x)
    lo = b.call(fma, [x, x, b.fneg(hi)])
    n = abs(int(c))
    if n == 2:
        power = hi
    else:
        plain = product_power(b, x, hi, n)
        if n == 3:
            accurate = b.call(fma, [hi, x, b.fmul(lo, x)])
        else:
            accurate = b.call(fma, [hi, hi, b.fmul(DOUBLE(2.0), b.fmul(hi, lo))])
        # where the plain product overflows lo x can too, to either sign, and lo is NaN
        # at x = +-inf: there the plain product is right
        finite = b.fcmp_ordered("<", b.call(fabs, [plain]), DOUBLE(math.inf))
        power = b.select(finite, accurate, plain)
    if c > 0:
        return power
    # 1 / x^n, unless x^n is subnormal (x tiny, few digits left) or infinite (x^-n may
    # still be subnormal): then (1/x)^n, the rounding of 1/x times n at worst. One
    # division either way.
    size = b.call(fabs, [power])
    normal = b.and_(b.fcmp_ordered(">=", size, DOUBLE(2.0 ** -1022)),
                    b.fcmp_ordered("<", size, DOUBLE(math.inf)))
    reciprocal = b.fdiv(DOUBLE(1.0), b.select(normal, power, x))
    by_reciprocal = product_power(b, reciprocal, b.fmul(reciprocal, reciprocal), n)
    return b.select(normal, reciprocal, by_reciprocal)


def split_fraction(c: Fraction) -> tuple[float, float]:
    """c = hi + lo to about 2^-106 of c."""
    hi = float(c)
    return hi, float(c - Fraction(hi))


# log(1 + f) = 2s + 2/3 s^3 + 2/5 s^5 + s^7 Q(s^2) with s = f / (2 + f): Q's coefficients
# 2/(2k + 1) for k = 3 .. 12. |s| <= 0.1716, and the first term left out, 2/27 s^27, is
# below 2^-70 of the result.
TWO_THIRDS = split_fraction(Fraction(2, 3))
TWO_FIFTHS = split_fraction(Fraction(2, 5))
POW_LOG_Q = tuple(2.0 / (2 * k + 1) for k in range(3, 13))


def pow_function(owner) -> ll.Function:
    """`double dpc.pow(double x, double y)`: x ** y without a libm call where x is finite
    and nonzero and y finite, so that loops using it vectorize (LLVM cannot vectorize a
    call to libm's pow). Within 1 ulp of the correctly rounded result
    (tests/runtime/test_pow.py).

    x ** y = exp(y log|x|), with log|x| as a sum of two doubles (pow_log) accurate to
    about 2^-100, so that y log|x| = z + dz exactly enough for exp: an error e in z is a
    relative error e in the result, and z reaches 709. exp's reduction takes dz into its
    reduced argument. A negative x gives the result's sign by y's parity, or NaN where y
    is not an integer. x = 0, +-inf or NaN and y = +-inf or NaN go to libm (with_libm_outside),
    whose rules for them (pow(x, 0) = 1 for any x, pow(-1, inf) = 1, ...) then hold."""
    existing = owner.llmod.globals.get("dpc.pow")
    if existing is not None:
        return existing
    fn, b, x = inlined_function(owner, "dpc.pow", 2)
    y = fn.args[1]

    def finite(b):
        fma = owner.intrinsic("fma", 3)
        log_hi, log_lo = pow_log(owner, b, *normalized(b, b.call(owner.intrinsic("fabs"), [x])))
        z = b.fmul(y, log_hi)
        dz = b.fadd(b.call(fma, [y, log_hi, b.fneg(z)]), b.fmul(y, log_lo))
        zc = clamped(b, z, EXP_CLAMP)  # beyond, the result is 0 or inf whatever dz is
        dz = b.select(b.fcmp_ordered("==", z, zc), dz, DOUBLE(0.0))
        power = exp_of_reduced(owner, b, *reduced_exp(owner, b, zc, dz))
        return signed_power(owner, b, x, y, power)

    with_libm_outside(owner, fn, b, "pow", pow_outside, finite)
    return fn


def pow_outside(b, args, fabs, constant):
    """Where pow calls libm: x = 0, +-inf or NaN, or y = +-inf or NaN."""
    x, y = args
    ax = b.call(fabs, [x])
    x_special = b.or_(b.fcmp_unordered("==", ax, constant(0.0)),
                      b.fcmp_unordered("==", ax, constant(math.inf)))
    return b.or_(x_special, b.fcmp_unordered("==", b.call(fabs, [y]), constant(math.inf)))


def signed_power(owner, b, x, y, power):
    """x ** y from power = |x| ** y for finite nonzero x and finite y: -power for a
    negative x and an odd integer y, NaN for a negative x and a y not an integer. Every
    y of 2^53 or more is an even integer."""
    integer = b.fcmp_ordered("==", b.call(owner.intrinsic("roundeven"), [y]), y)
    small = b.fcmp_ordered("<", b.call(owner.intrinsic("fabs"), [y]), DOUBLE(2.0 ** 53))
    odd = b.trunc(b.fptosi(b.select(small, y, DOUBLE(0.0)), INT), I1)
    negative = b.fcmp_ordered("<", x, DOUBLE(0.0))
    power = b.select(b.and_(negative, b.and_(integer, odd)), b.fneg(power), power)
    return b.select(b.and_(negative, b.not_(integer)), DOUBLE(math.nan), power)


def pow_log(owner, b, x, scale):
    """log(x / 2^scale) = hi + lo, for a positive normal finite x, to about 2^-100 of it
    (pow's logarithm). As in reduced_log x = 2^k m, f = m - 1 exact, and log(x) = k ln 2 +
    2s + 2/3 s^3 + 2/5 s^5 + s^7 Q(s^2) with s = f / (2 + f). Each of the first terms is
    carried as a sum of two doubles, made exact with fused multiply-adds (which must be
    fused: llvm.fma) and TwoSum: k ln 2 (ln 2 in two parts, k LN2_HI exact), 2s (the
    quotient and its remainder), 2/3 s^3 and 2/5 s^5 (products of two-double numbers);
    s^7 Q(s^2), below 2^-17 of the result, is rounded once more into the low part."""
    fma = owner.intrinsic("fma", 3)
    kf, f = log_reduction(b, x, scale)

    def product(hi, lo, c_hi, c_lo):  # (hi + lo)(c_hi + c_lo) as two doubles, unnormalized
        p = b.fmul(hi, c_hi)
        cross = b.call(fma, [hi, c_lo, b.fmul(lo, c_hi)])
        return p, b.fadd(b.call(fma, [hi, c_hi, b.fneg(p)]), cross)

    # s + s_lo = f / d with d = 2 + f = d_hi + d_lo exactly: s = f (1 / d_hi), within
    # two ulps of the quotient, and s_lo from the remainder f - s d, exact but for ~2^-104
    # of s (one division: a vector division costs several products)
    d_hi = b.fadd(DOUBLE(2.0), f)
    d_lo = b.fadd(b.fsub(DOUBLE(2.0), d_hi), f)
    reciprocal = b.fdiv(DOUBLE(1.0), d_hi)
    s = b.fmul(f, reciprocal)
    remainder = b.fsub(b.call(fma, [b.fneg(s), d_hi, f]), b.fmul(s, d_lo))
    s_lo = b.fmul(remainder, reciprocal)
    s2, s2_lo = product(s, s_lo, s, s_lo)
    s3, s3_lo = product(s2, s2_lo, s, s_lo)
    s5, s5_lo = product(s3, s3_lo, s2, s2_lo)
    cubic, cubic_lo = product(s3, s3_lo, *map(DOUBLE, TWO_THIRDS))
    fifth, fifth_lo = product(s5, s5_lo, *map(DOUBLE, TWO_FIFTHS))
    rest = b.fmul(b.fmul(s5, s2), polynomial(owner, b, s2, POW_LOG_Q))

    # k ln 2 + 2s, TwoSum; then + 2/3 s^3 and + 2/5 s^5, Fast2Sum (below 1/100 and 1/5000
    # of the sum, for any k), so the low part gathers only terms below 2^-17 of the result
    k_ln2 = b.fmul(kf, DOUBLE(LN2_HI))
    two_s = b.fmul(DOUBLE(2.0), s)
    h1 = b.fadd(k_ln2, two_s)
    back = b.fsub(h1, k_ln2)
    e1 = b.fadd(b.fsub(k_ln2, b.fsub(h1, back)), b.fsub(two_s, back))
    h2 = b.fadd(h1, cubic)
    e2 = b.fadd(b.fsub(h1, h2), cubic)
    h3 = b.fadd(h2, fifth)
    e3 = b.fadd(b.fsub(h2, h3), fifth)
    low = b.fadd(b.fadd(e1, e2), b.fadd(e3, b.call(fma, [DOUBLE(2.0), s_lo, cubic_lo])))
    low = b.fadd(low, b.fadd(fifth_lo, b.call(fma, [kf, DOUBLE(LN2_LO), rest])))
    hi = b.fadd(h3, low)
    return hi, b.fadd(b.fsub(h3, hi), low)


def product_power(b, v, square, n: int):
    """v^n for n = 2, 3 or 4 as plain products, given square = v v: v v, (v v) v,
    (v v)(v v)."""
    if n == 2:
        return square
    return b.fmul(square, v if n == 3 else square)


def half_power(owner, b, x, c: float):
    """x ** c for c = -0.5, 1.5 or -1.5 through sqrt(x), with pow's results where the
    square root's differ: at -0 and -inf."""
    root = b.call(owner.intrinsic("sqrt"), [x])
    if c == 1.5:
        y = b.fmul(x, root)
    elif c == -1.5:  # 1/x first: x^1.5 overflows where x^-1.5 is still subnormal
        y = b.fdiv(b.fdiv(DOUBLE(1.0), x), root)
    else:  # sqrt(-0) is -0, whose reciprocal is -inf; pow's is +inf
        y = b.select(b.fcmp_ordered("==", x, DOUBLE(0.0)), DOUBLE(math.inf),
                     b.fdiv(DOUBLE(1.0), root))
    # sqrt(-inf) is NaN; pow(-inf, c) is inf or 0 as for +inf
    at_inf = DOUBLE(math.inf if c > 0 else 0.0)
    return b.select(b.fcmp_ordered("==", x, DOUBLE(-math.inf)), at_inf, y)


def ieee_extreme(fl, name, x, y):
    """IEEE 754-2019 maximum or minimum of doubles: NaN if either is NaN, and +0 > -0
    (of two equal values, the AND of their bits for maximum, the OR for minimum, which
    only differs from either for a +0/-0 pair). Selects: LLVM's llvm.maximum expands to
    much the same on x86 but made loops that use it twice as slow; op_reduce uses the
    intrinsic where LLVM vectorizes the reduction with it."""
    b = fl.b
    wins = b.fcmp_ordered(">" if name == "maximum" else "<", x, y)
    pick = b.select(wins, x, y)
    bits = ll.VectorType(INT, x.type.count) if isinstance(x.type, ll.VectorType) else INT
    bits_x, bits_y = b.bitcast(x, bits), b.bitcast(y, bits)
    tied = b.bitcast((b.and_ if name == "maximum" else b.or_)(bits_x, bits_y), x.type)
    pick = b.select(b.fcmp_ordered("==", x, y), tied, pick)
    return b.select(b.fcmp_unordered("uno", x, x), x, pick)


def float_divmod(fl, a, b_):
    """NumPy's floor division and modulo for doubles (the result of mod has the divisor's
    sign; floor division is consistent with it)."""
    b = fl.b
    frem = b.frem(a, b_)
    div = b.fdiv(b.fsub(a, frem), b_)
    fix = b.and_(b.fcmp_unordered("!=", frem, DOUBLE(0.0)),
                 b.xor(b.fcmp_ordered("<", b_, DOUBLE(0.0)), b.fcmp_ordered("<", frem, DOUBLE(0.0))))
    mod = b.select(fix, b.fadd(frem, b_), frem)
    # a zero remainder takes the divisor's sign too, as in NumPy (0.0 % -2.0 is -0.0)
    copysign = fl.owner.declare("llvm.copysign.f64", DOUBLE, [DOUBLE, DOUBLE])
    mod = b.select(b.fcmp_ordered("==", mod, DOUBLE(0.0)), b.call(copysign, [DOUBLE(0.0), b_]), mod)
    div = b.select(fix, b.fsub(div, DOUBLE(1.0)), div)
    floordiv = call_math(fl, "floor", div)
    rounded = b.select(b.fcmp_ordered(">", b.fsub(div, floordiv), DOUBLE(0.5)),
                       b.fadd(floordiv, DOUBLE(1.0)), floordiv)
    zero_div = b.fcmp_ordered("==", div, DOUBLE(0.0))
    quotient = b.select(zero_div, b.call(copysign, [DOUBLE(0.0), b.fdiv(a, b_)]), rounded)
    by_zero = b.fcmp_ordered("==", b_, DOUBLE(0.0))
    # dividing by zero: NumPy gives a / 0 (inf or nan) and nan for the modulo
    quotient = b.select(by_zero, b.fdiv(a, b_), quotient)
    mod = b.select(by_zero, DOUBLE(float("nan")), mod)
    return quotient, mod


def int_binary(fl, op, name, x, y):
    b = fl.b
    if name in ("add", "sub", "mul"):
        return {"add": b.add, "sub": b.sub, "mul": b.mul}[name](x, y)
    if name in ICMP:
        return b.icmp_signed(ICMP[name], x, y)
    if name == "maximum":
        return b.select(b.icmp_signed(">=", x, y), x, y)
    if name == "minimum":
        return b.select(b.icmp_signed("<=", x, y), x, y)
    if name in ("floordiv", "mod"):
        fl.fail_if(fl.likely_false(b.icmp_signed("==", y, INT(0))), "zero", op,
                   what="division" if name == "floordiv" else "modulo")
        minus_one = b.icmp_signed("==", y, INT(-1))  # INT64_MIN // -1 must not trap
        safe = b.select(minus_one, INT(1), y)
        q = b.select(minus_one, b.neg(x), b.sdiv(x, safe))
        r = b.select(minus_one, INT(0), b.srem(x, safe))
        fix = b.and_(b.icmp_signed("!=", r, INT(0)),
                     b.xor(b.icmp_signed("<", r, INT(0)), b.icmp_signed("<", y, INT(0))))
        if name == "floordiv":
            return b.select(fix, b.sub(q, INT(1)), q)
        return b.select(fix, b.add(r, y), r)
    if name == "pow":
        fl.fail_if(b.icmp_signed("<", y, INT(0)), "pow", op)
        return int_power(fl, x, y)
    raise NotImplementedError(name)


def int_power(fl, base, exponent):
    """x ** n by repeated squaring, wrapping like NumPy's int64."""
    b = fl.b
    acc, cur, n = fl.slot(INT), fl.slot(INT), fl.slot(INT)
    b.store(INT(1), acc)
    b.store(base, cur)
    b.store(exponent, n)
    head = fl.llfn.append_basic_block("pow.head")
    body = fl.llfn.append_basic_block("pow.body")
    done = fl.llfn.append_basic_block("pow.done")
    b.branch(head)
    b.position_at_end(head)
    b.cbranch(b.icmp_signed(">", b.load(n, typ=INT), INT(0)), body, done)
    b.position_at_end(body)
    k = b.load(n, typ=INT)
    c = b.load(cur, typ=INT)
    odd = b.icmp_signed("!=", b.and_(k, INT(1)), INT(0))
    a = b.load(acc, typ=INT)
    b.store(b.select(odd, b.mul(a, c), a), acc)
    b.store(b.mul(c, c), cur)
    b.store(b.ashr(k, INT(1)), n)
    b.branch(head)
    b.position_at_end(done)
    return b.load(acc, typ=INT)


def cast(fl, op, name, t, x):
    b = fl.b
    if name == "to_f64":
        if t == F64:
            return x
        return b.uitofp(x, DOUBLE) if t == BOOL else b.sitofp(x, DOUBLE)
    if t == I64:
        return x
    if t == BOOL:
        return b.zext(x, INT)
    # [-2**63, 2**63): the doubles an i64 holds after truncation (NaN is in no range)
    finite = b.and_(b.fcmp_ordered(">=", x, DOUBLE(float(I64_MIN))),
                    b.fcmp_ordered("<", x, DOUBLE(float(I64_MAX + 1))))
    fl.fail_if(b.not_(finite), "cast", op, [b.bitcast(x, INT)])  # its bits: the message
    return b.fptosi(x, INT)
