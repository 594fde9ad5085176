"""JIT compilation with llvmlite and the calling convention to NumPy.

`compile_module(module)` lowers a scalarized IR module to LLVM IR, optimizes it at O3 for
the host CPU (loop and SLP vectorization on; fast-math off unless asked for), compiles it
with MCJIT, and returns a `NativeModule` whose functions are called on NumPy arrays.

A call converts and checks the arguments once (ir.calling: dtype rule, ranks, dimension
names), passes C-contiguous float64/int64 arrays without copying (others are converted
once), and runs the native code with the GIL released (ctypes does that). A large array
result is handed to NumPy as it is (see ResultBuffer); a small one is copied into an
array NumPy owns. Then every other buffer of the call is freed.
"""

from __future__ import annotations

import ctypes
import math
import os
import platform
import struct
import threading

import numpy as np
import llvmlite.binding as llvm

import ir
from ir import errors
from ir.calling import I64_MAX, I64_MIN, DimensionPlan, coerce_argument, wrong_count
from ir.types import BOOL, F64, I64, ArrayType

from . import cache
from .lower import CTX_FIELDS, ModuleLowering, Site, entry_symbol

# LLVM unrolls a loop whole when it knows the trip count and the copies fit its size
# budget: in a specialized function, every short loop over a fixed size. GMM's reverse
# sweep, a loop over a row of d = 10 for each point and component, ran slower written out
# 10 times than as the generic code's loop unrolled by 2 (the specialized gradient
# 0.89-0.97x the generic one, 1.04-1.07x with this cap; benchmarks/gradient.py). Loops of
# at most 8 trips, as passes/specialize.py unrolls, are still unrolled whole (lstm's 7
# bits and k-means' 8 dimensions: no change), longer ones in part.
FULL_UNROLL_TRIPS = 8
# The cap holds only if unrolling in part does not write such a loop out whole either.
# LLVM unrolls a loop in part up to an op budget taken from its model of the CPU: on AMD
# Zen 5 the loop over d = 10 was unrolled 10 times all the same, on the Intel machines
# before it was not. Bounded at 50 ops on every CPU, it is unrolled 5 times there; and on
# Zen 5 ode's primal went from 44 to 38 us, its gradient from 245 to 224 us, every other
# workload within 5%, none slower (benchmarks/gradient.py, a run with and one without).
PARTIAL_UNROLL_OPS = 50
# LLVM vectorizes a loop whose trip count is known and under 16 only if it needs no run-time
# check that the arrays it reads and writes do not overlap. A specialized function's loops
# over a small dimension that add into an accumulator need one: GMM's specialized gradient,
# its loops over d = 10 scalar, was 0.96x the generic one, whose trip counts are unknown;
# with the bound at 8 it is 1.10x (at 4, loops of 7 trips were vectorized too, and LSTM's
# specialized primal, b = 7, went from 170 to 214 us).
MIN_VECTOR_TRIPS = 8

OPTIONS = (f"O3 vectorize loop+slp ordered-reductions no-gather full-unroll<={FULL_UNROLL_TRIPS}"
           f" partial-unroll<={PARTIAL_UNROLL_OPS} min-vector-trips={MIN_VECTOR_TRIPS}")

_INIT_LOCK = threading.Lock()
_INITIALIZED = False

CTYPE = {F64: ctypes.c_double, I64: ctypes.c_int64, BOOL: ctypes.c_bool}
NP_DTYPE = {F64: np.float64, I64: np.int64, BOOL: np.bool_}


# glibc's malloc serves blocks of 128 KiB and more with a fresh mmap, and raises that
# threshold only up to the size of the blocks it has seen freed; memory freed at the top
# of the heap goes back to the system past twice that. A gradient frees its temporaries
# (and results die in Python) between calls, so without tuning each call pays page faults
# to touch fresh pages: lse's gradient at n = 10^5 took 1.2 ms where 0.6 ms of it was
# work. Blocks up to 32 MiB (glibc's ceiling for the threshold) now come from the heap,
# and up to 128 MiB of freed memory stays there for the next call.
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 128 << 20
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt's parameter numbers (malloc.h)


def keep_freed_memory() -> bool:
    """Tunes glibc's malloc as above, once per process; True when it did. Nothing is
    changed when DPC_MALLOC_TUNING=0, when the environment tunes malloc itself
    (MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_), or away from glibc."""
    if os.environ.get("DPC_MALLOC_TUNING", "1") == "0":
        return False
    if any(k in os.environ for k in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")):
        return False
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is None or not platform.libc_ver()[0] == "glibc":
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and \
        bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))


def wait_for_llvm_at_fork() -> None:
    """A child forked while another thread is inside LLVM finds llvmlite's lock held by a
    thread it does not have, and hangs at its first LLVM call (a multiprocessing worker
    unpickling a module, fork being Linux's default). A fork waits for the lock instead,
    as CPython's fork does for its own locks. The lock is llvmlite's private attribute:
    where another version has none, nothing changes."""
    lock = getattr(getattr(llvm.ffi.lib, "_lock", None), "_lock", None)
    if lock is not None and hasattr(os, "register_at_fork"):
        os.register_at_fork(before=lock.acquire, after_in_parent=lock.release,
                            after_in_child=lock.release)


wait_for_llvm_at_fork()


def target_machine():
    """A new target machine for the host CPU. Each module needs its own: the execution
    engine takes ownership of it and frees it with the engine."""
    global _INITIALIZED
    with _INIT_LOCK:
        if not _INITIALIZED:
            llvm.initialize_native_target()
            llvm.initialize_native_asmprinter()
            # Lets the loop vectorizer vectorize a loop that sums doubles without fast-math
            # (e.g. sum(exp(x)) in lse): the body in vector registers, the additions one
            # lane at a time in the original order, so results stay bit-for-bit the same.
            llvm.set_option("dpc", "-force-ordered-reductions")
            llvm.set_option("dpc", f"-unroll-full-max-count={FULL_UNROLL_TRIPS}")
            llvm.set_option("dpc", f"-partial-unrolling-threshold={PARTIAL_UNROLL_OPS}")
            llvm.set_option("dpc", f"-vectorizer-min-trip-count={MIN_VECTOR_TRIPS}")
            keep_freed_memory()
            _INITIALIZED = True
    target = llvm.Target.from_default_triple()
    return target.create_target_machine(cpu=llvm.get_host_cpu_name(), features=cpu_features(),
                                        opt=3, jit=True)


def cpu_features() -> str:
    """The host CPU's features for LLVM, and on x86 `prefer-no-gather`: once a loop's trip
    count is known (in a specialized function), LLVM unrolls it whole and may then
    vectorize the loop around it with gathers, one lane per iteration, a row apart. On
    this machine's AMD Zen 4 those gathers made GMM's specialized primal 1.3-1.4x slower
    than the generic one (benchmarks/gradient.py, the specialization table). Without
    them such loops are vectorized without gathers or stay scalar; the generic code of
    every example runs as fast as before (GMM's and the MLP's gradients had a few)."""
    features = [f for f in llvm.get_host_cpu_features().flatten().split(",") if f]
    if llvm.get_process_triple().startswith(("x86_64", "i386", "i686")):
        features.append("+prefer-no-gather")
    return ",".join(features)


def optimize(llmod, tm) -> None:
    pto = llvm.create_pipeline_tuning_options(speed_level=3)
    pto.loop_vectorization = True
    pto.slp_vectorization = True
    pb = llvm.create_pass_builder(tm, pto)
    pb.getModulePassManager().run(llmod, pb)


def llvm_ir(module: ir.Module, fast_math: bool = False) -> tuple[str, list]:
    lowering = ModuleLowering(module, fast_math=fast_math)
    return lowering.text(), lowering.sites


class NativeModule:
    """The native code of a module. Machine code comes from the on-disk cache when the
    same module was compiled before; LLVM IR and assembly are made on request."""

    def __init__(self, module: ir.Module, fast_math: bool = False):
        self.module = module
        self.fast_math = fast_math
        self._llvm = None
        digest = cache.key(module, f"{OPTIONS} fast-math={'on' if fast_math else 'off'}")
        hit = cache.load(digest)
        self.from_cache = hit is not None
        if hit is None:
            llmod, sites = self.optimized()
            # code generation rewrites the module it is given (address sinking, the data
            # layout): the IR kept for `optimized_ir` stays the optimizer's
            obj = target_machine().emit_object(llmod.clone())
            cache.store(digest, obj, [site_to_json(s) for s in sites])
        else:
            obj, site_dicts = hit
            sites = [site_from_json(d) for d in site_dicts]
        self.sites = sites
        self.engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), target_machine())
        self.engine.add_object_file(llvm.ObjectFileRef.from_data(obj))
        self.engine.finalize_object()
        self.free_all = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(
            self.engine.get_function_address("dpc_free_all"))
        self.take_result = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)(
            self.engine.get_function_address("dpc_take_result"))
        self.functions = {name: NativeFunction(self, fn) for name, fn in module.functions.items()}

    def optimized(self):
        """The module lowered to LLVM and optimized (made once, on first request)."""
        if self._llvm is None:
            text, sites = llvm_ir(self.module, self.fast_math)
            llmod = llvm.parse_assembly(text)
            llmod.verify()
            optimize(llmod, target_machine())
            self._llvm = (llmod, sites)
        return self._llvm

    @property
    def optimized_ir(self) -> str:
        return str(self.optimized()[0])

    @property
    def asm(self) -> str:
        return target_machine().emit_assembly(self.optimized()[0].clone())


def site_to_json(site: Site) -> dict:
    loc = site.loc
    return {"kind": site.kind, "detail": site.detail,
            "loc": None if loc is None else [loc.filename, loc.line, loc.col]}


def site_from_json(d: dict) -> Site:
    loc = None if d["loc"] is None else ir.Loc(*d["loc"])
    return Site(d["kind"], loc, d["detail"])


def data_address(a: np.ndarray) -> int:
    """The address of a C-contiguous array's first element. Through the buffer protocol
    when the array is writable: 0.2 µs, against 1.6 µs for `__array_interface__`, on a
    call that otherwise costs about 1 µs."""
    if a.flags.writeable and a.size:
        return ctypes.addressof(ctypes.c_char.from_buffer(a))
    return a.ctypes.data


def result_plan(t) -> tuple:
    """What `result` needs to know of a result of type t, looked up once."""
    if not isinstance(t, ArrayType):
        return False, NP_DTYPE[t], None, None
    ctype = {F64: ctypes.c_double, I64: ctypes.c_int64, BOOL: ctypes.c_uint8}[t.elem]
    return True, NP_DTYPE[t.elem], ctype, np.dtype(NP_DTYPE[t.elem]).str


def result(out, take, is_array: bool, dtype, ctype, typestr):
    """A result as Python gets it: a large array keeps its native buffer (take: the
    module's dpc_take_result), a small one is copied into one NumPy owns."""
    if not is_array:
        return dtype(out[0].value)
    data, dims = out
    shape = tuple(dims)
    count = math.prod(shape)
    if count == 0:
        return np.zeros(shape, dtype=dtype)
    nbytes = count * ctypes.sizeof(ctype)
    if nbytes >= HANDOVER_BYTES:
        block = take(data.value, nbytes)
        if block:
            return np.asarray(ResultBuffer(block, data.value, shape, typestr))
    buffer = (ctype * count).from_address(data.value)
    return np.frombuffer(buffer, dtype=dtype).reshape(shape).copy()


# A result of this many bytes or more is not copied: copying costs more than wrapping
# (about 1.5 µs) from 32 KiB on, and a dense Hessian of n = 1000 (8 MB) spent 0.55 of
# its 3.3 ms in the copy.
HANDOVER_BYTES = 64 << 10
_free = ctypes.CDLL(None).free  # the malloc the native code calls is the process's
_free.argtypes = [ctypes.c_void_p]
_free.restype = None


class ResultBuffer:
    """A native result buffer handed to NumPy: unlinked from the call's allocation list
    by the native code (lower.py's take_result), so that dpc_free_all leaves it, and
    freed when the last array on it goes (`block`: what malloc gave). It is what `.base`
    of the array is. Unlinking it with ctypes, from Python, took 7 µs per result after a
    large call (each access a miss in caches the call had filled), the MLP's gradient's two
    large results 14 of its 58 µs in Python."""

    __slots__ = ("block", "__array_interface__")

    def __init__(self, block: int, data: int, shape: tuple, typestr: str):
        self.block = block
        self.__array_interface__ = {"data": (data, False), "shape": shape,
                                    "typestr": typestr, "version": 3}

    def __del__(self, free=_free):
        free(self.block)


class NativeFunction:
    """Calls one native function. Marshalling is planned once here, so a call does only
    the checks and conversions its arguments need."""

    def __init__(self, owner: NativeModule, fn: ir.Function):
        self.owner = owner
        self.fn = fn
        self.names = [p.name_hint or f"#{k}" for k, p in enumerate(fn.params)]
        self.types = list(fn.param_types)
        self.is_array = [isinstance(t, ArrayType) for t in self.types]
        self.dtypes = [NP_DTYPE[t.elem] for t in self.types]
        self.dimensions = DimensionPlan(self.names, self.types)
        # per parameter, what marshal checks: type, name, dtype, rank (0: a scalar), and
        # the Python type passed as it is (anything else goes through coerce_argument,
        # which refuses an int for a bool, as the interpreter does)
        self.plan = [(t, name, dtype, t.rank, {F64: float, BOOL: bool}.get(t, int))
                     for t, name, dtype in zip(self.types, self.names, self.dtypes)]
        self.returns_array = any(isinstance(t, ArrayType) for t in fn.return_types)
        argtypes = [ctypes.c_void_p]
        for t in self.types:
            if isinstance(t, ArrayType):
                argtypes += [ctypes.c_void_p] + [ctypes.c_int64] * t.rank
            else:
                argtypes.append(CTYPE[t])
        for t in fn.return_types:
            argtypes += [ctypes.c_void_p] * (2 if isinstance(t, ArrayType) else 1)
        address = owner.engine.get_function_address(entry_symbol(fn.name))
        self.cfunc = ctypes.CFUNCTYPE(ctypes.c_int32, *argtypes)(address)
        self.local = threading.local()
        self.call = self.make_call()

    def new_state(self):
        """A call context and result slots. A call takes an idle one of its thread (made
        once per thread), or a new one where none is idle: a call made while another of
        the same function in the same thread is unfinished (from a signal handler, a
        finalizer, a trace hook) would otherwise write over its results and free them."""
        ctx = (ctypes.c_int64 * CTX_FIELDS)()
        outs = []
        for t in self.fn.return_types:
            if isinstance(t, ArrayType):
                outs.append((ctypes.c_void_p(), (ctypes.c_int64 * t.rank)()))
            else:
                outs.append((CTYPE[t.elem](),))
        pointers = [ctypes.addressof(o) for out in outs for o in out]
        return ctx, ctypes.addressof(ctx), outs, pointers

    def marshal(self, args) -> tuple[list, list]:
        """The flat native arguments, and the converted arrays, which must stay alive
        until the call returns (`flat` holds only their addresses)."""
        if len(args) != len(self.types):
            raise wrong_count(self.fn.name, self.names, len(args))
        flat, shapes, keep = [], [], []
        for a, (t, name, dtype, rank, exact) in zip(args, self.plan):
            if rank:
                if not (type(a) is np.ndarray and a.dtype == dtype and a.ndim == rank
                        and a.flags.c_contiguous):
                    a = np.ascontiguousarray(coerce_argument(t, a, name))
                keep.append(a)
                flat.append(data_address(a))
                flat.extend(a.shape)
                shapes.append(a.shape)
            else:
                if type(a) is not exact or (t is I64 and not I64_MIN <= a <= I64_MAX):
                    a = coerce_argument(t, a, name)  # ctypes would wrap a large int around
                flat.append(a)
                shapes.append(())
        self.dimensions.check(shapes)
        return flat, keep

    def __call__(self, *args):
        return self.call(*args)

    def make_call(self):
        """The call path. When every argument is already exactly what the native code
        takes (a Python float or int for a scalar), it goes straight to ctypes; anything
        else takes `marshal`, which converts and checks."""
        cfunc, local, owner = self.cfunc, self.local, self.owner
        take = owner.take_result
        exact = tuple({F64: float, I64: int, BOOL: bool}.get(t) for t in self.types)
        scalar_only = not any(self.is_array) and not self.returns_array
        ints = [k for k, t in enumerate(self.types) if t is I64]  # checked: ctypes wraps
        rtypes = [NP_DTYPE[t.elem] for t in self.fn.return_types]
        single = len(rtypes) == 1
        result_plans = [result_plan(t) for t in self.fn.return_types]

        def call(*args):
            try:
                idle = local.idle
            except AttributeError:  # the thread's first call
                idle = local.idle = []
            state = idle.pop() if idle else self.new_state()
            try:
                return run(state, args)
            finally:
                idle.append(state)

        def run(state, args):
            ctx, address, outs, pointers = state
            if (scalar_only and tuple(map(type, args)) == exact  # checked in C, fast
                    and (not ints or all(I64_MIN <= args[k] <= I64_MAX for k in ints))):
                status = cfunc(address, *args, *pointers)
            else:
                flat, keep = self.marshal(args)  # `keep` holds converted arrays during the call
                status = cfunc(address, *flat, *pointers)
            if status == 0 and not self.returns_array:  # the code freed all it allocated
                if single:
                    return rtypes[0](outs[0][0].value)
                return tuple(r(out[0].value) for r, out in zip(rtypes, outs))
            try:
                if status != 0:
                    raise self.error(ctx)
                results = [result(out, take, *plan) for out, plan in zip(outs, result_plans)]
            finally:
                owner.free_all(address)
            return results[0] if single else tuple(results)

        return call

    def error(self, ctx) -> Exception:
        site = self.owner.sites[ctx[2]]
        a, b, c = ctx[3], ctx[4], ctx[5]
        at = f" (at {site.loc})" if site.loc is not None else ""
        d = site.detail
        if site.kind == "memory":  # the sizes of its first three axes
            return errors.cannot_allocate([a, b, c][:d["rank"]], d["elem"], d["item_bytes"], at,
                                          rank=d["rank"], stored=d.get("stored", False))
        if site.kind == "index":
            of = f" of {d['name']}" if d.get("name") else ""
            return errors.IndexErrorDP(
                f"index {a} is out of bounds for axis {c}{of} with size {b}{at}")
        if site.kind == "cast":  # the f64's bits
            return errors.cannot_convert(struct.unpack("<d", struct.pack("<q", a))[0], at)
        if site.kind == "zero":
            return errors.ZeroDivisionErrorDP(f"integer {d['what']} by zero{at}")
        if site.kind == "assert":
            return errors.AssertionErrorDP(f"{d['message']}{at}")
        if site.kind == "shape":
            if d.get("argument"):  # a parameter's size, checked in the body (see ir.ops)
                return errors.argument_size(d["argument"], d["declared"], c, a, b, at)
            if "declared" in d:
                return errors.not_declared(d["declared"], d["dim"], c, a, b, at)
            return errors.sizes_differ(d["message"], a, b, at)
        if site.kind == "argument":  # met only from C: Python checks the sizes first
            k, axis, plan = d["arg"], d["axis"], self.dimensions
            if d["check"] == "disagrees":
                return plan.disagrees(k, axis, a, b)
            if d["check"] == "not_literal":
                return plan.not_literal(k, axis, a)
            return plan.too_large(k, axis, a)
        if site.kind == "notlowered":
            return errors.NotLoweredError(f"'jvp' of @{d['callee']} needs forward mode, "
                                          f"which is not built yet{at}")
        messages = {
            "range": "range() step must not be zero",
            "empty": f"{d.get('what')}() of an empty sequence",
            "pow": "integers to negative integer powers are not allowed",
            "negative": f"negative array dimension {a}",
        }
        return errors.ValueErrorDP(messages[site.kind] + at)


def compile_module(module: ir.Module, fast_math: bool = False) -> NativeModule:
    """Native code for a scalarized module. fast_math lets LLVM reassociate and contract
    floating-point arithmetic (FMA, vector reductions): faster, not bit-for-bit IEEE."""
    return NativeModule(module, fast_math)
