"""Helpers for the tests of native math functions (tests/runtime/test_exp.py, test_tanh.py,
test_special_functions.py), which write their functions in IR text."""

import llvmlite.binding as llvm
import numpy as np

import ir
import runtime
from compiler.driver import native_passes


def native(module):
    """Compiled as the driver does it: the native passes on a copy, then the JIT."""
    module = ir.clone_module(module)
    for native_pass in native_passes():
        module = native_pass.apply(module)
    ir.verify_module(module)
    return runtime.compile_module(module)


def native_source(text: str):
    """The IR module in `text`, verified, then compiled as by `native`."""
    module = ir.parse_module(text)
    ir.verify_module(module)
    return native(module)


def ulps_apart(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance in units in the last place between non-negative doubles (inf included):
    consecutive doubles have consecutive bit patterns."""
    return np.abs(a.view(np.int64) - b.view(np.int64))


def vectorizing_host() -> bool:
    features = llvm.get_host_cpu_features()
    return bool(features.get("avx2") or features.get("neon"))


def unary_ir(op: str) -> str:
    """IR text: @f, `op` of a scalar, and @g, `op` of a vector."""
    return f"""\
func @f(%x: f64) -> f64 {{
  %0 = {op} %x : f64
  return %0
}}

func @g(%x: f64[n]) -> f64[n] {{
  %0 = {op} %x : f64[n]
  return %0
}}
"""


def unary_module(op: str, more_ir: str = ""):
    """unary_ir(op), then the functions in `more_ir` (IR text), compiled."""
    return native_source(unary_ir(op) + more_ir)


def assert_scalar_and_vector_agree(mod, x: np.ndarray) -> None:
    """The loop in g runs vector instructions, with a scalar loop for the rest; f is
    scalar code: the same bits."""
    scalar = np.array([mod.functions["f"](float(v)) for v in x])
    np.testing.assert_array_equal(mod.functions["g"](x), scalar)
