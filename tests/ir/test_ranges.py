"""ir/ranges.py: what values can be inside loops that run."""

import pytest

from ir import parse_function
from ir.ranges import Ranges

# A step size and things made of it, inside the loop over its steps and outside.
STEPS = """\
func @f(%x: f64, %s: i64, %m: i64) -> f64 {
  %zero = const 0 : i64
  %one = const 1 : i64
  %two = const 2.0 : f64
  %sf = to_f64 %s : f64
  %h = div %two, %sf : f64
  %twice = mul %h, %two : f64
  %minus = neg %twice : f64
  %back = sub %two, %h : f64
  %hx = mul %h, %x : f64
  %count = maximum %s, %zero : i64
  %trips = trip_count %one, %m, %one : i64
  %mf = to_f64 %m : f64
  %g = div %two, %mf : f64
  %huge = const 1e200 : f64
  %big = mul %huge, %huge : f64
  %inf = const inf : f64
  %out = for %zero, %count, %one, %x : f64 {
  ^(%k: i64, %y: f64):
    yield %y
  }
  return %out
}
"""


@pytest.fixture
def values():
    fn = parse_function(STEPS)
    found = {p.name_hint: p for p in fn.params}
    for op in fn.body.ops:
        for r in op.results:
            found[r.name_hint] = r
    return found


def test_a_loop_that_runs_bounds_its_count_and_what_the_count_is_made_of(values):
    v = values
    running = Ranges([(v["zero"], v["count"], v["one"])])
    assert running.least_int(v["count"]) == 1
    assert running.least_int(v["s"]) == 1  # maximum(s, 0) >= 1
    assert running.least_int(v["m"]) is None
    assert Ranges([]).least_int(v["s"]) is None
    assert Ranges([(v["zero"], v["trips"], v["one"])]).least_int(v["m"]) == 2  # range(1, m)
    assert Ranges([(v["one"], v["m"], v["zero"])]).least_int(v["m"]) is None  # step 0


def test_a_quotient_by_a_count_that_is_not_zero_is_bounded(values):
    v = values
    running = Ranges([(v["zero"], v["count"], v["one"])])
    assert [running.magnitude(v[name]) for name in ("h", "twice", "minus", "back")] == \
        [2.0, 4.0, 4.0, 4.0]
    assert running.bounded_away_from_zero(v["h"]) is False  # 2 / s nears 0 for large s
    assert running.bounded_away_from_zero(v["two"]) is True
    # Unknown: 2 / s where s may be 0; an argument; m, which the loop says nothing of; a
    # product that overflows; an infinite constant.
    assert Ranges([]).magnitude(v["h"]) is None
    assert [running.magnitude(v[name]) for name in ("hx", "g", "big", "inf")] == [None] * 4
    assert Ranges([(v["zero"], v["m"], v["one"])]).magnitude(v["g"]) == 2.0
