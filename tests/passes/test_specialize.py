"""Specialization (passes/specialize.py, `mod.specialize`, `--static`): IR before and
after, identical results on the examples, and the errors a bad request gets."""

import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import ir
from compiler import compile_file, compile_source
from passes.specialize import specialize
from reference import EXAMPLES, make_inputs

ROOT = Path(__file__).resolve().parent.parent.parent
DIFFERENTIATED = {"ode": "ode_last"}  # the scalar function of the ode example

POLY = """\
func @poly(%x: f64[n], %k: i64) -> f64 {
  %n = dim %x {axis = 0} : i64
  %0 = const 0 : i64
  %1 = const 1 : i64
  %2 = const 0.0 : f64
  %3 = for %0, %k, %1, %2 : f64 {
  ^(%i: i64, %acc: f64):
    %4 = index %x, %i : f64
    %5 = mul %acc, %4 : f64
    %6 = add %5, %4 : f64
    yield %6
  }
  %7 = full %3, %n : f64[n]
  %8 = mul %7, %x : f64[n]
  %9 = reduce_sum %8 : f64
  return %9
}
"""

# k = 2 is gone from the parameters; n = 3 is a literal in every type and `dim` of it a
# constant; the loop of two trips is unrolled.
POLY_SPECIALIZED = """\
func @poly.static(%x: f64[3]) -> f64 {
  %k = const 2 : i64
  %n = const 3 : i64
  %0 = const 0 : i64
  %1 = const 1 : i64
  %2 = const 0.0 : f64
  %i = const 0 : i64
  %3 = index %x, %i : f64
  %4 = mul %2, %3 : f64
  %5 = add %4, %3 : f64
  %i.1 = const 1 : i64
  %6 = index %x, %i.1 : f64
  %7 = mul %5, %6 : f64
  %8 = add %7, %6 : f64
  %9 = full %8, %n : f64[3]
  %10 = mul %9, %x : f64[3]
  %11 = reduce_sum %10 : f64
  return %11
}
"""


def test_integer_parameter_and_dimension_become_constants_and_small_loops_unroll():
    module = ir.parse_module(POLY)
    special = specialize(module, module.functions["poly"], {1: 2}, {"n": 3}, "poly.static")
    ir.verify_module(module)
    assert ir.print_function(special) == POLY_SPECIALIZED
    x = np.array([0.5, -2.0, 3.0])
    interp = ir.Interpreter(module)
    assert interp.run("poly.static", [x]) == interp.run("poly", [x, 2])


SIZED = """\
func @sized(%x: f64[n], %k: i64) -> f64[?] {
  %n = dim %x {axis = 0} : i64
  %0 = const 0.0 : f64
  %1 = full %0, %k : f64[?]
  %2 = const 0 : i64
  %3 = const 1 : i64
  %4 = build %2, %k, %3 : f64[?] {
  ^(%i: i64):
    %5 = mod %i, %n : i64
    %6 = index %x, %5 : f64
    yield %6
  }
  %7 = arange %k : i64[?]
  %8 = to_f64 %7 : f64[?]
  %9 = mul %4, %8 : f64[?]
  %acc = add %1, %9 : f64[?]
  %10 = const 0 : i64
  %11 = const 1 : i64
  %acc.1 = for %10, %n, %11, %acc : f64[?] {
  ^(%i.1: i64, %acc.2: f64[?]):
    %12 = index %x, %i.1 : f64
    %acc.3 = mul %acc.2, %12 : f64[?]
    yield %acc.3
  }
  return %acc.1
}
"""

# k = 3 sizes the arrays: every type that had its `?` says 3, the values the loop
# carries and the function's result included.
SIZED_SPECIALIZED = """\
func @sized.static(%x: f64[n]) -> f64[3] {
  %k = const 3 : i64
  %n = dim %x {axis = 0} : i64
  %0 = const 0.0 : f64
  %1 = full %0, %k : f64[3]
  %2 = const 0 : i64
  %3 = const 1 : i64
  %4 = build %2, %k, %3 : f64[3] {
  ^(%i: i64):
    %5 = mod %i, %n : i64
    %6 = index %x, %5 : f64
    yield %6
  }
  %7 = arange %k : i64[3]
  %8 = to_f64 %7 : f64[3]
  %9 = mul %4, %8 : f64[3]
  %acc = add %1, %9 : f64[3]
  %10 = const 0 : i64
  %11 = const 1 : i64
  %acc.1 = for %10, %n, %11, %acc : f64[3] {
  ^(%i.1: i64, %acc.2: f64[3]):
    %12 = index %x, %i.1 : f64
    %acc.3 = mul %acc.2, %12 : f64[3]
    yield %acc.3
  }
  return %acc.1
}
"""


def test_an_integer_parameter_that_sizes_arrays_becomes_a_literal_size_in_their_types():
    module = ir.parse_module(SIZED)
    special = specialize(module, module.functions["sized"], {1: 3}, {}, "sized.static")
    ir.verify_module(module)
    assert ir.print_function(special) == SIZED_SPECIALIZED
    assert ir.print_module(ir.parse_module(SIZED_SPECIALIZED)) == SIZED_SPECIALIZED
    x = np.array([0.5, -2.0])
    interp = ir.Interpreter(module)
    np.testing.assert_array_equal(interp.run("sized.static", [x]), interp.run("sized", [x, 3]))


MIXED = """\
func @mixed(%x: f64[n], %k: i64) -> f64[n] {
  %0 = const 0.0 : f64
  %1 = full %0, %k : f64[?]
  %2 = add %1, %x : f64[n]
  return %2
}
"""

# The literal 3 cannot meet the name n in a type rule (the front end rejects
# `zeros(3) + x`), and a literal 1 would broadcast where `?` must equal n: the sum reads
# the array as f64[?] and checks at run time that k is n, as the generic function does.
MIXED_SPECIALIZED = """\
func @mixed.static(%x: f64[n]) -> f64[n] {{
  %k = const {k} : i64
  %0 = const 0.0 : f64
  %1 = full %0, %k : f64[{k}]
  %2 = shape_cast %1 {{type = f64[?]}} : f64[?]
  %3 = add %2, %x : f64[n]
  return %3
}}
"""


@pytest.mark.parametrize("k", [3, 1])
def test_a_literal_size_that_meets_a_dimension_name_is_checked_at_run_time(k):
    module = ir.parse_module(MIXED)
    special = specialize(module, module.functions["mixed"], {1: k}, {}, "mixed.static")
    ir.verify_module(module)
    assert ir.print_function(special) == MIXED_SPECIALIZED.format(k=k)


# Programs whose i64 parameter k sizes arrays, and the k each is specialized for.
SIZED_PROGRAMS = {
    "zeros": ("def f(x: f64[n], k: i64) -> f64:\n"
              "    z = zeros(k)\n"
              "    return sum(z) + x[0]\n", 3),
    "computed size": ("def f(x: f64[n], k: i64) -> f64:\n"
                      "    z = zeros(k + 1) + x[1]\n"
                      "    return sum(z * x[0])\n", 0),
    "ones 2-D, returned": ("def f(x: f64[n], k: i64) -> f64[?, n]:\n"
                           "    return ones(k, n) * x\n", 3),
    "full": ("def f(x: f64[n], k: i64) -> f64:\n"
             "    return sum(full(x[1], k, 2) * x[0])\n", 4),
    "arange, returned": ("def f(x: f64[n], k: i64) -> f64[?]:\n"
                         "    return arange(k) * x[0]\n", 5),
    "comprehension": ("def f(x: f64[n], k: i64) -> f64:\n"
                      "    y = [x[i % n] * i for i in range(k)]\n"
                      "    return sum(y * y)\n", 3),
    "empty comprehension": ("def f(x: f64[n], k: i64) -> f64:\n"
                            "    y = [x[i % n] * i for i in range(k)]\n"
                            "    return sum(y) + x[0]\n", -1),
    "comprehension 2-D, returned": (
        "def f(x: f64[n], k: i64) -> f64[?, ?]:\n"
        "    return [[x[i % n] * j for j in range(k)] for i in range(k + 1)]\n", 3),
    "carried": ("def f(x: f64[n], k: i64) -> f64:\n"
                "    acc = zeros(k)\n"
                "    for i in range(n):\n"
                "        acc = acc + x[i]\n"
                "    return sum(acc * acc)\n", 3),
    # the loop carries zeros(k) in, x (of size n) out: its type widens back to `?`
    "carried, widened": ("def f(x: f64[n], k: i64) -> f64:\n"
                         "    acc = zeros(k)\n"
                         "    for i in range(20):\n"
                         "        acc = acc * 0.5 + x\n"
                         "    return sum(acc * acc)\n", 2),
    # unrolled, each copy of the body sizes an array by a constant index
    "unrolled": ("def f(x: f64[n], k: i64) -> f64:\n"
                 "    s = 0.0\n"
                 "    for i in range(k):\n"
                 "        s = s + sum(arange(i) * x[0])\n"
                 "    return s\n", 4),
}


@pytest.mark.parametrize("backend", ["interp", "native"])
@pytest.mark.parametrize("name", list(SIZED_PROGRAMS))
def test_specializing_an_integer_that_sizes_arrays_keeps_values_shapes_and_gradients(name,
                                                                                     backend):
    source, k = SIZED_PROGRAMS[name]
    mod = compile_source(source, name="sized.dp", backend=backend)
    special = mod.specialize(mod.f, k=k)  # a compiled function, or its name
    assert all(ir.DYN not in t.shape for t in special.function.return_types)  # sizes known
    x = np.array([1.5, -2.0])
    got, want = special(x), mod.f(x, k)
    assert np.shape(got) == np.shape(want)
    np.testing.assert_array_equal(got, want)
    if mod.f.function.return_types == [ir.F64]:
        np.testing.assert_array_equal(mod.grad(special)(x), mod.grad("f")(x, k))


@pytest.mark.parametrize("backend", ["interp", "native"])
@pytest.mark.parametrize("k", [2, 1])
def test_a_specialized_size_meets_a_dimension_as_in_the_generic_function(k, backend):
    mod = compile_source("def f(x: f64[n], k: i64) -> f64:\n    return sum(zeros(k) + x)\n",
                         name="mixed.dp", backend=backend)
    special = mod.specialize("f", k=k)
    x = np.arange(1.0, k + 1)
    assert special(x) == mod.f(x, k) == x.sum()
    other = np.arange(1.0, k + 2)  # a size 1 does not broadcast either: k is not n
    with pytest.raises(ValueError) as generic:
        mod.f(other, k)
    with pytest.raises(ValueError) as specialized:
        special(other)
    assert str(specialized.value) == str(generic.value)


@pytest.mark.parametrize("backend", ["interp", "native"])
def test_a_dimension_fixed_to_1_does_not_start_broadcasting(backend):
    # a literal 1 broadcasts; n = 1 must still equal the sizes it meets, so n stays a name
    # in the types and the argument's size is checked on entry
    mod = compile_source("def f(x: f64[n], k: i64) -> f64:\n    return sum(zeros(k + n - n) + x)\n",
                         name="one.dp", backend=backend)
    special = mod.specialize("f", n=1)
    assert "(%x: f64[n], %k: i64)" in special.owner.ir(special.name)
    assert special([0.5], 1) == mod.f([0.5], 1) == 0.5
    with pytest.raises(ValueError) as generic:
        mod.f([0.5], 2)
    with pytest.raises(ValueError) as specialized:
        special([0.5], 2)
    assert str(specialized.value) == str(generic.value)
    with pytest.raises(ValueError, match=r"^argument x must be f64\[1\]: axis 0 has size 2, not 1$"):
        special([0.5, 1.5], 1)
    grad = mod.grad(special)
    np.testing.assert_array_equal(grad([0.5], 1), mod.grad("f")([0.5], 1))


@pytest.mark.parametrize("backend", ["interp", "native"])
def test_a_negative_size_fails_at_run_time_as_in_the_generic_function(backend):
    # 2 - k folds to -1: no array has that size, so the type keeps its `?`
    mod = compile_source("def f(x: f64[n], k: i64) -> f64:\n"
                         "    return sum(ones(2 - k) * x[0])\n", name="neg.dp", backend=backend)
    special = mod.specialize("f", k=3)
    assert "full %0, %2 : f64[?]" in special.owner.ir(special.name)
    x = np.array([1.0, 2.0])
    for generic, specialized in ((mod.f, special), (mod.grad("f"), mod.grad(special))):
        with pytest.raises(ValueError, match="negative array dimension -1"):
            generic(x, 3)
        with pytest.raises(ValueError, match="negative array dimension -1"):
            specialized(x)


@pytest.mark.parametrize("backend", ["interp", "native"])
def test_a_negative_trip_count_gives_an_empty_tape_not_a_negative_size(backend):
    # ode's loop over range(s) is too long to unroll: with s = -1 it runs no step, and
    # the tape of its carried state has 0 rows, not -1 (which failed: "negative array
    # dimension -1", where the generic gradient at s = -1 is 0)
    mod = compile_file("examples/ode.dp", backend=backend)
    special = mod.specialize("ode_last", s=-1)
    x = np.array([0.5, -1.0, 2.0])
    assert mod.grad(special)(x).tolist() == mod.grad("ode_last")(x, -1).tolist() == [0.0] * 3
    assert mod.hessian(special)(x).tolist() == [[0.0] * 3] * 3


def everything_static(fn, args) -> dict:
    """Every i64 parameter and every dimension of fn, at the values args give them."""
    values = {}
    for p, a in zip(fn.params, args):
        if p.type == ir.I64:
            values[p.name_hint] = int(a)
        for d, size in zip(getattr(p.type, "shape", ()), np.shape(a)):
            if isinstance(d, str) and d != ir.DYN:
                values[d] = size
    return values


def as_tuple(value) -> tuple:
    return value if isinstance(value, tuple) else (value,)


@pytest.mark.parametrize("backend", ["interp", "native"])
@pytest.mark.parametrize("name", list(EXAMPLES))
def test_specialized_examples_give_identical_values_and_gradients(name, backend):
    file, primal, _ = EXAMPLES[name]
    mod = compile_file(f"examples/{file}", backend=backend)
    args = make_inputs(name, "small", seed=3)
    for fn in (primal, DIFFERENTIATED.get(name, primal)):
        generic = mod.function(fn)
        values = everything_static(generic.function, args)
        special = mod.specialize(fn, **values)
        assert mod.specialize(fn, **values) is special  # cached
        rest = [a for p, a in zip(generic.function.params, args) if p.type != ir.I64]
        np.testing.assert_array_equal(special(*rest), generic(*args))
        if generic.function.return_types == [ir.F64]:
            for g, h in zip(as_tuple(mod.grad(special)(*rest)),
                            as_tuple(mod.grad(fn)(*args))):
                np.testing.assert_array_equal(g, h)


UNROLLED_SUM = """
def f(x: f64[n], k: i64) -> f64:
    a = 0.0
    for i in range(k):
        a += sum(x * float(i + 1))
    return a
"""


@pytest.mark.parametrize("backend", ["interp", "native"])
def test_a_sum_unrolled_out_of_a_loop_adds_as_it_did_inside(backend):
    # unrolled, the sum is outside loops; native code adds a long sum in the same partial
    # sums there as inside (when it added those inside in order, the specialized f
    # differed from the generic one in the last bit)
    mod = compile_source(UNROLLED_SUM, backend=backend)
    x = np.random.default_rng(0).normal(size=100)
    assert "for " not in ir.print_module(mod.specialize("f", k=2).owner.module)
    for k in (1, 2, 3):
        assert mod.specialize("f", k=k)(x) == mod.f(x, k)
        assert mod.specialize("f", k=k, n=100)(x) == mod.f(x, k)


CARRIED_FIXED_SIZE = """\
def d(x: f64[n], k: i64) -> f64:
    acc = zeros(k)
    for i in range(2):
        acc = acc + x
    return sum(acc)
"""


@pytest.mark.parametrize("backend", ["interp", "native"])
def test_an_unrolled_loop_carrying_an_array_of_the_fixed_size(backend):
    # unrolled, acc's copies were f64[3] where the body was typed with f64[?]: specializing
    # raised a VerifyError traceback (cannot add f64[3] and f64[n]), for k = 2 too, where
    # the generic function raises its run-time size error
    mod = compile_source(CARRIED_FIXED_SIZE, name="c.dp", backend=backend)
    x = np.array([1.0, 2.0, 3.0])
    assert mod.specialize("d", k=3)(x) == mod.d(x, 3) == 12.0
    with pytest.raises(ir.ShapeErrorDP) as generic:
        mod.d(x, 2)
    with pytest.raises(ir.ShapeErrorDP) as special:
        mod.specialize("d", k=2)(x)
    assert str(special.value) == str(generic.value) == (
        "cannot add f64[?] and f64[n]: size 2 is not 3 (at c.dp:4:19)")


MATH_OF_CONSTANTS = """\
def f(k: i64) -> f64:
    s = float(k) * 0.37
    return tanh(s) + expm1(s) + log1p(s * s) + tan(s) + exp(s * 0.25) + (1.3 ** s)
"""


def test_math_of_values_specialization_makes_constant_keeps_native_code_s_bits():
    # folded with NumPy, tanh(9.0) was 0.9999999695400409 where native code computes
    # 0.999999969540041: the specialized result differed from the generic one's
    mod = compile_source(MATH_OF_CONSTANTS)
    for k in range(-30, 31):
        assert mod.specialize("f", k=k)() == mod.f(k), k
    assert "tanh" in mod.ir(mod.specialize("f", k=9), stage="opt")


def test_a_specialized_function_checks_the_sizes_it_was_made_for():
    mod = compile_file("examples/lse.dp")
    special = mod.specialize("lse", n=4)
    assert special(np.array([1.0, 2.0, 3.0, 4.0])) == mod.lse(np.array([1.0, 2.0, 3.0, 4.0]))
    with pytest.raises(ValueError, match="n"):
        special(np.array([1.0, 2.0, 3.0]))


def test_bad_specialization_requests_say_what_is_wrong():
    mod = compile_source("def f(x: f64[n], k: i64, w: f64) -> f64:\n    return x[k] * w\n")
    with pytest.raises(ValueError, match=r"'w' is neither an i64 parameter nor a dimension "
                                         r"of 'f' \(those are: k, n\)"):
        mod.specialize("f", w=2)
    with pytest.raises(ValueError, match=r"'w' is neither"):  # said "w must be an integer"
        mod.specialize("f", w=2.0)
    with pytest.raises(ValueError, match="k must be an integer, not 2.5"):
        mod.specialize("f", k=2.5)
    with pytest.raises(ValueError, match="dimension n cannot be -1"):
        mod.specialize("f", n=-1)
    with pytest.raises(ValueError, match=r"k = 9223372036854775808 is outside the range of i64"):
        mod.specialize("f", k=2**63)  # native code would wrap it around
    with pytest.raises(ValueError, match=r"^specialize\(f\): give the sizes to fix, as "
                                         r"specialize\('f', k=100\) \(those are: k, n\)$"):
        mod.specialize("f")  # it made f.static., f itself under a name ending in a dot
    assert mod.specialize("f", k=1, n=3)(np.array([1.0, 2.0, 3.0]), 0.5) == 1.0
    with pytest.raises(ValueError, match="n must be an integer, not True"):
        mod.specialize("f", n=True)  # a size is never a truth value
    plain = compile_source("def g(x: f64, y: f64) -> f64:\n    return x * y\n")
    with pytest.raises(ValueError, match=r"^specialize\(g\): 'g' has no i64 parameter and no "
                                         r"named dimension, so there is nothing to fix: call "
                                         r"it as it is$"):
        plain.specialize("g")  # it said: as specialize('g', n=100) (those are: none)


def test_a_bool_fixes_an_i64_parameter_as_a_call_passes_it():
    # a call takes True for an i64 as 1 (NumPy's safe cast), so specialize takes it too
    mod = compile_source("def f(x: f64[n], k: i64) -> f64:\n    return x[k]\n")
    x = np.array([1.0, 2.0, 3.0])
    assert mod.f(x, True) == 2.0
    for flag in (True, np.bool_(True)):
        assert mod.specialize("f", k=flag)(x) == 2.0
    assert mod.specialize("f", k=False)(x) == 1.0


def test_a_size_fixed_once_cannot_be_fixed_again():
    """A specialized function, and a derivative of it, no longer have n: it was called
    neither an i64 parameter nor a dimension, as if the user had mistyped it."""
    mod = compile_source("def f(x: f64[n], k: i64) -> f64:\n    return x[k] * x[k]\n")
    special = mod.specialize("f", n=3)
    again = "specialize\\({}\\): n is already fixed to 3 in it; specialize the generic function for another n"
    with pytest.raises(ValueError, match=again.format(r"f\.static\.n3")):
        mod.specialize(special, n=4)
    with pytest.raises(ValueError, match=again.format(r"f\.static\.n3\.grad")):
        mod.specialize(mod.grad(special), n=4)
    with pytest.raises(ValueError, match=again.format(r"f\.static\.n3")):  # it forgot them
        mod.specialize(pickle.loads(pickle.dumps(special)), n=4)
    both = mod.specialize(special, k=1)  # another size still can be fixed
    assert both(np.array([1.0, 2.0, 3.0])) == 4.0
    assert mod.grad(both)(np.array([1.0, 2.0, 3.0])).tolist() == [0.0, 4.0, 0.0]


def dpc(*argv) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "compiler.cli", *argv], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_cli_static_runs_and_prints_the_specialized_ir():
    generic = dpc("run", "examples/llsq.dp", "llsq", "--random", "0", "--dim", "m=4",
                  "--arg", "n=9")
    special = dpc("run", "examples/llsq.dp", "llsq", "--random", "0", "--dim", "m=4",
                  "--static", "n=9")
    assert generic.returncode == special.returncode == 0, special.stderr
    assert special.stdout == generic.stdout
    text = dpc("ir", "examples/llsq.dp", "--fn", "llsq", "--static", "n=9", "--static", "m=2")
    assert text.stdout.startswith("func @llsq.static.m2.n9(%x: f64[2]) -> f64 {\n")
    bad = dpc("run", "examples/llsq.dp", "llsq", "--static", "q=3")
    assert bad.returncode == 1
    assert "'q' is neither an i64 parameter nor a dimension of 'llsq'" in bad.stderr


CUSTOM_RULES = """\
def f(x: f64[n], k: i64) -> f64:
    return sum(x) * float(k)

@derivative(f)
def f_vjp(x: f64[n], k: i64, ct: f64) -> f64[n]:
    return zeros(n) + ct * float(100 + k)

@tangent(f)
def f_jvp(x: f64[n], k: i64, t: f64[n]) -> f64:
    return float(7 + k) * sum(t)
"""


@pytest.mark.parametrize("backend", ["interp", "native"])
def test_a_specialized_function_keeps_its_custom_rules_with_the_value_fixed(backend):
    # the rules take f's parameters, k included: they are specialized for k as f is
    # (they were kept as they were, and grad failed with "@f_vjp takes 3 arguments, 2 given")
    mod = compile_source(CUSTOM_RULES, name="rules.dp", backend=backend)
    special = mod.specialize("f", k=3)
    x = np.array([1.0, 2.0, 3.0])
    assert mod.grad(special)(x).tolist() == mod.grad("f")(x, 3).tolist() == [103.0] * 3
    assert mod.jvp(special)(x, np.ones(3)) == mod.jvp("f", wrt="x")(x, 3, np.ones(3)) == (18.0, 30.0)
    assert mod.hvp(special)(x, np.ones(3)).tolist() == [0.0] * 3


def test_a_negative_value_names_the_specialized_function_so_that_its_ir_parses_back():
    # `llsq.static.n-5` printed, but `-` ends a symbol in the text format: the dump of
    # the specialized module did not parse back
    mod = compile_file("examples/llsq.dp")
    special = mod.specialize("llsq", n=-5)
    assert special.name == "llsq.static.n_neg5"
    text = ir.print_module(special.owner.module)
    assert ir.print_module(ir.parse_module(text)) == text
    x = np.array([0.5, 1.5])
    assert special(x) == mod.llsq(x, -5) == 0.0


@pytest.mark.parametrize("backend", ["interp", "native"])
@pytest.mark.parametrize("n", [1, 2])
def test_an_argument_of_another_size_than_a_fixed_dimension_is_named(n, backend):
    # n = 1 stays a name, checked in the body: the message named no argument
    # ("expected f64[1]: axis 0 has size 3, not 1") and differed between the backends
    mod = compile_file("examples/lse.dp", backend=backend)
    with pytest.raises(ValueError) as err:
        mod.specialize("lse", n=n)(np.ones(3))
    assert str(err.value) == f"argument x must be f64[{n}]: axis 0 has size 3, not {n}"


def test_a_dimension_larger_than_any_argument_may_have_is_refused():
    # the calling convention refuses a size above 2**60 (only an array of no elements can
    # have one); specialized for one, the function took such an argument and ran
    mod = compile_source("def f(b: bool[n, m]) -> f64:\n    return float(n)\n")
    with pytest.raises(ValueError) as generic:
        mod.f(np.zeros((2**62, 0), dtype=bool))
    assert str(generic.value) == "argument b makes dimension n 4611686018427387904: dpc takes at most 2**60"
    with pytest.raises(ValueError, match=r"^specialize\(f\): dimension n = 4611686018427387904 "
                                         r"is more than 2\*\*60, the largest size dpc takes$"):
        mod.specialize("f", n=2**62)
    assert mod.specialize("f", n=2**60)(np.zeros((2**60, 0), dtype=bool)) == 2.0**60
