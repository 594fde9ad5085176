"""expm1 in native code (runtime.scalars.expm1_function): within 2 ulp of the correctly
rounded result over the whole double range, exact at the special values, the same bits
in scalar code and in vectorized loops, and loops that call it vectorized (libm's expm1,
a call, kept them scalar). The functions are written in IR text, as in test_exp."""

import decimal
import math
import re

import numpy as np
import pytest

from native_math import (assert_scalar_and_vector_agree, ulps_apart, unary_module,
                         vectorizing_host)



@pytest.fixture(scope="module")
def mod():
    return unary_module("expm1")


def correctly_rounded(x: float) -> float:
    """exp(x) - 1 to 40 digits, rounded once to a double; for |x| < 1e-5, where the
    difference cancels, its series up to x^9 (the next term is below 1e-50 of the
    value)."""
    context = decimal.Context(prec=40, Emin=-99999, Emax=99999)
    d = decimal.Decimal(x)
    if abs(d) < decimal.Decimal("1e-5"):
        return float(context.plus(sum(d ** k / math.factorial(k) for k in range(1, 10))))
    return float(context.subtract(context.exp(d), 1))


def sample_points() -> dict:
    rng = np.random.default_rng(0)
    return {
        "every positive scale": np.geomspace(1e-300, 709.78, 10_000),
        "every negative scale": -np.geomspace(1e-300, 745.0, 10_000),
        "[-1, 1]": rng.uniform(-1.0, 1.0, 10_000),
        "[-50, 50]": rng.uniform(-50.0, 50.0, 10_000),
        # k = +-1, where 2^k (exp(r) - 1) and 2^k - 1 cancel most
        "near +-ln(2)/2": np.concatenate([rng.uniform(0.3, 0.4, 5_000),
                                          rng.uniform(-0.4, -0.3, 5_000)]),
        "below the overflow threshold": rng.uniform(709.0, 709.78, 2_000),
        "subnormal": rng.uniform(-2.2e-308, 2.2e-308, 2_000),
    }


@pytest.mark.parametrize("name", sorted(sample_points()))
def test_within_two_ulp_of_correctly_rounded(mod, name):
    x = sample_points()[name]
    got = mod.functions["g"](x)
    want = np.array([correctly_rounded(v) for v in x])
    assert np.array_equal(np.signbit(got), np.signbit(want)), name
    assert ulps_apart(np.abs(got), np.abs(want)).max() <= 2, name


def test_special_values(mod):
    f, g = mod.functions["f"], mod.functions["g"]
    exact = {0.0: 0.0, 1e-300: 1e-300, 5e-324: 5e-324, -5e-324: -5e-324,
             1e-17: 1e-17, -1.0: -0.6321205588285577, 2.0: 6.38905609893065,
             -40.0: -1.0, -1000.0: -1.0, -math.inf: -1.0,
             709.782712893384: 1.7976931348622732e308, 709.8: math.inf,
             1000.0: math.inf, math.inf: math.inf}
    for x, want in exact.items():
        assert f(x) == want, x
        if abs(x) < 709.79:
            assert correctly_rounded(x) == want, x
    np.testing.assert_array_equal(g(np.array(list(exact))), list(exact.values()))
    assert (math.copysign(1.0, f(0.0)), math.copysign(1.0, f(-0.0))) == (1.0, -1.0)
    assert math.isnan(f(math.nan))
    assert np.isnan(g(np.array([1.0, math.nan]))[1])


def test_scalar_and_vector_code_agree(mod):
    x = np.random.default_rng(2).uniform(-50.0, 50.0, 203)
    assert_scalar_and_vector_agree(mod, x)


@pytest.mark.skipif(not vectorizing_host(), reason="the vector width is a guess elsewhere")
def test_loops_with_expm1_vectorize(mod):
    assert re.search(r"fmul <\d+ x double>", mod.optimized_ir)
    assert not re.search(r"@expm1\(", mod.optimized_ir)  # no libm expm1
