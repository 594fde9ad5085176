"""Bounds: an index that is a loop variable over the array's own size needs no check."""

import ir
from compiler import compile_source
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from ir import IndexErrorDP, ShapeErrorDP
from passes.bounds import Bounds, Unchecked

SOURCE = """\
def f(x: f64[n], y: f64[m], k: i64) -> f64:
    acc = 0.0
    for i in range(n):
        acc += x[i]
    for i in range(1, n):
        acc += x[i]
    for i in range(m):
        acc += x[i]
    for i in range(k):
        acc += x[i]
    for i in range(0, n, 2):
        acc += x[i]
    return acc + sum(y[j] for j in range(m)) + x[0]
"""


def test_only_provable_indices_are_marked():
    module = Bounds().apply(ir.clone_module(compile_source(SOURCE, backend="interp").module))
    marks = [op.attrs.get("inbounds", False) for op in ir.walk_ops(module.functions["f"].body)
             if op.name == "index"]
    #       x[i] 0..n  1..n   over m  over k  step 2  y[j]   x[0]
    assert marks == [True, True, False, False, True, True, False]


DOWN = """\
    for i in range(n - 1, -1, -1):
        acc += x[i] + y[i]
    for i in range(n - 2, -1, -3):
        acc += x[i]
    for i in range(n - 1, 0, -1):
        acc += x[i - 1] + x[i - 2]
"""
COUNTING_DOWN = ("def g(x: f64[n], y: f64[n]) -> f64:\n    acc = 0.0\n" + DOWN + "    return acc\n"
                 "def f(x: f64[n], y: f64[m]) -> f64:\n    acc = 0.0\n" + DOWN +
                 "    for i in range(n, -1, -1):\n        acc += x[i]\n"
                 "    for i in range(n - 1, -2, -1):\n        acc += x[i]\n"
                 "    return acc\n")


def test_a_loop_counting_down_from_below_the_size_stays_in_range():
    # range(n - 1, -1, -1) and the like: c + 1 <= i <= n - 1; not from n, nor down to -1
    # (after the optimizer, which folds -1 into a constant)
    mod = compile_source(COUNTING_DOWN)
    module = ir.parse_module(mod.ir("f", stage="scalar"))
    marks = [op.attrs.get("inbounds", False) for op in ir.walk_ops(module.functions["f"].body)
             if op.name == "index"]
    #       x[i]  y[i]   step -3 x[i-1] x[i-2]  from n  to -1
    assert marks == [True, False, True, True, "wraps", False, False]
    x = np.arange(1.0, 6.0)
    with pytest.raises(IndexError, match="index 5 is out of bounds"):
        mod.f(x, x)  # the loop from n reads x[5]
    with pytest.raises(IndexError, match="index 4 is out of bounds for axis 0 of y"):
        mod.f(x, x[:3])  # the first loop reads y[4] first
    # 2 * 15, then x[3] + x[0], then 7 + 5 + 3 + (x[0] + x[-1])
    assert mod.g(x, x) == 30.0 + 5.0 + 21.0 == mod.interpreter.run("g", [x, x])


def test_before_and_after():
    source = "def f(x: f64[n]) -> f64:\n    return sum(x[i] for i in range(n))\n"
    module = compile_source(source, backend="interp").module
    before = ir.print_module(module)
    after = ir.print_module(Bounds().apply(ir.clone_module(module)))
    assert "%3 = index %x, %i : f64" in before
    assert after == before.replace("%3 = index %x, %i : f64",
                                   "%3 = index %x, %i {inbounds = true} : f64")


def test_unmarked_index_still_fails_cleanly():
    mod = compile_source(SOURCE)
    import numpy as np
    import pytest
    with pytest.raises(IndexError):
        mod.f(np.ones(3), np.ones(5), 1)  # the loop over m reads x[3]


def test_negative_offsets_and_constants_inside_a_loop_over_the_size():
    source = ("def f(x: f64[n], y: f64[m]) -> f64:\n"
              "    return sum(x[i - 1] + x[0] + x[-1] + x[i + 1] + x[2] + y[i - 1] for i in range(n))\n")
    module = Bounds().apply(ir.clone_module(compile_source(source, backend="interp").module))
    marks = [op.attrs.get("inbounds", False) for op in ir.walk_ops(module.functions["f"].body)
             if op.name == "index"]
    # x[-1] is the constant -1, in range counting from the end where the loop runs (n >= 1)
    #       x[i-1]  x[0]  x[-1]  x[i+1] x[2]   y[i-1] (y is over m, the loop over n)
    assert marks == ["wraps", True, "wraps", False, False, False]


def test_an_index_counting_down_as_the_loop_counts_up():
    # n - 1 - i for i in [0, n) is in [0, n): the index of a reverse sweep's reads and
    # adds; n - 2 - i reaches -1 and wraps; n - i reaches n; m - 1 - i is over another size
    source = ("def f(x: f64[n], y: f64[m]) -> f64:\n"
              "    return sum(x[n - 1 - i] + x[n - 2 - i] + x[n - i] + y[m - 1 - i] for i in range(n))\n")
    mod = compile_source(source)
    module = Bounds().apply(ir.clone_module(mod.module))
    marks = [op.attrs.get("inbounds", False) for op in ir.walk_ops(module.functions["f"].body)
             if op.name == "index"]
    #       n-1-i  n-2-i    n-i    m-1-i
    assert marks == [True, "wraps", False, False]
    x = np.arange(1.0, 4.0)
    with pytest.raises(IndexError, match="index 3 is out of bounds"):
        mod.f(x, x)


def test_marked_negative_index_wraps_like_python():
    import numpy as np
    source = ("def f(x: f64[n]) -> f64[n]:\n"
              "    return [x[0] if i == 0 else x[i] * x[i - 1] for i in range(n)]\n")
    mod = compile_source(source)
    x = np.array([2.0, 3.0, 5.0])
    np.testing.assert_array_equal(mod.f(x), [2.0, 6.0, 15.0])
    assert "if" not in mod.ir("f", stage="scalar").split("build")[1]  # speculated: a select


def test_a_loop_up_to_an_outer_variable_stays_below_the_outer_size():
    # c < r + 1 <= n and c < r < n: in range; c < r + 2 may reach n: checked
    source = ("def f(x: f64[n]) -> f64:\n"
              "    acc = 0.0\n"
              "    for r in range(n):\n"
              "        acc += sum(x[c] for c in range(r)) + sum(x[c] for c in range(r + 1))\n"
              "        acc += sum(x[c] for c in range(r + 2))\n"
              "    return acc\n")
    module = Bounds().apply(ir.clone_module(compile_source(source, backend="interp").module))
    marks = [op.attrs.get("inbounds", False) for op in ir.walk_ops(module.functions["f"].body)
             if op.name == "index"]
    assert marks == [True, True, False]


def test_a_loop_over_a_smaller_literal_size_stays_in_range():
    # specialized: a loop to 3 reads x: f64[5] in range, y: f64[2] maybe not
    source = ("func @f(%x: f64[5], %y: f64[2]) -> f64 {\n"
              "  %0 = const 0 : i64\n"
              "  %1 = const 3 : i64\n"
              "  %2 = const 1 : i64\n"
              "  %3 = reduce %0, %1, %2 {kind = \"sum\"} : f64 {\n"
              "  ^(%i: i64):\n"
              "    %4 = index %x, %i : f64\n"
              "    %5 = index %y, %i : f64\n"
              "    %6 = mul %4, %5 : f64\n"
              "    yield %6\n"
              "  }\n"
              "  return %3\n"
              "}\n")
    module = Bounds().apply(ir.parse_module(source))
    marks = [op.attrs.get("inbounds", False) for op in ir.walk_ops(module.functions["f"].body)
             if op.name == "index"]
    assert marks == [True, False]


def test_updates_at_the_loop_variable_are_marked():
    source = ("def f(c: f64[n], y: f64[n]) -> f64[n]:\n"
              "    out = zeros(n)\n"
              "    for k in range(1, n):\n"
              "        out[k - 1] += c[k] * y[k]\n"
              "    return out\n")
    module = compile_source(source, backend="interp").module
    before = ir.print_module(module)
    after = ir.print_module(Bounds().apply(ir.clone_module(module)))
    update = "%out.3 = update %out.2, %9, %4 : f64[n]"
    assert update in before
    marked = {update: "%out.3 = update %out.2, %9, %4 {inbounds = true} : f64[n]",
              "%5 = index %c, %k : f64": "%5 = index %c, %k {inbounds = true} : f64",
              "%6 = index %y, %k : f64": "%6 = index %y, %k {inbounds = true} : f64",
              "%8 = index %out.2, %4 : f64": "%8 = index %out.2, %4 {inbounds = true} : f64"}
    for old, new in marked.items():
        before = before.replace(old, new)
    assert after == before


UNCHECKED_BEFORE = """\
func @f(%x: f64[n], %i: i64) -> f64 {
  %n = dim %x {axis = 0} : i64
  %0 = const 0 : i64
  %1 = const 1 : i64
  %s = reduce %0, %n, %1 {kind = "sum"} : f64 {
  ^(%j: i64):
    %2 = index %x, %j {inbounds = true} : f64
    yield %2
  }
  %3 = index %x, %i : f64
  %4 = add %s, %3 : f64
  return %4
}
"""


def test_unchecked_takes_every_unproven_index_as_valid():
    # what bounds proved stays as it is; the rest may still count from the end
    after = ir.print_module(Unchecked().apply(ir.parse_module(UNCHECKED_BEFORE)))
    assert after == UNCHECKED_BEFORE.replace("%3 = index %x, %i : f64",
                                             "%3 = index %x, %i {inbounds = \"assumed\"} : f64")


def test_checked_false_drops_the_checks_of_native_code():
    source = "def at(x: f64[n], i: i64) -> f64:\n    return x[i]\n"
    checked, unchecked = compile_source(source), compile_source(source, checked=False)
    assert '{inbounds = "assumed"}' in unchecked.ir(stage="scalar")
    assert "inbounds" not in checked.ir(stage="scalar")
    x = np.array([1.0, 2.0, 3.0])
    assert unchecked.at(x, -1) == checked.at(x, -1) == 3.0
    with pytest.raises(IndexErrorDP):
        checked.at(x, 3)
    # derived functions are made as their module is: the checked gradient keeps the read
    # of x[i] that checks i; the unchecked one needs no read of x at all
    assert "index %x, %i : f64" in checked.grad("at").owner.ir(stage="scalar")
    assert "index %x" not in unchecked.grad("at").owner.ir(stage="scalar")


GUARDED_SOURCE = """\
def f(x: f64[n]) -> f64[n]:
    return [x[i + 1] if i < n - 1 else 0.0 for i in range(n)]
"""


def test_a_read_the_if_test_keeps_in_range_is_guarded_before_and_after():
    module = compile_source(GUARDED_SOURCE, backend="interp").module
    before = ir.print_module(module)
    after = ir.print_module(Bounds().apply(ir.clone_module(module)))
    read = "%9 = index %x, %8 : f64"
    assert read in before
    assert after == before.replace(read, '%9 = index %x, %8 {inbounds = "guarded"} : f64')


@pytest.mark.parametrize("test, marked", [
    ("i < n - 1", "guarded"),            # i + 1 < n
    ("i + 1 < n", "guarded"),
    ("n - 1 > i", "guarded"),
    ("i <= n - 2", "guarded"),
    ("i < n - 1 and i > 0", "guarded"),  # one part of `and` is enough
    ("not (i >= n - 1)", "guarded"),
    ("i < n", False),                    # i + 1 may be n
    ("i <= n - 1", False),
    ("i < n - 1 or i > 0", False),       # `or`: neither part need hold
    ("i > n - 1", False),                # says nothing about i + 1 < n
    # i + 2**63 - 1 wraps around: the test holds for every i >= 1
    ("i + 9223372036854775807 < n", False),
    ("i < n - 9223372036854775807", False),  # n - b is taken at its word for b <= 2**32
])
def test_which_if_tests_prove_a_shifted_read(test, marked):
    source = f"def f(x: f64[n]) -> f64[n]:\n    return [x[i + 1] if {test} else 0.0 for i in range(n)]\n"
    module = Bounds().apply(ir.clone_module(compile_source(source, backend="interp").module))
    marks = [op.attrs.get("inbounds", False) for op in ir.walk_ops(module.functions["f"].body)
             if op.name == "index"]
    assert marks == [marked]


def test_a_loop_variable_near_2_to_the_63_proves_nothing():
    # i + 3 wraps around to a negative number, which is below n: x[i + 2] read x[-2**63]
    source = ("def f(x: f64[n]) -> f64:\n"
              "    s = 0.0\n"
              "    for i in range(9223372036854775806, 9223372036854775807):\n"
              "        if i + 3 < n:\n"
              "            s += x[i + 2]\n"
              "    return s\n")
    mod = compile_source(source)
    assert "inbounds" not in [line for line in mod.ir("f", stage="scalar").splitlines()
                              if "index %x" in line][0]
    with pytest.raises(IndexErrorDP, match="^index -9223372036854775808 is out of bounds"):
        mod.f(np.arange(4.0))


def test_a_dimension_beyond_2_to_the_60_is_refused_at_the_call():
    # a loop up to n is taken to stay below 2**60, so that i + 100 < k cannot wrap
    # around; an array of no elements could make n 2**63 - 1
    source = ("def f(x: f64[k], b: bool[n, m]) -> f64:\n"
              "    s = 0.0\n"
              "    for i in range(9223372036854775800, n):\n"
              "        if i + 100 < k:\n"
              "            s += x[i + 100]\n"
              "    return s\n")
    for backend in ("native", "interp"):
        mod = compile_source(source, backend=backend)
        with pytest.raises(ShapeErrorDP) as err:
            mod.f(np.ones(3), np.empty((2**63 - 1, 0), dtype=bool))
        assert str(err.value) == ("argument b makes dimension n 9223372036854775807: dpc "
                                  "takes at most 2**60")
        assert mod.f(np.ones(3), np.empty((2**60, 0), dtype=bool)) == 0.0


def test_the_else_branch_takes_the_opposite_of_the_test():
    source = ("def f(x: f64[n]) -> f64[n]:\n"
              "    return [0.0 if i >= n - 2 else x[i + 2] for i in range(n)]\n")
    module = Bounds().apply(ir.clone_module(compile_source(source, backend="interp").module))
    marks = [op.attrs.get("inbounds", False) for op in ir.walk_ops(module.functions["f"].body)
             if op.name == "index"]
    assert marks == ["guarded"]


def test_a_guarded_read_stays_under_its_test_and_runs_as_written():
    # speculation would read x[n] at i = n - 1: the `if` stays, native code has no check
    mod = compile_source(GUARDED_SOURCE)
    scalar = mod.ir("f", stage="scalar")
    assert '{inbounds = "guarded"}' in scalar and " = if " in scalar and "select" not in scalar
    x = np.array([1.0, 2.0, 3.0, 4.0])
    assert mod.f(x).tolist() == [2.0, 3.0, 4.0, 0.0]
    assert mod.f(x[:1]).tolist() == [0.0]
    # forward mode's tangent read repeats the guarded read: it stays under the test too
    y, t = mod.jvp("f")(x, np.array([10.0, 20.0, 30.0, 40.0]))
    assert t.tolist() == [20.0, 30.0, 40.0, 0.0]
    assert "select" not in mod.ir(mod.jvp("f"), stage="scalar")


def test_unchecked_reads_are_not_moved_out_of_their_test():
    # --unchecked takes x[c[i]] as valid where the program reads it, which is only when
    # the test holds: made before the test, the read could be anywhere in memory
    source = ("def f(x: f64[n], c: i64[n]) -> f64[n]:\n"
              "    return [x[c[i]] if c[i] < n and c[i] > -n else 0.0 for i in range(n)]\n")
    mod = compile_source(source, checked=False)
    scalar = mod.ir("f", stage="scalar")
    assert '%10 = index %x, %3 {inbounds = "assumed"} : f64' in scalar
    assert "%9 = if %8 : f64" in scalar and "select %8" not in scalar
    assert mod.f(np.array([1.0, 2.0, 3.0]), np.array([2, 10**15, -10**15])).tolist() == [3.0, 0.0, 0.0]


REPEATED_BEFORE = """\
func @f(%x: f64[n], %j: i64) -> f64 {
  %n = dim %x {axis = 0} : i64
  %0 = const 0 : i64
  %1 = const 1 : i64
  %s = reduce %0, %n, %1 {kind = "sum"} : f64 {
  ^(%i: i64):
    %2 = index %x, %i {inbounds = "repeated"} : f64
    %3 = sub %i, %1 : i64
    %4 = index %x, %3 {inbounds = "repeated"} : f64
    %5 = index %x, %0 {inbounds = "repeated"} : f64
    %6 = index %x, %j {inbounds = "repeated"} : f64
    %7 = add %2, %4 : f64
    %8 = add %5, %6 : f64
    %9 = add %7, %8 : f64
    yield %9
  }
  return %s
}
"""


def test_repeated_reads_get_the_proofs_that_hold_wherever_they_move():
    # x[i] and x[i - 1] are in range for every i of the loop; x[0] only when the loop
    # runs, and x[j] only where the program read it: those two stay "repeated"
    from passes.bounds import prove_repeated
    module = ir.parse_module(REPEATED_BEFORE)
    prove_repeated(module.functions["f"])
    assert ir.print_module(module) == REPEATED_BEFORE.replace(
        '%2 = index %x, %i {inbounds = "repeated"}', "%2 = index %x, %i {inbounds = true}").replace(
        '%4 = index %x, %3 {inbounds = "repeated"}', '%4 = index %x, %3 {inbounds = "wraps"}')


def test_a_gradient_never_reads_what_the_program_did_not():
    # the reverse sweep repeats x[j] in a loop that runs k = 0 times: made before the
    # loop, it read x[10**14] (a crash); it stays behind the loop's own test
    source = ("def f(x: f64[n], j: i64, k: i64) -> f64:\n"
              "    t = 0.0\n"
              "    for i in range(k):\n"
              "        t += sin(x[j]) * t + x[j]\n"
              "    return t\n")
    grad = compile_source(source).grad("f")
    assert grad(np.ones(3), 10**14, 0).tolist() == [0.0, 0.0, 0.0]
    assert grad(np.ones(3), 10**14, -10**14)[0] == 0.0
    with pytest.raises(IndexErrorDP):
        grad(np.ones(3), 10**14, 1)
    assert grad(np.ones(3), 2, 1).tolist() == [0.0, 0.0, 1.0]


def test_a_read_that_cannot_fail_where_it_is_goes_when_unused():
    # the gradient of sum(exp(x[i + 1]) ...) needs no primal value: the loop that read
    # x[i + 1] under its test (kept while the read was checked) is gone; the one loop
    # left, the reverse sweep adding at i + 1 and i, is gathered: three loops storing the
    # elements (passes/gather.py), and no build
    source = "def f(x: f64[n]) -> f64:\n    return sum([exp(x[i + 1]) if i + 1 < n else x[i] for i in range(n)])\n"
    mod = compile_source(source)
    scalar = mod.ir(mod.grad("f"), stage="scalar")
    assert scalar.count(" = for ") == 3 and " = build " not in scalar
    assert " add_at " not in scalar and scalar.count(" = update ") == 3
    x = np.array([0.5, 1.0, 2.0])
    assert mod.grad("f")(x).tolist() == [0.0, np.exp(1.0), np.exp(2.0) + 1.0]


@pytest.mark.parametrize("read, marked", [
    ("x[c[i]] if c[i] < n and c[i] >= 0 else 0.0", "guarded"),
    ("x[c[i]] if 0 <= c[i] and c[i] < n else 0.0", "guarded"),
    ("x[c[i] - 1] if 1 <= c[i] and c[i] <= n else 0.0", "guarded"),
    ("0.0 if c[i] < 0 or c[i] >= n else x[c[i]]", "guarded"),
    ("x[c[i]] if c[i] < n else 0.0", False),              # may be below -n
    ("x[c[i]] if c[i] >= 0 and c[i] <= n else 0.0", False),  # may be n
    # c[i] + 1 may wrap around to -2**63: only the value itself is taken at its word
    ("x[c[i] + 1] if c[i] + 1 < n and c[i] + 1 >= 0 else 0.0", False),
])
def test_a_test_on_any_value_proves_a_gather(read, marked):
    source = f"def f(x: f64[n], c: i64[n]) -> f64[n]:\n    return [{read} for i in range(n)]\n"
    mod = compile_source(source)
    reads = [line for line in mod.ir("f", stage="scalar").splitlines() if "index %x" in line]
    assert len(reads) == 1
    assert (f'{{inbounds = "{marked}"}}' in reads[0]) if marked else "inbounds" not in reads[0]
    x, c = np.array([1.0, 2.0, 3.0]), np.array([2, 3, -2**63])
    assert outcome(mod, x, c) == outcome(compile_source(source, backend="interp"), x, c)


def outcome(mod, *args):
    """f's value as a list, or the type of the error it raised."""
    try:
        return mod.f(*args).tolist()
    except Exception as e:  # noqa: BLE001
        return type(e)


SLIDING = """\
def f(x: f64[n], w: f64[k]) -> f64[?]:
    return [sum(w[j] * x[i + j] for j in range(k)) for i in range(n - k + 1)]
"""


def test_sums_of_loop_variables_are_bounded_by_their_ranges():
    # i <= n - k and j <= k - 1, so 0 <= i + j <= n - 1: the window's read is proved
    module = compile_source(SLIDING, backend="interp").module
    before = ir.print_module(module)
    after = ir.print_module(Bounds().apply(ir.clone_module(module)))
    read = "      %11 = index %x, %10 : f64\n"
    assert read in before and "      %9 = index %w, %j : f64\n" in before
    assert after == before.replace(read, read.replace(" : f64", " {inbounds = true} : f64")) \
        .replace("%9 = index %w, %j : f64", "%9 = index %w, %j {inbounds = true} : f64")


@pytest.mark.parametrize("windows, read", [
    ("range(n - k + 2)", "x[i + j]"),   # i + j may be n
    ("range(n - k + 1)", "x[i - j]"),   # may be negative
    ("range(n - k + 1)", "x[i + j + 1]"),
    ("range(n)", "x[i + j]"),
    ("range(n - k + 1)", "x[i + k]"),   # k itself: below n only when i < n - k
])
def test_reads_the_ranges_do_not_bound_stay_checked(windows, read):
    source = SLIDING.replace("range(n - k + 1)", windows).replace("x[i + j]", read)
    mod = compile_source(source)
    reads = [line for line in mod.ir("f", stage="scalar").splitlines() if "index %x" in line]
    assert len(reads) == 1 and "inbounds" not in reads[0]


def test_a_clamped_loop_end_bounds_its_variable():
    # Horner's rule over elements: interchange runs the loop over c up to
    # select(n > 0, k, 0), at most k, so c[j] is proved
    source = ("def poly(t: f64, c: f64[k]) -> f64:\n    p = 0.0\n    for j in range(k):\n"
              "        p = p * t + c[j]\n    return p\n"
              "def f(x: f64[n], c: f64[k]) -> f64[n]:\n"
              "    return [poly(x[i], c) for i in range(n)]\n")
    scalar = compile_source(source).ir("f", stage="scalar")
    assert "  %3 = select %2, %k, %0 : i64\n" in scalar
    assert "      %6 = index %c, %j {inbounds = true} : f64\n" in scalar


def test_a_sliding_window_runs_as_numpy_and_raises_as_the_interpreter():
    mod = compile_source(SLIDING)
    x, w = np.arange(1.0, 8.0), np.array([0.5, -1.0, 2.0])
    assert mod.f(x, w).tolist() == np.correlate(x, w, "valid").tolist()
    assert mod.f(x[:2], w).tolist() == []
    wide = compile_source(SLIDING.replace("n - k + 1", "n - k + 2"))
    with pytest.raises(IndexError, match="index 7 is out of bounds for axis 0 of x"):
        wide.f(x, w)



def weighty(adds: int) -> str:
    """f reading x[i + n + ... + n - n - ... - n], n added and then taken `adds` times."""
    steps = [("add", f"%a{k}") for k in range(adds)] + [("sub", f"%s{k}") for k in range(adds)]
    ops, last = [], "%i"
    for name, result in steps:
        ops.append(f"    {result} = {name} {last}, %n : i64\n")
        last = result
    return ("func @f(%x: f64[n]) -> f64 {\n"
            "  %n = dim %x {axis = 0} : i64\n"
            "  %0 = const 0 : i64\n"
            "  %1 = const 1 : i64\n"
            "  %2 = const 0.0 : f64\n"
            "  %3 = for %0, %n, %1, %2 : f64 {\n"
            "  ^(%i: i64, %acc: f64):\n" + "".join(ops) +
            f"    %4 = index %x, {last} : f64\n"
            "    %5 = add %acc, %4 : f64\n"
            "    yield %5\n"
            "  }\n"
            "  return %3\n"
            "}\n")


@pytest.mark.parametrize("adds, proved", [(1, True), (3, True), (4, False)])
def test_a_form_too_heavy_to_add_without_wrapping_proves_nothing(adds, proved):
    # the read is at i, but on the way i + 4 * n, up to 5 * 2**60 - 1 for dimensions up
    # to 2**60, may wrap around: at most 4 dimensions' weight is taken (i + 3 * n is
    # below 4 * n)
    module = Bounds().apply(ir.parse_module(weighty(adds)))
    read = [op for op in ir.walk_ops(module.functions["f"].body) if op.name == "index"][0]
    assert read.attrs.get("inbounds", False) is proved


# Loop ends and indices from which random nests are drawn; each is read the same way by
# dp and by Python, which runs the nest to see every index the read takes
ENDS = ["0", "1", "-1", "n", "k", "n - k", "n - k + 1", "n - 1", "k - 1", "n + 1", "2 * k",
        "max(n, k)", "min(n, k)", "min(n - 1, k)", "max(n - k + 1, 0)", "max(n - 1, 1)",
        "max(0, n - 2)"]
INNER_ENDS = ENDS + ["i", "i + 1", "i - 1", "n - i", "n - 1 - i"]
INDICES = ["i", "j", "i + j", "i - j", "j - i", "i + j + 1", "i + j - 1", "n - 1 - i", "n - i",
           "k - 1 - j + i", "2 * i", "i * 2 - j", "max(i, j)", "min(i, j)", "i + k", "i - k",
           "max(i - j, 0)", "min(i + j, n - 1)", "-i", "n - 1 - j"]


def nest(outer, inner, index) -> str:
    def loop(ends):
        start, stop, step = ends
        return f"range({start}, {stop}, {step})"
    return ("def f(x: f64[n], w: f64[k]) -> f64:\n    acc = 0.0\n"
            f"    for i in {loop(outer)}:\n        for j in {loop(inner)}:\n"
            f"            acc += x[{index}]\n    return acc\n")


def indices_taken(outer, inner, index, n, k):
    scope = {"n": n, "k": k, "max": max, "min": min}
    taken = []
    for i in range(*(eval(e, scope) for e in outer)):  # noqa: S307 (the strings above)
        for j in range(*(eval(e, {**scope, "i": i}) for e in inner)):  # noqa: S307
            taken.append(eval(index, {**scope, "i": i, "j": j}))  # noqa: S307
    return taken


@given(st.tuples(st.sampled_from(ENDS), st.sampled_from(ENDS), st.sampled_from(["1", "2", "-1"])),
       st.tuples(st.sampled_from(INNER_ENDS), st.sampled_from(INNER_ENDS),
                 st.sampled_from(["1", "3", "-1", "-2"])),
       st.sampled_from(INDICES))
@settings(max_examples=300, deadline=None)
def test_a_proved_index_is_in_range_for_every_size(outer, inner, index):
    # what native code reads unchecked (the scalar IR's proofs) is in [0, n) ("wraps": in
    # [-n, n)) at every iteration, for every n and k up to 6
    source = nest(outer, inner, index)
    scalar = ir.parse_module(compile_source(source, backend="interp").ir("f", stage="scalar"))
    reads = [op for op in ir.walk_ops(scalar.functions["f"].body)
             if op.name == "index" and op.operands[0].name_hint == "x"]
    proofs = {op.attrs.get("inbounds", False) for op in reads}
    assert proofs <= {True, "wraps", False}
    proof = proofs.pop() if len(proofs) == 1 else False  # reads unrolled apart: not told
    lowest = {True: 0, "wraps": -1}.get(proof)
    for n in range(7):
        for k in range(7):
            taken = indices_taken(outer, inner, index, n, k)
            assert lowest is None or all(lowest * n <= t < n for t in taken), (n, k)


@pytest.mark.parametrize("stop, proved", [
    ("max(n - 1, 0)", True),    # runs only when n - 1 > 0: i < n - 1
    ("max(0, n - 2)", True),
    ("max(n - 1, 1)", False),   # runs once when n is 0 or 1: x[0] may not be there
])
def test_a_loop_up_to_a_maximum_with_its_start_runs_below_the_other(stop, proved):
    mod = compile_source(f"def f(x: f64[n]) -> f64:\n    return sum(x[i] for i in range({stop}))\n")
    reads = [line for line in mod.ir("f", stage="scalar").splitlines() if "index %x" in line]
    assert len(reads) == 1 and ("{inbounds = true}" in reads[0]) is proved
    assert mod.f(np.arange(3.0)) == (1.0 if "n - 1" in stop else 0.0)
    if not proved:
        with pytest.raises(IndexError, match="index 0 is out of bounds for axis 0 of x"):
            mod.f(np.zeros(0))


def test_a_windows_reverse_sweep_reads_and_adds_at_proved_indices():
    # reverse mode's loop over the outputs runs up to max(n - k + 1, 0): x[i + j] and
    # its cotangent's add are proved there too, so their addresses need no wrap-around
    source = SLIDING.replace("-> f64[?]:", "-> f64:").replace(
        "return [", "return sum(sqrt(abs([").replace("range(n - k + 1)]", "range(n - k + 1)])))")
    source += "def g(x: f64[n], w: f64[k]) -> (f64[n], f64[k]):\n    return grad(f)(x, w)\n"
    mod = compile_source(source)
    scalar = mod.ir("g", stage="scalar")
    sweep = scalar[scalar.index("%w_bar, %x_bar = for"):]
    assert "repeated" not in sweep
    assert "      %59 = index %x, %58 {inbounds = true} : f64\n" in sweep
    assert "      %65 = add_at %56, %64, %58 {inbounds = true} : f64[n]\n" in sweep
    for n, k in ((0, 0), (2, 3), (7, 3), (40, 9)):
        x, w = np.random.default_rng(n).normal(size=n), np.random.default_rng(k).normal(size=k)
        got, want = mod.g(x, w), mod.interpreter.run("g", [x, w])
        assert all(a.tobytes() == np.asarray(b, dtype=np.float64).tobytes()
                   for a, b in zip(got, want))
