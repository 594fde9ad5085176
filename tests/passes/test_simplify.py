"""The scalar clean-up passes of stage `opt` (passes/simplify.py), IR before and after."""

import numpy as np
import pytest

import ir
from compiler import compile_file, compile_source
from passes.ad import AutoDiff
from passes.simplify import (CSE, ConstantFold, DeadCode, Inline, InlineCalls, Simplify,
                             callees_first)
from reference import EXAMPLES, make_inputs

BEFORE = """\
func @g(%x: f64[n], %w: f64) -> f64 {
  %0 = const 2.0 : f64
  %1 = const 3.0 : f64
  %2 = mul %0, %1 : f64
  %3 = const 1.0 : f64
  %4 = mul %w, %3 : f64
  %5 = const 0.0 : f64
  %6 = eq %3, %5 : bool
  %7 = select %6, %5, %4 {zero_guard = true} : f64
  %8 = neg %7 : f64
  %9 = neg %8 : f64
  %10 = sub %9, %5 : f64
  %11 = reduce_sum %x : f64
  %12 = reduce_sum %x : f64
  %13 = add %11, %12 : f64
  %14 = mul %13, %2 : f64
  %15 = mul %x, %5 : f64[n]
  %16 = add %14, %10 : f64
  %17 = const 0 : i64
  %18 = floordiv %17, %17 : i64
  return %16
}
"""

# constfold: 2 * 3 and 1 == 0 fold; simplify: w * 1, where(false, ..), -(-w), w - 0 are w;
# cse: the second sum is the first; dce: what is unused and cannot fail goes. x * 0.0
# is not folded (inf * 0 is NaN), only unused; 0 // 0 stays, as it must still raise.
AFTER = """\
func @g(%x: f64[n], %w: f64) -> f64 {
  %0 = const 6.0 : f64
  %1 = reduce_sum %x : f64
  %2 = add %1, %1 : f64
  %3 = mul %2, %0 : f64
  %4 = add %3, %w : f64
  %5 = const 0 : i64
  %6 = floordiv %5, %5 : i64
  return %4
}
"""

GRAD = """\
func @f(%x: f64) -> f64 {
  %0 = sin %x : f64
  %1 = mul %0, %x : f64
  return %1
}

func @g(%x: f64) -> f64 {
  %0 = grad %x {callee = @f, wrt = [0]} : f64
  return %0
}
"""

# After reverse mode, the gradient calls f.rev with the seed 1.0 ...
DIFFERENTIATED = """\
func @f(%x: f64) -> f64 {
  %0 = sin %x : f64
  %1 = mul %0, %x : f64
  return %1
}

func @g(%x: f64) -> f64 {
  %0 = const 1.0 : f64
  %1, %2 = call %x, %0 {callee = @f.rev} : f64, f64
  return %2
}

func @f.rev(%x: f64, %ct: f64) -> (f64, f64) {
  %0 = sin %x : f64
  %1 = mul %0, %x : f64
  %2 = mul %ct, %x : f64
  %3 = const 0.0 : f64
  %4 = eq %ct, %3 : bool
  %5 = select %4, %3, %2 {zero_guard = true} : f64
  %6 = mul %ct, %0 : f64
  %7 = const 0.0 : f64
  %8 = eq %ct, %7 : bool
  %9 = select %8, %7, %6 {zero_guard = true} : f64
  %10 = cos %x : f64
  %11 = mul %5, %10 : f64
  %12 = const 0.0 : f64
  %13 = eq %5, %12 : bool
  %14 = select %13, %12, %11 {zero_guard = true} : f64
  %x_bar = add %9, %14 : f64
  return %1, %x_bar
}
"""

# ... inlined, the seed is a constant: the guards on it and f's value fold away (sin's
# guard on its cotangent x stays: cos(inf) is NaN).
OPTIMIZED = """\
func @f(%x: f64) -> f64 {
  %0 = sin %x : f64
  %1 = mul %0, %x : f64
  return %1
}

func @g(%x: f64) -> f64 {
  %0 = sin %x : f64
  %1 = const 0.0 : f64
  %2 = cos %x : f64
  %3 = mul %x, %2 : f64
  %4 = eq %x, %1 : bool
  %5 = select %4, %1, %3 {zero_guard = true} : f64
  %x_bar = add %0, %5 : f64
  return %x_bar
}
"""


def run(passes, text):
    module = ir.parse_module(text)
    for p in passes:
        module = p.apply(module)
        ir.verify_module(module)
    return module


def test_constfold_simplify_cse_dce_before_and_after():
    module = run([ConstantFold(), Simplify(), CSE(), DeadCode()], BEFORE)
    assert ir.print_module(module) == AFTER
    for program in (ir.parse_module(BEFORE), module):  # the same error, before and after
        with pytest.raises(ZeroDivisionError):
            ir.Interpreter(program).run("g", [np.array([1.0, 2.0]), 0.5])


def test_reads_that_differ_only_in_the_written_name_are_one_read():
    """y = x; x[i] + y[i], the reads proved in range: the second read's name (y) is only
    for a message that it cannot raise."""
    before = ("func @f(%x: f64[n], %i: i64) -> f64 {\n  %0 = index %x, %i {inbounds = true} : f64\n"
              "  %1 = index %x, %i {array = \"y\", inbounds = true} : f64\n"
              "  %2 = add %0, %1 : f64\n  return %2\n}\n")
    after = ("func @f(%x: f64[n], %i: i64) -> f64 {\n  %0 = index %x, %i {inbounds = true} : f64\n"
             "  %1 = add %0, %0 : f64\n  return %1\n}\n")
    assert ir.print_module(run([CSE(), DeadCode()], before)) == after


def test_inlining_exposes_the_seed_of_a_gradient():
    module = AutoDiff().apply(ir.parse_module(GRAD))
    assert ir.print_module(module) == DIFFERENTIATED
    for p in (Inline(), ConstantFold(), Simplify(), CSE(), DeadCode()):
        module = p.apply(module)
        ir.verify_module(module)
    assert ir.print_module(module) == OPTIMIZED
    x = 0.7
    assert ir.Interpreter(module).run("g", [x]) == pytest.approx(np.cos(x) * x + np.sin(x), rel=1e-15)


def test_ieee_cases_are_not_folded():
    text = ("func @f(%x: f64) -> f64 {\n  %0 = const 0.0 : f64\n  %1 = add %x, %0 : f64\n"
            "  %2 = mul %1, %0 : f64\n  return %2\n}\n")
    module = run([ConstantFold(), Simplify(), CSE(), DeadCode()], text)
    assert ir.print_module(module) == text  # x + 0.0 is +0.0 at -0.0; inf * 0.0 is NaN
    assert np.isnan(ir.Interpreter(module).run("f", [np.inf]))


@pytest.mark.parametrize("name", ["gmm", "lstm", "ode"])
def test_optimized_gradients_equal_the_unoptimized_ones(name):
    file, fn, _ = EXAMPLES[name]
    fn = "ode_last" if name == "ode" else fn
    grad = compile_file(f"examples/{file}").grad(fn)
    args = make_inputs(name, "small", seed=5)
    optimized = grad(*args)  # native code is made from stage opt
    plain = grad.owner.interpreter.run(grad.name, list(args))  # the oracle runs stage ad
    as_tuple = lambda g: g if isinstance(g, tuple) else (g,)  # noqa: E731
    for got, expected in zip(as_tuple(optimized), as_tuple(plain)):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)


CALLS = """\
func @pick(%x: f64[n], %i: i64) -> f64 {
  %0 = index %x, %i : f64
  %1 = mul %0, %0 : f64
  return %1
}

func @total(%x: f64[n]) -> f64 {
  %n = dim %x {axis = 0} : i64
  %0 = const 0 : i64
  %1 = const 1 : i64
  %2 = reduce %0, %n, %1 {kind = "sum"} : f64 {
  ^(%i: i64):
    %3 = call %x, %i {callee = @pick} : f64
    yield %3
  }
  return %2
}
"""

# Before AD, the call's body takes its place: reverse mode then turns the read x[i] into
# an O(1) add_at, where the call's reverse would return a whole cotangent of x per i.
CALLS_INLINED = """\
func @total(%x: f64[n]) -> f64 {
  %n = dim %x {axis = 0} : i64
  %0 = const 0 : i64
  %1 = const 1 : i64
  %2 = reduce %0, %n, %1 {kind = "sum"} : f64 {
  ^(%i: i64):
    %3 = index %x, %i : f64
    %4 = mul %3, %3 : f64
    yield %4
  }
  return %2
}
"""


def test_calls_are_inlined_before_ad_unless_the_callee_has_a_custom_rule():
    module = InlineCalls().apply(ir.parse_module(CALLS))
    ir.verify_module(module)
    assert ir.print_function(module.functions["total"]) == CALLS_INLINED
    assert "pick" in module.functions  # the program's functions stay
    ruled = ir.parse_module(CALLS)
    ruled.functions["pick"].attrs["derivative"] = ir.Symbol("pick_vjp")
    InlineCalls().apply(ruled)
    assert "callee = @pick}" in ir.print_function(ruled.functions["total"])


# A chain: @a calls @b, which calls @c (in module order, callers first).
CHAIN = """\
func @a(%x: f64) -> f64 {
  %0 = call %x {callee = @b} : f64
  %1 = add %0, %x : f64
  return %1
}

func @b(%x: f64) -> f64 {
  %0 = call %x {callee = @c} : f64
  %1 = mul %0, %x : f64
  return %1
}

func @c(%x: f64) -> f64 {
  %0 = exp %x : f64
  return %0
}
"""

CHAIN_INLINED = """\
func @a(%x: f64) -> f64 {
  %0 = exp %x : f64
  %1 = mul %0, %x : f64
  %2 = add %1, %x : f64
  return %2
}

func @b(%x: f64) -> f64 {
  %0 = exp %x : f64
  %1 = mul %0, %x : f64
  return %1
}

func @c(%x: f64) -> f64 {
  %0 = exp %x : f64
  return %0
}
"""


def test_callees_are_inlined_into_before_their_callers():
    # in module order, @a took @b's body with its call of @c still in it, then another
    # round over all of @a: a chain of n functions took n rounds over a growing body
    module = ir.parse_module(CHAIN)
    assert [fn.name for fn in callees_first(module)] == ["c", "b", "a"]
    rounds = []
    inline = InlineCalls()
    block = inline.block
    inline.block = lambda module, body: rounds.append(body) or block(module, body)
    inline.apply(module)
    ir.verify_module(module)
    assert ir.print_module(module) == CHAIN_INLINED
    assert len(rounds) == 5  # @c: one round finds no call; @b and @a: one inlines, one finds none


def test_a_call_of_constants_to_a_function_with_a_rule_is_not_folded():
    # inner keeps its call (its rule is for AD); folding it ran the call without a
    # module to run it in, and the whole file failed to compile with a traceback
    source = ("def inner(y: f64) -> f64:\n    return y * 3.0\n\n"
              "@derivative(inner)\ndef inner_vjp(y: f64, ct: f64) -> f64:\n    return ct * 3.0\n\n"
              "def g(w: f64) -> f64:\n    z = 2.0\n    return w * inner(z + 1.0)\n\n"
              "def h(w: f64, k: i64) -> f64:\n    return w * inner(float(k))\n")
    mod = compile_source(source)
    assert "call %0 {callee = @inner}" in mod.ir("g", stage="opt")
    assert (mod.g(1.5), mod.grad("g")(1.5), mod.h(1.5, 2), mod.grad("h")(1.5, 2)) == (13.5, 9.0, 9.0, 6.0)
    fixed = mod.specialize("h", k=2)
    assert (fixed(1.5), mod.grad(fixed)(1.5)) == (9.0, 6.0)


RENAMED = """\
func @scale(%v: f64[k], %w: f64[k]) -> f64[k] {
  %0 = mul %v, %w : f64[k]
  return %0
}

func @named(%x: f64[n]) -> f64[n] {
  %0 = call %x, %x {callee = @scale} : f64[n]
  return %0
}

func @sized(%x: f64[3]) -> f64[3] {
  %0 = call %x, %x {callee = @scale} : f64[3]
  return %0
}

func @unsure(%x: f64[n], %y: f64[n]) -> f64[?] {
  %0 = shape_cast %x {type = f64[?]} : f64[?]
  %1 = call %0, %0 {callee = @scale} : f64[?]
  return %1
}
"""


def test_inlining_renames_the_callees_dimensions():
    # k is n at the first call and 3 at the second: the copies say so; at the third k is
    # an unknown size, so the call stays and checks at run time that its arguments agree
    module = InlineCalls().apply(ir.parse_module(RENAMED))
    ir.verify_module(module)
    assert ir.print_function(module.functions["named"]) == (
        "func @named(%x: f64[n]) -> f64[n] {\n"
        "  %0 = mul %x, %x : f64[n]\n"
        "  return %0\n"
        "}\n")
    assert ir.print_function(module.functions["sized"]) == (
        "func @sized(%x: f64[3]) -> f64[3] {\n"
        "  %0 = mul %x, %x : f64[3]\n"
        "  return %0\n"
        "}\n")
    assert "call %0, %0 {callee = @scale}" in ir.print_function(module.functions["unsure"])


def test_dim_of_a_literal_size_folds():
    source = ("func @f(%x: f64[4]) -> f64[4] {\n"
              "  %0 = dim %x {axis = 0} : i64\n"
              "  %1 = const 0.0 : f64\n"
              "  %2 = full %1, %0 : f64[4]\n"
              "  return %2\n"
              "}\n")
    after = ir.print_module(ConstantFold().apply(ir.parse_module(source)))
    assert after == source.replace("%0 = dim %x {axis = 0} : i64", "%0 = const 4 : i64")


CARRIED_SEED = """\
func @f(%x: f64[n]) -> f64[n] {
  %n = dim %x {axis = 0} : i64
  %0 = const 1.0 : f64
  %1 = const 0.0 : f64
  %2 = full %1, %n : f64[n]
  %3 = const 0 : i64
  %4 = const 1 : i64
  %5, %6 = for %3, %n, %4, %0, %2 : f64, f64[n] {
  ^(%k: i64, %ct: f64, %7: f64[n]):
    %8 = index %x, %k : f64
    %9 = mul %ct, %8 : f64
    %10 = eq %ct, %1 : bool
    %11 = select %10, %1, %9 {zero_guard = true} : f64
    %12 = add_at %7, %11, %k : f64[n]
    yield %ct, %12
  }
  return %6
}
"""


def test_a_value_carried_unchanged_folds_as_its_initial_constant():
    # reverse mode carries a loop's cotangent (here a gradient's seed 1.0) through the
    # loop unchanged; as the constant it is, `1.0 == 0.0` folds to false, simplify drops
    # the guard and the product by 1.0, and dce the carry
    module = run([ConstantFold(), Simplify(), DeadCode()], CARRIED_SEED)
    assert ir.print_module(module) == (
        "func @f(%x: f64[n]) -> f64[n] {\n"
        "  %n = dim %x {axis = 0} : i64\n"
        "  %0 = const 0.0 : f64\n"
        "  %1 = full %0, %n : f64[n]\n"
        "  %2 = const 0 : i64\n"
        "  %3 = const 1 : i64\n"
        "  %4 = for %2, %n, %3, %1 : f64[n] {\n"
        "  ^(%k: i64, %5: f64[n]):\n"
        "    %6 = index %x, %k : f64\n"
        "    %7 = add_at %5, %6, %k : f64[n]\n"
        "    yield %7\n"
        "  }\n"
        "  return %4\n"
        "}\n")
    x = np.array([1.0, -2.0, np.nan])
    assert str(ir.Interpreter(module).run("f", [x]).tolist()) == "[1.0, -2.0, nan]"

FOLDED_SIZE = """\
func @f(%x: f64[n]) -> f64 {
  %0 = const 2 : i64
  %1 = const 1 : i64
  %2 = add %0, %1 : i64
  %3 = const 0.0 : f64
  %4 = full %3, %2 : f64[?]
  %5 = add %4, %x : f64[n]
  %6 = reduce_sum %5 : f64
  return %6
}
"""


def test_a_folded_size_is_a_literal_in_the_types_that_read_it():
    # 2 + 1 folds to 3, so `full` makes an f64[3] (its rule says so); the sum with x of
    # size n reads it as f64[?], to check at run time that 3 is n, as before
    module = run([ConstantFold()], FOLDED_SIZE)
    assert ir.print_module(module) == (
        "func @f(%x: f64[n]) -> f64 {\n"
        "  %0 = const 2 : i64\n"
        "  %1 = const 1 : i64\n"
        "  %2 = const 3 : i64\n"
        "  %3 = const 0.0 : f64\n"
        "  %4 = full %3, %2 : f64[3]\n"
        "  %5 = shape_cast %4 {type = f64[?]} : f64[?]\n"
        "  %6 = add %5, %x : f64[n]\n"
        "  %7 = reduce_sum %6 : f64\n"
        "  return %7\n"
        "}\n")
    x = np.array([1.0, 2.0, 3.0])
    assert ir.Interpreter(module).run("f", [x]) == 6.0


# Each pass here replaces an i64 value that sizes an array by a better known one, so the
# array's type rule then gives a literal size where the declared type has `?`.
KNOWN_SIZES = {
    "simplify": ("def f(x: f64[n]) -> f64:\n"
                 "    z = zeros(0 + 1)\n"
                 "    return sum(z) + x[0]\n"),
    "inline_calls": ("def g(k: i64) -> f64:\n"
                     "    return sum(zeros(k) + 1.0)\n\n"
                     "def f(x: f64[n]) -> f64:\n"
                     "    return g(3) * x[0] + g(len(x))\n"),
    "dce": ("def f(x: f64[n]) -> f64:\n"
            "    m = 3\n"
            "    for i in range(n):\n"
            "        m = m + 0\n"
            "    return sum(zeros(m)) + x[0]\n"),
    # folded to 1, the size still does not broadcast: the front end typed it `?`
    "constfold, size 1": ("def f(x: f64[n]) -> f64:\n"
                          "    return sum(zeros(2 - 1) + x)\n"),
    # folded to -1, the range is empty: the comprehension has size 0, not -1
    "constfold, empty range": ("def f(x: f64[n]) -> f64:\n"
                               "    b = [x[i % n] * i for i in range(2 - 3)]\n"
                               "    return sum(b) + x[0]\n"),
}


def outcome(fn, *args):
    """What fn returns, as a list, or the type of the error it raises."""
    try:
        return np.asarray(fn(*args)).tolist()
    except ValueError as e:
        return type(e)


@pytest.mark.parametrize("name", list(KNOWN_SIZES))
def test_passes_that_make_a_size_known_keep_the_types_valid_and_the_meaning(name):
    # DPC_DEBUG (conftest) verifies the IR after every pass
    mod = compile_source(KNOWN_SIZES[name], name=f"{name}.dp")
    grad = mod.grad("f")
    for x in (np.array([2.0]), np.array([2.0, 3.0])):
        assert outcome(mod.f, x) == outcome(mod.f.interpret, x)
        assert outcome(grad, x) == outcome(grad.interpret, x)


def test_a_dead_scalar_add_at_goes_only_when_proved_in_range():
    # a scalar added at a proved index cannot fail: unused, it goes (the dense Hessian's
    # adjoint of x, made in every column); at an unproved one it stays, to raise
    text = ("func @f(%x: f64[n], %i: i64) -> f64 {\n"
            "  %0 = const 1.0 : f64\n"
            "  %1 = add_at %x, %0, %i {inbounds = true} : f64[n]\n"
            "  %2 = add_at %x, %0, %i : f64[n]\n"
            "  return %0\n"
            "}\n")
    kept = ("func @f(%x: f64[n], %i: i64) -> f64 {\n"
            "  %0 = const 1.0 : f64\n"
            "  %1 = add_at %x, %0, %i : f64[n]\n"
            "  return %0\n"
            "}\n")
    assert ir.print_module(run([DeadCode()], text)) == kept


def test_a_dead_chain_goes_in_one_walk_through_regions():
    # %3 is used only by the loop's dead %5, %2 only by %3, and %1 by %2 and the kept %6:
    # one walk from the end removes %5, then %3 and %2, whose uses it has counted away
    text = ("func @f(%x: f64, %k: i64) -> f64 {\n"
            "  %1 = exp %x : f64\n"
            "  %2 = mul %1, %1 : f64\n"
            "  %3 = add %2, %x : f64\n"
            "  %4 = for %k, %k, %k, %x : f64 {\n"
            "  ^(%i: i64, %a: f64):\n"
            "    %5 = mul %a, %3 : f64\n"
            "    %6 = add %a, %1 : f64\n"
            "    yield %6\n"
            "  }\n"
            "  return %4\n"
            "}\n")
    kept = ("func @f(%x: f64, %k: i64) -> f64 {\n"
            "  %0 = exp %x : f64\n"
            "  %1 = for %k, %k, %k, %x : f64 {\n"
            "  ^(%i: i64, %a: f64):\n"
            "    %2 = add %a, %0 : f64\n"
            "    yield %2\n"
            "  }\n"
            "  return %1\n"
            "}\n")
    assert ir.print_module(run([DeadCode()], text)) == kept


ONES = """\
func @f(%x: f64[n], %m: i64) -> (f64[n], f64[n], f64[n]) {
  %0 = const 1.0 : f64
  %1 = full %0, %m : f64[?]
  %2 = mul %1, %x : f64[n]
  %3 = dim %x {axis = 0} : i64
  %4 = full %0, %3 : f64[n]
  %5 = mul %4, %x : f64[n]
  %6 = div %x, %4 : f64[n]
  return %2, %5, %6
}
"""

# An array of ones the shape of x is 1.0 (a spread seed: prod's gradient was x's
# others' products times ones). One of a size not known to be x's stays, as the
# product checks that the sizes agree.
ONES_SIMPLIFIED = """\
func @f(%x: f64[n], %m: i64) -> (f64[n], f64[n], f64[n]) {
  %0 = const 1.0 : f64
  %1 = full %0, %m : f64[?]
  %2 = mul %1, %x : f64[n]
  return %2, %x, %x
}
"""


def test_a_product_with_ones_of_the_same_shape_is_the_other_factor():
    module = run([Simplify(), DeadCode()], ONES)
    assert ir.print_module(module) == ONES_SIMPLIFIED
    with pytest.raises(ir.ShapeErrorDP, match="size 2 is not 3"):
        ir.Interpreter(module).run("f", [np.ones(3), 2])


# The gradient of sum(y * y) where y's size is unknown (y = [... for i in range(n - 2)]):
# the seed is ones sized by dim(y * y), which has y's size (an elementwise product of y
# with itself, or it raised), so the seed times y is y; its zero guard compares ones
# with 0.0, false everywhere, so the select is y; then nothing reads the rest, which
# cannot fail (every array has y's shape), and DCE removes it. A full sized by another
# array's dim stays (a shape error where sizes differ).
SEED_OF_UNKNOWN_SIZE = """\
func @f(%y: f64[?], %z: f64[?]) -> (f64[?], f64[?]) {
  %0 = const 1.0 : f64
  %1 = const 0.0 : f64
  %2 = mul %y, %y : f64[?]
  %3 = dim %2 {axis = 0} : i64
  %4 = full %0, %3 : f64[?]
  %5 = mul %4, %y : f64[?]
  %6 = eq %4, %1 : bool[?]
  %7 = select %6, %1, %5 {zero_guard = true} : f64[?]
  %8 = dim %z {axis = 0} : i64
  %9 = full %0, %8 : f64[?]
  %10 = mul %9, %y : f64[?]
  return %7, %10
}
"""

SEED_OF_UNKNOWN_SIZE_SIMPLIFIED = """\
func @f(%y: f64[?], %z: f64[?]) -> (f64[?], f64[?]) {
  %0 = const 1.0 : f64
  %1 = dim %z {axis = 0} : i64
  %2 = full %0, %1 : f64[?]
  %3 = mul %2, %y : f64[?]
  return %y, %3
}
"""


def test_ones_sized_by_an_array_made_from_y_times_y_are_y():
    module = run([Simplify(), DeadCode()], SEED_OF_UNKNOWN_SIZE)
    assert ir.print_module(module) == SEED_OF_UNKNOWN_SIZE_SIMPLIFIED
    y = np.array([-0.0, 2.0, np.nan])
    out = ir.Interpreter(module).run("f", [y, np.ones(3)])
    np.testing.assert_array_equal(np.signbit(out[0]), np.signbit(y))
    with pytest.raises(ir.ShapeErrorDP, match="size 2 is not 3"):
        ir.Interpreter(module).run("f", [y, np.ones(2)])


def test_the_gradient_of_a_stencil_of_unknown_size_keeps_no_seed_arrays():
    # 7 arrays of y's size were made and kept (they might raise, as far as DCE knew):
    # the gradient took 214 us at n = 10^5, now 122-127 (its primal: 42)
    source = ("def f(x: f64[n]) -> f64:\n"
              "    y = [0.25 * x[i] + 0.5 * x[i + 1] + 0.25 * x[i + 2] for i in range(n - 2)]\n"
              "    return sum(y * y)\n")
    mod = compile_source(source)
    grad = mod.grad("f")
    opt = grad.owner.ir(grad.name, stage="opt")
    assert [line.split("=")[1].split()[0] for line in opt.splitlines()
            if ": f64[?]" in line or ": bool[?]" in line] == ["build", "add"]  # y, y + y
    x = np.random.default_rng(0).normal(size=7)
    y = np.convolve(x, [0.25, 0.5, 0.25], mode="valid")
    np.testing.assert_allclose(grad(x), np.convolve(2 * y, [0.25, 0.5, 0.25], mode="full"),
                               rtol=1e-15)


def test_a_dead_tape_of_rows_goes_with_its_updates_and_allocation():
    # a linear stencil's gradient reads nothing of its forward loop's tape: the rows it
    # stores fit (f64[n] into f64[?, n]) and the row count, max(s, 0), is never negative,
    # so the updates, the carried tape and the allocation cannot fail, and go
    text = ("func @f(%u0: f64[n], %s: i64) -> f64[n] {\n"
            "  %0 = const 0 : i64\n"
            "  %1 = const 1 : i64\n"
            "  %2 = maximum %s, %0 : i64\n"
            "  %3 = const 0.0 : f64\n"
            "  %n = dim %u0 {axis = 0} : i64\n"
            "  %tape = full %3, %2, %n : f64[?, n]\n"
            "  %4, %5 = for %0, %s, %1, %u0, %tape : f64[n], f64[?, n] {\n"
            "  ^(%t: i64, %u: f64[n], %rows: f64[?, n]):\n"
            "    %6 = update %rows, %u, %t {inbounds = true} : f64[?, n]\n"
            "    %7 = add %u, %u : f64[n]\n"
            "    yield %7, %6\n"
            "  }\n"
            "  return %4\n"
            "}\n")
    kept = ("func @f(%u0: f64[n], %s: i64) -> f64[n] {\n"
            "  %0 = const 0 : i64\n"
            "  %1 = const 1 : i64\n"
            "  %2 = for %0, %s, %1, %u0 : f64[n] {\n"
            "  ^(%t: i64, %u: f64[n]):\n"
            "    %3 = add %u, %u : f64[n]\n"
            "    yield %3\n"
            "  }\n"
            "  return %2\n"
            "}\n")
    assert ir.print_module(run([DeadCode()], text)) == kept
    # a row of unknown length may not fit: that update stays, to raise
    unknown = text.replace("%u0: f64[n]", "%u0: f64[?]").replace("f64[n]", "f64[?]") \
        .replace("f64[?, n]", "f64[?, ?]")
    assert "update" in ir.print_module(run([DeadCode()], unknown))


DEAD_NEST = (
    "func @f(%a: f64[m, n]) -> f64 {\n"
    "  %m = dim %a {axis = 0} : i64\n"
    "  %n = dim %a {axis = 1} : i64\n"
    "  %0 = const 0.0 : f64\n"
    "  %1 = const 0 : i64\n"
    "  %2 = const 1 : i64\n"
    "  %3 = for %1, %n, %2, %0 : f64 {\n"
    "  ^(%j: i64, %acc: f64):\n"
    "    %4 = for %1, %m, %2, %acc : f64 {\n"
    "    ^(%i: i64, %acc.1: f64):\n"
    "      %5 = index %a, %i, %j {inbounds = true} : f64\n"
    "      %6 = add %acc.1, %5 : f64\n"
    "      yield %6\n"
    "    }\n"
    "    yield %4\n"
    "  }\n"
    "  return %0\n"
    "}\n"
)


@pytest.mark.parametrize("change, goes", [
    ((), True),
    (("{inbounds = true} ", ""), False),       # an unproved read: it stays, to raise
    (("for %1, %m, %2,", "for %1, %m, %m,"), False),  # a step that may be 0 raises
])
def test_a_dead_loop_nest_goes_when_it_cannot_fail(change, goes):
    # a gradient that does not need the primal's value: the sum's loops over a matrix
    # (scalar carried through the inner loop, which only the outer's dead value used)
    text = DEAD_NEST.replace(*change) if change else DEAD_NEST
    out = ir.print_module(run([DeadCode()], text))
    assert (" = for " not in out) == goes
    if goes:
        assert out == ("func @f(%a: f64[m, n]) -> f64 {\n"
                       "  %0 = const 0.0 : f64\n"
                       "  return %0\n"
                       "}\n")


@pytest.mark.parametrize("a, b, goes", [
    ("f64[n, m]", "f64[m]", True), ("f64[m]", "f64[m, n]", True),
    ("f64[n, ?]", "f64[?]", False)])  # the sizes multiplied may differ: it stays, to raise
def test_a_dead_matrix_product_goes_when_its_sizes_agree(a, b, goes):
    # sum((K @ y) * y)'s gradient with respect to K's inputs needs no K @ y
    text = (f"func @f(%a: {a}, %b: {b}) -> f64 {{\n"
            "  %0 = const 1.0 : f64\n"
            "  %1 = matmul %a, %b : f64[n]\n"
            "  return %0\n"
            "}\n")
    assert ("matmul" not in ir.print_module(run([DeadCode()], text))) == goes


def test_sizes_of_products_and_transposes_are_read_off_their_operands():
    # then a product used only for its shape is dead: sum(a @ b)'s gradient, seeded with
    # ones of the product's shape, no longer computes the product
    text = ("func @f(%a: f64[n, m], %b: f64[m, k], %v: f64[m]) -> (i64, i64, i64, i64, i64) {\n"
            "  %0 = matmul %a, %b : f64[n, k]\n"
            "  %1 = dim %0 {axis = 1} : i64\n"
            "  %2 = matmul %v, %b : f64[k]\n"
            "  %3 = dim %2 {axis = 0} : i64\n"
            "  %4 = transpose %0 : f64[k, n]\n"
            "  %5 = dim %4 {axis = 1} : i64\n"
            "  %6 = outer %v, %2 : f64[m, k]\n"
            "  %7 = dim %6 {axis = 0} : i64\n"
            "  %8 = matmul %a, %v : f64[n]\n"
            "  %9 = dim %8 {axis = 0} : i64\n"
            "  return %1, %3, %5, %7, %9\n"
            "}\n")
    after = ("func @f(%a: f64[n, m], %b: f64[m, k], %v: f64[m]) -> (i64, i64, i64, i64, i64) {\n"
             "  %0 = dim %b {axis = 1} : i64\n"
             "  %1 = dim %b {axis = 1} : i64\n"
             "  %2 = dim %a {axis = 0} : i64\n"
             "  %3 = dim %v {axis = 0} : i64\n"
             "  %4 = dim %a {axis = 0} : i64\n"
             "  return %0, %1, %2, %3, %4\n"
             "}\n")
    assert ir.print_module(run([Simplify(), DeadCode()], text)) == after


@pytest.mark.parametrize("backend", ["native", "interp"])
def test_the_gradient_of_the_sum_of_a_product_computes_no_product_of_a_and_b(backend):
    mod = compile_source("def f(a: f64[n, m], b: f64[m, k]) -> f64:\n    return sum(a @ b)\n",
                         backend=backend)
    grad = mod.grad("f")
    assert mod.ir(grad, stage="opt").count("matmul") == 2  # ones @ b^T and a^T @ ones
    a, b = np.arange(6.0).reshape(2, 3), np.arange(12.0).reshape(3, 4)
    a_bar, b_bar = grad(a, b)
    np.testing.assert_array_equal(a_bar, np.ones((2, 4)) @ b.T)
    np.testing.assert_array_equal(b_bar, a.T @ np.ones((2, 4)))
