"""Helpers for the tests of native math functions (tests/runtime/test_exp.py, test_tanh.py)."""

import llvmlite.binding as llvm
import numpy as np

import ir
import runtime
from passes.bounds import Bounds
from passes.fusion import Fusion
from passes.scalarize import Scalarize
from passes.speculate import Speculate


def native(module):
    """Compiled as the driver does it: the native passes on a copy, then the JIT."""
    module = ir.clone_module(module)
    for native_pass in (Scalarize(), Bounds(), Speculate(), Fusion()):
        module = native_pass.apply(module)
    ir.verify_module(module)
    return runtime.compile_module(module)


def ulps_apart(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance in units in the last place between non-negative doubles (inf included):
    consecutive doubles have consecutive bit patterns."""
    return np.abs(a.view(np.int64) - b.view(np.int64))


def vectorizing_host() -> bool:
    features = llvm.get_host_cpu_features()
    return bool(features.get("avx2") or features.get("neon"))
