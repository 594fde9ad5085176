"""The dpc command line: run with every way of giving arguments, ir stages, help, errors."""

import os
import shlex
import sys
from pathlib import Path

import numpy as np
import pytest

from compiler import SyntaxErrorDP, compile_file
from compiler.cli import main

SOURCE = """\
# Weighted sum of squares.
def wsq(x: f64[n], w: f64, k: i64) -> f64:
    return w * sum(x * x) + float(k)

def scale(a: f64[n, m], s: f64) -> f64[n, m]:
    return a * s

def both(x: f64[n]) -> (f64, i64):
    return sum(x), n
"""


@pytest.fixture
def prog(tmp_path):
    path = tmp_path / "prog.dp"
    path.write_text(SOURCE)
    return path


def dpc(capsys, *argv):
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_run_with_literal_arguments(prog, capsys):
    status, out, err = dpc(capsys, "run", prog, "wsq", "--arg", "x=[1.0, 2.0]", "--arg", "w=0.5",
                           "--arg", "k=3")
    assert (status, out, err) == (0, "5.5\n", "")


def test_run_with_non_finite_arguments(prog, capsys):
    # nan and inf as NumPy prints them and JSON writes them (NaN, Infinity)
    status, out, err = dpc(capsys, "run", prog, "scale", "--arg", "a=[[1.0, -inf], [NaN, 0.5]]",
                           "--arg", "s=Infinity")
    assert (status, out, err) == (0, "[[inf, -inf], [nan, inf]]\n", "")


BOOLS = """\
def pick(b: bool, x: f64) -> f64:
    return x if b else -x

def count(m: bool[n]) -> i64:
    c = 0
    for i in range(n):
        if m[i]:
            c += 1
    return c
"""


def test_bool_arguments_as_json_writes_them(tmp_path, capsys):
    path = tmp_path / "bools.dp"
    path.write_text(BOOLS)
    assert dpc(capsys, "run", path, "pick", "--arg", "b=true", "--arg", "x=2") == (0, "2.0\n", "")
    assert dpc(capsys, "run", path, "pick", "--arg", "b=false", "--arg", "x=2") == (0, "-2.0\n", "")
    assert dpc(capsys, "run", path, "count", "--arg", "m=[true, false, true]") == (0, "2\n", "")
    assert dpc(capsys, "run", path, "pick", "--arg", "b=True", "--arg", "x=2") == (0, "2.0\n", "")


@pytest.mark.parametrize("arg, message", [
    ("x=true", "argument x is f64: true and false are for bool parameters, got 'true'"),
    ("x=True", "argument x is f64: true and false are for bool parameters, got 'True'"),
])
def test_bools_for_other_parameters_are_refused(tmp_path, capsys, arg, message):
    # True was taken as 1.0 for an f64, true was not read at all
    path = tmp_path / "bools.dp"
    path.write_text(BOOLS)
    assert dpc(capsys, "run", path, "pick", "--arg", "b=true", "--arg", arg) == (
        1, "", f"dpc: error: {message}\n")


def test_bools_in_a_list_for_a_number_array_are_refused(prog, capsys):
    assert dpc(capsys, "run", prog, "wsq", "--arg", "x=[1.0, false]", "--arg", "w=1",
               "--arg", "k=1") == (1, "", "dpc: error: argument x is f64[n]: true and false "
                                          "are for bool parameters, got '[1.0, false]'\n")


@pytest.mark.parametrize("value", ["None", "'a'", "{}", "{1.0}", "1j"])
def test_arguments_that_are_not_numbers_are_not_read(prog, capsys, value):
    # Python's literal_eval read them, and the call said "must be f64[n], got NoneType None"
    assert dpc(capsys, "run", prog, "wsq", "--arg", f"x={value}", "--arg", "w=1",
               "--arg", "k=1") == (1, "", f"dpc: error: argument x: cannot read '{value}' as "
                                          f"a number, a bool or a list of numbers\n")


UNREAD = "cannot read '{}' as a number, a bool or a list of numbers: "


@pytest.mark.parametrize("value,problem", [
    ("[1.0, None]", "'None' at character 7 is not a number, a bool or a list"),
    ("[1.0, 2.0,, 3.0]", "unexpected ',' at character 11"),
    ("[1.0 2.0]", "unexpected '1.0 2.0' at character 2; is a comma missing?"),
    ("[[1.0, 2.0], [3.0, 4.0]", "'[' was never closed, at character 1"),
    ("1.0 +", "the value ends before it is complete"),
])
def test_a_value_that_cannot_be_read_says_where(prog, capsys, value, problem):
    # said only that it cannot be read
    assert dpc(capsys, "run", prog, "wsq", "--arg", f"x={value}") == (
        1, "", f"dpc: error: argument x: {UNREAD.format(value)}{problem}\n")


def deep(levels: int) -> str:
    return "[" * levels + "1.0" + "]" * levels


LIST = "[" + ", ".join(["1.0"] * 2000)  # 9999 characters, without its closing bracket
LIST_SHOWN = LIST[:60] + "..."


# (id, --arg, message)
LONG_OR_DEEP = [
    # said 'got an array of rank 50 with shape (1, 1, ...)' after the whole value, 'its nested
    # lists have different lengths' (NumPy has at most 64 axes), 'cannot read' (Python's
    # parser stops at 200 brackets)
    ("50 deep", f"x={deep(50)}", f"argument x is f64[n], written with 1 level of brackets, "
                                 f"but '{deep(50)[:60]}...' nests brackets 50 deep"),
    ("100 deep", f"x={deep(100)}", f"argument x is f64[n], written with 1 level of brackets, "
                                   f"but '{'[' * 60}...' nests brackets 100 deep"),
    ("1000 deep", f"w={deep(1000)}", f"argument w is f64, written without brackets, but "
                                     f"'{'[' * 60}...' nests brackets 1000 deep"),
    ("5000 signs", "w=" + "-" * 5000 + "1",
     f"argument w: {UNREAD.format('-' * 60 + '...')}Python's parser gives up on it, as it "
     f"nests operators too deeply"),
    # said 'cannot read' after all 5000 digits
    ("5000 digits", "w=" + "7" * 5000, f"argument w: {UNREAD.format('7' * 60 + '...')}the int "
                                       f"at character 1 has 5000 digits, too many for f64"),
    ("4000 digits", "k=" + "7" * 4000, f"--arg k={'7' * 60}...: argument k is an int of 4000 "
                                       f"digits, outside the range of i64 ([-2**63, 2**63 - 1])"),
    ("a name at the end", f"x={LIST}, foo]", f"argument x: {UNREAD.format(LIST_SHOWN)}'foo' at "
                                             f"character 10002 is not a number, a bool or a list"),
    ("a typo at the end", f"x={LIST}, 1.0.0]", f"argument x: {UNREAD.format(LIST_SHOWN)}"
                                               f"unexpected '1.0.0' at character 10002; is a "
                                               f"comma missing?"),
    ("a list for a number", f"w={LIST}]", f"--arg w={LIST_SHOWN}: argument w is a single f64, "
                                          f"not an array"),
    ("no value", "x=", "--arg x= gives no value: write it after the '='"),
]


@pytest.mark.parametrize("kind,arg,message", LONG_OR_DEEP, ids=[c[0] for c in LONG_OR_DEEP])
def test_a_long_or_deep_value_is_not_repeated_whole(prog, capsys, kind, arg, message):
    assert dpc(capsys, "run", prog, "wsq", "--arg", arg) == (1, "", f"dpc: error: {message}\n")


def test_run_with_npy_file(prog, tmp_path, capsys):
    np.save(tmp_path / "a.npy", np.arange(6.0).reshape(2, 3))
    status, out, _ = dpc(capsys, "run", prog, "scale", "--arg", f"a=@{tmp_path / 'a.npy'}",
                         "--arg", "s=2")
    assert status == 0
    assert out == "[[0.0, 2.0, 4.0], [6.0, 8.0, 10.0]]\n"  # reads back with --arg


def test_run_with_random_and_dims(prog, capsys):
    status, out, _ = dpc(capsys, "run", prog, "wsq", "--random", 0, "--dim", "n=4", "--arg", "k=1")
    rng = np.random.default_rng(0)
    x = rng.standard_normal([4])
    w = float(rng.standard_normal())
    assert status == 0
    assert float(out) == pytest.approx(w * (x * x).sum() + 1.0, rel=1e-15)


def test_random_arguments_that_cannot_be_made_are_errors(prog, capsys):
    status, out, err = dpc(capsys, "run", prog, "wsq", "--random", -1, "--dim", "n=4", "--arg", "k=1")
    assert (status, out, err) == (1, "", "dpc: error: --random -1: the seed cannot be negative\n")
    status, out, err = dpc(capsys, "run", prog, "wsq", "--random", 0, "--dim", f"n={10 ** 11}",
                           "--arg", "k=1")
    assert (status, out) == (1, "")
    assert err == (f"dpc: error: argument x (f64[n]) of shape ({10 ** 11},) does not fit in "
                   f"memory; give smaller sizes with --dim\n")
    # a size --static fixed is not one --dim can give (it said --dim, which it refuses)
    status, out, err = dpc(capsys, "run", prog, "wsq", "--random", 0, "--static", f"n={10 ** 11}",
                           "--arg", "k=1")
    assert (status, out) == (1, "")
    assert err == (f"dpc: error: argument x (f64[{10 ** 11}]) of shape ({10 ** 11},) does not "
                   f"fit in memory; give smaller sizes with --static\n")


def test_run_tuple_result_prints_one_line_each(prog, capsys):
    status, out, _ = dpc(capsys, "run", prog, "both", "--arg", "x=[1.5, 2.5, 3]")
    assert (status, out) == (0, "7.0\n3\n")


@pytest.mark.parametrize("argv,message", [
    (["run", "{prog}", "wsq", "--arg", "x=[1.0]", "--arg", "w=1.0"],
     "dpc: error: missing argument k (i64): give --arg k=VALUE, or --random SEED to fill arrays\n"),
    (["run", "{prog}", "wsq", "--arg", "z=1"],
     "dpc: error: 'wsq' has no parameter 'z' (parameters: x, w, k)\n"),
    (["run", "{prog}", "wsq", "--static", "k=2", "--arg", "k=3"],
     "dpc: error: --arg k: --static k gives its value already; give one of the two\n"),
    (["run", "{prog}", "wsq", "--static", "k=2", "--arg", "z=3"],  # not 'wsq.static.k2'
     "dpc: error: 'wsq' has no parameter 'z' (parameters: x, w)\n"),
    (["run", "{prog}", "nope"],
     "dpc: error: no function 'nope' in {prog} (functions: wsq, scale, both)\n"),
    (["run", "{prog}", "wsq", "--random", "0", "--arg", "k=1"],
     "dpc: error: argument x is f64[n]: give the size of n with --dim n=INT\n"),
    (["run", "{prog}", "wsq", "--arg", "x=[1.0]", "--arg", "w=1.0", "--arg", "k=2.5"],
     "dpc: error: --arg k=2.5: argument k must be i64, got float 2.5\n"),
    (["run", "{prog}", "wsq", "--arg", "x=[1.0]", "--arg", "w=1.0", "--arg", "k=2.0"],
     "dpc: error: --arg k=2.0: argument k must be i64, got float 2.0 (write 2: an i64 is "
     "written without a decimal point)\n"),
    (["run", "{prog}", "wsq", "--arg", "x=[1.0, 2.0]", "--arg", "w=1.0", "--arg", "k=1",
      "--static", "n=3"],
     "dpc: error: argument x must be f64[3]: axis 0 has size 2, not 3\n"),
    (["run", "{prog}", "wsq", "--arg", "x=[1.0]", "--arg", "w=[1.0]", "--arg", "k=2"],
     "dpc: error: --arg w=[1.0]: argument w is a single f64, not an array\n"),
    (["run", "{prog}", "wsq", "--arg", "x=[[1.0]]", "--arg", "w=1.0", "--arg", "k=2"],
     "dpc: error: --arg x=[[1.0]]: argument x must be f64[n] (rank 1), got an array of rank 2 "
     "with shape (1, 1)\n"),
    (["run", "{prog}", "wsq", "--arg", "x=hello"],
     "dpc: error: argument x: cannot read 'hello' as a number, a bool or a list of numbers\n"),
    (["run", "{prog}", "wsq", "--arg", "x=[[1.0, 2.0], [3.0]]"],
     "dpc: error: argument x: '[[1.0, 2.0], [3.0]]' is not an array: its nested lists have "
     "different lengths\n"),
    (["check", "{prog}.missing"],
     "dpc: error: cannot read {prog}.missing: No such file or directory\n"),
    (["run", "{prog}", "wsq", "--random", "0", "--dim", "n=-3", "--arg", "k=1"],
     "dpc: error: --dim n=-3: a size cannot be negative\n"),
    (["run", "{prog}", "wsq", "--random", "0", "--dim", "n=3", "--dim", "n=4"],
     "dpc: error: --dim n is given twice\n"),
    (["run", "{prog}", "wsq", "--arg", "w=1.0", "--arg", "w=2.0"],
     "dpc: error: --arg w is given twice\n"),
    (["run", "{prog}", "wsq", "--random", "0", "--dim", "n=3", "--arg", "x=[1.0, 2.0]"],
     "dpc: error: argument x makes dimension n 2, but it is 3 (from --dim or an earlier "
     "argument)\n"),
    (["run", "{prog}", "wsq", "--random", "0", "--dim", "n=3", "--dim", "q=4", "--arg", "k=1"],
     "dpc: error: --dim q: the arrays of 'wsq' have no dimension q\n"),
    (["run", "{prog}", "wsq", "--random", "0", "--dim", "n=4", "--arg", "k=1", "--static", "n=3"],
     "dpc: error: --dim n=4: --static n=3 fixes it already; give one of the two\n"),
    # n = 1 stays a name in the specialized types (see passes/specialize.py): the same error
    (["run", "{prog}", "wsq", "--random", "0", "--dim", "n=4", "--arg", "k=1", "--static", "n=1"],
     "dpc: error: --dim n=4: --static n=1 fixes it already; give one of the two\n"),
    (["run", "{prog}", "wsq", "--arg", "x=[1.0, 2.0]", "--arg", "w=1.0", "--arg", "k=1",
      "--static", "n=1"],
     "dpc: error: argument x must be f64[1]: axis 0 has size 2, not 1\n"),
    (["run", "{prog}", "wsq", "--arg", "x=@/dev/null"],
     "dpc: error: cannot load /dev/null for argument x: No data left in file\n"),
    (["run", "{prog}", "wsq", "--arg", "x=@{prog}"],  # np.load said it held pickled data
     "dpc: error: cannot load {prog} for argument x: it is not a .npy file (np.save writes "
     "one)\n"),
    (["run", "{prog}", "wsq", "--arg", "x=@{prog}.missing"],
     "dpc: error: cannot load {prog}.missing for argument x: No such file or directory\n"),
    # an empty name is the current directory to the OS: 'cannot read : Is a directory'
    (["check", ""], "dpc: error: FILE: the file name is empty\n"),
    (["run", "{prog}", "wsq", "--arg", "x=@"], "dpc: error: --arg x=@: the file name is empty\n"),
    (["build", "{prog}", "-o", ""], "dpc: error: -o: the file name is empty\n"),
    (["run", "{prog}", "wsq", "--arg", "x=@{prog}.npz"],  # an archive reached the call
     "dpc: error: cannot load {prog}.npz for argument x: it is not a .npy file (np.save "
     "writes one)\n"),
    (["run", "{prog}", "wsq", "--arg", "x=[1.0]", "--arg", "w=1.0", "--arg", f"k={2**64 + 5}"],
     f"dpc: error: --arg k={2**64 + 5}: argument k is {2**64 + 5}, outside the range of i64 "
     f"([-2**63, 2**63 - 1])\n"),
])
def test_command_errors(prog, capsys, argv, message):
    np.savez(f"{prog}.npz", x=np.zeros(2))
    status, out, err = dpc(capsys, *[a.format(prog=prog) for a in argv])
    assert (status, out) == (1, "")
    assert err == message.format(prog=prog)


def npy_declaring(path, shape: int, data: bytes) -> None:
    """A .npy file whose header declares `shape` f64 elements, followed by `data`."""
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (%d,), }" % shape
    header = header.ljust(117) + "\n"
    path.write_bytes(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little")
                     + header.encode() + data)


@pytest.mark.parametrize("declared,text", [
    (10**12, "(1000000000000,) and float64 (8,000,000,000,000 bytes)"),  # np.load: MemoryError
    (10**20, "(100000000000000000000,) and float64 (800,000,000,000,000,000,000 bytes)"),
    (9, "(9,) and float64 (72 bytes)"),  # np.load: "could only read 8 elements"
])
def test_a_npy_file_shorter_than_its_header_says(prog, tmp_path, capsys, declared, text):
    # a traceback (MemoryError, OverflowError) when the declared size was beyond memory
    path = tmp_path / "short.npy"
    npy_declaring(path, declared, bytes(64))
    assert dpc(capsys, "run", prog, "wsq", "--arg", f"x=@{path}") == (
        1, "", f"dpc: error: cannot load {path} for argument x: its header declares an array "
               f"of shape {text}, but the file holds 64 bytes of data\n")


def test_a_npy_file_beyond_memory(prog, tmp_path, capsys, monkeypatch):
    np.save(tmp_path / "a.npy", np.zeros(3))

    def no_memory(*args, **kwargs):
        raise MemoryError
    monkeypatch.setattr(np, "load", no_memory)
    assert dpc(capsys, "run", prog, "wsq", "--arg", f"x=@{tmp_path / 'a.npy'}") == (
        1, "", f"dpc: error: cannot load {tmp_path / 'a.npy'} for argument x: its array does "
               f"not fit in memory\n")


KINDS = """\
def total(k: i64[n]) -> i64:
    return sum(k)

def flip(b: bool[n]) -> bool[n]:
    return [not b[i] for i in range(n)]

def first(q: f64[?]) -> f64:
    return q[0]
"""


@pytest.mark.parametrize("argv,message", [
    # the calling convention's "(convert it explicitly if that is intended)": nothing to convert
    (["total", "--arg", "k=[1.0, 2]"],
     "argument k is i64[n]: write its elements without a decimal point (1, not 1.0)"),
    (["total", "--arg", "k=[1, 2.5]"], "argument k is i64[n], and 2.5 is not an integer"),
    (["total", "--arg", "k=[[nan]]"], "argument k is i64[n], and nan is not an integer"),
    (["total", "--arg", "k=[1e300]"],
     "argument k is i64[n], and 1e+300 is outside the range of i64 ([-2**63, 2**63 - 1])"),
    (["flip", "--arg", "b=[1, 0]"], "argument b is bool[n]: write its elements true or false, got 1"),
    # "got an array of rank 0 with shape ()": the user gave a number
    (["total", "--arg", "k=3"], "argument k is i64[n], an array: write it as a list, as in [3]"),
    # "give the size of ? with --dim ?=INT", which --dim refuses
    (["first", "--random", "0"],
     "argument q is f64[?], of a size no dimension names, so --random cannot make it; give it "
     "with --arg q=VALUE"),
])
def test_arguments_written_as_another_kind(tmp_path, capsys, argv, message):
    path = tmp_path / "kinds.dp"
    path.write_text(KINDS)
    assert dpc(capsys, "run", path, *argv) == (1, "", f"dpc: error: {message}\n")


def test_a_list_argument_is_read_as_the_python_api_reads_it(tmp_path, capsys):
    # the CLI made a NumPy array of the list first: of dtype object for an int beyond i64
    # and float64 for an empty list, which the parameters below refused
    path = tmp_path / "lists.dp"
    path.write_text("def total(x: f64[n]) -> f64:\n    return sum(x)\n\n"
                    "def count(k: i64[n, m]) -> i64:\n    return n * 10 + m\n")
    assert dpc(capsys, "run", path, "total", "--arg", f"x=[{2**70}, 1]") == (
        0, f"{2.0**70 + 1}\n", "")
    assert dpc(capsys, "run", path, "count", "--arg", "k=[[], []]") == (0, "20\n", "")
    assert dpc(capsys, "run", path, "count", "--arg", f"k=[[{2**70}]]") == (
        1, "", f"dpc: error: --arg k=[[{2**70}]]: argument k's element is {2**70}, outside "
               f"the range of i64 ([-2**63, 2**63 - 1])\n")


def test_check_ok(prog, capsys):
    assert dpc(capsys, "check", prog) == (0, f"{prog}: ok, 3 functions: wsq, scale, both\n", "")


def test_check_makes_no_native_code(prog, tmp_path, monkeypatch, capsys):
    # it ran the optimizer and LLVM (54 s for 1000 small functions, 0.6 s to check them)
    # and wrote the native code to the cache
    cache = tmp_path / "cache"
    monkeypatch.setenv("DPC_CACHE", "1")
    monkeypatch.setenv("DPC_CACHE_DIR", str(cache))
    assert dpc(capsys, "check", prog)[0] == 0
    assert not cache.exists() or not any(cache.iterdir())
    assert dpc(capsys, "run", prog, "wsq", "--random", "0", "--dim", "n=2", "--arg", "k=1")[0] == 0
    assert any(cache.iterdir())  # where the cache is written


def test_a_file_without_functions(tmp_path, capsys):
    # said 'ok, 0 functions: ' and '(functions: )'
    path = tmp_path / "empty.dp"
    path.write_text("# nothing yet\n")
    assert dpc(capsys, "check", path) == (0, f"{path}: ok, 0 functions\n", "")
    assert dpc(capsys, "run", path, "f") == (
        1, "", f"dpc: error: no function 'f' in {path} (it defines none)\n")


def test_a_file_that_is_not_utf8_is_a_compile_error_at_the_byte(tmp_path, capsys):
    # the CLI said 'cannot read: it is not UTF-8 text', and compile_file raised
    # UnicodeDecodeError; the locale's encoding read a UTF-8 file otherwise
    path = tmp_path / "latin1.dp"
    path.write_bytes("def f(x: f64) -> f64:\n    # caf\u00e9 \u2264\n    return x\n"
                     .encode("latin-1", errors="replace"))
    message = (f"{path}:2:10: error: byte 0xe9 is not UTF-8 text; save the file as UTF-8\n"
               f" 2 |     # caf\ufffd ?\n"
               f"   |          ^")
    assert dpc(capsys, "check", path) == (1, "", message + "\n")
    with pytest.raises(SyntaxErrorDP) as err:
        compile_file(path)
    assert str(err.value) == message
    path.write_bytes("def f(x: f64) -> f64:\n    return x  # \u2264\n".encode())
    assert compile_file(path, backend="interp").f(2.0) == 2.0


def test_ir_stages(prog, capsys):
    status, out, _ = dpc(capsys, "ir", prog, "--fn", "wsq", "--stage", "source")
    assert (status, out) == (0, "# Weighted sum of squares.\ndef wsq(x: f64[n], w: f64, k: i64) -> f64:\n"
                                "    return w * sum(x * x) + float(k)\n")
    for made in (["--derivative", "grad"], ["--static", "k=2"]):  # they printed their IR
        name = "wsq.grad" if made[0] == "--derivative" else "wsq.static.k2"
        assert dpc(capsys, "ir", prog, "--fn", "wsq", "--stage", "source", *made) == (
            1, "", f"dpc: error: '{name}' is made by the compiler (a derivative or a "
                   f"specialization) and has no source text; its IR starts at stage 'ir'\n")
    status, out, _ = dpc(capsys, "ir", prog, "--fn", "wsq")
    assert status == 0
    assert out == (
        "func @wsq(%x: f64[n], %w: f64, %k: i64) -> f64 {\n"
        "  %0 = mul %x, %x : f64[n]\n"
        "  %1 = reduce_sum %0 : f64\n"
        "  %2 = mul %w, %1 : f64\n"
        "  %3 = to_f64 %k : f64\n"
        "  %4 = add %2, %3 : f64\n"
        "  return %4\n"
        "}\n")


def test_ir_locations_name_the_source_place_of_every_op(prog, capsys, monkeypatch):
    monkeypatch.chdir(prog.parent)
    status, out, err = dpc(capsys, "ir", "prog.dp", "--fn", "wsq", "--locations")
    assert (status, err) == (0, "")
    assert out == (
        "func @wsq(%x: f64[n], %w: f64, %k: i64) -> f64 {\n"
        '  %0 = mul %x, %x : f64[n] loc("prog.dp":3:22)\n'
        '  %1 = reduce_sum %0 : f64 loc("prog.dp":3:16)\n'
        '  %2 = mul %w, %1 : f64 loc("prog.dp":3:14)\n'
        '  %3 = to_f64 %k : f64 loc("prog.dp":3:29)\n'
        '  %4 = add %2, %3 : f64 loc("prog.dp":3:27)\n'
        '  return %4 loc("prog.dp":3:5)\n'
        "}\n")
    # The adjoint of x * x, after optimization, still points at x * x.
    status, out, _ = dpc(capsys, "ir", "prog.dp", "--fn", "wsq", "--derivative", "grad",
                         "--wrt", "x", "--stage", "opt", "--locations")
    assert status == 0 and '  %x_bar = add %6, %9 : f64[n] loc("prog.dp":3:22)\n' in out
    for derivative, returned in (("grad", "%4, %x_bar"), ("jvp", "%18, %16")):  # at wsq's return
        status, out, _ = dpc(capsys, "ir", "prog.dp", "--fn", "wsq", "--derivative", derivative,
                             "--wrt", "x", "--stage", "ad", "--locations")
        assert status == 0 and f'  return {returned} loc("prog.dp":3:5)\n' in out
    status, out, _ = dpc(capsys, "ir", "prog.dp", "--dump-after", "dce", "--locations")
    assert status == 0 and '  %2 = mul %w, %1 : f64 loc("prog.dp":3:14)\n' in out


@pytest.mark.parametrize("argv, shown", [(["--stage", "source"], "stage 'source'"),
                                         (["--stage", "llvm"], "stage 'llvm'"),
                                         (["--format", "dot"], "format 'dot'")])
def test_ir_locations_are_refused_where_there_are_no_op_lines(prog, capsys, argv, shown):
    assert dpc(capsys, "ir", prog, "--fn", "wsq", "--locations", *argv) == (
        1, "", "dpc: error: locations are printed in the text of the IR stages (ir, ad, opt, "
               f"scalar), not in {shown}\n")
    assert dpc(capsys, "ir", prog, "--fn", "wsq", "--locations", "--stats") == (
        1, "", "dpc: error: --locations does not go with --stats alone: it marks the op lines "
               "of printed IR, and --stats prints counts; add --dump-after PASS to see both\n")


def test_help_is_useful(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for command in ("check", "ir", "run", "grad", "gradcheck"):
        assert command in out
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = capsys.readouterr().out
    assert "--arg NAME=VALUE" in out and "--random SEED" in out and "--dim N=INT" in out


def test_an_unknown_option_is_reported_with_its_commands_usage(prog, capsys):
    # `build` has no --static: the error names the command and shows its options
    # (argparse's parse_args printed dpc's own usage, "dpc [-h] COMMAND ...")
    with pytest.raises(SystemExit) as exit_:
        main(["build", str(prog), "-o", "out.so", "--static", "n=3"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: dpc build [-h] -o OUT")
    assert err.endswith("dpc build: error: unrecognized arguments: --static n=3\n")
    with pytest.raises(SystemExit):
        main(["check", str(prog), "extra"])
    assert capsys.readouterr().err == (
        "usage: dpc check [-h] file\ndpc check: error: unrecognized arguments: extra\n")


def test_grad_prints_value_and_gradient_per_parameter(prog, capsys):
    status, out, err = dpc(capsys, "grad", prog, "wsq", "--arg", "x=[1.0, 2.0]", "--arg",
                           "w=0.5", "--arg", "k=3")
    assert (status, err) == (0, "")
    assert out == "value: 5.5\ngrad x: [1.0, 2.0]\ngrad w: 5.0\n"
    status, out, _ = dpc(capsys, "grad", prog, "wsq", "--arg", "x=[1.0, 2.0]", "--arg",
                         "w=0.5", "--arg", "k=3", "--wrt", "w")
    assert (status, out) == (0, "value: 5.5\ngrad w: 5.0\n")


def test_lse_gradient_from_the_command_line(capsys):
    status, out, _ = dpc(capsys, "grad", "examples/lse.dp", "lse", "--arg", "x=[1.0, 2.0, 3.0]")
    x = np.array([1.0, 2.0, 3.0])
    softmax = np.exp(x - 3.0) / np.exp(x - 3.0).sum()
    value_line, grad_line = out.splitlines()
    assert status == 0 and value_line == "value: 3.4076059644443806"
    np.testing.assert_allclose(eval(grad_line.removeprefix("grad x: ")), softmax, rtol=1e-15)


@pytest.mark.parametrize("argv,message", [
    (["grad", "{prog}", "both", "--arg", "x=[1.0]"],  # named as asked, not value_and_grad
     "dpc: error: grad(both): grad needs a function returning f64, 'both' returns (f64, i64)\n"),
    (["gradcheck", "{prog}", "both", "--arg", "x=[1.0]"],
     "dpc: error: grad(both): grad needs a function returning f64, 'both' returns (f64, i64)\n"),
    (["grad", "{prog}", "wsq", "--random", "0", "--dim", "n=2", "--arg", "k=1", "--wrt", "k"],
     "dpc: error: cannot differentiate with respect to 'k': it is i64, not f64\n"),
    (["gradcheck", "{prog}", "wsq", "--random", "0", "--dim", "n=2", "--arg", "k=1", "--wrt",
      "q"], "dpc: error: 'q' is not a parameter of 'wsq' (its parameters are x, w, k)\n"),
])
def test_derivative_command_errors(prog, capsys, argv, message):
    status, out, err = dpc(capsys, *[a.format(prog=prog) for a in argv])
    assert (status, out, err) == (1, "", message.format(prog=prog))


@pytest.mark.parametrize("argv,message", [
    (["grad", "{prog}", "scale", "--arg", "a=[[1.0, 2.0]]", "--arg", "s=2.0", "--static", "m=2"],
     "dpc: error: grad(scale): grad needs a function returning f64, 'scale' with --static m=2 "
     "returns f64[n, 2] (for an array result, use mod.vjp or mod.jvp from Python)\n"),
    (["grad", "{prog}", "wsq", "--arg", "x=[1.0]", "--arg", "w=1.0", "--static", "k=2",
      "--static", "n=1", "--wrt", "k"],
     "dpc: error: 'k' is not a parameter of 'wsq' with --static k=2, n=1 (its parameters are "
     "x, w)\n"),
    (["ir", "{prog}", "--fn", "both", "--static", "n=2", "--derivative", "hessian"],
     "dpc: error: hessian(both): a Hessian needs a function returning f64, 'both' with "
     "--static n=2 returns (f64, i64)\n"),
])
def test_derivative_errors_name_the_function_that_static_specialized(prog, capsys, argv,
                                                                      message):
    # they named the specialized function, scale.static.m1, which the user never wrote
    status, out, err = dpc(capsys, *[a.format(prog=prog) for a in argv])
    assert (status, out, err) == (1, "", message)


def test_gradcheck_note_names_the_function_that_static_specialized(tmp_path, capsys):
    path = tmp_path / "nan.dp"
    path.write_text("def f(x: f64[n], k: i64) -> f64:\n    return sum(x) / 0.0 * float(k)\n")
    status, out, _ = dpc(capsys, "gradcheck", path, "f", "--arg", "x=[1.0]", "--static", "k=0")
    assert status == 1
    assert out.splitlines()[0] == ("note: 'f' with --static k=0 is nan at these arguments, so "
                                   "the differences cannot be checked there")


def test_gradcheck_reports_the_largest_error_per_parameter(prog, capsys):
    status, out, _ = dpc(capsys, "gradcheck", prog, "wsq", "--random", "0", "--dim", "n=5",
                         "--arg", "k=2")
    lines = out.splitlines()
    assert status == 0
    assert lines[0].split() == ["parameter", "elements", "max", "rel.", "error"]
    assert [line.split()[:2] for line in lines[1:3]] == [["x", "5/5"], ["w", "1/1"]]
    assert all(float(line.split()[2]) < 1e-8 for line in lines[1:3])
    assert lines[3].startswith("ok: largest relative error ")


def test_gradcheck_catches_a_wrong_custom_derivative(tmp_path, capsys):
    path = tmp_path / "wrong.dp"
    path.write_text("def f(x: f64) -> f64:\n    return x * x\n\n"
                    "@derivative(f)\ndef f_vjp(x: f64, ct: f64) -> f64:\n    return 3.0 * x * ct\n")
    status, out, _ = dpc(capsys, "gradcheck", path, "f", "--arg", "x=2.0")
    assert status == 1
    assert out.splitlines()[1].split() == ["x", "1/1", f"{2.0 / 10.0:.2e}"]  # |6 - 4| / 10
    assert out.splitlines()[2].startswith("FAILED: largest relative error 2.00e-01 (above")


def test_gradcheck_catches_a_wrong_derivative_near_the_largest_f64(tmp_path, capsys):
    # |ad| + |fd| was inf, and the error 7e307 / inf = 0: "ok"
    path = tmp_path / "huge.dp"
    path.write_text("def f(x: f64) -> f64:\n    return 1.0e308 * x\n\n"
                    "@derivative(f)\ndef f_vjp(x: f64, ct: f64) -> f64:\n    return ct * 1.7e308\n")
    status, out, _ = dpc(capsys, "gradcheck", path, "f", "--arg", "x=1.0")
    assert status == 1
    assert out.splitlines()[1].split() == ["x", "1/1", f"{0.7 / 2.7:.2e}"]


def test_gradcheck_says_where_a_finite_difference_step_makes_the_function_fail(tmp_path, capsys):
    # it printed the function's own error, 'x must be positive', for an x that is
    path = tmp_path / "steps.dp"
    path.write_text('def f(x: f64) -> f64:\n    assert x > 0.0, "x must be positive"\n'
                    '    return x * x\n\n'
                    'def h(a: f64[2, 2]) -> f64:\n    assert a[1, 0] < 1.0, "too big"\n'
                    '    return sum(a)\n')
    assert dpc(capsys, "gradcheck", path, "f", "--arg", "x=1e-9")[::2] == (
        1, "dpc: error: the function fails at x = -9.99e-07, a finite-difference step from "
           f"the argument: x must be positive (at {path}:2:5); a smaller --eps stays closer "
           "to the argument\n")
    assert dpc(capsys, "gradcheck", path, "h", "--arg", "a=[[0, 0], [0.9999999, 0]]")[::2] == (
        1, "dpc: error: the function fails at a[1, 0] = 1.0000009, a finite-difference step "
           f"from the argument: too big (at {path}:6:5); a smaller --eps stays closer to the "
           "argument\n")
    assert dpc(capsys, "gradcheck", path, "f", "--arg", "x=1e-9", "--eps", "1e-12")[0] == 0


def test_ir_stage_ad_shows_the_generated_reverse_function(tmp_path, capsys):
    path = tmp_path / "g.dp"
    path.write_text("def f(x: f64) -> f64:\n    return x * x\n\n"
                    "def g(x: f64) -> f64:\n    return grad(f)(x)\n")
    status, out, _ = dpc(capsys, "ir", path, "--fn", "g", "--stage", "ad")
    assert status == 0
    assert out.startswith("func @g(%x: f64) -> f64 {\n  %0 = const 1.0 : f64\n"
                          "  %1, %2 = call %x, %0 {callee = @f.rev} : f64, f64\n")
    assert "\nfunc @f.rev(%x: f64, %ct: f64) -> (f64, f64) {\n" in out


@pytest.mark.parametrize("derivative, wrt, stage", [("grad", "x", "opt"), ("hvp", None, "ad"),
                                                   ("jvp", "w", "scalar"), ("vjp", "x,w", "ir"),
                                                   ("hessian", "x", "opt"), ("jacrev", "w", "ad")])
def test_ir_of_a_derivative_is_what_python_compiles(prog, capsys, derivative, wrt, stage):
    from compiler import compile_file
    argv = ["ir", prog, "--fn", "wsq", "--derivative", derivative, "--stage", stage]
    status, out, err = dpc(capsys, *argv, *(["--wrt", wrt] if wrt else []))
    mod = compile_file(prog)
    wrt = wrt.split(",") if wrt else None
    derived = (mod._derivative(derivative, "wsq", wrt) if derivative in ("hessian", "jacrev")
               else getattr(mod, derivative)("wsq", wrt))
    assert (status, out, err) == (0, mod.ir(derived, stage=stage), "")
    assert out.startswith(f"func @{derived.name}(")


@pytest.mark.parametrize("argv, message", [
    (["--derivative", "grad"], "--derivative needs --fn: the function to differentiate"),
    (["--fn", "wsq", "--wrt", "x"], "--wrt needs --derivative: the derivative to take"),
    (["--fn", "scale", "--derivative", "grad"],
     "grad(scale): grad needs a function returning f64, 'scale' returns f64[n, m] (for an array "
     "result, use --derivative vjp or jvp)"),
    (["--fn", "wsq", "--derivative", "grad", "--wrt", "k"],
     "cannot differentiate with respect to 'k': it is i64, not f64"),
    (["--fn", "wsq", "--derivative", "grad", "--wrt", "x,"],
     "--wrt takes parameter names separated by commas, got 'x,'"),
    (["--fn", "wsq", "--wrt", ""], "--wrt needs --derivative: the derivative to take"),
    # a traceback (jacrev), a message about storing i64 in f64 (jacfwd): mod.jacobian's words
    (["--fn", "both", "--derivative", "jacrev"],
     "jacrev(both): result 1 is i64; a Jacobian needs f64 results"),
    (["--fn", "both", "--derivative", "jacfwd"],
     "jacfwd(both): result 1 is i64; a Jacobian needs f64 results"),
])
def test_ir_of_a_derivative_errors(prog, capsys, argv, message):
    assert dpc(capsys, "ir", prog, *argv) == (1, "", f"dpc: error: {message}\n")


@pytest.mark.parametrize("n", [1, 2])
def test_random_arrays_take_the_size_of_a_static_dimension(prog, capsys, n):
    # with n = 1, which stays a name in the types, --random asked for --dim n=INT
    status, out, err = dpc(capsys, "run", prog, "wsq", "--random", "0", "--arg", "k=0",
                           "--arg", "w=1.0", "--static", f"n={n}")
    generic = dpc(capsys, "run", prog, "wsq", "--random", "0", "--arg", "k=0", "--arg", "w=1.0",
                  "--dim", f"n={n}")
    assert (status, out, err) == generic
    assert status == 0 and err == ""
    # a --dim that agrees with --static says the same twice: no error
    both = dpc(capsys, "run", prog, "wsq", "--random", "0", "--arg", "k=0", "--arg", "w=1.0",
               "--static", f"n={n}", "--dim", f"n={n}")
    assert both == generic


def test_a_static_parameter_may_be_called_name(tmp_path, capsys):
    path = tmp_path / "n.dp"
    path.write_text("def f(x: f64[n], name: i64) -> f64:\n    return sum(x) * float(name)\n")
    assert dpc(capsys, "run", path, "f", "--arg", "x=[1.0, 2.0]", "--static", "name=3") == \
        (0, "9.0\n", "")


@pytest.mark.parametrize("option,value,message", [
    ("--eps", "0", "must be a number greater than 0, not 0"),
    ("--eps", "nan", "must be a number greater than 0, not nan"),
    ("--samples", "-1", "must be a number greater than 0, not -1"),
    ("--samples", "two", "'two' is not an integer"),
    ("--tol", "-1", "must be a number 0 or more, not -1"),  # which every check would fail
])
def test_gradcheck_options_are_checked(prog, capsys, option, value, message):
    # argparse's own usage error (status 2), not a traceback from inside the check
    with pytest.raises(SystemExit) as exit:
        main(["gradcheck", str(prog), "wsq", "--random", "0", "--dim", "n=2", "--arg", "k=1",
              option, value])
    assert exit.value.code == 2
    assert capsys.readouterr().err.endswith(f"dpc gradcheck: error: argument {option}: {message}\n")


def test_the_examples_in_the_help_run(capsys, monkeypatch):
    # `dpc --help` shows them: each must work as printed, from the project root
    from compiler.cli import DESCRIPTION
    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    lines = DESCRIPTION.replace("\\\n", " ").split("examples:")[1].strip().splitlines()
    assert len(lines) == 7
    for line in lines:
        status, _, err = dpc(capsys, *shlex.split(line)[1:])
        assert (status, err) == (0, ""), line


def test_bench_prints_medians_and_their_ratio(prog, capsys, monkeypatch):
    import compiler.cli as cli
    timed = {}

    def fake_median_times(fns, seconds):
        timed.update(fns=sorted(fns), seconds=seconds, results=[fn() for fn in fns.values()])
        return {"primal": (2.5e-6, 40), "gradient": (7.0e-6, 40)}

    monkeypatch.setattr(cli, "median_times", fake_median_times)
    status, out, err = dpc(capsys, "bench", prog, "wsq", "--arg", "x=[1.0, 2.0]", "--arg", "w=0.5",
                           "--arg", "k=3", "--seconds", "0.5")
    assert (status, err) == (0, "")
    assert out == ("primal               2.5 us   (median of 40 samples)\n"
                   "gradient               7 us   (median of 40 samples)\n"
                   "gradient/primal        2.80\n")
    # what was timed: wsq itself, and its gradient with respect to x and w
    value, (gx, gw) = timed["results"]
    assert (timed["fns"], timed["seconds"]) == (["gradient", "primal"], 0.5)
    assert value == 5.5 and gx.tolist() == [1.0, 2.0] and gw == 5.0


def test_bench_times_for_real(prog, capsys):
    status, out, _ = dpc(capsys, "bench", prog, "wsq", "--random", "0", "--dim", "n=100",
                         "--arg", "k=2", "--seconds", "0.05")
    lines = out.splitlines()
    assert status == 0 and [line.split()[0] for line in lines] == ["primal", "gradient",
                                                                    "gradient/primal"]
    assert float(lines[2].split()[1]) > 0


def test_median_times_takes_samples_in_turns():
    from compiler.timing import MIN_SAMPLES, median_times
    calls = []
    times = median_times({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, 0.0)
    assert {name: n for name, (_, n) in times.items()} == {"a": MIN_SAMPLES, "b": MIN_SAMPLES}
    assert all(t > 0 for t, _ in times.values())
    # after each one's warm-up and calibration calls, batches alternate a, b, a, b, ...
    batches = [name for k, name in enumerate(calls) if k == 0 or calls[k - 1] != name]
    assert batches[-2 * MIN_SAMPLES:] == ["a", "b"] * MIN_SAMPLES


SIZED = """\
def f(x: f64[n], k: i64) -> f64:
    z = zeros(k)
    return sum(z) + x[0]

def ramp(x: f64[n], k: i64) -> f64[?]:
    return arange(k) * x[0]
"""


def test_static_integer_that_sizes_arrays(tmp_path, capsys):
    path = tmp_path / "sized.dp"
    path.write_text(SIZED)
    for how in ("--arg", "--static"):  # the same output, generic or specialized
        assert dpc(capsys, "run", path, "f", "--arg", "x=[1.0, 2.0]", how, "k=3") == (
            0, "1.0\n", "")
        assert dpc(capsys, "grad", path, "f", "--arg", "x=[1.0, 2.0]", how, "k=3") == (
            0, "value: 1.0\ngrad x: [1.0, 0.0]\n", "")
        assert dpc(capsys, "run", path, "ramp", "--arg", "x=[2.0, 2.0]", how, "k=3") == (
            0, "[0.0, 2.0, 4.0]\n", "")
    status, out, _ = dpc(capsys, "ir", path, "--fn", "ramp", "--static", "k=3")
    assert status == 0
    assert out.startswith("func @ramp.static.k3(%x: f64[n]) -> f64[3] {\n")
    assert "  %0 = arange %k : i64[3]\n" in out


def test_a_reader_that_stops_early_ends_dpc_quietly():
    # dpc ir ... | head: the write after head exits raised BrokenPipeError, a traceback
    import subprocess
    import sys
    root = Path(__file__).resolve().parents[2]
    dpc_ir = subprocess.Popen([sys.executable, "-m", "compiler.cli", "ir", "examples/gmm.dp",
                               "--dump-after-all"], cwd=root, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    assert dpc_ir.stdout.readline() == "// ----- after inline_calls\n"
    dpc_ir.stdout.close()  # more than a pipe holds is still to come
    assert (dpc_ir.stderr.read(), dpc_ir.wait()) == ("", 1)


def test_gradcheck_skips_elements_that_are_not_finite(capsys):
    # x + step at x = -inf is nan: the check printed NumPy's RuntimeWarning and FAILED
    # a right gradient
    status, out, err = dpc(capsys, "gradcheck", "examples/lse.dp", "lse", "--arg",
                           "x=[1.0, -inf, 2.0]")
    lines = out.splitlines()
    assert (status, err) == (0, "")
    assert lines[0] == ("note: 1 element of x is not finite: finite differences cannot be "
                        "taken there, so it is not checked")
    assert lines[2].split()[:2] == ["x", "2/3"]


ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
@pytest.mark.parametrize("argv", [["check", "examples/lse.dp"], ["ir", "examples/lse.dp"]])
def test_an_output_that_cannot_be_written_is_an_error(argv):
    # > /dev/full: an OSError traceback from print or from the flush at exit
    import subprocess
    import sys
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "compiler.cli", *argv], cwd=ROOT,
                              stdout=full, stderr=subprocess.PIPE, text=True)
    assert (done.returncode, done.stderr) == (
        1, "dpc: error: cannot write the output: No space left on device\n")


def test_a_closed_stdout_is_an_error():
    # dpc run ... >&-: AttributeError: 'NoneType' object has no attribute 'flush'
    import subprocess
    import sys
    done = subprocess.run(["sh", "-c", 'exec "$0" -m compiler.cli run examples/lse.dp lse '
                           '--arg "x=[1.0, 2.0]" >&-', sys.executable], cwd=ROOT,
                          stderr=subprocess.PIPE, text=True)
    assert (done.returncode, done.stderr) == (
        1, "dpc: error: cannot write the output: Bad file descriptor\n")


def test_ctrl_c_during_bench_ends_dpc_quietly(prog, capsys, monkeypatch):
    # a KeyboardInterrupt traceback; shells give a command that SIGINT ended status 130
    import compiler.cli as cli

    def interrupted(fns, seconds):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "median_times", interrupted)
    try:
        ended = dpc(capsys, "bench", prog, "wsq", "--random", "0", "--dim", "n=3", "--arg",
                    "k=2")
    except KeyboardInterrupt:  # not to pytest, which would stop the session
        pytest.fail("the KeyboardInterrupt escaped dpc's main")
    assert ended == (130, "", "\n")


FOREVER = """\
def forever(x: f64) -> f64:
    s = x
    i = 0
    while i < 1:
        s = s * 0.5 + 1.0
    return s
"""


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_ctrl_c_ends_dpc_even_inside_native_code(tmp_path):
    # a native call held the signal until it returned: a loop that never ends could not
    # be stopped with Ctrl-C at all
    import signal
    import subprocess
    import time
    (tmp_path / "forever.dp").write_text(FOREVER)
    process = subprocess.Popen(
        [sys.executable, "-m", "compiler.cli", "run", str(tmp_path / "forever.dp"), "forever",
         "--arg", "x=1.0"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    start = time.monotonic()  # 3 s of CPU: imported, compiled (< 1 s), spinning natively
    while cpu_seconds(process.pid) < 3.0 and time.monotonic() - start < 60:
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    try:
        out, err = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail("dpc kept running after Ctrl-C")
    assert (process.returncode, out, err) == (130, "", "\n")


MATRICES = """\
def mm(a: f64[n, m], b: f64[m, k]) -> f64[n, k]:
    return a @ b

def total(x: f64[n]) -> f64:
    return sum(x)
"""


@pytest.mark.parametrize("argv, message", [
    # b was blamed for a's size, as m=1 was checked against a first
    (["mm", "--static", "m=1", "--arg", "a=[[1, 5], [2, 5]]", "--arg", "b=[[3, 4]]"],
     "dpc: error: argument a must be f64[n, 1]: axis 1 has size 2, not 1\n"),
    (["mm", "--static", "m=2", "--arg", "a=[[1, 5, 3], [2, 5, 3]]", "--arg", "b=[[3, 4], [1, 1]]"],
     "dpc: error: argument a must be f64[n, 2]: axis 1 has size 3, not 2\n"),
    # a run-time error, where --static n=3 gave a command-line one
    (["total", "--static", "n=1", "--arg", "x=[1, 2]"],
     "dpc: error: argument x must be f64[1]: axis 0 has size 2, not 1\n"),
    (["total", "--static", "n=3", "--arg", "x=[1, 2]"],
     "dpc: error: argument x must be f64[3]: axis 0 has size 2, not 3\n"),
])
def test_a_static_size_of_1_checks_arrays_as_any_other_size(tmp_path, capsys, argv, message):
    path = tmp_path / "mm.dp"
    path.write_text(MATRICES)
    assert dpc(capsys, "run", path, *argv) == (1, "", message)


def test_a_static_size_of_1_runs(tmp_path, capsys):
    path = tmp_path / "mm.dp"
    path.write_text(MATRICES)
    assert dpc(capsys, "run", path, "mm", "--static", "m=1", "--arg", "a=[[1], [2]]", "--arg",
               "b=[[3, 4]]") == (0, "[[3.0, 4.0], [6.0, 8.0]]\n", "")


def test_an_error_in_a_long_line_shows_the_part_around_the_caret(tmp_path, capsys):
    # the whole line (of a generated 20,000-term sum: 100 KB) was printed above the caret
    path = tmp_path / "long.dp"
    terms = " + ".join(["x"] * 2000)
    path.write_text(f"def f(x: f64) -> f64:\n    return {terms} + y + {terms}\n")
    status, out, err = dpc(capsys, "check", path)
    assert (status, out) == (1, "")
    assert err == (f"{path}:2:8012: error: unknown name 'y'\n"
                   f" 2 | ...{'+ x ' * 12}+ y{' + x' * 12} ...\n"
                   f"   | {' ' * 53}^\n")


READS_PAST_THE_END = """\
def f(x: f64[n], k: i64) -> f64:
    s = 0.0
    for i in range(n):
        s += x[i] * x[i + k]
    return s
"""


def test_a_run_time_error_shows_its_line_as_a_compile_error_does(tmp_path, capsys):
    # it said 'runtime error: index 3 is out of bounds ... (at c.dp:4:22)' and showed no
    # line, where README promises every error the line and a caret
    path = tmp_path / "c.dp"
    path.write_text(READS_PAST_THE_END)
    for command in ("run", "grad"):
        assert dpc(capsys, command, path, "f", "--arg", "x=[1,2,3]", "--arg", "k=1") == (
            1, "", f"{path}:4:22: run-time error: index 3 is out of bounds for axis 0 of x "
                   f"with size 3\n 4 |         s += x[i] * x[i + k]\n   |                      ^\n")
