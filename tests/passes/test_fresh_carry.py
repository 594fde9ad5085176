"""Fresh carried arrays (passes/fresh_carry.py): a loop over an array's indices that is
given a fresh `full` array and touches it at its index only contracts it to a scalar,
stores each element first (no fill), or takes an array that dies in the loop instead."""

import numpy as np
import pytest

import ir
from compiler import compile_file, compile_source, driver
from passes.fresh_carry import FreshCarry

# Slot t is read back and dropped after the loop: a scalar. Slots p and y are returned:
# y's first touch adds at k, so it stores 0.0 + w, and takes h, which dies in the loop
# (its read moves above the store); p stores first too, but no array is left to take,
# so its `full` is only marked overwritten.
BEFORE = (
    "func @f(%a: f64[n]) -> (f64[n], f64[n]) {\n"
    "  %n = dim %a {axis = 0} : i64\n"
    "  %0 = const 0 : i64\n"
    "  %1 = const 1 : i64\n"
    "  %2 = const 0.0 : f64\n"
    "  %h = mul %a, %a : f64[n]\n"
    "  %z = full %2, %n : f64[n]\n"
    "  %t = full %2, %n : f64[n]\n"
    "  %y = full %2, %n : f64[n]\n"
    "  %p, %q, %r = for %0, %n, %1, %z, %t, %y : f64[n], f64[n], f64[n] {\n"
    "  ^(%k: i64, %pa: f64[n], %ta: f64[n], %ya: f64[n]):\n"
    "    %v = index %a, %k {inbounds = true} : f64\n"
    "    %ta.1 = add_at %ta, %v, %k {inbounds = true} : f64[n]\n"
    "    %pa.1 = add_at %pa, %v, %k {inbounds = true} : f64[n]\n"
    "    %u = index %ta.1, %k {inbounds = true} : f64\n"
    "    %ta.2 = add_at %ta.1, %u, %k {inbounds = true} : f64[n]\n"
    "    %w = index %ta.2, %k {inbounds = true} : f64\n"
    "    %ya.1 = add_at %ya, %w, %k {inbounds = true} : f64[n]\n"
    "    %e = index %h, %k {inbounds = true} : f64\n"
    "    %pa.2 = add_at %pa.1, %e, %k {inbounds = true} : f64[n]\n"
    "    yield %pa.2, %ta.2, %ya.1\n"
    "  }\n"
    "  return %p, %r\n"
    "}\n"
)

AFTER = (
    "func @f(%a: f64[n]) -> (f64[n], f64[n]) {\n"
    "  %n = dim %a {axis = 0} : i64\n"
    "  %0 = const 0 : i64\n"
    "  %1 = const 1 : i64\n"
    "  %2 = const 0.0 : f64\n"
    "  %h = mul %a, %a : f64[n]\n"
    "  %z = full %2, %n {overwritten = true} : f64[n]\n"
    "  %p, %r = for %0, %n, %1, %z, %h : f64[n], f64[n] {\n"
    "  ^(%k: i64, %pa: f64[n], %ya: f64[n]):\n"
    "    %v = index %a, %k {inbounds = true} : f64\n"
    "    %3 = add %2, %v : f64\n"
    "    %4 = add %2, %v : f64\n"
    "    %pa.1 = update %pa, %4, %k {inbounds = true} : f64[n]\n"
    "    %5 = add %3, %3 : f64\n"
    "    %6 = add %2, %5 : f64\n"
    "    %e = index %ya, %k {inbounds = true} : f64\n"
    "    %ya.1 = update %ya, %6, %k {inbounds = true} : f64[n]\n"
    "    %pa.2 = add_at %pa.1, %e, %k {inbounds = true} : f64[n]\n"
    "    yield %pa.2, %ya.1\n"
    "  }\n"
    "  return %p, %r\n"
    "}\n"
)


def rewritten(source: str) -> str:
    module = FreshCarry().apply(ir.parse_module(source))
    ir.verify_module(module)
    return ir.print_module(module)


def test_before_and_after():
    assert rewritten(BEFORE) == AFTER


# One slot the pass would store first; each change below takes that away.
ONE_SLOT = (
    "func @f(%a: f64[n]) -> f64[n] {\n"
    "  %n = dim %a {axis = 0} : i64\n"
    "  %0 = const 0 : i64\n"
    "  %1 = const 1 : i64\n"
    "  %2 = const 0.0 : f64\n"
    "  %3 = const 2 : i64\n"
    "  %m = sub %n, %1 : i64\n"
    "  %z = full %2, %n : f64[n]\n"
    "  %p = for %0, %n, %1, %z : f64[n] {\n"
    "  ^(%k: i64, %pa: f64[n]):\n"
    "    %v = index %a, %k {inbounds = true} : f64\n"
    "    %pa.1 = add_at %pa, %v, %k {inbounds = true} : f64[n]\n"
    "    yield %pa.1\n"
    "  }\n"
    "  %o = add %p, %a : f64[n]\n"
    "  return %o\n"
    "}\n"
)


def test_one_slot_is_stored_first():
    out = rewritten(ONE_SLOT)
    assert "%z = full %2, %n {overwritten = true} : f64[n]\n" in out
    assert "    %4 = add %2, %v : f64\n    %pa.1 = update %pa, %4, %k {inbounds = true}" in out


@pytest.mark.parametrize("change", [
    ("for %0, %n, %1, %z", "for %1, %n, %1, %z"),  # not from 0: element 0 keeps its fill
    ("for %0, %n, %1, %z", "for %0, %n, %3, %z"),  # every other element
    ("for %0, %n, %1, %z", "for %0, %m, %1, %z"),  # not up to the array's size
    ("%z = full %2, %n", "%z = full %2, %m"),  # the same, the other way
    ("%o = add %p, %a", "%o = add %p, %z"),  # the fill is used again
    ("%pa.1 = add_at %pa, %v, %k", "%pa.1 = add_at %pa, %v, %m"),  # another index
    # the first touch reads the fill
    ("    %pa.1 = add_at %pa, %v, %k", "    %r = index %pa, %k {inbounds = true} : f64\n"
                                       "    %pa.1 = add_at %pa, %r, %k"),
    # the first touch is in an if, which may not store
    ("    %pa.1 = add_at %pa, %v, %k {inbounds = true} : f64[n]\n",
     "    %c = gt %v, %2 : bool\n"
     "    %pa.1 = if %c : f64[n] {\n"
     "      %pa.2 = add_at %pa, %v, %k {inbounds = true} : f64[n]\n"
     "      yield %pa.2\n"
     "    } {\n"
     "      yield %pa\n"
     "    }\n"),
])
def test_loops_it_leaves(change):
    source = ONE_SLOT.replace(*change)
    assert source != ONE_SLOT
    assert rewritten(source) == ir.print_module(ir.parse_module(source))


# Reverse mode's sweep of `[x[0] if i == 0 else x[i] * y[i - 1] for i in range(n)]`:
# iteration k adds into y's adjoint at k - 1 where k != 0, so every element but the last
# is stored once, first (0.0 + g, the same bits): the `full` is not filled but for its
# last element, by a loop before the sweep.
SHIFTED = (
    "func @f(%a: f64[n], %x: f64[n]) -> f64[n] {\n"
    "  %n = dim %a {axis = 0} : i64\n"
    "  %0 = const 0 : i64\n"
    "  %1 = const 1 : i64\n"
    "  %2 = const 0.0 : f64\n"
    "  %z = full %2, %n : f64[n]\n"
    "  %p = for %0, %n, %1, %z : f64[n] {\n"
    "  ^(%k: i64, %pa: f64[n]):\n"
    "    %first = eq %k, %0 : bool\n"
    "    %pa.1 = if %first : f64[n] {\n"
    "      yield %pa\n"
    "    } {\n"
    "      %v = index %a, %k {inbounds = true} : f64\n"
    "      %w = index %x, %k {inbounds = true} : f64\n"
    "      %g = mul %v, %w : f64\n"
    "      %j = sub %k, %1 : i64\n"
    "      %pa.2 = add_at %pa, %g, %j {inbounds = \"wraps\"} : f64[n]\n"
    "      yield %pa.2\n"
    "    }\n"
    "    yield %pa.1\n"
    "  }\n"
    "  return %p\n"
    "}\n"
)

SHIFTED_AFTER = (
    "func @f(%a: f64[n], %x: f64[n]) -> f64[n] {\n"
    "  %n = dim %a {axis = 0} : i64\n"
    "  %0 = const 0 : i64\n"
    "  %1 = const 1 : i64\n"
    "  %2 = const 0.0 : f64\n"
    "  %z = full %2, %n {overwritten = true} : f64[n]\n"
    "  %3 = const -1 : i64\n"
    "  %4 = add %n, %3 : i64\n"
    "  %5 = maximum %4, %0 : i64\n"
    "  %6 = for %5, %n, %1, %z : f64[n] {\n"
    "  ^(%j: i64, %z.1: f64[n]):\n"
    "    %7 = update %z.1, %2, %j {inbounds = true} : f64[n]\n"
    "    yield %7\n"
    "  }\n"
    "  %p = for %0, %n, %1, %6 : f64[n] {\n"
    "  ^(%k: i64, %pa: f64[n]):\n"
    "    %first = eq %k, %0 : bool\n"
    "    %pa.1 = if %first : f64[n] {\n"
    "      yield %pa\n"
    "    } {\n"
    "      %v = index %a, %k {inbounds = true} : f64\n"
    "      %w = index %x, %k {inbounds = true} : f64\n"
    "      %g = mul %v, %w : f64\n"
    "      %j.1 = sub %k, %1 : i64\n"
    "      %8 = add %2, %g : f64\n"
    "      %pa.2 = update %pa, %8, %j.1 {inbounds = \"wraps\"} : f64[n]\n"
    "      yield %pa.2\n"
    "    }\n"
    "    yield %pa.1\n"
    "  }\n"
    "  return %p\n"
    "}\n"
)


def test_adds_one_element_behind_store_first_and_fill_the_rest_before():
    assert rewritten(SHIFTED) == SHIFTED_AFTER
    module = ir.parse_module(SHIFTED)
    for n in (0, 1, 2, 5):
        a, x = np.arange(1.0, n + 1.0), np.arange(2.0, n + 2.0)
        want = ir.Interpreter(module).run("f", [a, x])
        got = ir.Interpreter(ir.parse_module(SHIFTED_AFTER)).run("f", [a, x])
        assert got.tobytes() == want.tobytes()


@pytest.mark.parametrize("change", [
    ("%first = eq %k, %0", "%first = eq %k, %1"),  # skips k = 1, adds at k = 0 (wraps)
    ("%j = sub %k, %1", "%j = add %k, %1"),  # one element ahead: element 0 keeps its fill
    ("%j = sub %k, %1", "%j = sub %k, %0"),  # at k itself, under the test: element 0 too
    ("    yield %pa\n    } {", "    %pa.3 = add_at %pa, %2, %k {inbounds = true} : f64[n]\n"
                               "    yield %pa.3\n    } {"),  # a second touch
    ("%pa.1 = if %first", "%pa.1 = if %c"),  # a test the pass cannot read
])
def test_shifted_adds_it_leaves(change):
    source = SHIFTED.replace(*change)
    if "%c" in change[1]:
        source = source.replace("    %first = eq %k, %0 : bool\n",
                                "    %first = eq %k, %0 : bool\n"
                                "    %e = index %a, %k {inbounds = true} : f64\n"
                                "    %c = gt %e, %2 : bool\n")
    assert source != SHIFTED
    assert rewritten(source) == ir.print_module(ir.parse_module(source))


# The same sweep starting from a sum of two arrays that only it uses (reverse mode sums a
# step's cotangents so): the build's loop is gone, the add at k - 1 stores the build's
# element there plus g (its reads proved in range under the test only), and the loop
# before the sweep stores the build's last element.
SHIFTED_BUILT = SHIFTED.replace(
    "  %z = full %2, %n : f64[n]\n",
    "  %z = build %0, %n, %1 : f64[n] {\n"
    "  ^(%i: i64):\n"
    "    %s = index %a, %i {inbounds = true} : f64\n"
    "    %t = index %x, %i {inbounds = true} : f64\n"
    "    %u = add %s, %t : f64\n"
    "    yield %u\n"
    "  }\n")

SHIFTED_BUILT_AFTER = (
    "func @f(%a: f64[n], %x: f64[n]) -> f64[n] {\n"
    "  %n = dim %a {axis = 0} : i64\n"
    "  %0 = const 0 : i64\n"
    "  %1 = const 1 : i64\n"
    "  %2 = const 0.0 : f64\n"
    "  %3 = const 0.0 : f64\n"
    "  %z = full %3, %n {overwritten = true} : f64[n]\n"
    "  %4 = const -1 : i64\n"
    "  %5 = add %n, %4 : i64\n"
    "  %6 = maximum %5, %0 : i64\n"
    "  %7 = for %6, %n, %1, %z : f64[n] {\n"
    "  ^(%j: i64, %z.1: f64[n]):\n"
    "    %s = index %a, %j {inbounds = true} : f64\n"
    "    %t = index %x, %j {inbounds = true} : f64\n"
    "    %u = add %s, %t : f64\n"
    "    %8 = update %z.1, %u, %j {inbounds = true} : f64[n]\n"
    "    yield %8\n"
    "  }\n"
    "  %p = for %0, %n, %1, %7 : f64[n] {\n"
    "  ^(%k: i64, %pa: f64[n]):\n"
    "    %first = eq %k, %0 : bool\n"
    "    %pa.1 = if %first : f64[n] {\n"
    "      yield %pa\n"
    "    } {\n"
    "      %v = index %a, %k {inbounds = true} : f64\n"
    "      %w = index %x, %k {inbounds = true} : f64\n"
    "      %g = mul %v, %w : f64\n"
    "      %j.1 = sub %k, %1 : i64\n"
    "      %s.1 = index %a, %j.1 {inbounds = \"guarded\"} : f64\n"
    "      %t.1 = index %x, %j.1 {inbounds = \"guarded\"} : f64\n"
    "      %u.1 = add %s.1, %t.1 : f64\n"
    "      %9 = add %u.1, %g : f64\n"
    "      %pa.2 = update %pa, %9, %j.1 {inbounds = \"wraps\"} : f64[n]\n"
    "      yield %pa.2\n"
    "    }\n"
    "    yield %pa.1\n"
    "  }\n"
    "  return %p\n"
    "}\n"
)


def test_a_built_fill_is_computed_where_the_shifted_add_stores():
    assert rewritten(SHIFTED_BUILT) == SHIFTED_BUILT_AFTER
    module, after = ir.parse_module(SHIFTED_BUILT), ir.parse_module(SHIFTED_BUILT_AFTER)
    for n in (0, 1, 2, 5):
        a, x = np.linspace(0.1, 0.9, n), np.arange(2.0, n + 2.0) / 3.0
        want = ir.Interpreter(module).run("f", [a, x])
        got = ir.Interpreter(after).run("f", [a, x])
        assert got.tobytes() == want.tobytes()


# A build as the fill of slots touched at k: contracted (t, dropped after the loop: each
# iteration starts from the build's element k) or stored first (p: its first add stores
# the build's element k plus v). Reads at k in the loop itself stay proved everywhere.
BUILT_AT_K = (
    "func @f(%a: f64[n], %x: f64[n]) -> f64[n] {\n"
    "  %n = dim %a {axis = 0} : i64\n"
    "  %0 = const 0 : i64\n"
    "  %1 = const 1 : i64\n"
    "  %b = build %0, %n, %1 : f64[n] {\n"
    "  ^(%i: i64):\n"
    "    %s = index %a, %i {inbounds = true} : f64\n"
    "    %t = mul %s, %s : f64\n"
    "    yield %t\n"
    "  }\n"
    "  %c = build %0, %n, %1 : f64[n] {\n"
    "  ^(%i.1: i64):\n"
    "    %s.1 = index %x, %i.1 {inbounds = true} : f64\n"
    "    yield %s.1\n"
    "  }\n"
    "  %p, %q = for %0, %n, %1, %b, %c : f64[n], f64[n] {\n"
    "  ^(%k: i64, %pa: f64[n], %ta: f64[n]):\n"
    "    %v = index %x, %k {inbounds = true} : f64\n"
    "    %ta.1 = add_at %ta, %v, %k {inbounds = true} : f64[n]\n"
    "    %w = index %ta.1, %k {inbounds = true} : f64\n"
    "    %pa.1 = add_at %pa, %w, %k {inbounds = true} : f64[n]\n"
    "    yield %pa.1, %ta.1\n"
    "  }\n"
    "  return %p\n"
    "}\n"
)

BUILT_AT_K_AFTER = (
    "func @f(%a: f64[n], %x: f64[n]) -> f64[n] {\n"
    "  %n = dim %a {axis = 0} : i64\n"
    "  %0 = const 0 : i64\n"
    "  %1 = const 1 : i64\n"
    "  %2 = const 0.0 : f64\n"
    "  %b = full %2, %n {overwritten = true} : f64[n]\n"
    "  %p = for %0, %n, %1, %b : f64[n] {\n"
    "  ^(%k: i64, %pa: f64[n]):\n"
    "    %s = index %x, %k {inbounds = true} : f64\n"
    "    %v = index %x, %k {inbounds = true} : f64\n"
    "    %3 = add %s, %v : f64\n"
    "    %s.1 = index %a, %k {inbounds = true} : f64\n"
    "    %t = mul %s.1, %s.1 : f64\n"
    "    %4 = add %t, %3 : f64\n"
    "    %pa.1 = update %pa, %4, %k {inbounds = true} : f64[n]\n"
    "    yield %pa.1\n"
    "  }\n"
    "  return %p\n"
    "}\n"
)


def test_a_built_fill_is_contracted_or_stored_first_at_k():
    assert rewritten(BUILT_AT_K) == BUILT_AT_K_AFTER
    module, after = ir.parse_module(BUILT_AT_K), ir.parse_module(BUILT_AT_K_AFTER)
    for n in (0, 1, 4):
        a, x = np.linspace(-1.0, 0.7, n), np.arange(1.0, n + 1.0) / 7.0
        want = ir.Interpreter(module).run("f", [a, x])
        assert ir.Interpreter(after).run("f", [a, x]).tobytes() == want.tobytes()


@pytest.mark.parametrize("change", [
    ("%u = add %s, %t", "%u = div %s, %t"),  # not cheap: the build keeps its vector loop
    ("%u = add %s, %t", "%u = exp %s"),
    ("%z = build %0, %n, %1", "%z = build %1, %n, %1"),  # not from 0
    ("%s = index %a, %i {inbounds = true}",  # a read proved only as wrapping
     "%i.1 = sub %i, %1 : i64\n    %s = index %a, %i.1 {inbounds = \"wraps\"}"),
    ("  return %p\n", "  %o = add %p, %z : f64[n]\n  return %o\n"),  # used again
])
def test_builds_it_leaves(change):
    source = SHIFTED_BUILT.replace(*change)
    assert source != SHIFTED_BUILT
    assert rewritten(source) == ir.print_module(ir.parse_module(source))


def test_a_build_reading_an_array_the_loop_carries_is_left():
    # %a is also the init of a second slot that native code may update in place
    source = SHIFTED_BUILT.replace(
        "  %p = for %0, %n, %1, %z : f64[n] {\n  ^(%k: i64, %pa: f64[n]):\n",
        "  %p, %r = for %0, %n, %1, %z, %a : f64[n], f64[n] {\n"
        "  ^(%k: i64, %pa: f64[n], %ra: f64[n]):\n").replace(
        "    yield %pa.1\n  }\n", "    yield %pa.1, %ra\n  }\n")
    assert rewritten(source) == ir.print_module(ir.parse_module(source))


# An array of the slot's type that the loop reads at k only: the slot takes it, unless
# something reads it after the loop, it is a row of a matrix (native code would copy it
# to own it), a read of it in an `if` comes after the first store, or its size is `?`.
REUSE = (
    "func @f(%a: f64[n], %b: f64[?, n]) -> f64[n] {\n"
    "  %n = dim %a {axis = 0} : i64\n"
    "  %0 = const 0 : i64\n"
    "  %1 = const 1 : i64\n"
    "  %2 = const 0.0 : f64\n"
    "  %h = mul %a, %a : f64[n]\n"
    "  %z = full %2, %n : f64[n]\n"
    "  %p = for %0, %n, %1, %z : f64[n] {\n"
    "  ^(%k: i64, %pa: f64[n]):\n"
    "    %v = index %a, %k {inbounds = true} : f64\n"
    "    %pa.1 = add_at %pa, %v, %k {inbounds = true} : f64[n]\n"
    "    %e = index %h, %k {inbounds = true} : f64\n"
    "    %pa.2 = add_at %pa.1, %e, %k {inbounds = true} : f64[n]\n"
    "    yield %pa.2\n"
    "  }\n"
    "  return %p\n"
    "}\n"
)


def test_a_dying_array_is_taken():
    out = rewritten(REUSE)
    assert "  %p = for %0, %n, %1, %h : f64[n] {\n" in out and "full" not in out
    assert ("    %e = index %pa, %k {inbounds = true} : f64\n"
            "    %pa.1 = update %pa, %3, %k {inbounds = true} : f64[n]\n") in out


@pytest.mark.parametrize("change", [
    ("  return %p\n", "  %o = add %p, %h : f64[n]\n  return %o\n"),
    ("%h = mul %a, %a : f64[n]", "%h = index %b, %0 : f64[n]"),
    ("    %e = index %h, %k {inbounds = true} : f64\n",
     "    %c = gt %v, %2 : bool\n"
     "    %e = if %c : f64 {\n"
     "      %f = index %h, %k {inbounds = true} : f64\n"
     "      yield %f\n"
     "    } {\n"
     "      yield %2\n"
     "    }\n"),
])
def test_arrays_it_does_not_take(change):
    out = rewritten(REUSE.replace(*change))
    assert "%z = full %2, %n {overwritten = true} : f64[n]\n" in out
    assert "  %p = for %0, %n, %1, %z : f64[n] {\n" in out


def test_an_array_of_unknown_size_is_not_taken():
    # two arrays of type f64[?] may have different sizes
    source = REUSE
    for old, new in (("%b: f64[?, n]", "%b: f64[?]"), ("%n = dim %a", "%n = dim %b"),
                     ("%h = mul %a, %a : f64[n]", "%h = mul %b, %b : f64[?]"),
                     ("%v = index %a, %k", "%v = index %b, %k"), ("f64[n]", "f64[?]")):
        source = source.replace(old, new)
    out = rewritten(source)
    assert "%z = full %2, %n {overwritten = true} : f64[?]\n" in out
    assert "  %p = for %0, %n, %1, %z : f64[?] {\n" in out


# Reverse sweeps over arrays: an interchanged two-variable iteration (each reverse step
# starts the adjoints of u and v at zero), an elementwise map, and ode's gradient.
PROGRAMS = """
def pair(a: f64, s: i64) -> f64:
    u = a
    v = 0.5
    for k in range(s):
        w = u / (v + a * a)
        u, v = u - 0.2 * w * v, v + 0.05 * (w - u)
    return u * v

def coupled(x: f64[n], s: i64) -> f64:
    return sum([pair(x[i], s) for i in range(n)])

def coupled_grad(x: f64[n], s: i64) -> f64[n]:
    return grad(coupled)(x, s)

def mapped(x: f64[n], y: f64[n]) -> f64:
    return sum([x[i] * exp(y[i]) - sin(x[i] * y[i]) for i in range(n)])

def mapped_grad(x: f64[n], y: f64[n]) -> (f64[n], f64[n]):
    return grad(mapped)(x, y)
"""


def without_pass(text: str | None, path: str | None = None):
    passes = driver.native_passes
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(driver, "native_passes", lambda checked=True: [
            p for p in passes(checked) if not isinstance(p, FreshCarry)])
        return compile_file(path) if path else compile_source(text)


@pytest.fixture(scope="module")
def both():
    return compile_source(PROGRAMS), without_pass(PROGRAMS)


def test_a_reverse_step_allocates_no_array(both):
    mod, before = both

    def fills_in_loops(m):
        text = m.ir("coupled_grad", stage="scalar")
        return sum(line.startswith("    ") and " = full " in line for line in text.splitlines())
    assert (fills_in_loops(before), fills_in_loops(mod)) == (3, 0)


@pytest.mark.parametrize("n", [0, 1, 5, 37])
@pytest.mark.parametrize("s", [0, 1, 3])
def test_gradients_are_the_same_bits_as_without(both, n, s):
    mod, before = both
    rng = np.random.default_rng(n + 10 * s)
    x, y = 1.0 + rng.random(n), rng.standard_normal(n)
    assert mod.coupled_grad(x, s).tobytes() == before.coupled_grad(x, s).tobytes()
    for got, want in zip(mod.mapped_grad(x, y), before.mapped_grad(x, y)):
        assert got.tobytes() == want.tobytes()


def test_ode_gradient_is_the_same_bits_as_without():
    mod, before = compile_file("examples/ode.dp"), without_pass(None, "examples/ode.dp")
    for n, s in ((1, 1), (4, 3), (37, 13)):
        x = 1.0 + np.random.default_rng(n).random(n)
        assert mod.grad("ode_last")(x, s).tobytes() == before.grad("ode_last")(x, s).tobytes()


def test_gradients_agree_with_finite_differences(both):
    mod, _ = both
    x, s, h = np.array([1.3, 0.7, 2.1]), 7, 1e-6
    g = mod.coupled_grad(x, s)
    for i in range(3):
        e = np.zeros(3)
        e[i] = h
        fd = (mod.coupled(x + e, s) - mod.coupled(x - e, s)) / (2 * h)
        assert abs(g[i] - fd) < 1e-6 * max(1.0, abs(fd))
