"""`dpc build`: native code ahead of time. A C program that includes the header and links
the shared library (or the object file) gets what Python gets, bit for bit."""

import os
import shutil
import subprocess

import numpy as np
import pytest

from compiler import compile_source
from compiler.cli import main
from runtime.aot import c_parameters

PROGRAM = """\
def lse(x: f64[n]) -> f64:
    m = max(x)
    return m + log(sum(exp(x - m)))

def lse_grad(x: f64[n]) -> f64[n]:
    return grad(lse)(x)

def scaled(a: f64[n, m], s: f64, k: i64) -> (f64[n, m], i64):
    return a * s, k * 2

def at(x: f64[n], i: i64) -> f64:
    return x[i]
"""

CALLER = r"""
#include <stdio.h>
#include "prog.h"

int main(void) {
    int64_t ctx[DPC_CONTEXT_FIELDS] = {0};
    double x[3] = {1.0, 2.0, 3.0}, value, *grad, a[6] = {1, 2, 3, 4, 5, 6}, *scaled;
    int64_t sizes[1], shape[2], twice;
    dpc_free_all(ctx);  /* nothing to free yet: it crashed on a context no call had used */
    if (dpc_entry_lse(ctx, x, 3, &value) != 0) return 1;
    dpc_free_all(ctx);
    if (dpc_entry_lse_grad(ctx, x, 3, &grad, sizes) != 0) return 1;
    printf("%a %lld %a %a %a\n", value, (long long)sizes[0], grad[0], grad[1], grad[2]);
    dpc_free_all(ctx);
    if (dpc_entry_scaled(ctx, a, 2, 3, 0.5, 21, &scaled, shape, &twice) != 0) return 1;
    printf("%lld %lld %a %a %lld\n", (long long)shape[0], (long long)shape[1], scaled[0],
           scaled[5], (long long)twice);
    dpc_free_all(ctx);
    printf("%d\n", dpc_entry_at(ctx, x, 3, 7, &value));  /* out of bounds */
    dpc_free_all(ctx);
    return 0;
}
"""


def python_results() -> list:
    mod = compile_source(PROGRAM, name="prog.dp")
    x = np.array([1.0, 2.0, 3.0])
    g = mod.lse_grad(x)
    s, twice = mod.scaled(np.arange(1.0, 7.0).reshape(2, 3), 0.5, 21)
    return [[mod.lse(x), 3, g[0], g[1], g[2]], [2, 3, s[0, 0], s[1, 2], twice], [1]]


def c_results(stdout: str) -> list:
    """The C program's lines: integers, and doubles printed exactly (%a, hexadecimal)."""
    return [[float.fromhex(t) if "0x" in t else int(t) for t in line.split()]
            for line in stdout.splitlines()]


def build(tmp_path, capsys, kind, name):
    source = tmp_path / "prog.dp"
    source.write_text(PROGRAM)
    out = tmp_path / name
    assert main(["build", str(source), "-o", str(out), "--emit", kind]) == 0
    assert capsys.readouterr().out == f"wrote {out} ({kind}: lse, lse_grad, scaled, at)\n"
    return out


@pytest.mark.skipif(shutil.which("cc") is None, reason="linking needs a C compiler (cc)")
@pytest.mark.parametrize("kind", ["so", "obj"])
def test_a_c_program_gets_what_python_gets(tmp_path, capsys, kind):
    build(tmp_path, capsys, "header", "prog.h")
    library = build(tmp_path, capsys, kind, f"prog.{'so' if kind == 'so' else 'o'}")
    (tmp_path / "main.c").write_text(CALLER)
    subprocess.run(["cc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-o", "main", "main.c",
                    str(library), "-lm", "-Wl,-rpath," + str(tmp_path)], cwd=tmp_path, check=True)
    done = subprocess.run([str(tmp_path / "main")], capture_output=True, text=True, check=True)
    assert c_results(done.stdout) == python_results()  # the same bits


@pytest.mark.skipif(shutil.which("cc") is None, reason="linking needs a C compiler (cc)")
def test_objects_of_two_files_link_into_one_program(tmp_path, capsys):
    # each object defined dpc_free_all: 'multiple definition' from the linker
    build(tmp_path, capsys, "header", "prog.h")
    first = build(tmp_path, capsys, "obj", "prog.o")
    other = tmp_path / "other.dp"
    other.write_text("def twice(x: f64) -> f64:\n    return 2.0 * x\n")
    assert main(["build", str(other), "-o", str(tmp_path / "other.o")]) == 0
    assert main(["build", str(other), "-o", str(tmp_path / "other.h"), "--emit", "header"]) == 0
    capsys.readouterr()
    (tmp_path / "main.c").write_text(CALLER.replace(
        '#include "prog.h"', '#include "prog.h"\n#include "other.h"').replace(
        "    return 0;\n}", "    if (dpc_entry_twice(ctx, 1.5, &value) != 0) return 1;\n"
        '    printf("%a\\n", value);\n    return 0;\n}'))
    subprocess.run(["cc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-o", "main", "main.c",
                    str(first), "other.o", "-lm"], cwd=tmp_path, check=True)
    done = subprocess.run([str(tmp_path / "main")], capture_output=True, text=True, check=True)
    assert c_results(done.stdout) == python_results() + [[3.0]]


def test_the_header_declares_each_function_with_its_signature(tmp_path, capsys):
    text = build(tmp_path, capsys, "header", "prog-2.h").read_text()
    assert "#ifndef DPC_PROG_2_H\n#define DPC_PROG_2_H\n" in text
    assert "#define DPC_CONTEXT_FIELDS 14\n" in text
    assert ("/* lse(x: f64[n]) -> f64 */\n"
            "int32_t dpc_entry_lse(int64_t *ctx, const double *x, int64_t x_size0, "
            "double *result0);\n") in text
    assert ("/* scaled(a: f64[n, m], s: f64, k: i64) -> (f64[n, m], i64) */\n"
            "int32_t dpc_entry_scaled(\n    int64_t *ctx,\n    const double *a,\n"
            "    int64_t a_size0,\n    int64_t a_size1,\n    double s,\n    int64_t k,\n"
            "    double **result0,\n    int64_t *result0_sizes,\n    int64_t *result1);\n") in text
    assert "void dpc_free_all(int64_t *ctx);\n" in text


def test_a_header_built_unchecked_says_that_indices_are_not_checked(tmp_path, capsys):
    # it promised a return of 1 for an index out of bounds, which then crashed
    source = tmp_path / "prog.dp"
    source.write_text(PROGRAM)
    for flags, name in (([], "checked.h"), (["--unchecked"], "unchecked.h")):
        assert main(["build", str(source), "-o", str(tmp_path / name), "--emit", "header",
                     *flags]) == 0
    checked, unchecked = ((tmp_path / n).read_text() for n in ("checked.h", "unchecked.h"))
    note = (" *\n * Built with --unchecked: indices are not checked, and one out of bounds is "
            "undefined\n * behaviour (a wrong result or a crash), not an error; the other "
            "checks stay.\n */\n")
    assert note in unchecked and "--unchecked" not in checked
    assert unchecked.replace(note, " */\n").replace("UNCHECKED", "CHECKED") == checked


def test_llvm_assembly_and_object_code(tmp_path, capsys):
    llvm_ir = build(tmp_path, capsys, "llvm", "p.ll").read_text()
    assert "@dpc_entry_lse_grad(ptr" in llvm_ir and 'target triple = "unknown' not in llvm_ir
    assert "dpc_entry_lse_grad:" in build(tmp_path, capsys, "asm", "p.s").read_text()
    assert build(tmp_path, capsys, "obj", "p.o").read_bytes()[:4] == b"\x7fELF"


@pytest.mark.parametrize("name, kind, start", [
    ("p.h", "header", b"/*"), ("p.ll", "llvm", b"; Mo"), ("p.s", "asm", b"\t."),
    ("p.o", "obj", b"\x7fELF"), ("p.bin", "obj", b"\x7fELF"), ("P.H", "header", b"/*")])
def test_without_emit_the_output_s_extension_names_its_kind(tmp_path, capsys, name, kind, start):
    # `-o p.h` wrote an object file called p.h
    source = tmp_path / "prog.dp"
    source.write_text(PROGRAM)
    out = tmp_path / name
    assert main(["build", str(source), "-o", str(out)]) == 0
    assert capsys.readouterr().out == f"wrote {out} ({kind}: lse, lse_grad, scaled, at)\n"
    assert out.read_bytes()[:len(start)] == start


def test_without_a_c_compiler_a_library_cannot_be_linked(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CC", "no-such-cc")
    source = tmp_path / "prog.dp"
    source.write_text(PROGRAM)
    assert main(["build", str(source), "-o", str(tmp_path / "p.so"), "--emit", "so"]) == 1
    assert capsys.readouterr().err == (
        f"dpc: error: cannot build {tmp_path / 'p.so'}: --emit so links with a C compiler and "
        f"there is none ('no-such-cc' not found; set CC); --emit obj gives the object file to "
        f"link yourself\n")


@pytest.mark.parametrize("where, why", [("missing/p.o", "No such file or directory"),
                                        (".", "Is a directory")])
def test_an_output_that_cannot_be_written(tmp_path, capsys, where, why):
    # the message repeated the path after Python's [Errno 2]
    source = tmp_path / "prog.dp"
    source.write_text(PROGRAM)
    assert main(["build", str(source), "-o", str(tmp_path / where)]) == 1
    assert capsys.readouterr().err == f"dpc: error: cannot build {tmp_path / where}: {why}\n"


@pytest.mark.skipif(shutil.which("cc") is None, reason="linking needs a C compiler (cc)")
def test_a_c_compiler_given_with_flags_links(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CC", "cc -O1 -Wl,--no-undefined -lc")  # as make takes CC="gcc -m64"
    library = build(tmp_path, capsys, "so", "p.so")
    assert library.read_bytes()[:4] == b"\x7fELF"


def test_parameter_names_never_meet_the_names_the_header_makes():
    # ctx_ (the renamed ctx) and x_size0 (x's size) are a user's names here too
    mod = compile_source("def f(ctx: f64, ctx_: f64) -> f64:\n    return ctx + ctx_\n"
                         "def g(x_size0: f64, x: f64[n]) -> f64:\n    return x_size0 + sum(x)\n")
    functions = mod.module.functions
    assert c_parameters(functions["f"]) == ["int64_t *ctx", "double ctx_", "double ctx__",
                                            "double *result0"]
    assert c_parameters(functions["g"]) == ["int64_t *ctx", "double x_size0", "const double *x",
                                            "int64_t x_size0_", "double *result0"]


SIZES = """\
def pair(x: f64[n], y: f64[n]) -> f64:
    return dot(x, y)

def three(x: f64[3]) -> f64:
    return sum(x)

def doubled(x: f64[n]) -> f64[n]:
    return 2.0 * x
"""

SIZES_CALLER = r"""
#include <stdio.h>
#include "sizes.h"

int main(void) {
    int64_t ctx[DPC_CONTEXT_FIELDS] = {0}, size[1];
    double x[3] = {1.0, 2.0, 3.0}, y[3] = {4.0, 5.0, 6.0}, value, *twice;
    printf("%d ", dpc_entry_pair(ctx, x, 3, y, 2, &value));  /* n is 3 and 2 */
    dpc_free_all(ctx);
    printf("%d ", dpc_entry_three(ctx, x, 2, &value));       /* not 3 */
    dpc_free_all(ctx);
    printf("%d ", dpc_entry_doubled(ctx, x, -3, &twice, size));
    dpc_free_all(ctx);
    int status = dpc_entry_pair(ctx, x, 2, y, 2, &value);
    printf("%d %g\n", status, value);
    dpc_free_all(ctx);
    return 0;
}
"""


@pytest.mark.skipif(shutil.which("cc") is None, reason="linking needs a C compiler (cc)")
def test_a_c_caller_s_sizes_are_checked_as_python_s_are(tmp_path, capsys):
    # from C, sizes of one dimension that disagree, or a literal one that is not the
    # array's, returned 0 after reading past the end of an array
    source = tmp_path / "sizes.dp"
    source.write_text(SIZES)
    for kind, name in (("header", "sizes.h"), ("so", "sizes.so")):
        assert main(["build", str(source), "-o", str(tmp_path / name), "--emit", kind]) == 0
    (tmp_path / "main.c").write_text(SIZES_CALLER)
    subprocess.run(["cc", "-std=c99", "-Wall", "-Werror", "-o", "main", "main.c", "sizes.so",
                    "-lm", "-Wl,-rpath," + str(tmp_path)], cwd=tmp_path, check=True)
    done = subprocess.run([str(tmp_path / "main")], capture_output=True, text=True, check=True)
    assert done.stdout == "1 1 1 0 14\n"


def test_the_messages_of_the_checks_a_c_caller_meets():
    # Python checks the sizes before the call; native code's own checks, which a caller
    # from C meets, say the same
    native = compile_source(SIZES, name="sizes.dp")._native
    x = np.array([1.0, 2.0, 3.0])
    for fn, sizes, message in [
            ("pair", (3, 2), "argument y: dimension n is 2 here but 3 in argument x"),
            ("three", (2,), "argument x must be f64[3]: axis 0 has size 2, not 3"),
            ("doubled", (-3,), "argument x has size -3 along axis 0: a size is at least 0"),
            ("doubled", (2**61,), "argument x makes dimension n 2305843009213693952: dpc "
                                  "takes at most 2**60")]:
        f = native.functions[fn]
        ctx, address, _, pointers = f.new_state()
        flat = [a for size in sizes for a in (x.ctypes.data, size)]
        assert f.cfunc(address, *flat, *pointers) == 1
        assert str(f.error(ctx)) == message
        native.free_all(address)


def test_bool_arrays_are_declared_as_c_bool():
    # the code reads an element's lowest bit, as C's bool (and NumPy's) holds it: declared
    # uint8_t, a mask of 0 and 255 or 2 read as all false
    mod = compile_source("def f(b: bool[n], c: bool) -> bool[n]:\n    return b and c\n")
    assert c_parameters(mod.module.functions["f"]) == [
        "int64_t *ctx", "const bool *b", "int64_t b_size0", "bool c", "bool **result0",
        "int64_t *result0_sizes"]


KEYWORDS = """\
def step(old: f64[n], new: f64[n], this: f64, int64_t: f64, INT64_MAX: i64,
         _Bool: f64) -> f64:
    return sum(new - old) * this + int64_t + float(INT64_MAX) + _Bool
"""


def test_parameters_named_like_c_and_cxx_words_are_renamed():
    # new and this are C++ keywords, int64_t and INT64_MAX are stdint.h's, _Bool is C99's:
    # each made the header fail to compile (the header says extern "C" for C++)
    fn = compile_source(KEYWORDS).module.functions["step"]
    assert c_parameters(fn) == [
        "int64_t *ctx", "const double *old", "int64_t old_size0", "const double *new_",
        "int64_t new__size0", "double this_", "double int64_t_", "int64_t INT64_MAX_",
        "double _Bool_", "double *result0"]


@pytest.mark.skipif(shutil.which("cc") is None or shutil.which("c++") is None,
                    reason="needs a C and a C++ compiler (cc, c++)")
def test_the_header_compiles_as_c_and_as_cxx(tmp_path, capsys):
    source = tmp_path / "kw.dp"
    source.write_text(KEYWORDS)
    assert main(["build", str(source), "-o", str(tmp_path / "kw.h"), "--emit", "header"]) == 0
    (tmp_path / "main.c").write_text('#include "kw.h"\nint main(void) { return 0; }\n')
    for compiler in (["cc", "-std=c99"], ["c++", "-x", "c++"]):
        subprocess.run(compiler + ["-Wall", "-Werror", "-fsyntax-only", "main.c"], cwd=tmp_path,
                       check=True)


def build_error(tmp_path, capsys, out, kind="so", source_name="prog.dp") -> str:
    """The error of `dpc build` writing `out`, which must fail."""
    source = tmp_path / source_name
    if not source.exists():
        source.write_text(PROGRAM)
    assert main(["build", str(source), "-o", str(out), "--emit", kind]) == 1
    out_, err = capsys.readouterr()
    assert out_ == ""
    return err


@pytest.mark.parametrize("cc, why", [
    # a ValueError traceback from shlex
    ('"cc', "CC='\"cc' is not a command line a shell can read (no closing quotation); set CC "
            "to the C compiler and its flags"),
    # said to be not found
    ("/", "CC names '/', a directory, not a program; set CC to the C compiler"),
])
def test_a_c_compiler_that_cannot_be_run(tmp_path, capsys, monkeypatch, cc, why):
    monkeypatch.setenv("CC", cc)
    out = tmp_path / "p.so"
    assert build_error(tmp_path, capsys, out) == f"dpc: error: cannot build {out}: {why}\n"


def test_a_c_compiler_that_makes_no_library(tmp_path, capsys, monkeypatch):
    # CC=true: 'wrote p.so', and no p.so; nor may an old one pass for the new
    monkeypatch.setenv("CC", "true")
    out = tmp_path / "p.so"
    out.write_bytes(b"an old library")
    assert build_error(tmp_path, capsys, out) == (
        f"dpc: error: cannot build {out}: linking with true made no p.so, though it reported "
        f"no error; set CC to a C compiler (cc, gcc or clang)\n")
    assert not out.exists()


def test_a_header_for_a_source_name_that_is_not_utf8(tmp_path, capsys):
    # bad\xff.dp: UnicodeEncodeError, and an empty header left behind
    source = tmp_path / "bad\udcff.dp"  # as Python holds the byte \xff from the command line
    source.write_text(PROGRAM)
    out = tmp_path / "x².h"
    assert main(["build", str(source), "-o", str(out), "--emit", "header"]) == 0
    assert capsys.readouterr() == (f"wrote {out} (header: lse, lse_grad, scaled, at)\n", "")
    text = out.read_bytes().decode("utf-8")
    assert text.startswith("/* bad\\xff.dp: compiled by dpc for this machine's CPU (")
    # the guard was DPC_X²_H, not a C identifier
    assert "#ifndef DPC_X__H\n#define DPC_X__H\n" in text


def test_a_write_that_fails_part_way_leaves_no_file(tmp_path):
    # a file size limit (or a full disk) stops the write after 4096 bytes of the LLVM IR
    import resource
    import sys
    from pathlib import Path

    def limited():
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))  # Python ignores SIGXFSZ

    out = tmp_path / "p.ll"
    done = subprocess.run([sys.executable, "-m", "compiler.cli", "build", "examples/lse.dp",
                           "-o", str(out), "--emit", "llvm"], preexec_fn=limited,
                          cwd=Path(__file__).resolve().parents[2], capture_output=True,
                          text=True)
    assert (done.returncode, done.stdout, done.stderr) == (
        1, "", f"dpc: error: cannot build {out}: File too large\n")
    assert not out.exists()


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_a_device_an_output_cannot_be_written_to_stays(tmp_path, capsys):
    assert build_error(tmp_path, capsys, "/dev/full", "header") == (
        "dpc: error: cannot build /dev/full: No space left on device\n")
    assert os.path.exists("/dev/full")


def test_the_output_may_not_overwrite_the_source(tmp_path, capsys):
    # gcc refuses too: 'input file is the same as output file'
    source = tmp_path / "prog.dp"
    source.write_text(PROGRAM)
    (tmp_path / "link.dp").symlink_to(source)
    for out in (source, tmp_path / "." / "link.dp"):
        assert build_error(tmp_path, capsys, out, "header") == (
            f"dpc: error: cannot build {out}: the output is the source file {source}, which "
            f"it would overwrite; name another file with -o\n")
    assert source.read_text() == PROGRAM


PREDEFINED = """\
def near(linux: f64, unix: f64, i386: f64[n], sun: f64) -> f64:
    return linux + unix + sum(i386) + sun
"""


def test_parameters_named_like_predefined_macros_are_renamed():
    fn = compile_source(PREDEFINED).module.functions["near"]
    assert c_parameters(fn) == ["int64_t *ctx", "double linux_", "double unix_",
                                "const double *i386_", "int64_t i386__size0", "double sun_",
                                "double *result0"]


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler (cc)")
def test_the_header_compiles_in_gnu_modes(tmp_path, capsys):
    # GCC's default -std=gnu17 defines linux and unix as 1: `double 1` did not compile
    source = tmp_path / "near.dp"
    source.write_text(PREDEFINED)
    assert main(["build", str(source), "-o", str(tmp_path / "near.h"), "--emit", "header"]) == 0
    (tmp_path / "main.c").write_text('#include "near.h"\nint main(void) { return 0; }\n')
    for std in ("-std=gnu99", "-std=gnu17"):
        subprocess.run(["cc", std, "-Wall", "-Werror", "-fsyntax-only", "main.c"],
                       cwd=tmp_path, check=True)


WAVES = """\
def waves(x: f64[n]) -> f64[n]:
    return sin(x) * cos(x) + tan(x)
"""

WAVES_CALLER = r"""
#include <stdio.h>
#include "waves.h"

int main(void) {
    int64_t ctx[DPC_CONTEXT_FIELDS] = {0}, size[1];
    double x[19], *y;
    for (int i = 0; i < 19; i++) x[i] = 0.37 * i - 3.0;
    x[4] = 1e10;  /* past 2^30: libm's value, in the vectorized loop */
    if (dpc_entry_waves(ctx, x, 19, &y, size) != 0) return 1;
    for (int i = 0; i < 19; i++) printf("%a\n", y[i]);
    dpc_free_all(ctx);
    return 0;
}
"""


@pytest.mark.skipif(shutil.which("cc") is None, reason="linking needs a C compiler (cc)")
def test_sin_cos_and_tan_in_a_library_give_what_python_gets(tmp_path, capsys):
    # generated code with vector versions of libm's calls kept for the vectorizer
    (tmp_path / "waves.dp").write_text(WAVES)
    for kind, name in (("header", "waves.h"), ("so", "waves.so")):
        assert main(["build", str(tmp_path / "waves.dp"), "-o", str(tmp_path / name),
                     "--emit", kind]) == 0
    (tmp_path / "main.c").write_text(WAVES_CALLER)
    subprocess.run(["cc", "-std=c99", "-Wall", "-Werror", "-o", "main", "main.c", "waves.so",
                    "-lm", "-Wl,-rpath," + str(tmp_path)], cwd=tmp_path, check=True)
    done = subprocess.run([str(tmp_path / "main")], capture_output=True, text=True, check=True)
    x = 0.37 * np.arange(19) - 3.0
    x[4] = 1e10
    want = compile_source(WAVES).waves(x)
    assert [float.fromhex(t) for t in done.stdout.split()] == list(want)
