"""Fusion: temporaries read once element by element are not built; meaning unchanged."""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import ir
from compiler import compile_file, compile_source
from passes.bounds import Bounds
from passes import fusion
from passes.fusion import Fusion, dce, move_read_once
from passes.scalarize import Scalarize
from strategies import programs
from reference import EXAMPLES, make_inputs

ROOT = Path(__file__).parents[2] / "examples"


def pipeline(module):
    out = ir.clone_module(module)
    for p in (Scalarize(), Bounds(), Fusion()):
        out = p.apply(out)
    ir.verify_module(out)
    return out


def scalarized(source):
    """The module of `source` as fusion receives it: array ops as loops, bounds proved."""
    return Bounds().apply(Scalarize().apply(compile_source(source, backend="interp").module))


def test_before_and_after():
    source = "def f(x: f64[n], m: f64) -> f64:\n    return sum(exp(x - m))\n"
    before = scalarized(source)
    assert ir.print_function(before.functions["f"]).count("build") == 2
    after = Fusion().apply(before)
    assert ir.print_function(after.functions["f"]) == (
        "func @f(%x: f64[n], %m: f64) -> f64 {\n"
        "  %0 = dim %x {axis = 0} : i64\n"
        "  %1 = const 0 : i64\n"
        "  %2 = const 1 : i64\n"
        "  %3 = reduce %1, %0, %2 {kind = \"sum\"} : f64 {\n"
        "  ^(%i: i64):\n"
        "    %4 = index %x, %i {inbounds = true} : f64\n"
        "    %5 = sub %4, %m : f64\n"
        "    %6 = exp %5 : f64\n"
        "    yield %6\n"
        "  }\n"
        "  return %3\n"
        "}\n")


def test_a_chain_of_builds_each_read_once_moves_into_its_reader_uncopied(monkeypatch):
    # each build of y's 200 statements is read once, by the next: its body moves there.
    # Copied, each body (grown by all the ones fused into it) was copied again: 20000 ops
    # copied here, and a function of 500 such statements took 20 s to compile
    source = ("def f(x: f64[n]) -> f64:\n    y = x\n"
              + "".join(f"    y = y * 0.5 + sin(x * {k}.0)\n" for k in range(200))
              + "    return sum(y)\n")
    before = scalarized(source)
    copies = []
    clone_op = ir.clone.clone_op
    monkeypatch.setattr(ir.clone, "clone_op", lambda *a: copies.append(a) or clone_op(*a))
    after = Fusion().apply(before)
    ir.verify_module(after)
    text = ir.print_function(after.functions["f"])
    assert (text.count("build"), text.count("reduce"), text.count("sin"), copies) == (0, 1, 200, [])
    x = np.array([0.5, -1.0])
    y = x.copy()
    for k in range(200):
        y = y * 0.5 + np.sin(x * k)
    assert ir.Interpreter(after).run("f", [x]) == pytest.approx(y.sum(), rel=1e-14)


# %a is read by %b and by %r, at the same element of each; %b is read only by %r.
# Neither body is cheap enough to repeat (exp), so %a stays built until %b's body has
# moved into %r, beside %r's own read of %a.
SHARED_CHAIN = """\
func @f(%x: f64[n]) -> f64[n] {
  %n = dim %x {axis = 0} : i64
  %0 = const 0 : i64
  %1 = const 1 : i64
  %a = build %0, %n, %1 : f64[n] {
  ^(%i: i64):
    %2 = index %x, %i {inbounds = true} : f64
    %3 = exp %2 : f64
    yield %3
  }
  %b = build %0, %n, %1 : f64[n] {
  ^(%j: i64):
    %4 = index %a, %j {inbounds = true} : f64
    %5 = exp %4 : f64
    yield %5
  }
  %r = build %0, %n, %1 : f64[n] {
  ^(%k: i64):
    %6 = index %a, %k {inbounds = true} : f64
    %7 = index %b, %k {inbounds = true} : f64
    %8 = add %6, %7 : f64
    yield %8
  }
  return %r
}
"""


def test_builds_read_at_one_element_of_one_loop_move_there_last_first():
    # in one sweep from the end: %b's body moves into %r, whose two reads of %a are then
    # of one element in one block, so %a's body moves to the first and both take it
    module = ir.parse_module(SHARED_CHAIN)
    assert move_read_once(module.functions["f"].body)
    dce(module.functions["f"].body)
    assert ir.print_module(module) == (
        "func @f(%x: f64[n]) -> f64[n] {\n"
        "  %n = dim %x {axis = 0} : i64\n"
        "  %0 = const 0 : i64\n"
        "  %1 = const 1 : i64\n"
        "  %r = build %0, %n, %1 : f64[n] {\n"
        "  ^(%k: i64):\n"
        "    %2 = index %x, %k {inbounds = true} : f64\n"
        "    %3 = exp %2 : f64\n"
        "    %4 = exp %3 : f64\n"
        "    %5 = add %3, %4 : f64\n"
        "    yield %5\n"
        "  }\n"
        "  return %r\n"
        "}\n")
    x = np.array([0.5, -1.0])
    assert ir.Interpreter(module).run("f", [x]).tolist() == (np.exp(x) + np.exp(np.exp(x))).tolist()


def test_a_chain_of_builds_each_read_by_the_next_and_by_one_loop_fuses_in_few_rounds(monkeypatch):
    # the gradient of 300 statements y = y * c + sin(x) * k: the adjoint of y, scaled
    # link by link, each link also read by x's adjoint. Moving one link per round (its
    # two reads shared only after the round) took 50 rounds over the whole function.
    source = ("def f(x: f64[n]) -> f64:\n    y = x\n"
              + "".join(f"    y = y * 1.0001 + sin(x) * {k}.0\n" for k in range(300))
              + "    return sum(y)\n")
    gradient_module = compile_source(source, backend="interp").grad("f").owner
    rounds = []
    fuse_round = fusion.fuse_round
    monkeypatch.setattr(fusion, "fuse_round", lambda root: rounds.append(1) or fuse_round(root))
    after = gradient_module._scalarize()
    assert len(rounds) == 2  # the second finds nothing more
    x = np.array([0.5, -1.0])
    adjoint, gradient = np.ones(2), np.zeros(2)
    for k in reversed(range(300)):
        gradient += adjoint * k * np.cos(x)
        adjoint *= 1.0001
    gradient += adjoint
    np.testing.assert_allclose(ir.Interpreter(after).run(gradient_module._root, [x]), gradient,
                               rtol=1e-13)


def test_a_body_that_could_fail_is_not_moved():
    # x[j[i]] reads at a data-dependent index, which can be out of bounds: the
    # temporary stays, so the program raises the same error as before.
    source = ("def f(x: f64[n], j: i64[n]) -> f64:\n"
              "    t = [x[j[i]] for i in range(n)]\n"
              "    return sum(t)\n")
    mod = compile_source(source, backend="interp")
    fused = pipeline(mod.module)
    assert "build" in ir.print_function(fused.functions["f"])
    with pytest.raises(IndexError):
        ir.Interpreter(fused).run("f", [np.ones(2), np.array([0, 5])])


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_examples_unchanged(name):
    filename, fn, _ = EXAMPLES[name]
    module = compile_file(ROOT / filename, backend="interp").module
    args = make_inputs(name, "small", 4)
    np.testing.assert_allclose(ir.Interpreter(pipeline(module)).run(fn, args),
                               ir.Interpreter(module).run(fn, args), rtol=1e-13, atol=1e-300)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_random_programs_unchanged(program):
    module = compile_source(program.source, backend="interp").module
    args = program.arg_list(np.random.default_rng(5))
    assert ir.Interpreter(pipeline(module)).run("f", args) == pytest.approx(
        ir.Interpreter(module).run("f", args), rel=1e-12, abs=1e-300)


def test_a_read_at_a_negative_index_takes_the_body_at_the_last_element():
    # t[i - 1] at i = 0 is t[-1], the last element: the fused body runs at n - 1, not at
    # -1 (where it would read x[-1])
    source = ("def f(x: f64[n]) -> f64:\n"
              "    t = [x[i] * 2.0 for i in range(n)]\n"
              "    return sum(t[i - 1] * (i + 1.0) for i in range(n))\n")
    fused = ir.print_function(pipeline(compile_source(source, backend="interp").module).functions["f"])
    assert "build" not in fused and "select" in fused
    for backend in ("native", "interp"):
        assert compile_source(source, backend=backend).f(np.array([1.0, 2.0, 3.0])) == 22.0


def test_a_read_of_a_filled_array_is_its_value():
    source = ("func @f(%x: f64[n], %v: f64) -> f64[n] {\n"
              "  %0 = dim %x {axis = 0} : i64\n"
              "  %1 = full %v, %0 : f64[n]\n"
              "  %2 = const 0 : i64\n"
              "  %3 = const 1 : i64\n"
              "  %4 = build %2, %0, %3 : f64[n] {\n"
              "  ^(%i: i64):\n"
              "    %5 = index %1, %i {inbounds = true} : f64\n"
              "    %6 = index %x, %i {inbounds = true} : f64\n"
              "    %7 = mul %5, %6 : f64\n"
              "    yield %7\n"
              "  }\n"
              "  return %4\n"
              "}\n")
    assert ir.print_module(Fusion().apply(ir.parse_module(source))) == (
        "func @f(%x: f64[n], %v: f64) -> f64[n] {\n"
        "  %0 = dim %x {axis = 0} : i64\n"
        "  %1 = const 0 : i64\n"
        "  %2 = const 1 : i64\n"
        "  %3 = build %1, %0, %2 : f64[n] {\n"
        "  ^(%i: i64):\n"
        "    %4 = index %x, %i {inbounds = true} : f64\n"
        "    %5 = mul %v, %4 : f64\n"
        "    yield %5\n"
        "  }\n"
        "  return %3\n"
        "}\n")


def test_a_read_of_a_one_hot_array_is_a_select():
    # forward mode's seed e_j (a Jacobian's or Hessian's column j) is never made: each
    # proved read compares its index with j
    source = ("func @f(%x: f64[n], %j: i64) -> f64[n] {\n"
              "  %0 = dim %x {axis = 0} : i64\n"
              "  %1 = const 0.0 : f64\n"
              "  %2 = full %1, %0 : f64[n]\n"
              "  %3 = const 1.0 : f64\n"
              "  %4 = update %2, %3, %j {inbounds = true} : f64[n]\n"
              "  %5 = const 0 : i64\n"
              "  %6 = const 1 : i64\n"
              "  %7 = build %5, %0, %6 : f64[n] {\n"
              "  ^(%i: i64):\n"
              "    %8 = index %4, %i {inbounds = true} : f64\n"
              "    %9 = index %x, %i {inbounds = true} : f64\n"
              "    %10 = mul %8, %9 : f64\n"
              "    yield %10\n"
              "  }\n"
              "  return %7\n"
              "}\n")
    assert ir.print_module(Fusion().apply(ir.parse_module(source))) == (
        "func @f(%x: f64[n], %j: i64) -> f64[n] {\n"
        "  %0 = dim %x {axis = 0} : i64\n"
        "  %1 = const 0.0 : f64\n"
        "  %2 = const 1.0 : f64\n"
        "  %3 = const 0 : i64\n"
        "  %4 = const 1 : i64\n"
        "  %5 = build %3, %0, %4 : f64[n] {\n"
        "  ^(%i: i64):\n"
        "    %6 = eq %i, %j : bool\n"
        "    %7 = select %6, %2, %1 : f64\n"
        "    %8 = index %x, %i {inbounds = true} : f64\n"
        "    %9 = mul %7, %8 : f64\n"
        "    yield %9\n"
        "  }\n"
        "  return %5\n"
        "}\n")
    # an unproved store may raise: it stays, and so does the array it makes
    unproved = source.replace("%j {inbounds = true}", "%j")
    assert "update" in ir.print_module(Fusion().apply(ir.parse_module(unproved)))


def test_builds_of_rows_fuse_into_one_loop_nest():
    """tanh(a + b) on a matrix: the sum's rows are not built; its `dim`s are the sizes."""
    source = "def f(a: f64[n, m], b: f64[m]) -> f64[n, m]:\n    return tanh(a + b)\n"
    before = scalarized(source)
    text = ir.print_function(before.functions["f"])
    assert "%15 = index %4, %i.2, %i.3 {inbounds = true} : f64" in text
    assert text.count("build") == 4
    after = Fusion().apply(before)
    assert ir.print_function(after.functions["f"]) == (
        "func @f(%a: f64[n, m], %b: f64[m]) -> f64[n, m] {\n"
        "  %0 = dim %a {axis = 0} : i64\n"
        "  %1 = dim %a {axis = 1} : i64\n"
        "  %2 = const 0 : i64\n"
        "  %3 = const 1 : i64\n"
        "  %4 = build %2, %0, %3 : f64[n, m] {\n"
        "  ^(%i: i64):\n"
        "    %5 = build %2, %1, %3 : f64[m] {\n"
        "    ^(%i.1: i64):\n"
        "      %6 = index %a, %i, %i.1 {inbounds = true} : f64\n"
        "      %7 = index %b, %i.1 {inbounds = true} : f64\n"
        "      %8 = add %6, %7 : f64\n"
        "      %9 = tanh %8 : f64\n"
        "      yield %9\n"
        "    }\n"
        "    yield %5\n"
        "  }\n"
        "  return %4\n"
        "}\n")


def test_a_build_of_rows_that_computes_per_row_is_not_fused():
    # the row's own work (a sum per row) would run once per element if it moved
    source = ("def f(a: f64[n, m]) -> f64[n, m]:\n"
              "    t = [[a[i, j] * sum(a[i]) for j in range(m)] for i in range(n)]\n"
              "    return exp(t)\n")
    module = compile_source(source, backend="interp").module
    fused = pipeline(module)
    assert ir.print_function(fused.functions["f"]).count("build") == 4
    a = np.arange(6.0).reshape(2, 3) / 10
    np.testing.assert_allclose(ir.Interpreter(fused).run("f", [a]),
                               np.exp(a * a.sum(axis=1, keepdims=True)), rtol=1e-14)


TWO_READERS = """\
func @f(%x: f64[n]) -> f64 {
  %n = dim %x {axis = 0} : i64
  %0 = const 0 : i64
  %1 = const 1 : i64
  %2 = const 0.0 : f64
  %3 = const 6.0 : f64
  %a = build %0, %n, %1 : f64[n] {
  ^(%i: i64):
    %4 = index %x, %i {inbounds = true} : f64
    %5 = mul %4, %4 : f64
    yield %5
  }
  %zero = build %0, %n, %1 : bool[n] {
  ^(%i.1: i64):
    %6 = index %a, %i.1 {inbounds = true} : f64
    %7 = eq %6, %2 : bool
    yield %7
  }
  %part = build %0, %n, %1 : f64[n] {
  ^(%i.2: i64):
    %8 = index %a, %i.2 {inbounds = true} : f64
    %9 = div %8, %3 : f64
    yield %9
  }
  %s = reduce %0, %n, %1 {kind = "sum"} : f64 {
  ^(%i.3: i64):
    %10 = index %zero, %i.3 {inbounds = true} : bool
    %11 = index %part, %i.3 {inbounds = true} : f64
    %12 = select %10, %2, %11 : f64
    yield %12
  }
  return %s
}
"""


def test_two_fused_bodies_reading_one_element_read_it_once():
    # %zero and %part each read %a once; fused into the sum, they read %a[i] twice,
    # and only once those reads are one does %a have the single reader that fuses it.
    after = Fusion().apply(ir.parse_module(TWO_READERS))
    assert ir.print_module(after) == (
        "func @f(%x: f64[n]) -> f64 {\n"
        "  %n = dim %x {axis = 0} : i64\n"
        "  %0 = const 0 : i64\n"
        "  %1 = const 1 : i64\n"
        "  %2 = const 0.0 : f64\n"
        "  %3 = const 6.0 : f64\n"
        "  %s = reduce %0, %n, %1 {kind = \"sum\"} : f64 {\n"
        "  ^(%i: i64):\n"
        "    %4 = index %x, %i {inbounds = true} : f64\n"
        "    %5 = mul %4, %4 : f64\n"
        "    %6 = eq %5, %2 : bool\n"
        "    %7 = div %5, %3 : f64\n"
        "    %8 = select %6, %2, %7 : f64\n"
        "    yield %8\n"
        "  }\n"
        "  return %s\n"
        "}\n")
    x = np.array([0.0, 1.5, -2.0])
    before = ir.Interpreter(ir.parse_module(TWO_READERS)).run("f", [x])
    assert ir.Interpreter(after).run("f", [x]) == before == 2.25 / 6.0 + 4.0 / 6.0


def test_a_cheap_body_read_twice_is_repeated_at_each_read():
    # t is read at i and at i - 1: one multiply more per element, and t is never
    # written to memory and read back
    source = ("def f(x: f64[n]) -> f64[n]:\n"
              "    t = [2.0 * x[i] for i in range(n)]\n"
              "    return [t[i] + t[i - 1] for i in range(n)]\n")
    before = scalarized(source)
    after = Fusion().apply(ir.clone_module(before))
    assert ir.print_function(after.functions["f"]) == (
        "func @f(%x: f64[n]) -> f64[n] {\n"
        "  %n = dim %x {axis = 0} : i64\n"
        "  %0 = const 0 : i64\n"
        "  %1 = const 1 : i64\n"
        "  %2 = build %0, %n, %1 : f64[n] {\n"
        "  ^(%i: i64):\n"
        "    %3 = const 2.0 : f64\n"
        "    %4 = index %x, %i {inbounds = true} : f64\n"
        "    %5 = mul %3, %4 : f64\n"
        "    %6 = sub %i, %1 : i64\n"
        "    %7 = lt %6, %0 : bool\n"
        "    %8 = add %6, %n : i64\n"
        "    %9 = select %7, %8, %6 : i64\n"
        "    %10 = index %x, %9 {inbounds = true} : f64\n"
        "    %11 = mul %3, %10 : f64\n"
        "    %12 = add %5, %11 : f64\n"
        "    yield %12\n"
        "  }\n"
        "  return %2\n"
        "}\n")
    x = np.array([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(ir.Interpreter(after).run("f", [x]), [8.0, 6.0, 10.0])
    np.testing.assert_array_equal(ir.Interpreter(before).run("f", [x]), [8.0, 6.0, 10.0])


@pytest.mark.parametrize("source", [
    # an exp costs more than writing and reading back one number
    "def f(x: f64[n]) -> f64[n]:\n"
    "    t = [exp(x[i]) for i in range(n)]\n"
    "    return [t[i] + t[i - 1] for i in range(n)]\n",
    # read two loops deeper, the body would run n times per element
    "def f(x: f64[n]) -> f64:\n"
    "    t = [2.0 * x[i] for i in range(n)]\n"
    "    return sum(sum(t[i] * t[j] for j in range(n)) for i in range(n))\n",
])
def test_a_body_read_twice_stays_built_when_repeating_it_costs_more(source):
    module = compile_source(source, backend="interp").module
    fused = pipeline(module)
    assert "%t = build" in ir.print_function(fused.functions["f"])
    x = np.array([0.5, -1.0, 2.0])
    np.testing.assert_allclose(ir.Interpreter(fused).run("f", [x]),
                               ir.Interpreter(module).run("f", [x]), rtol=1e-15)


READ_PER_POINT = """\
func @f(%a: f64[k, d], %x: f64[n, k]) -> f64[n, k] {
  %k = dim %a {axis = 0} : i64
  %d = dim %a {axis = 1} : i64
  %n = dim %x {axis = 0} : i64
  %0 = const 0 : i64
  %1 = const 1 : i64
  %s = build %0, %k, %1 : f64[k] {
  ^(%j: i64):
    %2 = reduce %0, %d, %1 {kind = "sum"} : f64 {
    ^(%r: i64):
      %3 = index %a, %j, %r {inbounds = true} : f64
      yield %3
    }
    yield %2
  }
  %y = build %0, %n, %1 : f64[n, k] {
  ^(%i: i64):
    %4 = build %0, %k, %1 : f64[k] {
    ^(%j.1: i64):
      %5 = index %x, %i, %j.1 {inbounds = true} : f64
      %6 = index %s, %j.1 {inbounds = true} : f64
      %7 = add %5, %6 : f64
      yield %7
    }
    yield %4
  }
  return %y
}
"""


def test_a_body_read_inside_more_loops_than_its_own_stays_built_unless_cheap():
    # %s[j] is read for every point i and component j: moved there, the sum over d of
    # each component would run once per point (n times) instead of once
    after = Fusion().apply(ir.parse_module(READ_PER_POINT))
    assert ir.print_module(after) == READ_PER_POINT
    a, x = np.arange(6.0).reshape(2, 3), np.array([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(ir.Interpreter(after).run("f", [a, x]),
                                  x + a.sum(axis=1))
    # a cheap body (one read and a multiply) is worth repeating: it moves into the read
    cheap = READ_PER_POINT.replace(
        '    %2 = reduce %0, %d, %1 {kind = "sum"} : f64 {\n'
        '    ^(%r: i64):\n'
        '      %3 = index %a, %j, %r {inbounds = true} : f64\n'
        '      yield %3\n'
        '    }\n',
        '    %3 = index %a, %j, %0 {inbounds = true} : f64\n'
        '    %2 = mul %3, %3 : f64\n')
    assert ir.print_module(Fusion().apply(ir.parse_module(cheap))) == (
        "func @f(%a: f64[k, d], %x: f64[n, k]) -> f64[n, k] {\n"
        "  %k = dim %a {axis = 0} : i64\n"
        "  %n = dim %x {axis = 0} : i64\n"
        "  %0 = const 0 : i64\n"
        "  %1 = const 1 : i64\n"
        "  %y = build %0, %n, %1 : f64[n, k] {\n"
        "  ^(%i: i64):\n"
        "    %2 = build %0, %k, %1 : f64[k] {\n"
        "    ^(%j: i64):\n"
        "      %3 = index %x, %i, %j {inbounds = true} : f64\n"
        "      %4 = index %a, %j, %0 {inbounds = true} : f64\n"
        "      %5 = mul %4, %4 : f64\n"
        "      %6 = add %3, %5 : f64\n"
        "      yield %6\n"
        "    }\n"
        "    yield %2\n"
        "  }\n"
        "  return %y\n"
        "}\n")


GUARDED_READ = (
    "func @f(%x: f64[n]) -> f64[n] {\n"
    "  %n = dim %x {axis = 0} : i64\n"
    "  %0 = const 0 : i64\n"
    "  %1 = const 1 : i64\n"
    "  %2 = const 2.0 : f64\n"
    "  %b = build %0, %n, %1 : f64[n] {\n"
    "  ^(%i: i64):\n"
    "    %3 = index %x, %i {inbounds = true} : f64\n"
    "    %4 = mul %3, %2 : f64\n"
    "    yield %4\n"
    "  }\n"
    "  %c = build %0, %n, %1 : f64[n] {\n"
    "  ^(%j: i64):\n"
    "    %5 = add %j, %1 : i64\n"
    "    %6 = lt %5, %n : bool\n"
    "    %7 = if %6 : f64 {\n"
    "      %8 = index %b, %5 {inbounds = \"guarded\"} : f64\n"
    "      yield %8\n"
    "    } {\n"
    "      yield %2\n"
    "    }\n"
    "    yield %7\n"
    "  }\n"
    "  return %c\n"
    "}\n"
)


def test_a_read_in_range_only_under_its_test_takes_the_body_there():
    # b[j + 1] under `if j + 1 < n`: the body's read of x at j + 1 stays under that test,
    # so its proof becomes `guarded` (true would let speculation hoist it out of the if)
    after = Fusion().apply(ir.parse_module(GUARDED_READ))
    ir.verify_module(after)
    assert ir.print_module(after) == (
        "func @f(%x: f64[n]) -> f64[n] {\n"
        "  %n = dim %x {axis = 0} : i64\n"
        "  %0 = const 0 : i64\n"
        "  %1 = const 1 : i64\n"
        "  %2 = const 2.0 : f64\n"
        "  %c = build %0, %n, %1 : f64[n] {\n"
        "  ^(%j: i64):\n"
        "    %3 = add %j, %1 : i64\n"
        "    %4 = lt %3, %n : bool\n"
        "    %5 = if %4 : f64 {\n"
        "      %6 = index %x, %3 {inbounds = \"guarded\"} : f64\n"
        "      %7 = mul %6, %2 : f64\n"
        "      yield %7\n"
        "    } {\n"
        "      yield %2\n"
        "    }\n"
        "    yield %5\n"
        "  }\n"
        "  return %c\n"
        "}\n"
    )


# A row added into a matrix from a build used there only: a loop adds each element as
# the build's body computes it, and the row is never built.
ROW_ADDED = (
    "func @f(%g: f64[n, d], %x: f64[n, d], %c: f64) -> f64[n, d] {\n"
    "  %n = dim %x {axis = 0} : i64\n"
    "  %d = dim %x {axis = 1} : i64\n"
    "  %0 = const 0 : i64\n"
    "  %1 = const 1 : i64\n"
    "  %2 = for %0, %n, %1, %g : f64[n, d] {\n"
    "  ^(%k: i64, %acc: f64[n, d]):\n"
    "    %row = index %x, %k {inbounds = true} : f64[d]\n"
    "    %3 = build %0, %d, %1 : f64[d] {\n"
    "    ^(%i: i64):\n"
    "      %4 = index %row, %i {inbounds = true} : f64\n"
    "      %5 = mul %4, %c : f64\n"
    "      yield %5\n"
    "    }\n"
    "    %6 = add_at %acc, %3, %k {inbounds = true} : f64[n, d]\n"
    "    yield %6\n"
    "  }\n"
    "  return %2\n"
    "}\n"
)


def test_a_row_stored_from_a_build_is_stored_element_by_element():
    after = Fusion().apply(ir.parse_module(ROW_ADDED))
    ir.verify_module(after)
    assert ir.print_module(after) == (
    "func @f(%g: f64[n, d], %x: f64[n, d], %c: f64) -> f64[n, d] {\n"
    "  %n = dim %x {axis = 0} : i64\n"
    "  %d = dim %x {axis = 1} : i64\n"
    "  %0 = const 0 : i64\n"
    "  %1 = const 1 : i64\n"
    "  %2 = for %0, %n, %1, %g : f64[n, d] {\n"
    "  ^(%k: i64, %acc: f64[n, d]):\n"
    "    %row = index %x, %k {inbounds = true} : f64[d]\n"
    "    %3 = for %0, %d, %1, %acc : f64[n, d] {\n"
    "    ^(%i: i64, %acc.1: f64[n, d]):\n"
    "      %4 = index %row, %i {inbounds = true} : f64\n"
    "      %5 = mul %4, %c : f64\n"
    "      %6 = add_at %acc.1, %5, %k, %i {inbounds = true} : f64[n, d]\n"
    "      yield %6\n"
    "    }\n"
    "    yield %3\n"
    "  }\n"
    "  return %2\n"
    "}\n"
    )


@pytest.mark.parametrize("change", [
    # the add's row index is not proved in range: for an empty row, a loop of no steps
    # would miss the error
    ("%6 = add_at %acc, %3, %k {inbounds = true}", "%6 = add_at %acc, %3, %k"),
    # the build reads the array added into (the loop would hold its new value while the
    # body reads the old one, a copy)
    ("%row = index %x, %k", "%row = index %acc, %k"),
    # the build is used by an op that needs it built
    ("    yield %6\n  }\n  return %2",
     "    %7 = reduce_sum %3 : f64\n    %8 = update %6, %7, %k, %0 {inbounds = true} :"
     " f64[n, d]\n    yield %8\n  }\n  return %2"),
])
def test_rows_stored_from_builds_that_stay_built(change):
    source = ROW_ADDED.replace(*change)
    assert source != ROW_ADDED
    after = Fusion().apply(ir.parse_module(source))
    ir.verify_module(after)
    assert ir.print_module(after) == ir.print_module(ir.parse_module(source))


@pytest.mark.parametrize("backend", ["interp", "native"])
def test_pairwise_distances_gradient_builds_no_row(backend):
    # per pair of rows, the reverse sweep adds four rows into the cotangent of x
    mod = compile_source("def f(x: f64[n, d]) -> f64:\n"
                         "    return sum(sum(sqrt(sum((x[i] - x[j]) * (x[i] - x[j])) + 1e-9)"
                         " for j in range(n)) for i in range(n))\n", backend=backend)
    grad = mod.grad("f")
    assert " = build " not in mod.ir(grad, stage="scalar")
    x = np.array([[0.0, 1.0, 2.0], [1.5, -1.0, 0.5], [3.0, 0.25, -2.0], [0.5, 0.5, 0.5]])
    diff = x[:, None, :] - x[None, :, :]
    dist = np.sqrt(np.sum(diff * diff, axis=-1) + 1e-9)
    expected = 2.0 * np.sum(diff / dist[:, :, None], axis=1)
    assert np.allclose(grad(x), expected, rtol=1e-13, atol=1e-13)


# Reverse mode spreads w's cotangent over a's rows as a matrix whose every row is w (the
# gradient of sum(sum(a * a, axis=0) * w)): a read of one of its elements reads w.
REPEATED_ROW = (
    "func @f(%a: f64[m, n], %w: f64[n]) -> f64[m, n] {\n"
    "  %m = dim %a {axis = 0} : i64\n"
    "  %n = dim %a {axis = 1} : i64\n"
    "  %0 = const 0 : i64\n"
    "  %1 = const 1 : i64\n"
    "  %b = build %0, %m, %1 : f64[m, n] {\n"
    "  ^(%i: i64):\n"
    "    yield %w\n"
    "  }\n"
    "  %c = build %0, %m, %1 : f64[m, n] {\n"
    "  ^(%j: i64):\n"
    "    %r = build %0, %n, %1 : f64[n] {\n"
    "    ^(%l: i64):\n"
    "      %x = index %b, %j, %l {inbounds = true} : f64\n"
    "      %y = index %a, %j, %l {inbounds = true} : f64\n"
    "      %z = mul %x, %y : f64\n"
    "      yield %z\n"
    "    }\n"
    "    yield %r\n"
    "  }\n"
    "  return %c\n"
    "}\n"
)


def test_a_read_of_a_matrix_of_one_repeated_row_reads_the_row():
    after = Fusion().apply(ir.parse_module(REPEATED_ROW))
    ir.verify_module(after)
    assert ir.print_module(after) == (
    "func @f(%a: f64[m, n], %w: f64[n]) -> f64[m, n] {\n"
    "  %m = dim %a {axis = 0} : i64\n"
    "  %n = dim %a {axis = 1} : i64\n"
    "  %0 = const 0 : i64\n"
    "  %1 = const 1 : i64\n"
    "  %c = build %0, %m, %1 : f64[m, n] {\n"
    "  ^(%j: i64):\n"
    "    %r = build %0, %n, %1 : f64[n] {\n"
    "    ^(%l: i64):\n"
    "      %x = index %w, %l {inbounds = true} : f64\n"
    "      %y = index %a, %j, %l {inbounds = true} : f64\n"
    "      %z = mul %x, %y : f64\n"
    "      yield %z\n"
    "    }\n"
    "    yield %r\n"
    "  }\n"
    "  return %c\n"
    "}\n"
    )
    # a read not proved in range stays, to raise its error
    kept = REPEATED_ROW.replace("%x = index %b, %j, %l {inbounds = true}", "%x = index %b, %j, %l")
    assert "index %b, %j, %l" in ir.print_module(Fusion().apply(ir.parse_module(kept)))


# A reverse sweep of `y[k] = ...`: it reads y's cotangent at k and stores 0.0 there
UNWRITTEN = (
    "func @f(%x: f64[n], %g: f64[n]) -> f64[n] {\n"
    "  %n = dim %x {axis = 0} : i64\n"
    "  %0 = const 0.0 : f64\n"
    "  %1 = const 0 : i64\n"
    "  %2 = const 1 : i64\n"
    "  %z = full %0, %n : f64[n]\n"
    "  %3, %xb = for %1, %n, %2, %g, %z : f64[n], f64[n] {\n"
    "  ^(%k: i64, %gb: f64[n], %acc: f64[n]):\n"
    "    %4 = index %gb, %k {inbounds = true} : f64\n"
    "    %gb.1 = update %gb, %0, %k {inbounds = true} : f64[n]\n"
    "    %5 = index %x, %k {inbounds = true} : f64\n"
    "    %6 = mul %4, %5 : f64\n"
    "    %acc.1 = add_at %acc, %6, %k {inbounds = true} : f64[n]\n"
    "    yield %gb.1, %acc.1\n"
    "  }\n"
    "  return %xb\n"
    "}\n"
)


def fused(source: str) -> str:
    module = Fusion().apply(ir.parse_module(source))
    ir.verify_module(module)
    return ir.print_module(module)


def test_a_read_of_what_no_iteration_has_written_reads_the_loops_start():
    # element k of %gb is %g's until iteration k: the read is of %g, and the zeros stored
    # into an array nobody uses go with the slot
    assert fused(UNWRITTEN) == (
        "func @f(%x: f64[n], %g: f64[n]) -> f64[n] {\n"
        "  %n = dim %x {axis = 0} : i64\n"
        "  %0 = const 0.0 : f64\n"
        "  %1 = const 0 : i64\n"
        "  %2 = const 1 : i64\n"
        "  %z = full %0, %n : f64[n]\n"
        "  %xb = for %1, %n, %2, %z : f64[n] {\n"
        "  ^(%k: i64, %acc: f64[n]):\n"
        "    %3 = index %g, %k {inbounds = true} : f64\n"
        "    %4 = index %x, %k {inbounds = true} : f64\n"
        "    %5 = mul %3, %4 : f64\n"
        "    %acc.1 = add_at %acc, %5, %k {inbounds = true} : f64[n]\n"
        "    yield %acc.1\n"
        "  }\n"
        "  return %xb\n"
        "}\n")


@pytest.mark.parametrize("old, new", [
    # the final array used: reading %g would keep it alive beside the carried copy
    ("  return %xb\n", "  %7 = add %xb, %3 : f64[n]\n  return %7\n"),
    # a read at another element, which iteration k - 1 wrote
    ("    %4 = index %gb, %k {inbounds = true} : f64\n",
     "    %k.1 = sub %k, %2 : i64\n    %4 = index %gb, %k.1 {inbounds = true} : f64\n"),
    # an element not proved in range: -1 and n - 1 are one element
    ("    %4 = index %gb, %k {inbounds = true} : f64\n", "    %4 = index %gb, %k : f64\n"),
    # every iteration at element 0
    ("%gb.1 = update %gb, %0, %k ", "%gb.1 = update %gb, %0, %1 "),
    # the array read in a loop inside
    ("    %5 = index %x, %k {inbounds = true} : f64\n",
     "    %5 = reduce %1, %n, %2 {kind = \"sum\"} : f64 {\n    ^(%j: i64):\n"
     "      %5.1 = index %gb, %j {inbounds = true} : f64\n      yield %5.1\n    }\n"),
    # a read of what the iteration wrote: the array stays, and %g is not read in the
    # loop (native code would copy it before writing into it)
    ("    %5 = index %x, %k {inbounds = true} : f64\n",
     "    %5 = index %gb.1, %k {inbounds = true} : f64\n"),
])
def test_reads_that_stay_reads_of_the_carried_array(old, new):
    source = UNWRITTEN.replace(old, new)
    assert source != UNWRITTEN
    assert " = index %gb, " in fused(source)


STORES = """
def f(x: f64[n]) -> f64:
    y = zeros(n)
    for i in range(n):
        y[i] = sqrt(abs(x[i])) * x[i]
    return sum(y * y)

def f_grad(x: f64[n]) -> f64[n]:
    return grad(f)(x)
"""


@pytest.mark.parametrize("n", [0, 1, 2, 17])
def test_the_sweep_of_stores_into_an_array_carries_no_cotangent_of_it(n):
    mod = compile_source(STORES)
    scalar = mod.ir("f_grad", stage="scalar")
    sweep = scalar[scalar.index("%x_bar = for"):]
    assert " update " not in sweep and sweep.startswith("%x_bar = for %1, %n, %2, %")
    x = np.random.default_rng(n).normal(size=n)
    x[::3] = 0.0
    got, want = mod.f_grad(x), mod.interpreter.run("f_grad", [x])
    assert got.tobytes() == np.asarray(want, dtype=np.float64).tobytes()


# The same through a nest: the sweep of `t[j, i] = ...` written by rows of a
UNWRITTEN_NEST = (
    "func @f(%a: f64[m, n], %t: f64[n, m]) -> f64[m, n] {\n"
    "  %m = dim %a {axis = 0} : i64\n"
    "  %n = dim %a {axis = 1} : i64\n"
    "  %0 = const 0.0 : f64\n"
    "  %1 = const 0 : i64\n"
    "  %2 = const 1 : i64\n"
    "  %z = full %0, %m, %n : f64[m, n]\n"
    "  %3, %ab = for %1, %m, %2, %t, %z : f64[n, m], f64[m, n] {\n"
    "  ^(%i: i64, %tb: f64[n, m], %acc: f64[m, n]):\n"
    "    %4, %5 = for %1, %n, %2, %tb, %acc : f64[n, m], f64[m, n] {\n"
    "    ^(%j: i64, %tb.1: f64[n, m], %acc.1: f64[m, n]):\n"
    "      %6 = index %tb.1, %j, %i {inbounds = true} : f64\n"
    "      %tb.2 = update %tb.1, %0, %j, %i {inbounds = true} : f64[n, m]\n"
    "      %7 = index %a, %i, %j {inbounds = true} : f64\n"
    "      %8 = mul %6, %7 : f64\n"
    "      %acc.2 = add_at %acc.1, %8, %i, %j {inbounds = true} : f64[m, n]\n"
    "      yield %tb.2, %acc.2\n"
    "    }\n"
    "    yield %4, %5\n"
    "  }\n"
    "  return %ab\n"
    "}\n"
)


def test_a_nest_reads_what_no_pair_of_iterations_has_written_from_its_start():
    # element (j, i) is touched by iteration (i, j) alone: the read is of %t, and the
    # outer loop passes on the array as it found it, so both loops' slots go
    assert fused(UNWRITTEN_NEST) == (
        "func @f(%a: f64[m, n], %t: f64[n, m]) -> f64[m, n] {\n"
        "  %m = dim %a {axis = 0} : i64\n"
        "  %n = dim %a {axis = 1} : i64\n"
        "  %0 = const 0.0 : f64\n"
        "  %1 = const 0 : i64\n"
        "  %2 = const 1 : i64\n"
        "  %z = full %0, %m, %n : f64[m, n]\n"
        "  %ab = for %1, %m, %2, %z : f64[m, n] {\n"
        "  ^(%i: i64, %acc: f64[m, n]):\n"
        "    %3 = for %1, %n, %2, %acc : f64[m, n] {\n"
        "    ^(%j: i64, %acc.1: f64[m, n]):\n"
        "      %4 = index %t, %j, %i {inbounds = true} : f64\n"
        "      %5 = index %a, %i, %j {inbounds = true} : f64\n"
        "      %6 = mul %4, %5 : f64\n"
        "      %acc.2 = add_at %acc.1, %6, %i, %j {inbounds = true} : f64[m, n]\n"
        "      yield %acc.2\n"
        "    }\n"
        "    yield %3\n"
        "  }\n"
        "  return %ab\n"
        "}\n")


@pytest.mark.parametrize("old, new", [
    # (j, j): every i touches the same elements
    ("%6 = index %tb.1, %j, %i ", "%6 = index %tb.1, %j, %j "),
    # the outer loop's array used before the inner loop
    ("    %4, %5 = for %1, %n, %2, %tb, %acc ",
     "    %r = index %tb, %1, %1 {inbounds = true} : f64\n    %4, %5 = for %1, %n, %2, %tb, %acc "),
    # the final array used
    ("  return %ab\n", "  %9 = add %3, %t : f64[n, m]\n  return %ab\n"),
    # a read of what the iteration wrote: the array must stay
    ("      %7 = index %a, %i, %j {inbounds = true} : f64\n",
     "      %7 = index %tb.2, %j, %i {inbounds = true} : f64\n"),
])
def test_nest_reads_that_stay(old, new):
    source = UNWRITTEN_NEST.replace(old, new)
    assert source != UNWRITTEN_NEST
    assert " = index %tb" in fused(source)


def test_transposed_stores_have_a_sweep_that_reads_the_cotangent_where_it_is_made():
    # t[j, i] = a[i, j] ** 2 by rows of a: t's cotangent is the sums' seed, read by the
    # sweep at (j, i) as it is computed, with no matrix of it; values as the interpreter's
    source = ("def f(a: f64[m, n]) -> f64:\n    t = zeros(n, m)\n    for i in range(m):\n"
              "        for j in range(n):\n            t[j, i] = a[i, j] * a[i, j]\n"
              "    return sum(sum(t, axis=1) * sum(t, axis=1))\n"
              "def g(a: f64[m, n]) -> f64[m, n]:\n    return grad(f)(a)\n")
    mod = compile_source(source)
    scalar = mod.ir("g", stage="scalar")
    sweep = scalar[scalar.index("%a_bar = for"):]
    assert " update " not in sweep and sweep.count(" = for ") == 2
    for shape in ((0, 2), (1, 1), (3, 5), (16, 9)):
        a = np.random.default_rng(shape[1]).normal(size=shape)
        got, want = mod.g(a), mod.interpreter.run("g", [a])
        assert got.tobytes() == np.asarray(want, dtype=np.float64).tobytes()
