"""The cases of the primitive-rule tests (tests/passes/test_ad_primitives.py for adjoint
rules, test_forward_primitives.py for tangent rules): small programs grouped by the ops
they exercise, each case a function, its arguments, the ops it is about, and where finite
differences do not apply (ties, kinks) the gradient the language's conventions give.

Ops the language cannot write (digamma and trigamma, add_at, to_f64 of an f64) are
reached through nested gradients and through IR text.
"""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

import ir
import runtime
from compiler import check_source, compile_source
from compiler.driver import native_passes, reachable
from ir.ops import BINARY, UNARY
from ir.registry import REGISTRY
from passes.ad import AutoDiff

BACKENDS = ["interp", "native"]
TOLERANCE = 1e-6


@dataclass
class Case:
    fn: str  # the function differentiated
    args: tuple
    ops: frozenset  # the ops whose adjoint rules this case is about
    wrt: tuple | None = None  # parameter names; None: every f64 parameter
    expected: Callable | None = None  # args -> gradients, where finite differences fail
    group: str = ""
    id: str = ""


@dataclass
class Group:
    text: str
    is_ir: bool = False
    cases: list = field(default_factory=list)

    def case(self, fn, *args, ops, wrt=None, expected=None):
        ops = frozenset(ops.split()) if isinstance(ops, str) else frozenset(ops)
        self.cases.append(Case(fn, args, ops, wrt, expected))


def arr(*values):
    return np.array(values, dtype=np.float64)


def mat(rows):
    return np.array(rows, dtype=np.float64)


RNG = np.random.default_rng(20240607)


def uniform(low, high, *shape):
    return RNG.uniform(low, high, shape)


def signed(low, high, *shape):
    """Values of magnitude in [low, high], of either sign."""
    return uniform(low, high, *shape) * RNG.choice([-1.0, 1.0], shape)


GROUPS: dict[str, Group] = {}

# ----------------------------------------------------------------------------- unary math

# op: (expression, points away from kinks and poles); the scalar function gets each point,
# the array function all of them at once
UNARY_CASES = {
    "neg": ("-x", [0.7, -2.0]),
    "abs": ("abs(x)", [-1.3, 0.9, 0.0]),  # abs'(0) = 0 and central differences agree
    "exp": ("exp(x)", [0.4, -1.1]),
    "log": ("log(x)", [1.7, 0.2]),
    "log1p": ("log1p(x)", [0.3, -0.5]),
    "expm1": ("expm1(x)", [-0.6, 0.9]),
    "sqrt": ("sqrt(x)", [2.3, 0.04]),
    "sin": ("sin(x)", [0.8, -2.1]),
    "cos": ("cos(x)", [0.8, 2.6]),
    "tan": ("tan(x)", [0.6, -1.2]),
    "tanh": ("tanh(x)", [0.5, -1.4]),
    "sigmoid": ("sigmoid(x)", [-0.7, 3.0, -40.0]),
    "lgamma": ("lgamma(x)", [3.3, 0.4, -1.5]),
    "floor": ("floor(x)", [1.3, -0.6]),
    "ceil": ("ceil(x)", [1.3, -0.6]),
    "sign": ("sign(x)", [1.3, -0.6]),
}


def unary_group() -> Group:
    text = ""
    for op, (expr, _) in UNARY_CASES.items():
        # y * (y + 1.5): the op's cotangent is not just 1
        text += (f"def u_{op}(x: f64) -> f64:\n    y = {expr}\n    return y * (y + 1.5)\n\n"
                 f"def ua_{op}(x: f64[n], w: f64[n]) -> f64:\n    return sum({expr} * w)\n\n")
    g = Group(text)
    for op, (_, points) in UNARY_CASES.items():
        for x in points:
            g.case(f"u_{op}", x, ops=[op])
        weights = np.resize(arr(0.7, -1.3, 0.4), len(points))
        g.case(f"ua_{op}", arr(*points), weights, ops=[op, "reduce_sum"])
    # the conventions at the jumps: derivative 0 (central differences would blow up)
    for op, x in (("sign", 0.0), ("floor", 2.0), ("ceil", -1.0)):
        g.case(f"u_{op}", x, ops=[op], expected=lambda x: [0.0])
    return g


GROUPS["unary"] = unary_group()

# ----------------------------------------------------------------------------- binary math

BINARY_CASES = {  # op: (expression of {a} and {b}, scalar points)
    "add": ("{a} + {b}", [(0.7, -0.3)]),
    "sub": ("{a} - {b}", [(0.7, 1.9)]),
    "mul": ("{a} * {b}", [(1.3, -0.8)]),
    "div": ("{a} / {b}", [(1.3, -0.8), (-0.4, 2.5)]),
    "pow": ("{a} ** {b}", [(1.3, 0.7), (0.6, -1.7), (2.2, 3.0)]),
    "mod": ("{a} % {b}", [(5.3, 1.7), (-5.3, 1.7), (5.3, -1.7), (-0.4, 1.1)]),
    "floordiv": ("{a} // {b}", [(5.3, 1.7), (-5.3, 1.1)]),
    "maximum": ("max({a}, {b})", [(0.4, -0.2), (-0.4, 0.2)]),
    "minimum": ("min({a}, {b})", [(0.4, -0.2), (-0.4, 0.2)]),
}
# op: (range of the first operand, of the second) for the broadcasting cases
BINARY_DOMAINS = {
    "div": ((0.3, 2.0), (0.5, 2.0)),
    "pow": ((0.5, 2.0), (-1.5, 1.5)),
    "mod": ((0.2, 4.0), (0.7, 1.9)),
    "floordiv": ((0.2, 4.0), (0.7, 1.9)),
}


def binary_domain(op, k):
    low, high = BINARY_DOMAINS.get(op, ((0.3, 2.0), (0.3, 2.0)))[k]
    return lambda *shape: (uniform(low, high, *shape) if op in BINARY_DOMAINS or k
                           else signed(low, high, *shape))


def binary_group() -> Group:
    text = ""
    for op, (template, _) in BINARY_CASES.items():
        expr, other = template.format(a="a", b="b"), template.format(a="c", b="d")
        text += (
            f"def b_{op}(a: f64, b: f64) -> f64:\n    t = {expr}\n    return t * (t + 1.5)\n\n"
            # scalar with array, and array with scalar
            f"def bs_{op}(a: f64, b: f64[n], c: f64[n], d: f64, w: f64[n]) -> f64:\n"
            f"    return sum(({expr}) * w) + sum(({other}) * w * w)\n\n"
            # f64[n, m] with f64[m] (the other way round costs native compile time and
            # tests nothing new: the scalar case has both)
            f"def bm_{op}(a: f64[n, m], b: f64[m]) -> f64:\n"
            f"    t = {expr}\n    return sum(t * t)\n\n")
    text += """\
def b_square(x: f64) -> f64:
    return x ** 2.0 + 2.0 ** x

def b_cube(x: f64[n]) -> f64:
    return sum(x ** 3.0)

# broadcasting both ways: f64[n, 1] with f64[1, m]
def b_outer_bcast(a: f64[n, 1], b: f64[1, m]) -> f64:
    t = a * b + a - b / (a * a + 1.0)
    return sum(t * t)

# three dimensions with a vector
def b_rank3(a: f64[k, n, m], b: f64[m]) -> f64:
    t = a * b - b
    return sum(t * t)

def b_ties(a: f64[n], b: f64[n], w: f64[n]) -> f64:
    return sum(max(a, b) * w) + sum(min(a, b) * w * w)

def b_tie_bcast(x: f64, b: f64[n], w: f64[n]) -> f64:
    return sum(max(x, b) * w)
"""
    g = Group(text)
    for op, (_, points) in BINARY_CASES.items():
        for a, b in points:
            g.case(f"b_{op}", a, b, ops=[op])
        first, second = binary_domain(op, 0), binary_domain(op, 1)
        g.case(f"bs_{op}", float(first(1)[0]), second(4), first(4), float(second(1)[0]),
               signed(0.2, 1.5, 4), ops=[op, "reduce_sum"])
        g.case(f"bm_{op}", first(3, 4), second(4), ops=[op, "reduce_sum"])
    for x in (1.7, -1.5, 0.0):
        g.case("b_square", x, ops=["pow"])
    g.case("b_cube", arr(1.5, -0.5, 0.0), ops=["pow"])
    g.case("b_outer_bcast", signed(0.3, 1.5, 3, 1), signed(0.3, 1.5, 1, 4),
           ops="add sub mul div reduce_sum")
    g.case("b_rank3", signed(0.3, 1.5, 2, 3, 4), signed(0.3, 1.5, 4), ops="mul sub")

    # ties: the gradient goes to the first operand, of -0.0 and 0.0 too (max's value is 0.0)
    a, b = arr(0.5, -1.0, 2.0, 3.0, -0.0, 0.0), arr(0.5, 1.0, 2.0, -3.0, 0.0, -0.0)
    w = arr(0.7, -1.1, 1.9, 0.3, 1.3, -0.9)
    g.case("b_ties", a, b, w, ops="maximum minimum", expected=expected_ties)
    g.case("b_tie_bcast", 0.5, arr(0.5, -1.0, 2.0, 0.5), w[:4], ops=["maximum"],
           expected=expected_tie_bcast)
    g.case("b_maximum", 0.25, 0.25, ops=["maximum"], expected=lambda a, b: [2.0, 0.0])
    g.case("b_minimum", -0.25, -0.25, ops=["minimum"], expected=lambda a, b: [1.0, 0.0])
    return g


def expected_ties(a, b, w):
    amax, amin = a >= b, a <= b
    return [np.where(amax, w, 0.0) + np.where(amin, w * w, 0.0),
            np.where(amax, 0.0, w) + np.where(amin, 0.0, w * w),
            np.maximum(a, b) + 2.0 * w * np.minimum(a, b)]


def expected_tie_bcast(x, b, w):
    wins = x >= b
    return [float(np.sum(w[wins])), np.where(wins, 0.0, w), np.maximum(x, b)]


GROUPS["binary"] = binary_group()

# ------------------------------------------------------------------- select, casts, arrays

ARRAYS = """\
def s_where(x: f64, y: f64) -> f64:
    return where(x > y, x * y, sin(x) - y)

def s_ifexp(x: f64, y: f64) -> f64:
    return x * x if x > 0.0 else y * x

# condition f64[n] with scalar branches
def s_bcond(x: f64, y: f64[n], w: f64[n]) -> f64:
    return sum(where(y > 0.5, x * 2.0, x * x) * w)

# condition f64[m] with f64[n, m] branches
def s_bmat(a: f64[n, m], b: f64[n, m], c: f64[m]) -> f64:
    t = where(c > 0.0, a, b * c)
    return sum(t * t)

# an integer parameter gets no gradient; i64 promoted in arithmetic
def c_tof(x: f64, k: i64) -> f64:
    return x * float(k) + float(k) * float(k) + x * x * k

def ix_scalar(x: f64[n], i: i64) -> f64:
    return x[i] * x[i] + x[-1] * x[0] + x[i - 1] * 3.0

def ix_row(a: f64[n, m], i: i64) -> f64:
    r = a[i]
    return sum(r * a[-1]) + a[-1, -2] * a[0][1] + a[i, -1] * a[i][0]

def up_scalar(x: f64[n], v: f64) -> f64:
    y = x * 2.0
    y[1] = v * v
    y[-1] = v + y[0]
    y[0] += v * x[2]
    return sum(y * y)

def up_row(a: f64[n, m], r: f64[m], v: f64) -> f64:
    b = a * 1.5
    b[1] = r * r
    b[-1] = r
    b[0] = v
    b[1, 2] = v * a[0, 0]
    b[-2, -1] += v
    return sum(b * b)

def up_fresh(x: f64, i: i64) -> f64:
    z = zeros(4)
    z[i] = x * x
    z[0] = x
    return sum(z * [1.0, 2.0, 3.0, 4.0])

def c_full(x: f64, w: f64[3]) -> f64:
    f = full(x * x, 3)
    g = full(x, 2, 3)
    return sum(f * w) + sum(g * w) + sum(full(sin(x), 5))

def c_stack(x: f64, y: f64, u: f64[n], v: f64[n]) -> f64:
    s = [x, y * x, 2.0]
    t = [u, v * x, u * v]
    return dot(s, [0.5, -1.0, 3.0]) + sum(t * t) + s[1] * s[1]

def c_shape_cast(x: f64[n], w: f64) -> f64:
    y: f64[n] = [x[i - 1] * w for i in range(1, n + 1)]
    return sum(y * x)
"""


def arrays_group() -> Group:
    g = Group(ARRAYS)
    g.case("s_where", 0.8, 0.3, ops=["select"])
    g.case("s_where", -0.8, 0.3, ops=["select"])
    g.case("s_ifexp", 0.8, 0.3, ops=["select"])
    g.case("s_ifexp", -0.8, 0.3, ops=["select"])
    g.case("s_bcond", 0.7, arr(0.2, 0.9, -1.0, 1.5), arr(0.3, -0.6, 1.2, 0.8), ops=["select"])
    g.case("s_bmat", signed(0.2, 1.5, 3, 4), signed(0.2, 1.5, 3, 4), arr(0.4, -0.3, 1.2, -0.8),
           ops=["select"])
    g.case("c_tof", 1.3, 3, ops=["mul"], wrt=("x",))
    g.case("ix_scalar", arr(0.4, -1.2, 2.0, 0.7), 1, ops=["index"])
    g.case("ix_scalar", arr(0.4, -1.2, 2.0, 0.7), -3, ops=["index"])
    g.case("ix_row", signed(0.3, 1.5, 3, 4), 1, ops=["index"])
    g.case("ix_row", signed(0.3, 1.5, 3, 4), -1, ops=["index"])
    g.case("up_scalar", arr(0.4, -1.2, 2.0, 0.7), 0.9, ops=["update", "index"])
    g.case("up_row", signed(0.3, 1.5, 3, 4), signed(0.3, 1.5, 4), -0.7, ops=["update"])
    g.case("up_fresh", 0.6, 2, ops=["update"])
    g.case("up_fresh", 0.6, -4, ops=["update"])
    g.case("c_full", 0.7, arr(0.5, -1.0, 2.0), ops=["full"])
    g.case("c_stack", 0.7, -1.3, arr(0.5, -1.0, 2.0), arr(1.5, 0.3, -0.8), ops=["stack", "dot"])
    g.case("c_shape_cast", arr(0.5, -1.0, 2.0), 1.7, ops=["shape_cast", "build"])
    return g


GROUPS["arrays"] = arrays_group()

# ------------------------------------------------------------------- reductions, linear algebra

REDUCTIONS = """\
def r_sum(a: f64[n, m]) -> f64:
    s = sum(a * a)
    return s * (s + 1.5) + mean(a)

def r_sum_axis(a: f64[n, m], w: f64[n]) -> f64:
    s0 = sum(a, axis=0)
    s1 = sum(a, axis=1)
    return sum(s0 * s0) + dot(s1, w)

def r_prod(x: f64[n]) -> f64:
    p = prod(x)
    return p * (p + 1.5)

def r_prod2(a: f64[n, m]) -> f64:
    return prod(a) * 2.0

def r_prod_axis(a: f64[n, m], v: f64[n]) -> f64:
    p0 = prod(a, axis=0)
    p1 = prod(a, axis=1)
    return sum(p0 * p0) + dot(p1, v)

def r_max(a: f64[n, m]) -> f64:
    t = max(a)
    return t * (t + 1.5)

def r_min(a: f64[n, m]) -> f64:
    t = min(a)
    return t * (t + 1.5)

def r_max_axis(a: f64[n, m], w: f64[m], v: f64[n]) -> f64:
    return dot(max(a, axis=0), w) + dot(max(a, axis=1), v)

def r_min_axis(a: f64[n, m], w: f64[m], v: f64[n]) -> f64:
    return dot(min(a, axis=0), w) + dot(min(a, axis=1), v)

def r_max_vec(x: f64[n]) -> f64:
    return max(x * 2.0) - 3.0 * min(x)

def l_dot(x: f64[n], y: f64[n]) -> f64:
    d = dot(x, y)
    return d * (d + 1.5)

def l_mm(a: f64[n, k], b: f64[k, m]) -> f64:
    c = a @ b
    return sum(c * c)

def l_mv(a: f64[n, k], x: f64[k]) -> f64:
    c = a @ x
    return sum(c * c)

def l_vm(x: f64[n], a: f64[n, k]) -> f64:
    c = x @ a
    return sum(c * c)

def l_transpose(a: f64[n, m], b: f64[m, n]) -> f64:
    return sum(transpose(a) * b) + sum(a.T * a.T)

def l_transpose3(a: f64[p, q, r], v: f64[p]) -> f64:
    return sum(transpose(a) * v * a.T) + sum(v.T * v)

def l_outer(x: f64[n], y: f64[m]) -> f64:
    o = outer(x, y)
    return sum(o * o) + sum(o)
"""


def first_pick(a, axis, pick):
    """One-hot of the first extreme element (row-major) along `axis`."""
    out = np.zeros_like(a)
    if axis is None:
        out.reshape(-1)[pick(a.reshape(-1))] = 1.0
        return out
    idx = pick(a, axis=axis)
    np.put_along_axis(out, np.expand_dims(idx, axis), 1.0, axis)
    return out


def expected_r_extreme(pick, reduce):
    def expected(a):
        t = reduce(a)
        return [(2.0 * t + 1.5) * first_pick(a, None, pick)]
    return expected


def expected_axis(pick, reduce):
    def expected(a, w, v):
        ga = first_pick(a, 0, pick) * w[None, :] + first_pick(a, 1, pick) * v[:, None]
        return [ga, reduce(a, axis=0), reduce(a, axis=1)]
    return expected


def expected_r_max_vec(x):
    return [2.0 * first_pick(x, None, np.argmax) - 3.0 * first_pick(x, None, np.argmin)]


def reductions_group() -> Group:
    g = Group(REDUCTIONS)
    a = signed(0.5, 1.5, 3, 4)
    g.case("r_sum", a, ops=["reduce_sum"])
    g.case("r_sum_axis", a, arr(0.3, -1.2, 0.8), ops=["reduce_sum"])
    g.case("r_prod", arr(0.7, -1.3, 1.1, 0.9), ops=["reduce_prod"])
    g.case("r_prod", arr(0.7, 0.0, 1.1, 0.9), ops=["reduce_prod"])  # one zero
    g.case("r_prod", arr(0.7, 0.0, 1.1, 0.0), ops=["reduce_prod"])  # two zeros
    g.case("r_prod2", a, ops=["reduce_prod"])
    v = arr(1.0, -2.0, 0.5)
    g.case("r_prod_axis", a, v, ops=["reduce_prod"])
    g.case("r_prod_axis", mat([[0.7, 0.0, 1.1, 0.9], [0.5, 1.2, 0.0, 0.0], [0.0, 1.4, -0.6, 0.8]]),
           v, ops=["reduce_prod"])
    for fn, kind in (("r_max", "reduce_max"), ("r_min", "reduce_min")):
        g.case(fn, a, ops=[kind])
        g.case(f"{fn}_axis", a, signed(0.3, 1.2, 4), signed(0.3, 1.2, 3), ops=[kind])
    g.case("r_max_vec", arr(0.3, -1.2, 2.0, 0.7), ops="reduce_max reduce_min")
    # ties: everything to the first extreme element in row-major order
    ties = mat([[1.0, 3.0, 2.0, 3.0], [3.0, -1.0, 3.0, -1.0], [0.5, 3.0, -1.0, 2.0]])
    g.case("r_max", ties, ops=["reduce_max"], expected=expected_r_extreme(np.argmax, np.max))
    g.case("r_min", ties, ops=["reduce_min"], expected=expected_r_extreme(np.argmin, np.min))
    w, v = arr(0.4, -1.1, 0.9, 1.3), arr(0.6, -0.2, 1.7)
    g.case("r_max_axis", ties, w, v, ops=["reduce_max"], expected=expected_axis(np.argmax, np.max))
    g.case("r_min_axis", ties, w, v, ops=["reduce_min"], expected=expected_axis(np.argmin, np.min))
    g.case("r_max_vec", arr(2.0, -1.2, 2.0, -1.2), ops="reduce_max reduce_min",
           expected=expected_r_max_vec)
    g.case("l_dot", arr(0.4, -1.2, 2.0), arr(1.1, 0.3, -0.5), ops=["dot"])
    g.case("l_mm", signed(0.3, 1.5, 3, 2), signed(0.3, 1.5, 2, 4), ops=["matmul"])
    g.case("l_mv", signed(0.3, 1.5, 3, 2), signed(0.3, 1.5, 2), ops=["matmul"])
    g.case("l_vm", signed(0.3, 1.5, 3), signed(0.3, 1.5, 3, 2), ops=["matmul"])
    g.case("l_transpose", signed(0.3, 1.5, 3, 2), signed(0.3, 1.5, 2, 3), ops=["transpose"])
    g.case("l_transpose3", signed(0.3, 1.5, 2, 3, 4), signed(0.3, 1.5, 2), ops=["transpose"])
    g.case("l_outer", signed(0.3, 1.5, 3), signed(0.3, 1.5, 4), ops=["outer"])
    return g


GROUPS["reductions"] = reductions_group()

# ----------------------------------------------------------------------------- regions and calls

# The trip counts of these loops are arguments: reverse mode unrolls loops of a few known
# trips (passes/ad.py, unrolled), and these cases are there to run the rules of `for`.
REGIONS = """\
def for_scalar(x: f64, w: f64, trips: i64) -> f64:
    acc = 1.0
    for i in range(trips):
        acc = acc * x + w * float(i)
    return acc

def for_array(x: f64[n], w: f64, trips: i64) -> f64:
    v = x
    s = 0.0
    for i in range(trips):
        v = sin(v) * w + x
        s += v[i % n] * v[0]
    return sum(v * v) + s

def for_start_step(x: f64[n], w: f64, stop: i64) -> f64:
    acc = w
    for i in range(1, stop, 2):
        acc = acc * x[i % n] + sin(acc)
    return acc

def for_negative_step(x: f64[n], w: f64) -> f64:
    acc = w
    for i in range(n - 1, -1, -1):
        acc = acc * w + x[i] * float(i + 1)
    return acc * acc

# bounds from arguments: any start, stop and step, zero trips included
def for_range(x: f64[n], w: f64, start: i64, stop: i64, step: i64) -> f64:
    v = x * w
    t = w
    for i in range(start, stop, step):
        v[i % n] = v[i % n] * t + sin(v[(i + 1) % n])
        t = t * 0.5 + v[0]
    return sum(v * v) + t * t

def for_nested(a: f64[n, m], w: f64) -> f64:
    acc = w
    for i in range(n):
        row = a[i]
        for j in range(m):
            row[j] = row[j] * acc
            acc = acc * 0.5 + row[j]
        acc = acc + sum(row * row)
    return acc

def while_long(x: f64, w: f64[n]) -> f64:
    k = 0
    acc = x
    v = w
    while k < 20:
        acc = acc * 0.9 + sin(x * float(k)) * v[k % n]
        v = v * 0.95 + acc * 0.01
        k += 1
    return acc + sum(v * v)

# the trip count depends on x (it stays the same nearby)
def while_value(x: f64, y: f64) -> f64:
    acc = x
    while acc < 50.0:
        acc = acc * 1.2 + y
    return acc * y

def while_zero(x: f64, k: i64) -> f64:
    acc = x
    while k < 3:
        acc = acc * acc
        k += 1
    return acc * 2.0

def if_results(x: f64, y: f64[n]) -> f64:
    if x > 0.5:
        a = sin(x) * y
        b = x * x
    elif x > -0.5:
        a = y * y
        b = x
    else:
        a = y
        b = cos(x)
    return sum(a * a) * b

def comp_build(x: f64[n], w: f64) -> f64:
    y = [x[i] * x[n - 1 - i] + w * float(i) for i in range(n)]
    return sum(y * y)

def comp_step(x: f64[n], w: f64) -> f64:
    y = [x[i] * w for i in range(n - 1, 0, -2)]
    return sum(y * y)

def comp_nested(a: f64[n, m], b: f64[m]) -> f64:
    c = [[a[i, j] * b[j] + sin(a[i, j]) for j in range(m)] for i in range(n)]
    return sum(c * c)

def comp_row(a: f64[n, m], x: f64[n]) -> f64:
    r = [a[i] * x[i] for i in range(n)]
    return sum(r * r)

def gen_sum(x: f64[n], w: f64) -> f64:
    return sum(x[i] * w ** float(i) for i in range(n))

def gen_prod(x: f64[n]) -> f64:
    p = prod(x[i] + 1.0 for i in range(n))
    return p * (p + 1.5)

def gen_max(x: f64[n], w: f64) -> f64:
    t = max(x[i] * w for i in range(n))
    return t * (t + 1.5)

def gen_min(x: f64[n], w: f64) -> f64:
    t = min(x[i] * w for i in range(1, n))
    return t * (t + 1.5)

def helper(x: f64, v: f64[n], k: i64) -> (f64, f64[n]):
    return x * sum(v) + float(k), v * x

def call_tuple(x: f64, v: f64[n]) -> f64:
    a, b = helper(x, v, 2)
    c, d = helper(a, b * b, 1)
    return c + sum(d * v)

def call_first(x: f64, v: f64[n]) -> f64:
    a, b = helper(x, v, 3)
    return a * a

def square(x: f64) -> f64:
    return x * x

def call_scalar(x: f64) -> f64:
    return square(square(x) + x)
"""


def expected_gen_max(x, w):
    j = int(np.argmax(x * w))
    t = x[j] * w
    ct = 2.0 * t + 1.5
    g = np.zeros_like(x)
    g[j] = ct * w
    return [g, ct * x[j]]


def regions_group() -> Group:
    g = Group(REGIONS)
    x4 = arr(0.4, -1.2, 0.9, 0.7)
    g.case("for_scalar", 0.8, -0.3, 5, ops=["for"])
    g.case("for_array", x4, 0.6, 4, ops=["for"])
    g.case("for_start_step", x4, 0.6, 8, ops=["for"])
    g.case("for_negative_step", x4, 0.6, ops=["for"])
    for bounds in ((1, 7, 2), (6, -1, -3), (0, 4, 1), (3, 3, 1), (5, 2, 1), (1, 5, -1)):
        g.case("for_range", x4, 0.6, *bounds, ops=["for"], wrt=("x", "w"))
    g.case("for_nested", signed(0.3, 1.2, 3, 4), 0.4, ops=["for"])
    g.case("while_long", 0.7, arr(0.3, -0.5, 1.1), ops=["while"])
    g.case("while_value", 1.3, 0.7, ops=["while"])  # 14 iterations
    g.case("while_zero", 0.8, 0, ops=["while"])
    g.case("while_zero", 0.8, 5, ops=["while"])
    for x in (1.2, 0.1, -1.3):
        g.case("if_results", x, arr(0.3, -0.5, 1.1), ops=["if"])
    g.case("comp_build", x4, 0.6, ops=["build"])
    g.case("comp_step", arr(0.4, -1.2, 0.9, 0.7, 1.3), 0.6, ops=["build"])
    g.case("comp_nested", signed(0.3, 1.2, 3, 4), signed(0.3, 1.2, 4), ops=["build"])
    g.case("comp_row", signed(0.3, 1.2, 3, 4), signed(0.3, 1.2, 3), ops=["build"])
    g.case("gen_sum", x4, 0.6, ops=["reduce"])
    g.case("gen_prod", x4, ops=["reduce"])
    g.case("gen_prod", arr(0.4, -1.0, 0.9, 0.7), ops=["reduce"])  # one zero factor
    g.case("gen_prod", arr(0.4, -1.0, 0.9, -1.0), ops=["reduce"])  # two zero factors
    g.case("gen_max", x4, 0.6, ops=["reduce"])
    g.case("gen_max", x4, -0.6, ops=["reduce"])
    g.case("gen_min", x4, 0.6, ops=["reduce"])
    g.case("gen_max", arr(0.4, 0.9, -1.2, 0.9), 0.6, ops=["reduce"], expected=expected_gen_max)
    g.case("call_tuple", 0.7, arr(0.3, -0.5, 1.1), ops=["call"])
    g.case("call_first", 0.7, arr(0.3, -0.5, 1.1), ops=["call"])
    g.case("call_scalar", -0.3, ops=["call"])
    return g


GROUPS["regions"] = regions_group()

# generators of rows: sum, prod, max and min of array elements
ROW_GENERATORS = """\
def gen_rows(a: f64[n, m]) -> f64:
    s = sum(a[i] * a[i] for i in range(n))
    p = prod(a[i] for i in range(n))
    t = max(a[i] for i in range(n))
    u = min(a[i] * 2.0 for i in range(n))
    return sum(s * s) + sum(p) + dot(t, t) + sum(u)
"""


def row_generators_group() -> Group:
    g = Group(ROW_GENERATORS)
    g.case("gen_rows", signed(0.3, 1.2, 3, 4), ops=["reduce"])
    rows = mat([[0.5, 2.0, -1.0, 0.0], [0.5, -1.0, 0.0, 3.0], [0.2, 2.0, -1.0, 1.5]])
    g.case("gen_rows", rows, ops=["reduce"], expected=expected_gen_rows)
    return g


def expected_gen_rows(a):
    """Per column: max and min to their first extreme row; prod with its zeros."""
    s = np.sum(a * a, axis=0)
    others = np.array([np.prod(np.delete(a, i, axis=0), axis=0) for i in range(len(a))])
    t = np.max(a, axis=0)
    return [4.0 * s * a + others + 2.0 * t * first_pick(a, 0, np.argmax)
            + 2.0 * first_pick(2.0 * a, 0, np.argmin)]


GROUPS["row_generators"] = row_generators_group()

# ----------------------------------------------------------------------------- nested gradients

NESTED = """\
def ff(x: f64[n]) -> f64:
    return x[0] * x[1] * x[-1] + x[1] ** 3.0 + sum(x[i] * x[i] * x[i] for i in range(n))

def dff(x: f64[n]) -> f64[n]:
    return grad(ff)(x)

def hvp(x: f64[n], w: f64[n]) -> f64:
    return dot(dff(x), w)

def fr(a: f64[n, m]) -> f64:
    return sum(a[1] * a[-1] * a[-1]) + a[0, 2] ** 3.0

def dfr(a: f64[n, m]) -> f64[n, m]:
    return grad(fr)(a)

def hvp_rows(a: f64[n, m], w: f64[n, m]) -> f64:
    return sum(dfr(a) * w)

def lg(x: f64) -> f64:
    return lgamma(x)

def dlg(x: f64) -> f64:
    return grad(lg)(x)

def d2lg(x: f64) -> f64:
    return grad(dlg)(x)

def lga(x: f64[n]) -> f64:
    return sum(lgamma(x))

def dlga(x: f64[n]) -> f64[n]:
    return grad(lga)(x)

def lga_w(x: f64[n], w: f64[n]) -> f64:
    return dot(dlga(x), w)
"""


def nested_group() -> Group:
    g = Group(NESTED)
    g.case("hvp", arr(0.4, -1.2, 0.9, 0.7), arr(0.3, 1.1, -0.6, 0.8), ops=["add_at"])
    g.case("hvp_rows", signed(0.3, 1.2, 3, 4), signed(0.3, 1.2, 3, 4), ops=["add_at"])
    for x in (2.7, 0.3, -1.6):
        g.case("dlg", x, ops=["digamma"])
        g.case("d2lg", x, ops=["trigamma"])
    g.case("lga_w", arr(0.4, 2.2, 13.5, -0.7), arr(0.3, 1.1, -0.6, 0.8), ops=["digamma"])
    return g


GROUPS["nested"] = nested_group()

# ----------------------------------------------------------------------------- IR text

IR_TEXT = """\
func @digamma_s(%x: f64) -> f64 {
  %0 = digamma %x : f64
  %1 = mul %0, %0 : f64
  return %1
}

func @trigamma_s(%x: f64) -> f64 {
  %0 = trigamma %x : f64
  %1 = mul %0, %x : f64
  return %1
}

func @polygamma_a(%x: f64[n], %w: f64[n]) -> f64 {
  %0 = digamma %x : f64[n]
  %1 = trigamma %x : f64[n]
  %2 = mul %0, %1 : f64[n]
  %3 = mul %2, %w : f64[n]
  %4 = reduce_sum %3 : f64
  return %4
}

func @cast(%x: f64, %y: f64[n]) -> f64 {
  %0 = to_f64 %x : f64
  %1 = to_f64 %y : f64[n]
  %2 = mul %1, %0 : f64[n]
  %3 = mul %2, %1 : f64[n]
  %4 = reduce_sum %3 : f64
  return %4
}

func @add_at(%a: f64[n, m], %v: f64, %r: f64[m]) -> f64 {
  %0 = const 1 : i64
  %1 = const -1 : i64
  %2 = mul %v, %v : f64
  %3 = add_at %a, %2, %0, %1 : f64[n, m]
  %4 = add_at %3, %r, %1 : f64[n, m]
  %5 = add_at %4, %v, %0 : f64[n, m]
  %6 = mul %5, %5 : f64[n, m]
  %7 = reduce_sum %6 : f64
  return %7
}
"""


def ir_group() -> Group:
    g = Group(IR_TEXT, is_ir=True)
    for x in (2.7, 0.3, -1.6, 14.2):
        g.case("digamma_s", x, ops=["digamma"])
        g.case("trigamma_s", x, ops=["trigamma"])
    g.case("polygamma_a", arr(0.4, 2.2, 13.5, -0.7, 7.9), arr(0.3, 1.1, -0.6, 0.8, 0.5),
           ops="digamma trigamma")
    g.case("cast", 0.7, arr(0.3, -0.5, 1.1), ops=["to_f64"])
    g.case("add_at", signed(0.3, 1.2, 3, 4), 0.6, signed(0.3, 1.2, 4), ops=["add_at"])
    return g


GROUPS["ir"] = ir_group()

CASES = []
for _name, _group in GROUPS.items():
    _seen = Counter()
    for _case in _group.cases:
        _case.group = _name
        _seen[_case.fn] += 1
        _case.id = f"{_case.fn}-{_seen[_case.fn]}"
        CASES.append(_case)


# ----------------------------------------------------------------------------- the programs

def parse_group(group: Group, extra: str = "") -> ir.Module:
    return ir.parse_module(group.text + extra) if group.is_ir else check_source(group.text + extra)


@functools.cache
def signatures(name: str) -> dict:
    """fn name -> its IR function, from the group's program without wrappers."""
    return parse_group(GROUPS[name]).functions


def wrt_positions(case: Case) -> list[int]:
    fn = signatures(case.group)[case.fn]
    names = [p.name_hint for p in fn.params]
    if case.wrt is None:
        return [k for k, t in enumerate(fn.param_types) if t.elem == ir.F64]
    return [names.index(w) for w in case.wrt]


def wrapper_name(case: Case) -> str:
    return f"d_{case.fn}_" + "_".join(map(str, wrt_positions(case)))


def wrapper(case: Case) -> str:
    """A function that returns the gradient of case.fn, in the group's language."""
    fn = signatures(case.group)[case.fn]
    wrt = wrt_positions(case)
    types = [str(fn.param_types[k]) for k in wrt]
    ret = types[0] if len(types) == 1 else f"({', '.join(types)})"
    names = [p.name_hint for p in fn.params]
    if GROUPS[case.group].is_ir:
        params = ", ".join(f"%{n}: {t}" for n, t in zip(names, fn.param_types))
        results = ", ".join(f"%r{k}" for k in range(len(wrt)))
        return (f"\nfunc @{wrapper_name(case)}({params}) -> {ret} {{\n"
                f"  {results} = grad {', '.join('%' + n for n in names)} "
                f"{{callee = @{case.fn}, wrt = [{', '.join(map(str, wrt))}]}} : "
                f"{', '.join(types)}\n  return {results}\n}}\n")
    params = ", ".join(f"{n}: {t}" for n, t in zip(names, fn.param_types))
    wrt_names = "".join(f"{names[k]}, " for k in wrt)
    return (f"\ndef {wrapper_name(case)}({params}) -> {ret}:\n"
            f"    return grad({case.fn}, wrt=({wrt_names}))({', '.join(names)})\n")


def wrappers(name: str, make=None, name_of=None) -> str:
    """The text of one wrapper per function of group `name` (the gradient ones unless
    `make` and `name_of` say otherwise)."""
    make, name_of = make or wrapper, name_of or wrapper_name
    texts = {}
    for case in GROUPS[name].cases:
        texts.setdefault(name_of(case), make(case))
    return "".join(texts.values())


@functools.cache
def with_wrappers(name: str) -> ir.Module:
    """The group's program and gradient wrappers, before AD."""
    return parse_group(GROUPS[name], wrappers(name))


def native_module(module: ir.Module):
    """As CompiledModule._compile_native does it: the native passes on a copy, then the JIT."""
    module = ir.clone_module(module)
    for native_pass in native_passes():
        module = native_pass.apply(module)
    ir.verify_module(module)
    return runtime.compile_module(module)


class Program:
    """A group's functions and gradient wrappers, compiled for one backend."""

    def __init__(self, name: str, backend: str):
        group = GROUPS[name]
        text = group.text + wrappers(name)
        if not group.is_ir:
            mod = compile_source(text, name=f"{name}.dp", backend=backend)
            assert backend == "interp" or mod._native is not None, "fell back to the interpreter"
            self.differentiated = mod._differentiated
            self.run = mod.run
            return
        module = ir.parse_module(text)
        ir.verify_module(module)
        self.differentiated = AutoDiff().apply(module)
        if backend == "interp":
            interpreter = ir.Interpreter(self.differentiated)
            self.run = lambda fn, *args: interpreter.run(fn, list(args))
        else:
            functions = native_module(self.differentiated).functions
            self.run = lambda fn, *args: functions[fn](*args)


@functools.cache
def program(name: str, backend: str) -> Program:
    return Program(name, backend)


def no_f64_result() -> set:
    """Ops whose result is never f64: comparisons, logic."""
    binary = {name for name, (*_, result, _) in BINARY.items() if result == ir.BOOL}
    unary = {name for name, (_, accepted, _) in UNARY.items() if accepted == (ir.BOOL,)}
    return binary | unary


def rules_run(slot: str, module: ir.Module, case: Case, wrapper: str, monkeypatch) -> Counter:
    """The rules in registry slot `slot` ('adjoint' or 'tangent') that the AD pass runs to
    differentiate case.fn: those it runs on the functions `wrapper` reaches, minus those
    it runs on the ones case.fn reaches (the derivatives nested inside case.fn)."""
    calls = Counter()

    def recording(name, rule):
        def counted(*args):
            calls[name] += 1
            return rule(*args)
        return counted

    for name, opdef in REGISTRY.items():
        if getattr(opdef, slot) is not None:
            monkeypatch.setattr(opdef, slot, recording(name, getattr(opdef, slot)))
    try:
        AutoDiff().apply(reachable(ir.clone_module(module), case.fn))
        inner = Counter(calls)
        calls.clear()
        AutoDiff().apply(reachable(ir.clone_module(module), wrapper))
        return calls - inner
    finally:
        monkeypatch.undo()
