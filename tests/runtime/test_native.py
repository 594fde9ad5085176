"""The native backend: agrees with the interpreter, raises clear errors without crashing,
does not leak, and runs from several threads at once."""

import collections
import ctypes
import fractions
import os
import pickle
import platform
import re
import signal
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest

import runtime.jit
from compiler import compile_file, compile_source
from ir import (AssertionErrorDP, IndexErrorDP, MemoryErrorDP, ShapeErrorDP, ValueErrorDP,
                ZeroDivisionErrorDP, parse_module, walk_ops)
from programs import NEWTON
from reference import EXAMPLES, make_inputs

ROOT = Path(__file__).parents[2] / "examples"
PROJECT = ROOT.parent


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_examples_agree_with_interpreter(name):
    filename, fn, _ = EXAMPLES[name]
    mod = compile_file(ROOT / filename)
    assert mod._native is not None
    for seed in range(3):
        args = make_inputs(name, "small", seed)
        np.testing.assert_allclose(mod.run(fn, *args), mod.interpreter.run(fn, list(args)),
                                   rtol=1e-12, atol=1e-300)


def test_integers_agree_exactly():
    source = ("def f(a: i64, b: i64) -> (i64, i64, i64, i64):\n"
              "    return a // b, a % b, a ** 3, -a * b + abs(a) * sign(b)\n")
    mod = compile_source(source)
    for a in (-7, 0, 7, 2**62, -2**63):
        for b in (-3, -1, 1, 5):
            assert mod.f(a, b) == mod.interpreter.run("f", [a, b]), (a, b)


def test_inf_minus_inf_is_nan_quietly_in_both_backends():
    # NumPy warns on inf - inf inside a reduction; the interpreter ran such sums with its
    # warnings on, so under `-W error` it raised where native code returns NaN
    source = ("def parts(x: f64[n]) -> (f64, f64, f64, f64):\n"
              "    big = x * 1e308 * 10.0\n"
              "    y = zeros(n)\n"
              "    y[0] += big[0]\n"
              "    y[0] += big[1]\n"
              "    return sum(big), mean(big), sum(big[i] for i in range(n)), y[0]\n\n"
              "def total(x: f64[n]) -> f64:\n"
              "    a, b, c, d = parts(x)\n"
              "    return a + b + c + d\n")
    x = np.array([1.0, -1.0])
    results = {}
    for backend in ("interp", "native"):
        mod = compile_source(source, backend=backend)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            results[backend] = (mod.run("parts", x), mod.grad("total")(x))
    assert np.isnan(results["interp"][0]).all()
    for got, want in zip(results["interp"], results["native"]):
        assert np.array_equal(got, want, equal_nan=True), (got, want)


def test_float_modulo_and_sign_agree_with_numpy_to_the_sign_of_zero():
    mod = compile_source("def f(a: f64, b: f64) -> (f64, f64):\n    return a % b, sign(a)\n")
    inf, nan = float("inf"), float("nan")
    for a in (0.0, -0.0, 4.0, -4.0, 5.0, -5.0, 7.5, -7.5, inf, nan):
        for b in (2.0, -2.0, inf, -inf, 0.0):
            got = np.array(mod.f(a, b))
            with np.errstate(all="ignore"):  # x % 0.0 is NaN, quietly, as in native code
                want = np.array([np.mod(a, b), np.sign(a)])
            assert np.array_equal(got, want, equal_nan=True), (a, b, got, want)
            signs = np.signbit(got) == np.signbit(want)
            assert (signs | np.isnan(want)).all(), (a, b, got, want)  # a NaN's sign: any


def test_square_root_powers_are_c_pow_in_both_backends_and_in_folded_constants():
    # NumPy's power with a scalar exponent 0.5 is sqrt: sqrt(-inf) is nan and sqrt(-0.0)
    # is -0.0, where C's pow (native code) gives inf and 0.0.
    source = ("def arr(x: f64[n]) -> f64[n]:\n    return x ** 0.5\n"
              "def one(x: f64) -> f64:\n    return pow(x, 0.5)\n"
              "def folded() -> f64:\n    return (-0.0) ** 0.5\n")
    x = np.array([-np.inf, -0.0, 4.0])
    for mod in (compile_source(source), compile_source(source, backend="interp")):
        got = [*mod.arr(x), mod.one(-np.inf), mod.one(-0.0), mod.folded()]
        assert got == [np.inf, 0.0, 2.0, np.inf, 0.0, 0.0]
        assert not np.signbit(got).any()


ERRORS = """\
def at(x: f64[n], i: i64) -> f64:
    return x[i]

def check(x: f64) -> f64:
    assert x > 0.0, "x must be positive"
    return x

def div(a: i64, b: i64) -> i64:
    return a // b

def pair(x: f64[n], y: f64[n]) -> f64:
    return dot(x, y)

def mat(a: f64[2, 3]) -> f64:
    return sum(a)

def ints(k: i64[n]) -> i64:
    return sum(k)
"""


@pytest.fixture(scope="module")
def errors_module():
    return compile_source(ERRORS, name="errors.dp")


def test_out_of_bounds(errors_module):
    with pytest.raises(IndexErrorDP) as err:
        errors_module.at(np.ones(3), 3)
    assert str(err.value) == "index 3 is out of bounds for axis 0 of x with size 3 (at errors.dp:2:13)"
    with pytest.raises(IndexError):
        errors_module.at(np.ones(3), -4)
    assert errors_module.at(np.arange(3.0), -1) == 2.0


def test_failed_assert(errors_module):
    with pytest.raises(AssertionErrorDP) as err:
        errors_module.check(-1.0)
    assert str(err.value) == "x must be positive (at errors.dp:5:5)"


def test_integer_division_by_zero(errors_module):
    with pytest.raises(ZeroDivisionErrorDP) as err:
        errors_module.div(1, 0)
    assert str(err.value) == "integer division by zero (at errors.dp:9:14)"


def test_wrong_dtype(errors_module):
    with pytest.raises(ValueErrorDP) as err:
        errors_module.ints(np.ones(3))
    assert str(err.value) == ("argument k must be i64[n], got an array of dtype float64 "
                              "(convert it explicitly if that is intended)")
    with pytest.raises(ValueErrorDP) as err:
        errors_module.div(1.5, 2)
    assert str(err.value) == "argument a must be i64, got float 1.5"
    for array in ([1], np.ones(2, dtype=np.int64)):  # the array was printed whole
        with pytest.raises(ValueErrorDP) as err:
            errors_module.div(array, 2)
        assert str(err.value) == "argument a is a single i64, not an array"
    # a safe conversion is done once: integers for a float array
    assert errors_module.pair(np.arange(3), np.ones(3)) == 3.0


def test_an_empty_list_is_an_empty_integer_array(errors_module):
    # NumPy reads [] as float64, which an i64[n] parameter refused: a list of no numbers
    # has nothing to lose; an empty float64 array is still refused, as any float64 array
    assert errors_module.ints([]) == 0
    with pytest.raises(ValueErrorDP) as err:
        errors_module.ints(np.ones(0))
    assert str(err.value) == ("argument k must be i64[n], got an array of dtype float64 "
                              "(convert it explicitly if that is intended)")


@pytest.mark.parametrize("backend", ["native", "interp"])
def test_a_masked_array_is_refused(backend):
    # the interpreter would honour the mask, native code read what lies under it
    mod = compile_source(ERRORS, name="errors.dp", backend=backend)
    x = np.ma.array([1.0, 2.0, 3.0], mask=[0, 1, 0])
    with pytest.raises(ValueErrorDP) as err:
        mod.pair(x, np.ones(3))
    assert str(err.value) == ("argument x is a masked array, and dpc reads every element: "
                              "pass x.filled(value), or np.asarray(x) to drop the mask")


@pytest.mark.parametrize("backend", ["native", "interp"])
def test_a_float_wider_than_f64_is_refused(backend):
    # np.longdouble (float128 on x86 Linux) was rounded to float64 without a word, losing
    # the digits it was chosen for (JAX refuses it too); float32 and integers still widen
    if np.finfo(np.longdouble).nmant <= np.finfo(np.float64).nmant:
        pytest.skip("np.longdouble is a double on this platform")
    mod = compile_source(ERRORS, name="errors.dp", backend=backend)
    wide = np.full(3, np.longdouble(1) / 3)
    kind = f"an array of dtype {wide.dtype}, more precise than f64"
    for call, message in [
            (lambda: mod.pair(wide, np.ones(3)),
             f"argument x must be f64[n], got {kind}: pass x.astype(np.float64) to round it"),
            (lambda: mod.pair(np.ones(3), list(wide)),
             f"argument y must be f64[n], got {kind}: pass np.asarray(y, dtype=np.float64) to "
             f"round it"),
            (lambda: mod.check(wide[0]),
             f"argument x must be f64, got longdouble {wide[0]!r}, more precise than f64: pass "
             f"float(x) to round it"),
            (lambda: mod.check(np.array(wide[0])),
             f"argument x must be f64, got longdouble {wide[0]!r}, more precise than f64: pass "
             f"float(x) to round it")]:
        with pytest.raises(ValueErrorDP) as err:
            call()
        assert str(err.value) == message
    assert mod.pair(wide.astype(np.float64), np.full(3, 3.0)) == 3.0
    assert mod.pair(np.ones(3, dtype=np.float32), np.arange(3)) == 3.0
    assert mod.check(float(wide[0])) == 1 / 3


@pytest.mark.parametrize("backend", ["native", "interp"])
def test_an_integer_for_an_f64_is_rounded_unless_no_f64_holds_it(backend):
    # as NumPy converts: np.float64(2**70), np.array([2**64 - 1]).astype(np.float64)
    mod = compile_source(ERRORS, name="errors.dp", backend=backend)
    assert mod.check(2 ** 70) == 2.0 ** 70
    big = np.array([2 ** 64 - 1, 3], dtype=np.uint64)
    assert mod.pair(big, np.array([1.0, 0.0])) == 2.0 ** 64
    with pytest.raises(ValueErrorDP) as err:
        mod.check(2 ** 1100)
    assert str(err.value) == "argument x is an int of 332 digits, too large for f64"
    with pytest.raises(ValueErrorDP) as err:  # said "an int of 403 digits": the Fraction's text
        mod.check(fractions.Fraction(10 ** 400, 3))
    assert str(err.value) == "argument x is a Fraction too large for f64"


@pytest.mark.parametrize("backend", ["native", "interp"])
def test_a_number_for_an_array_is_named_so(backend):
    # said "got an array of rank 0 with shape ()"
    mod = compile_source(ERRORS, name="errors.dp", backend=backend)
    with pytest.raises(ShapeErrorDP) as err:
        mod.pair(3.0, np.array([1.0, 0.0]))
    assert str(err.value) == "argument x must be f64[n] (rank 1), got a single float, 3.0"
    with pytest.raises(ShapeErrorDP) as err:
        mod.pair(np.float64(2.5), np.array([1.0, 0.0]))
    assert str(err.value) == "argument x must be f64[n] (rank 1), got a single float64, 2.5"


@pytest.mark.parametrize("backend", ["native", "interp"])
def test_arguments_by_keyword(backend):
    mod = compile_source(ERRORS, name="errors.dp", backend=backend)
    assert mod.div(7, b=2) == mod.div(b=2, a=7) == mod.run("div", a=7, b=2) == 3
    x = np.array([1.0, 2.0, 3.0])
    assert mod.grad("pair", wrt="y")(x, y=-x).tolist() == [1.0, 2.0, 3.0]
    for call, message in [
            (lambda: mod.div(7, c=2), "div() has no parameter 'c' (its parameters are a, b)"),
            (lambda: mod.div(7, a=2), "div() got parameter 'a' twice"),
            (lambda: mod.div(b=2), "div() takes 2 arguments (a, b), 1 given: a missing"),
            (lambda: mod.div(7, 2, 3, b=1), "div() takes 2 arguments (a, b), 4 given")]:
        with pytest.raises(ValueErrorDP) as err:
            call()
        assert str(err.value) == message


EMPTY_ROWS = """def rows(x: f64[n, m], k: i64) -> f64[?, m]:
    return [x[i % n] for i in range(k)]

def column_sums(x: f64[n, m], k: i64) -> f64[m]:
    y = [x[i % n] for i in range(k)]
    return sum(y, axis=0) + x[0]

def weighted(x: f64[n, m], k: i64) -> f64:
    y = [x[i % n] for i in range(k)]
    return sum(sum(y, axis=0) * x[0])

def grid(n: i64, m: i64) -> f64[?, ?]:
    return [[float(i * 10 + j) for j in range(m)] for i in range(n)]
"""


@pytest.mark.parametrize("backend", ["native", "interp"])
def test_a_comprehension_of_rows_that_runs_no_iteration(backend):
    # no row has run: the rows' sizes are those the type names (m here), 0 along a `?`,
    # in both backends and whether or not rows are built in place
    mod = compile_source(EMPTY_ROWS, name="rows.dp", backend=backend)
    x = np.arange(6.0).reshape(2, 3)
    assert mod.rows(x, 0).shape == (0, 3)
    assert mod.column_sums(x, 0).tolist() == [0.0, 1.0, 2.0]
    assert mod.grad("weighted", wrt="x")(x, 0).tolist() == [[0.0] * 3] * 2
    assert mod.grid(0, 2).shape == (0, 0)
    assert mod.grid(2, 0).shape == (2, 0)
    assert mod.grid(2, 2).tolist() == [[0.0, 1.0], [10.0, 11.0]]


KEYWORDS = """def h(self: f64, name: f64, fn: f64, args: f64, kwargs: f64) -> f64:
    return self + 2.0 * name + 3.0 * fn + 4.0 * args + 5.0 * kwargs

def cube(x: f64) -> f64:
    return x * x * x
"""


@pytest.mark.parametrize("backend", ["native", "interp"])
def test_a_function_without_parameters_says_it_takes_none(backend):
    # said "one() takes 0 arguments (), 1 given" and "(its parameters are )"
    mod = compile_source("def one() -> f64:\n    return 1.0\n", backend=backend)
    assert mod.one() == 1.0
    for call, message in [(lambda: mod.one(2.0), "one() takes no arguments, 1 given"),
                          (lambda: mod.one(a=2.0), "one() has no parameter 'a' (it has no "
                                                   "parameters)")]:
        with pytest.raises(ValueErrorDP) as err:
            call()
        assert str(err.value) == message


@pytest.mark.parametrize("backend", ["native", "interp"])
def test_keywords_named_like_the_wrapper_s_own_parameters_reach_the_function(backend):
    mod = compile_source(KEYWORDS, backend=backend)
    given = dict(self=1.0, name=2.0, fn=3.0, args=4.0, kwargs=5.0)
    assert mod.h(**given) == mod.run("h", **given) == mod.h(1.0, 2.0, 3.0, 4.0, 5.0) == 55.0
    assert mod.hessian("h", wrt="name")(**given) == 0.0
    assert mod.jacobian("h", wrt="fn")(**given) == 3.0
    # jvp(jvp(cube)) has two tangents of x: the second is t_x_2, so each has a name
    twice = mod.jvp(mod.jvp("cube"))
    assert twice.signature == ("cube.jvp.jvp(x: f64, t_x: f64, t_x_2: f64, t_t_x: f64) -> "
                               "(f64, f64, f64, f64)")
    assert twice(2.0, t_x=1.0, t_x_2=1.0, t_t_x=0.0)[-1] == 12.0  # d2/dx2 of x^3 at 2
    with pytest.raises(ValueErrorDP) as err:
        twice(2.0, t_x=1.0, t_t_x=0.0)
    assert str(err.value) == ("cube.jvp.jvp() takes 4 arguments (x, t_x, t_x_2, t_t_x), 3 "
                              "given: t_x_2 missing")


@pytest.mark.parametrize("backend", ["native", "interp"])
def test_integers_outside_i64_are_refused(errors_module, backend):
    # ctypes and NumPy's uint64 -> int64 cast wrap such values around without a word
    mod = errors_module if backend == "native" else compile_source(ERRORS, backend="interp")
    for big in (2**63, 2**64 + 5, np.uint64(2**63), -2**63 - 1):
        with pytest.raises(ValueErrorDP) as err:
            mod.div(big, 1)
        assert str(err.value) == (f"argument a is {int(big)}, outside the range of i64 "
                                  f"([-2**63, 2**63 - 1])")
    assert mod.div(-2**63, -2**63) == 1 and mod.div(np.uint64(2**63 - 1), 1) == 2**63 - 1
    with pytest.raises(ValueErrorDP) as err:
        mod.ints(np.array([1, 2**63], dtype=np.uint64))
    assert str(err.value) == ("argument k's largest element is 9223372036854775808, outside "
                              "the range of i64 ([-2**63, 2**63 - 1])")
    assert mod.ints(np.array([1, 2**62], dtype=np.uint64)) == 2**62 + 1
    # a list NumPy keeps as Python objects: it was 'must be i64[n], got list [...]'
    with pytest.raises(ValueErrorDP) as err:
        mod.ints([1, -2**63 - 1])
    assert str(err.value) == ("argument k's element is -9223372036854775809, outside the "
                              "range of i64 ([-2**63, 2**63 - 1])")
    # NumPy makes [2**63, 1] float64 (no integer type holds both): it was refused as that
    for ints in ([2**63, 1], [[1], [-2**63 - 1]]):
        with pytest.raises(ValueErrorDP) as err:
            mod.ints(ints)
        big = 2**63 if ints[0] == 2**63 else -2**63 - 1
        assert str(err.value) == (f"argument k's element is {big}, outside the range of i64 "
                                  f"([-2**63, 2**63 - 1])")
    with pytest.raises(ValueErrorDP) as err:
        mod.ints([2.0**63, 1])
    assert str(err.value) == ("argument k must be i64[n], got an array of dtype float64 "
                              "(convert it explicitly if that is intended)")


@pytest.mark.parametrize("backend", ["native", "interp"])
def test_array_results_are_new_arrays(backend):
    # value semantics: writing into a result changes neither an argument nor another result
    mod = compile_source("def ident(x: f64[n]) -> f64[n]:\n    return x\n\n"
                         "def twice(x: f64[n]) -> (f64[n], f64[n]):\n    y = x * 2.0\n"
                         "    return y, y\n", backend=backend)
    x = np.arange(3.0)
    y = mod.ident(x)
    y[0] = 99.0
    a, b = mod.twice(x)
    a[1] = -1.0
    assert x.tolist() == [0.0, 1.0, 2.0] and b.tolist() == [0.0, 2.0, 4.0]


def test_large_results_keep_their_native_buffer():
    # 64 KiB or more: the array is made on the buffer the native code filled, unlinked
    # from the call's list, so freeing the call's buffers (and later calls reusing the
    # memory) leave it alone; smaller results are copies
    mod = compile_source("def ident(x: f64[n]) -> f64[n]:\n    return x\n\n"
                         "def twice(x: f64[n]) -> (f64[n], f64[n]):\n    y = x * 2.0\n"
                         "    return y, y\n")
    x = np.arange(20_000.0)  # 160 KB
    a, b = mod.twice(x)
    kept = [mod.ident(x + k) for k in range(3)]
    for k in range(50):
        mod.twice(x + 1.0), mod.ident(x - k)
    assert type(a.base).__name__ == "ResultBuffer" and type(b.base).__name__ == "ResultBuffer"
    assert a.flags.writeable and a.flags.c_contiguous and a.dtype == np.float64
    a[0] = -1.0
    assert a[:3].tolist() == [-1.0, 2.0, 4.0] and b[:3].tolist() == [0.0, 2.0, 4.0]
    assert np.array_equal(b, 2.0 * x) and np.array_equal(a[1:], 2.0 * x[1:])
    assert all(np.array_equal(kept[k], x + k) for k in range(3))
    view = kept[1][5:8]
    del kept
    assert view.tolist() == [6.0, 7.0, 8.0]  # the buffer lives as long as a view of it
    assert mod.ident(np.arange(3.0)).base is None


def test_native_buffers_start_on_a_64_byte_boundary():
    # a vector of 8 doubles that spans two cache lines costs two loads or stores
    # (lower.py's ALIGN); large results are the native buffers themselves, so their
    # addresses show where dpc.alloc put the data
    mod = compile_source("def twice(x: f64[n]) -> (f64[n], f64[n]):\n    y = x * 2.0\n"
                         "    return y, [y[i] + 1.0 for i in range(n)]\n")
    for n in (8193, 9001, 10007, 20000):
        x = np.arange(float(n))
        a, b = mod.twice(x)
        assert type(a.base).__name__ == "ResultBuffer" and type(b.base).__name__ == "ResultBuffer"
        assert [r.__array_interface__["data"][0] % 64 for r in (a, b)] == [0, 0]
        assert np.array_equal(a, 2.0 * x) and np.array_equal(b, 2.0 * x + 1.0)
        del a, b  # freed through the block malloc gave, not the aligned data's header

def test_a_result_in_a_much_larger_buffer_is_copied():
    # the buffer of a result can be an earlier temporary's, reused: handed to NumPy, the
    # whole of it would stay alive with the result; dpc_take_result (native) refuses it,
    # and one not linked in the call's list, and unlinks the one it takes
    from runtime.lower import HEADER
    take = compile_source("def f(x: f64) -> f64:\n    return x\n")._native.take_result
    memory = (ctypes.c_int64 * (2 + HEADER // 8 + 16))()  # a call's list head, one buffer
    ctx, head = ctypes.addressof(memory), ctypes.addressof(memory) + 16
    memory[0] = memory[1] = head  # ctx <-> head, a ring of two
    memory[2] = memory[3] = ctx
    memory[4] = 128  # the buffer's capacity in bytes
    memory[5] = 4096  # the block malloc gave
    data = head + HEADER
    assert take(data, 63) is None and list(memory[:4]) == [head, head, ctx, ctx]
    assert take(data, 64) == 4096 and list(memory[:2]) == [ctx, ctx]  # unlinked
    assert take(data, 128) is None  # no longer linked in the list (a result taken once)
    memory[0] = memory[1] = head
    assert take(data, 128) == 4096


def test_wrong_rank(errors_module):
    with pytest.raises(ShapeErrorDP) as err:
        errors_module.at(np.ones((2, 2)), 0)
    assert str(err.value) == ("argument x must be f64[n] (rank 1), got an array of rank 2 "
                              "with shape (2, 2)")


def test_mismatched_dimensions(errors_module):
    with pytest.raises(ShapeErrorDP) as err:
        errors_module.pair(np.ones(3), np.ones(4))
    assert str(err.value) == "argument y: dimension n is 4 here but 3 in argument x"
    square = compile_source("def trace(a: f64[n, n]) -> f64:\n    return sum(a)\n")
    with pytest.raises(ShapeErrorDP) as err:  # it was '... but 2 in argument a', a itself
        square.trace(np.ones((2, 3)))
    assert str(err.value) == ("argument a must be f64[n, n]: dimension n is 3 on axis 1 "
                              "but 2 on axis 0")
    with pytest.raises(ShapeErrorDP) as err:
        errors_module.mat(np.ones((3, 3)))
    assert str(err.value) == "argument a must be f64[2, 3]: axis 0 has size 3, not 2"


def test_non_contiguous_input_is_converted_once(errors_module):
    a = np.arange(12.0).reshape(3, 4)
    column = a[:, 1]
    assert not column.flags.c_contiguous
    assert errors_module.pair(column, column) == float(column @ column)
    assert errors_module.mat(a[:2, :3]) == float(a[:2, :3].sum())


def resident_kib() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4


def test_no_native_memory_growth_over_many_calls():
    source = ("def f(x: f64[n]) -> f64:\n"
              "    y = zeros(n)\n"
              "    for i in range(n):\n"
              "        y[i] = x[i] * 2.0\n"
              "    z = [y[i] + 1.0 for i in range(n)]\n"
              "    return sum(exp(z - max(z)))\n\n"
              "def g(x: f64[n]) -> f64[n]:\n"
              "    return x * 2.0\n\n"
              "def bad(x: f64[n]) -> f64:\n"
              "    y = x * 2.0\n"
              "    return y[n]\n")
    mod = compile_source(source)
    x = np.linspace(0.0, 1.0, 1000)
    for _ in range(2000):  # warm up allocator pools
        mod.f(x), mod.g(x)
    before = resident_kib()
    for _ in range(100_000):
        mod.f(x)
    for _ in range(20_000):
        mod.g(x)
        with pytest.raises(IndexErrorDP):
            mod.bad(x)  # the error path frees its temporaries too
    growth = resident_kib() - before
    # each call allocates about 16 KiB; a leak would show hundreds of MiB
    assert growth < 8 * 1024, f"resident memory grew by {growth} KiB"


def test_calls_from_four_threads_at_once():
    mod = compile_file(ROOT / "gmm.dp")
    inputs = [make_inputs("gmm", "small", seed) for seed in range(4)]
    expected = [mod.gmm(*args) for args in inputs]
    results = [[None] * 50 for _ in range(4)]

    def work(k):
        for r in range(50):
            results[k][r] = mod.gmm(*inputs[k])

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(4):
        assert all(v == expected[k] for v in results[k])


@pytest.mark.parametrize("size", [4, 20_000])  # results copied, and handed over whole
def test_a_call_made_while_another_of_the_same_function_is_unfinished_has_its_own_results(
        monkeypatch, size):
    # a signal handler, finalizer or trace hook may call the function again in the same
    # thread while the first call turns its results into arrays: the second call wrote
    # over the first's result slots and freed them, and the first returned its results
    mod = compile_source("def twice(x: f64[n]) -> (f64[n], f64[n]):\n"
                         "    y = x * 2.0\n    return y, y + 1.0\n")
    import runtime.jit
    convert, inner = runtime.jit.result, []

    def result_calling_again(*args):
        if not inner:
            inner.append(None)
            inner[0] = mod.twice(np.full(size, 1000.0))
        return convert(*args)

    monkeypatch.setattr(runtime.jit, "result", result_calling_again)
    x = np.arange(float(size))
    a, b = mod.twice(x)
    np.testing.assert_array_equal(a, 2.0 * x)
    np.testing.assert_array_equal(b, 2.0 * x + 1.0)
    np.testing.assert_array_equal(inner[0][0], np.full(size, 2000.0))
    np.testing.assert_array_equal(inner[0][1], np.full(size, 2001.0))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_child_forked_while_a_thread_compiles_can_compile(monkeypatch):
    # the child found llvmlite's lock held by the compiling thread, which it does not
    # have, and hung at its first LLVM call (9 of 10 forks): a fork pool's worker
    # unpickling a module never answered
    monkeypatch.setenv("DPC_CACHE", "0")
    stop = threading.Event()

    def compile_in_a_loop():
        k = 0
        while not stop.is_set():
            compile_source(f"def f(x: f64[n]) -> f64:\n    return sum(x) * {k}.0\n").f(np.ones(2))
            k += 1
    thread = threading.Thread(target=compile_in_a_loop)
    thread.start()
    codes = []
    try:
        for _ in range(5):
            with warnings.catch_warnings():  # Python 3.12+ warns of forking with threads
                warnings.simplefilter("ignore", DeprecationWarning)
                pid = os.fork()
            if pid == 0:
                signal.alarm(60)  # a hang ends the child by SIGALRM
                code = 1
                try:
                    code = 0 if compile_source("def g(x: f64) -> f64:\n    return 2.0 * x\n").g(
                        1.5) == 3.0 else 2
                finally:
                    os._exit(code)
            codes.append(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
    finally:
        stop.set()
        thread.join()
    assert codes == [0] * 5


def test_the_interpreter_runs_calls_from_several_threads_at_once():
    # each call's dimension sizes were the interpreter's one frame: a thread read another's
    # n, and range(n) indexed past its own arrays or gave results of the other's size
    mod = compile_source("def f(x: f64[n]) -> f64[n]:\n    y = zeros(n)\n"
                         "    for i in range(n):\n        y[i] = 2.0 * x[i]\n    return y\n",
                         backend="interp")
    wrong = []

    def work(k):
        for size in range(1, 40):
            x = np.arange(float(size + k))
            try:
                if mod.f(x).tolist() != (2.0 * x).tolist():
                    wrong.append((k, size))
            except IndexError as e:
                wrong.append(str(e))

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads between the interpreter's ops
    try:
        threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert wrong == []


@pytest.mark.parametrize("backend", ["native", "interp"])
def test_compiled_functions_pickle_for_other_processes(backend):
    # multiprocessing pickles what it sends a worker: it was "cannot pickle
    # '_thread._local' object", from the native call path's per-thread state
    mod = compile_file(ROOT / "lse.dp", backend=backend)
    x = np.array([1.0, 2.0, 3.0])
    for fn in (mod.lse, mod.grad("lse"), mod.specialize("lse", n=3), mod.hessian("lse")):
        again = pickle.loads(pickle.dumps(fn))
        assert np.array_equal(again(x), fn(x))
    assert pickle.loads(pickle.dumps(mod)).ir("lse") == mod.ir("lse")


def test_modules_and_dense_derivatives_say_what_they_are():
    # they printed as <compiler.driver.CompiledModule object at 0x...>
    mod = compile_file(ROOT / "lse.dp", backend="interp")
    assert repr(mod) == f"<dpc module {ROOT / 'lse.dp'} (interp): lse>"
    assert repr(mod.grad("lse").owner) == f"<dpc module {ROOT / 'lse.dp'} (interp): lse.grad>"
    assert repr(compile_source("", name="empty.dp")) == "<dpc module empty.dp: no functions>"
    assert (repr(mod.hessian("lse")), repr(mod.jacobian(mod.grad("lse")))) == (
        "<dpc hessian of lse>", "<dpc jacobian of lse.grad>")


INTERNAL_NAMES = ("root", "fixed", "optimize", "native", "checked", "derived", "target",
                  "pipeline", "scalarize")
NAMED_LIKE_INTERNALS = "".join(
    f"def {name}(x: f64) -> f64:\n    return x * {k}.0\n\n"
    for k, name in enumerate(INTERNAL_NAMES))


@pytest.mark.parametrize("backend", ["native", "interp"])
def test_functions_named_as_the_module_s_internals_are_its_attributes(backend):
    # mod.root was the module's own root (None), so a root finder named root could only
    # be called as mod.function("root"); the module's state and helpers have _names now
    mod = compile_source(NAMED_LIKE_INTERNALS, backend=backend)
    assert [getattr(mod, name)(2.0) for name in INTERNAL_NAMES] == [
        2.0 * k for k in range(len(INTERNAL_NAMES))]
    assert mod.grad("optimize")(1.0) == 2.0


DENSE = """def two(x: f64[n], y: f64[m, 2]) -> f64:
    return sum(x) * sum(y * y)

def pair(x: f64[n], y: f64) -> (f64[?], f64):
    return [x[i] * y for i in range(2)], y * y
"""


@pytest.mark.parametrize("backend", ["native", "interp"])
def test_dense_derivatives_describe_themselves_as_compiled_functions_do(backend):
    # mod.hessian and mod.jacobian had no .name or .signature, and a Jacobian's argument
    # errors named the function it was taken of: 'pair() takes 2 arguments (x, y), 1
    # given: y missing', where a Hessian's said 'two.hessian()'
    mod = compile_source(DENSE, backend=backend)
    hessian, jacobian = mod.hessian("two"), mod.jacobian("pair")
    assert (hessian.name, hessian.signature) == (
        "two.hessian", "two.hessian(x: f64[n], y: f64[m, 2]) -> ((f64[n, n], f64[n, m, 2]), "
                       "(f64[m, 2, n], f64[m, 2, m, 2]))")
    assert mod.hessian("two", wrt="x").signature == ("two.hessian.0(x: f64[n], y: f64[m, 2]) -> "
                                                     "f64[n, n]")
    assert (jacobian.name, jacobian.signature) == (
        "pair.jacobian", "pair.jacobian(x: f64[n], y: f64) -> ((f64[?, n], f64[?]), (f64[n], f64))")
    assert mod.jacobian("pair", wrt="y").signature == ("pair.jacobian.1(x: f64[n], y: f64) -> "
                                                       "(f64[?], f64)")
    x, y = np.ones(3), np.ones((1, 2))
    assert [[np.shape(b) for b in row] for row in hessian(x, y)] == [[(3, 3), (3, 1, 2)],
                                                                    [(1, 2, 3), (1, 2, 1, 2)]]
    assert [[np.shape(b) for b in row] for row in jacobian(x, 2.0)] == [[(2, 3), (2,)], [(3,), ()]]
    for call, message in [
            (lambda: jacobian(x), "pair.jacobian() takes 2 arguments (x, y), 1 given: y missing"),
            (lambda: jacobian(x, 2.0, 3.0), "pair.jacobian() takes 2 arguments (x, y), 3 given"),
            (lambda: jacobian(x, z=2.0), "pair.jacobian() has no parameter 'z' (its parameters "
                                         "are x, y)"),
            (lambda: mod.jacobian("pair", wrt="y")(y=1.0), "pair.jacobian.1() takes 2 arguments "
                                                           "(x, y), 1 given: x missing"),
            (lambda: hessian(x, x=x), "two.hessian() got parameter 'x' twice")]:
        with pytest.raises(ValueErrorDP) as err:
            call()
        assert str(err.value) == message


def test_loop_of_a_million_iterations():
    source = ("def f(n: i64) -> f64:\n    acc = 0.0\n    for i in range(n):\n"
              "        acc += 1.0 / float(i + 1)\n    return acc\n")
    assert compile_source(source).f(1_000_000) == pytest.approx(14.392726722864, rel=1e-12)


def test_llvm_and_asm_stages():
    mod = compile_source("def f(x: f64[n]) -> f64:\n    return sum(x * x)\n")
    assert "define" in mod.ir(stage="llvm") and "dpc_entry_f" in mod.ir(stage="llvm")
    assert "dpc_entry_f" in mod.ir(stage="asm")
    scalar = mod.ir("f", stage="scalar")
    assert "reduce" in scalar and "build" not in scalar  # x * x fused into the sum


def test_rows_keep_value_semantics():
    source = """\
def f(a: f64[n, m]) -> (f64[m], f64[n, m], f64[m], f64[m]):
    b = a * 1.0
    row = b[1]
    b[1, 0] = 100.0
    last = a[0]
    for i in range(n):
        last = a[i]
    c = b[0]
    c[0] = -1.0
    return row, b, last, c
"""
    mod = compile_source(source)
    a = np.arange(6.0).reshape(3, 2)
    row, b, last, c = mod.f(a)
    np.testing.assert_array_equal(row, [2.0, 3.0])  # read before the update
    np.testing.assert_array_equal(b, [[0.0, 1.0], [100.0, 3.0], [4.0, 5.0]])
    np.testing.assert_array_equal(last, [4.0, 5.0])
    np.testing.assert_array_equal(c, [-1.0, 1.0])  # b's row 0 itself is unchanged
    np.testing.assert_array_equal(a, np.arange(6.0).reshape(3, 2))
    for got, want in zip((row, b, last, c), mod.interpreter.run("f", [a])):
        np.testing.assert_array_equal(got, want)


def test_a_matrix_built_row_by_row_is_written_in_place():
    # exp(a) * b + c is `build { build { ... } }`: each element goes to its place in the
    # result, no row is made apart and copied (no memcpy at all in this function)
    source = ("def f(a: f64[n, m], b: f64[n, m], c: f64[m]) -> f64[n, m]:\n"
              "    return exp(a) * b + c\n")
    mod = compile_source(source)
    assert "memcpy" not in mod.ir("f", stage="llvm")
    rng = np.random.default_rng(0)
    a, b, c = rng.normal(size=(3, 5)), rng.normal(size=(3, 5)), rng.normal(size=5)
    np.testing.assert_allclose(mod.f(a, b, c), mod.interpreter.run("f", [a, b, c]), rtol=1e-15)
    np.testing.assert_allclose(mod.f(a, b, c), np.exp(a) * b + c, rtol=1e-15)
    assert mod.f(np.zeros((0, 5)), np.zeros((0, 5)), c).shape == (0, 5)
    assert mod.f(np.zeros((2, 0)), np.zeros((2, 0)), np.zeros(0)).shape == (2, 0)


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="x86 gathers")
def test_specialized_loops_are_not_vectorized_with_gathers():
    # With d known, LLVM unrolls the sum over r whole and vectorizes the loop over j, one
    # lane per j, n * d elements apart: 33 gathers, slower than the generic code (GMM's
    # beta). runtime/jit.py's cpu_features asks LLVM for no gathers.
    source = ("def f(a: f64[k, n, d]) -> f64[n, k]:\n"
              "    return [[sum(a[j, i, r] * a[j, i, r] for r in range(d)) for j in range(k)]\n"
              "            for i in range(n)]\n")
    mod = compile_source(source)
    special = mod.specialize("f", d=8)
    assert "masked.gather" not in special.owner.ir(special.name, stage="llvm")
    a = np.random.default_rng(0).normal(size=(5, 7, 8))
    np.testing.assert_array_equal(special(a), mod.f(a))
    np.testing.assert_allclose(special(a), np.einsum("jir,jir->ij", a, a), rtol=1e-14)


def test_specialized_loops_of_10_trips_are_vectorized_not_unrolled_whole():
    # A row of 10 added in place into an accumulator, the shape of GMM's loops over d = 10,
    # which made its specialized gradient slower than the generic one twice. Knowing the
    # trip count, LLVM would write the 10 additions out: runtime/jit.py caps whole
    # unrolling at 8 trips, and bounds unrolling in part (on AMD Zen 5, unbounded, it wrote
    # out all 10). And it would not vectorize the loop, its trip count under 16 (that
    # needs a run-time check that the rows do not overlap), unless told to from 8 trips on
    source = ("def f(m: f64[k, n, d], a: f64[n, d]) -> f64[n, d]:\n"
              "    acc = a\n"
              "    for j in range(k):\n"
              "        acc = acc + m[j]\n"
              "    return acc\n")
    mod = compile_source(source)
    special = mod.specialize("f", d=10)
    llvm_ir = special.owner.ir(special.name, stage="llvm")
    assert llvm_ir.count("fadd double") < 10
    assert re.search(r"fadd <\d+ x double>", llvm_ir)
    rng = np.random.default_rng(0)
    m, a = rng.normal(size=(3, 4, 10)), rng.normal(size=(4, 10))
    np.testing.assert_array_equal(special(m, a), mod.f(m, a))
    np.testing.assert_array_equal(special(m, a), a + m[0] + m[1] + m[2])


def test_converted_arguments_live_through_the_call():
    # Each call converts its arguments (list -> array, strided -> contiguous); the native
    # code must read those converted arrays, not memory already given back.
    mod = compile_source("def f(x: f64[n], y: f64[n]) -> f64:\n    return dot(x, y)\n")
    big = np.arange(40_000.0).reshape(200, 200)
    for k in range(200):
        column = big[:, k]
        expected = float(column @ column)
        assert mod.f(column, list(column)) == expected
        junk = [np.full(200, -1.0) for _ in range(20)]  # churn the allocator
        del junk


def test_fast_math_is_an_option_off_by_default():
    source = "def f(x: f64[n], y: f64[n]) -> f64:\n    return sum((x - y) * (x - y))\n"
    plain = compile_source(source)
    fast = compile_source(source, fast_math=True)
    assert " reassoc " not in plain.ir(stage="llvm")
    assert "fadd reassoc nsz arcp contract" in fast.ir(stage="llvm")
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal(1000), rng.standard_normal(1000)
    assert plain.f(x, y) == pytest.approx(plain.interpreter.run("f", [x, y]), rel=1e-14)
    assert fast.f(x, y) == pytest.approx(plain.f(x, y), rel=1e-12)
    # it reorders arithmetic, nothing more: infinities and NaN keep their meaning
    inf = np.array([np.inf])
    assert np.isnan(fast.f(inf, inf)) and fast.f(inf, np.zeros(1)) == np.inf


@pytest.mark.parametrize("backend", ["native", "interp"])
@pytest.mark.parametrize("value, why", [
    (float("nan"), "nan to i64"), (float("inf"), "inf to i64"), (-float("inf"), "-inf to i64"),
    (1e19, "1e+19 to i64: it is outside i64's range"),
    (-2.0 ** 64, "-1.8446744073709552e+19 to i64: it is outside i64's range")])
def test_int_of_a_non_finite_or_huge_float(backend, value, why):
    # the message did not say which value: 'cannot convert a non-finite or out-of-range
    # f64 to i64'; of an array, the first element in order that no i64 holds
    source = "def f(x: f64) -> i64:\n    return int(x)\n\ndef g(x: f64[n]) -> i64[n]:\n" \
             "    return int(x)\n"
    mod = compile_source(source, name="c.dp", backend=backend)
    with pytest.raises(ValueErrorDP) as err:
        mod.f(value)
    assert str(err.value) == f"cannot convert {why} (at c.dp:2:12)"
    with pytest.raises(ValueErrorDP) as err:
        mod.g(np.array([1.5, value, float("nan")]))
    assert str(err.value) == f"cannot convert {why} (at c.dp:5:12)"
    assert mod.f(-2.75) == -2


PAGE_FAULTS = """
import resource, sys
import numpy as np
from compiler import compile_source
grad = compile_source("def f(x: f64[n]) -> f64:\\n    y = exp(x)\\n    z = sin(y)\\n"
                      "    return sum(z * y) / sum(z)\\n").grad("f")
x = np.random.default_rng(0).random(200_000)  # 1.6 MB arrays: past glibc's mmap threshold
for _ in range(5):
    grad(x)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    grad(x)
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="tunes glibc's malloc only")
def test_large_temporaries_reuse_freed_memory_across_calls():
    # Each call frees 1.6 MB temporaries; untuned, the next call maps fresh pages and
    # faults on each of them (about 750 faults); tuned, it reuses the heap's pages. (The
    # gradient of sum(y * x) / sum(y) no longer frees one: it builds x's cotangent in y's
    # buffer, which it reads only element by element, last.)
    def faults_per_call(**env):
        out = subprocess.run([sys.executable, "-c", PAGE_FAULTS], capture_output=True,
                             text=True, check=True, cwd=PROJECT,
                             env={**os.environ, "PYTHONPATH": str(PROJECT), **env})
        return float(out.stdout)
    assert faults_per_call() < 10
    assert faults_per_call(DPC_MALLOC_TUNING="0") > 300


PRODUCTS = """\
def mm(a: f64[n, k], b: f64[k, m]) -> f64[n, m]:
    return a @ b

def tm(at: f64[k, n], b: f64[k, m]) -> f64[n, m]:
    return transpose(at) @ b

def vm(v: f64[k], b: f64[k, m]) -> f64[m]:
    return v @ b
"""


def test_products_of_unknown_sizes_call_one_kernel_of_the_module():
    # mm and vm call it, and tm where it copies its transposed operand (LLVM inlined tm's
    # kernel that reads it in place, which had one caller)
    lines = compile_source(PRODUCTS).ir(stage="llvm").splitlines()
    defined = [line for line in lines if line.startswith("define") and "@dpc.matmul(" in line]
    calls = [line for line in lines if " call " in line and "@dpc.matmul(" in line]
    assert len(defined) == 1 and len(calls) == 3


def test_products_of_known_sizes_call_a_kernel_of_those_sizes():
    # specialized, the sizes fold into a kernel of their own, which asks for wide
    # vectors as the generic one does (inlined, the product lost them: gmm's specialized
    # primal was 0.93x the generic one)
    specialized = compile_source(PRODUCTS).specialize("mm", n=5, k=3, m=20)
    lines = specialized.owner.ir(stage="llvm").splitlines()
    (kernel,) = [line for line in lines if line.startswith("define") and "matmul" in line]
    assert "@dpc.matmul.3x20(" in kernel
    group = kernel.split("#")[-1].split()[0]
    (attributes,) = [line for line in lines if line.startswith(f"attributes #{group} ")]
    assert '"prefer-vector-width"="512"' in attributes
    a, b = np.arange(15.0).reshape(5, 3), np.arange(60.0).reshape(3, 20)
    np.testing.assert_array_equal(specialized(a, b), a @ b)


# shapes that reach every loop of the kernel: whole tiles of 8, 4 and 1 rows by 16
# columns (8 + 4 + 3 rows: 15), right of them the last columns as one or two masked
# vectors of 8 lanes (full and partial: 1 to 15 columns), no k at all, vectors; and the
# same of the tiles of 4, 2 and 1 rows by 8 columns (7 rows, 1 to 7 columns left, in
# vectors of 4 lanes), the host's tiles either way
@pytest.mark.parametrize("tiles", [runtime.lower.WIDE_TILES, runtime.lower.NARROW_TILES],
                         ids=["wide", "narrow"])
@pytest.mark.parametrize("n, k, m", [(3, 7, 5), (4, 4, 1), (1, 9, 3), (5, 0, 2), (0, 3, 3),
                                     (6, 13, 17), (8, 5, 32), (9, 11, 40), (4, 3, 8),
                                     (7, 20, 24), (13, 2, 31), (15, 6, 19), (12, 9, 33),
                                     (24, 4, 16), (5, 6, 10), (17, 4, 12)])
def test_matrix_products_add_in_order_of_k(n, k, m, tiles, monkeypatch):
    # whichever tile computes an element (registers, masked lanes, a leftover row), it
    # adds a[i, k] * b[k, j] one k at a time, from 0.0, each term rounded once (a fused
    # multiply-add); so does the shared kernel (sizes unknown), its transposed form, and
    # the loops of a product whose sizes are known (specialized)
    monkeypatch.setattr(runtime.lower, "product_tiles", lambda: tiles)
    monkeypatch.setattr(runtime.lower, "fused_products", lambda: True)
    monkeypatch.setenv("DPC_CACHE", "0")  # the cache knows the host's tiles only
    check_products_add_in_order(n, k, m, fused=True)


# on a CPU without fused multiply-adds, each term is a product, then a sum
@pytest.mark.parametrize("tiles", [runtime.lower.WIDE_TILES, runtime.lower.NARROW_TILES],
                         ids=["wide", "narrow"])
@pytest.mark.parametrize("n, k, m", [(15, 6, 19), (7, 20, 24), (5, 6, 10)])
def test_matrix_products_add_unfused_terms_without_fma(n, k, m, tiles, monkeypatch):
    monkeypatch.setattr(runtime.lower, "product_tiles", lambda: tiles)
    monkeypatch.setattr(runtime.lower, "fused_products", lambda: False)
    monkeypatch.setenv("DPC_CACHE", "0")
    check_products_add_in_order(n, k, m, fused=False)


# a strip of b copied PACKED doubles at a time: here three rows of it, so that the sums of
# the later blocks of k go on from where the earlier left them in out; and copied for any
# product (of at least one row and one step of k), however small
@pytest.mark.parametrize("tiles", [runtime.lower.WIDE_TILES, runtime.lower.NARROW_TILES],
                         ids=["wide", "narrow"])
@pytest.mark.parametrize("n, k, m", [(3, 7, 5), (6, 13, 17), (9, 11, 40), (7, 20, 24),
                                     (4, 3, 8), (15, 6, 19), (12, 9, 33)])
def test_matrix_products_add_in_order_of_k_over_blocks_of_b(n, k, m, tiles, monkeypatch):
    monkeypatch.setattr(runtime.lower, "product_tiles", lambda: tiles)
    monkeypatch.setattr(runtime.lower, "PACKED", 3 * tiles[1])
    monkeypatch.setattr(runtime.lower, "PACK_FROM_ROWS", 1)
    monkeypatch.setattr(runtime.lower, "PACK_FROM_INNER", 1)
    monkeypatch.setattr(runtime.lower, "fused_products", lambda: True)
    monkeypatch.setenv("DPC_CACHE", "0")
    check_products_add_in_order(n, k, m, fused=True)


# a product large enough (here: any with 2 strips of columns) copies its transposed left
# operand first, in blocks of 8 of the matrix's columns by 4 of its rows, then the rows and
# columns left over; the product has the bits of the one that reads it in place
@pytest.mark.parametrize("n, k", [(8, 4), (9, 11), (7, 5), (16, 3), (17, 9), (1, 1)])
def test_a_large_product_copies_its_transposed_left_operand(n, k, monkeypatch):
    monkeypatch.setattr(runtime.lower, "PACK_FROM_ROWS", 1)
    monkeypatch.setattr(runtime.lower, "PACK_FROM_INNER", 1)
    monkeypatch.setenv("DPC_CACHE", "0")
    mod = compile_source(PRODUCTS)
    assert "call fastcc void @dpc.transpose(" in mod.ir("tm", stage="llvm")
    width = runtime.lower.product_tiles()[1]
    rng = np.random.default_rng(n * 100 + k)
    for m in (2 * width, 2 * width + 3, 2 * width - 1):  # the last reads a in place
        a, b = rng.standard_normal((n, k)), rng.standard_normal((k, m))
        expected = np.zeros((n, m))
        for step in range(k):
            expected = multiply_add(a[:, step:step + 1], b[step:step + 1, :], expected,
                                    runtime.lower.fused_products())
        assert np.array_equal(mod.tm(a.T.copy(), b), expected)


def multiply_add(x, y, total, fused: bool):
    """total + x * y elementwise, rounded once (fused: the exact value as a Fraction, which
    float() rounds correctly) or twice (a product, then a sum)."""
    if not fused:
        return total + x * y
    exact = np.vectorize(lambda p, q, r: float(fractions.Fraction(p) * fractions.Fraction(q)
                                                 + fractions.Fraction(r)), otypes=[float])
    return exact(x, y, total)


def check_products_add_in_order(n, k, m, fused: bool):
    mod = compile_source(PRODUCTS)
    rng = np.random.default_rng(n * 100 + k)
    a, b, v = rng.standard_normal((n, k)), rng.standard_normal((k, m)), rng.standard_normal(k)
    expected = np.zeros((n, m))
    for step in range(k):
        expected = multiply_add(a[:, step:step + 1], b[step:step + 1, :], expected, fused)
    assert np.array_equal(mod.mm(a, b), expected)
    assert np.array_equal(mod.tm(a.T.copy(), b), expected)
    assert np.array_equal(mod.specialize(mod.mm, n=n, k=k, m=m)(a, b), expected)
    in_order = np.zeros(m)
    for step in range(k):
        in_order = multiply_add(v[step], b[step], in_order, fused)
    assert np.array_equal(mod.vm(v, b), in_order)
    if fused and n and k and m:  # the single rounding is visible: the twice rounded differ
        twice = np.zeros((n, m))
        for step in range(k):
            twice = twice + a[:, step:step + 1] * b[step:step + 1, :]
        assert not np.array_equal(expected, twice)


MATRIX_VECTOR = """\
def mv(a: f64[n, k], v: f64[k]) -> f64[n]:
    return a @ v

def tv(at: f64[k, n], v: f64[k]) -> f64[n]:
    return transpose(at) @ v
"""


# blocks of 8 rows and the rows left below them; in a block, steps of 8 columns and the
# columns left right of them; no k at all, no rows
@pytest.mark.parametrize("n, k", [(8, 8), (16, 24), (9, 17), (7, 5), (23, 3), (8, 0), (0, 5),
                                  (1, 1), (40, 31)])
@pytest.mark.parametrize("fused", [True, False], ids=["fused", "unfused"])
def test_matrix_vector_products_add_in_order_of_k(n, k, fused, monkeypatch):
    # each row of a @ v adds a[i, k] * v[k] one k at a time from 0.0, each term a fused
    # multiply-add (without FMA, a product, then a sum), whether a block of rows computes
    # it (its columns transposed in registers) or a row left over; so does
    # transpose(a) @ v, read as v @ a by the product kernel
    monkeypatch.setattr(runtime.lower, "fused_products", lambda: fused)
    monkeypatch.setenv("DPC_CACHE", "0")
    mod = compile_source(MATRIX_VECTOR)
    rng = np.random.default_rng(n * 100 + k)
    # magnitudes that make the order visible in the last bits
    a = rng.standard_normal((n, k)) * 10.0 ** rng.integers(-8, 8, (n, k))
    v = rng.standard_normal(k)
    expected = np.zeros(n)
    for step in range(k):
        expected = multiply_add(a[:, step], v[step], expected, fused)
    assert np.array_equal(mod.mv(a, v), expected)
    assert np.array_equal(mod.tv(a.T.copy(), v), expected)
    assert np.array_equal(mod.specialize(mod.mv, n=n, k=k)(a, v), expected)


def test_the_transpose_of_a_matrix_times_a_vector_is_not_copied():
    # the gradient of a @ v has transpose(a) @ ct: the product kernel reads a as it is
    scalar = compile_source(MATRIX_VECTOR).ir("tv", stage="scalar")
    assert "transpose %at" in scalar and "build" not in scalar


ROW_REDUCTIONS = """\
def sums(a: f64[n, m]) -> f64[n]:
    return sum(a, axis=1)

def distances(a: f64[n, m], c: f64[m]) -> f64[n]:
    return sum((a - c) ** 2.0, axis=1)

def tops(a: f64[n, m]) -> f64[n]:
    return max(a, axis=1)

def bottoms(a: f64[n, m]) -> f64[n]:
    return min(abs(a) * -1.0, axis=1)

def products(a: f64[n, m]) -> f64[n]:
    return [prod(a[i, j] for j in range(m)) for i in range(n)]

def strided(a: f64[n, m]) -> f64[?]:
    return [sum(a[i, j] * a[i, j] for j in range(0, m, 2)) for i in range(1, n, 3)]

def backwards(a: f64[n, m]) -> f64[?]:
    return [sum(a[i, j] - 1.0 for j in range(m)) for i in range(n - 1, -1, -1)]
"""


# blocks of 8 rows and the rows left below them; rows of 0, 1 and 33 elements
@pytest.mark.parametrize("n, m", [(8, 5), (16, 1), (9, 17), (7, 4), (23, 33), (0, 3), (17, 2)])
def test_reductions_of_rows_in_blocks_match_each_row_alone(n, m):
    # a build of reductions with an arithmetic body takes 8 rows at a time, their sums the
    # lanes of vectors: each row still adds its elements as a sum alone does (in eight
    # partial sums from 16 elements on, which is NumPy's order up to 128), so the bits
    # are the interpreter's, signed zeros and NaN included
    mod = compile_source(ROW_REDUCTIONS)
    rng = np.random.default_rng(n * 100 + m)
    a = rng.standard_normal((n, m)) * 10.0 ** rng.integers(-8, 8, (n, m))
    alone = [sum_in_eight_lanes(list(row)) for row in a]  # before the NaN and infinities
    np.testing.assert_array_equal(mod.sums(a), np.array(alone).reshape(n))
    a.flat[rng.integers(0, a.size, a.size // 5) if a.size else []] = [
        np.nan, 0.0, -0.0, np.inf, -np.inf][n % 5]
    c = rng.standard_normal(m)
    for fn, args in [("sums", (a,)), ("distances", (a, c)), ("tops", (a,)),
                     ("bottoms", (a,)), ("products", (a,)), ("strided", (a,)),
                     ("backwards", (a,))]:
        got, want = mod.run(fn, *args), mod.interpreter.run(fn, list(args))
        np.testing.assert_array_equal(got, want)
        assert np.signbit(got).tolist() == np.signbit(want).tolist(), fn
        special = mod.specialize(fn, n=n, m=m)
        np.testing.assert_array_equal(special(*args), want)


def test_the_maximum_of_empty_rows_fails_in_blocks_as_alone():
    mod = compile_source(ROW_REDUCTIONS)
    a = np.zeros((9, 0))
    with pytest.raises(ValueErrorDP) as native:
        mod.tops(a)
    with pytest.raises(ValueErrorDP) as interpreted:
        mod.interpreter.run("tops", [a])
    assert str(native.value) == str(interpreted.value)
    assert mod.sums(a).tolist() == [0.0] * 9


def test_only_arithmetic_row_reductions_take_rows_in_blocks():
    # blocks copy the body for 8 rows, which LLVM runs as vector code; exp along a long
    # row is cheaper as vectors along the row; an integer modulo may fail, and the row
    # that fails first must be the one the interpreter names
    from runtime.lower import builds_reductions
    source = ROW_REDUCTIONS + (
        "def exps(a: f64[n, m]) -> f64[n]:\n"
        "    return sum(exp(a), axis=1)\n"
        "def remainders(a: i64[n, m], k: i64) -> i64[n]:\n"
        "    return sum(a % k, axis=1)\n"
        "def moduli(a: f64[n, m], k: i64) -> f64[n]:\n"
        "    return [sum(a[i, j] * float(j % k) for j in range(m)) for i in range(n)]\n"
        "def triangle(a: f64[n, m]) -> f64[n]:\n"
        "    return [sum(a[i, j] for j in range(i)) for i in range(n)]\n")
    mod = compile_source(source)
    taken = {}
    for fn in ["sums", "distances", "tops", "bottoms", "products", "strided", "backwards",
               "exps", "remainders", "moduli", "triangle"]:
        scalar = parse_module(mod.ir(fn, stage="scalar"))
        builds = [op for op in walk_ops(scalar.functions[fn].body) if op.name == "build"]
        taken[fn] = [builds_reductions(op) for op in builds]
    assert taken == {"sums": [True], "distances": [True], "tops": [True], "bottoms": [True],
                     "products": [True], "strided": [True], "backwards": [True],
                     "exps": [False], "remainders": [False] * 3, "moduli": [False],
                     "triangle": [False]}
    llvm_ir = mod.ir("sums", stage="llvm")
    assert re.search(r"fadd <8 x double>", llvm_ir)


ROW_EXTREMES = """\
def tops(a: f64[n, m]) -> f64[n]:
    return max(a, axis=1)

def column_extremes(a: f64[n, m]) -> (f64[m], f64[m]):
    return max(a, axis=0), min(a, axis=0)

def tops_in_loop(a: f64[n, m]) -> f64[n]:
    out = zeros(n)
    for i in range(n):
        out[i] = max(a[i])
    return out

def bottoms_in_loop(a: f64[n, m]) -> (f64[n], f64):
    out = zeros(n)
    total = 0.0
    for i in range(n):
        out[i] = min(a[i] * 2.0)
        total += min(a[i])
    return out, total
"""


def extreme_rows(m: int, rng) -> np.ndarray:
    """Rows of m elements whose maximum and minimum hang on IEEE's rules: -0.0 with one
    +0.0, +0.0 with one -0.0, a NaN among negative numbers, all -inf, +inf among
    numbers, and plain numbers, each special element at a random place."""
    rows = np.full((6, m), -0.0)
    rows[0, rng.integers(m)] = 0.0
    rows[1] = 0.0
    rows[1, rng.integers(m)] = -0.0
    rows[2] = -rng.random(m)
    rows[2, rng.integers(m)] = np.nan
    rows[3] = -np.inf
    rows[4] = rng.standard_normal(m)
    rows[4, rng.integers(m)] = np.inf
    rows[5] = rng.standard_normal(m)
    return rows


# rows short enough for one chain of selects, and long ones that combine in the lanes of
# a vector (from 32 elements inside a loop, from 128 in a build of maxima)
@pytest.mark.parametrize("m", [1, 5, 31, 32, 40, 127, 128, 200, 1000])
def test_max_and_min_of_rows_are_ieee_whatever_their_length(m):
    mod = compile_source(ROW_EXTREMES)
    rng = np.random.default_rng(m)
    a = np.vstack([extreme_rows(m, rng) for _ in range(3)])
    for fn, arg in [("tops", a), ("tops_in_loop", a), ("bottoms_in_loop", a),
                    ("column_extremes", a), ("column_extremes", a.T.copy())]:
        got, want = mod.run(fn, arg), mod.interpreter.run(fn, [arg])
        for g, w in zip(*([got, want] if isinstance(got, tuple) else [[got], [want]])):
            np.testing.assert_array_equal(g, w)
            assert np.signbit(g).tolist() == np.signbit(w).tolist(), fn
    np.testing.assert_array_equal(mod.tops(a), np.max(a, axis=1))


def test_only_rows_side_by_side_in_memory_are_reduced_one_at_a_time():
    # a long row's maximum combines in the lanes of one vector, reading the row in order;
    # down a column, that vector would read one element per row (14x slower than blocks
    # of 8 columns, each block reading 8 neighbours per row)
    from runtime.lower import reads_along_rows
    mod = compile_source(ROW_EXTREMES)
    taken = {}
    for fn in ("tops", "column_extremes"):
        scalar = parse_module(mod.ir(fn, stage="scalar"))
        taken[fn] = [reads_along_rows(op.regions[0].ops[-2])
                     for op in walk_ops(scalar.functions[fn].body) if op.name == "build"]
    assert taken == {"tops": [True], "column_extremes": [False, False]}


def test_a_maximum_inside_a_loop_is_vector_code():
    # a chain of selects took 1.7 ns per element (sum of the rows' maxima at 1000 x 1000:
    # 11x NumPy's time); the lanes of a vector maximum 0.15 ns
    (in_loop,) = [d for d in ROW_EXTREMES.split("\n\n") if d.startswith("def tops_in_loop")]
    llvm_ir = compile_source(in_loop).ir("tops_in_loop", stage="llvm")
    assert re.search(r"@llvm\.maximum\.v\d+f64", llvm_ir)


NEWTON_GRADIENT = NEWTON.replace("TRIPS", "8") + """
def slopes(x: f64[n]) -> f64[n]:
    return grad(roots)(x)

def sums(x: f64[n]) -> f64[n]:
    return [x[i] * x[i] + x[i] for i in range(n)]
"""


def test_a_loop_of_slow_dependent_ops_runs_four_vector_iterations_side_by_side():
    # The gradient's loop over the elements is one chain of 16 divisions per element (8
    # steps, each divided forward and back). LLVM interleaves small loop bodies only; this
    # one, at one vector iteration at a time, waited on each division (2x slower). The
    # loops of roots (a sum) and of sums (cheap ops) are left to LLVM.
    mod = compile_source(NEWTON_GRADIENT)
    lowered, _ = runtime.jit.llvm_ir(mod._scalarize())
    (told,) = re.findall(r'!(\d+) = !\{ !"llvm.loop.interleave.count", i32 4 \}', lowered)
    interleaved = re.findall(rf"!(\d+) = !\{{ !\1, !{told} \}}", lowered)
    assert len(interleaved) == 1  # slopes' loop alone
    assert lowered.count(f"!llvm.loop !{interleaved[0]}") == 1
    # the vector loop's 16 divisions 4 times (one vector at a time, the function has 56
    # vector divisions of its widest vectors, its other loops included; told, 104)
    llvm_ir = mod.ir("slopes", stage="llvm")
    slopes = re.search(r"^define .*@dpc_entry_slopes\(.*?^}$", llvm_ir, re.M | re.S).group()
    assert max(collections.Counter(re.findall(r"fdiv <(\d+) x", slopes)).values()) >= 4 * 16
    x = np.array([0.5, 2.0, 3.0, 7.0] * 10)
    np.testing.assert_array_equal(mod.slopes(x), mod.interpreter.run("slopes", [x]))
    np.testing.assert_allclose(mod.slopes(x), 0.5 / np.sqrt(x), rtol=1e-15)


SIGNED_ZEROS = """\
def top(x: f64[n]) -> f64:
    return max(x)

def bottom(x: f64[n]) -> f64:
    return min(x)

def top_of_rows(x: f64[n, m]) -> f64[n]:
    return max(x, axis=1)

def top_of_generated(x: f64[n]) -> f64:
    return max(x[i] * 1.0 for i in range(n))

def pairs(a: f64[n], b: f64[n]) -> (f64[n], f64[n]):
    return max(a, b), min(a, b)
"""


def test_max_and_min_order_signed_zeros_and_nan_as_ieee_maximum():
    """max/min are IEEE 754-2019 maximum/minimum on both backends: +0 above -0 whatever
    the order (so a vectorized max reduction gives the sequential result), NaN wins."""
    mod = compile_source(SIGNED_ZEROS)
    cases = [([-0.0, 0.0, -0.0], 0.0, -0.0), ([0.0, -0.0] * 9, 0.0, -0.0),
             ([-0.0] * 17, -0.0, -0.0), ([0.0] * 17, 0.0, 0.0),
             ([-1.0, -0.0, 0.0, 1.0], 1.0, -1.0), ([1.0] * 20 + [np.nan] + [2.0] * 5, np.nan, np.nan)]
    for values, largest, smallest in cases:
        x = np.array(values)
        for run in (mod.run, lambda fn, *a: mod.interpreter.run(fn, list(a))):
            for fn, want in (("top", largest), ("bottom", smallest), ("top_of_generated", largest)):
                got = float(run(fn, x))
                assert (np.isnan(got) and np.isnan(want)) or (
                    got == want and np.signbit(got) == np.signbit(want)), (fn, values, got)
    rows = np.array([[-0.0, 0.0], [-0.0, -0.0], [0.0, -0.0]])
    a, b = np.array([-0.0, 0.0, -0.0, np.nan]), np.array([0.0, -0.0, -0.0, 1.0])
    for run in (mod.run, lambda fn, *args: mod.interpreter.run(fn, list(args))):
        assert np.signbit(run("top_of_rows", rows)).tolist() == [False, True, False]
        high, low = run("pairs", a, b)
        assert np.signbit(high[:3]).tolist() == [False, False, True] and np.isnan(high[3])
        assert np.signbit(low[:3]).tolist() == [True, True, True] and np.isnan(low[3])


SUMS_OF_ZEROS = """
def generated(x: f64[n]) -> f64:
    return sum(x[i] for i in range(n))

def reduced(x: f64[n, m]) -> f64[m]:
    return sum(x, axis=0)

def of_rows(x: f64[n, m]) -> f64[m]:
    return sum(x[i] for i in range(n))

def dotted(x: f64[n], y: f64[n]) -> f64:
    return dot(x, y)

def product(a: f64[n, k], b: f64[k, m]) -> f64[n, m]:
    return a @ b
"""


def test_a_sum_of_negative_zeros_is_positive_zero_on_both_backends():
    """Every sum starts from +0.0, as NumPy's and Python's do: the interpreter's generator
    sum started from its first element (-0.0 + -0.0 is -0.0), and so did native code's
    sum of rows, where native code's sum of scalars gave +0.0."""
    mod = compile_source(SUMS_OF_ZEROS)
    column = np.array([[-0.0], [-0.0]])
    for run in (mod.run, lambda fn, *args: mod.interpreter.run(fn, list(args))):
        got = [run("generated", np.array([-0.0, -0.0])), *run("reduced", column),
               *run("of_rows", column), *run("of_rows", np.array([[-0.0, 1.0]]))]
        assert [(v, bool(np.signbit(v))) for v in got] == [(0.0, False)] * 3 + [(0.0, False),
                                                                                (1.0, False)]
        # the interpreter's np.dot and np.matmul gave -0.0 for products all -0.0
        products = [run("dotted", np.array([-0.0]), np.array([1.0])),
                    *run("product", np.array([[-0.0, 0.0]]), np.array([[1.0], [-2.0]])).ravel()]
        assert [(v, bool(np.signbit(v))) for v in products] == [(0.0, False)] * 2


def sum_in_eight_lanes(values) -> float:
    """The order native code adds a sum of doubles in, when the sum is outside loops and
    its elements need no loop: from 16 elements on, element k into lane k % 8 over the
    largest multiple of 8 elements, the lanes pairwise, then the rest in order; a shorter
    sum in order."""
    lanes = [0.0] * 8
    whole = len(values) // 8 * 8 if len(values) >= 16 else 0
    for k in range(whole):
        lanes[k % 8] += values[k]
    while len(lanes) > 1:
        lanes = [a + b for a, b in zip(lanes[::2], lanes[1::2])]
    total = lanes[0]
    for v in values[whole:]:
        total += v
    return total


def in_order(values) -> float:
    total = 0.0
    for v in values:
        total += v
    return total


SUMS = """\
def total(x: f64[n]) -> f64:
    return sum(x)

def generated(x: f64[n], y: f64[n]) -> f64:
    return sum(x[i] * y[i] for i in range(n))

def of_columns(a: f64[n, m]) -> f64[m]:
    return sum(a, axis=0)

def strided(x: f64[n]) -> f64:
    return sum(x[i] for i in range(n - 1, -1, -3))

def of_row_sums(a: f64[n, m]) -> f64:
    return sum(sum(a[i, j] for j in range(m)) * 1.0 for i in range(n))
"""


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 15, 16, 17, 23, 24, 100, 1001])
def test_sums_of_doubles_add_in_eight_lanes(n):
    """A fixed order, the same on every machine: eight independent partial sums let the
    loop run as vectors without LLVM reassociating anything, inside loops as outside.
    Sums along axis 0 (each column's) and sums whose element has a loop of its own add
    in order."""
    mod = compile_source(SUMS)
    rng = np.random.default_rng(n)
    # magnitudes that make the order visible in the last bits
    x, y = rng.standard_normal(n) * 10.0 ** rng.integers(-8, 8, n), rng.standard_normal(n)
    assert mod.total(x) == sum_in_eight_lanes(list(x))
    assert mod.generated(x, y) == sum_in_eight_lanes(list(x * y))
    assert mod.strided(x) == sum_in_eight_lanes(list(x[::-1][::3]))
    a = x[: n // 4 * 4].reshape(-1, 4) if n >= 4 else np.zeros((0, 4))
    assert mod.of_columns(a).tolist() == [in_order(list(a[:, j])) for j in range(4)]
    # each row's sum in a loop: in lanes; the sum of a body with a loop of its own: in order
    b = x[: n // 17 * 17].reshape(-1, 17) if n >= 17 else np.zeros((0, 17))
    assert mod.of_row_sums(b) == in_order([sum_in_eight_lanes(list(r)) for r in b])


SOFTMAX = """\
def softmax(x: f64[n]) -> f64[n]:
    e = [exp(x[i]) for i in range(n)]
    return e / sum(e)

def exps(x: f64[n]) -> f64[n]:
    return [exp(x[i]) for i in range(n)]
"""


@pytest.mark.parametrize("chunk, n", [(16, 0), (16, 1), (16, 15), (16, 16), (16, 17), (16, 33),
                                      (16, 100), (2048, 2047), (2048, 2049), (2048, 5000)])
def test_a_build_and_the_sum_of_it_run_in_one_loop(chunk, n, monkeypatch):
    # e is stored a chunk at a time and the chunk added into the sum's lanes while it is
    # in the cache (apart, the sum read all of e back: lse's gradient 0.88-0.90x the
    # time); the sum adds in the same eight lanes, across the chunks' ends as within
    monkeypatch.setattr(runtime.lower, "BUILD_AND_SUM", chunk)
    monkeypatch.setenv("DPC_CACHE", "0")
    mod = compile_source(SOFTMAX)
    module = parse_module(mod.ir("softmax", stage="scalar"))
    body = module.functions["softmax"].body
    pairs = [(a, b) for k, a in enumerate(body.ops) for b in body.ops[k + 1:]
             if runtime.lower.sums_the_build(body, a, b)]
    assert [(a.name, b.name) for a, b in pairs] == [("build", "reduce")]
    x = np.random.default_rng(n).standard_normal(n) * 3.0
    e = mod.exps(x)
    assert mod.softmax(x).tobytes() == (e / sum_in_eight_lanes(list(e))).tobytes()


def test_a_long_sum_of_cheap_elements_adds_them_as_one_vector():
    # The eight partial sums are one LLVM vector, each block's elements put into it. Kept
    # as eight scalars in a loop over the lanes, they ran as one vector with AVX-512, but
    # with AVX2 the loop vectorizer took the loop over blocks and loaded each lane's
    # elements eight apart, one at a time: 33 loads of one double here, 2x the time
    mod = compile_source("def f(r: f64[n], d: f64) -> f64:\n"
                         "    return sum(where(abs(r) <= d, 0.0, abs(r) - 0.5 * d))\n")
    llvm_ir = mod.ir("f", stage="llvm")
    assert "fadd <8 x double>" in llvm_ir
    assert llvm_ir.count("load double") == 1  # the elements after the blocks, in order


@pytest.mark.parametrize("element", ["sin(x[i])", "x[i] ** 2.5"])
def test_a_long_sum_of_costly_elements_computes_them_as_vectors(element):
    # Written out eight times for the lanes of one vector, code with branches stays scalar
    # (sin took 2x, pow 3x the time): such a sum keeps the loop over the lanes, and LLVM
    # vectorizes the loop over blocks, calling libm's vector form for the rare arguments
    # (an element's in-order add into its lane)
    mod = compile_source(f"def f(x: f64[n]) -> f64:\n    return sum({element} for i in range(n))\n")
    llvm_ir = mod.ir("f", stage="llvm")
    assert re.search(r"call <\d+ x double> @dpc\.libm_(sin|pow)\.v\d+\(", llvm_ir)
    assert "fadd <8 x double>" not in llvm_ir


MOVED_SUMS = """\
def products(x: f64[n], y: f64[n], s: i64) -> f64:
    acc = 0.0
    for i in range(s):
        acc += (x * (i + 1.0)) @ y
    return acc

def branches(x: f64[n], s: i64, c: bool) -> f64:
    acc = 0.0
    for i in range(s):
        if c:
            acc += sum(x * (i + 1.0))
    return acc

def invariant(x: f64[n], y: f64[n], s: i64) -> f64:
    acc = 0.0
    for i in range(s):
        acc += dot(x, y) + sum(x, axis=0)
    return acc

def along_axis(x: f64[n], s: i64) -> f64:
    acc = 0.0
    for i in range(s):
        acc += sum(x * (i + 1.0), axis=0)
    return acc
"""


@pytest.mark.parametrize("n", [16, 17, 100])
def test_sums_moved_out_of_loops_add_as_they_did_inside(n):
    # LICM moves an invariant dot product out of its loop, specialization unrolls a loop of
    # known trips: either way a sum that was inside a loop keeps its bits, as native code
    # adds a long sum in the same eight partial sums inside loops and outside (dot
    # products, `@` of vectors, sums along an axis and sums inside an `if` included)
    mod = compile_source(MOVED_SUMS)
    rng = np.random.default_rng(n)
    x, y = rng.standard_normal(n) * 10.0 ** rng.integers(-8, 8, n), rng.standard_normal(n)
    for s in (1, 2):
        scaled = [sum_in_eight_lanes(list(x * (i + 1.0))) for i in range(s)]
        products = [sum_in_eight_lanes(list(x * (i + 1.0) * y)) for i in range(s)]
        invariant = sum_in_eight_lanes(list(x * y)) + sum_in_eight_lanes(list(x))
        expected = {"products": in_order(products), "branches": in_order(scaled),
                    "along_axis": in_order(scaled), "invariant": in_order([invariant] * s)}
        others = {"products": {"x": x, "y": y}, "branches": {"x": x, "c": True},
                  "invariant": {"x": x, "y": y}, "along_axis": {"x": x}}
        for fn, want in expected.items():
            assert mod.function(fn)(**others[fn], s=s) == want, fn
            assert mod.specialize(fn, s=s)(**others[fn]) == want, (fn, s)
    opt = mod.ir("invariant", stage="opt")
    assert opt.index("dot %x, %y : f64") < opt.index("for ")


EDGES = """\
def count(a: i64, b: i64, s: i64) -> i64:
    c = 0
    for i in range(a, b, s):
        c += 1
    return c

def last(a: i64, b: i64, s: i64) -> i64:
    c = 0
    for i in range(a, b, s):
        c = i
    return c

def pick(b: bool) -> f64:
    return 1.0 if b else 0.0

def to_int(x: f64) -> i64:
    return int(x)

def total(x: f64[n]) -> f64:
    return sum(x)
"""


@pytest.mark.parametrize("backend", ["native", "interp"])
def test_ranges_whose_span_is_beyond_i64_run_as_in_python(backend):
    mod = compile_source(EDGES, backend=backend)
    big = 2 ** 63 - 1
    for a, b, s in [(0, big, 2 ** 62), (0, 2 ** 62 + 2, 2 ** 62), (-1, big, big),
                    (big, -big - 1, -big - 1), (-5, 5, 3), (5, -5, -3), (3, 3, 1), (4, 3, 1)]:
        assert mod.count(a, b, s) == len(range(a, b, s))
        assert mod.last(a, b, s) == (range(a, b, s)[-1] if range(a, b, s) else 0)


LONG_RANGES = """\
def stepped(x: f64[n], a: i64, b: i64, c: i64) -> f64:
    s = 1.0
    for i in range(a, b, c):
        s = s * x[i % n] + sin(s)
    return s

def squares(x: f64[n], a: i64, b: i64, c: i64) -> f64:
    s = 0.0
    for i in range(a, b, c):
        s += x[i] * x[i]
    return s

def running(x: f64[n], a: i64, b: i64) -> f64:
    s = 0.0
    for i in range(a, b):
        s = s * x[i] + exp(x[0])
    return s

def total(x: f64[n], a: i64, b: i64) -> f64:
    return sum(x[i] for i in range(a, b))

def squared(x: f64[n], a: i64, b: i64) -> f64[?]:
    return [x[i] * x[i] for i in range(a, b)]
"""


@pytest.mark.parametrize("backend", ["native", "interp"])
def test_gradients_of_loops_whose_span_is_beyond_i64(backend):
    # the reverse sweep counted range(0, 2**63 - 1, 2**62) in wrapping i64 arithmetic: a
    # tape of 0 rows for the 2 iterations that ran (native code corrupted the heap), and
    # 1 iteration for the empty range(2**62 + 10**9, -2**63, 2**62) (it read x[2**62...]);
    # the iterations of range(-2**63, 2**63 - 1, 2**62) were taped as rows 0, 1, -2, -1
    mod = compile_source(LONG_RANGES, backend=backend)
    x, big = np.array([1.0, 2.0, 3.0]), 2 ** 63 - 1
    x0 = x.copy()
    for a, b, c in [(0, big, 2 ** 62), (-1, big, big), (0, 2 ** 62 + 2, 2 ** 62),
                    (-big - 1, big, 2 ** 62), (big, -big - 1, -2 ** 62)]:
        s, dsdx = 1.0, np.zeros(3)
        for i in range(a, b, c):  # s = s * x[i % n] + sin(s), forward mode by hand
            k = i % 3
            e = np.eye(3)[k]
            s, dsdx = s * x[k] + np.sin(s), dsdx * x[k] + s * e + np.cos(s) * dsdx
        assert mod.stepped(x, a, b, c) == pytest.approx(s, rel=1e-15)
        assert mod.grad("stepped")(x, a, b, c) == pytest.approx(dsdx, rel=1e-14)
    for a, b, c in [(2 ** 62 + 10 ** 9, -big - 1, 2 ** 62), (big, -big - 1, 1), (-big - 1, big, -1)]:
        assert len(range(a, b, c)) == 0
        assert mod.grad("squares")(x, a, b, c).tolist() == [0.0, 0.0, 0.0]
        assert mod.hessian("squares")(x, a, b, c).tolist() == np.zeros((3, 3)).tolist()
    assert mod.grad("running")(x, big, -big - 1).tolist() == [0.0, 0.0, 0.0]
    assert np.array_equal(x, x0)


@pytest.mark.parametrize("backend", ["native", "interp"])
def test_loops_of_2_to_the_63_iterations_or_more_run(backend):
    # such a count came out negative: native code ran the loop 0 times and returned 0.0
    mod = compile_source(LONG_RANGES, backend=backend)
    x, big = np.array([1.0, 2.0, 3.0]), 2 ** 63 - 1
    for f, a, b in [("squares", -1, big), ("squares", -big - 1, big), ("total", -1, big)]:
        args = (x, a, b, 1) if f == "squares" else (x, a, b)
        with pytest.raises(IndexErrorDP, match="^index 3 is out of bounds|^index -92233720"):
            mod.run(f, *args)
    with pytest.raises(MemoryErrorDP, match="^cannot allocate an array of 9223372036854775807 "
                                            "f64 elements"):
        mod.squared(x, -big - 1, big)
    with pytest.raises(MemoryErrorDP):  # the tape of 2**63 - 1 rows
        mod.grad("running")(x, -1, big)


RAGGED = """\
def unread(x: f64[n]) -> f64:
    y = [zeros(i) for i in range(n)]
    return x[0] * float(len(y))

def nested(x: f64[n]) -> f64:
    y = [[1.0 for j in range(i)] for i in range(n)]
    return x[0]

def generator(x: f64[n]) -> f64:
    return sum(sum(zeros(1 if i == 0 else 3) + 1.0 for i in range(2)))

def literal(x: f64[n], k: i64) -> f64:
    return sum([zeros(2), zeros(k)])
"""


@pytest.mark.parametrize("backend", ["native", "interp"])
def test_elements_of_different_shapes_are_an_error_even_when_unread(backend):
    # native code dropped the unread comprehension, with the check of its rows' lengths;
    # the interpreter let NumPy broadcast a generator's elements of lengths 1 and 3. The
    # sizes read in the elements' order, the first's first (they said "1 is not 0")
    mod = compile_source(RAGGED, name="ragged.dp", backend=backend)
    x = np.array([1.0, 2.0, 3.0])
    for fn, args, what, line, col, sizes in [
            ("unread", (), "comprehension elements", 2, 9, "0 is not 1"),
            ("nested", (), "comprehension elements", 6, 9, "0 is not 1"),
            ("generator", (), "generator elements", 10, 20, "1 is not 3"),
            ("literal", (3,), "array literal rows", 13, 16, "2 is not 3")]:
        message = f"{what} have different shapes: size {sizes} (at ragged.dp:{line}:{col})"
        with pytest.raises(ShapeErrorDP) as err:
            mod.run(fn, x, *args)
        assert str(err.value) == message
        with pytest.raises(ShapeErrorDP):
            mod.grad(fn)(x, *args)


@pytest.mark.parametrize("backend", ["native", "interp"])
def test_scalar_arguments_at_the_edges_of_their_types(backend):
    mod = compile_source(EDGES, backend=backend)
    assert (mod.pick(True), mod.pick(np.bool_(False))) == (1.0, 0.0)
    for wrong in (5, 1, np.int64(1)):  # native code took any int for a bool
        with pytest.raises(ValueErrorDP, match="^argument b must be bool, got "):
            mod.pick(wrong)
    assert mod.to_int(-2.0 ** 63) == -2 ** 63  # the least i64 is a double
    assert mod.to_int(9.21e18) == 9210000000000000000
    for x in (2.0 ** 63, float("nan"), -float("inf")):
        with pytest.raises(ValueErrorDP, match=re.escape(f"cannot convert {x!r} to i64")):
            mod.to_int(x)
    with pytest.raises(ValueErrorDP) as err:
        mod.to_int(10 ** 400)
    assert str(err.value) == "argument x is an int of 401 digits, too large for f64"
    assert mod.total([2 ** 70, 1]) == 2.0 ** 70 + 1  # ints beyond i64 in a list, as doubles
    assert mod.total([2 ** 64, -2.0 ** 64, 0.5]) == 0.5  # with floats too
    for wrong, shown in (("abc", "str 'abc'"), (None, "NoneType None"), (1j, "complex 1j"),
                         ([None], "list [None]")):
        with pytest.raises(ValueErrorDP) as err:
            mod.total(wrong)
        assert str(err.value) == f"argument x must be f64[n], got {shown}"


class Tensor:
    """What JAX's and torch's arrays show NumPy: __array__, which torch's refuses for a
    tensor that requires grad (RuntimeError, asking to detach it)."""

    def __init__(self, values, requires_grad=False):
        self.values, self.requires_grad = np.asarray(values), requires_grad

    def __array__(self, dtype=None, copy=None):
        if self.requires_grad:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad.")
        return self.values


@pytest.mark.parametrize("backend", ["native", "interp"])
def test_arrays_of_other_libraries_are_taken_as_numpy_takes_them(backend):
    mod = compile_source(EDGES, backend=backend)
    assert mod.total(Tensor([1.0, 2.5])) == 3.5
    # a 0-d one is a scalar, as a 0-d NumPy array is; it was 'must be f64, got Tensor'
    assert mod.to_int(Tensor(2.0)) == 2 and mod.count(Tensor(0), Tensor(3), 1) == 3
    with pytest.raises(ValueErrorDP) as err:
        mod.to_int(Tensor([2.0]))
    assert str(err.value) == "argument x is a single f64, not an array"
    said = "Can't call numpy() on Tensor that requires grad."
    with pytest.raises(ValueErrorDP) as err:  # it was torch's RuntimeError, naming nothing
        mod.total(Tensor([1.0], requires_grad=True))
    assert str(err.value) == f"argument x must be f64[n]: {said}"
    with pytest.raises(ValueErrorDP) as err:
        mod.to_int(Tensor(1.0, requires_grad=True))
    assert str(err.value) == f"argument x must be f64: {said}"


@pytest.mark.parametrize("backend", ["native", "interp"])
def test_numpy_bools_are_numbers_as_python_bools_are(backend):
    # np.bool_ is no numbers.Integral, so mod.f(np.True_) was refused where True was taken
    mod = compile_source(EDGES, backend=backend)
    assert mod.to_int(True) == mod.to_int(np.True_) == mod.to_int(np.array(True)) == 1
    assert mod.count(np.False_, np.True_, np.True_) == mod.count(False, True, True) == 1
    with pytest.raises(ValueErrorDP) as err:
        mod.pick(np.int8(1))
    assert str(err.value) == "argument b must be bool, got int8 np.int8(1)"


def test_the_matrix_product_kernel_asks_for_wide_vectors():
    # LLVM's 256-bit tuning of AVX-512 chips would halve what the product's tiles compute
    # per instruction; the kernel alone asks for more (elsewhere it made lstm slower)
    mod = compile_source("def f(a: f64[n, k], b: f64[k, m]) -> f64[n, m]:\n    return a @ b\n")
    lines = mod.ir("f", stage="llvm").splitlines()
    defines = [line for line in lines if line.startswith("define")]
    (kernel,) = [line for line in defines if "@dpc.matmul(" in line]
    group = kernel.split("#")[-1].split()[0]
    (attributes,) = [line for line in lines if line.startswith(f"attributes #{group} ")]
    assert '"prefer-vector-width"="512"' in attributes
    assert '"min-legal-vector-width"="512"' in attributes
    (entry,) = [line for line in defines if "dpc_entry_f" in line]
    assert "#" + group not in entry
    a, b = np.arange(6.0).reshape(2, 3), np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(mod.f(a, b), a @ b)


def test_function_names_never_meet_the_runtime_s_symbols():
    # free_all, entry_f next to f, alloc and exp named functions whose LLVM symbols were
    # dpc_free_all, dpc_entry_f (f's entry point), ...: compiling raised a traceback
    source = ("def f(x: f64) -> f64:\n    return x + 1.0\n"
              "def entry_f(x: f64) -> f64:\n    return x * 10.0\n"
              "def free_all(x: f64) -> f64:\n    return x * 3.0\n"
              "def alloc(x: f64[n]) -> f64[n]:\n    return exp(x) * 7.0\n")
    mod = compile_source(source)
    assert (mod.f(2.0), mod.entry_f(2.0), mod.free_all(2.0)) == (3.0, 20.0, 6.0)
    assert mod.alloc(np.zeros(2)).tolist() == [7.0, 7.0]


@pytest.mark.parametrize("backend", ["native", "interp"])
def test_a_bool_byte_other_than_1_is_true(backend):
    # a uint8 array viewed as bool holds 2 or 255, which NumPy reads as True; native code
    # read the lowest bit alone, so 2 was False (1 counted of three)
    mod = compile_source("def count(x: bool[n]) -> i64:\n    s = 0\n    for i in range(len(x)):\n"
                         "        if x[i]:\n            s = s + 1\n    return s\n\n"
                         "def both(x: bool[n]) -> bool[n]:\n    return x and x\n", backend=backend)
    x = np.array([0, 2, 1, 255], dtype=np.uint8).view(np.bool_)
    assert mod.count(x) == 3
    assert mod.both(x).tolist() == [False, True, True, True]


ACCUMULATED = """\
def accumulate(g: f64[n, m], u: f64[k, n], v: f64[k, m]) -> f64[n, m]:
    acc = g * 1.0
    for j in range(k):
        acc = acc + outer(u[j], v[j])
    return acc

def with_row(a: f64[n, n], s: i64) -> f64[n, n]:
    acc = a * 1.0
    for j in range(s):
        r = acc[0]
        acc = [[acc[i, l] + r[l] for l in range(n)] for i in range(n)]
    return acc
"""


def alloc_calls(mod, fn: str) -> int:
    return len(re.findall(r"call fastcc ptr @dpc\.alloc", mod.ir(fn, stage="llvm")))


def test_a_build_read_at_its_own_elements_writes_into_that_array(monkeypatch):
    # acc + outer(u[j], v[j]) reads acc only at the element it makes, and acc is dead
    # after it: the sum is written into acc's buffer, with no second matrix per step
    mod = compile_source(ACCUMULATED)
    monkeypatch.setattr(runtime.lower, "element_wise_source", lambda op: None)
    apart = compile_source(ACCUMULATED)
    assert alloc_calls(mod, "accumulate") == alloc_calls(apart, "accumulate") - 1
    rng = np.random.default_rng(0)
    g, u, v = rng.standard_normal((3, 4)), rng.standard_normal((5, 3)), rng.standard_normal((5, 4))
    np.testing.assert_array_equal(mod.accumulate(g, u, v), apart.accumulate(g, u, v))
    np.testing.assert_allclose(mod.accumulate(g, u, v), g + u.T @ v, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("backend", ["native", "interp"])
def test_a_build_that_also_reads_a_row_of_its_source_gets_a_buffer_of_its_own(backend):
    # r = acc[0] is a view of acc read by every row: writing the sum into acc would
    # change r under the rows after the first
    mod = compile_source(ACCUMULATED, backend=backend)
    a = np.arange(9.0).reshape(3, 3)
    expected = a.copy()
    for _ in range(4):
        expected = expected + expected[0]
    assert mod.with_row(a, 4).tolist() == expected.tolist()
    assert a.tolist() == np.arange(9.0).reshape(3, 3).tolist()
