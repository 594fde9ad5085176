"""Ahead-of-time output for `dpc build`: a scalarized module as an object file, a shared
library, LLVM IR or assembly, and a C header that declares its functions. The machine code
is the JIT's (same lowering, same LLVM pipeline, this machine's CPU), made
position-independent so that it links into a shared library."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

import llvmlite.binding as llvm

import ir
from ir.types import BOOL, F64, I64, ArrayType

from . import jit
from .lower import CTX_FIELDS, entry_symbol

# Scalars and array elements alike: the code reads a bool element's lowest bit, as C's
# bool (one byte, 0 or 1) and NumPy's hold it; a uint8_t mask of 255 would read as false.
C_TYPE = {F64: "double", I64: "int64_t", BOOL: "bool"}


class BuildError(Exception):
    """Output that cannot be made here (no C compiler to link a shared library)."""


def optimized_llvm(module: ir.Module, machine, fast_math: bool = False):
    """The module lowered to LLVM and optimized as the JIT does, for `machine`."""
    text, _ = jit.llvm_ir(module, fast_math)
    llmod = llvm.parse_assembly(text)
    llmod.verify()
    llmod.triple, llmod.data_layout = machine.triple, str(machine.target_data)
    jit.optimize(llmod, machine)
    return llmod


def position_independent_machine():
    jit.target_machine()  # LLVM's one-time set-up, the options the JIT's code is made with
    target = llvm.Target.from_default_triple()
    return target.create_target_machine(cpu=llvm.get_host_cpu_name(), features=jit.cpu_features(),
                                        opt=3, reloc="pic", codemodel="default")


def emit(module: ir.Module, kind: str, fast_math: bool = False) -> bytes:
    """`kind` (obj, llvm or asm) of the module."""
    machine = position_independent_machine()
    llmod = optimized_llvm(module, machine, fast_math)
    if kind == "llvm":
        return str(llmod).encode()
    if kind == "asm":
        return machine.emit_assembly(llmod).encode()
    return machine.emit_object(llmod)


def write_output(path: Path, data: bytes) -> None:
    """data as the file at path; a write that fails part way (a full disk) leaves no part of
    a file behind to pass for the whole."""
    f = open(path, "wb")  # an error here made nothing
    try:
        with f:
            f.write(data)
    except OSError:
        if ordinary_file(path):  # not -o /dev/full
            path.unlink()
        raise


def ordinary_file(path: Path) -> bool:
    """Whether path is a file of its own, which an output may replace: not a device, nor a
    link to another file."""
    return path.is_file() and not path.is_symlink()


def link_shared_library(obj: bytes, out: Path) -> None:
    """Links an object file into a shared library with the system's C compiler ($CC, or
    cc); the code calls malloc, free and libm."""
    cc = os.environ.get("CC", "cc")
    command = c_compiler(cc)
    if ordinary_file(out):
        out.unlink()  # as ld does: an old library must not pass for the one asked for
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "module.o"
        path.write_bytes(obj)
        done = subprocess.run(command + ["-shared", "-o", str(out), str(path), "-lm"],
                              capture_output=True, text=True)
    if done.returncode != 0:
        raise BuildError(f"linking with {cc} failed:\n{done.stderr.strip()}")
    if not out.exists():  # CC=true
        raise BuildError(f"linking with {cc} made no {out.name}, though it reported no error; "
                         f"set CC to a C compiler (cc, gcc or clang)")


def c_compiler(cc: str) -> list[str]:
    """The command line of the C compiler `cc` ($CC), or a BuildError that says what is
    wrong with it. CC may carry flags, as make's does: CC="gcc -m64"."""
    try:
        command = shlex.split(cc)
    except ValueError as e:  # CC='"cc'
        raise BuildError(f"CC='{cc}' is not a command line a shell can read "
                         f"({str(e).lower()}); set CC to the C compiler and its flags") from None
    program = command[0] if command else ""
    if shutil.which(program) is not None:
        return command
    if os.sep in program and os.path.exists(program):  # CC=/tmp
        kind = "a directory, not a program" if os.path.isdir(program) else \
            "a file that is not executable"
        raise BuildError(f"CC names '{program}', {kind}; set CC to the C compiler")
    raise BuildError(f"--emit so links with a C compiler and there is none ('{cc}' not "
                     f"found; set CC); --emit obj gives the object file to link yourself")


def c_header(module: ir.Module, names: list[str], guard: str, origin: str,
             checked: bool = True) -> str:
    """A C header declaring the entry points of `names` (functions of `module`), built
    with bounds checks or without (dpc build --unchecked)."""
    lines = [f"/* {origin}: compiled by dpc for this machine's CPU "
             f"({llvm.get_process_triple()}, {llvm.get_host_cpu_name()}).", " *"]
    convention = CONVENTION if checked else CONVENTION + UNCHECKED
    lines += [" * " + line if line else " *" for line in convention.splitlines()]
    lines += [" */", f"#ifndef {guard}", f"#define {guard}", "",
              "#include <stdbool.h>", "#include <stdint.h>", "",
              "#ifdef __cplusplus", 'extern "C" {', "#endif", "",
              f"#define DPC_CONTEXT_FIELDS {CTX_FIELDS}", ""]
    for name in names:
        fn = module.functions[name]
        lines.append(f"/* {signature(fn)} */")
        lines.append(declaration(f"int32_t {entry_symbol(name)}", c_parameters(fn)))
        lines.append("")
    lines += ["/* Frees every array the last call on ctx made (its results included); "
              "nothing on a",
              "   zeroed context that no call has used yet. */",
              "void dpc_free_all(int64_t *ctx);", ""]
    lines += ["#ifdef __cplusplus", "}", "#endif", "", f"#endif /* {guard} */", ""]
    return "\n".join(lines)


def declaration(head: str, params: list[str]) -> str:
    """`head(params);` on one line, or one parameter a line when that is too long."""
    line = f"{head}({', '.join(params)});"
    if len(line) <= 96:
        return line
    return f"{head}(\n    " + ",\n    ".join(params) + ");"


CONVENTION = """\
Each function returns 0, or 1 after a run-time error (an index out of bounds, an integer
division by zero, a failed assert, sizes that disagree, an argument's sizes among them:
checked as Python checks them, negative ones refused); the Python API (or dpc run) on the
same arguments gives the message. Its first argument is a context: an array of
DPC_CONTEXT_FIELDS int64_t, one per thread, reused from call to call. An array argument
is passed as its data pointer (a row-major, contiguous array; bool elements are C bools,
0 or 1) followed by its size along each axis. Results come back through the pointers that
follow: a scalar through its address; an array through the address of a data pointer and
the address of room for its sizes. Result arrays belong to the context: read or copy
them, then call dpc_free_all(ctx) before the next call on that context (after an error
too). Arrays are malloc'd: with glibc, call mallopt(M_MMAP_THRESHOLD, 32 << 20) and
mallopt(M_TRIM_THRESHOLD, 128 << 20) once (<malloc.h>), as dpc's Python runtime does,
or each call's large arrays come from a fresh mmap and fault their pages in again."""


UNCHECKED = """

Built with --unchecked: indices are not checked, and one out of bounds is undefined
behaviour (a wrong result or a crash), not an error; the other checks stay."""


def signature(fn: ir.Function) -> str:
    params = ", ".join(f"{p.name_hint}: {p.type}" for p in fn.params)
    rets = fn.return_types
    ret = str(rets[0]) if len(rets) == 1 else f"({', '.join(map(str, rets))})"
    return f"{fn.name}({params}) -> {ret}"


# Keywords of C (to C23) and C++ (the header is extern "C" for C++ too) that a .dp
# parameter may be named; such a parameter gets a _ after its name
C_RESERVED = {"auto", "break", "case", "char", "const", "continue", "default", "do", "double",
              "else", "enum", "extern", "float", "for", "goto", "if", "inline", "int", "long",
              "register", "restrict", "return", "short", "signed", "sizeof", "static",
              "struct", "switch", "typedef", "union", "unsigned", "void", "volatile", "while",
              "bool", "true", "false", "alignas", "alignof", "constexpr", "nullptr",
              "static_assert", "thread_local", "typeof", "typeof_unqual",
              "asm", "catch", "const_cast", "consteval", "constinit", "co_await", "co_return",
              "co_yield", "concept", "decltype", "delete", "dynamic_cast", "explicit",
              "export", "friend", "mutable", "namespace", "new", "noexcept", "operator",
              "private", "protected", "public", "reinterpret_cast", "requires",
              "static_cast", "template", "this", "throw", "typeid", "typename", "using",
              "virtual", "and_eq", "bitand", "bitor", "compl", "not_eq", "or_eq", "xor",
              "xor_eq", "NULL"}
# Macros that GCC and Clang predefine on common targets outside strict ISO modes (-std=gnu*,
# their default; `cpp -dM /dev/null`): a parameter named linux was declared `double 1`
C_RESERVED |= {"linux", "unix", "i386", "sun", "sparc", "mips", "powerpc", "PPC", "mc68000",
               "MIPSEB", "MIPSEL", "R3000", "R4000"}
# Names the included headers define, as types or macros (int64_t, INT64_MAX, INT8_C), and
# those C keeps for itself (_Bool, __LINE__): also not a parameter's name in C
C_LIBRARY = re.compile(r"\w+_t|[A-Z0-9_]+_(MIN|MAX|C)|_[A-Z_]\w*")


def c_name(name: str) -> str:
    return name + "_" if name in C_RESERVED or C_LIBRARY.fullmatch(name) else name


def c_parameters(fn: ir.Function) -> list[str]:
    results = []
    for k, t in enumerate(fn.return_types):
        if isinstance(t, ArrayType):
            results += [f"{C_TYPE[t.elem]} **result{k}", f"int64_t *result{k}_sizes"]
        else:
            results.append(f"{C_TYPE[t]} *result{k}")
    # every C name once: a parameter named ctx_ or x_size0 must not meet the ones made here
    taken = {"ctx"} | {f"result{k}" for k in range(len(fn.return_types))} | \
        {f"result{k}_sizes" for k in range(len(fn.return_types))}

    def unique(name: str) -> str:
        while name in taken:
            name += "_"
        taken.add(name)
        return name

    out = ["int64_t *ctx"]
    for k, p in enumerate(fn.params):
        name = unique(c_name(p.name_hint or f"arg{k}"))
        if isinstance(p.type, ArrayType):
            out.append(f"const {C_TYPE[p.type.elem]} *{name}")
            out += [f"int64_t {unique(f'{name}_size{axis}')}" for axis in range(p.type.rank)]
        else:
            out.append(f"{C_TYPE[p.type]} {name}")
    return out + results
