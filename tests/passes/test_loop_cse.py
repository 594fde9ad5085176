"""Loop CSE: what two loops over one range both compute per iteration is computed once."""

import ir
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
