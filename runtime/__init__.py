"""Runtime: scalarized IR to native code with llvmlite, and the calling convention to
NumPy. Depends only on `ir`."""

from .cache import cache_dir, clear_cache
from .jit import NativeFunction, NativeModule, compile_module
from .lower import UnsupportedOp

__all__ = ["compile_module", "NativeModule", "NativeFunction", "UnsupportedOp", "clear_cache",
           "cache_dir"]
