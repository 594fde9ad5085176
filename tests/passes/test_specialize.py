"""Specialization (passes/specialize.py, `mod.specialize`, `--static`): IR before and
after, identical results on the examples, and the errors a bad request gets."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import ir
from compiler import compile_file, compile_source
from passes.specialize import specialize
from reference import EXAMPLES, make_inputs

ROOT = Path(__file__).resolve().parent.parent.parent
DIFFERENTIATED = {"ode": "ode_last"}  # the scalar function of the ode example

POLY = """\
func @poly(%x: f64[n], %k: i64) -> f64 {
  %n = dim %x {axis = 0} : i64
  %0 = const 0 : i64
  %1 = const 1 : i64
  %2 = const 0.0 : f64
  %3 = for %0, %k, %1, %2 : f64 {
  ^(%i: i64, %acc: f64):
    %4 = index %x, %i : f64
    %5 = mul %acc, %4 : f64
    %6 = add %5, %4 : f64
    yield %6
  }
  %7 = full %3, %n : f64[n]
  %8 = mul %7, %x : f64[n]
  %9 = reduce_sum %8 : f64
  return %9
}
"""

# k = 2 is gone from the parameters; n = 3 is a literal in every type and `dim` of it a
# constant; the loop of two trips is unrolled.
POLY_SPECIALIZED = """\
func @poly.static(%x: f64[3]) -> f64 {
  %k = const 2 : i64
  %n = const 3 : i64
  %0 = const 0 : i64
  %1 = const 1 : i64
  %2 = const 0.0 : f64
  %i = const 0 : i64
  %3 = index %x, %i : f64
  %4 = mul %2, %3 : f64
  %5 = add %4, %3 : f64
  %i.1 = const 1 : i64
  %6 = index %x, %i.1 : f64
  %7 = mul %5, %6 : f64
  %8 = add %7, %6 : f64
  %9 = full %8, %n : f64[3]
  %10 = mul %9, %x : f64[3]
  %11 = reduce_sum %10 : f64
  return %11
}
"""


def test_integer_parameter_and_dimension_become_constants_and_small_loops_unroll():
    module = ir.parse_module(POLY)
    special = specialize(module, module.functions["poly"], {1: 2}, {"n": 3}, "poly.static")
    ir.verify_module(module)
    assert ir.print_function(special) == POLY_SPECIALIZED
    x = np.array([0.5, -2.0, 3.0])
    interp = ir.Interpreter(module)
    assert interp.run("poly.static", [x]) == interp.run("poly", [x, 2])


def everything_static(fn, args) -> dict:
    """Every i64 parameter and every dimension of fn, at the values args give them."""
    values = {}
    for p, a in zip(fn.params, args):
        if p.type == ir.I64:
            values[p.name_hint] = int(a)
        for d, size in zip(getattr(p.type, "shape", ()), np.shape(a)):
            if isinstance(d, str) and d != ir.DYN:
                values[d] = size
    return values


def as_tuple(value) -> tuple:
    return value if isinstance(value, tuple) else (value,)


@pytest.mark.parametrize("backend", ["interp", "native"])
@pytest.mark.parametrize("name", list(EXAMPLES))
def test_specialized_examples_give_identical_values_and_gradients(name, backend):
    file, primal, _ = EXAMPLES[name]
    mod = compile_file(f"examples/{file}", backend=backend)
    args = make_inputs(name, "small", seed=3)
    for fn in (primal, DIFFERENTIATED.get(name, primal)):
        generic = mod.function(fn)
        values = everything_static(generic.function, args)
        special = mod.specialize(fn, **values)
        assert mod.specialize(fn, **values) is special  # cached
        rest = [a for p, a in zip(generic.function.params, args) if p.type != ir.I64]
        np.testing.assert_array_equal(special(*rest), generic(*args))
        if generic.function.return_types == [ir.F64]:
            for g, h in zip(as_tuple(special.owner.grad(special.name)(*rest)),
                            as_tuple(mod.grad(fn)(*args))):
                np.testing.assert_array_equal(g, h)


def test_a_specialized_function_checks_the_sizes_it_was_made_for():
    mod = compile_file("examples/lse.dp")
    special = mod.specialize("lse", n=4)
    assert special(np.array([1.0, 2.0, 3.0, 4.0])) == mod.lse(np.array([1.0, 2.0, 3.0, 4.0]))
    with pytest.raises(ValueError, match="n"):
        special(np.array([1.0, 2.0, 3.0]))


def test_bad_specialization_requests_say_what_is_wrong():
    mod = compile_source("def f(x: f64[n], k: i64, w: f64) -> f64:\n    return x[k] * w\n")
    with pytest.raises(ValueError, match=r"'w' is neither an i64 parameter nor a dimension "
                                         r"of 'f' \(those are: k, n\)"):
        mod.specialize("f", w=2)
    with pytest.raises(ValueError, match="k must be an integer, not 2.5"):
        mod.specialize("f", k=2.5)
    with pytest.raises(ValueError, match="dimension n cannot be -1"):
        mod.specialize("f", n=-1)
    assert mod.specialize("f", k=1, n=3)(np.array([1.0, 2.0, 3.0]), 0.5) == 1.0


def dpc(*argv) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "compiler.cli", *argv], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_cli_static_runs_and_prints_the_specialized_ir():
    generic = dpc("run", "examples/llsq.dp", "llsq", "--random", "0", "--dim", "m=4",
                  "--arg", "n=9")
    special = dpc("run", "examples/llsq.dp", "llsq", "--random", "0", "--dim", "m=4",
                  "--static", "n=9")
    assert generic.returncode == special.returncode == 0, special.stderr
    assert special.stdout == generic.stdout
    text = dpc("ir", "examples/llsq.dp", "--fn", "llsq", "--static", "n=9", "--static", "m=2")
    assert text.stdout.startswith("func @llsq.static.m2.n9(%x: f64[2]) -> f64 {\n")
    bad = dpc("run", "examples/llsq.dp", "llsq", "--static", "q=3")
    assert bad.returncode == 1
    assert "'q' is neither an i64 parameter nor a dimension of 'llsq'" in bad.stderr
