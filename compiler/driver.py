"""The pipeline and the public Python API.

    from compiler import compile_file, compile_source
    mod = compile_file("examples/lse.dp")
    mod.lse(x)                      # NumPy in and out
    print(mod.ir("lse", stage="ir"))

A compiled module's functions are attributes; each checks and converts its arguments
(ir.calling) before it runs.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import os
import sys
import threading
from pathlib import Path

import numpy as np

import ir
from ir.calling import I64_MAX, I64_MIN, LARGEST_SIZE, DimensionPlan, wrong_count
from ir.errors import parameters_listed
from ir.types import array_or_scalar, results_text
from ir.dot import dot_functions

from .derivatives import (DENSE, WrtError, check_jacobian_results, make_dense, make_derived,
                          make_hvp, wrt_position)
from .diagnostics import CompileError, SyntaxErrorDP, source_lines
from .lower import lower_module
from .parser import parse

STAGES = ("source", "ir", "ad", "opt", "scalar", "llvm", "asm")
BACKENDS = ("native", "interp")


def compile_source(text: str, name: str = "<source>", backend: str = "native",
                   fast_math: bool = False, optimize: bool = True,
                   checked: bool = True) -> "CompiledModule":
    """Parses, checks and lowers `.dp` source; raises CompileError for a bad program.
    fast_math (native only) lets LLVM reassociate floating-point arithmetic; optimize=False
    skips stage `opt` (to measure what it gains); checked=False drops the bounds checks
    of native code (an index out of range is then undefined behaviour, not an error)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if not isinstance(text, str):
        raise TypeError(f"compile_source takes the program's text as a str, got "
                        f"{type(text).__name__} (for a file, use compile_file(path))")
    module = check_source(text, name)
    try:
        with compiling():
            ir.verify_module(module)  # a failure here is a compiler bug, not a user error
            return CompiledModule(module, text, name, backend, fast_math, optimize, checked)
    except RecursionError:  # the passes recurse once or more per nested block
        raise nested_too_deeply(text, name) from None


def derivative_passes() -> list:
    """The passes from the front end's IR to stage 'ad'."""
    from passes.ad import AutoDiff
    from passes.interchange import Interchange
    from passes.simplify import InlineCalls
    return [InlineCalls(), Interchange(), AutoDiff()]


def optimization_passes() -> list:
    """The passes from stage 'ad' to stage 'opt'."""
    from passes.simplify import optimization_passes
    return optimization_passes()


def native_passes(checked: bool = True) -> list:
    """The passes from stage 'opt' to stage 'scalar', the IR native code is made from."""
    from passes.bounds import Bounds, Unchecked
    from passes.checks import Checks
    from passes.fresh_carry import FreshCarry
    from passes.fuse_loops import FuseLoops
    from passes.fusion import Fusion
    from passes.gather import Gather
    from passes.loop_order import LoopOrder
    from passes.scalarize import Scalarize
    from passes.sink import Sink
    from passes.speculate import Speculate
    bounds = [Bounds()] if checked else [Bounds(), Unchecked()]
    return [Scalarize(), *bounds, Gather(), Checks(), Speculate(), Fusion(), FuseLoops(),
            FreshCarry(), LoopOrder(), Sink()]


def pass_names() -> list[str]:
    """The names of the passes from the front end's IR to stage 'scalar', in order (as
    `dpc ir --dump-after` takes them)."""
    return [p.name for p in derivative_passes() + optimization_passes() + native_passes()]


def differentiate(module: ir.Module, source: str, filename: str) -> ir.Module:
    """A copy of the module with every derivative form turned into a call to a generated
    reverse or forward function (passes/ad.py); raises CompileError where that fails."""
    from passes.ad import DifferentiationError
    from passes.manager import PassManager
    try:
        module = PassManager(derivative_passes()).run(ir.clone_module(module))
    except DifferentiationError as e:
        loc = e.loc
        line, col, where = (loc.line, loc.col, loc.filename) if loc else (1, 1, filename)
        raise CompileError(e.message, line, col, filename=where, source=source) from None
    ir.verify_module(module)
    return module


def compile_file(path, backend: str = "native", fast_math: bool = False,
                 optimize: bool = True, checked: bool = True) -> "CompiledModule":
    return compile_source(read_program(path), str(path), backend, fast_math, optimize, checked)


def read_program(path) -> str:
    """The text of a .dp file, read as UTF-8 whatever the locale says; a byte that is not
    UTF-8 is a SyntaxErrorDP at its line and column."""
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        before = data[:e.start].decode("utf-8")
        line, col = before.count("\n") + 1, len(before) - before.rfind("\n")
        raise SyntaxErrorDP(f"byte 0x{data[e.start]:02x} is not UTF-8 text; save the file as "
                            f"UTF-8", line, col, filename=str(path),
                            source=data.decode("utf-8", errors="replace")) from None


class WhileCompiling:
    """A process-wide setting that compiling changes: saved by the first compile to
    start and put back by the last to end. Compiles in several threads may overlap; one
    that ended first would otherwise put back the program's value under another still
    running, or the last would put back the changed value it found, for good."""

    def __init__(self, read, write, changed):
        self.read, self.write, self.changed = read, write, changed  # changed(saved) -> new
        self.lock = threading.Lock()
        self.running = 0
        self.saved = None
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self.forked)

    def forked(self) -> None:
        """In a child forked while other threads compiled: those threads are not in the
        child, so their compiles never end there, and it would keep the changed value
        for good. The child starts with none running and the program's value. (A fork
        from inside a compile does not happen: dpc forks nothing while compiling.)"""
        self.lock = threading.Lock()  # another thread may have held it at the fork
        if self.running:
            self.running = 0
            self.write(self.saved)

    @contextlib.contextmanager
    def __call__(self):
        with self.lock:
            if self.running == 0:
                self.saved = self.read()
                self.write(self.changed(self.saved))
            self.running += 1
        try:
            yield
        finally:
            with self.lock:
                self.running -= 1
                if self.running == 0:
                    self.write(self.saved)


# The parser's tree transform and the lowering recurse once per operator of an expression,
# so Python's default limit of 1000 frames stopped a sum of ~400 terms, a size generated
# code reaches. From Python 3.11 on, a call from Python to Python takes no C stack, and a
# higher limit costs nothing until it is used; 3.10 keeps its own.
FRONT_END_FRAMES = 50_000
deep_expressions = WhileCompiling(
    sys.getrecursionlimit, sys.setrecursionlimit,
    lambda limit: max(limit, FRONT_END_FRAMES) if sys.version_info >= (3, 11) else limit)


# Compiling makes many objects that live to the end (ops, values, types), and Python's
# cyclic collector, run every 700 allocations, walks the live ones again and again: a
# third of the time on 1200 array statements (compile and gradient 20 s, 13 s with this).
# While compiling, a collection waits for 100,000 allocations (mypy does the same); the
# garbage waits longer too (peak memory there +8%). A threshold of 0 (the program turned
# automatic collection off) stays 0.
COMPILING_ALLOCATIONS = 100_000
fewer_collections = WhileCompiling(
    gc.get_threshold, lambda thresholds: gc.set_threshold(*thresholds),
    lambda saved: (max(saved[0], COMPILING_ALLOCATIONS) if saved[0] else 0, *saved[1:]))


@contextlib.contextmanager
def compiling():
    """While passes and the back end run on a module: the front end's recursion limit
    (they recurse a few frames per nested block: 330 nested `if`s, which the front end
    took, overflowed Python's 1000 frames in a copy of the module) and fewer collections."""
    with deep_expressions(), fewer_collections():
        yield


def check_source(text: str, name: str = "<source>") -> ir.Module:
    """Parse and type-check only; returns the IR module or raises CompileError."""
    try:
        with compiling():
            return lower_module(parse(text, name))
    except RecursionError:
        raise nested_too_deeply(text, name) from None


def nested_too_deeply(text: str, name: str) -> CompileError:
    return CompileError("the program is nested too deeply to compile; split deep "
                        "expressions into several statements, and deeply nested blocks "
                        "into functions", 1, 1, filename=name, source=text)


class CompiledFunction:
    """A function of a compiled module, callable on NumPy arrays and Python scalars."""

    def __init__(self, owner: "CompiledModule", name: str):
        self.owner = owner
        self.name = name
        self.function = owner.module.functions[name]
        native = owner._native
        # the native call path itself, so a call goes through no extra layer
        self.call = native.functions[name].call if native is not None else self.interpret

    def interpret(self, *args):
        with deep_expressions():  # it recurses a few frames per nested block, as passes do
            return self.owner.interpreter.run(self.name, list(args))

    def __call__(self, /, *args, **kwargs):
        if kwargs:
            args = self.bind(args, kwargs)
        return self.call(*args)

    def bind(self, args: tuple, kwargs: dict) -> tuple:
        return bind_arguments(self.name, [p.name_hint for p in self.function.params], args,
                              kwargs)

    @property
    def signature(self) -> str:
        return signature_text(self.name, self.function,
                              results_text(self.function.return_types))

    def __repr__(self) -> str:
        return f"<dpc function {self.signature}>"

    def __reduce__(self):
        # by its module and name: the native call path is machine code, no Python value
        return CompiledFunction, (self.owner, self.name)


def bind_arguments(called: str, names: list[str], args: tuple, kwargs: dict) -> tuple:
    """The arguments of a function `called` with parameters `names`, in parameter order,
    from positional ones followed by keyword ones (by parameter name, as in Python:
    mod.gmm(alphas, means=m, ...)); ValueErrorDP, as for a wrong number of arguments, for
    an unknown, repeated or missing name. (Parameter names are distinct, derived
    functions' too.)"""
    if len(args) > len(names):
        raise wrong_count(called, names, len(args) + len(kwargs))
    bound = dict(zip(names, args))
    for key, value in kwargs.items():
        if key not in names:
            raise ir.ValueErrorDP(f"{called}() has no parameter '{key}' "
                                  f"({parameters_listed(names)})")
        if key in bound:
            raise ir.ValueErrorDP(f"{called}() got parameter '{key}' twice")
        bound[key] = value
    missing = [name for name in names if name not in bound]
    if missing:
        raise wrong_count(called, names, len(args) + len(kwargs), missing)
    return tuple(bound[name] for name in names)


def signature_text(name: str, fn: ir.Function, results: str) -> str:
    """`name(x: f64[n], ...) -> results`: how a callable of the API taking fn's
    parameters describes itself."""
    params = ", ".join(f"{p.name_hint}: {p.type}" for p in fn.params)
    return f"{name}({params}) -> {results}"


class CompiledModule:
    def __init__(self, module: ir.Module, source: str, filename: str, backend: str,
                 fast_math: bool = False, optimize: bool = True, checked: bool = True,
                 root: str | None = None):
        """root: for a module made for one derived or specialized function, that function;
        native code is made only for it and the functions it still calls after
        optimization (not for the primal and gradient a Hessian-vector product was
        derived from, on which LLVM spent more than half of the compile)."""
        self.module = module
        self._root = root
        self._fast_math = fast_math
        self._optimize = optimize
        self._checked = checked
        self.source = source
        self.filename = filename
        self.backend = backend
        with compiling():
            self._differentiated = differentiate(module, source, filename)
        self.interpreter = ir.Interpreter(self._differentiated)
        self._derived: dict = {}
        self._fixed: dict[str, dict] = {}  # a specialized function's name -> what it fixed
        self._optimized = None
        self._scalarized = None
        self._native = None
        if backend == "native":
            self._native = self._compile_native()

    def _scalarize(self) -> ir.Module:
        """Stages 'opt' and 'scalar' of the module, made once: what native code (JIT or
        ahead of time) is made from."""
        if self._scalarized is None:
            from passes.manager import PassManager
            passes = optimization_passes() if self._optimize else []
            with compiling():
                self._optimized = PassManager(passes).run(ir.clone_module(self._differentiated))
                if self._root is not None:
                    self._optimized = reachable(self._optimized, self._root)
                self._scalarized = PassManager(native_passes(self._checked)).run(
                    ir.clone_module(self._optimized))
                ir.verify_module(self._scalarized)
        return self._scalarized

    def _compile_native(self):
        """Scalarize the module and JIT-compile it."""
        import warnings

        import runtime
        self._scalarize()
        try:
            with compiling():
                return runtime.compile_module(self._scalarized, fast_math=self._fast_math)
        except runtime.UnsupportedOp as e:
            warnings.warn(f"{self.filename}: running in the interpreter: {e}", stacklevel=3)
            return None

    def build(self, kind: str, path) -> None:
        """Ahead-of-time output written to `path`: 'obj' (an object file), 'so' (a shared
        library), 'llvm', 'asm', or 'header' (C declarations of the module's functions)."""
        from runtime import aot
        if kind not in BUILD_KINDS:
            raise ValueError(f"unknown output {kind!r}; dpc builds {', '.join(BUILD_KINDS)}")
        path = Path(path)
        self._check_not_source(path)
        module = self._scalarize()
        if kind == "header":
            text = aot.c_header(module, self.function_names, header_guard(path),
                                shown_name(Path(self.filename).name), self._checked)
            aot.write_output(path, text.encode("utf-8"))  # whatever the locale's encoding
        elif kind == "so":
            aot.link_shared_library(aot.emit(module, "obj", self._fast_math), path)
        else:
            aot.write_output(path, aot.emit(module, kind, self._fast_math))

    def _check_not_source(self, path: Path) -> None:
        """An output at `path` would not overwrite the program's own source file (as gcc
        refuses: dpc build prog.dp -o prog.dp --emit header)."""
        from runtime.aot import BuildError
        source = Path(self.filename)
        if path.exists() and source.exists() and os.path.samefile(path, source):
            raise BuildError(f"the output is the source file {self.filename}, which it would "
                             f"overwrite; name another file with -o")

    @property
    def function_names(self) -> list[str]:
        """The functions written in the source (not the ones the compiler derived); for a
        module made for one derived or specialized function, that function."""
        if self._root is not None:
            return [self._root]
        return [name for name in self.module.functions if "." not in name]

    def function(self, name: str) -> CompiledFunction:
        if not isinstance(name, str):  # a list raised "unhashable type"
            already = " (a compiled function is called as it is)" if isinstance(
                name, (CompiledFunction, DenseDerivative)) else ""
            raise TypeError(f"mod.function() and mod.run() take a function's name, a str, not "
                            f"{type(name).__name__}{already}")
        if name not in self.module.functions:
            known = ", ".join(self.function_names) or "none"
            raise KeyError(f"no function '{name}' in {self.filename} (functions: {known})")
        if self._root is not None and name != self._root:
            raise KeyError(f"'{name}' is not compiled in the module made for "
                           f"'{self._root}'; take it from the module it came from")
        return CompiledFunction(self, name)

    def __getattr__(self, name: str) -> CompiledFunction:
        if name.startswith("__") or "module" not in self.__dict__:
            raise AttributeError(name)
        try:
            return self.function(name)
        except KeyError as e:
            raise AttributeError(e.args[0]) from None

    def __dir__(self):
        return list(super().__dir__()) + self.function_names

    def __repr__(self) -> str:
        backend = "" if self.backend == "native" else f" ({self.backend})"
        names = ", ".join(self.function_names) or "no functions"
        return f"<dpc module {self.filename}{backend}: {names}>"

    def __reduce__(self):
        """Pickled as its IR and options, compiled again where it is loaded (from the disk
        cache when there is native code for it): so that multiprocessing can send mod.f to
        a worker. The native code itself, an LLVM engine, cannot be pickled."""
        return CompiledModule, (self.module, self.source, self.filename, self.backend,
                                self._fast_math, self._optimize, self._checked, self._root), \
            {"_fixed": self._fixed}  # a specialized function's sizes stay fixed

    def run(self, name: str, /, *args, **kwargs):
        return self.function(name)(*args, **kwargs)

    # --- derivatives from Python
    def grad(self, name: str | CompiledFunction, wrt=None) -> CompiledFunction:
        """The gradient of scalar-valued function `name` with respect to the parameters
        named (or numbered) in wrt, every f64 parameter by default: like `grad(f, wrt=...)`
        in the language, compiled like any function. `name` may also be a compiled
        function, a derived one included (this method and the ones below):
        `mod.grad(mod.grad("f", wrt="w"), wrt="w")` is f's second derivative in w. The
        result is compiled as the function's own module is (backend, fast_math)."""
        return self._derivative("grad", name, wrt)

    def value_and_grad(self, name: str | CompiledFunction, wrt=None) -> CompiledFunction:
        """(value, gradients...) of scalar-valued function `name`."""
        return self._derivative("value_and_grad", name, wrt)

    def vjp(self, name: str | CompiledFunction, wrt=None) -> CompiledFunction:
        """Called with name's arguments and then one cotangent per result, returns the
        cotangents of the wrt parameters."""
        return self._derivative("vjp", name, wrt)

    def jvp(self, name: str | CompiledFunction, wrt=None) -> CompiledFunction:
        """Forward mode. Called with name's arguments and then one tangent per wrt
        parameter, returns name's results followed by their tangents."""
        return self._derivative("jvp", name, wrt)

    def hvp(self, name: str | CompiledFunction, wrt=None) -> CompiledFunction:
        """Hessian-vector products of scalar-valued function `name`, forward over
        reverse: called with name's arguments and then one vector per wrt parameter (the
        tangents of those parameters), returns H v, one part per wrt parameter."""
        return self._derivative("hvp", name, wrt)

    def hessian(self, name: str | CompiledFunction, wrt=None):
        """The dense Hessian of scalar-valued function `name` with respect to the wrt
        parameters: one native call that runs a Hessian-vector product per input element
        (JAX's jacfwd(jacrev(f))). For one wrt parameter of shape S it returns an array
        of shape S + S; for several, a tuple of tuples whose block [a][b] has shape
        S_a + S_b."""
        owner, name = self._target("hessian", name)
        dense = owner._derivative("hessian", name, wrt)
        types = [dense.function.param_types[k] for k in wrt_positions(dense.function, wrt)]
        blocks = functools.partial(hessian_blocks, dense, len(types))
        return DenseDerivative("hessian", name, dense.name, dense.function,
                               blocks_text(types, types), blocks)

    def jacobian(self, name: str | CompiledFunction, wrt=None, mode: str = "auto"):
        """The dense Jacobian of function `name` (every result f64) with respect to the
        wrt parameters: called with name's arguments, it runs forward mode once per wrt
        input element or reverse mode once per result element (JAX's jacfwd or jacrev):
        with mode "auto", whichever is fewer (after a call of `name` alone when a
        result's size is data-dependent, to count its elements), else the mode named,
        "forward" or "reverse" (a loop whose array changes size has only forward mode:
        "auto" then runs it, "reverse" raises the error).
        All of it runs in one native call. The block of result r and wrt parameter p has
        shape R_r + P_p: one array for one result and one parameter, a tuple over the
        parameters for one result, over the results for one parameter, else a tuple of
        such tuples."""
        if mode not in JACOBIAN_MODES:
            raise ValueError(f"jacobian mode must be 'auto', 'forward' or 'reverse', "
                             f"not {mode!r}")
        owner, name = self._target("jacobian", name)
        fn = owner.function(name)
        positions = wrt_positions(fn.function, wrt)
        try:
            check_jacobian_results(fn.function)
        except ir.TypeRuleError as e:
            raise ValueError(f"jacobian({name}): {e}") from None
        blocks_type = blocks_text(fn.function.return_types,
                                  [fn.function.param_types[k] for k in positions])
        return DenseDerivative("jacobian", name, fn.function.derived_name("jacobian", positions),
                               fn.function, blocks_type,
                               functools.partial(dense_jacobian, fn, wrt, positions, mode))

    def specialize(self, name: str | CompiledFunction, /, **values) -> CompiledFunction:
        """`name` with the integer parameters and dimensions named in `values` fixed to
        those sizes, partially evaluated and compiled anew (cached like any function):
        `mod.specialize("llsq", n=4096)`. It takes name's other parameters; arrays must
        have the given sizes."""
        owner, name = self._target("specialize", name)
        if owner is not self:
            return owner.specialize(name, **values)
        fn = self.function(name).function
        fixed = self._fixed.get(name, {})
        again = sorted(values.keys() & fixed.keys())  # the first by name, run after run
        if again:
            key = again[0]
            raise ValueError(f"specialize({name}): {key} is already fixed to {fixed[key]} in "
                             f"it; specialize the generic function for another {key}")
        ints, dims = static_values(fn, values)
        key = ("specialize", name, tuple(sorted(values.items())))
        if key not in self._derived:
            from passes.specialize import specialize
            with compiling():
                module = ir.clone_module(self.module)
                special = specialize(module, module.functions[name], ints, dims,
                                     f"{name}.static.{static_suffix(values)}")
                ir.verify_module(module)
            child = CompiledModule(reachable(module, special.name), self.source, self.filename,
                                   self.backend, self._fast_math, self._optimize, self._checked,
                                   root=special.name)
            child._fixed[special.name] = {**fixed, **values}
            self._derived[key] = child.function(special.name)
        return self._derived[key]

    def _target(self, kind: str, fn) -> tuple[CompiledModule, str]:
        """(the module, the name) of the function a derivative method was given: a name
        in this module, or a compiled function of any module (mod.f, mod.grad("f")), so
        that derivatives compose from Python as they do in the language."""
        if isinstance(fn, str):
            return self, fn
        if isinstance(fn, CompiledFunction):
            return fn.owner, fn.name
        if isinstance(fn, DenseDerivative):
            shown = "hessian" if fn.made == "hessian" else "jacfwd or jacrev"
            where = (f"; its compiled part: dpc ir FILE --fn {fn.of} --derivative {shown}"
                     if kind == "ir" and "." not in fn.of else "")
            raise TypeError(f"mod.{kind}() takes a compiled function, and mod.{fn.made}("
                            f"'{fn.of}') is not one: its blocks are put together in "
                            f"Python{where}")
        raise TypeError(f"mod.{kind}() takes a function: its name, or a compiled function "
                        f"such as mod.f or mod.grad('f'), not {type(fn).__name__} (a function "
                        f"of the module called '{kind}' is mod.function('{kind}'))")

    def _derivative(self, kind: str, name, wrt) -> CompiledFunction:
        owner, name = self._target(kind, name)
        if owner is not self:
            return owner._derivative(kind, name, wrt)
        fn = self.function(name).function
        positions = wrt_positions(fn, wrt)
        key = (kind, name, tuple(positions))
        if key not in self._derived:
            try:
                with compiling():
                    module = ir.clone_module(self.module)
                    fn = module.functions[name]
                    if kind == "hvp":
                        derived = make_hvp(module, fn, positions)
                    elif kind in DENSE:
                        derived = make_dense(module, kind, fn, positions)
                    else:
                        derived = make_derived(module, kind, fn, positions)
            except ir.TypeRuleError as e:
                raise ValueError(f"{kind}({name}): {e}") from None
            module = reachable(module, derived.name)
            child = CompiledModule(module, self.source, self.filename, self.backend,
                                   self._fast_math, self._optimize, self._checked,
                                   root=derived.name)
            child._fixed[derived.name] = self._fixed.get(name, {})
            self._derived[key] = child.function(derived.name)
        return self._derived[key]

    def _pipeline(self, dump_after=(), fn: str | None = None, locations: bool = False):
        """Runs every pass from the front end's IR on, again, keeping the IR after the
        passes named in dump_after ('all': every one; with `locations`, each op's source
        place too): the PassManager, whose .dumps and .stats (op counts after each pass)
        describe the run. With `fn`, they show fn and the generated functions it calls,
        what `ir(fn)` prints, not the whole module."""
        from passes.manager import PassManager
        view = (lambda module: module) if fn is None else (
            lambda module: ir.Module({n: module.functions[n] for n in self._shown(module, fn)}))
        manager = PassManager(derivative_passes() + optimization_passes()
                              + native_passes(self._checked),
                              dump_after=dump_after, view=view, locations=locations)
        with compiling():
            manager.run(ir.clone_module(self.module))
        return manager

    def ir(self, fn: str | CompiledFunction | None = None, stage: str = "ir",
           format: str = "text", locations: bool = False) -> str:
        """The program at a stage of the pipeline, as text: 'source', 'ir' (after
        lowering), 'ad' (derivative forms replaced by generated reverse and forward functions; with
        `fn`, also the generated functions it calls), 'opt' (after constant folding,
        simplification, CSE and DCE; with `fn` as 'ad'), 'scalar' (array ops as loops),
        'llvm' (optimized LLVM IR of the whole module) or 'asm' (host assembly).
        format 'dot': the IR stages as a Graphviz graph instead of text. `locations`: each
        op line of the IR stages ends with the source place it came from,
        `loc("f.dp":3:10)`. `fn` may be a compiled function, a derived one included:
        mod.ir(mod.grad("f"), stage="opt")."""
        if fn is not None:
            owner, fn = self._target("ir", fn)
            if owner is not self:
                return owner.ir(fn, stage, format, locations)
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; stages are {', '.join(STAGES)}")
        if format not in ("text", "dot"):
            raise ValueError(f"unknown format {format!r}; formats are text, dot")
        if format == "dot" and stage in ("source", "llvm", "asm"):
            raise ValueError(f"format 'dot' draws the IR stages (ir, ad, opt, scalar), not "
                             f"{stage!r}")
        if locations and (format == "dot" or stage in ("source", "llvm", "asm")):
            where = f"stage {stage!r}" if format == "text" else "format 'dot'"
            raise ValueError(f"locations are printed in the text of the IR stages (ir, ad, "
                             f"opt, scalar), not in {where}")
        later = self._differentiated if stage in ("ad", "opt", "scalar") else self.module
        if fn is not None and fn not in later.functions:
            self.function(fn)  # raises with the list of functions
        if stage == "source":
            return self.source if fn is None else function_source(self.source, self.module, fn)
        if stage in ("llvm", "asm"):
            native = self._native or self._compile_native()
            if native is None:
                raise ValueError(f"stage {stage!r}: this module has no native code")
            return native.optimized_ir if stage == "llvm" else native.asm
        module = self._differentiated if stage == "ad" else self.module
        if stage in ("opt", "scalar"):
            self._scalarize()
            module = self._optimized if stage == "opt" else self._scalarized
            if fn is not None and fn not in module.functions:
                raise KeyError(f"'{fn}' is not in stage {stage!r} of the module made for "
                               f"'{self._root}': inlined into it or not needed by it")
        if fn is None:
            shown = list(module.functions)
        elif stage in ("ad", "opt"):
            shown = self._shown(module, fn)
        else:
            shown = [fn]
        functions = [module.functions[n] for n in shown]
        with compiling():  # printing recurses per nested block too
            if format == "dot":
                return dot_functions(functions)
            return "\n".join(ir.print_function(f, locations) for f in functions)

    def _shown(self, module: ir.Module, fn: str) -> list[str]:
        """fn and the functions generated for it that it calls in `module`, a stage of
        this one (its reverse and forward functions), in the module's order."""
        return [n for n in reachable(module, fn).functions
                if n == fn or n not in self.module.functions]


BUILD_KINDS = ("obj", "so", "llvm", "asm", "header")


def header_guard(path: Path) -> str:
    """The include guard of a header written to path, an identifier in any C compiler:
    ASCII letters, digits and underscores (x².h gave DPC_X²_H)."""
    return "DPC_" + "".join(c if c.isascii() and c.isalnum() else "_"
                            for c in path.stem.upper()) + "_H"


def shown_name(name: str) -> str:
    """A file name as text that UTF-8 can write: a byte that was not UTF-8 (bad\\xff.dp
    from the command line, which Python holds as a lone surrogate) as a backslash escape."""
    try:
        raw = name.encode("utf-8", errors="surrogateescape")
    except UnicodeEncodeError:  # a surrogate that stands for no byte
        raw = name.encode("utf-8", errors="backslashreplace")
    return raw.decode("utf-8", errors="backslashreplace")


def wrt_positions(fn: ir.Function, wrt) -> list[int]:
    """Parameter positions from None (every f64 parameter), a name, a position, or a
    sequence of them; ValueError (WrtError) for one that is not an f64 parameter."""
    if wrt is None:
        if not fn.float_positions:
            raise WrtError(f"'{fn.name}' has no f64 parameter to differentiate")
        return fn.float_positions
    if isinstance(wrt, (str, int, np.integer)) and not isinstance(wrt, bool):
        wrt = [wrt]
    if not isinstance(wrt, (list, tuple)):
        raise WrtError(f"wrt takes a parameter name or position, or a list or tuple of them, "
                       f"not {type(wrt).__name__}")
    positions = []
    for item in wrt:
        item = int(item) if isinstance(item, np.integer) else item
        positions.append(wrt_position(fn, item, positions))
    if not positions:
        raise WrtError(f"wrt names no parameter of '{fn.name}' to differentiate")
    return positions


def static_suffix(values: dict) -> str:
    """The values in a specialized function's name: `m2.n9`, a negative one `n_neg5`
    (a `-` would end the name in the IR text format, whose dumps must parse back)."""
    return ".".join(f"{k}{v}" if v >= 0 else f"{k}_neg{-v}" for k, v in sorted(values.items()))


def static_values(fn: ir.Function, values: dict) -> tuple[dict, dict]:
    """Splits `values` into integer parameters of fn (position -> value) and dimensions
    of its parameters (name -> size); ValueError for a name that is neither or a value
    that is not a whole number (a dimension: from 0 to 2**60)."""
    params = {p.name_hint: k for k, p in enumerate(fn.params)}
    dim_names = {d for t in fn.param_types for d in t.shape if isinstance(d, str) and d != ir.DYN}
    known = [p.name_hint for p in fn.params if p.type == ir.I64] + sorted(dim_names)
    listed = f"(those are: {', '.join(known) or 'none'})"
    if not values and not known:
        raise ValueError(f"specialize({fn.name}): '{fn.name}' has no i64 parameter and no "
                         f"named dimension, so there is nothing to fix: call it as it is")
    if not values:  # a function named f.static. that is f: a call that forgot its sizes
        raise ValueError(f"specialize({fn.name}): give the sizes to fix, as "
                         f"specialize('{fn.name}', {known[0] if known else 'n'}=100) {listed}")
    ints, dims = {}, {}
    for key, value in values.items():
        is_int = key in params and fn.param_types[params[key]] == ir.I64
        if not is_int and not (key in dim_names and key not in params):
            raise ValueError(f"specialize({fn.name}): '{key}' is neither an i64 parameter "
                             f"nor a dimension of '{fn.name}' {listed}")
        if is_int and isinstance(value, (bool, np.bool_)):  # as a call takes it: 1 or 0
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"specialize({fn.name}): {key} must be an integer, not {value!r}")
        if not I64_MIN <= value <= I64_MAX:  # it would wrap around in the native code
            raise ValueError(f"specialize({fn.name}): {key} = {value} is outside the range "
                             f"of i64")
        if is_int:
            ints[params[key]] = int(value)
            continue
        if value < 0:
            raise ValueError(f"specialize({fn.name}): dimension {key} cannot be {value}")
        if value > LARGEST_SIZE:  # the calling convention refuses such an argument
            raise ValueError(f"specialize({fn.name}): dimension {key} = {value} is more "
                             f"than 2**60, the largest size dpc takes")
        dims[key] = int(value)
    return ints, dims


class DenseDerivative:
    """What mod.hessian('f') and mod.jacobian('f') give: a Python function that calls
    native code and puts its columns together as blocks. `made` and `of` name it, so that
    derivative methods given it can say what it is; `name` and `signature` describe it
    as they describe a compiled function (`f.hessian(x: f64[n]) -> f64[n, n]`), and its
    argument errors name it so."""

    def __init__(self, made: str, of: str, name: str, takes: ir.Function, results: str,
                 blocks: functools.partial):
        """takes: the function whose parameters it takes; results: its blocks' type."""
        self.made, self.of, self.name, self.blocks = made, of, name, blocks
        self.signature = signature_text(name, takes, results)
        self.parameter_names = [p.name_hint for p in takes.params]

    def __call__(self, /, *args, **kwargs):  # a parameter of the function may be `self`
        return self.blocks(*bind_arguments(self.name, self.parameter_names, args, kwargs))

    def __repr__(self) -> str:
        return f"<dpc {self.made} of {self.of}>"


def blocks_text(products: list, seeds: list) -> str:
    """The type of a dense derivative's blocks, as a signature writes results: block
    [p][s] has shape P_p + S_s, packed as the caller gets them."""
    blocks = packed([[array_or_scalar(ir.F64, p.shape + s.shape) for s in seeds]
                     for p in products])
    return nested_text(blocks)


def nested_text(blocks) -> str:
    if isinstance(blocks, tuple):
        return f"({', '.join(map(nested_text, blocks))})"
    return str(blocks)


def columns_to_blocks(dense: CompiledFunction, seed_ranks: list[int], products: int, /,
                      *args):
    """The Jacobian or Hessian blocks [product][seed] from a dense function that
    computes them as columns: its block (seed s, product p) has shape S_s + P_p, each
    element of seed s followed by the column it gives; the caller gets P_p + S_s."""
    by_seed = grid(dense(*args), len(seed_ranks), products)
    blocks = [[None] * len(seed_ranks) for _ in range(products)]
    for s, rank in enumerate(seed_ranks):
        for p, block in enumerate(by_seed[s]):
            axes = list(range(rank, np.ndim(block))) + list(range(rank))
            blocks[p][s] = np.ascontiguousarray(np.transpose(block, axes)) if rank else block
    return packed(blocks)


def hessian_blocks(dense: CompiledFunction, count: int, /, *args):
    """The Hessian's blocks from its dense function, whose block (seed a, product b) has
    each element of x_a followed by the part for x_b of the Hessian-vector product that
    element seeds: d/dx_a of df/dx_b, which is block [a][b] as it stands, second
    derivatives being symmetric. Not transposed as columns (at n = 1000, a copy through
    a transpose was half of lse's Hessian); rows and columns differ in rounding only."""
    return packed(grid(dense(*args), count, count))


def grid(out, rows: int, cols: int) -> list[list]:
    """A dense function's results (one value, or a tuple of rows * cols in row-major
    order) as rows of blocks."""
    out = out if rows * cols > 1 else (out,)
    return [list(out[r * cols:(r + 1) * cols]) for r in range(rows)]


JACOBIAN_MODES = ("auto", "forward", "reverse")


def dense_jacobian(fn: CompiledFunction, wrt, positions: list[int], mode: str, /, *args):
    """CompiledModule.jacobian's blocks of fn at `args`: columns from jvp (mode
    "forward", or "auto" when the wrt inputs have no more elements than the results),
    else rows from vjp."""
    if mode == "auto":
        outs = result_sizes(fn, args)
        ins = sum(int(np.prod(np.shape(args[k]))) for k in positions)
        if ins <= outs:
            return jacobian_columns(fn, wrt, positions, args)
        try:
            return jacobian_rows(fn, wrt, positions, args)
        except ir.ShapeErrorDP as e:  # forward mode can: "auto" does not name a mode
            from passes.ad import SIZE_CHANGING_LOOP
            if not str(e).startswith(SIZE_CHANGING_LOOP):
                raise
        return jacobian_columns(fn, wrt, positions, args)
    if mode == "forward":
        return jacobian_columns(fn, wrt, positions, args)
    return jacobian_rows(fn, wrt, positions, args)


def jacobian_columns(fn: CompiledFunction, wrt, positions: list[int], args: tuple):
    """The Jacobian's blocks from one jvp per wrt input element (forward mode)."""
    dense = fn.owner._derivative("jacfwd", fn.name, wrt)
    ranks = [fn.function.param_types[k].rank for k in positions]
    return columns_to_blocks(dense, ranks, len(fn.function.return_types), *args)


def jacobian_rows(fn: CompiledFunction, wrt, positions: list[int], args: tuple):
    """The Jacobian's blocks from one vjp per result element (reverse mode)."""
    rows = fn.owner._derivative("jacrev", fn.name, wrt)(*args)
    return packed(grid(rows, len(fn.function.return_types), len(positions)))


def result_sizes(fn: CompiledFunction, args: tuple) -> int:
    """How many elements fn's results have for these arguments: from the result types
    when each of their dimensions is a literal or a parameter's, else by running fn."""
    f = fn.function
    try:
        bound = DimensionPlan([p.name_hint for p in f.params], f.param_types).bind(
            [np.shape(a) for a in args])
        sizes = [[d if isinstance(d, int) else bound[d] for d in t.shape] for t in f.return_types]
    except (KeyError, ValueError, IndexError, TypeError):  # a `?` or unbound dimension, or
        sizes = None  # arguments to complain about (a string for an array)
    if sizes is None:  # fn knows them, or says what is wrong, its error not chained to ours
        values = fn(*args)
        values = values if len(f.return_types) > 1 else (values,)
        sizes = [np.shape(v) for v in values]
    return sum(int(np.prod(s)) for s in sizes)


def packed(blocks: list[list]):
    """Blocks [result][parameter] as the caller gets them: one array for one of each, a
    tuple over the parameters for one result, over the results for one parameter, else
    a tuple of such tuples."""
    if len(blocks) == 1:
        return blocks[0][0] if len(blocks[0]) == 1 else tuple(blocks[0])
    if len(blocks[0]) == 1:
        return tuple(row[0] for row in blocks)
    return tuple(tuple(row) for row in blocks)


def reachable(module: ir.Module, root: str) -> ir.Module:
    """The functions `root` calls, directly or not (derivative forms and custom rules
    count as calls), in the module's order."""
    seen, todo = set(), [root]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        fn = module.functions[name]
        todo += [sym.name for sym in fn.attrs.values() if isinstance(sym, ir.Symbol)]
        todo += [op.attrs["callee"].name for op in ir.walk_ops(fn.body) if "callee" in op.attrs]
    return ir.Module({n: f for n, f in module.functions.items() if n in seen})


def function_source(source: str, module: ir.Module, name: str) -> str:
    """The lines of `def name`, with its decorators and the comment right above it."""
    with deep_expressions():
        tree = parse(source)
    starts = sorted((min([f.line] + [d.line for d in f.decorators]), f.name) for f in tree.functions)
    lines = source_lines(source)
    for k, (begin, fname) in enumerate(starts):
        if fname != name:
            continue
        end = starts[k + 1][0] - 1 if k + 1 < len(starts) else len(lines)
        while begin > 1 and lines[begin - 2].lstrip().startswith("#"):
            begin -= 1  # the comment right above the function describes it
        chunk = lines[begin - 1:end]
        while chunk and (not chunk[-1].strip() or chunk[-1].lstrip().startswith("#")):
            chunk.pop()  # blank lines and the next function's leading comments
        return "\n".join(chunk) + "\n"
    raise ValueError(f"'{name}' is made by the compiler (a derivative or a specialization) "
                     f"and has no source text; its IR starts at stage 'ir'")


__all__ = ["compile_source", "compile_file", "check_source", "CompiledModule",
           "CompiledFunction", "CompileError"]
