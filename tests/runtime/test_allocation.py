"""Arrays too large to allocate: both backends raise MemoryErrorDP with the same message
instead of crashing, native code frees what the call made before, and the next call
works. The sizes here overflow the byte count of an i64, so the errors do not depend on
the machine's memory (and nothing large is ever allocated)."""

import numpy as np
import pytest

from compiler import compile_source
from ir import MemoryErrorDP, RuntimeErrorDP

BACKENDS = ["native", "interp"]

SOURCE = """\
def total(k: i64) -> f64:
    return sum(zeros(k))

def made(k: i64) -> f64[?]:
    return zeros(k)

def updated(k: i64) -> f64:
    z = zeros(k)
    z[k - 1] = 1.0
    return z[k - 1]

def built(k: i64) -> f64:
    z = [float(i) for i in range(k)]
    return z[k - 1]

def rows(x: f64[n], k: i64) -> f64[?, n]:
    return [x * float(i) for i in range(k)]

def square(k: i64, j: i64) -> f64:
    z = ones(k, k)
    z[j, j] = 5.0
    return z[j, j] + z[j, 0] + z[0, j]

def after_a_temporary(x: f64[n], k: i64) -> f64:
    y = exp(x)
    y[0] = sum(zeros(k))
    return sum(y)

def empty(k: i64) -> f64[?, ?, ?]:
    return zeros(k, 0, k)

def literal() -> f64:
    return sum(zeros(4294967296, 4294967296))
"""

HUGE = 2**61  # elements: 2**64 bytes of f64, past the largest i64


@pytest.fixture(scope="module", params=BACKENDS)
def mod(request):
    return compile_source(SOURCE, name="a.dp", backend=request.param)


@pytest.mark.parametrize("fn, at, small", [("total", "2:16", 0.0), ("made", "5:12", [0.0] * 3),
                                           ("updated", "8:9", 1.0), ("built", "13:9", 2.0)])
def test_a_vector_too_large(mod, fn, at, small):
    with pytest.raises(MemoryErrorDP) as err:
        mod.run(fn, HUGE)
    assert str(err.value) == ("cannot allocate an array of 2305843009213693952 f64 elements "
                              f"(16 EiB) (at a.dp:{at})")
    assert isinstance(err.value, MemoryError) and isinstance(err.value, RuntimeErrorDP)
    np.testing.assert_array_equal(mod.run(fn, 3), small)  # the next call works


@pytest.mark.parametrize("fn, at", [("total", "2:16"), ("updated", "8:9"), ("built", "13:9")])
def test_specialized_code_raises_what_generic_code_raises(mod, fn, at):
    # fixing k makes the sizes literals, and native code took an array of literal sizes
    # for one that is always made: mod.specialize("total", k=HUGE)() returned 0.0
    with pytest.raises(MemoryErrorDP) as err:
        mod.specialize(fn, k=HUGE)()
    assert str(err.value) == ("cannot allocate an array of 2305843009213693952 f64 elements "
                              f"(16 EiB) (at a.dp:{at})")


def test_literal_sizes_too_large_for_any_machine(mod):
    # native code dropped the array, which only the sum read, and returned 0.0
    with pytest.raises(MemoryErrorDP) as err:
        mod.literal()
    assert str(err.value) == ("cannot allocate an array of 4294967296 x 4294967296 f64 elements "
                              "(128 EiB) (at a.dp:33:16)")


def test_rows_too_many(mod):
    # an array of arrays is allocated once the first row gives its size
    with pytest.raises(MemoryErrorDP) as err:
        mod.rows(np.ones(4), HUGE)
    assert str(err.value) == ("cannot allocate an array of 2305843009213693952 x 4 f64 elements "
                              "(64 EiB) (at a.dp:17:12)")
    np.testing.assert_array_equal(mod.rows(np.ones(2), 3), [[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]])


@pytest.mark.parametrize("j, small", [(0, 15.0), (1, 7.0)])
def test_a_matrix_whose_size_wraps_around(mod, j, small):
    # 2**32 x 2**32 x 8 bytes is 2**67: taken modulo 2**64 it was 0 bytes, and native
    # code wrote z[1, 1] past the end of the heap block (z[0, 0] read back garbage)
    with pytest.raises(MemoryErrorDP) as err:
        mod.square(2**32, j)
    assert str(err.value) == ("cannot allocate an array of 4294967296 x 4294967296 f64 elements "
                              "(128 EiB) (at a.dp:20:9)")
    assert mod.square(3, j) == small


def test_sizes_zero_do_not_count(mod):
    # NumPy's rule, which native code follows: the other sizes must still fit
    assert mod.empty(2**29).shape == (2**29, 0, 2**29)
    with pytest.raises(MemoryErrorDP) as err:
        mod.empty(2**30)
    assert str(err.value) == ("cannot allocate an array of 1073741824 x 0 x 1073741824 f64 "
                              "elements (its sizes other than 0 overflow) (at a.dp:30:12)")


def resident_kib() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4


def test_the_error_frees_what_the_call_made():
    mod = compile_source(SOURCE, name="a.dp")
    x = np.linspace(0.0, 1.0, 1000)
    assert mod.after_a_temporary(x, 3) == pytest.approx(np.exp(x).sum() - 1.0, rel=1e-12)
    for _ in range(2000):  # warm up allocator pools
        with pytest.raises(MemoryErrorDP):
            mod.after_a_temporary(x, HUGE)
    before = resident_kib()
    for _ in range(20_000):
        with pytest.raises(MemoryErrorDP):
            mod.after_a_temporary(x, HUGE)
    growth = resident_kib() - before
    # each failed call leaves an 8 KiB temporary to free; a leak would show 160 MiB
    assert growth < 8 * 1024, f"resident memory grew by {growth} KiB"


def test_native_code_names_three_sizes_of_a_larger_array():
    # the call's context has room for three values: the interpreter names every size
    source = "def f(k: i64) -> f64:\n    return sum(zeros(k, 2, k, k))\n"
    native, interp = (compile_source(source, name="r.dp", backend=b) for b in BACKENDS)
    with pytest.raises(MemoryErrorDP) as err:
        native.f(2**30)
    assert str(err.value) == ("cannot allocate an array of 1073741824 x 2 x 1073741824 x ... f64 "
                              "elements (rank 4) (at r.dp:2:16)")
    with pytest.raises(MemoryErrorDP) as err:
        interp.f(2**30)
    assert str(err.value) == ("cannot allocate an array of 1073741824 x 2 x 1073741824 x "
                              "1073741824 f64 elements (1.72e+10 EiB) (at r.dp:2:16)")


LOOP = """\
def product(x: f64[n], iters: i64) -> f64:
    s = 1.0
    for i in range(iters):
        s = s * x[i]
    return s
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_tape_too_large_says_the_derivative_stores_it(backend):
    # the gradient allocates the loop's tape before the loop runs, so the index error the
    # primal raises at x[3] is not reached; the message spoke of 'an array' the program
    # does not have
    mod = compile_source(LOOP, name="loop.dp", backend=backend)
    with pytest.raises(IndexError):
        mod.product(np.ones(3), HUGE)
    with pytest.raises(MemoryErrorDP) as err:
        mod.grad("product")(np.ones(3), HUGE)
    assert str(err.value) == ("cannot allocate the array of 2305843009213693952 f64 elements "
                              "(16 EiB) that the derivative stores values in (at loop.dp:3:5)")
    np.testing.assert_array_equal(mod.grad("product")(np.full(3, 2.0), 3), [4.0, 4.0, 4.0])
