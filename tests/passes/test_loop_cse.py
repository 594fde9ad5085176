"""Loop CSE: what two loops over one range both compute per iteration is computed once."""

import numpy as np

import ir
from compiler import compile_source
from passes.loop_cse import LoopCSE

BEFORE = (
    "func @f(%x: f64[k, d]) -> f64 {\n"
    "  %k = dim %x {axis = 0} : i64\n"
    "  %d = dim %x {axis = 1} : i64\n"
    "  %0 = const 0 : i64\n"
    "  %1 = const 1 : i64\n"
    "  %2 = const 0.0 : f64\n"
    "  %b = build %0, %k, %1 : f64[k] {\n"
    "  ^(%j: i64):\n"
    "    %3 = index %x, %j {inbounds = true} : f64[d]\n"
    "    %4 = reduce %0, %d, %1 {kind = \"sum\"} : f64 {\n"
    "    ^(%r: i64):\n"
    "      %5 = index %3, %r {inbounds = true} : f64\n"
    "      %6 = exp %5 : f64\n"
    "      yield %6\n"
    "    }\n"
    "    %7 = log %4 : f64\n"
    "    yield %7\n"
    "  }\n"
    "  %8 = for %0, %k, %1, %2 : f64 {\n"
    "  ^(%i: i64, %acc: f64):\n"
    "    %9 = index %x, %i {inbounds = true} : f64[d]\n"
    "    %10 = reduce %0, %d, %1 {kind = \"sum\"} : f64 {\n"
    "    ^(%s: i64):\n"
    "      %11 = index %9, %s {inbounds = true} : f64\n"
    "      %12 = exp %11 : f64\n"
    "      yield %12\n"
    "    }\n"
    "    %13 = index %b, %i {inbounds = true} : f64\n"
    "    %14 = div %13, %10 : f64\n"
    "    %15 = add %acc, %14 : f64\n"
    "    yield %15\n"
    "  }\n"
    "  return %8\n"
    "}\n"
)

AFTER = (
    "func @f(%x: f64[k, d]) -> f64 {\n"
    "  %k = dim %x {axis = 0} : i64\n"
    "  %d = dim %x {axis = 1} : i64\n"
    "  %0 = const 0 : i64\n"
    "  %1 = const 1 : i64\n"
    "  %2 = const 0.0 : f64\n"
    "  %3 = build %0, %k, %1 : f64[k] {\n"
    "  ^(%j: i64):\n"
    "    %4 = index %x, %j {inbounds = true} : f64[d]\n"
    "    %5 = reduce %0, %d, %1 {kind = \"sum\"} : f64 {\n"
    "    ^(%r: i64):\n"
    "      %6 = index %4, %r {inbounds = true} : f64\n"
    "      %7 = exp %6 : f64\n"
    "      yield %7\n"
    "    }\n"
    "    yield %5\n"
    "  }\n"
    "  %b = build %0, %k, %1 : f64[k] {\n"
    "  ^(%j.1: i64):\n"
    "    %8 = index %3, %j.1 {inbounds = true} : f64\n"
    "    %9 = log %8 : f64\n"
    "    yield %9\n"
    "  }\n"
    "  %10 = for %0, %k, %1, %2 : f64 {\n"
    "  ^(%i: i64, %acc: f64):\n"
    "    %11 = index %3, %i {inbounds = true} : f64\n"
    "    %12 = index %b, %i {inbounds = true} : f64\n"
    "    %13 = div %12, %11 : f64\n"
    "    %14 = add %acc, %13 : f64\n"
    "    yield %14\n"
    "  }\n"
    "  return %10\n"
    "}\n"
)


def shared(source: str) -> str:
    module = LoopCSE().apply(ir.parse_module(source))
    ir.verify_module(module)
    return ir.print_module(module)


def test_before_and_after():
    # sum(exp(x[j])) is computed by both loops: a build over the range computes it once
    # and both bodies read it
    assert shared(BEFORE) == AFTER
    assert ir.print_module(ir.parse_module(AFTER)) == AFTER


def test_a_value_that_reads_what_the_loop_carries_is_not_shared():
    source = BEFORE.replace("%11 = index %9, %s {inbounds = true} : f64\n      %12 = exp %11",
                            "%11 = index %9, %s {inbounds = true} : f64\n      %12 = mul %11, %acc")
    assert "%12 = mul %11, %acc" in source
    assert shared(source).count("build") == 1


def test_a_value_that_may_fail_is_not_moved():
    # an unchecked read could raise; computed earlier, it could raise where it did not
    source = BEFORE.replace("%11 = index %9, %s {inbounds = true}", "%11 = index %9, %s") \
                   .replace("%5 = index %3, %r {inbounds = true}", "%5 = index %3, %r")
    assert shared(source).count("build") == 1


# The dense Hessian's shape: LICM put the argmax search (a `reduce` min, which can fail on
# an empty range, so LICM keeps the copy in the reverse part of the body) before the loop
# over columns; the copy in the body is the same search, and goes.
NESTED_BEFORE = (
    "func @f(%x: f64[n], %top: f64) -> f64 {\n"
    "  %n = dim %x {axis = 0} : i64\n"
    "  %0 = const 0 : i64\n"
    "  %1 = const 1 : i64\n"
    "  %2 = const 0.0 : f64\n"
    "  %3 = reduce %0, %n, %1 {kind = \"min\"} : i64 {\n"
    "  ^(%i: i64):\n"
    "    %4 = index %x, %i {inbounds = true} : f64\n"
    "    %5 = eq %4, %top : bool\n"
    "    %6 = select %5, %i, %n : i64\n"
    "    yield %6\n"
    "  }\n"
    "  %7 = for %0, %n, %1, %2 : f64 {\n"
    "  ^(%c: i64, %acc: f64):\n"
    "    %8 = reduce %0, %n, %1 {kind = \"min\"} : i64 {\n"
    "    ^(%j: i64):\n"
    "      %9 = index %x, %j {inbounds = true} : f64\n"
    "      %10 = eq %9, %top : bool\n"
    "      %11 = select %10, %j, %n : i64\n"
    "      yield %11\n"
    "    }\n"
    "    %12 = eq %8, %n : bool\n"
    "    %13 = eq %3, %n : bool\n"
    "    %14 = if %13 : i64 {\n"
    "      yield %0\n"
    "    } {\n"
    "      yield %3\n"
    "    }\n"
    "    %15 = if %12 : i64 {\n"
    "      yield %0\n"
    "    } {\n"
    "      yield %8\n"
    "    }\n"
    "    %16 = add %14, %15 : i64\n"
    "    %17 = to_f64 %16 : f64\n"
    "    %18 = add %acc, %17 : f64\n"
    "    yield %18\n"
    "  }\n"
    "  return %7\n"
    "}\n"
)

NESTED_AFTER = (
    "func @f(%x: f64[n], %top: f64) -> f64 {\n"
    "  %n = dim %x {axis = 0} : i64\n"
    "  %0 = const 0 : i64\n"
    "  %1 = const 1 : i64\n"
    "  %2 = const 0.0 : f64\n"
    "  %3 = reduce %0, %n, %1 {kind = \"min\"} : i64 {\n"
    "  ^(%i: i64):\n"
    "    %4 = index %x, %i {inbounds = true} : f64\n"
    "    %5 = eq %4, %top : bool\n"
    "    %6 = select %5, %i, %n : i64\n"
    "    yield %6\n"
    "  }\n"
    "  %7 = for %0, %n, %1, %2 : f64 {\n"
    "  ^(%c: i64, %acc: f64):\n"
    "    %8 = eq %3, %n : bool\n"
    "    %9 = if %8 : i64 {\n"
    "      yield %0\n"
    "    } {\n"
    "      yield %3\n"
    "    }\n"
    "    %10 = add %9, %9 : i64\n"
    "    %11 = to_f64 %10 : f64\n"
    "    %12 = add %acc, %11 : f64\n"
    "    yield %12\n"
    "  }\n"
    "  return %7\n"
    "}\n"
)


def test_a_loop_repeating_one_before_it_in_an_outer_block_reads_that_one():
    # the search goes, the two `if`s on its result are then equal, and one goes too
    assert shared(NESTED_BEFORE) == NESTED_AFTER


def test_a_loop_inside_another_is_not_merged_with_one_after_it():
    # the search after the loop has not run when the loop's body runs
    source = (
        "func @f(%x: f64[n], %top: f64) -> i64 {\n"
        "  %n = dim %x {axis = 0} : i64\n"
        "  %0 = const 0 : i64\n"
        "  %1 = const 1 : i64\n"
        "  %2 = for %0, %n, %1, %0 : i64 {\n"
        "  ^(%c: i64, %acc: i64):\n"
        "    %3 = reduce %0, %n, %1 {kind = \"min\"} : i64 {\n"
        "    ^(%j: i64):\n"
        "      %4 = index %x, %j {inbounds = true} : f64\n"
        "      %5 = eq %4, %top : bool\n"
        "      %6 = select %5, %j, %n : i64\n"
        "      yield %6\n"
        "    }\n"
        "    %7 = add %acc, %3 : i64\n"
        "    yield %7\n"
        "  }\n"
        "  %8 = reduce %0, %n, %1 {kind = \"min\"} : i64 {\n"
        "  ^(%i: i64):\n"
        "    %9 = index %x, %i {inbounds = true} : f64\n"
        "    %10 = eq %9, %top : bool\n"
        "    %11 = select %10, %i, %n : i64\n"
        "    yield %11\n"
        "  }\n"
        "  %12 = add %2, %8 : i64\n"
        "  return %12\n"
        "}\n"
    )
    assert shared(source) == source


def test_an_array_whose_size_follows_the_loop_is_not_tabulated():
    # each i's inner array has i + 1 elements: a table of them would be ragged, and the
    # gradient raised "comprehension elements have different shapes" (a helper found it)
    text = """
def f(x: f64[n]) -> f64:
    a = [sum([x[j] for j in range(i + 1)]) for i in range(n)]
    b = [max([x[j] for j in range(i + 1)]) for i in range(n)]
    return sum(a) + sum(b)
"""
    x = np.array([1.0, 2.0, 3.0])
    for backend in ("native", "interp"):
        mod = compile_source(text, backend=backend)
        assert mod.grad("f")(x).tolist() == [4.0, 3.0, 2.0]
