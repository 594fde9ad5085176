"""A slice is a syntax error whose advice is the slice written in .dp: compiled and run,
the advised comprehension (or row) gives what NumPy's slice of the same array gives."""

import numpy as np
import pytest

from compiler import SyntaxErrorDP, compile_source

# (slice as written, the array's type, the advice after "slices are not supported; ")
ADVICE = [
    ("x[1:]", "f64[n]", "build the part with a comprehension: [x[i] for i in range(1, n)]"),
    ("x[:3]", "f64[n]", "build the part with a comprehension: [x[i] for i in range(min(3, n))]"),
    ("x[1:10]", "f64[5]", "build the part with a comprehension: [x[i] for i in range(1, 5)]"),
    ("x[1:4]", "f64[5]", "build the part with a comprehension: [x[i] for i in range(1, 4)]"),
    ("x[-3:]", "f64[n]",
     "build the part with a comprehension: [x[i] for i in range(max(n - 3, 0), n)]"),
    ("x[:-1]", "f64[n]", "build the part with a comprehension: [x[i] for i in range(n - 1)]"),
    ("x[::-1]", "f64[n]", "build the part with a comprehension: [x[n - 1 - i] for i in range(n)]"),
    ("x[::-2]", "f64[n]",
     "build the part with a comprehension: [x[n - 1 - 2 * i] for i in range((n + 1) // 2)]"),
    ("x[-5::2]", "f64[n]",
     "build the part with a comprehension: [x[max(n - 5, 0) + 2 * i] for i in "
     "range((n - (max(n - 5, 0)) + 1) // 2)]"),
    ("x[::2]", "f64[n]",
     "build the part with a comprehension: [x[2 * i] for i in range((n + 1) // 2)]"),
    ("x[5::2]", "f64[n]",
     "build the part with a comprehension: [x[5 + 2 * i] for i in range((n - 4) // 2)]"),
    ("x[1:6:3]", "f64[n]",
     "build the part with a comprehension: [x[1 + 3 * i] for i in range((min(6, n) + 1) // 3)]"),
    ("x[:]", "f64[n]", "write x itself: arrays are values, and y = x is already a copy"),
    ("x[:, 0]", "f64[n, m]", "build the part with a comprehension: [x[i, 0] for i in range(n)]"),
    ("x[1, :]", "f64[n, m]", "index the row instead: x[1]"),
    ("x[1:, 2:]", "f64[n, m]", "build the part with a comprehension: "
     "[[x[i, j] for j in range(2, m)] for i in range(1, n)]"),
    ("x[:, 1]", "f64[?, 4]", "build the part with a comprehension: [x[i, 1] for i in range(len(x))]"),
    ("x[0, 1:]", "f64[?, ?]",
     "build the part with a comprehension: [x[0, i] for i in range(1, len(x[0]))]"),
]


def advice_for(written: str, array_type: str) -> str:
    source = f"def f(x: {array_type}) -> f64:\n    return sum({written})\n"
    with pytest.raises(SyntaxErrorDP) as err:
        compile_source(source)
    assert (err.value.line, err.value.col) == (2, 16 + written.index(":"))
    prefix = "slices are not supported; "
    assert err.value.message.startswith(prefix)
    return err.value.message[len(prefix):]


@pytest.mark.parametrize("written, array_type, advice", ADVICE, ids=[a[0] for a in ADVICE])
def test_the_advice_computes_the_slice(written, array_type, advice):
    assert advice_for(written, array_type) == advice
    code = "x" if advice.startswith("write x itself") else advice.split(": ", 1)[1]
    shape = {"f64[n]": (8,), "f64[5]": (5,)}.get(array_type, (5, 4))
    x = np.arange(float(np.prod(shape))).reshape(shape) + 1.0
    expected = eval(written, {"x": x})
    result_type = "f64[" + ", ".join("?" * expected.ndim) + "]"
    module = compile_source(f"def g(x: {array_type}) -> {result_type}:\n    return {code}\n")
    np.testing.assert_array_equal(module.g(x), expected)


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, 6, 7])
def test_a_stepped_slice_is_empty_where_numpy_s_is(n):
    """(n - 4) // 2 is negative for n < 4: range of it is empty, as x[5::2] is."""
    module = compile_source("def g(x: f64[n]) -> f64[?]:\n"
                            "    return [x[5 + 2 * i] for i in range((n - 4) // 2)]\n")
    x = np.arange(float(n))
    np.testing.assert_array_equal(module.g(x), x[5::2])


@pytest.mark.parametrize("written", ["x[-3:]", "x[-5::2]", "x[::-2]", "x[::-3]", "x[:-2]",
                                     "x[:3]", "x[2:6]", "x[1:6:3]", "x[9:12]"])
def test_the_advice_computes_the_slice_for_every_length(written):
    """Also where the slice's start lies before the first element, or its stop after the
    last, which NumPy clips (range(3) of two elements raised IndexError)."""
    code = advice_for(written, "f64[n]").split(": ", 1)[1]
    module = compile_source(f"def g(x: f64[n]) -> f64[?]:\n    return {code}\n")
    for n in range(8):
        x = np.arange(float(n)) + 1.0
        np.testing.assert_array_equal(module.g(x), eval(written, {"x": x}))


def test_an_assigned_slice_is_advised_as_a_loop_over_its_axes():
    source = ("def f(x: f64[n, m]) -> f64:\n    x[1:, :] = 0.0\n"
              "    return 1.0\n")
    with pytest.raises(SyntaxErrorDP) as err:
        compile_source(source)
    assert err.value.message == (
        "slices are not supported; assign the elements in nested loops over i in range(1, n), "
        "j in range(m), one element at a time: x[i, j] = ...")


def test_loop_variables_are_not_names_the_function_uses():
    source = ("def f(x: f64[n], i: i64) -> f64:\n    j = 2 * i\n    s = sum(x[j:])\n"
              "    k = s\n    return k\n\ndef g(l: f64) -> f64:\n    return l\n")
    with pytest.raises(SyntaxErrorDP) as err:
        compile_source(source)
    assert err.value.message == ("slices are not supported; build the part with a "
                                 "comprehension: [x[l] for l in range(j, n)]")


GENERAL = ("slices are not supported; index one element or a row (x[i]), or build the part "
           "with a comprehension over the indices you want, as [x[i] for i in range(1, n)] "
           "does for x[1:]")


@pytest.mark.parametrize("body", ["return sum(exp(x)[1:])", "return sum(x.T[1:])",
                                  "return sum(x[::x[1]])", "return sum(x[3:1:-1])",
                                  "return sum(x[-k:])", "return sum(x[:-k])",
                                  "return sum(x[k:-k])", "return sum(x[-(k):])",
                                  "return sum(x[:, 0])", "return sum(x[1:2, 3])",
                                  "return sum(x[:,])", "return sum(x[1.0:])"])
def test_what_cannot_be_rewritten_gets_the_general_advice(body):
    """A subscript of an expression or an attribute, a step that is not a literal, or a
    negative one with bounds; a bound -k, which counts from the end only when k > 0 (x[-k:]
    is all of x for k = 0); more indices than x has axes, an empty one, a float: no
    comprehension is made up."""
    with pytest.raises(SyntaxErrorDP) as err:
        compile_source(f"def f(x: f64[n], k: i64) -> f64:\n    {body}\n")
    assert err.value.message == GENERAL
