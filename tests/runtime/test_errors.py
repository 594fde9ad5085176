"""Run-time errors: the same kind and message on both backends, at the place in the source
where the program fails, also when it fails inside a derivative."""

import numpy as np
import pytest

from compiler import compile_source
from ir import ShapeErrorDP, ValueErrorDP

BACKENDS = ["native", "interp"]

ZERO_STEP = """\
def steps(x: f64, k: i64) -> f64:
    acc = 0.0
    for i in range(0, 5, k):
        acc += x * x
    return acc
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_loop_s_zero_step_is_reported_at_the_loop_in_every_derivative(backend):
    # reverse mode counted the trips with no place attached; forward mode built the loop
    # at the place of the last op of its body
    mod = compile_source(ZERO_STEP, name="steps.dp", backend=backend)
    for call in (lambda: mod.steps(2.0, 0), lambda: mod.grad("steps")(2.0, 0),
                 lambda: mod.vjp("steps")(2.0, 0, 1.0), lambda: mod.jvp("steps")(2.0, 0, 1.0),
                 lambda: mod.hvp("steps")(2.0, 0, 1.0), lambda: mod.hessian("steps")(2.0, 0)):
        with pytest.raises(ValueErrorDP) as err:
            call()
        assert str(err.value) == "range() step must not be zero (at steps.dp:3:5)"
    assert mod.grad("steps")(2.0, 2) == 12.0


MISMATCHED = """\
def times(x: f64[n], k: i64) -> f64:
    return sum(x * ones(k))

def pick(x: f64[n], k: i64) -> f64:
    return sum(where(x > 0.0, x, ones(k)))

def along_rows(a: f64[n, m], k: i64) -> f64:
    return sum(transpose(a) * ones(k))

def dotted(x: f64[n], k: i64) -> f64:
    return dot(x, ones(k))

def product(a: f64[n, m], k: i64) -> f64:
    return sum(a @ ones(k, 2))

def stored(x: f64[n], k: i64) -> f64:
    a = zeros(n, n)
    a[0] = ones(k) * x[0]
    return sum(a)

def times_left(x: f64[n], k: i64) -> f64:
    return sum(ones(k) * x)

def dotted_left(x: f64[n], k: i64) -> f64:
    return dot(ones(k), x)

def product_left(a: f64[n, m], k: i64) -> f64:
    return sum(ones(2, k) @ a)

def rows(x: f64[n], k: i64) -> f64:
    return sum([x, ones(k)])

def declared(x: f64[n], k: i64) -> f64:
    y: f64[n] = ones(k)
    return sum(y * x)

def maxed(a: f64[m, n], k: i64) -> f64:
    return sum(max(a, zeros(m, k)))

def compared(a: f64[m, n], k: i64) -> f64:
    return sum(where(a > zeros(m, k), a, 0.0))
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_sizes_that_do_not_match_read_the_same_on_both_backends(backend):
    # the interpreter said "mul: shapes (3,) and (2,) do not match" where native code said
    # "mul: operand shapes do not match: size 2 is not 3"; now both compare the same sizes,
    # and name the operation as the type rule does, not by its IR op (mul, select).
    # Sizes that must agree read in the source's order, the left operand's first: x * ones(k)
    # and ones(k) * x both said "size 2 is not 3", whichever side ones(k) was on; dot and
    # @ named the right operand first. A declared type's size said "not 3" in native code
    # and "got an array of shape (2,): ... not n = 3" in the interpreter
    mod = compile_source(MISMATCHED, name="sizes.dp", backend=backend)
    x, a = np.array([1.0, 2.0, 3.0]), np.ones((2, 3))
    for fn, args, message in [
            ("times", (x, 2), "cannot multiply f64[n] and f64[?]: size 3 is not 2 (at sizes.dp:2:18)"),
            ("pick", (x, 2), "cannot apply where() to bool[n], f64[n] and f64[?]: size 3 is not 2 "
                     "(at sizes.dp:5:16)"),
            ("along_rows", (a, 3), "cannot multiply f64[m, n] and f64[?] along axis 1 of the result: "
                                   "size 2 is not 3 (at sizes.dp:8:29)"),
            ("dotted", (x, 2), "dot: vector lengths do not match: size 3 is not 2 (at sizes.dp:11:12)"),
            ("product", (a, 2), "@: inner dimensions do not match: size 3 is not 2 "
                                "(at sizes.dp:14:18)"),
            ("stored", (x, 2), "the stored row does not fit its slot: size 2 is not 3 "
                               "(at sizes.dp:18:5)"),
            ("times_left", (x, 2), "cannot multiply f64[?] and f64[n]: size 2 is not 3 "
                                   "(at sizes.dp:22:24)"),
            ("dotted_left", (x, 2), "dot: vector lengths do not match: size 2 is not 3 "
                                    "(at sizes.dp:25:12)"),
            ("product_left", (a, 3), "@: inner dimensions do not match: size 3 is not 2 "
                                     "(at sizes.dp:28:27)"),
            ("rows", (x, 2), "array literal rows have different shapes: size 3 is not 2 "
                             "(at sizes.dp:31:16)"),
            ("declared", (x, 2), "expected f64[n]: axis 0 has size 2, not n = 3 "
                                 "(at sizes.dp:34:17)"),
            ("maxed", (a, 2), "cannot take max of f64[m, n] and f64[m, ?] along axis 1: size 3 is "
                              "not 2 (at sizes.dp:38:16)"),
            ("compared", (a, 2), "cannot compare f64[m, n] and f64[m, ?] along axis 1: size 3 is "
                                 "not 2 (at sizes.dp:41:24)")]:
        for call in (mod.function(fn), mod.grad(fn), mod.jvp(fn)):
            tangent = (np.ones_like(args[0]),) if call.name.endswith(".jvp") else ()
            with pytest.raises(ShapeErrorDP) as err:
                call(*args, *tangent)
            assert str(err.value) == message, (fn, call.name)


POWERS = """\
def powers(x: i64[n], k: i64) -> i64[n]:
    return x ** k
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_negative_power_of_no_element_is_no_error(backend):
    # as x // 0 of an empty x, and NumPy's x ** -1: no element is raised to the power
    mod = compile_source(POWERS, name="powers.dp", backend=backend)
    assert mod.powers(np.zeros(0, dtype=np.int64), -1).shape == (0,)
    with pytest.raises(ValueErrorDP) as err:
        mod.powers(np.array([2]), -1)
    assert str(err.value) == ("integers to negative integer powers are not allowed "
                              "(at powers.dp:2:14)")


GROWING = """\
def grows(x: f64[n], k: i64) -> f64:
    a = zeros(1) + x[0]
    for i in range(k):
        a = [a[j % len(a)] * x[j % n] for j in range(i + 2)]
    return sum(a)

def grows_while(x: f64[n], k: i64) -> f64:
    a = zeros(1) + x[0]
    i = 0
    while i < k:
        a = [a[j % len(a)] * x[j % n] for j in range(i + 2)]
        i += 1
    return sum(a)
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_reverse_mode_says_a_loop_s_carried_array_changed_size(backend):
    # the tape keeps rows of the first size; the error was about a "stored row" that the
    # program never stored
    mod = compile_source(GROWING, name="grows.dp", backend=backend)
    x = np.array([0.5, 2.0, 3.0])
    for fn, line in (("grows", 3), ("grows_while", 10)):
        assert mod.function(fn)(x, 2) == 2.875  # the function, and forward mode, run
        assert mod.jvp(fn)(x, 2, np.array([1.0, 0.0, 0.0]))[1] == 7.75
        assert mod.grad(fn)(x, 1).tolist() == [3.0, 0.5, 0.0]  # the size never changed
        with pytest.raises(ShapeErrorDP) as err:
            mod.grad(fn)(x, 2)
        assert str(err.value) == ("reverse mode cannot differentiate a loop whose carried "
                                  f"array changes size: 'a' did: size 2 is not 1 "
                                  f"(at grows.dp:{line}:5)")


RENAMED = """\
def alias(x: f64[n], i: i64) -> f64:
    y = x
    return y[i]

def simplified(x: f64[n], i: i64) -> f64:
    y = x * 1.0
    return y[i]

def carried(x: f64[n], i: i64) -> f64:
    y = x
    for j in range(2):
        y = y
    return y[i]

def stored(x: f64[n], i: i64) -> f64:
    b = -(-x)
    b[i] = 1.0
    return sum(b)

def read(a: f64[n], i: i64) -> f64:
    return a[i]

def inlined(x: f64[n], i: i64) -> f64:
    return read(x, i)
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_index_out_of_range_names_the_array_as_the_program_wrote_it(backend):
    # the error named the operand's value: x for y = x, and for y = x * 1.0 only in
    # native code, whose IR `simplify` has run on (the interpreter said y)
    mod = compile_source(RENAMED, name="renamed.dp", backend=backend)
    x = np.array([1.0, 2.0, 3.0])
    for fn, name, line, col in [("alias", "y", 3, 13), ("simplified", "y", 7, 13),
                                ("carried", "y", 13, 13), ("stored", "b", 17, 5),
                                ("inlined", "a", 21, 13)]:
        for call in (mod.function(fn), mod.grad(fn)):
            with pytest.raises(IndexError) as err:
                call(x, 5)
            assert str(err.value) == (f"index 5 is out of bounds for axis 0 of {name} with "
                                      f"size 3 (at renamed.dp:{line}:{col})"), (fn, call.name)
