"""Loop fusion (passes/fuse_loops.py): two loops in a row over the same range, touching
what they share at their index only, become one loop (reverse sweeps of elementwise
steps)."""

import numpy as np
import pytest

import ir
from compiler import compile_source, driver
from passes.fuse_loops import FuseLoops

# The first loop adds into p and q at its index; the second carries p on and reads q at
# its index. One loop: the second's body reads what the first's just added to element
# k, and the ops both compute (v * v) are computed once. The `full` between them moves up.
BEFORE = (
    "func @f(%a: f64[n], %b: f64[n]) -> (f64[n], f64[n]) {\n"
    "  %n = dim %a {axis = 0} : i64\n"
    "  %0 = const 0 : i64\n"
    "  %1 = const 1 : i64\n"
    "  %2 = const 0.0 : f64\n"
    "  %z = full %2, %n : f64[n]\n"
    "  %y = full %2, %n : f64[n]\n"
    "  %p, %q = for %0, %n, %1, %z, %y : f64[n], f64[n] {\n"
    "  ^(%k: i64, %pa: f64[n], %qa: f64[n]):\n"
    "    %v = index %a, %k {inbounds = true} : f64\n"
    "    %w = mul %v, %v : f64\n"
    "    %pa.1 = add_at %pa, %w, %k {inbounds = true} : f64[n]\n"
    "    %qa.1 = add_at %qa, %v, %k {inbounds = true} : f64[n]\n"
    "    yield %pa.1, %qa.1\n"
    "  }\n"
    "  %x = full %2, %n : f64[n]\n"
    "  %r, %s = for %0, %n, %1, %p, %x : f64[n], f64[n] {\n"
    "  ^(%j: i64, %ra: f64[n], %sa: f64[n]):\n"
    "    %v.1 = index %a, %j {inbounds = true} : f64\n"
    "    %w.1 = mul %v.1, %v.1 : f64\n"
    "    %u = index %q, %j {inbounds = true} : f64\n"
    "    %t = mul %w.1, %u : f64\n"
    "    %ra.1 = add_at %ra, %t, %j {inbounds = true} : f64[n]\n"
    "    %sa.1 = add_at %sa, %u, %j {inbounds = true} : f64[n]\n"
    "    yield %ra.1, %sa.1\n"
    "  }\n"
    "  %o = add %r, %q : f64[n]\n"
    "  return %o, %s\n"
    "}\n"
)

AFTER = (
    "func @f(%a: f64[n], %b: f64[n]) -> (f64[n], f64[n]) {\n"
    "  %n = dim %a {axis = 0} : i64\n"
    "  %0 = const 0 : i64\n"
    "  %1 = const 1 : i64\n"
    "  %2 = const 0.0 : f64\n"
    "  %z = full %2, %n : f64[n]\n"
    "  %y = full %2, %n : f64[n]\n"
    "  %x = full %2, %n : f64[n]\n"
    "  %r, %q, %s = for %0, %n, %1, %z, %y, %x : f64[n], f64[n], f64[n] {\n"
    "  ^(%k: i64, %pa: f64[n], %qa: f64[n], %sa: f64[n]):\n"
    "    %v = index %a, %k {inbounds = true} : f64\n"
    "    %w = mul %v, %v : f64\n"
    "    %pa.1 = add_at %pa, %w, %k {inbounds = true} : f64[n]\n"
    "    %qa.1 = add_at %qa, %v, %k {inbounds = true} : f64[n]\n"
    "    %u = index %qa.1, %k {inbounds = true} : f64\n"
    "    %t = mul %w, %u : f64\n"
    "    %ra = add_at %pa.1, %t, %k {inbounds = true} : f64[n]\n"
    "    %sa.1 = add_at %sa, %u, %k {inbounds = true} : f64[n]\n"
    "    yield %ra, %qa.1, %sa.1\n"
    "  }\n"
    "  %o = add %r, %q : f64[n]\n"
    "  return %o, %s\n"
    "}\n"
)


def fused(source: str) -> str:
    module = FuseLoops().apply(ir.parse_module(source))
    ir.verify_module(module)
    return ir.print_module(module)


def test_before_and_after():
    assert fused(BEFORE) == AFTER


@pytest.mark.parametrize("change", [
    # the second loop runs over another range
    ("for %0, %n, %1, %p, %x", "for %1, %n, %1, %p, %x"),
    # it reads q at another index than its own
    ("%u = index %q, %j {inbounds = true}", "%u = index %q, %0 {inbounds = true}"),
    # the first adds into q at another index than its own
    ("%qa.1 = add_at %qa, %v, %k {inbounds", "%qa.1 = add_at %qa, %v, %0 {inbounds"),
    # a read the second loop may fail on (not proved in range): an error would come
    # before iterations of the first loop that ran first
    ("%u = index %q, %j {inbounds = true} : f64", "%u = index %q, %j : f64"),
    # p, which the second loop carries on, is also used after it
    ("%o = add %r, %q", "%o = add %r, %p"),
    # an op between the loops uses the first
    ("%x = full %2, %n : f64[n]", "%x = mul %q, %q : f64[n]"),
    # the second loop carries q on and also reads it
    ("for %0, %n, %1, %p, %x", "for %0, %n, %1, %q, %x"),
    # the second loop reads what the first consumes
    ("%u = index %q, %j {inbounds", "%u = index %z, %j {inbounds"),
    # an index not proved in range (unchecked code): a negative one counts from the end,
    # so two iterations may touch one element
    ("%u = index %q, %j {inbounds = true}", '%u = index %q, %j {inbounds = "assumed"}'),
    ("%qa.1 = add_at %qa, %v, %k {inbounds = true}",
     '%qa.1 = add_at %qa, %v, %k {inbounds = "assumed"}'),
])
def test_loops_it_leaves(change):
    source = BEFORE.replace(*change)
    assert source != BEFORE
    assert fused(source) == ir.print_module(ir.parse_module(source))


# A two-variable iteration per element (interchanged into a loop over arrays): each
# reverse step is three loops that add into the adjoints of u, v and x at their index,
# which the pass makes one; three values, with an if, make four.
PROGRAMS = """
def pair(a: f64, s: i64) -> f64:
    u = a
    v = 2.0
    for k in range(s):
        w = u * v / (1.0 + a * a)
        u, v = u + 0.05 * (w - u), v - 0.02 * w * u
    return u * v

def coupled(x: f64[n], s: i64) -> f64:
    return sum([pair(x[i], s) for i in range(n)])

def coupled_grad(x: f64[n], s: i64) -> f64[n]:
    return grad(coupled)(x, s)

def triple(a: f64, b: f64, s: i64) -> f64:
    u = a
    v = b
    z = 0.5
    for k in range(s):
        if u > v:
            z = z + 0.25 * u * v
        else:
            z = z - 0.125 * v
        u, v = u - 0.05 * z * v, v + 0.05 * sin(u)
    return u * v + z

def three(x: f64[n], y: f64[n], s: i64) -> f64:
    return sum([triple(x[i], y[i], s) for i in range(n)])

def three_grad(x: f64[n], y: f64[n], s: i64) -> (f64[n], f64[n]):
    return grad(three)(x, y, s)
"""


def unfused(text: str):
    """compile_source without this pass."""
    passes = driver.native_passes
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(driver, "native_passes", lambda checked=True: [
            p for p in passes(checked) if not isinstance(p, FuseLoops)])
        return compile_source(text)


def loops(mod, fn: str) -> int:
    return mod.ir(fn, stage="scalar").count(" = for ")


@pytest.fixture(scope="module")
def both():
    return compile_source(PROGRAMS), unfused(PROGRAMS)


def test_each_reverse_step_is_one_loop(both):
    mod, before = both
    assert (loops(before, "coupled_grad"), loops(mod, "coupled_grad")) == (7, 5)
    assert loops(mod, "three_grad") < loops(before, "three_grad")


@pytest.mark.parametrize("n", [0, 1, 5, 37])
@pytest.mark.parametrize("s", [0, 1, 3])
def test_gradients_are_the_same_bits_as_unfused(both, n, s):
    mod, before = both
    rng = np.random.default_rng(n + 10 * s)
    x, y = 1.0 + rng.random(n), 0.5 + rng.random(n)
    assert mod.coupled_grad(x, s).tobytes() == before.coupled_grad(x, s).tobytes()
    for got, want in zip(mod.three_grad(x, y, s), before.three_grad(x, y, s)):
        assert got.tobytes() == want.tobytes()


def test_gradients_agree_with_finite_differences(both):
    mod, _ = both
    x, y, s, h = np.array([1.3, 0.7, 2.1]), np.array([0.4, 1.9, 1.0]), 6, 1e-6
    gx, gy = mod.three_grad(x, y, s)
    for g, which in ((gx, 0), (gy, 1)):
        for i in range(3):
            e = np.zeros(3)
            e[i] = h
            args = [(x + e, y), (x, y + e)][which], [(x - e, y), (x, y - e)][which]
            fd = (mod.three(*args[0], s) - mod.three(*args[1], s)) / (2 * h)
            assert abs(g[i] - fd) < 1e-6 * max(1.0, abs(fd))


def test_unchecked_loops_over_negative_indices_stay_apart():
    # range(-n, n) touches every element twice (x[-n] is x[0]); fused, b[0] was read from
    # a[0] before a[0]'s second add: [3, 6, 9] natively, unchecked
    text = """
def f(x: f64[n]) -> f64[n]:
    a = zeros(n)
    for i in range(-n, n):
        a[i] += x[i]
    b = zeros(n)
    for i in range(-n, n):
        b[i] += a[i]
    return b
"""
    x = np.array([1.0, 2.0, 3.0])
    for checked in (True, False):
        assert compile_source(text, checked=checked).f(x).tolist() == [4.0, 8.0, 12.0]


# Two loops over a row's columns adding into rows j and k of a matrix (a pair of rows'
# cotangents): iteration i touches column i only, of whichever row, so one loop does
# both, adding into each element in the same order.
COLUMNS = (
    "func @f(%x: f64[n, d], %g: f64[n, d], %j: i64, %k: i64) -> f64[n, d] {\n"
    "  %d = dim %x {axis = 1} : i64\n"
    "  %0 = const 0 : i64\n"
    "  %1 = const 1 : i64\n"
    "  %a = for %0, %d, %1, %g : f64[n, d] {\n"
    "  ^(%i: i64, %p: f64[n, d]):\n"
    "    %v = index %x, %j, %i {inbounds = true} : f64\n"
    "    %p.1 = add_at %p, %v, %j, %i {inbounds = true} : f64[n, d]\n"
    "    yield %p.1\n"
    "  }\n"
    "  %b = for %0, %d, %1, %a : f64[n, d] {\n"
    "  ^(%i.1: i64, %q: f64[n, d]):\n"
    "    %w = index %x, %k, %i.1 {inbounds = true} : f64\n"
    "    %q.1 = add_at %q, %w, %k, %i.1 {inbounds = true} : f64[n, d]\n"
    "    yield %q.1\n"
    "  }\n"
    "  return %b\n"
    "}\n"
)


def test_loops_touching_one_column_per_iteration_fuse():
    assert fused(COLUMNS) == (
    "func @f(%x: f64[n, d], %g: f64[n, d], %j: i64, %k: i64) -> f64[n, d] {\n"
    "  %d = dim %x {axis = 1} : i64\n"
    "  %0 = const 0 : i64\n"
    "  %1 = const 1 : i64\n"
    "  %b = for %0, %d, %1, %g : f64[n, d] {\n"
    "  ^(%i: i64, %p: f64[n, d]):\n"
    "    %v = index %x, %j, %i {inbounds = true} : f64\n"
    "    %p.1 = add_at %p, %v, %j, %i {inbounds = true} : f64[n, d]\n"
    "    %w = index %x, %k, %i {inbounds = true} : f64\n"
    "    %q = add_at %p.1, %w, %k, %i {inbounds = true} : f64[n, d]\n"
    "    yield %q\n"
    "  }\n"
    "  return %b\n"
    "}\n"
    )


@pytest.mark.parametrize("change", [
    # the second loop adds along the other axis: iteration i touches row i there, and
    # element (i, k) is also column k of the first loop's row when i is j
    ("%q.1 = add_at %q, %w, %k, %i.1", "%q.1 = add_at %q, %w, %i.1, %k"),
    # the first loop adds along the other axis
    ("%p.1 = add_at %p, %v, %j, %i", "%p.1 = add_at %p, %v, %i, %j"),
])
def test_loops_touching_columns_and_rows_stay_apart(change):
    source = COLUMNS.replace(*change)
    assert source != COLUMNS
    assert fused(source) == ir.print_module(ir.parse_module(source))
