"""tanh in native code (runtime.scalars.tanh_function): within 2 ulp of the correctly
rounded result, exact at the special values, the same bits in scalar and vector code,
and loops that call it vectorized (libm's tanh, a call, kept them scalar)."""

import decimal
import math
import re

import numpy as np
import pytest

from native_math import (assert_scalar_and_vector_agree, ulps_apart, unary_module,
                         vectorizing_host)



@pytest.fixture(scope="module")
def mod():
    return unary_module("tanh")


def correctly_rounded(x: float) -> float:
    """tanh(x) to 40 digits, rounded once to a double: (e^2x - 1) / (e^2x + 1), or for
    |x| < 0.01, where e^2x - 1 cancels, its series up to x^9 (the next term is 1e-20
    of the value)."""
    context = decimal.Context(prec=40, Emin=-99999, Emax=99999)
    d = decimal.Decimal(x)
    if abs(d) < decimal.Decimal("0.01"):
        series = (1, decimal.Decimal(-1) / 3, decimal.Decimal(2) / 15,
                  decimal.Decimal(-17) / 315, decimal.Decimal(62) / 2835)
        return float(context.multiply(d, sum(c * d ** (2 * k) for k, c in enumerate(series))))
    e = context.exp(2 * d)
    return float(context.divide(e - 1, e + 1))


def sample_points() -> dict:
    rng = np.random.default_rng(0)
    return {
        "[-1, 1]": rng.uniform(-1.0, 1.0, 10_000),
        "[-25, 25]": rng.uniform(-25.0, 25.0, 10_000),
        "k = 0 and 1 (2|x| near ln(2)/2)": rng.uniform(0.15, 0.2, 5_000),
        "every scale": np.geomspace(1e-300, 30.0, 5_000),
    }


@pytest.mark.parametrize("name", sorted(sample_points()))
def test_within_two_ulp_of_correctly_rounded(mod, name):
    # tanh is odd and so is the implementation: compare magnitudes, then the signs
    x = sample_points()[name]
    x = np.concatenate([x, -x])
    got = mod.functions["g"](x)
    want = np.array([correctly_rounded(v) for v in x])
    assert np.array_equal(np.signbit(got), np.signbit(want))
    assert ulps_apart(np.abs(got), np.abs(want)).max() <= 2, name


def test_special_values(mod):
    f, g = mod.functions["f"], mod.functions["g"]
    exact = {5e-324: 5e-324, 1e-300: 1e-300, 1e-10: 1e-10, 20.0: 1.0,
             19.1: 1.0, 19.06: 0.9999999999999999, 1e308: 1.0, math.inf: 1.0}
    exact.update({-x: -y for x, y in exact.items()})
    for x, want in exact.items():
        assert f(x) == want and math.copysign(1.0, f(x)) == math.copysign(1.0, want), x
        if abs(x) < 100:
            assert correctly_rounded(x) == want, x
    np.testing.assert_array_equal(g(np.array(list(exact))), list(exact.values()))
    assert (f(0.0), math.copysign(1.0, f(0.0)), f(-0.0), math.copysign(1.0, f(-0.0))) == \
        (0.0, 1.0, 0.0, -1.0)
    assert math.isnan(f(math.nan))
    assert np.isnan(g(np.array([1.0, math.nan]))[1])


def test_scalar_and_vector_code_agree(mod):
    x = np.random.default_rng(2).uniform(-25.0, 25.0, 203)
    assert_scalar_and_vector_agree(mod, x)


@pytest.mark.skipif(not vectorizing_host(), reason="the vector width is a guess elsewhere")
def test_loops_with_tanh_vectorize(mod):
    assert re.search(r"@llvm\.roundeven\.v\d+f64", mod.optimized_ir)
    assert not re.search(r"@tanh\(", mod.optimized_ir)  # no libm tanh
