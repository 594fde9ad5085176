"""digamma and trigamma in native code agree with ir.ops' NumPy versions and the
interpreter, on scalars and on arrays (which Scalarize turns into loops of scalar calls).
The front end does not expose them, so the functions are written in IR text. Then
lgamma's derivatives up to the fourth, which reach them (and tetragamma, emitted as ops)."""

import math
from decimal import Decimal, localcontext
from fractions import Fraction

import numpy as np
import pytest

import ir
import runtime
from ir.ops import digamma, trigamma
from compiler import compile_source
from native_math import native, unary_ir

REFERENCE = {"digamma": digamma, "trigamma": trigamma}

@pytest.fixture(scope="module", params=sorted(REFERENCE))
def compiled(request):
    name = request.param
    module = ir.parse_module(unary_ir(name))
    ir.verify_module(module)
    return name, module, native(module)


def sample_points():
    rng = np.random.default_rng(0)
    positive = np.concatenate([np.geomspace(1e-3, 1e3, 401), rng.uniform(0.5, 12.0, 200)])
    # negative non-integers, away from the poles and just beside them
    negative = np.concatenate([-rng.uniform(0.0, 30.0, 300),
                               np.arange(-20, 0) + 0.5, np.arange(-20, 0) + 1e-6])
    return positive, negative[negative != np.floor(negative)]


def test_scalar_and_array_agree_with_numpy_version(compiled):
    """Same algorithm, same operation order: only libm's log / tan / sin may differ from
    NumPy's by an ulp (measured: at most 4e-16 relative, trigamma bit for bit). atol
    covers the cancellation next to digamma's zeros (1.4616..., and one between each
    pair of poles), where a relative error means nothing."""
    name, module, mod = compiled
    reference = REFERENCE[name]
    positive, negative = sample_points()
    for points, rtol in ((positive, 2e-15), (negative, 1e-13)):
        want = reference(points)
        scalar = np.array([mod.functions["f"](float(x)) for x in points])
        np.testing.assert_allclose(scalar, want, rtol=rtol, atol=1e-15, err_msg=name)
        np.testing.assert_array_equal(mod.functions["g"](points), scalar)


def test_agrees_with_interpreter(compiled):
    name, module, mod = compiled
    interp = ir.Interpreter(module)
    points = np.concatenate(sample_points())
    np.testing.assert_allclose(mod.functions["g"](points), interp.run("g", [points]),
                               rtol=1e-13, atol=1e-15)
    for x in (0.25, 1.0, 7.5, -2.5, 123.0):
        assert mod.functions["f"](x) == pytest.approx(interp.run("f", [x]), rel=1e-15, abs=0)


def test_special_values(compiled):
    name, module, mod = compiled
    reference = REFERENCE[name]
    f = mod.functions["f"]
    for x in (0.0, -0.0, -1.0, -3.0, -1e17):  # poles: trigamma nears +inf on both sides
        assert f(x) == float(reference(x)) or math.isnan(f(x)) and math.isnan(reference(x))
        assert math.isnan(f(x)) if name == "digamma" else f(x) == math.inf, (name, x)
    for x in (-math.inf, math.nan):
        assert math.isnan(f(x)), (name, x)
        assert math.isnan(float(reference(x))), (name, x)
    assert f(math.inf) == float(reference(math.inf)) == (math.inf if name == "digamma" else 0.0)
    points = np.array([0.0, -3.0, math.inf, 2.0])
    np.testing.assert_array_equal(mod.functions["g"](points), reference(points))


def test_defined_once_per_module():
    text = ("func @f(%x: f64) -> (f64, f64, f64) {\n"
            "  %0 = digamma %x : f64\n  %1 = digamma %0 : f64\n  %2 = trigamma %x : f64\n"
            "  return %0, %1, %2\n}\n")
    module = ir.parse_module(text)
    llvm_text, _ = runtime.jit.llvm_ir(module)
    assert llvm_text.count('define internal double @"dpc.digamma"') == 1
    assert llvm_text.count('define internal double @"dpc.trigamma"') == 1
    a, b, c = native(module).functions["f"](3.0)
    want = (digamma(3.0), digamma(digamma(3.0)), trigamma(3.0))
    np.testing.assert_allclose((a, b, c), want, rtol=1e-15)


def test_lgamma_is_the_same_in_the_interpreter_and_native_code():
    # the interpreter used Python's math.lgamma, off by 1e-5 relative near lgamma's zeros
    from compiler import compile_source
    source = "def f(x: f64[n]) -> f64[n]:\n    return lgamma(x)\n"
    x = np.array([2 + 1e-10, 1 - 1e-9, -2.4570247, 0.0, -1.0, 3.5, 1e-300, 1e300, -0.5])
    native_values = compile_source(source).f(x)
    np.testing.assert_array_equal(compile_source(source, backend="interp").f(x), native_values)
    assert native_values[0] == pytest.approx(4.2278437e-11, rel=1e-7)
    assert native_values[3] == native_values[4] == math.inf


LGAMMA_DERIVATIVES = """\
def f(x: f64) -> f64:
    return lgamma(x)

def d1(x: f64) -> f64:
    return grad(f)(x)

def d2(x: f64) -> f64:
    return grad(d1)(x)

def d3(x: f64) -> f64:
    return grad(d2)(x)
"""


# 40 digits of the constants in the closed forms below
EULER_GAMMA = Decimal("0.5772156649015328606065120900824024310422")
PI = Decimal("3.141592653589793238462643383279502884197")
CATALAN = Decimal("0.9159655941772190150546035149323841107741")
ZETA_3 = Decimal("1.202056903159594285399738161511449990765")


def exact_polygammas():
    """{x: (psi(x), psi'(x), psi''(x))} to 40 digits, from closed forms at integers n,
    n + 1/2 and -n + 1/4 (psi''(x) omitted there):
    psi(n) = -gamma + sum_{k<n} 1/k,  psi(n + 1/2) = -gamma - 2 ln 2 + sum_{k<=n} 2/(2k-1),
    psi'(n) = pi^2/6 - sum_{k<n} 1/k^2,  psi'(n + 1/2) = pi^2/2 - 4 sum_{k<=n} 1/(2k-1)^2,
    psi''(n) = -2 zeta(3) + 2 sum_{k<n} 1/k^3,
    psi''(n + 1/2) = -14 zeta(3) + 16 sum_{k<=n} 1/(2k-1)^3;
    and by the reflections (cot(pi x) = 1, sin^2(pi x) = 1/2 at x = -n + 1/4)
    psi(-n + 1/4) = psi(n + 3/4) - pi,  psi'(-n + 1/4) = 2 pi^2 - psi'(n + 3/4), with
    psi(3/4) = -gamma + pi/2 - 3 ln 2,  psi'(3/4) = pi^2 - 8 G (Catalan's G)."""
    with localcontext() as context:
        context.prec = 40
        return closed_forms(Decimal(2).ln())


def closed_forms(ln2):
    def total(terms):
        return sum(terms, Fraction(0))

    def dec(f):
        return Decimal(f.numerator) / Decimal(f.denominator)

    values = {}
    for n in range(1, 31):
        values[float(n)] = (
            -EULER_GAMMA + dec(total(Fraction(1, k) for k in range(1, n))),
            PI * PI / 6 - dec(total(Fraction(1, k * k) for k in range(1, n))),
            -2 * ZETA_3 + 2 * dec(total(Fraction(1, k ** 3) for k in range(1, n))))
        odd = [2 * k - 1 for k in range(1, n)]
        values[n - 0.5] = (
            -EULER_GAMMA - 2 * ln2 + dec(total(Fraction(2, j) for j in odd)),
            PI * PI / 2 - 4 * dec(total(Fraction(1, j * j) for j in odd)),
            -14 * ZETA_3 + 16 * dec(total(Fraction(1, j ** 3) for j in odd)))
    for n in range(1, 21):
        quarters = [Fraction(4 * k + 3, 4) for k in range(n)]  # 3/4, 7/4, ..., n - 1/4
        psi = -EULER_GAMMA + PI / 2 - 3 * ln2 + dec(total(1 / q for q in quarters))
        psi1 = PI * PI - 8 * CATALAN - dec(total(1 / (q * q) for q in quarters))
        values[-n + 0.25] = (psi - PI, 2 * PI * PI - psi1, None)
    return values


@pytest.mark.parametrize("backend", ["native", "interp"])
def test_within_two_ulps_of_closed_forms(backend):
    """psi, psi' (digamma, trigamma) and psi'' (tetragamma, emitted as ops by lgamma's
    third derivative) within 2 ulps of 40-digit values (psi: of 4 where it is smaller), at 100 points up to 30 and down to
    -19.75. The series were cut a term or two early before (psi 45 ulps off at 8, psi' 1000
    at 10), and the reflections took tan and sin at pi x, rounded by an ulp of pi x (psi
    1e-13 relative at -15.75): now they take them at pi (x - m), m the nearest integer."""
    mod = compile_source(LGAMMA_DERIVATIVES, backend=backend)
    derivatives = [mod.grad(name) for name in ("f", "d1", "d2")]
    for x, exact in exact_polygammas().items():
        for order, want in enumerate(exact):
            if want is None:
                continue
            want = float(want)
            got = derivatives[order](x)
            # psi's sums and reflection add terms of up to about 4 that cancel next to its
            # zeros (psi(-19.75) = psi(20.75) - pi = -0.13): ulps of 4 there
            assert abs(got - want) <= 2 * math.ulp(max(abs(want), 4.0 if order == 0 else 0.0)), (
                order, x, got, want)


@pytest.mark.parametrize("backend", ["native", "interp"])
def test_the_fourth_derivative_of_lgamma_in_both_modes(backend):
    """psi'''(x), the derivative of the third (emitted as ops: tetragamma), reverse and
    forward: psi'''(1/2) = pi^4, psi'''(1) = pi^4 / 15, psi'''(-1/2) = pi^4 + 96 (the
    recurrence), then 2 / x^3 + 3 / x^4 for large x, which underflows to 0 past ~1e103.
    At 1e100 it was 0 in reverse mode and from 1e154 on NaN in forward mode (z^4 and z^3
    overflowed)."""
    mod = compile_source(LGAMMA_DERIVATIVES, backend=backend)
    cases = {0.5: math.pi ** 4, 1.0: math.pi ** 4 / 15, -0.5: math.pi ** 4 + 96,
             1e10: 2e-30 + 3e-40, 1e100: 2e-300, 1e154: 0.0, 1e300: 0.0, math.inf: 0.0}
    for x, want in cases.items():
        reverse, forward = mod.grad("d3")(x), mod.jvp("d3")(x, 1.0)[1]
        assert reverse == pytest.approx(want, rel=1e-14, abs=0.0), (x, reverse)
        assert forward == pytest.approx(want, rel=1e-14, abs=0.0), (x, forward)
