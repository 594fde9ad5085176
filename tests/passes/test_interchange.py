"""Interchange (passes/interchange.py): a loop of run-time trips inside element code
becomes a loop over arrays, each step a build over the elements."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ir
from compiler import compile_source, driver
from passes.ad import AutoDiff
from passes.interchange import Interchange
from passes.simplify import InlineCalls

# s Newton steps for the square root of each element, times the element
BEFORE = (
    "func @f(%x: f64[n], %s: i64) -> f64[n] {\n"
    "  %n = dim %x {axis = 0} : i64\n"
    "  %0 = const 0 : i64\n"
    "  %1 = const 1 : i64\n"
    "  %2 = build %0, %n, %1 : f64[n] {\n"
    "  ^(%i: i64):\n"
    "    %a = index %x, %i : f64\n"
    "    %y = for %0, %s, %1, %a : f64 {\n"
    "    ^(%k: i64, %y.1: f64):\n"
    "      %3 = mul %y.1, %y.1 : f64\n"
    "      %4 = sub %3, %a : f64\n"
    "      %5 = const 2.0 : f64\n"
    "      %6 = mul %5, %y.1 : f64\n"
    "      %7 = div %4, %6 : f64\n"
    "      %y.2 = sub %y.1, %7 : f64\n"
    "      yield %y.2\n"
    "    }\n"
    "    %8 = mul %y, %a : f64\n"
    "    yield %8\n"
    "  }\n"
    "  return %2\n"
    "}\n"
)

AFTER = (
    "func @f(%x: f64[n], %s: i64) -> f64[n] {\n"
    "  %n = dim %x {axis = 0} : i64\n"
    "  %0 = const 0 : i64\n"
    "  %1 = const 1 : i64\n"
    "  %a = build %0, %n, %1 : f64[n] {\n"
    "  ^(%i: i64):\n"
    "    %a.1 = index %x, %i : f64\n"
    "    yield %a.1\n"
    "  }\n"
    "  %2 = gt %n, %0 : bool\n"
    "  %3 = select %2, %s, %0 : i64\n"
    "  %y = for %0, %3, %1, %a : f64[n] {\n"
    "  ^(%k: i64, %y.1: f64[n]):\n"
    "    %4 = const 2.0 : f64\n"
    "    %y.2 = build %0, %n, %1 : f64[n] {\n"
    "    ^(%i.1: i64):\n"
    "      %y.3 = index %y.1, %i.1 {inbounds = true} : f64\n"
    "      %a.2 = index %a, %i.1 {inbounds = true} : f64\n"
    "      %5 = mul %y.3, %y.3 : f64\n"
    "      %6 = sub %5, %a.2 : f64\n"
    "      %7 = mul %4, %y.3 : f64\n"
    "      %8 = div %6, %7 : f64\n"
    "      %y.4 = sub %y.3, %8 : f64\n"
    "      yield %y.4\n"
    "    }\n"
    "    yield %y.2\n"
    "  }\n"
    "  %9 = build %0, %n, %1 : f64[n] {\n"
    "  ^(%i.2: i64):\n"
    "    %y.5 = index %y, %i.2 {inbounds = true} : f64\n"
    "    %a.3 = index %a, %i.2 {inbounds = true} : f64\n"
    "    %10 = mul %y.5, %a.3 : f64\n"
    "    yield %10\n"
    "  }\n"
    "  return %9\n"
    "}\n"
)


def interchanged(source: str) -> str:
    module = Interchange().apply(ir.parse_module(source))
    ir.verify_module(module)
    return ir.print_module(module)


def test_before_and_after():
    # the element (read once, used in every step and after) is an array; each step is
    # one build of the step's ops; the constant stays a scalar; what follows the loop
    # is the result's build; the loop stops at its start when there are no elements
    # (per element, no step ran; over empty arrays, every step ran)
    assert interchanged(BEFORE) == AFTER
    assert ir.print_module(ir.parse_module(AFTER)) == AFTER


def test_a_known_number_of_elements_needs_no_test_for_none():
    source = BEFORE.replace("%x: f64[n]", "%x: f64[4]").replace(
        "%n = dim %x {axis = 0} : i64", "%n = const 4 : i64").replace("f64[n]", "f64[4]")
    after = interchanged(source)
    assert "  %y = for %0, %s, %1, %a : f64[4] {\n" in after
    assert " gt " not in after and " select " not in after


@pytest.mark.parametrize("change", [
    # few enough known trips to be written out (passes/unroll.py), no arrays needed
    ("%y = for %0, %s, %1, %a", "%9 = const 20 : i64\n    %y = for %0, %9, %1, %a"),
    # a range that differs from element to element
    ("%y = for %0, %s, %1, %a", "%9 = to_i64 %a : i64\n    %y = for %0, %9, %1, %a"),
    # a step that is not a known constant: 0 would raise even for no elements
    ("%y = for %0, %s, %1, %a", "%y = for %0, %s, %s, %a"),
    # a range other than range(n)
    ("%2 = build %0, %n, %1", "%2 = build %1, %n, %1"),
], ids=["known-trips", "per-element-range", "step", "range"])
def test_loops_it_leaves(change):
    source = BEFORE.replace(*change)
    assert interchanged(source) == ir.print_module(ir.parse_module(source))


def test_values_of_a_size_that_differs_from_element_to_element_stay_per_element():
    # one array could not hold every element's: each %r has x[i] elements
    source = (
        "func @f(%x: i64[n], %s: i64) -> f64[n] {\n"
        "  %n = dim %x {axis = 0} : i64\n"
        "  %0 = const 0 : i64\n"
        "  %1 = const 1 : i64\n"
        "  %2 = build %0, %n, %1 : f64[n] {\n"
        "  ^(%i: i64):\n"
        "    %a = index %x, %i : i64\n"
        "    %3 = const 1.0 : f64\n"
        "    %r = full %3, %a : f64[?]\n"
        "    %4 = const 0.0 : f64\n"
        "    %y = for %0, %s, %1, %4 : f64 {\n"
        "    ^(%k: i64, %y.1: f64):\n"
        "      %5 = reduce_sum %r : f64\n"
        "      %y.2 = add %y.1, %5 : f64\n"
        "      yield %y.2\n"
        "    }\n"
        "    yield %y\n"
        "  }\n"
        "  return %2\n"
        "}\n")
    assert interchanged(source) == ir.print_module(ir.parse_module(source))


def test_rows_of_one_size_are_rows_of_a_matrix():
    # x's row for each element, read in every step: the rows of x copied, once
    source = (
        "func @f(%x: f64[n, m], %s: i64) -> f64[n] {\n"
        "  %n = dim %x {axis = 0} : i64\n"
        "  %0 = const 0 : i64\n"
        "  %1 = const 1 : i64\n"
        "  %2 = build %0, %n, %1 : f64[n] {\n"
        "  ^(%i: i64):\n"
        "    %r = index %x, %i : f64[m]\n"
        "    %3 = const 0.0 : f64\n"
        "    %y = for %0, %s, %1, %3 : f64 {\n"
        "    ^(%k: i64, %y.1: f64):\n"
        "      %4 = index %r, %k : f64\n"
        "      %y.2 = add %y.1, %4 : f64\n"
        "      yield %y.2\n"
        "    }\n"
        "    yield %y\n"
        "  }\n"
        "  return %2\n"
        "}\n")
    assert interchanged(source) == (
        "func @f(%x: f64[n, m], %s: i64) -> f64[n] {\n"
        "  %n = dim %x {axis = 0} : i64\n"
        "  %0 = const 0 : i64\n"
        "  %1 = const 1 : i64\n"
        "  %r = build %0, %n, %1 : f64[n, m] {\n"
        "  ^(%i: i64):\n"
        "    %r.1 = index %x, %i : f64[m]\n"
        "    yield %r.1\n"
        "  }\n"
        "  %2 = const 0.0 : f64\n"
        "  %3 = build %0, %n, %1 : f64[n] {\n"
        "  ^(%i.1: i64):\n"
        "    yield %2\n"
        "  }\n"
        "  %4 = gt %n, %0 : bool\n"
        "  %5 = select %4, %s, %0 : i64\n"
        "  %y = for %0, %5, %1, %3 : f64[n] {\n"
        "  ^(%k: i64, %y.1: f64[n]):\n"
        "    %y.2 = build %0, %n, %1 : f64[n] {\n"
        "    ^(%i.2: i64):\n"
        "      %r.2 = index %r, %i.2 {inbounds = true} : f64[m]\n"
        "      %y.3 = index %y.1, %i.2 {inbounds = true} : f64\n"
        "      %6 = index %r.2, %k : f64\n"
        "      %y.4 = add %y.3, %6 : f64\n"
        "      yield %y.4\n"
        "    }\n"
        "    yield %y.2\n"
        "  }\n"
        "  return %y\n"
        "}\n")


PROGRAMS = {
    "newton": """
def root(a: f64, s: i64) -> f64:
    y = a
    for k in range(s):
        y = 0.5 * (y + a / y)
    return y

def e(x: f64[n], s: i64) -> f64[n]:
    return [root(x[i], s) for i in range(n)]
""",
    # two carried values, one shared intermediate, a constant computed from the step
    "coupled": """
def e(x: f64[n], s: i64) -> f64[n]:
    return [pair(x[i], s) for i in range(n)]

def pair(a: f64, s: i64) -> f64:
    u = a
    v = 1.0
    for k in range(s):
        h = 0.1 / (1.0 + float(k))
        w = u / (v + a)
        u, v = u - h * w * v, v + h * (w - v * u)
    return u + v
""",
    # a branch per element and a counter carried as an integer, in a reduction
    "branch": """
def f(x: f64[n], s: i64) -> f64:
    return sum(walk(x[i], s) for i in range(n))

def e(x: f64[n], s: i64) -> f64[n]:
    return [walk(x[i], s) for i in range(n)]

def walk(a: f64, s: i64) -> f64:
    y = a
    c = 0
    for k in range(s):
        if y > 1.0:
            y = y / 2.0 + a
            c = c + 1
        else:
            y = y * y + 0.5
    return y + float(c)
""",
    # a loop nested in the loop, with a range that the outer step decides
    "nested": """
def e(x: f64[n], s: i64) -> f64[n]:
    return [h(x[i], s) for i in range(n)]

def h(a: f64, s: i64) -> f64:
    y = a
    for k in range(s):
        z = 0.0
        for j in range(k + 1):
            z = z + sin(y * float(j))
        y = y + 0.1 * z
    return y
""",
    # elements of a matrix, each with its loop
    "matrix": """
def e(x: f64[n, m], s: i64) -> f64[n, m]:
    return [[t(x[i, j], s) for j in range(m)] for i in range(n)]

def t(a: f64, s: i64) -> f64:
    y = a
    for k in range(s):
        y = tanh(y) * a + 0.25
    return y
""",
}


GRADIENT = """
def g(x: f64[n], s: i64) -> f64[n]:
    return grad(f)(x, s)
"""
SUM = """
def f(x: f64[n], s: i64) -> f64:
    return sum(e(x, s))
"""


def with_gradient(name: str) -> str:
    text = PROGRAMS[name] + ("" if name == "branch" else SUM) + GRADIENT
    return text.replace("f64[n]", "f64[n, m]") if name == "matrix" else text


def arguments(name: str, n: int = 5):
    return np.random.default_rng(1).uniform(0.5, 2.0, (n, 3) if name == "matrix" else n)


def carried_type(mod) -> str:
    """The types of what the first loop of e carries, at stage 'ad'."""
    ad = mod.ir("e", stage="ad")
    return ad.split(" = for ")[1].split(" {")[0].split(" : ")[-1]


def per_element(text: str, backend: str = "native"):
    """compile_source as it would be without this pass: the loops per element (the
    cache key hashes the IR, so this compile cannot stand in for the other)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(driver, "derivative_passes", lambda: [InlineCalls(), AutoDiff()])
        return compile_source(text, backend=backend)


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_values_are_the_same_bits_as_per_element(name):
    # the same ops on the same values, in native code and in the interpreter
    text = with_gradient(name)
    mod, before = compile_source(text), per_element(text)
    assert carried_type(mod).startswith("f64[n")
    assert carried_type(before).startswith("f64,") or carried_type(before) == "f64"
    for n in (0, 1, 5):
        x = arguments(name, n)
        for s in (0, 1, 7):
            np.testing.assert_array_equal(mod.e(x, s), before.e(x, s), strict=True)
            np.testing.assert_array_equal(mod.interpreter.run("e", [x, s]),
                                          before.interpreter.run("e", [x, s]), strict=True)


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_gradients_agree_with_the_per_element_derivative(name):
    text = with_gradient(name)
    for backend in ("native", "interp"):
        mod, before = compile_source(text, backend=backend), per_element(text, backend)
        for n in (0, 1, 5):
            x = arguments(name, n)
            for s in (0, 1, 7):
                np.testing.assert_allclose(mod.g(x, s), before.g(x, s), rtol=1e-13, atol=1e-15)


def test_forward_mode_agrees_with_the_per_element_derivative():
    text = with_gradient("coupled") + """
def tangent(x: f64[n], dx: f64[n], s: i64) -> f64:
    value, t = jvp(f, wrt=x)(x, s, dx)
    return t
"""
    mod, before = compile_source(text), per_element(text)
    x = arguments("coupled")
    dx = np.linspace(-1.0, 1.0, len(x))
    assert mod.tangent(x, dx, 9) == pytest.approx(before.tangent(x, dx, 9), rel=1e-13)


ERRING = """
def e(x: f64[n], t: f64[m], s: i64) -> f64[n]:
    return [walk(x, t, i, s) for i in range(n)]

def walk(x: f64[n], t: f64[m], i: i64, s: i64) -> f64:
    y = x[i]
    for k in range(s):
        y = y * 0.5 + t[i]
    return y
"""


@pytest.mark.parametrize("backend", ["native", "interp"])
def test_an_error_in_the_loop_is_the_error_per_element_raised(backend):
    # t is shorter than x: element 3 reads past its end in the first step
    x, t = np.ones(5), np.ones(3)
    mod, before = compile_source(ERRING, backend=backend), per_element(ERRING, backend)
    assert carried_type(mod) == "f64[n]" and carried_type(before) == "f64"
    with pytest.raises(IndexError) as now:
        mod.e(x, t, 4)
    with pytest.raises(IndexError) as then:
        before.e(x, t, 4)
    assert str(now.value) == str(then.value)
    assert "index 3 is out of bounds for axis 0 of t with size 3" in str(now.value)
    np.testing.assert_array_equal(mod.e(x, t, 0), x)  # no step, no read of t


# Random step bodies: up to three carried values (u, v, c), reassigned from expressions of
# themselves, the element's own values (a, b, i), the step k and constants, squashed by
# tanh so that no run overflows; sometimes under an `if` that assigns two of them.
LEAVES = ["u", "v", "a", "b", "float(k)", "float(i)", "0.5", "1.5", "float(c)"]


@st.composite
def expressions(draw, depth: int = 2, leaves: tuple = tuple(LEAVES)) -> str:
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        return draw(st.sampled_from(leaves))
    left, right = draw(expressions(depth - 1, leaves)), draw(expressions(depth - 1, leaves))
    form = draw(st.sampled_from(["({} + {})", "({} * {})", "({} - {})", "sin({} + {})",
                                 "({} / (1.0 + {} * {}))"]))
    return form.format(left, right, right) if form.count("{}") == 3 else form.format(left, right)


@st.composite
def step_bodies(draw) -> list[str]:
    lines = []
    for _ in range(draw(st.integers(1, 3))):
        target = draw(st.sampled_from(["u", "v", "w"]))
        if draw(st.integers(0, 3)) == 0:
            lines += [f"if {draw(expressions(1))} > 0.0:",
                      f"    u = tanh({draw(expressions())})",
                      "    c = c + 1",
                      "else:",
                      f"    v = tanh({draw(expressions())})"]
        else:
            lines.append(f"{target} = tanh({draw(expressions())})")
            if target == "w":
                lines.append("u = 0.5 * u + 0.25 * w")
    return lines


@st.composite
def element_loops(draw) -> str:
    body = "\n".join("        " + line for line in draw(step_bodies()))
    result = draw(expressions(1, tuple(v for v in LEAVES if "k" not in v)))  # k: the loop's
    return f"""
def e(x: f64[n], t: f64[n], s: i64) -> f64[n]:
    return [walk(x[i], t[i], i, s) for i in range(n)]

def walk(a: f64, b: f64, i: i64, s: i64) -> f64:
    u = a
    v = b
    c = 0
    for k in range(s):
{body}
    return {result} + u + v

def f(x: f64[n], t: f64[n], s: i64) -> f64:
    return sum(e(x, t, s))

def g(x: f64[n], t: f64[n], s: i64) -> (f64[n], f64[n]):
    return grad(f, wrt=(x, t))(x, t, s)
"""


@settings(max_examples=25, deadline=None)
@given(element_loops(), st.integers(0, 6), st.integers(0, 5), st.integers(0, 2**32 - 1))
def test_random_step_bodies_agree_with_per_element(text, n, s, seed):
    mod, before = compile_source(text), per_element(text)
    assert carried_type(mod).startswith("f64[n]")
    rng = np.random.default_rng(seed)
    x, t = rng.uniform(-2.0, 2.0, n), rng.uniform(-2.0, 2.0, n)
    np.testing.assert_array_equal(mod.e(x, t, s), before.e(x, t, s), strict=True)
    for now, then in zip(mod.g(x, t, s), before.g(x, t, s)):
        np.testing.assert_allclose(now, then, rtol=1e-11, atol=1e-13)


def test_an_if_that_only_checks_keeps_the_body_per_element():
    # an `if` of no results (its branches assert) would have no wrapper to run it in
    source = BEFORE.replace(
        "      %y.2 = sub %y.1, %7 : f64\n",
        "      %y.2 = sub %y.1, %7 : f64\n"
        "      %9 = lt %y.2, %a : bool\n"
        "      if %9 {\n"
        "        %10 = const false : bool\n"
        "        assert %10 {message = \"y fell below a\"}\n"
        "        yield\n"
        "      } {\n"
        "        yield\n"
        "      }\n")
    assert interchanged(source) == ir.print_module(ir.parse_module(source))
