"""JIT compilation with llvmlite and the calling convention to NumPy.

`compile_module(module)` lowers a scalarized IR module to LLVM IR, optimizes it at O3 for
the host CPU (loop and SLP vectorization on; fast-math off unless asked for), compiles it
with MCJIT, and returns a `NativeModule` whose functions are called on NumPy arrays.

A call converts and checks the arguments once (ir.calling: dtype rule, ranks, dimension
names), passes C-contiguous float64/int64 arrays without copying (others are converted
once), and runs the native code with the GIL released (ctypes does that). Array results
are copied into NumPy arrays that Python owns, then every buffer of the call is freed.
"""

from __future__ import annotations

import ctypes
import threading

import numpy as np
import llvmlite.binding as llvm

import ir
from ir import errors
from ir.calling import prepare_arguments
from ir.types import BOOL, F64, I64, ArrayType

from .lower import CTX_FIELDS, ModuleLowering, symbol

_INIT_LOCK = threading.Lock()
_INITIALIZED = False

CTYPE = {F64: ctypes.c_double, I64: ctypes.c_int64, BOOL: ctypes.c_bool}
NP_DTYPE = {F64: np.float64, I64: np.int64, BOOL: np.bool_}


def target_machine():
    """A new target machine for the host CPU. Each module needs its own: the execution
    engine takes ownership of it and frees it with the engine."""
    global _INITIALIZED
    with _INIT_LOCK:
        if not _INITIALIZED:
            llvm.initialize_native_target()
            llvm.initialize_native_asmprinter()
            _INITIALIZED = True
    target = llvm.Target.from_default_triple()
    return target.create_target_machine(cpu=llvm.get_host_cpu_name(),
                                        features=llvm.get_host_cpu_features().flatten(),
                                        opt=3, jit=True)


def optimize(llmod, tm) -> None:
    pto = llvm.create_pipeline_tuning_options(speed_level=3)
    pto.loop_vectorization = True
    pto.slp_vectorization = True
    pb = llvm.create_pass_builder(tm, pto)
    pb.getModulePassManager().run(llmod, pb)


def llvm_ir(module: ir.Module) -> tuple[str, list]:
    lowering = ModuleLowering(module)
    return str(lowering.llmod), lowering.sites


class NativeModule:
    def __init__(self, module: ir.Module):
        text, self.sites = llvm_ir(module)
        tm = target_machine()
        llmod = llvm.parse_assembly(text)
        llmod.verify()
        optimize(llmod, tm)
        self.optimized_ir = str(llmod)
        self.asm = tm.emit_assembly(llmod)
        self.engine = llvm.create_mcjit_compiler(llmod, tm)
        self.engine.finalize_object()
        self.module = module
        self.free_all = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(
            self.engine.get_function_address("dpc_free_all"))
        self.functions = {name: NativeFunction(self, fn) for name, fn in module.functions.items()}


class NativeFunction:
    def __init__(self, owner: NativeModule, fn: ir.Function):
        self.owner = owner
        self.fn = fn
        argtypes = [ctypes.c_void_p]
        for t in fn.param_types:
            if isinstance(t, ArrayType):
                argtypes += [ctypes.c_void_p] + [ctypes.c_int64] * t.rank
            else:
                argtypes.append(CTYPE[t])
        for t in fn.return_types:
            argtypes += [ctypes.c_void_p] * (2 if isinstance(t, ArrayType) else 1)
        address = owner.engine.get_function_address(symbol(fn.name))
        self.cfunc = ctypes.CFUNCTYPE(ctypes.c_int32, *argtypes)(address)
        self.local = threading.local()

    def context(self):
        ctx = getattr(self.local, "ctx", None)
        if ctx is None:
            ctx = self.local.ctx = (ctypes.c_int64 * CTX_FIELDS)()
        address = ctypes.addressof(ctx)
        ctx[0] = ctx[1] = address  # an empty allocation list
        return ctx, address

    def __call__(self, *args):
        values, _ = prepare_arguments(self.fn, list(args))
        flat = []
        keep = []  # contiguous copies must live until the call returns
        for t, v in zip(self.fn.param_types, values):
            if isinstance(t, ArrayType):
                arr = np.ascontiguousarray(v)
                keep.append(arr)
                flat.append(arr.__array_interface__["data"][0])
                flat.extend(arr.shape)
            else:
                flat.append(v)
        outs = []
        for t in self.fn.return_types:
            if isinstance(t, ArrayType):
                outs.append((ctypes.c_void_p(), (ctypes.c_int64 * t.rank)()))
            else:
                outs.append((CTYPE[t.elem](),))
        pointers = [ctypes.byref(o) for out in outs for o in out]
        ctx, address = self.context()
        status = self.cfunc(address, *flat, *pointers)
        try:
            if status != 0:
                raise self.error(ctx)
            results = [self.result(t, out) for t, out in zip(self.fn.return_types, outs)]
        finally:
            if ctx[1] != address:  # something is still allocated
                self.owner.free_all(address)
        return results[0] if len(results) == 1 else tuple(results)

    @staticmethod
    def result(t, out):
        if not isinstance(t, ArrayType):
            return NP_DTYPE[t](out[0].value)
        data, dims = out
        shape = tuple(dims)
        count = int(np.prod(shape))
        if count == 0:
            return np.zeros(shape, dtype=NP_DTYPE[t.elem])
        ctype = {F64: ctypes.c_double, I64: ctypes.c_int64, BOOL: ctypes.c_uint8}[t.elem]
        buffer = (ctype * count).from_address(data.value)
        return np.frombuffer(buffer, dtype=NP_DTYPE[t.elem]).reshape(shape).copy()

    def error(self, ctx) -> Exception:
        site = self.owner.sites[ctx[2]]
        a, b, c = ctx[3], ctx[4], ctx[5]
        at = f" (at {site.loc})" if site.loc is not None else ""
        d = site.detail
        if site.kind == "index":
            of = f" of {d['name']}" if d.get("name") else ""
            return errors.IndexErrorDP(
                f"index {a} is out of bounds for axis {c}{of} with size {b}{at}")
        if site.kind == "zero":
            return errors.ZeroDivisionErrorDP(f"integer {d['what']} by zero{at}")
        if site.kind == "assert":
            return errors.AssertionErrorDP(f"{d['message']}{at}")
        if site.kind == "shape":
            if "declared" in d:
                return errors.ShapeErrorDP(f"expected {d['declared']}: axis {c} has size {a}, "
                                           f"not {b}{at}")
            return errors.ShapeErrorDP(f"{d['message']}: size {a} is not {b}{at}")
        if site.kind == "notlowered":
            return errors.NotLoweredError(
                f"'{d['what']}' of @{d['callee']} must be transformed by the AD pass before "
                f"it runs; reverse and forward mode are not built yet{at}")
        messages = {
            "range": "range() step must not be zero",
            "empty": f"{d.get('what')}() of an empty sequence",
            "cast": "cannot convert a non-finite or out-of-range f64 to i64",
            "pow": "integers to negative integer powers are not allowed",
            "negative": f"negative array dimension {a}",
        }
        return errors.ValueErrorDP(messages[site.kind] + at)


def compile_module(module: ir.Module) -> NativeModule:
    return NativeModule(module)
