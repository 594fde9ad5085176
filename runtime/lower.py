"""Scalarized IR -> LLVM IR (llvmlite.ir).

Each IR function `f` becomes `i32 @f(ptr ctx, params..., result pointers...)`, returning 0
on success and 1 after recording a run-time error in `ctx`. An array parameter is passed
as its data pointer followed by its sizes; an array result comes back through a pointer to
a data pointer and a pointer to its sizes. Arrays are row-major, contiguous.

Memory: every array buffer is allocated through `dpc.alloc`, which links it into a list
held by the call's context; `dpc.free` unlinks and frees it. A region frees, at its end,
every buffer it owns and does not hand on (yield or return); a buffer that is yielded
but not owned (a parameter, a value from an enclosing region) is copied first. Freed
buffers are kept in a few slots of the context and reused by later allocations of the
same call, so a loop that makes a temporary per iteration does not call malloc each time. An
array whose byte size overflows i64, or that malloc cannot give, is a run-time error like
the others (see new_array). On an error the function returns at once, and the caller
frees whatever is still linked with `dpc_free_all`: no path leaks. `update` writes in
place when the array is owned by the region and not used after it, and copies otherwise
(value semantics).

Region results and loop-carried values live in entry-block stack slots; LLVM's SROA and
mem2reg turn them back into SSA registers, so the lowering stays simple.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from llvmlite import binding
from llvmlite import ir as ll

import ir
from ir import errors
from ir.calling import LARGEST_SIZE, DimensionPlan
from ir.core import indexed_name
from ir.ops import (IN_ORDER, OVERWRITTEN, SUM_LANES_FROM, WRAPPING_PROOFS, constant,
                    dim_of_value, known_row_sizes)
from ir.types import BOOL, F64, I64, ArrayType

DOUBLE = ll.DoubleType()
INT = ll.IntType(64)
I32 = ll.IntType(32)
I8 = ll.IntType(8)
I1 = ll.IntType(1)
PTR = ll.PointerType()
CACHE_SLOTS = 8  # freed buffers kept for reuse within one call
CACHE_BASE = 6   # ctx fields: prev, next (the allocation list's sentinel), error site,
CTX_FIELDS = CACHE_BASE + CACHE_SLOTS  # three error values, then the cache slots
# A matrix product's tiles, whose sums stay in registers: rows in tiles of the first
# height, then of each smaller one over the rows the taller left; so many columns each.
# Sized by the host's vector registers (product_tiles):
# - AVX-512, 32 registers of 8 doubles: 8 x 16 sums fill 16 of them. On AMD Zen 5 the
#   products of the MLP's gradient ran 1.3x faster than in tiles of 4 rows (which load
#   b's row for fewer sums). The columns right of the last whole tile fit two vectors
#   of half the width (masked_tile).
# - Else (AVX2: 16 registers of 4 doubles, where 8 x 16 sums spilled at every step of k):
#   4 x 8 sums in 8 registers. On AMD Zen 3 the MLP's gradient took 0.88 ms instead of
#   1.37, GMM's 2.3 ms instead of 3.0; tiles of 6 x 8, 4 x 12, 3 x 8 and 3 x 16 were slower
#   on both, 2 x 16 on the MLP.
WIDE_TILES = ((8, 4, 1), 16)
NARROW_TILES = ((4, 2, 1), 8)
VECTOR = 8  # rows of a block of a matrix-vector product and of a build of reductions
BUILD_AND_SUM = 2048  # elements of a build stored before the sum of them adds them (16 KiB)
PACKED = 2048  # doubles of a product's strip of b copied at a time (16 KiB: 256 rows of 8)
PACK_FROM_ROWS = 16  # the fewest rows of a product whose strips of b are copied
PACK_FROM_INNER = 32  # and the fewest steps of k
SUM_LANES = 8  # partial sums of a long sum of doubles (see sum_of_doubles)
LANES = ll.VectorType(DOUBLE, SUM_LANES)
MAX_LANES_FROM = 32  # the shortest max/min inside a loop that combines in lanes (op_reduce)
EXTREME_CHAINS = 4  # independent vectors of a block of rows' maxima/minima (reductions_of_rows)
ROW_LANES_FROM = 128  # the shortest rows whose max/min build_reductions takes row by row
# LLVM interleaves a vectorized loop (runs several of its vector iterations side by side)
# only when its body is small, and a big body that is one chain of slow ops then waits on
# each op in turn: an 8-step Newton iteration's gradient, mapped over 10^5 values, ran
# 2x faster with 4 iterations side by side (slow_chain says which loops take this).
INTERLEAVE = 4
# LLVM's string attributes for the matrix product kernels (add_string_attributes):
# vectors as wide as the CPU has. LLVM tunes Intel's AVX-512
# chips to 256-bit vectors (for the clock speed of older ones), which halves what a
# product's tiles compute per instruction; on an Intel Xeon with AVX-512, 512-bit tiles
# made the MLP's gradient 1.3x faster (benchmarks/peers.py --time: slower than JAX's and
# PyTorch's before). Everywhere, not only in the kernels, they made lstm 1.3x slower.
WIDE_VECTORS = '"prefer-vector-width"="512" "min-legal-vector-width"="512"'
# Every buffer's data starts on a 64-byte boundary, a cache line and a 512-bit vector: an
# unaligned vector of 8 doubles spans two lines, so each load and store of it costs two.
# ode's gradient, whose reverse sweep streams ten arrays, ran 9-11% faster aligned (on
# AMD Zen 5), its primal 9-14%. malloc gives 16-byte alignment; dpc.alloc asks for
# ALIGN - 1 bytes more and starts the data at the next boundary past the header.
ALIGN = 64
HEADER = 64  # bytes before each buffer's data: prev, next, capacity, what malloc gave

ELEM = {F64: DOUBLE, I64: INT, BOOL: I8}  # in memory; a bool register is i1
ELEM_SIZE = {F64: 8, I64: 8, BOOL: 1}


class UnsupportedOp(Exception):
    """An op the native backend does not lower (yet); the message says which."""


def reg_type(t) -> ll.Type:
    return {F64: DOUBLE, I64: INT, BOOL: I1}[t]


@dataclass
class Array:
    """An array value in registers: its data pointer and one i64 size per axis."""

    data: ll.Value
    dims: list
    transposed: bool = False  # a matrix read as its transpose (only by op_matmul)


@dataclass
class Site:
    """A place in the program that can raise a run-time error, for the message."""

    kind: str        # index | zero | assert | shape | range | empty | cast | pow | notlowered
    #                  | argument (sizes of the arguments, checked for callers from C)
    loc: object
    detail: dict = field(default_factory=dict)


def fused_products() -> bool:
    """Whether the terms of a matrix product's sums are fused multiply-adds: where the
    host CPU has the instruction (FMA3 on x86; every AArch64 CPU). Elsewhere llvm.fma is
    a call to libm's fma per term, and a term is a product, then a sum."""
    features = binding.get_host_cpu_features()
    return bool(features.get("fma") or features.get("neon"))


def product_tiles() -> tuple:
    """The heights and the width of a matrix product's tiles on the host CPU, whose code
    the JIT and `dpc build` make."""
    return WIDE_TILES if binding.get_host_cpu_features().get("avx512f") else NARROW_TILES


class ModuleLowering:
    def __init__(self, module: ir.Module, name: str = "dpc", fast_math: bool = False):
        self.module = module
        self.fast_math = fast_math
        self.tile_heights, self.tile_width = product_tiles()
        self.fused_products = fused_products()
        self.llmod = ll.Module(name=name)
        self.sites: list[Site] = []
        self.loop_ids = 0
        self.functions: dict[str, ll.Function] = {}
        self.kept: list[ll.Function] = []
        self.runtime_helpers()
        for fn in module.functions.values():
            self.functions[fn.name] = ll.Function(self.llmod, signature(fn), name=symbol(fn.name))
        for fn in module.functions.values():
            FunctionLowering(self, fn).run()
            self.entry_point(fn)
        self.keep_until_vectorized()

    def keep(self, fn: ll.Function) -> None:
        """Keeps `fn` through optimization though nothing calls it yet: a vector version
        of a function, which the loop vectorizer calls only once it vectorizes a loop."""
        self.kept.append(fn)

    def keep_until_vectorized(self) -> None:
        """@llvm.compiler.used, the list of what optimization must not delete."""
        if not self.kept:
            return
        listed = ll.ArrayType(PTR, len(self.kept))
        used = ll.GlobalVariable(self.llmod, listed, name="llvm.compiler.used")
        used.linkage = "appending"
        used.section = "llvm.metadata"
        used.initializer = ll.Constant(listed, self.kept)

    def entry_point(self, fn: ir.Function) -> None:
        """`dpc_entry_f`: the function Python calls; it starts the call's allocation list
        in ctx, so the caller does not have to."""
        inner = self.functions[fn.name]
        entry = ll.Function(self.llmod, inner.function_type, name=entry_symbol(fn.name))
        b = ll.IRBuilder(entry.append_basic_block())
        ctx = entry.args[0]
        store_ptr(b, ctx, ctx, 0)
        store_ptr(b, ctx, ctx, 1)
        for slot in range(CACHE_SLOTS):
            store_ptr(b, ctx, ll.Constant(PTR, None), CACHE_BASE + slot)
        self.argument_checks(b, fn, entry)
        status = b.call(inner, list(entry.args))
        b.call(self.flush, [ctx])  # only results (or, after an error, leftovers) stay linked
        b.ret(status)
        inner.linkage = "internal"

    def argument_checks(self, b: ll.IRBuilder, fn: ir.Function, entry: ll.Function) -> None:
        """The checks of the arguments' sizes that Python makes before a call
        (ir.calling.DimensionPlan), made again here for callers from C, which pass each
        size on its own: sizes of one dimension name that disagree, or a literal size that
        is not the array's, made the code read past an array's end."""
        types = fn.param_types
        plan = DimensionPlan([p.name_hint or f"#{k}" for k, p in enumerate(fn.params)], types)
        sizes, args = {}, iter(entry.args[1:])
        for k, t in enumerate(types):
            next(args)  # the data pointer, or the scalar
            for axis in range(t.rank):
                sizes[k, axis] = next(args)
        for (k, axis), size in sizes.items():
            d = types[k].shape[axis]
            if plan.first.get(d) == (k, axis):  # above 2**60, negative ones included
                bad = b.icmp_unsigned(">", size, INT(LARGEST_SIZE))
                self.fail_entry(b, entry, bad, "too_large", k, axis, [size])
            elif d == ir.DYN:
                self.fail_entry(b, entry, b.icmp_signed("<", size, INT(0)), "too_large", k, axis,
                                [size])
        for k, axis, d in plan.checks:
            size = sizes[k, axis]
            if isinstance(d, int):
                self.fail_entry(b, entry, b.icmp_signed("!=", size, INT(d)), "not_literal", k,
                                axis, [size])
            else:
                first = sizes[plan.first[d]]
                self.fail_entry(b, entry, b.icmp_signed("!=", size, first), "disagrees", k,
                                axis, [size, first])

    def fail_entry(self, b, entry, condition, check: str, k: int, axis: int, values) -> None:
        """If `condition`, the entry point returns 1 with site "argument" and `values` in ctx
        (nothing is allocated yet)."""
        site = self.site("argument", None, check=check, arg=k, axis=axis)
        fail_with(b, entry, entry.args[0], condition, site, values)

    def text(self) -> str:
        """The module as LLVM IR text."""
        return str(self.llmod)

    @staticmethod
    def add_string_attributes(fn: ll.Function, attributes: str) -> None:
        """Adds LLVM string attributes (`"key"="value" ...`, as LLVM writes them) to fn.
        llvmlite's attribute sets accept only the keyword attributes they list, and print
        each member as it is: the text goes into the set past that check."""
        set.add(fn.attributes, attributes)

    def product_kernel(self, transposed: bool, inner=None, cols=None) -> ll.Function:
        """`void dpc.matmul(a, b, out, rows, inner, cols)` (dpc.matmul.t: a read as the
        transpose of the matrix it points to), out = a @ b. One copy per module, called
        by every product of sizes not known when compiling: a gradient has dozens of
        products, and a copy of the tiled loops at each made LLVM's time most of a
        compile (the Hessian-vector products of gmm and the MLP: 14 and 10 s, now 8 and
        2.5). Products whose inner and column sizes are known (a specialized function)
        get a copy per pair of sizes, `dpc.matmul.10x25`, whose loops fold them; its
        size arguments are then ignored. None of the pointers aliases another written
        through (out is new)."""
        name = "dpc.matmul.t" if transposed else "dpc.matmul"
        if inner is not None:
            name = f"dpc.matmul.{inner.constant}x{cols.constant}" + (".t" if transposed else "")
        existing = self.llmod.globals.get(name)
        if existing is not None:
            return existing
        kernel, fl = self.new_kernel(name, sizes=3)
        a, b, out, rows, *sizes = kernel.args
        inner, cols = (inner, cols) if inner is not None else sizes
        Product(fl, Array(a, [rows, inner], transposed), Array(b, [inner, cols]),
                Array(out, [rows, cols]), inner, cols).emit(rows)
        return self.finish_kernel(kernel, fl)

    def transpose_kernel(self) -> ll.Function:
        """`void dpc.transpose(m, out, rows, cols)`: out (cols x rows) = the transpose of m
        (rows x cols), one copy per module (Transpose)."""
        existing = self.llmod.globals.get("dpc.transpose")
        if existing is not None:
            return existing
        kernel, fl = self.new_kernel("dpc.transpose", sizes=2, pointers=2)
        m, out, rows, cols = kernel.args
        Transpose(fl, Array(m, [rows, cols]), Array(out, [cols, rows])).emit()
        return self.finish_kernel(kernel, fl)

    def matvec_kernel(self) -> ll.Function:
        """`void dpc.matvec(a, v, out, rows, inner)`, out = a @ v (MatVec), one copy per
        module."""
        existing = self.llmod.globals.get("dpc.matvec")
        if existing is not None:
            return existing
        kernel, fl = self.new_kernel("dpc.matvec", sizes=2)
        a, v, out, rows, inner = kernel.args
        MatVec(fl, Array(a, [rows, inner]), Array(v, [inner]), Array(out, [rows])).emit()
        return self.finish_kernel(kernel, fl)

    def new_kernel(self, name: str, sizes: int, pointers: int = 3):
        """`void name(a, b, out, size...)` (or fewer pointers), internal and never inlined
        (inlined, its loops would lose WIDE_VECTORS), none of its pointers aliasing
        another, and the lowering of its body."""
        signature = ll.FunctionType(ll.VoidType(), [PTR] * pointers + [INT] * sizes)
        kernel = ll.Function(self.llmod, signature, name=name)
        kernel.linkage = "internal"
        kernel.attributes.add("noinline")
        self.add_string_attributes(kernel, WIDE_VECTORS)
        for arg in kernel.args[:pointers]:
            arg.add_attribute("noalias")
        return kernel, FunctionLowering(self, None, kernel)

    @staticmethod
    def finish_kernel(kernel: ll.Function, fl: "FunctionLowering") -> ll.Function:
        fl.b.ret_void()
        fl.alloca_builder.branch(kernel.basic_blocks[1])
        return kernel

    def declare(self, name: str, ret, args) -> ll.Function:
        existing = self.llmod.globals.get(name)
        if existing is not None:
            return existing
        return ll.Function(self.llmod, ll.FunctionType(ret, args), name=name)

    def not_vectorized(self):
        """A new loop ID that disables the loop vectorizer."""
        return self.loop_id("llvm.loop.vectorize.enable", ll.Constant(ll.IntType(1), 0))

    def interleaved(self):
        """A new loop ID that has the loop vectorizer interleave INTERLEAVE iterations."""
        return self.loop_id("llvm.loop.interleave.count", ll.Constant(ll.IntType(32), INTERLEAVE))

    def loop_id(self, option_name: str, value):
        """A new loop ID (it must name itself) with one option."""
        option = self.llmod.add_metadata([ll.MetaDataString(self.llmod, option_name), value])
        self.loop_ids += 1
        loop_id = self.llmod.add_metadata([option, ll.MetaDataString(self.llmod, f"dpc.{self.loop_ids}")])
        loop_id.operands = (loop_id, option)
        return loop_id

    def intrinsic(self, name: str, count: int = 1) -> ll.Function:
        return self.declare(f"llvm.{name}.f64", DOUBLE, [DOUBLE] * count)

    def runtime_helpers(self) -> None:
        """The context's allocation list: `dpc.alloc` and `dpc.free` for generated code,
        with a few freed buffers kept in cache slots for reuse within the call (a loop
        that makes a temporary each iteration then mallocs once); `dpc.release` really
        frees; `dpc.flush` empties the cache; `dpc_free_all` frees whatever is linked.
        The exported entry points start the list; see entry_point."""
        malloc = self.declare("malloc", PTR, [INT])
        free = self.declare("free", ll.VoidType(), [PTR])
        void = ll.VoidType()
        b = ll.IRBuilder()

        def internal(name, ret, args):
            fn = ll.Function(self.llmod, ll.FunctionType(ret, args), name=name)
            fn.linkage = "internal"
            b.position_at_end(fn.append_basic_block("entry"))
            return fn

        def header(data):
            return b.gep(data, [INT(-HEADER)], source_etype=I8)

        def capacity(head):
            return b.gep(head, [INT(2)], source_etype=INT)

        self.release = internal("dpc.release", void, [PTR, PTR])
        head = header(self.release.args[1])
        unlink(b, *neighbours(b, head))
        b.call(free, [load_ptr(b, head, 3)])
        b.ret_void()

        self.alloc = internal("dpc.alloc", PTR, [PTR, INT])
        # A new buffer aliases nothing live; kept out of line so callers still see that,
        # which lets LLVM vectorize loops that read arrays and write a fresh one.
        self.alloc.return_value.add_attribute("noalias")
        self.alloc.attributes.add("noinline")
        ctx, nbytes = self.alloc.args
        null = ll.Constant(PTR, None)
        with b.if_then(b.icmp_signed("<", nbytes, INT(0))):  # a size that overflowed
            b.ret(null)
        for slot in range(CACHE_SLOTS):  # a cached buffer that is large enough
            cached = load_ptr(b, ctx, CACHE_BASE + slot)
            with b.if_then(b.icmp_unsigned("!=", cached, ll.Constant(PTR, None))):
                room = b.load(capacity(header(cached)), typ=INT)
                with b.if_then(b.icmp_signed(">=", room, nbytes)):
                    store_ptr(b, ctx, ll.Constant(PTR, None), CACHE_BASE + slot)
                    b.ret(cached)
        given = b.call(malloc, [b.add(nbytes, INT(HEADER + ALIGN - 1))])
        with b.if_then(b.icmp_unsigned("==", given, null)):
            b.ret(null)
        past_header = b.add(b.ptrtoint(given, INT), INT(HEADER))
        skip = b.add(b.and_(b.neg(past_header), INT(ALIGN - 1)), INT(HEADER))
        head = header(b.gep(given, [skip], source_etype=I8))
        b.store(nbytes, capacity(head))
        store_ptr(b, head, given, 3)
        nxt = load_ptr(b, ctx, 1)  # link the new buffer in right after the sentinel
        store_ptr(b, head, ctx, 0)
        store_ptr(b, head, nxt, 1)
        store_ptr(b, nxt, head, 0)
        store_ptr(b, ctx, head, 1)
        b.ret(b.gep(head, [INT(HEADER)], source_etype=I8))

        self.free = internal("dpc.free", void, [PTR, PTR])
        ctx, data = self.free.args
        for slot in range(CACHE_SLOTS):  # keep it in an empty slot, else free it
            empty = b.icmp_unsigned("==", load_ptr(b, ctx, CACHE_BASE + slot),
                                    ll.Constant(PTR, None))
            with b.if_then(empty):
                store_ptr(b, ctx, data, CACHE_BASE + slot)
                b.ret_void()
        b.call(self.release, [ctx, data])
        b.ret_void()

        self.flush = internal("dpc.flush", void, [PTR])
        (ctx,) = self.flush.args
        for slot in range(CACHE_SLOTS):
            cached = load_ptr(b, ctx, CACHE_BASE + slot)
            with b.if_then(b.icmp_unsigned("!=", cached, ll.Constant(PTR, None))):
                b.call(self.release, [ctx, cached])
                store_ptr(b, ctx, ll.Constant(PTR, None), CACHE_BASE + slot)
        b.ret_void()

        free_all = ll.Function(self.llmod, ll.FunctionType(void, [PTR]), name="dpc_free_all")
        # every module defines it, the same: objects of two .dp files link into one program
        free_all.linkage = "weak"
        (ctx,) = free_all.args
        entry, loop, body, done = (free_all.append_basic_block(n) for n in
                                   ("entry", "loop", "body", "done"))
        b.position_at_end(entry)
        b.branch(loop)
        b.position_at_end(loop)
        node = load_ptr(b, ctx, 1)
        # a context no call has used yet (zeroed, as C callers make it) holds no list
        at_end = b.or_(b.icmp_unsigned("==", node, ctx),
                       b.icmp_unsigned("==", node, ll.Constant(PTR, None)))
        b.cbranch(at_end, done, body)
        b.position_at_end(body)
        b.call(self.release, [ctx, b.gep(node, [INT(HEADER)], source_etype=I8)])
        b.branch(loop)
        b.position_at_end(done)
        b.ret_void()
        self.take_result(b, header, capacity)

    def take_result(self, b: ll.IRBuilder, header, capacity) -> None:
        """`void *dpc_take_result(void *data, int64_t nbytes)`: unlinks the result buffer
        at `data` from its call's allocation list, so that dpc_free_all leaves it, and
        returns the block malloc gave (for free), or NULL, leaving it linked, where it is
        not linked (a buffer taken already) or holds more than twice nbytes (a temporary
        reused for a smaller result, whose memory the result would keep alive). The Python
        runtime hands such a buffer to NumPy instead of copying it (jit.ResultBuffer)."""
        null = ll.Constant(PTR, None)
        take = ll.Function(self.llmod, ll.FunctionType(PTR, [PTR, INT]), name="dpc_take_result")
        take.linkage = "weak"  # every module defines it, as dpc_free_all
        data, nbytes = take.args
        b.position_at_end(take.append_basic_block("entry"))
        head = header(data)
        prev, nxt = neighbours(b, head)
        linked = b.and_(b.icmp_unsigned("==", load_ptr(b, prev, 1), head),
                        b.icmp_unsigned("==", load_ptr(b, nxt, 0), head))
        small = b.icmp_signed("<=", b.load(capacity(head), typ=INT), b.mul(nbytes, INT(2)))
        with b.if_then(b.not_(b.and_(linked, small))):
            b.ret(null)
        unlink(b, prev, nxt)
        b.ret(load_ptr(b, head, 3))

    def site(self, kind: str, op, **detail) -> int:
        self.sites.append(Site(kind, op.loc if op is not None else None, detail))
        return len(self.sites) - 1


def symbol(name: str) -> str:
    """The internal symbol of function `name`. Its own prefix, with a dot no .dp name has,
    keeps it apart from the exported ones and the runtime's: as dpc_NAME, a function named
    free_all was dpc_free_all, and one named entry_f met f's entry point."""
    return "dpc.fn." + name


def entry_symbol(name: str) -> str:
    """The exported entry point of function `name`, a C identifier (dots, in the names of
    derived functions, as two underscores)."""
    return "dpc_entry_" + name.replace(".", "__")


def load_ptr(b, base, k):
    return b.load(b.gep(base, [INT(k)], source_etype=PTR), typ=PTR)


def store_ptr(b, base, value, k):
    b.store(value, b.gep(base, [INT(k)], source_etype=PTR))


def neighbours(b, head) -> tuple:
    """The headers before and after a buffer's header in its call's allocation list (a
    header holds prev, next, capacity, then the block malloc gave)."""
    return load_ptr(b, head, 0), load_ptr(b, head, 1)


def unlink(b, prev, nxt) -> None:
    """Takes the buffer between prev and nxt out of the list: prev.next = nxt,
    nxt.prev = prev."""
    store_ptr(b, prev, nxt, 1)
    store_ptr(b, nxt, prev, 0)


def param_types(t) -> list:
    if isinstance(t, ArrayType):
        return [PTR] + [INT] * t.rank
    return [reg_type(t)]


def signature(fn: ir.Function) -> ll.FunctionType:
    args = [PTR]
    for t in fn.param_types:
        args += param_types(t)
    for t in fn.return_types:
        args += [PTR, PTR] if isinstance(t, ArrayType) else [PTR]
    return ll.FunctionType(I32, args)


class Region:
    """Ownership bookkeeping for the block being lowered."""

    def __init__(self, block: ir.Block, owned_args: bool, uses_cache: dict):
        self.block = block
        self.owned: list = []  # root values whose buffers this region must free
        self.last_use = last_uses(block, uses_cache)
        if owned_args:
            self.owned += [a for a in block.args if isinstance(a.type, ArrayType)]


def builds_rows_in_place(op: ir.Op) -> bool:
    """A build whose body only builds its row of scalars (`build { build { ... } }`, what
    elementwise ops on matrices become), the row's bounds fixed outside it and its step a
    nonzero constant: every row has the same length, known before the first, and
    computing it cannot fail."""
    body = op.regions[0]
    if len(body.ops) != 2 or body.ops[0].name != "build":
        return False
    inner = body.ops[0]
    if body.ops[1].operands[0] is not inner.results[0] or inner.results[0].type.rank != 1:
        return False
    step = dim_of_value(inner.operands[2])
    return isinstance(step, int) and step != 0 and not set(inner.operands[:3]) & set(body.args)


def element_wise_source(op: ir.Op):
    """An array of the build's own type (no `?` size) that the build reads only at the
    element it makes (`index %a, %i` or `index %a, %i, %j`, its counters from 0 by 1), if
    there is one: where nothing reads it after the build, the build may write its
    elements into that buffer, each read before it is overwritten. A loop's accumulator
    `g = g + outer(u, v)` (a matrix's cotangent, step after step) then takes no second
    matrix."""
    t = op.result.type
    if ir.DYN in t.shape or t.rank > 2 or t.rank == 2 and not builds_rows_in_place(op):
        return None
    levels = [op] if t.rank == 1 else [op, op.regions[0].ops[0]]
    if any(dim_of_value(level.operands[0]) != 0 or dim_of_value(level.operands[2]) != 1
           for level in levels):
        return None
    counters = [level.regions[0].args[0] for level in levels]
    inside = ir.defined_within(op)
    candidates = dict.fromkeys(v for inner in ir.ops_within(op) for v in inner.operands
                               if v.type == t and v not in inside)
    for a in candidates:
        if all(inner.name == "dim" or inner.name == "index" and inner.operands[1:] == counters
               and inner.operands[0] is a
               for inner in ir.ops_within(op) if a in inner.operands):
            return a
    return None


# Scalar ops that cannot fail whatever their operands (integer floordiv, mod and pow can:
# by zero, to a negative power) and cost a few instructions: a reduction's body made of
# them may run for several rows at once (builds_reductions). Not exp, log, tanh and the
# like: over a long row LLVM runs them as vectors along the row, which costs less than
# copies for VECTOR rows (sum(exp(a), axis=1) at 1000 x 1000: 670 against 1060 us).
ARITHMETIC = {
    "const", "dim", "select", "add", "sub", "mul", "div", "neg", "abs", "sign", "maximum",
    "minimum", "eq", "ne", "lt", "le", "gt", "ge", "and", "or", "not", "to_f64", "floor",
    "ceil"}
INTERLEAVED_OPS = 16  # the largest reduction body builds_reductions copies for each row


def builds_reductions(op: ir.Op) -> bool:
    """A build of doubles whose body is one reduction (`sum(a, axis=1)`, a row's maximum)
    after constants, its bounds fixed outside it and its body small and arithmetic: VECTOR
    rows at a time reduce in the lanes of one vector (build_reductions), each row in order
    as alone."""
    body = op.regions[0]
    if len(body.ops) < 2:
        return False
    *constants, reduce, end = body.ops
    if reduce.name != "reduce" or end.operands[0] is not reduce.results[0]:
        return False
    if reduce.results[0].type != F64 or any(c.name != "const" for c in constants):
        return False
    inner = reduce.regions[0].ops
    return (not set(reduce.operands) & set(body.args) and len(inner) <= INTERLEAVED_OPS
            and all(interleaves(o) for o in inner[:-1]))


def reads_along_rows(reduce: ir.Op) -> bool:
    """Does every read of the reduction's body index its array's last axis with the
    reduction's index? (Its elements then lie side by side in memory.)"""
    body = reduce.regions[0]
    reads = [op for op in body.ops if op.name == "index"]
    return bool(reads) and all(op.operands[-1] is body.args[0] for op in reads)


def interleaves(op: ir.Op) -> bool:
    """May op run for one row before an earlier row's op, at little cost? (It cannot fail,
    makes no array and is arithmetic.)"""
    if op.regions or any(r.type.rank != 0 for r in op.results):
        return False
    if op.name == "index":
        return bool(op.attrs.get("inbounds")) and len(op.operands) - 1 == op.operands[0].type.rank
    if op.name in ("floordiv", "mod", "pow"):
        return op.operands[0].type == F64
    return op.name in ARITHMETIC


def last_uses(block: ir.Block, uses_cache: dict) -> dict:
    """For each value used in the block (directly or inside an op's regions) and defined
    outside those regions, the index of the last top-level op that uses it."""
    last = {}
    for k, op in enumerate(block.ops):
        for v in op.operands:
            last[v] = k
        for region in op.regions:
            for v in ir.outer_uses(region, uses_cache):
                last[v] = k
    return last


class FunctionLowering:
    def __init__(self, owner: ModuleLowering, fn: ir.Function | None, llfn=None):
        """The lowering of IR function fn into its LLVM function; with fn None, of a
        helper the module makes for itself (llfn), which uses only the loops, slots and
        memory helpers."""
        self.owner = owner
        self.fn = fn
        self.llfn = owner.functions[fn.name] if llfn is None else llfn
        self.values: dict = {}
        self.root: dict = {}  # array value -> the value whose buffer it shares
        self.views: set = set()  # values pointing inside another value's buffer
        self.regions: list[Region] = []
        self.uses_cache: dict = {}  # for ir.outer_uses of fn's blocks
        self.loop_depth = 0  # loops around the op being lowered
        self.summed_with_build: dict = {}  # a sum's result -> its value (build_and_sum)
        # Stack slots go in a block of their own, which falls through to the code.
        self.alloca_block = self.llfn.append_basic_block("slots")
        self.alloca_builder = ll.IRBuilder(self.alloca_block)
        self.b = ll.IRBuilder(self.llfn.append_basic_block("entry"))
        self.ctx = self.llfn.args[0] if fn is not None else None  # a helper has no context

    # --- values
    def run(self) -> None:
        args = iter(self.llfn.args[1:])
        for p in self.fn.params:
            if isinstance(p.type, ArrayType):
                # a literal size in the type was checked before the call: as a constant,
                # it gives LLVM the trip counts of the loops over it
                data, dims = next(args), [next(args) for _ in range(p.type.rank)]
                self.values[p] = Array(data, [INT(d) if isinstance(d, int) else size
                                              for d, size in zip(p.type.shape, dims)])
            else:
                self.values[p] = next(args)
        self.outs = list(args)
        region = Region(self.fn.body, owned_args=False, uses_cache=self.uses_cache)
        self.regions.append(region)
        results = self.block_ops(self.fn.body)
        values = self.hand_on(results)
        outs = iter(self.outs)
        for v, t in zip(values, self.fn.return_types):
            if isinstance(t, ArrayType):
                data_out, dims_out = next(outs), next(outs)
                self.b.store(v.data, data_out)
                for k, d in enumerate(v.dims):
                    self.b.store(d, self.b.gep(dims_out, [INT(k)], source_etype=INT))
            else:
                self.b.store(v, next(outs))
        self.b.ret(I32(0))
        self.alloca_builder.branch(self.llfn.basic_blocks[1])

    def get(self, v):
        return self.values[v]

    def is_view(self, v) -> bool:
        while True:
            if v in self.views:
                return True
            if v not in self.root:
                return False
            v = self.root[v]

    def root_of(self, v):
        while v in self.root:
            v = self.root[v]
        return v

    def block_ops(self, block: ir.Block) -> list:
        """Lowers the ops of a block except its terminator; returns the terminator's
        operands."""
        for k, op in enumerate(block.ops[:-1]):
            self.index_in_block = k
            lower = getattr(self, "op_" + op.name, None)
            if lower is None:
                lower = self.scalar_op
            results = lower(op)
            if results is not None:
                for r, v in zip(op.results, results if isinstance(results, list) else [results]):
                    self.values[r] = v
        return list(block.ops[-1].operands)

    def hand_on(self, yielded: list) -> list:
        """At the end of the current region: the register values to yield, each array
        owned by the receiver (moved if this region owns it, else copied); then frees
        every other buffer the region owns."""
        region = self.regions.pop()
        out = []
        for v in yielded:
            if not isinstance(v.type, ArrayType):
                out.append(self.get(v))
                continue
            root = self.root_of(v)
            if root in region.owned and not self.is_view(v):
                region.owned.remove(root)
                out.append(self.get(v))
            else:
                out.append(self.copy_array(self.get(v), v.type))
        for root in region.owned:
            self.b.call(self.owner.free, [self.ctx, self.get(root).data])
        return out

    def own(self, value) -> None:
        self.regions[-1].owned.append(value)

    def float_op(self, name: str, x, y):
        """+ - * / on doubles; with fast_math, LLVM may reassociate and contract them
        (FMA, vectorized reductions), divide by multiplying with a reciprocal and ignore
        the sign of zero, at the cost of bit-for-bit IEEE results. Not LLVM's whole `fast`,
        which also assumes no inf or NaN (and so folds inf - inf to 0)."""
        op = {"add": self.b.fadd, "sub": self.b.fsub, "mul": self.b.fmul,
              "div": self.b.fdiv}[name](x, y)
        if self.owner.fast_math:
            op.flags.extend(["reassoc", "contract", "arcp", "nsz"])
        return op

    def multiply_add(self, x, y, total):
        """total + x * y, doubles or vectors of them: a term of a matrix product's sums,
        rounded once (a fused multiply-add) where the CPU has the instruction
        (fused_products), else a product, then a sum."""
        if not self.owner.fused_products:
            return self.float_op("add", total, self.float_op("mul", x, y))
        name = "llvm.fma.f64" if x.type == DOUBLE else f"llvm.fma.v{x.type.count}f64"
        return self.b.call(self.owner.declare(name, x.type, [x.type] * 3), [x, y, total])

    # --- memory helpers
    def count(self, dims: list):
        total = INT(1)
        for d in dims:
            total = self.b.mul(total, d)
        return total

    def new_array(self, elem, dims: list, op=None) -> Array:
        """A fresh buffer for an array of `dims` (each >= 0), made for `op` (which error
        messages quote). When its byte size overflows or malloc fails, dpc.alloc gives
        NULL: the function fails with the element type and the sizes (the first three:
        the context has room for no more)."""
        data = self.b.call(self.owner.alloc, [self.ctx, self.byte_size(elem, dims)])
        self.fail_if(self.likely_false(self.b.icmp_unsigned("==", data, ll.Constant(PTR, None))),
                     "memory", op, dims[:3], elem=str(elem), item_bytes=ELEM_SIZE[elem],
                     rank=len(dims), stored=bool(op is not None and op.attrs.get(OVERWRITTEN)))
        return Array(data, list(dims))

    def byte_size(self, elem, dims: list):
        """The bytes of an array of `dims`, or -1 (which dpc.alloc refuses) when they do
        not fit in an i64. As in NumPy, sizes 0 do not count: an empty array whose
        other sizes overflow is refused too (the interpreter cannot make it)."""
        total, overflow, empty = INT(ELEM_SIZE[elem]), I1(0), I1(0)
        for d in dims:
            zero = self.b.icmp_signed("==", d, INT(0))
            product = self.b.smul_with_overflow(total, self.b.select(zero, INT(1), d))
            total = self.b.extract_value(product, 0)
            overflow = self.b.or_(overflow, self.b.extract_value(product, 1))
            empty = self.b.or_(empty, zero)
        return self.b.select(overflow, INT(-1), self.b.select(empty, INT(0), total))

    def copy_array(self, a: Array, t, op=None) -> Array:
        fresh = self.new_array(t.elem, a.dims, op)
        nbytes = self.b.mul(self.count(a.dims), INT(ELEM_SIZE[t.elem]))
        self.memcpy(fresh.data, a.data, nbytes)
        return fresh

    def memcpy(self, dst, src, nbytes) -> None:
        fn = self.owner.declare("llvm.memcpy.p0.p0.i64", ll.VoidType(), [PTR, PTR, INT, I1])
        self.b.call(fn, [dst, src, nbytes, I1(0)])

    def element_ptr(self, a: Array, elem, offset):
        return self.b.gep(a.data, [offset], source_etype=ELEM[elem])

    def load_elem(self, a: Array, elem, offset):
        v = self.b.load(self.element_ptr(a, elem, offset), typ=ELEM[elem])
        if elem != BOOL:
            return v
        # any nonzero byte is True, as NumPy reads it (a view of uint8 as bool can hold 2):
        # its lowest bit alone made 2 False
        return self.b.icmp_unsigned("!=", v, I8(0))

    def store_elem(self, a: Array, elem, offset, value) -> None:
        if elem == BOOL:
            value = self.b.zext(value, I8)
        self.b.store(value, self.element_ptr(a, elem, offset))

    def slot(self, lltype):
        return self.alloca_builder.alloca(lltype)

    def slots_for(self, t) -> list:
        if isinstance(t, ArrayType):
            return [self.slot(PTR)] + [self.slot(INT) for _ in range(t.rank)]
        return [self.slot(reg_type(t))]

    def store_slots(self, slots, value) -> None:
        if isinstance(value, Array):
            self.b.store(value.data, slots[0])
            for s, d in zip(slots[1:], value.dims):
                self.b.store(d, s)
        else:
            self.b.store(value, slots[0])

    def load_slots(self, slots, t):
        if isinstance(t, ArrayType):
            return Array(self.b.load(slots[0], typ=PTR),
                         [self.b.load(s, typ=INT) for s in slots[1:]])
        return self.b.load(slots[0], typ=reg_type(t))

    # --- errors
    def fail_if(self, condition, kind: str, op, values=(), **detail) -> None:
        """If `condition`, record the error site and its values in ctx and return 1."""
        site = self.owner.site(kind, op, **detail)
        fail_with(self.b, self.llfn, self.ctx, condition, site, values)

    def likely_false(self, cond):
        fn = self.owner.declare("llvm.expect.i1", I1, [I1, I1])
        return self.b.call(fn, [cond, I1(0)])

    # --- ops without regions
    def op_const(self, op):
        t = op.result.type
        value = op.attrs["value"]
        if t == F64:
            return DOUBLE(float(value))
        return reg_type(t)(int(value))

    def op_dim(self, op):
        size = op.operands[0].type.shape[op.attrs["axis"]]
        return INT(size) if isinstance(size, int) else self.get(op.operands[0]).dims[op.attrs["axis"]]

    def op_shape_cast(self, op):
        (v,) = op.operands
        a = self.get(v)
        declared = op.attrs["type"]
        for axis, (d, size) in enumerate(zip(declared.shape, a.dims)):
            expected = self.known_dim(d)
            if expected is not None:
                self.fail_if(self.b.icmp_signed("!=", size, expected), "shape", op,
                             [size, expected, INT(axis)], declared=str(declared), dim=d,
                             argument=op.attrs.get("argument"))
        self.root[op.result] = v
        return a

    def dim_or_zero(self, d):
        """Dimension d where known, else 0 (no element yet has told the size)."""
        known = self.known_dim(d)
        return INT(0) if known is None else known

    def known_dim(self, d):
        """An LLVM value for dimension d of the running function, or None for `?`."""
        if isinstance(d, int):
            return INT(d)
        if d == ir.DYN:
            return None
        for p in self.fn.params:
            if d in p.type.shape:
                return self.get(p).dims[list(p.type.shape).index(d)]
        return None

    def op_shape_check(self, op):
        a, b = (self.get(v) for v in op.operands)
        self.fail_if(self.b.icmp_signed("!=", a, b), "shape", op, [a, b],
                     message=op.attrs["message"])

    def op_assert(self, op):
        cond = self.get(op.operands[0])
        self.fail_if(self.b.not_(cond), "assert", op, message=op.attrs["message"])

    def checked_offset(self, op, a: Array, indices: list):
        """Row-major offset of a[indices...] (a prefix of the axes), with bounds checks
        and Python's negative indices unless a pass proved the indices in range."""
        offset = INT(0)
        proof = op.attrs.get("inbounds")
        if proof:  # proved in range: no check; "wraps" still maps negative indices
            for axis, iv in enumerate(indices):
                size = a.dims[axis]
                i = iv
                if proof in WRAPPING_PROOFS:
                    i = self.b.select(self.b.icmp_signed("<", iv, INT(0)), self.b.add(iv, size), iv)
                offset = self.b.add(self.b.mul(offset, size), i)
            for size in a.dims[len(indices):]:
                offset = self.b.mul(offset, size)
            return offset
        for axis, iv in enumerate(indices):
            size = a.dims[axis]
            negative = self.b.icmp_signed("<", iv, INT(0))
            i = self.b.select(negative, self.b.add(iv, size), iv)
            bad = self.b.icmp_unsigned(">=", i, size)
            self.fail_if(self.likely_false(bad), "index", op, [iv, size, INT(axis)],
                         name=indexed_name(op))
            offset = self.b.add(self.b.mul(offset, size), i)
        for size in a.dims[len(indices):]:
            offset = self.b.mul(offset, size)
        return offset

    def op_index(self, op):
        v, *idx = op.operands
        a = self.get(v)
        offset = self.checked_offset(op, a, [self.get(i) for i in idx])
        t = v.type
        if len(idx) == t.rank:
            return self.load_elem(a, t.elem, offset)
        # A row is a view into the array: no copy. It is never freed itself; whoever
        # would keep it beyond the array's region (yield, move, update) copies it.
        self.root[op.result] = v
        self.views.add(op.result)
        return Array(self.element_ptr(a, t.elem, offset), a.dims[len(idx):])

    def op_transpose(self, op):
        """Scalarize keeps a transpose only as the left operand of a matmul, whose kernel
        reads the matrix itself: no copy is made here (a large product makes one:
        copies_transposed)."""
        (v,) = op.operands
        a = self.get(v)
        self.root[op.result] = v
        self.views.add(op.result)
        return Array(a.data, [a.dims[1], a.dims[0]], transposed=True)

    def op_update(self, op):
        return self.store_into(op, combine=None)

    def op_add_at(self, op):
        return self.store_into(op, combine=lambda old, new: self.float_op("add", old, new)
                               if op.operands[0].type.elem == F64 else self.b.add(old, new))

    def store_into(self, op, combine):
        """update (combine None: the slot becomes the value) and add_at (the slot becomes
        combine(slot, value)): in place when the array is owned here and dead after this
        op, else on a copy."""
        v, value, *idx = op.operands
        t = v.type
        region = self.regions[-1]
        root = self.root_of(v)
        in_place = root in region.owned and not self.is_view(v) and self.dead_after(root)
        a = self.get(v)
        if in_place:
            region.owned.remove(root)
        else:
            a = self.copy_array(a, t, op)
        self.own(op.result)
        offset = self.checked_offset(op, a, [self.get(i) for i in idx])
        slot = Array(self.element_ptr(a, t.elem, offset), a.dims[len(idx):])
        if len(idx) == t.rank:
            self.store_slot_elem(slot, t.elem, INT(0), self.get(value), combine)
        elif value.type.rank == 0:
            with self.counted_loop(self.count(slot.dims)) as i:
                self.store_slot_elem(slot, t.elem, i, self.get(value), combine)
        else:
            self.store_array(op, slot, t.elem, value, combine)
        return a

    def store_array(self, op, slot: Array, elem, value, combine) -> None:
        """Stores (or combines) array `value` into `slot`, broadcasting it along missing
        leading axes and along axes whose size is the literal 1 in its type; every other
        axis must match, checked here."""
        src = self.get(value)
        lead = len(slot.dims) - len(src.dims)
        spread = [True] * lead + [d == 1 for d in value.type.shape]
        for axis, (d, s) in enumerate(zip(slot.dims[lead:], src.dims)):
            if not spread[lead + axis]:
                self.fail_if(self.b.icmp_signed("!=", d, s), "shape", op, [s, d, INT(axis)],
                             message=op.attrs.get("message", errors.STORED_ROW))
        n = self.count(slot.dims)
        if not any(spread) and combine is None:
            self.memcpy(slot.data, src.data, self.b.mul(n, INT(ELEM_SIZE[elem])))
            return
        with self.counted_loop(n) as i:
            offset = i if not any(spread) else self.broadcast_offset(i, slot.dims, src.dims, spread)
            self.store_slot_elem(slot, elem, i, self.load_elem(src, elem, offset), combine)

    def broadcast_offset(self, i, dims: list, src_dims: list, spread: list):
        """The offset in the broadcast source of element i (row-major) of an array of
        shape `dims`: the source's axes are the trailing ones, each spread one read at 0."""
        offset, stride = INT(0), INT(1)
        rest = i
        for axis in reversed(range(len(dims))):
            k = self.b.srem(rest, dims[axis])
            rest = self.b.sdiv(rest, dims[axis])
            src_axis = axis - (len(dims) - len(src_dims))
            if src_axis < 0:
                break
            if not spread[axis]:
                offset = self.b.add(offset, self.b.mul(k, stride))
            stride = self.b.mul(stride, src_dims[src_axis])
        return offset

    def store_slot_elem(self, slot: Array, elem, offset, value, combine) -> None:
        if combine is not None:
            value = combine(self.load_elem(slot, elem, offset), value)
        self.store_elem(slot, elem, offset, value)

    def dead_after(self, root) -> bool:
        """Does nothing after the op being lowered (in its block) use root's buffer?"""
        last_use = self.regions[-1].last_use
        return all(last_use.get(u, -1) <= self.index_in_block for u in self.aliases_of(root))

    def aliases_of(self, root) -> list:
        return [v for v in list(self.values) + [root] if self.root_of(v) is root]

    def fill(self, a: Array, elem, value) -> None:
        n = self.count(a.dims)
        with self.counted_loop(n) as i:
            self.store_elem(a, elem, i, value)

    def counted_loop(self, n, vectorize: bool = True, interleave: bool = False):
        """`with counted_loop(n) as i:` emits a loop over i from 0 to n - 1. vectorize=False
        tells LLVM's loop vectorizer to leave it alone; interleave=True, to run INTERLEAVE
        of its (vector) iterations side by side."""
        lowering = self

        class Loop:
            def __enter__(self):
                b = lowering.b
                self.slot = lowering.slot(INT)
                b.store(INT(0), self.slot)
                self.head = lowering.llfn.append_basic_block("loop")
                self.body = lowering.llfn.append_basic_block("body")
                self.done = lowering.llfn.append_basic_block("done")
                b.branch(self.head)
                b.position_at_end(self.head)
                i = b.load(self.slot, typ=INT)
                b.cbranch(b.icmp_signed("<", i, n), self.body, self.done)
                b.position_at_end(self.body)
                lowering.loop_depth += 1
                return i

            def __exit__(self, *exc):
                lowering.loop_depth -= 1
                if exc[0] is None:
                    b = lowering.b
                    i = b.load(self.slot, typ=INT)
                    b.store(b.add(i, INT(1)), self.slot)
                    back = b.branch(self.head)
                    if not vectorize:
                        back.set_metadata("llvm.loop", lowering.owner.not_vectorized())
                    elif interleave:
                        back.set_metadata("llvm.loop", lowering.owner.interleaved())
                    b.position_at_end(self.done)
                return False

        return Loop()

    def op_full(self, op):
        v, *dims = op.operands
        sizes = [self.get(d) for d in dims]
        for axis, s in enumerate(sizes):
            self.fail_if(self.b.icmp_signed("<", s, INT(0)), "negative", op, [s])
        a = self.new_array(op.result.type.elem, sizes, op)
        if not op.attrs.get(OVERWRITTEN):  # every element is stored before it is read
            self.fill(a, op.result.type.elem, self.get(v))
        self.own(op.result)
        return a

    def op_arange(self, op):
        n = self.get(op.operands[0])
        n = self.b.select(self.b.icmp_signed("<", n, INT(0)), INT(0), n)  # arange(-1) is empty
        a = self.new_array(I64, [n], op)
        with self.counted_loop(n) as i:
            self.store_elem(a, I64, i, i)
        self.own(op.result)
        return a

    def op_stack(self, op):
        t = op.result.type
        items = [self.get(v) for v in op.operands]
        if t.rank == 1:
            a = self.new_array(t.elem, [INT(len(items))], op)
            for k, item in enumerate(items):
                self.store_elem(a, t.elem, INT(k), item)
        else:
            first = items[0]
            for item in items[1:]:
                for axis, (d, e) in enumerate(zip(first.dims, item.dims)):
                    self.fail_if(self.b.icmp_signed("!=", d, e), "shape", op, [d, e, INT(axis)],
                                 message="array literal rows have different shapes")
            a = self.new_array(t.elem, [INT(len(items))] + first.dims, op)
            row = self.count(first.dims)
            nbytes = self.b.mul(row, INT(ELEM_SIZE[t.elem]))
            for k, item in enumerate(items):
                dst = self.element_ptr(a, t.elem, self.b.mul(INT(k), row))
                self.memcpy(dst, item.data, nbytes)
        self.own(op.result)
        return a

    def op_matmul(self, op):
        """Matrix products in the i-k-j order: the innermost loop walks rows of both the
        right operand and the result contiguously, so it vectorizes."""
        x, y = op.operands
        a, b = self.get(x), self.get(y)
        inner = a.dims[-1]
        self.fail_if(self.b.icmp_signed("!=", inner, b.dims[0]), "shape", op,
                     [inner, b.dims[0]], message=errors.INNER_DIMENSIONS)
        rows = a.dims[0] if x.type.rank == 2 else None
        cols = b.dims[1] if y.type.rank == 2 else None
        self.own(op.result)
        if cols is None and a.transposed:
            # transpose(m) @ v is v @ m, the same sums in the same order: one row of the
            # product kernel's tiles, which reads m in order (the gradient of m @ v has it)
            out = self.new_array(F64, [rows], op)
            kernel = self.owner.product_kernel(False)
            self.b.call(kernel, [b.data, a.data, out.data, INT(1), inner, rows])
            return out
        if cols is None:  # matrix @ vector: one dot product per row
            out = self.new_array(F64, [rows], op)
            self.b.call(self.owner.matvec_kernel(), [a.data, b.data, out.data, rows, inner])
            return out
        out = self.new_array(F64, [rows, cols] if rows is not None else [cols], op)
        rows = rows if rows is not None else INT(1)
        known = isinstance(inner, ll.Constant) and isinstance(cols, ll.Constant)
        sizes = (inner, cols) if known else ()
        if not a.transposed:
            self.b.call(self.owner.product_kernel(False, *sizes),
                        [a.data, b.data, out.data, rows, inner, cols])
            return out
        with self.b.if_else(self.copies_transposed(rows, inner, cols)) as (copy, read):
            with copy:
                copied = self.new_array(F64, [rows, inner], op)
                self.b.call(self.owner.transpose_kernel(), [a.data, copied.data, inner, rows])
                self.b.call(self.owner.product_kernel(False, *sizes),
                            [copied.data, b.data, out.data, rows, inner, cols])
                self.b.call(self.owner.free, [self.ctx, copied.data])
            with read:
                self.b.call(self.owner.product_kernel(True, *sizes),
                            [a.data, b.data, out.data, rows, inner, cols])
        return out

    def copies_transposed(self, rows, inner, cols):
        """Whether a product whose left operand is read as a transpose copies it first
        (Transpose) and multiplies the copy. Read in place, a tile takes a[i, k] for its
        four rows i from one line of the matrix per step of k, half of the line, whose
        other half the next tile reads again; an untransposed a serves eight steps per
        line. On Zen 3, 256 x 64 read as 64 x 256 times 256 x 128 took 162 us in place
        and 125 copied (the same product untransposed: 116), the MLP's gradient 4-6% less.
        The copy pays where each row of a is read for several strips of columns, in
        products as large as those whose strips of b are copied (PACK_FROM_ROWS,
        PACK_FROM_INNER)."""
        b = self.b
        large = b.and_(b.icmp_signed(">=", rows, INT(PACK_FROM_ROWS)),
                       b.icmp_signed(">=", inner, INT(PACK_FROM_INNER)))
        return b.and_(large, b.icmp_signed(">=", cols, INT(2 * self.owner.tile_width)))

    def op_call(self, op):
        callee = self.owner.module.functions[op.attrs["callee"].name]
        args = [self.ctx]
        for v in op.operands:
            val = self.get(v)
            args += [val.data, *val.dims] if isinstance(val, Array) else [val]
        result_slots = []
        for t in callee.return_types:
            if isinstance(t, ArrayType):
                data, dims = self.slot(PTR), self.slot(ll.ArrayType(INT, t.rank))
                result_slots.append((data, dims))
                args += [data, self.b.bitcast(dims, PTR)]
            else:
                s = self.slot(reg_type(t))
                result_slots.append((s,))
                args.append(s)
        status = self.b.call(self.owner.functions[callee.name], args)
        fail = self.llfn.append_basic_block("callfail")
        ok = self.llfn.append_basic_block("callok")
        self.b.cbranch(self.likely_false(self.b.icmp_signed("!=", status, I32(0))), fail, ok)
        self.b.position_at_end(fail)
        self.b.ret(I32(1))
        self.b.position_at_end(ok)
        results = []
        for r, slots in zip(op.results, result_slots):
            if isinstance(r.type, ArrayType):
                data = self.b.load(slots[0], typ=PTR)
                dims = [self.b.load(self.b.gep(slots[1], [INT(0), INT(k)],
                                               source_etype=ll.ArrayType(INT, r.type.rank)),
                                    typ=INT) for k in range(r.type.rank)]
                results.append(Array(data, dims))
                self.own(r)
            else:
                results.append(self.b.load(slots[0], typ=reg_type(r.type)))
        return results

    def not_lowered(self, op):
        self.fail_if(I1(1), "notlowered", op, callee=op.attrs["callee"].name)
        return [ll.Constant(reg_type(r.type), None) if r.type.rank == 0 else
                Array(ll.Constant(PTR, None), [INT(0)] * r.type.rank) for r in op.results]

    op_jvp = not_lowered  # grad, value_and_grad and vjp are gone after reverse mode

    # --- structured control flow
    def range_count(self, op, start, stop, step):
        """len(range(start, stop, step)), as Python has it, up to 2**63 - 1 (a loop that
        runs longer could never finish; a build that long cannot be allocated)."""
        self.fail_if(self.b.icmp_signed("==", step, INT(0)), "range", op)
        return self.count_of(start, stop, step)

    def op_trip_count(self, op):
        """range_count's count, 0 for step 0 (ir/ops.py)."""
        return self.count_of(*(self.get(v) for v in op.operands))

    def count_of(self, start, stop, step):
        """len(range(start, stop, step)), at most 2**63 - 1, and 0 for step 0. The
        distance and the stride are unsigned: range(0, 2**63 - 1, 2**62) spans more than
        an i64 holds, and its 2 iterations once came out as none."""
        zero_step = self.b.icmp_signed("==", step, INT(0))
        step = self.b.select(zero_step, INT(1), step)  # no division by 0 below
        positive = self.b.icmp_signed(">", step, INT(0))
        runs = self.b.select(positive, self.b.icmp_signed("<", start, stop),
                             self.b.icmp_signed(">", start, stop))
        runs = self.b.and_(runs, self.b.not_(zero_step))
        span = self.b.select(positive, self.b.sub(stop, start), self.b.sub(start, stop))
        stride = self.b.select(positive, step, self.b.neg(step))
        n = self.b.add(self.b.udiv(self.b.sub(span, INT(1)), stride), INT(1))
        n = self.b.select(self.b.icmp_signed("<", n, INT(0)), INT(2**63 - 1), n)  # >= 2**63
        return self.b.select(runs, n, INT(0))

    def op_for(self, op):
        start, stop, step, *inits = (self.get(v) for v in op.operands)
        (body,) = op.regions
        slots = [self.slots_for(a.type) for a in body.args[1:]]
        for s, v in zip(slots, self.entry_values(op, op.operands[3:])):
            self.store_slots(s, v)
        n = self.range_count(op, start, stop, step)
        # a scalar the loop carries is a chain from one iteration to the next
        independent = all(isinstance(a.type, ArrayType) for a in body.args[1:])
        with self.counted_loop(n, interleave=independent and slow_chain(body)) as k:
            self.values[body.args[0]] = self.b.add(start, self.b.mul(k, step))
            self.store_all(slots, self.region(body, body.args[1:], slots, owned_args=True))
        return self.loop_results(op, slots)

    def region(self, block: ir.Block, args: list, arg_slots: list, owned_args: bool,
               adopted: list = ()) -> list:
        """Lowers a region whose arguments `args` are read from `arg_slots`, and which
        owns the buffers `adopted` too; returns the values it hands on (see hand_on)."""
        for arg, s in zip(args, arg_slots):
            self.values[arg] = self.load_slots(s, arg.type)
        region = Region(block, owned_args=owned_args, uses_cache=self.uses_cache)
        region.owned += adopted
        self.regions.append(region)
        return self.hand_on(self.block_ops(block))

    def moved_into(self, op) -> list:
        """The buffers owned here that op's regions use and nothing uses after op: an
        `if` takes them over, so that a branch can update them in place (and yield them
        without a copy) instead of copying them, which would make a loop of
        `if c: a = add_at(a, ...)` quadratic. Each branch frees what it does not yield."""
        region = self.regions[-1]
        inside = {v for block in op.regions for v in ir.outer_uses(block, self.uses_cache)}
        moved = [root for root in region.owned
                 if root in inside and not self.is_view(root) and self.dead_after(root)]
        for root in moved:
            region.owned.remove(root)
        return moved

    def store_all(self, slots: list, values: list) -> None:
        for s, v in zip(slots, values):
            self.store_slots(s, v)

    def entry_values(self, loop, values) -> list:
        """Values entering a loop's region that will own them: arrays are copied (the loop
        frees or yields what it owns, so it must not own a buffer someone else holds),
        unless nothing reads them after the loop starts: not later ops, and not the
        loop's own body, which would see the carried buffer change or be freed."""
        inside = ir.uses_within(loop)
        out = []
        for v in values:
            val = self.get(v)
            if not isinstance(v.type, ArrayType):
                out.append(val)
                continue
            region = self.regions[-1]
            root = self.root_of(v)
            dead = self.dead_after(root) and not inside & set(self.aliases_of(root))
            if root in region.owned and dead and not self.is_view(v) and out.count(val) == 0:
                region.owned.remove(root)  # moved into the loop
                out.append(val)
            else:
                out.append(self.copy_array(val, v.type, loop))
        return out

    def loop_results(self, op, slots) -> list:
        results = []
        for r, s in zip(op.results, slots):
            results.append(self.load_slots(s, r.type))
            if isinstance(r.type, ArrayType):
                self.own(r)
        return results

    def op_while(self, op):
        cond, body = op.regions
        slots = [self.slots_for(a.type) for a in body.args]
        for s, v in zip(slots, self.entry_values(op, op.operands)):
            self.store_slots(s, v)
        head = self.llfn.append_basic_block("while.head")
        loop = self.llfn.append_basic_block("while.body")
        done = self.llfn.append_basic_block("while.done")
        self.b.branch(head)
        self.b.position_at_end(head)
        self.loop_depth += 1
        (c,) = self.region(cond, cond.args, slots, owned_args=False)  # it only borrows them
        self.b.cbranch(c, loop, done)
        self.b.position_at_end(loop)
        self.store_all(slots, self.region(body, body.args, slots, owned_args=True))
        self.loop_depth -= 1
        self.b.branch(head)
        self.b.position_at_end(done)
        return self.loop_results(op, slots)

    def op_if(self, op):
        cond = self.get(op.operands[0])
        slots = [self.slots_for(r.type) for r in op.results]
        then_bb = self.llfn.append_basic_block("if.then")
        else_bb = self.llfn.append_basic_block("if.else")
        done = self.llfn.append_basic_block("if.done")
        self.b.cbranch(cond, then_bb, else_bb)
        adopted = self.moved_into(op)
        for region, bb in zip(op.regions, (then_bb, else_bb)):
            self.b.position_at_end(bb)
            self.store_all(slots, self.region(region, [], [], owned_args=False, adopted=adopted))
            self.b.branch(done)
        self.b.position_at_end(done)
        return self.loop_results(op, slots)

    def op_build(self, op):
        if builds_rows_in_place(op):
            return self.build_rows_in_place(op)
        if builds_reductions(op):
            return self.build_reductions(op)
        start, stop, step = (self.get(v) for v in op.operands)
        (body,) = op.regions
        t = op.result.type
        elem_type = body.ops[-1].operands[0].type
        n = self.range_count(op, start, stop, step)
        total = self.next_op()
        if total is not None and sums_the_build(self.regions[-1].block, op, total):
            return self.build_and_sum(op, total, start, step, n)
        data_slot = self.slot(PTR)
        dim_slots = [self.slot(INT) for _ in range(elem_type.rank)]
        known = known_row_sizes(op)
        empty_dims = [self.get(v) for v in known] if known is not None else \
            [self.dim_or_zero(d) for d in t.shape[1:]]
        for s, d in zip(dim_slots, empty_dims):  # what no iteration leaves: f64[0, m]
            self.b.store(d, s)
        if elem_type.rank == 0:  # the size is known before the loop
            self.b.store(self.buffer_to_build_in(op, [n]).data, data_slot)
        else:
            self.b.store(ll.Constant(PTR, None), data_slot)
        with self.counted_loop(n, interleave=slow_chain(body)) as k:
            self.values[body.args[0]] = self.b.add(start, self.b.mul(k, step))
            self.regions.append(Region(body, owned_args=False, uses_cache=self.uses_cache))
            (elem,) = self.block_ops(body)
            value = self.get(elem)
            if elem_type.rank == 0:
                out = Array(self.b.load(data_slot, typ=PTR), [n])
                self.store_elem(out, t.elem, k, value)
            else:
                self.store_row(op, k, n, value, elem_type, data_slot, dim_slots)
            self.hand_on([])  # frees what the body made, the element included
        dims = [n] + [self.b.load(s, typ=INT) for s in dim_slots]
        data = self.b.load(data_slot, typ=PTR)
        if elem_type.rank > 0:  # no iteration: still a valid (empty) buffer to free
            empty = self.b.icmp_unsigned("==", data, ll.Constant(PTR, None))
            with self.b.if_then(empty):
                self.b.store(self.new_array(t.elem, [INT(0)], op).data, data_slot)
            data = self.b.load(data_slot, typ=PTR)
        self.own(op.result)
        return Array(data, dims)

    def buffer_to_build_in(self, op, dims: list) -> Array:
        """The buffer for the elements of build `op`: that of the array it reads only at
        the element it makes (element_wise_source), when this region owns it and nothing
        uses it after the build (the build then owns it), else a new one of `dims`."""
        source = element_wise_source(op)
        if source is not None:
            root = self.root_of(source)
            others = {v for v in ir.uses_within(op) if v is not source and v in self.values
                      and self.root_of(v) is root}  # a row of it read in the body, say
            if root in self.regions[-1].owned and not self.is_view(source) \
                    and self.dead_after(root) and not others:
                self.regions[-1].owned.remove(root)
                return self.get(source)
        return self.new_array(op.result.type.elem, dims, op)

    def build_and_sum(self, op, total, start, step, n):
        """A build of doubles and the sum of its elements that comes next (sums_the_build),
        in chunks of BUILD_AND_SUM elements: each chunk's elements are stored, then added
        into the sum's lanes while they are still in the L1 cache. The sum adds them as
        sum_of_doubles does, element k into lane k % SUM_LANES, in order, so the bits are
        the same; apart, the sum read the whole array back (lse's gradient: two such sums
        over 800 KB, more than the L2 cache holds)."""
        (body,) = op.regions
        out = self.buffer_to_build_in(op, [n])
        self.own(op.result)
        self.values[op.result] = Array(out.data, [n])
        (sum_body,) = total.regions
        lanes = self.zero_lanes()
        whole = self.in_lanes(n)
        chunks = self.b.sdiv(self.b.add(n, INT(BUILD_AND_SUM - 1)), INT(BUILD_AND_SUM))
        with self.counted_loop(chunks, vectorize=False) as chunk:
            first = self.b.mul(chunk, INT(BUILD_AND_SUM))
            count = smaller(self.b, self.b.sub(n, first), INT(BUILD_AND_SUM))
            with self.counted_loop(count, interleave=slow_chain(body)) as j:
                k = self.b.add(first, j)
                self.store_elem(out, F64, k, self.scalar_element(body, start, step, k))
            # the chunk's whole blocks below `whole` (none, a count <= 0, past it)
            in_lanes = smaller(self.b, self.b.add(first, count), whole)
            blocks = self.b.sdiv(self.b.sub(in_lanes, first), INT(SUM_LANES))
            self.add_blocks(lanes, sum_body, start, step, self.b.sdiv(first, INT(SUM_LANES)),
                            blocks)
        self.summed_with_build[total.result] = self.sum_after_lanes(
            sum_body, start, step, whole, n, lambda: self.lanes_total(lanes))
        return self.values[op.result]

    def next_op(self):
        """The first op after the one being lowered in its block that is not a constant,
        if that is not the block's terminator."""
        ops = self.regions[-1].block.ops
        k = self.index_in_block + 1
        while k < len(ops) - 1 and ops[k].name == "const":
            k += 1
        return ops[k] if k < len(ops) - 1 else None

    def build_rows_in_place(self, op):
        """`build { build { ... } }` with rows of one length: each element is stored in
        its place in the matrix, with no row made apart and copied."""
        start, stop, step = (self.get(v) for v in op.operands)
        body = op.regions[0]
        inner = body.ops[0]
        n = self.range_count(op, start, stop, step)
        row_start, row_stop, row_step = (self.get(v) for v in inner.operands)
        m = self.range_count(inner, row_start, row_stop, row_step)  # step: a nonzero constant
        none = self.b.icmp_signed("==", n, INT(0))
        # no row is made when there is none, so its length, which may be too large for any
        # array, must not size the buffer (the interpreter never computes it)
        out = self.buffer_to_build_in(op, [n, self.b.select(none, INT(0), m)])
        with self.counted_loop(n) as k:
            self.values[body.args[0]] = self.b.add(start, self.b.mul(k, step))
            first = self.b.mul(k, m)
            with self.counted_loop(m) as j:
                x = self.scalar_element(inner.regions[0], row_start, row_step, j)
                self.store_elem(out, op.result.type.elem, self.b.add(first, j), x)
        self.own(op.result)
        # no row: the sizes the type names, 0 along a `?`, as every other build gives,
        # unless the build stands for an array op (KNOWN_ROWS)
        if known_row_sizes(op) is not None:
            return Array(out.data, [n, m])
        named = self.dim_or_zero(op.result.type.shape[1])
        return Array(out.data, [n, self.b.select(none, named, m)])

    def build_reductions(self, op):
        """A build of reductions (builds_reductions) in blocks of VECTOR rows, then the rows
        left one at a time. A row's sum waits on one dependent addition per element (row
        sums at 1000 x 1000: 3x NumPy's time); a block's sums are independent lanes of one
        vector, and LLVM runs the copies of the body for its rows as vector code. Rows of
        ROW_LANES_FROM elements or more of a max/min are reduced one at a time."""
        start, stop, step = (self.get(v) for v in op.operands)
        body = op.regions[0]
        n = self.range_count(op, start, stop, step)
        out = self.new_array(F64, [n], op)
        *constants, reduce, _ = body.ops
        if reduce.attrs["kind"] not in ("max", "min") or not reads_along_rows(reduce):
            self.reduce_row_blocks(body, start, step, n, out)
            self.own(op.result)
            return out
        # A row's maximum or minimum needs no order, so a long row whose elements lie side
        # by side combines in the lanes of a vector of its own (op_reduce), reading them in
        # order (1000 x 1000: 1.8x faster than row blocks, which read 8 rows a column at a
        # time; down a column of a (max(a, axis=0)), 14x slower than blocks)
        for c in constants:
            self.values[c.result] = self.op_const(c)
        row_start, row_stop, row_step = (self.get(v) for v in reduce.operands)
        m = self.range_count(reduce, row_start, row_stop, row_step)
        with self.b.if_else(self.b.icmp_signed(">=", m, INT(ROW_LANES_FROM))) as (long, short):
            with long:
                with self.counted_loop(n) as k:
                    self.store_elem(out, F64, k, self.scalar_element(body, start, step, k))
            with short:
                self.reduce_row_blocks(body, start, step, n, out)
        self.own(op.result)
        return out

    def reduce_row_blocks(self, body: ir.Block, start, step, n, out: Array) -> None:
        """out[k] = the reduction body yields for row k: VECTOR rows at a time, then the
        rows left."""
        whole = self.b.and_(n, INT(-VECTOR))
        with self.counted_loop(self.b.sdiv(whole, INT(VECTOR)), vectorize=False) as block:
            first = self.b.mul(block, INT(VECTOR))
            rows = [self.b.add(start, self.b.mul(self.b.add(first, INT(r)), step))
                    for r in range(VECTOR)]
            self.b.store(self.reductions_of_rows(body, rows), self.element_ptr(out, F64, first),
                         align=8)
        with self.counted_loop(self.b.sub(n, whole)) as rest:
            k = self.b.add(whole, rest)
            self.store_elem(out, F64, k, self.scalar_element(body, start, step, k))

    def reductions_of_rows(self, body: ir.Block, rows: list):
        """The vector of the reductions body (a build's) yields for the row indices `rows`:
        lane r combines row r's elements in the order op_reduce would."""
        *constants, reduce, _ = body.ops
        for c in constants:
            self.values[c.result] = self.op_const(c)
        kind = reduce.attrs["kind"]
        start, stop, step = (self.get(v) for v in reduce.operands)
        n = self.range_count(reduce, start, stop, step)
        if kind in ("max", "min"):
            self.fail_if(self.b.icmp_signed("==", n, INT(0)), "empty", reduce, what=kind)
        vector = ll.VectorType(DOUBLE, len(rows))
        if kind == "sum" and not reduce.attrs.get(IN_ORDER):
            # each row's sum in the partial sums op_reduce adds a long sum in
            # (sum_of_doubles): element k into chain k % SUM_LANES, then the rest in order
            chains = SUM_LANES
            whole = self.in_lanes(n)
        else:
            # a max/min needs no order: EXTREME_CHAINS vectors take every
            # EXTREME_CHAINS-th element each, so that each combine does not wait on the
            # one before (an in-order sum is one chain)
            chains = EXTREME_CHAINS if kind in ("max", "min") else 1
            whole = self.b.mul(self.b.sdiv(n, INT(chains)), INT(chains))
        accs = [self.slot(vector) for _ in range(chains)]
        for acc in accs:
            self.b.store(splat(self.b, self.reduce_identity(kind, F64), len(rows)), acc)

        def combine_column(acc, k):
            column = ll.Constant(vector, None)
            for r, row in enumerate(rows):
                self.values[body.args[0]] = row
                x = self.scalar_element(reduce.regions[0], start, step, k)
                column = self.b.insert_element(column, x, INT(r))
            self.b.store(self.combine(kind, F64, self.b.load(acc, typ=vector), column), acc)

        with self.counted_loop(self.b.sdiv(whole, INT(chains)), vectorize=False) as q:
            for c, acc in enumerate(accs):
                combine_column(acc, self.b.add(self.b.mul(q, INT(chains)), INT(c)))
        values = [self.b.load(acc, typ=vector) for acc in accs]
        while len(values) > 1:  # pairwise: ((c0 + c1) + (c2 + c3)) + ...
            values = [self.combine(kind, F64, values[i], values[i + 1])
                      for i in range(0, len(values), 2)]
        total = self.slot(vector)
        self.b.store(values[0], total)
        with self.counted_loop(self.b.sub(n, whole), vectorize=False) as rest:
            combine_column(total, self.b.add(whole, rest))
        return self.b.load(total, typ=vector)

    def store_row(self, op, k, n, row: Array, elem_type, data_slot, dim_slots) -> None:
        """Row k of a build whose elements are arrays: the first row fixes the shape."""
        first = self.b.icmp_signed("==", k, INT(0))
        with self.b.if_else(first) as (then, otherwise):
            with then:
                for s, d in zip(dim_slots, row.dims):
                    self.b.store(d, s)
                fresh = self.new_array(op.result.type.elem, [n] + row.dims, op)
                self.b.store(fresh.data, data_slot)
            with otherwise:
                pass
        for axis, (s, d) in enumerate(zip(dim_slots, row.dims)):
            expected = self.b.load(s, typ=INT)
            self.fail_if(self.b.icmp_signed("!=", d, expected), "shape", op,
                         [expected, d, INT(axis + 1)],
                         message="comprehension elements have different shapes")
        size = self.count(row.dims)
        elem = op.result.type.elem
        out = Array(self.b.load(data_slot, typ=PTR), [])
        dst = self.element_ptr(out, elem, self.b.mul(k, size))
        self.memcpy(dst, row.data, self.b.mul(size, INT(ELEM_SIZE[elem])))

    def op_reduce(self, op):
        if op.result in self.summed_with_build:
            return self.summed_with_build.pop(op.result)
        start, stop, step = (self.get(v) for v in op.operands)
        (body,) = op.regions
        kind = op.attrs["kind"]
        t = op.result.type
        n = self.range_count(op, start, stop, step)
        if kind in ("max", "min"):
            self.fail_if(self.b.icmp_signed("==", n, INT(0)), "empty", op, what=kind)
        if t.rank != 0:
            return self.reduce_arrays(op, start, step, n)
        if kind == "sum" and t == F64 and is_straight_line(body) and not op.attrs.get(IN_ORDER):
            return self.sum_of_doubles(body, start, step, n)
        acc = self.slot(reg_type(t))
        self.b.store(self.reduce_identity(kind, t), acc)
        # LLVM vectorizes a max/min reduction written with its maximum/minimum intrinsics
        # (max(x) at n = 1e5: 186 -> 27 us), where selects computing the same IEEE
        # maximum/minimum make one chain of dependent selects. Over a few elements the
        # intrinsics' x86 expansion costs more than the chain: inside loops, which may run
        # the reduction many times over a few elements, they are used from
        # MAX_LANES_FROM elements on.
        vectorized = kind in ("max", "min") and t == F64 and is_straight_line(body)
        if not vectorized or self.loop_depth == 0:
            self.accumulate(body, start, step, INT(0), n, acc, kind, t, vectorized)
            return self.b.load(acc, typ=reg_type(t))
        long = self.b.icmp_signed(">=", n, INT(MAX_LANES_FROM))
        with self.b.if_else(long) as (in_lanes, in_order):
            with in_lanes:
                self.accumulate(body, start, step, INT(0), n, acc, kind, t, vectorized=True)
            with in_order:
                self.accumulate(body, start, step, INT(0), n, acc, kind, t)
        return self.b.load(acc, typ=reg_type(t))

    def accumulate(self, body: ir.Block, start, step, first, n, acc, kind, t,
                   vectorized: bool = False) -> None:
        """acc = combine(acc, element k), for k from first to n - 1 in order."""
        with self.counted_loop(self.b.sub(n, first)) as k:
            x = self.scalar_element(body, start, step, self.b.add(first, k))
            current = self.b.load(acc, typ=reg_type(t))
            self.b.store(self.combine(kind, t, current, x, vectorized), acc)

    def scalar_element(self, body: ir.Block, start, step, k):
        """The scalar a loop's body (a reduction's, a row's) yields at its k-th iteration."""
        self.values[body.args[0]] = self.b.add(start, self.b.mul(k, step))
        self.regions.append(Region(body, owned_args=False, uses_cache=self.uses_cache))
        (elem,) = self.block_ops(body)
        x = self.get(elem)
        self.hand_on([])
        return x

    def sum_of_doubles(self, body: ir.Block, start, step, n):
        """A sum of at least SUM_LANES_FROM doubles adds element k into partial sum
        k % SUM_LANES over the largest multiple of SUM_LANES elements, adds the partial
        sums pairwise, then the remaining elements in order; a shorter sum adds in order.
        One dependent addition per element bounds a long sum by the adder's latency; the
        lanes are independent, and LLVM runs them as vectors (lanes_in_a_loop,
        lanes_as_a_vector). The order is the same on every machine, and the same inside
        loops and outside (reductions_of_rows adds a block of rows' sums in the same
        lanes), so that moving a sum out of a loop or unrolling the loop changes no bits.
        Not a sum whose body has a loop of its own, or one marked {in_order} (scalarize's
        sums along axis 0, which match sum_of_rows')."""
        whole = self.in_lanes(n)
        blocks = self.b.sdiv(whole, INT(SUM_LANES))
        lanes = self.lanes_as_a_vector if cheap_arithmetic(body) else self.lanes_in_a_loop
        return self.sum_after_lanes(body, start, step, whole, n,
                                    lambda: lanes(body, start, step, blocks))

    def sum_after_lanes(self, body: ir.Block, start, step, whole, n, lanes_total):
        """The sum: lanes_total() (emitted where the first `whole` elements went into
        lanes, whole > 0), else 0.0, plus the elements from `whole` on, in order."""
        acc = self.slot(DOUBLE)
        self.b.store(DOUBLE(0.0), acc)
        with self.b.if_then(self.b.icmp_signed(">", whole, INT(0))):
            self.b.store(lanes_total(), acc)
        self.accumulate(body, start, step, whole, n, acc, "sum", F64)
        return self.b.load(acc, typ=DOUBLE)

    def lanes_in_a_loop(self, body: ir.Block, start, step, blocks):
        """The lanes as SUM_LANES scalars, added to in a loop over them: LLVM writes that
        loop out and vectorizes the loop over blocks, each vector lane a block, so that
        costly element code (exp, sin, pow) runs as vectors; it loads a lane's elements
        SUM_LANES apart."""
        lanes = self.slot(ll.ArrayType(DOUBLE, SUM_LANES))
        for j in range(SUM_LANES):
            self.b.store(DOUBLE(0.0), self.lane(lanes, INT(j)))
        with self.counted_loop(blocks) as block:
            with self.counted_loop(INT(SUM_LANES)) as j:
                k = self.b.add(self.b.mul(block, INT(SUM_LANES)), j)
                lane = self.lane(lanes, j)
                x = self.scalar_element(body, start, step, k)
                self.b.store(self.float_op("add", self.b.load(lane, typ=DOUBLE), x), lane)
        return self.pairwise_total([self.b.load(self.lane(lanes, INT(j)), typ=DOUBLE)
                                    for j in range(SUM_LANES)])

    def lanes_as_a_vector(self, body: ir.Block, start, step, blocks):
        """The lanes as one vector, a block's elements put into it one by one (as
        reductions_of_rows puts a column's), which LLVM computes as vectors of consecutive
        elements. For cheap element code only: in the loop form, AVX2's loop vectorizer
        loaded each lane's elements SUM_LANES apart (sum(where(...)) at n = 200,000 on
        AMD Zen 3: 0.53-0.6x the time as a vector), but written out SUM_LANES times, code
        with branches (exp, sin, pow) stays scalar (sin 2x, pow 3x the time)."""
        lanes = self.zero_lanes()
        self.add_blocks(lanes, body, start, step, INT(0), blocks)
        return self.lanes_total(lanes)

    def zero_lanes(self):
        """A vector of SUM_LANES partial sums, each 0.0."""
        lanes = self.slot(LANES)
        self.b.store(ll.Constant(LANES, [0.0] * SUM_LANES), lanes)
        return lanes

    def lanes_total(self, lanes):
        """The vector of partial sums, added pairwise."""
        vector = self.b.load(lanes, typ=LANES)
        return self.pairwise_total([self.b.extract_element(vector, INT(j))
                                    for j in range(SUM_LANES)])

    def add_blocks(self, lanes, body: ir.Block, start, step, first_block, blocks) -> None:
        """Adds the elements of blocks first_block to first_block + blocks - 1 into the
        vector of lanes, a block's SUM_LANES elements put into one vector."""
        with self.counted_loop(blocks, vectorize=False) as block:
            first = self.b.mul(self.b.add(first_block, block), INT(SUM_LANES))
            elements = ll.Constant(LANES, ll.Undefined)
            for j in range(SUM_LANES):
                x = self.scalar_element(body, start, step, self.b.add(first, INT(j)))
                elements = self.b.insert_element(elements, x, INT(j))
            self.b.store(self.float_op("add", self.b.load(lanes, typ=LANES), elements), lanes)

    def in_lanes(self, n):
        """How many of a sum's n elements go into the partial sums: the largest multiple
        of SUM_LANES, or none below SUM_LANES_FROM. (One definition, for sum_of_doubles
        and reductions_of_rows, whose bits must agree.)"""
        short = self.b.icmp_signed("<", n, INT(SUM_LANES_FROM))
        return self.b.select(short, INT(0), self.b.and_(n, INT(-SUM_LANES)))

    def lane(self, lanes, j):
        return self.b.gep(lanes, [INT(0), j])

    def pairwise_total(self, partial: list):
        """The partial sums added pairwise: ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7))."""
        while len(partial) > 1:
            partial = [self.float_op("add", a, b) for a, b in zip(partial[::2], partial[1::2])]
        return partial[0]

    def reduce_arrays(self, op, start, step, n):
        """sum(row for ...) and the like: the first element is copied into the result,
        each later one combined into it elementwise; no element: the identity, shaped
        by the result's type (0 along a `?`)."""
        (body,) = op.regions
        t = op.result.type
        kind = op.attrs["kind"]
        data_slot = self.slot(PTR)
        dim_slots = [self.slot(INT) for _ in t.shape]
        for s, d in zip(dim_slots, t.shape):
            self.b.store(self.dim_or_zero(d), s)
        self.b.store(ll.Constant(PTR, None), data_slot)
        with self.counted_loop(n) as k:
            self.values[body.args[0]] = self.b.add(start, self.b.mul(k, step))
            self.regions.append(Region(body, owned_args=False, uses_cache=self.uses_cache))
            (elem,) = self.block_ops(body)
            x = self.get(elem)
            size = self.count(x.dims)
            first = self.b.icmp_signed("==", k, INT(0))
            with self.b.if_else(first) as (then, otherwise):
                with then:
                    for s, d in zip(dim_slots, x.dims):
                        self.b.store(d, s)
                    fresh = self.new_array(t.elem, x.dims, op)
                    self.first_term(kind, t.elem, fresh, x, size)
                    self.b.store(fresh.data, data_slot)
                with otherwise:
                    for axis, (s, d) in enumerate(zip(dim_slots, x.dims)):
                        expected = self.b.load(s, typ=INT)
                        self.fail_if(self.b.icmp_signed("!=", d, expected), "shape", op,
                                     [expected, d, INT(axis)],
                                     message="generator elements have different shapes")
                    acc = Array(self.b.load(data_slot, typ=PTR), x.dims)
                    with self.counted_loop(size) as i:
                        both = [self.load_elem(a, t.elem, i) for a in (acc, x)]
                        self.store_elem(acc, t.elem, i, self.combine(kind, t.elem, *both))
            self.hand_on([])
        dims = [self.b.load(s, typ=INT) for s in dim_slots]
        empty = self.b.icmp_unsigned("==", self.b.load(data_slot, typ=PTR), ll.Constant(PTR, None))
        with self.b.if_then(empty):  # sum or prod of nothing (max and min failed above)
            identity = self.new_array(t.elem, dims, op)
            self.fill(identity, t.elem, self.reduce_identity(kind, t.elem))
            self.b.store(identity.data, data_slot)
        self.own(op.result)
        return Array(self.b.load(data_slot, typ=PTR), dims)

    def first_term(self, kind, elem, acc: Array, x: Array, size) -> None:
        """acc = the first element of a reduction of arrays: a sum of doubles adds it to
        +0.0, as a scalar sum and NumPy's do (a sum of rows of -0.0 is +0.0); any other
        reduction copies it, which its identity would not change."""
        if kind != "sum" or elem != F64:
            self.memcpy(acc.data, x.data, self.b.mul(size, INT(ELEM_SIZE[elem])))
            return
        with self.counted_loop(size) as i:
            self.store_elem(acc, elem, i, self.combine(kind, elem, DOUBLE(0.0),
                                                       self.load_elem(x, elem, i)))

    def reduce_identity(self, kind, t):
        if t == F64:
            return DOUBLE({"sum": 0.0, "prod": 1.0, "max": float("-inf"), "min": float("inf")}[kind])
        return INT({"sum": 0, "prod": 1, "max": -2**63, "min": 2**63 - 1}[kind])

    def combine(self, kind, t, a, x, vectorized: bool = False):
        from .scalars import binary
        name = {"sum": "add", "prod": "mul", "max": "maximum", "min": "minimum"}[kind]
        if vectorized and t == F64 and kind in ("max", "min"):
            return self.b.call(self.owner.intrinsic(name, 2), [a, x])
        return binary(self, None, name, t, a, x)

    # --- scalar ops
    def scalar_op(self, op):
        from .scalars import lower_scalar
        if op.results and op.results[0].type.rank != 0:
            raise UnsupportedOp(f"op '{op.name}' on arrays must be scalarized before native "
                                f"lowering")
        return lower_scalar(self, op)


# Where a failing function leaves its error in ctx, for Python (runtime/jit.py) to read:
# the error site's number, then the values its message shows.
CTX_ERROR_SITE, CTX_ERROR_VALUES = 2, 3


def fail_with(b: ll.IRBuilder, llfn, ctx, condition, site: int, values) -> None:
    """If `condition`, store the site and its values in ctx and return 1; code after it
    runs where the condition is false."""
    fail, ok = llfn.append_basic_block("fail"), llfn.append_basic_block("ok")
    b.cbranch(condition, fail, ok)
    b.position_at_end(fail)
    b.store(INT(site), b.gep(ctx, [INT(CTX_ERROR_SITE)], source_etype=INT))
    for k, v in enumerate(values):
        v = b.zext(v, INT) if v.type == I1 else v
        b.store(v, b.gep(ctx, [INT(CTX_ERROR_VALUES + k)], source_etype=INT))
    b.ret(I32(1))
    b.position_at_end(ok)


@dataclass(frozen=True)
class Strip:
    """Where a tile reads b's rows: the first element of its columns in the first row of
    k, and the elements from one row to the next."""
    data: object
    stride: object


class Product:
    """The loops of a matrix product out = a @ b (b with `cols` columns; a vector a is one
    row) in tiles whose sums stay in registers over the whole of k: per step of k, a row
    of the tile's columns of b serves all of its rows. Every element adds a[i, k] * b[k, j]
    over k in order, from 0.0, each term rounded once (multiply_add: a fused multiply-add,
    as BLAS libraries and XLA compute products), so the bits are the same whichever tile
    computes it. A product and a sum per term were 25 instructions per step of k of a 4 x 8
    tile on AVX2, 17 fused, where Zen 3 issues 6 a cycle: the MLP's products 12-15%
    faster, its gradient 11%."""

    def __init__(self, fl: "FunctionLowering", a: Array, b: Array, out: Array, inner, cols):
        self.fl, self.x, self.y, self.out = fl, a, b, out
        self.inner, self.cols = inner, cols

    def emit(self, rows) -> None:
        """The tile width's columns at a time, then the last (fewer) as one or two vectors
        of half the width with masked loads and stores: two when more than half are left,
        so that each a[i, k] loaded serves both. Each such strip of columns down all of the
        rows (over_rows), so that the strip of b that every tile in it reads stays in the
        cache. With PACK_FROM_ROWS rows or more and PACK_FROM_INNER steps of k, a strip is
        first copied, PACKED doubles of it at a time, into a buffer of its own, row after
        row, and the tiles read that: b's rows are often a power of two apart (1 KiB for
        128 columns), so that a strip's lines fell into a few of the L1 cache's sets and
        pushed each other out, and a long strip did not fit (on Zen 3, copied: 256 x 64 @
        64 x 128 0.76-0.78x the time, 500 x 500 @ 500 x 500 0.70-0.84x). Fewer rows would
        not pay for the copy (8 x 1000 @ 1000 x 8: 1.2x the time)."""
        fl = self.fl
        width = fl.owner.tile_width
        wide = fl.b.and_(self.cols, INT(-width))
        strips = fl.b.sdiv(wide, INT(width))
        packing = fl.b.and_(fl.b.icmp_signed(">=", rows, INT(PACK_FROM_ROWS)),
                            fl.b.icmp_signed(">=", self.inner, INT(PACK_FROM_INNER)))
        # the rows in whole tiles of the tallest height from copies of b; the rest (all of
        # them when not copying, else fewer than that height) from b, the whole of k at once
        tallest = fl.owner.tile_heights[0]
        copied = fl.b.select(packing, fl.b.and_(rows, INT(-tallest)), INT(0))
        with fl.b.if_then(packing):
            self.packed_strips(copied, strips)
        with fl.counted_loop(strips) as strip:
            first_col = fl.b.mul(strip, INT(width))
            right = Strip(fl.element_ptr(self.y, F64, first_col), self.cols)
            self.over_rows(rows, lambda first_row, count:
                           self.tile(first_row, count, first_col, right, INT(0), self.inner),
                           done=copied)
        rest = fl.b.sub(self.cols, wide)
        half = width // 2
        with fl.b.if_else(fl.b.icmp_signed(">", rest, INT(half))) as (two, one):
            with two:
                lanes = [INT(half), fl.b.sub(rest, INT(half))]
                self.over_rows(rows, lambda first_row, count:
                               self.masked_tile(first_row, count, wide, lanes))
            with one:
                with fl.b.if_then(fl.b.icmp_signed(">", rest, INT(0))):
                    self.over_rows(rows, lambda first_row, count:
                                   self.masked_tile(first_row, count, wide, [rest]))

    def packed_strips(self, rows, strips) -> None:
        """The strips of whole tiles over rows (a multiple of the tallest tile's height),
        each copied into a buffer of PACKED doubles, as many rows of k at a time as fit,
        the tiles (of that height only) reading the copy."""
        fl = self.fl
        width = fl.owner.tile_width
        packed_rows = PACKED // width
        packed = fl.slot(ll.ArrayType(DOUBLE, packed_rows * width))
        packed.align = 64
        blocks = fl.b.sdiv(fl.b.add(self.inner, INT(packed_rows - 1)), INT(packed_rows))
        with fl.counted_loop(strips) as strip:
            first_col = fl.b.mul(strip, INT(width))
            with fl.counted_loop(blocks, vectorize=False) as block:
                first_k = fl.b.mul(block, INT(packed_rows))
                ks = smaller(fl.b, fl.b.sub(self.inner, first_k), INT(packed_rows))
                self.pack(packed, first_k, ks, first_col)
                right = Strip(fl.b.bitcast(packed, PTR), INT(width))
                self.over_rows(rows, lambda first_row, count:
                               self.tile(first_row, count, first_col, right, first_k, ks),
                               heights=fl.owner.tile_heights[:1])

    def pack(self, packed, first_k, ks, first_col) -> None:
        """Rows first_k to first_k + ks of the strip of b from first_col, into packed."""
        fl = self.fl
        width = fl.owner.tile_width
        with fl.counted_loop(ks, vectorize=False) as k:
            source = fl.element_ptr(self.y, F64, self.at(fl.b.add(first_k, k), first_col))
            fl.memcpy(fl.b.gep(packed, [INT(0), fl.b.mul(k, INT(width))]), source,
                      INT(ELEM_SIZE[F64] * width))

    def over_rows(self, rows, emit_tile, done=INT(0), heights=None) -> None:
        """emit_tile(first_row, height) for tiles of the first height's rows from row
        `done`, then of each smaller height in turn, over the rows the taller ones left
        (heights: the tiles', or fewer)."""
        fl = self.fl
        for height in heights or fl.owner.tile_heights:
            tiles = fl.b.sdiv(fl.b.sub(rows, done), INT(height))
            with fl.counted_loop(tiles) as tile:
                emit_tile(fl.b.add(done, fl.b.mul(tile, INT(height))), height)
            done = fl.b.add(done, fl.b.mul(tiles, INT(height)))

    def left(self, i, k):
        """a[i, k]; for a transposed a, the element at k, i of the matrix it reads."""
        fl = self.fl
        if self.x.transposed:
            return fl.load_elem(self.x, F64, fl.b.add(fl.b.mul(k, self.x.dims[0]), i))
        return fl.load_elem(self.x, F64, fl.b.add(fl.b.mul(i, self.inner), k))

    def at(self, i, j):
        return self.fl.b.add(self.fl.b.mul(i, self.cols), j)

    def tile(self, first_row, count: int, first_col, right: "Strip", first_k, ks) -> None:
        """count rows of the tile width's elements over ks steps of k from first_k, b's
        rows from the strip `right` (b itself, or its copy), in scalar code: LLVM keeps
        the sums in registers and computes each row's as vectors. The sums start from 0.0
        at the first step of k, else from the elements as the strip's earlier rows of b
        left them (the same additions in the same order: a double stored and loaded back
        is the same double)."""
        fl = self.fl
        width = fl.owner.tile_width
        rows = [fl.b.add(first_row, INT(r)) for r in range(count)]
        cols = [fl.b.add(first_col, INT(c)) for c in range(width)]
        sums = [[fl.slot(DOUBLE) for _ in range(width)] for _ in range(count)]
        # a branch (out is not written before the first step of k), folded when b is read
        # directly, whose first step is the only one
        with fl.b.if_else(fl.b.icmp_signed("==", first_k, INT(0))) as (first, later):
            with first:
                for slot in (s for row in sums for s in row):
                    fl.b.store(DOUBLE(0.0), slot)
            with later:
                for i, row in zip(rows, sums):
                    for j, slot in zip(cols, row):
                        fl.b.store(fl.load_elem(self.out, F64, self.at(i, j)), slot)
        # the loop vectorizer would vectorize over k, as count * width ordered sums
        with fl.counted_loop(ks, vectorize=False) as k:
            lefts = [self.left(i, fl.b.add(first_k, k)) for i in rows]
            row = fl.b.mul(k, right.stride)
            rights = [fl.b.load(fl.b.gep(right.data, [fl.b.add(row, INT(c))], source_etype=DOUBLE),
                                typ=DOUBLE) for c in range(width)]
            for row_sums, x_ik in zip(sums, lefts):
                for slot, y_kj in zip(row_sums, rights):
                    fl.b.store(fl.multiply_add(x_ik, y_kj, fl.b.load(slot, typ=DOUBLE)), slot)
        for i, row in zip(rows, sums):
            for j, slot in zip(cols, row):
                fl.store_elem(self.out, F64, self.at(i, j), fl.b.load(slot, typ=DOUBLE))

    def masked_tile(self, first_row, count: int, first_col, lanes: list) -> None:
        """count x len(lanes) vectors of half the tile width's elements from first_col,
        of which the first lanes[v] (1 to all) of vector v are read and written: a masked
        load never touches memory past the row's end. Half the width, as a register holds
        (4 doubles with AVX2, 8 with AVX-512): the 2 columns left of 10 took two registers
        per row in vectors of 8 with AVX2."""
        fl = self.fl
        size = fl.owner.tile_width // 2
        vector = ll.VectorType(DOUBLE, size)
        lane_numbers = ll.Constant(ll.VectorType(INT, size), list(range(size)))
        masks = [fl.b.icmp_signed("<", lane_numbers, splat(fl.b, n, size)) for n in lanes]
        cols = [fl.b.add(first_col, INT(size * v)) for v in range(len(lanes))]
        zero = ll.Constant(vector, [0.0] * size)
        sums = [[fl.slot(vector) for _ in lanes] for _ in range(count)]
        for slot in (s for row in sums for s in row):
            fl.b.store(zero, slot)
        rows = [fl.b.add(first_row, INT(r)) for r in range(count)]
        load = fl.owner.declare(f"llvm.masked.load.v{size}f64.p0", vector,
                                [PTR, ll.IntType(32), masks[0].type, vector])
        store = fl.owner.declare(f"llvm.masked.store.v{size}f64.p0", ll.VoidType(),
                                 [vector, PTR, ll.IntType(32), masks[0].type])
        align = ll.Constant(ll.IntType(32), 8)
        with fl.counted_loop(self.inner, vectorize=False) as k:
            rights = [fl.b.call(load, [fl.element_ptr(self.y, F64, self.at(k, col)), align,
                                       mask, zero]) for col, mask in zip(cols, masks)]
            for row, i in zip(sums, rows):
                left = splat(fl.b, self.left(i, k), size)
                for slot, right in zip(row, rights):
                    fl.b.store(fl.multiply_add(left, right, fl.b.load(slot, typ=vector)), slot)
        for row, i in zip(sums, rows):
            for slot, col, mask in zip(row, cols, masks):
                fl.b.call(store, [fl.b.load(slot, typ=vector),
                                  fl.element_ptr(self.out, F64, self.at(i, col)), align, mask])


class Transpose:
    """out = the transpose of m, in blocks of 8 of m's columns by 4 of its rows: each of
    the 4 rows' 8 elements (one cache line) loaded as two vectors, each 4 x 4 half
    transposed in registers, and stored as 4 elements of 8 rows of out. A plain loop over
    out's elements reads m a column at a time, a line per element."""

    BLOCK_COLS, BLOCK_ROWS = 8, 4

    def __init__(self, fl: "FunctionLowering", m: Array, out: Array):
        self.fl, self.m, self.out = fl, m, out
        self.rows, self.cols = m.dims
        self.vector = ll.VectorType(DOUBLE, self.BLOCK_ROWS)

    def emit(self) -> None:
        fl = self.fl
        col_blocks = fl.b.sdiv(self.cols, INT(self.BLOCK_COLS))
        whole_rows = fl.b.and_(self.rows, INT(-self.BLOCK_ROWS))
        with fl.counted_loop(col_blocks, vectorize=False) as block:
            first_col = fl.b.mul(block, INT(self.BLOCK_COLS))
            with fl.counted_loop(fl.b.sdiv(whole_rows, INT(self.BLOCK_ROWS)),
                                 vectorize=False) as row_block:
                self.block(fl.b.mul(row_block, INT(self.BLOCK_ROWS)), first_col)
            with fl.counted_loop(fl.b.sub(self.rows, whole_rows), vectorize=False) as r:
                row = fl.b.add(whole_rows, r)
                for c in range(self.BLOCK_COLS):
                    self.move(row, fl.b.add(first_col, INT(c)))
        done_cols = fl.b.mul(col_blocks, INT(self.BLOCK_COLS))
        with fl.counted_loop(fl.b.sub(self.cols, done_cols), vectorize=False) as c:
            col = fl.b.add(done_cols, c)
            with fl.counted_loop(self.rows) as row:
                self.move(row, col)

    def block(self, first_row, first_col) -> None:
        fl, size = self.fl, self.BLOCK_ROWS
        rows = [fl.b.add(first_row, INT(r)) for r in range(size)]
        for half in range(self.BLOCK_COLS // size):
            col = fl.b.add(first_col, INT(half * size))
            lines = [fl.b.load(fl.element_ptr(self.m, F64, self.at_m(row, col)),
                               typ=self.vector, align=8) for row in rows]
            for c, column in enumerate(transposed(fl.b, lines)):
                row = self.at_out(fl.b.add(col, INT(c)), first_row)
                fl.b.store(column, fl.element_ptr(self.out, F64, row), align=8)

    def move(self, row, col) -> None:
        fl = self.fl
        fl.store_elem(self.out, F64, self.at_out(col, row),
                      fl.load_elem(self.m, F64, self.at_m(row, col)))

    def at_m(self, row, col):
        return self.fl.b.add(self.fl.b.mul(row, self.cols), col)

    def at_out(self, row, col):
        return self.fl.b.add(self.fl.b.mul(row, self.rows), col)


class MatVec:
    """out = a @ v, each element adding a[i, k] * v[k] over k in order from 0.0, each term
    rounded once as in Product, in blocks of VECTOR rows whose sums are one vector. One
    row's sum alone waits on one dependent addition per element (at 1000 x 1000, 10x
    NumPy's time); the block's VECTOR sums are independent. Per VECTOR columns, the
    block's VECTOR x VECTOR elements are loaded a row at a time and transposed in
    registers, so that each column, a vector over the rows, adds into the sums in turn."""

    def __init__(self, fl: "FunctionLowering", a: Array, v: Array, out: Array):
        self.fl, self.a, self.v, self.out = fl, a, v, out
        self.rows, self.inner = a.dims
        self.vector = ll.VectorType(DOUBLE, VECTOR)

    def emit(self) -> None:
        fl = self.fl
        blocks = fl.b.sdiv(self.rows, INT(VECTOR))
        with fl.counted_loop(blocks, vectorize=False) as block:
            self.block(fl.b.mul(block, INT(VECTOR)))
        with fl.counted_loop(fl.b.sub(self.rows, fl.b.mul(blocks, INT(VECTOR)))) as r:
            self.row(fl.b.add(fl.b.mul(blocks, INT(VECTOR)), r))

    def block(self, first_row) -> None:
        fl = self.fl
        sums = fl.slot(self.vector)
        fl.b.store(ll.Constant(self.vector, [0.0] * VECTOR), sums)
        whole = fl.b.and_(self.inner, INT(-VECTOR))
        with fl.counted_loop(fl.b.sdiv(whole, INT(VECTOR)), vectorize=False) as step:
            k = fl.b.mul(step, INT(VECTOR))
            rows = [fl.b.add(first_row, INT(r)) for r in range(VECTOR)]
            lines = [self.load(fl.element_ptr(self.a, F64, self.at(i, k))) for i in rows]
            vs = self.load(fl.element_ptr(self.v, F64, k))
            for c, column in enumerate(transposed(fl.b, lines)):
                self.add(sums, column, fl.b.extract_element(vs, INT(c)))
        with fl.counted_loop(fl.b.sub(self.inner, whole), vectorize=False) as rest:
            k = fl.b.add(whole, rest)
            column = ll.Constant(self.vector, None)
            for r in range(VECTOR):
                x = fl.load_elem(self.a, F64, self.at(fl.b.add(first_row, INT(r)), k))
                column = fl.b.insert_element(column, x, INT(r))
            self.add(sums, column, fl.load_elem(self.v, F64, k))
        fl.b.store(fl.b.load(sums, typ=self.vector), fl.element_ptr(self.out, F64, first_row),
                   align=8)

    def add(self, sums, column, v_k) -> None:
        fl = self.fl
        fl.b.store(fl.multiply_add(column, splat(fl.b, v_k, VECTOR),
                                   fl.b.load(sums, typ=self.vector)), sums)

    def row(self, i) -> None:
        """A row left over below the last block, alone."""
        fl = self.fl
        acc = fl.slot(DOUBLE)
        fl.b.store(DOUBLE(0.0), acc)
        with fl.counted_loop(self.inner) as k:
            fl.b.store(fl.multiply_add(fl.load_elem(self.a, F64, self.at(i, k)),
                                       fl.load_elem(self.v, F64, k),
                                       fl.b.load(acc, typ=DOUBLE)), acc)
        fl.store_elem(self.out, F64, i, fl.b.load(acc, typ=DOUBLE))

    def at(self, i, k):
        return self.fl.b.add(self.fl.b.mul(i, self.inner), k)

    def load(self, ptr):
        return self.fl.b.load(ptr, typ=self.vector, align=8)


def transposed(b: ll.IRBuilder, lines: list) -> list:
    """The columns of the square matrix whose rows are the vectors `lines`, as vectors. In
    the round of width w (1, 2, 4, ...), lines p and p + w, each seen as blocks of w lanes,
    swap p's odd blocks for p + w's even ones: the transpose of the 2 x 2 matrix of blocks
    they form. After a round for each bit of the lane number, line r holds column r."""
    lanes = len(lines)
    width = 1
    while width < lanes:
        low = [lane if lane & width == 0 else lanes + lane - width for lane in range(lanes)]
        high = [lane + width if lane & width == 0 else lanes + lane for lane in range(lanes)]
        mask = [ll.Constant(ll.VectorType(ll.IntType(32), lanes), m) for m in (low, high)]
        swapped = list(lines)
        for p in (p for p in range(lanes) if p & width == 0):
            swapped[p] = b.shuffle_vector(lines[p], lines[p + width], mask[0])
            swapped[p + width] = b.shuffle_vector(lines[p], lines[p + width], mask[1])
        lines = swapped
        width *= 2
    return lines


def splat(b: ll.IRBuilder, value, lanes: int):
    """A vector with `value` in each of its lanes."""
    vector = ll.VectorType(value.type, lanes)
    one = b.insert_element(ll.Constant(vector, None), value, ll.Constant(ll.IntType(32), 0))
    return b.shuffle_vector(one, ll.Constant(vector, None),
                            ll.Constant(ll.VectorType(ll.IntType(32), lanes), [0] * lanes))


def smaller(b: ll.IRBuilder, x, y):
    """The smaller of two i64 values."""
    return b.select(b.icmp_signed("<", x, y), x, y)


def slow_chain(body: ir.Block) -> bool:
    """Is body, with no loop inside, one whose values wait on slow ops: a division or a
    costly math function (OpDef.costly)?"""
    ops = list(ir.walk_ops(body))
    if any(op.name in ("for", "while", "build", "reduce") for op in ops):
        return False
    return any(op.name == "div" or ir.REGISTRY[op.name].costly for op in ops)


# pow's constant exponents that lower to products alone (LLVM's x * x, constant_power's)
PRODUCT_POWERS = (0.0, 1.0, 2.0, 3.0, 4.0)
CHEAP_OPS = 64


def cheap_arithmetic(body: ir.Block) -> bool:
    """Is body's code a little straight-line arithmetic, with no division, costly math
    function, or pow but by a small whole constant (whose code has branches or calls)?
    At most CHEAP_OPS ops: lanes_as_a_vector writes it out SUM_LANES times."""
    if len(body.ops) > CHEAP_OPS:
        return False
    for op in body.ops:
        if op.name in ("div", "floordiv", "mod") or ir.REGISTRY[op.name].costly:
            return False
        if op.name == "pow" and constant(op.operands[1]) not in PRODUCT_POWERS:
            return False
    return True


def sums_the_build(block: ir.Block, build, total) -> bool:
    """Is `total`, later in block, a sum of the doubles `build` makes, one each
    (build_and_sum): a sum in lanes over the build's own range (the same start, stop and
    step, or equal constants), whose little cheap element code reads the build only at
    the element it adds?"""
    if build.name != "build" or total.name != "reduce":
        return False
    (body,) = build.regions
    if total.attrs.get("kind") != "sum" or total.attrs.get(IN_ORDER) \
            or total.result.type != F64 or build.result.type.rank != 1 \
            or body.ops[-1].operands[0].type != F64 \
            or not all(map(same_value, total.operands, build.operands)):
        return False
    (sum_body,) = total.regions
    if not is_straight_line(sum_body) or not cheap_arithmetic(sum_body):
        return False
    # lowered with the build: it may use nothing made after the build (the constants
    # that may stand between the two)
    made_between = {v for op in ops_between(block, build, total) for v in op.results}
    if any(v in made_between for op in sum_body.ops for v in op.operands):
        return False
    reads = [op for op in sum_body.ops if build.result in op.operands]
    return bool(reads) and all(
        op.name == "index" and list(op.operands) == [build.result, sum_body.args[0]]
        and op.attrs.get("inbounds") is True for op in reads)


def same_value(a, b) -> bool:
    """a and b are one value, or equal constants of one type."""
    return a is b or (a.type == b.type and constant(a) is not None and constant(a) == constant(b))


def ops_between(block: ir.Block, first, last) -> list:
    """The ops of block after first and before last."""
    return block.ops[block.ops.index(first) + 1:block.ops.index(last)]


def is_straight_line(block: ir.Block) -> bool:
    """No op of block has regions: no loop or branch of its own."""
    return not any(op.regions for op in block.ops)


def lower_module(module: ir.Module, fast_math: bool = False) -> ModuleLowering:
    return ModuleLowering(module, fast_math=fast_math)
