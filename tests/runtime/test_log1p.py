"""log1p in native code (runtime.scalars.log1p_function): within 1 ulp of the correctly
rounded result from -1 to the largest double, exact at the special values, the same bits
in scalar code and in vectorized loops, and loops that call it vectorized (libm's log1p,
a call, kept them scalar). The functions are written in IR text, as in test_log."""

import decimal
import math
import re

import numpy as np
import pytest

from native_math import (assert_scalar_and_vector_agree, ulps_apart, unary_module,
                         vectorizing_host)



@pytest.fixture(scope="module")
def mod():
    return unary_module("log1p")


def correctly_rounded(x: float) -> float:
    """log(1 + x) to 40 digits, rounded once to a double: 1 + x is exact in Decimal, and
    for |x| < 1e-5 its series up to x^9 (the next term is below 1e-45 of the value)."""
    context = decimal.Context(prec=40, Emin=-99999, Emax=99999)
    d = decimal.Decimal(x)
    if abs(d) < decimal.Decimal("1e-5"):
        series = sum((-1) ** (k + 1) * d ** k / k for k in range(1, 10))
        return float(context.plus(series))
    return float(context.ln(context.add(1, d)))


def sample_points() -> dict:
    rng = np.random.default_rng(0)
    return {
        "every positive scale": np.geomspace(1e-300, 1e300, 10_000),
        "every scale in (-1, 0)": -np.geomspace(1e-300, 1.0, 10_000, endpoint=False),
        "[-1, 1]": rng.uniform(-1.0, 1.0, 10_000),
        "near -1": -1.0 + rng.uniform(0.0, 1e-3, 3_000),
        # where 1 + x crosses sqrt 2 and where the larger of 1 and x changes
        "near sqrt(2) - 1": (math.sqrt(2.0) - 1.0) * (1.0 + rng.uniform(-1e-6, 1e-6, 2_000)),
        "near 1": 1.0 + rng.uniform(-1e-6, 1e-6, 2_000),
        "[0, 1e4]": rng.uniform(0.0, 1e4, 5_000),
        "subnormal": rng.uniform(-2.2e-308, 2.2e-308, 2_000),
    }


@pytest.mark.parametrize("name", sorted(sample_points()))
def test_within_one_ulp_of_correctly_rounded(mod, name):
    x = sample_points()[name]
    got = mod.functions["g"](x)
    want = np.array([correctly_rounded(v) for v in x])
    assert np.array_equal(np.signbit(got), np.signbit(want)), name
    assert ulps_apart(np.abs(got), np.abs(want)).max() <= 1, name


def test_special_values(mod):
    f, g = mod.functions["f"], mod.functions["g"]
    exact = {0.0: 0.0, 1e-300: 1e-300, 5e-324: 5e-324, -5e-324: -5e-324,
             1e-17: 1e-17, 1.0: 0.6931471805599453, math.e - 1.0: 1.0,
             -0.5: -0.6931471805599453, 1.7976931348623157e308: 709.782712893384,
             -1.0: -math.inf, math.inf: math.inf}
    for x, want in exact.items():
        assert f(x) == want, x
        if math.isfinite(want):
            assert correctly_rounded(x) == want, x
    np.testing.assert_array_equal(g(np.array(list(exact))), list(exact.values()))
    assert (math.copysign(1.0, f(0.0)), math.copysign(1.0, f(-0.0))) == (1.0, -1.0)
    for x in (-1.0 - 2.0 ** -52, -2.0, -math.inf, math.nan):
        assert math.isnan(f(x)), x
    assert np.isnan(g(np.array([1.0, -3.0, math.nan]))[1:]).all()


def test_scalar_and_vector_code_agree(mod):
    x = np.random.default_rng(2).uniform(-1.0, 30.0, 203)
    assert_scalar_and_vector_agree(mod, x)


@pytest.mark.skipif(not vectorizing_host(), reason="the vector width is a guess elsewhere")
def test_loops_with_log1p_vectorize(mod):
    assert re.search(r"fdiv <\d+ x double>", mod.optimized_ir)  # s = f / (2 + f)
    assert not re.search(r"@log1p\(", mod.optimized_ir)  # no libm log1p
