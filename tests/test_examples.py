"""Every example runs through the interpreter and matches an independent NumPy version;
its IR prints, parses back and prints identically, and verifies."""

import re
from pathlib import Path

import numpy as np
import pytest

import ir
from compiler import compile_file
from reference import EXAMPLES, make_inputs, unpack_q

ROOT = Path(__file__).parent.parent / "examples"


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_matches_numpy(name):
    filename, fn, reference = EXAMPLES[name]
    mod = compile_file(ROOT / filename)
    for seed in (0, 1):
        args = make_inputs(name, "small", seed)
        got = mod.run(fn, *args)
        np.testing.assert_allclose(got, reference(*args), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("path", sorted(ROOT.glob("*.dp")), ids=lambda p: p.name)
def test_example_ir_round_trips(path):
    module = compile_file(path, backend="interp").module
    text = ir.print_module(module)
    again = ir.parse_module(text)
    assert ir.print_module(again) == text
    ir.verify_module(again)


# The ops of a gradient made from Python that have no place in the source: its seed 1.0,
# its call of the reverse function (stage ad), the sizes read from its parameters and its
# return.
UNPLACED = re.compile(r" *(%[\w.]+ = const 1\.0 : f64|%[\w.]+ = dim %[\w.]+ \{axis = \d\} : i64"
                      r"|[%\w., ]+ = call [%\w., ]+ \{callee = @\w+\.rev\} : .*|return [%\w., ]+)")


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_every_op_of_a_gradient_keeps_its_source_place(name):
    filename, fn, _ = EXAMPLES[name]
    mod = compile_file(ROOT / filename)
    gradient = mod.grad({"ode": "ode_last"}.get(name, fn))
    for stage in ("ad", "opt", "scalar"):
        lines = mod.ir(gradient, stage=stage, locations=True).splitlines()
        ops = [line for line in lines if re.match(r" +(%|return|yield|assert)", line)]
        assert len([op for op in ops if f' loc("{ROOT / filename}":' in op]) > len(ops) * 0.9
        assert [op for op in ops if "loc(" not in op and not UNPLACED.fullmatch(op)] == []


def test_examples_start_with_a_header_comment():
    for path in ROOT.glob("*.dp"):
        assert path.read_text().startswith("# "), path.name


def test_ode_last_element_helper():
    mod = compile_file(ROOT / "ode.dp")
    x, s = make_inputs("ode", "small", 3)
    assert mod.ode_last(x, s) == pytest.approx(EXAMPLES["ode"][2](x, s)[-1], rel=1e-14)


def test_gmm_packing_reference_is_lower_triangular():
    # The reference's unpacking, checked on a case small enough to write out by hand.
    q = unpack_q(np.array([0.0, np.log(2.0), np.log(3.0), 4.0, 5.0, 6.0]), 3)
    np.testing.assert_allclose(q, [[1, 0, 0], [4, 2, 0], [5, 6, 3]], rtol=1e-15)


def test_llsq_reference_against_loops():
    x, n = make_inputs("llsq", "small", 0)
    acc = 0.0
    for i in range(n):
        t = -1 + 2 * i / (n - 1)
        r = np.sign(t) - sum(x[j] * t ** j for j in range(len(x)))
        acc += r * r
    assert EXAMPLES["llsq"][2](x, n) == pytest.approx(0.5 * acc, rel=1e-12)
