"""Scalarize: array-level ops become build/reduce loops, with unchanged meaning."""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import ir
from compiler import compile_file, compile_source
from passes.scalarize import Scalarize
from reference import EXAMPLES, make_inputs
from strategies import programs

ROOT = Path(__file__).parents[2] / "examples"
ARRAY_OPS = {"add", "sub", "mul", "div", "exp", "log", "tanh", "sigmoid", "select",
             "reduce_sum", "reduce_max", "reduce_min", "reduce_prod", "dot",
             "transpose", "outer", "to_f64", "neg", "pow"}  # matmul stays: a native kernel


def scalarized(module):
    out = Scalarize().apply(ir.clone_module(module))
    ir.verify_module(out)
    return out


def test_before_and_after():
    mod = compile_source("def f(x: f64[n], y: f64[n]) -> f64[n]:\n    return x + y\n")
    assert ir.print_module(scalarized(mod.module)) == (
        "func @f(%x: f64[n], %y: f64[n]) -> f64[n] {\n"
        "  %0 = dim %x {axis = 0} : i64\n"
        "  %1 = const 0 : i64\n"
        "  %2 = const 1 : i64\n"
        "  %3 = build %1, %0, %2 : f64[n] {\n"
        "  ^(%i: i64):\n"
        "    %4 = index %x, %i {inbounds = true} : f64\n"
        "    %5 = index %y, %i {inbounds = true} : f64\n"
        "    %6 = add %4, %5 : f64\n"
        "    yield %6\n"
        "  }\n"
        "  return %3\n"
        "}\n")


def test_no_array_level_ops_remain():
    for path in ROOT.glob("*.dp"):
        module = scalarized(compile_file(path, backend="interp").module)
        for fn in module.functions.values():
            for op in ir.walk_ops(fn.body):
                if op.name in ARRAY_OPS:
                    assert op.results[0].type.rank == 0, (path.name, op.name)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_examples_unchanged(name):
    filename, fn, _ = EXAMPLES[name]
    module = compile_file(ROOT / filename, backend="interp").module
    args = make_inputs(name, "small", 2)
    before = ir.Interpreter(module).run(fn, args)
    after = ir.Interpreter(scalarized(module)).run(fn, args)
    np.testing.assert_allclose(after, before, rtol=1e-13, atol=1e-14)


def test_broadcasting_and_axes():
    source = ("def f(a: f64[n, d], v: f64[d], w: f64[n, 1]) -> (f64[n, d], f64[d], f64[n], f64[d, n]):\n"
              "    return a - v * w, max(a, axis=0), sum(a * a, axis=1), transpose(a) + outer(v, w[0] + 1.0)[0, 0]\n")
    module = compile_source(source, backend="interp").module
    rng = np.random.default_rng(0)
    args = [rng.standard_normal((3, 2)), rng.standard_normal(2), rng.standard_normal((3, 1))]
    before = ir.Interpreter(module).run("f", args)
    after = ir.Interpreter(scalarized(module)).run("f", args)
    for a, b in zip(after, before):
        np.testing.assert_allclose(a, b, rtol=1e-14)


def test_max_along_an_empty_axis_fails_when_the_result_is_empty_too():
    # NumPy raises for max(zeros((0, 0)), axis=0): the loop over the result's elements
    # never reaches the reduction that checks, so scalarize adds the check.
    source = ("def f(a: f64[n, m]) -> f64[m]:\n    return max(a, axis=0)\n"
              "def g(a: f64[n, m]) -> f64[n]:\n    return min(a, axis=1)\n")
    for mod in (compile_source(source), compile_source(source, backend="interp")):
        for fn, line in (("f", 2), ("g", 4)):
            what = "max" if fn == "f" else "min"
            with pytest.raises(ValueError, match=rf"^{what}\(\) of an empty sequence "
                                                 rf"\(at <source>:{line}:12\)$"):
                mod.run(fn, np.zeros((0, 0)))
        assert mod.f(np.zeros((3, 0))).shape == (0,) and mod.g(np.zeros((0, 3))).shape == (0,)
        assert mod.f(np.array([[1.0, -2.0], [3.0, -4.0]])).tolist() == [3.0, -2.0]


def test_runtime_shape_mismatch_is_caught():
    source = "def f(k: i64, x: f64[n]) -> f64[n]:\n    return zeros(k) + x\n"
    module = scalarized(compile_source(source, backend="interp").module)
    with pytest.raises(ir.ShapeErrorDP):
        ir.Interpreter(module).run("f", [4, np.ones(5)])
    with pytest.raises(ir.ShapeErrorDP):  # a `?` of size 1 does not broadcast
        ir.Interpreter(module).run("f", [1, np.ones(5)])


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_random_programs_unchanged(program):
    module = compile_source(program.source, backend="interp").module
    args = program.arg_list(np.random.default_rng(3))
    before = ir.Interpreter(module).run("f", args)
    after = ir.Interpreter(scalarized(module)).run("f", args)
    assert after == pytest.approx(before, rel=1e-12, abs=1e-12)


def test_a_transpose_read_only_by_a_matrix_product_stays():
    """transpose(a) @ b keeps the transpose (the kernel reads a in place); a transpose
    used anywhere else, or as the right operand, becomes a loop nest."""
    source = ("def f(a: f64[k, n], b: f64[k, m], c: f64[m, k]) -> (f64[n, m], f64[n, m], f64[m, k]):\n"
              "    return transpose(a) @ b, transpose(a) @ transpose(c), transpose(transpose(c))\n")
    module = scalarized(compile_source(source, backend="interp").module)
    text = ir.print_function(module.functions["f"])
    assert "%0 = transpose %a : f64[n, k]\n  %1 = matmul %0, %b : f64[n, m]\n" in text
    assert text.count("transpose") == 2  # the left of the second product too, no other
    a, b, c = (np.arange(12.0).reshape(s) for s in ((3, 4), (3, 4), (4, 3)))
    got = ir.Interpreter(module).run("f", [a, b, c])
    for g, want in zip(got, (a.T @ b, a.T @ c.T, c)):
        np.testing.assert_array_equal(g, want)
    native = compile_source(source).f(a, b, c)
    for g, want in zip(native, (a.T @ b, a.T @ c.T, c)):
        np.testing.assert_array_equal(g, want)


def test_a_sum_along_the_first_axis_adds_rows():
    # the rows as they lie in memory, all columns at once; each column still adds in
    # order from 0.0, so the bits are those of a sum per column (native and interpreter)
    source = "def f(a: f64[n, h]) -> f64[h]:\n    return sum(a, axis=0)\n"
    mod = compile_source(source)
    assert ir.print_module(scalarized(mod.module)) == (
        "func @f(%a: f64[n, h]) -> f64[h] {\n"
        "  %0 = dim %a {axis = 0} : i64\n"
        "  %1 = const 0 : i64\n"
        "  %2 = const 1 : i64\n"
        "  %3 = reduce %1, %0, %2 {kind = \"sum\"} : f64[h] {\n"
        "  ^(%i: i64):\n"
        "    %4 = index %a, %i {inbounds = true} : f64[h]\n"
        "    yield %4\n"
        "  }\n"
        "  return %3\n"
        "}\n")
    rng = np.random.default_rng(0)
    for shape in [(0, 3), (1, 4), (9, 17), (4, 0)]:
        a = rng.standard_normal(shape)
        a[:, :1] = -0.0  # a column of -0.0 sums to +0.0, as in NumPy
        in_order = np.zeros(shape[1])
        for row in a:
            in_order = in_order + row
        for result in (mod.f(a), ir.Interpreter(scalarized(mod.module)).run("f", [a])):
            assert result.shape == in_order.shape
            assert np.array_equal(result, in_order) and not np.signbit(result[:1]).any()


def test_a_matrix_of_unknown_sizes_keeps_them_with_no_rows():
    # exp of a 0 x k matrix is 0 x k: its build says the rows' sizes are known before any
    # row (known_rows), where a comprehension of no rows of `?` elements is 0 x 0
    mod = compile_source("def f(s: i64, k: i64) -> f64[?, ?]:\n    return exp(zeros(s, k))\n")
    assert ir.print_module(scalarized(mod.module)) == (
        "func @f(%s: i64, %k: i64) -> f64[?, ?] {\n"
        "  %0 = const 0.0 : f64\n"
        "  %1 = full %0, %s, %k : f64[?, ?]\n"
        "  %2 = dim %1 {axis = 0} : i64\n"
        "  %3 = dim %1 {axis = 1} : i64\n"
        "  %4 = const 0 : i64\n"
        "  %5 = const 1 : i64\n"
        "  %6 = build %4, %2, %5 {known_rows = true} : f64[?, ?] {\n"
        "  ^(%i: i64):\n"
        "    %7 = build %4, %3, %5 : f64[?] {\n"
        "    ^(%i.1: i64):\n"
        "      %8 = index %1, %i, %i.1 {inbounds = true} : f64\n"
        "      %9 = exp %8 : f64\n"
        "      yield %9\n"
        "    }\n"
        "    yield %7\n"
        "  }\n"
        "  return %6\n"
        "}\n")


EMPTY_ROWS = """
def shape(s: i64, k: i64) -> f64[?, ?]:
    return exp(zeros(s, k))

def colsum(s: i64, k: i64) -> f64[?]:
    return sum(zeros(s, k) + 1.0, axis=0)

def columns(s: i64, k: i64) -> i64:
    return len(transpose(exp(zeros(s, k))))

def total(t: f64[n], k: i64) -> f64:
    c = sum(zeros(n, k) + 1.0, axis=0)
    acc = 0.0
    for j in range(k):
        acc += c[j]
    return acc

def gram(s: i64, d: i64) -> f64[?, ?]:
    a = zeros(s, d) + 1.0
    return a.T @ a

def chosen(s: i64, k: i64) -> f64[?, ?]:
    z = zeros(s, k)
    return where(z > 0.0, z, z + 1.0)

def cube(s: i64, k: i64, j: i64) -> f64[?, ?, ?]:
    return exp(zeros(s, k, j))

def nest(s: i64, k: i64) -> f64[?, ?]:
    return [[1.0 for j in range(k)] for i in range(s)]
"""


@pytest.mark.parametrize("backend", ["native", "interp"])
def test_empty_matrices_of_unknown_sizes_agree_with_numpy(backend):
    mod = compile_source(EMPTY_ROWS, backend=backend)
    assert mod.shape(0, 3).shape == (0, 3)
    assert mod.colsum(0, 3).tolist() == [0.0, 0.0, 0.0]
    assert mod.columns(0, 3) == 3
    assert mod.total(np.zeros(0), 3) == 0.0
    assert mod.gram(0, 3).tolist() == np.zeros((3, 3)).tolist()
    assert mod.chosen(0, 3).shape == (0, 3)
    assert [mod.cube(*s).shape for s in [(0, 2, 3), (2, 0, 3), (2, 3, 0)]] == \
        [(0, 2, 3), (2, 0, 3), (2, 3, 0)]
    assert mod.specialize("shape", s=0)(3).shape == (0, 3)
    assert mod.nest(0, 3).shape == (0, 0)  # a comprehension: no row has said its size
