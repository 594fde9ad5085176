"""exp in native code (runtime.scalars.exp_function, also inside sigmoid): within 1 ulp of
the correctly rounded result over the whole double range, exact at the special values,
the same bits in scalar code and in vectorized loops, and loops that call it vectorized.
The functions are written in IR text, as in test_special_functions."""

import decimal
import math
import re
from pathlib import Path

import numpy as np
import pytest

from compiler import compile_file
from ir.ops import sigmoid
from native_math import (assert_scalar_and_vector_agree, ulps_apart, unary_module,
                         vectorizing_host)

EXAMPLES = Path(__file__).parents[2] / "examples"

MORE_IR = """
func @s(%x: f64[n]) -> f64[n] {
  %0 = sigmoid %x : f64[n]
  return %0
}
"""

SMALLEST_SUBNORMAL = 5e-324
LARGEST = 1.7976931348622732e308


@pytest.fixture(scope="module")
def mod():
    return unary_module("exp", MORE_IR)


def correctly_rounded(x: float) -> float:
    """exp(x) to 40 digits, then rounded once to a double (converting a Decimal to float
    rounds correctly, subnormals included); 40 digits are far more than the hardest cases
    of exp in double precision need."""
    context = decimal.Context(prec=40, Emin=-99999, Emax=99999)
    return float(context.exp(decimal.Decimal(x)))


def sample_points() -> dict:
    rng = np.random.default_rng(0)
    return {
        "whole range": rng.uniform(-745.2, 709.78, 20_000),
        "[-1, 1]": rng.uniform(-1.0, 1.0, 5_000),
        "[-1e-5, 1e-5]": rng.uniform(-1e-5, 1e-5, 2_000),
        "subnormal results": rng.uniform(-745.14, -708.4, 5_000),
        "near overflow": rng.uniform(700.0, 709.782712893384, 2_000),
        "every scale": np.concatenate([np.geomspace(1e-300, 709.0, 2_000),
                                       -np.geomspace(1e-300, 745.0, 2_000)]),
    }


@pytest.mark.parametrize("name", sorted(sample_points()))
def test_within_one_ulp_of_correctly_rounded(mod, name):
    x = sample_points()[name]
    got = mod.functions["g"](x)
    want = np.array([correctly_rounded(v) for v in x])
    assert ulps_apart(got, want).max() <= 1, name


@pytest.mark.skipif(np.finfo(np.longdouble).nmant < 63, reason="needs x87 long double")
def test_error_below_one_ulp_of_exact(mod):
    """Against exp in long double (11 more bits): the error as a fraction of an ulp, on
    many more points. Below 1 means the result is one of the two doubles around exp(x)
    (measured: at most 0.79 ulp, in the subnormal range; 0.69 for normal results)."""
    g = mod.functions["g"]
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.uniform(-745.2, 709.78, 1_000_000),
                        rng.uniform(-0.35, 0.35, 1_000_000)])
    exact = np.exp(x.astype(np.longdouble))
    binade = np.frexp(np.maximum(exact.astype(np.float64), np.finfo(np.float64).tiny))[1]
    ulp = np.ldexp(np.longdouble(1.0), np.maximum(binade - 53, -1074))
    error = np.abs((g(x).astype(np.longdouble) - exact) / ulp)
    assert error.max() < 1.0


def test_special_values(mod):
    f, g = mod.functions["f"], mod.functions["g"]
    exact = {0.0: 1.0, -0.0: 1.0, SMALLEST_SUBNORMAL: 1.0, -SMALLEST_SUBNORMAL: 1.0,
             1e-300: 1.0, math.inf: math.inf, -math.inf: 0.0,
             709.782712893384: LARGEST,  # the largest x with a finite result
             709.7827128933841: math.inf, 709.79: math.inf, 710.0: math.inf,
             1e308: math.inf, -745.13: SMALLEST_SUBNORMAL,
             -745.1332191019411: SMALLEST_SUBNORMAL,  # the smallest x with exp(x) > 0
             -745.1332191019412: 0.0, -746.0: 0.0, -1e308: 0.0}
    for x, want in exact.items():
        assert f(x) == want, x
        if math.isfinite(x) and abs(x) < 1000:
            assert correctly_rounded(x) == want, x
    points = np.array(list(exact))
    np.testing.assert_array_equal(g(points), list(exact.values()))
    assert math.isnan(f(math.nan))
    assert np.isnan(g(np.array([1.0, math.nan]))[1])


def test_scalar_and_vector_code_agree(mod):
    x = np.random.default_rng(2).uniform(-745.2, 709.78, 203)
    assert_scalar_and_vector_agree(mod, x)


def test_sigmoid(mod):
    x = np.concatenate([np.random.default_rng(3).normal(0.0, 20.0, 10_000),
                        [0.0, -0.0, 36.0, -36.0, 709.0, -709.0, 745.0, -745.0, 800.0, -800.0,
                         math.inf, -math.inf]])
    got = mod.functions["s"](x)
    np.testing.assert_allclose(got, sigmoid(x), rtol=1e-15, atol=0)
    assert got[-2] == 1.0 and got[-1] == 0.0
    assert np.isnan(mod.functions["s"](np.array([math.nan]))[0])


VECTOR_EXP = re.compile(r"@llvm\.roundeven\.v\d+f64")  # only the vectorized exp uses it


@pytest.mark.skipif(not vectorizing_host(), reason="the vector width is a guess elsewhere")
def test_loops_with_exp_vectorize(mod):
    assert VECTOR_EXP.search(mod.optimized_ir)
    assert not re.search(r"@(llvm\.)?exp(\.f64)?\(", mod.optimized_ir)  # no libm exp


@pytest.mark.skipif(not vectorizing_host(), reason="the vector width is a guess elsewhere")
def test_lse_loop_vectorizes():
    """sum(exp(x - top)) is one fused loop; it vectorizes with the additions kept in their
    order (runtime.jit turns LLVM's ordered reductions on), so no fast-math is needed."""
    assert VECTOR_EXP.search(compile_file(EXAMPLES / "lse.dp").ir(stage="llvm"))
