"""x ** c for the constants c of runtime.scalars.CONSTANT_POWERS (3, 4, -2, -3, -4, -0.5,
1.5, -1.5): products, quotients and square roots instead of a call to pow. Checked
against a 50-digit Decimal over every scale, and bit for bit against NumPy's pow at 0,
-0, +-inf, NaN and where the result is exact; the loops vectorize, and so does the gradient of
x ** 0.5, whose derivative is a power -0.5."""

import decimal
import math
import re

import numpy as np
import pytest

from compiler import compile_source
from native_math import native_source, ulps_apart, vectorizing_host
from runtime.scalars import CONSTANT_POWERS

SOURCE = "\n".join(f"""\
func @p{k}(%x: f64[n]) -> f64[n] {{
  %c = const {c!r} : f64
  %0 = pow %x, %c : f64[n]
  return %0
}}
""" for k, c in enumerate(CONSTANT_POWERS))

# a square root and then a quotient round twice; so does 1/x^4 where x^4 is subnormal and
# (1/x)^4 is taken instead (tiny x only)
ULPS = {-1.5: 2, -4.0: 3}


@pytest.fixture(scope="module")
def mod():
    return native_source(SOURCE)


def power(mod, c: float):
    return mod.functions[f"p{CONSTANT_POWERS.index(c)}"]


def correctly_rounded(x: float, c: float) -> float:
    """x ** c to 50 digits, rounded once to a double (inf beyond the largest double, a
    signed zero below the smallest subnormal)."""
    context = decimal.Context(prec=50, Emin=-99999, Emax=99999)
    d = decimal.Decimal(x)
    if c != int(c):  # x ** (k / 2) = sqrt(x) ** k
        d, c = context.sqrt(d), 2 * c
    return float(context.power(d, int(c)))


def sample_points(c: float) -> dict:
    rng = np.random.default_rng(0)
    points = {
        "every scale": np.geomspace(5e-324, 1.7e308, 20_000),
        "[0.5, 2]": rng.uniform(0.5, 2.0, 10_000),
    }
    if c == int(c):
        points["every negative scale"] = -points["every scale"]
    return points


@pytest.mark.parametrize("c", CONSTANT_POWERS)
def test_within_an_ulp_or_two_of_correctly_rounded(mod, c):
    for name, x in sample_points(c).items():
        got = power(mod, c)(x)
        want = np.array([correctly_rounded(v, c) for v in x])
        assert np.array_equal(np.signbit(got), np.signbit(want)), (c, name)
        assert ulps_apart(np.abs(got), np.abs(want)).max() <= ULPS.get(c, 1), (c, name)


@pytest.mark.parametrize("c", CONSTANT_POWERS)
def test_special_values_are_pows(mod, c):
    # and even powers of 2, whose powers c are exact doubles, 0 or inf
    x = np.array([0.0, -0.0, math.inf, -math.inf, math.nan, 1.0, -1.0, 4.0, -4.0,
                  *[sign * 2.0 ** e for sign in (1, -1) for e in (-1074, -1022, -600, 600, 1022)]])
    with np.errstate(all="ignore"):
        want = np.power(x, c)
    got = power(mod, c)(x)
    same_bits = got.view(np.int64) == want.view(np.int64)
    assert (same_bits | (np.isnan(got) & np.isnan(want))).all(), x[~same_bits]


@pytest.mark.skipif(not vectorizing_host(), reason="the vector width is a guess elsewhere")
def test_loops_with_constant_powers_vectorize(mod):
    ir_text = mod.optimized_ir
    assert not re.search(r"@(llvm\.)?pow(\.f64)?\(", ir_text)
    assert len(re.findall(r"define .*@dpc_entry_p", ir_text)) == len(CONSTANT_POWERS)
    assert re.search(r"fdiv <\d+ x double>", ir_text)


def test_the_gradient_of_a_square_root_power_calls_no_pow():
    source = "def f(x: f64[n]) -> f64:\n    return sum(x ** 0.5 + x ** 3.0)\n"
    mod = compile_source(source)
    assert not re.search(r"@(llvm\.)?pow(\.f64)?\(", mod.ir(stage="llvm"))
    x = np.array([0.25, 1.0, 4.0, 0.0, math.inf])
    with np.errstate(divide="ignore"):
        want = 0.5 / np.sqrt(x) + 3.0 * x * x
    np.testing.assert_allclose(mod.grad("f")(x), want, rtol=2e-16)
