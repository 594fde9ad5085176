"""The reference interpreter: runs any IR function on NumPy values, op by op, with each
op's `interp` rule from the registry. It is slow and simple on purpose: it is the oracle
that the JIT and every pass are tested against.
"""

from __future__ import annotations

import threading

import numpy as np

from .calling import prepare_arguments
from .core import Block, Module
from .registry import REGISTRY
from .types import DYN


class Frame:
    __slots__ = ("env", "dims")

    def __init__(self, dims: dict[str, int]):
        self.env: dict = {}
        self.dims = dims


class Interpreter:
    def __init__(self, module: Module):
        self.module = module
        # each thread's running call: threads calling one module at once (as they may with
        # native code) would otherwise read each other's dimension sizes
        self.local = threading.local()

    @property
    def frame(self) -> Frame | None:
        return getattr(self.local, "frame", None)

    @frame.setter
    def frame(self, frame: Frame | None) -> None:
        self.local.frame = frame

    def run(self, name: str, args: list):
        """Calls function `name` on Python arguments; a tuple when it returns several.
        Array results are new arrays, as the native code's are: a result may be an argument
        (`return x`) or another result (`return y, y`) inside the interpreter."""
        results = [r.copy() if isinstance(r, np.ndarray) else r for r in self.call(name, args)]
        return results[0] if len(results) == 1 else tuple(results)

    def call(self, name: str, args: list) -> list:
        fn = self.module.functions[name]
        values, dims = prepare_arguments(fn, list(args))
        saved = self.frame
        self.frame = Frame(dims)
        try:
            # inf - inf is NaN here as in native code, silently: NumPy would warn (or, under
            # `-W error`, raise) from inside a sum, a mean or a generator's adds
            with np.errstate(all="ignore"):
                return self.run_block(fn.body, values)
        finally:
            self.frame = saved

    def run_block(self, block: Block, args: list) -> list:
        env = self.frame.env
        for arg, value in zip(block.args, args):
            env[arg] = value
        for op in block.ops[:-1]:
            outs = REGISTRY[op.name].interp(op, [env[v] for v in op.operands], self)
            for result, value in zip(op.results, outs):
                env[result] = value
        return [env[v] for v in block.ops[-1].operands]

    def dim_value(self, d) -> int | None:
        """The size a dimension stands for in the running function, or None for `?`."""
        if isinstance(d, int):
            return d
        if d == DYN:
            return None
        return self.frame.dims.get(d)
