"""log in native code (runtime.scalars.log_function): within 1 ulp of the correctly rounded
result over the whole double range, subnormals included, exact at the special values, the
same bits in scalar code and in vectorized loops, and loops that call it vectorized. The
functions are written in IR text, as in test_exp."""

import decimal
import math
import re

import numpy as np
import pytest

from native_math import (assert_scalar_and_vector_agree, ulps_apart, unary_module,
                         vectorizing_host)



@pytest.fixture(scope="module")
def mod():
    return unary_module("log")


def correctly_rounded(x: float) -> float:
    """log(x) to 40 digits, then rounded once to a double."""
    return float(decimal.Context(prec=40).ln(decimal.Decimal(x)))


def sample_points() -> dict:
    rng = np.random.default_rng(0)
    return {
        "every scale": np.exp(rng.uniform(-744.0, 709.7, 20_000)),
        "[0.5, 2]": rng.uniform(0.5, 2.0, 5_000),
        "near 1": 1.0 + rng.uniform(-1e-3, 1e-3, 3_000),
        "nearest 1": 1.0 + rng.integers(-2000, 2000, 2_000) * 2.0 ** -52,
        # where m = x / 2^k switches from [1, sqrt 2) to [sqrt(2)/2, 1)
        "near sqrt 2": math.sqrt(2.0) * (1.0 + rng.uniform(-1e-6, 1e-6, 2_000)),
        "subnormal": rng.uniform(0.0, 2.2e-308, 3_000),
        "powers of 2": np.ldexp(1.0, np.arange(-1074, 1024)),
    }


@pytest.mark.parametrize("name", sorted(sample_points()))
def test_within_one_ulp_of_correctly_rounded(mod, name):
    x = sample_points()[name]
    got = mod.functions["g"](x)
    want = np.array([correctly_rounded(v) for v in x])
    assert (np.signbit(got) == np.signbit(want)).all(), name
    assert ulps_apart(np.abs(got), np.abs(want)).max() <= 1, name


def test_special_values(mod):
    f, g = mod.functions["f"], mod.functions["g"]
    exact = {1.0: 0.0, 0.0: -math.inf, -0.0: -math.inf, math.inf: math.inf,
             2.0 ** -1074: -744.4400719213812, 2.0 ** -1022: -708.3964185322641,
             1.7976931348623157e308: 709.782712893384, 2.0: 0.6931471805599453,
             0.5: -0.6931471805599453, math.e: 1.0}
    for x, want in exact.items():
        assert f(x) == want, x
        if math.isfinite(x) and x > 0:
            assert correctly_rounded(x) == want, x
    np.testing.assert_array_equal(g(np.array(list(exact))), list(exact.values()))
    assert math.copysign(1.0, f(1.0)) == 1.0  # +0, as log(1) is
    for x in (-1.0, -2.0 ** -1074, -math.inf, math.nan):
        assert math.isnan(f(x)), x
    assert np.isnan(g(np.array([1.0, -1.0, math.nan]))[1:]).all()


def test_scalar_and_vector_code_agree(mod):
    x = np.exp(np.random.default_rng(2).uniform(-744.0, 709.7, 203))
    assert_scalar_and_vector_agree(mod, x)


@pytest.mark.skipif(not vectorizing_host(), reason="the vector width is a guess elsewhere")
def test_loops_with_log_vectorize(mod):
    assert re.search(r"fdiv <\d+ x double>", mod.optimized_ir)  # s = f / (2 + f)
    assert not re.search(r"@(llvm\.)?log(\.f64)?\(", mod.optimized_ir)  # no libm log
