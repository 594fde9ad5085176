"""The IR text format: printing is stable and parses back; parse errors say where."""

import re

import numpy as np
import pytest

from ir import Interpreter, IRParseError, parse_module, print_module, verify_module
from compiler import check_source
from ir.core import Loc

LOOPS = """\
func @llsq(%x: f64[m], %n: i64) -> f64 {
  %m = dim %x {axis = 0} : i64
  %0 = const 0.0 : f64
  %1 = const 0 : i64
  %2 = const 1 : i64
  %acc = for %1, %n, %2, %0 : f64 {
  ^(%i: i64, %acc.1: f64):
    %3 = to_f64 %i : f64
    %r = for %1, %m, %2, %3 : f64 {
    ^(%j: i64, %r.1: f64):
      %4 = index %x, %j : f64
      %r.2 = sub %r.1, %4 : f64
      yield %r.2
    }
    %5 = mul %r, %r : f64
    %acc.2 = add %acc.1, %5 : f64
    yield %acc.2
  }
  %ok = gt %acc, %0 : bool
  assert %ok {message = "acc must be \\"positive\\""}
  %out = if %ok : f64 {
    yield %acc
  } {
    %6 = neg %acc : f64
    yield %6
  }
  %w = while %1 : i64 {
  ^(%k: i64):
    %7 = lt %k, %n : bool
    yield %7
  } {
  ^(%k.1: i64):
    %k.2 = add %k.1, %2 : i64
    yield %k.2
  }
  %big = const inf : f64
  %tiny = const 1e-300 : f64
  %b = build %1, %m, %2 : f64[m] {
  ^(%t: i64):
    %8 = index %x, %t : f64
    yield %8
  }
  %s = reduce %1, %m, %2 {kind = "max"} : f64 {
  ^(%t.1: i64):
    %9 = index %b, %t.1 : f64
    yield %9
  }
  %res = add %out, %s : f64
  return %res
}

func @pair(%a: f64[n, d]) -> (f64[d, n], i64) {
  %t = transpose %a : f64[d, n]
  %n = dim %a {axis = 0} : i64
  %c = shape_cast %t {type = f64[d, n]} : f64[d, n]
  return %c, %n
}
"""


def test_print_parse_print_is_identity():
    module = parse_module(LOOPS)
    text = print_module(module)
    assert text == LOOPS
    assert print_module(parse_module(text)) == text
    verify_module(module)


def test_parsed_ir_runs():
    x = np.array([0.5, -1.0, 2.0])
    got = Interpreter(parse_module(LOOPS)).run("llsq", [x, 4])
    acc = sum((i - x.sum()) ** 2 for i in range(4))
    assert got == pytest.approx(acc + x.max(), rel=1e-15)


def test_unnamed_values_are_numbered_in_order():
    text = "func @f(%x: f64) -> f64 {\n  %7 = exp %x : f64\n  %3 = log %7 : f64\n  return %3\n}\n"
    assert print_module(parse_module(text)) == (
        "func @f(%x: f64) -> f64 {\n  %0 = exp %x : f64\n  %1 = log %0 : f64\n  return %1\n}\n")


# Each op line may end with the source place the op came from (`dpc ir --locations`).
LOCATED = """\
func @total(%x: f64[n]) -> f64 {
  %0 = const 0.0 : f64
  %n = dim %x {axis = 0} : i64 loc("dir/a \\"b\\".dp":2:9)
  %1 = const 0 : i64
  %2 = const 1 : i64
  %s = for %1, %n, %2, %0 : f64 loc("t.dp":3:5) {
  ^(%i: i64, %s.1: f64):
    %3 = index %x, %i : f64 loc("t.dp":4:18)
    %s.2 = add %s.1, %3 : f64 loc("t.dp":4:13)
    yield %s.2 loc("t.dp":4:9)
  }
  return %s loc("t.dp":5:5)
}
"""


def test_locations_print_and_parse_back():
    module = parse_module(LOCATED)
    assert print_module(module, locations=True) == LOCATED
    loop = module.functions["total"].body.ops[4]
    assert (loop.loc, loop.regions[0].ops[1].loc) == (Loc("t.dp", 3, 5), Loc("t.dp", 4, 13))
    assert module.functions["total"].body.ops[1].loc == Loc('dir/a "b".dp', 2, 9)
    assert module.functions["total"].body.ops[0].loc is None
    assert print_module(module) == re.sub(r' loc\("(?:[^"\\]|\\.)*":\d+:\d+\)', "", LOCATED)


def test_the_name_an_array_is_indexed_by_shows_only_where_its_value_has_another():
    # y = x; y[i]: the read is of %x, and an index out of range names y
    module = check_source("def f(x: f64[n], i: i64) -> f64:\n"
                          "    y = x\n    return y[i] + x[i]\n")
    text = print_module(module)
    assert "index %x, %i {array = \"y\"} : f64\n  %1 = index %x, %i : f64\n" in text
    assert print_module(parse_module(text)) == text
    with pytest.raises(IndexError, match="^index 3 is out of bounds for axis 0 of y with size 3$"):
        Interpreter(parse_module(text)).run("f", [np.ones(3), 3])


def test_a_value_printed_with_a_suffix_keeps_its_written_name_when_parsed_back():
    # the second y prints as %y.1; read back, its index out of range still names y
    module = check_source("def f(x: f64[n], i: i64) -> f64:\n"
                          "    y = x * 2.0\n    y = y * 3.0\n    return y[i]\n")
    text = print_module(module)
    assert "%y.1 = mul %y, %1 : f64[n]\n  %2 = index %y.1, %i : f64\n" in text
    again = parse_module(text)
    assert print_module(again) == text
    with pytest.raises(IndexError, match="^index 3 is out of bounds for axis 0 of y with size 3$"):
        Interpreter(again).run("f", [np.ones(3), 3])


def test_sizes_named_inf_and_nan_and_a_negative_nan_parse_back():
    module = check_source("def f(x: f64[inf], y: f64[nan]) -> f64:\n"
                          "    return sum(x) + sum(y)\n")
    text = print_module(module)
    assert text.startswith("func @f(%x: f64[inf], %y: f64[nan]) -> f64 {\n")
    assert print_module(parse_module(text)) == text
    signed = "func @f() -> f64 {\n  %0 = const -nan : f64\n  return %0\n}\n"
    assert print_module(parse_module(signed)) == signed
    got = Interpreter(parse_module(signed)).run("f", [])
    assert np.isnan(got) and np.signbit(got)


PARSE_ERRORS = [
    ("func @f(%x: f64) -> f64 {\n  return %y\n}\n", "2:10: use of undefined value %y"),
    ("func @f(%x: f32) -> f64 {\n  return %x\n}\n", "1:13: unknown type 'f32'"),
    ("func @f(%x: f64) -> f64 {\n  %x = exp %x : f64\n  return %x\n}\n", "2:3: value %x is defined twice"),
    ("func @f(%x: f64) -> f64 {\n  %y = exp %x\n  return %y\n}\n", "3:3: expected ':', found 'return'"),
    ("func @f(%x: f64) -> f64 {\n  return %x\n", "3:1: expected '}' before end of input"),
    ("func @f(%x: f64) -> f64 {\n  %y = exp %x : f64 $\n}\n", "2:21: unexpected character '$'"),
    ("func @f(%x: bool) -> bool {\n  assert %x {message = \"a\\q\"}\n  return %x\n}\n",
     "2:24: bad escape in string \"a\\q\": strings take JSON's escapes (\\\" \\\\ \\n \\t \\uXXXX)"),
    ("func @f(%x: f64) -> f64 {\n  return %x loc(3:2)\n}\n",
     "2:17: expected a file name in quotes, as in loc(\"f.dp\":3:10), found '3'"),
    ("func @f(%x: f64) -> f64 {\n  return %x loc(\"f.dp\":one:2)\n}\n",
     "2:24: expected a line number, found 'one'"),
    ("func @f(%x: f64) -> f64 {\n  return %x loc(\"f.dp\":3:-2)\n}\n",
     "2:26: expected a column number, found '-2'"),
    ("func @f(%x: f64) -> f64 {\n  return %x loc(\"f.dp\":3)\n}\n",
     "2:25: expected ':', found ')'"),
    ("func @f(%x: f64[", "1:17: expected a dimension, found 'end of input'"),  # found ''
    ("func @f() -> f64 {\n  %0 = const 1 {value = 2.0} : f64\n  return %0\n}\n",  # took 1
     "2:16: attribute 'value' given twice: after const and in braces"),
]


@pytest.mark.parametrize("text,message", PARSE_ERRORS)
def test_parse_errors(text, message):
    with pytest.raises(IRParseError) as err:
        parse_module(text)
    assert str(err.value) == message


def test_regions_nested_beyond_python_s_stack_are_a_parse_error():
    # a RecursionError traceback
    depth = 1000
    text = "func @f(%c: bool, %x: f64) -> f64 {\n" + "".join(
        "  " * (k + 1) + f"%r{k} = if %c : f64 {{\n" for k in range(depth))
    with pytest.raises(IRParseError, match=r"^\d+:\d+: regions are nested too deeply to read$"):
        parse_module(text)
