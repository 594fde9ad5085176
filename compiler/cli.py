"""The `dpc` command line. `dpc --help` lists the commands; each has its own --help.

Exit status: 0 on success, 1 for an error in the program (compile or run time) or in the
command's arguments, 2 for a usage error. Errors go to stderr, results to stdout.
"""

from __future__ import annotations

import argparse
import ast
import errno
import math
import os
import re
import signal
import sys
import threading

import numpy as np

from ir import ArrayType, RuntimeErrorDP
from ir.calling import DimensionPlan, coerce_argument, prepare_arguments
from ir.errors import count
from ir.types import DYN, sized

from . import gradbench
from .derivatives import DENSE
from .diagnostics import CompileError, located, source_lines
from .driver import BUILD_KINDS, STAGES, compile_source, pass_names, read_program
from .timing import format_seconds, median_times

DESCRIPTION = """\
dpc compiles .dp programs: a small, statically typed array language with Python syntax,
made for differentiation. Write functions in a .dp file, check them, read their IR, and
run them on numbers or arrays.

examples:
  dpc check examples/lse.dp
  dpc ir examples/lse.dp --fn lse
  dpc run examples/lse.dp lse --arg "x=[1.0, 2.0, 3.0]"
  dpc run examples/mlp.dp mlp_loss --random 0 --dim n=8 --dim d=4 --dim h=16 --dim o=3
  dpc grad examples/lse.dp lse --arg "x=[1.0, 2.0, 3.0]"
  dpc gradcheck examples/gmm.dp gmm --random 0 --dim k=3 --dim d=2 --dim t=3 --dim n=5 \\
      --arg gamma=1.0 --arg m=0
  dpc ir examples/lse.dp --fn lse --stage ad
"""


class UserError(Exception):
    """A mistake in the command's arguments; printed without a traceback."""


def named(path: str, what: str) -> str:
    """path, if it names a file: the OS takes an empty name for the current directory, and
    the error said 'cannot read : Is a directory'."""
    if not path:
        raise UserError(f"{what}: the file name is empty")
    return path


def read_source(path: str) -> str:
    named(path, "FILE")
    try:
        return read_program(path)
    except OSError as e:
        raise UserError(f"cannot read {path}: {e.strerror or e}") from None


def cmd_check(args) -> int:
    # parse, check and differentiate (what can fail to compile), but no native code
    module = compile_source(read_source(args.file), args.file, backend="interp")
    names = module.function_names
    print(f"{args.file}: ok, {count(len(names), 'function')}" + (": " if names else "")
          + ", ".join(names))
    return 0


def compile_file_of(args):
    """args.file compiled with the code options (--fast-math, --unchecked)."""
    return compile_source(read_source(args.file), args.file, fast_math=args.fast_math,
                          checked=not args.unchecked)


# The derivatives `dpc ir --derivative` prints: the methods of a compiled module, and the
# generated functions of its dense hessian and jacobian (jacfwd: columns, jacrev: rows).
DERIVATIVES = ("grad", "value_and_grad", "jvp", "vjp", "hvp", "hessian", "jacfwd", "jacrev")


def cmd_ir(args) -> int:
    module, name = compile_file_of(args), args.fn
    if name is not None:
        check_function(module, args)
    if args.static:
        if name is None:
            raise UserError("--static needs --fn: the function to specialize")
        module, fn = specialized(module, module.module.functions[name], args)
        name = fn.name
    if args.wrt is not None and not args.derivative:
        raise UserError("--wrt needs --derivative: the derivative to take")
    if args.derivative:
        if name is None:
            raise UserError("--derivative needs --fn: the function to differentiate")
        derived, _ = gradient_of(module, module.module.functions[name], args, args.derivative)
        module, name = derived.owner, derived.name
    if not dump_options(args):
        try:
            sys.stdout.write(module.ir(name, stage=args.stage or "ir",
                                       format=args.format or "text", locations=args.locations))
        except ValueError as e:
            raise UserError(str(e)) from None
        return 0
    wanted = {"all"} if args.dump_after_all else set(args.dump_after)
    manager = module._pipeline(dump_after=wanted, fn=name, locations=args.locations)
    unknown = wanted - set(manager.names) - {"all"}
    if unknown:
        raise UserError(f"no pass named {', '.join(sorted(unknown))}; the passes are "
                        f"{', '.join(manager.names)}")
    for name, text in manager.dumps:
        print(f"// ----- after {name}")
        sys.stdout.write(text)
    if args.stats:
        print_stats(manager.stats)
    return 0


def dump_options(args) -> list[str]:
    """The options given that print the IR after passes. --stage and --format, which choose
    the one IR printed without them, are then an error, not ignored."""
    dumps = [flag for flag, on in (("--dump-after", args.dump_after),
                                   ("--dump-after-all", args.dump_after_all),
                                   ("--stats", args.stats)) if on]
    chosen = [f"--{flag} {value}" for flag, value in (("stage", args.stage),
                                                      ("format", args.format)) if value]
    if dumps and chosen:
        raise UserError(f"{chosen[0]} does not go with {dumps[0]}: --stage and --format "
                        f"choose the one IR printed when no pass is dumped or counted; give "
                        f"one or the other")
    if dumps == ["--stats"] and args.locations:
        raise UserError("--locations does not go with --stats alone: it marks the op lines of "
                        "printed IR, and --stats prints counts; add --dump-after PASS to see "
                        "both")
    return dumps


def print_stats(stats: list) -> None:
    """Op counts (regions included) after each pass, and the change each made."""
    print(f"{'pass':12} {'ops':>7} {'change':>8}")
    previous = None
    for name, ops in stats:
        change = "" if previous is None else f"{ops - previous:+d}"
        print(f"{name:12} {ops:>7} {change:>8}")
        previous = ops


def parse_assignment(text: str, what: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise UserError(f"{what} takes NAME=VALUE, got '{shown(text)}'")
    return name.strip(), value.strip()


def assignments(texts: list[str], flag: str) -> dict[str, str]:
    """NAME=VALUE options, as a dict; a name given twice is an error."""
    values = {}
    for text in texts:
        name, value = parse_assignment(text, flag)
        if name in values:
            raise UserError(f"{flag} {name} is given twice")
        values[name] = value
    return values


def integer_assignments(texts: list[str], flag: str) -> dict[str, int]:
    """NAME=INT options, as a dict."""
    values = {}
    for name, value in assignments(texts, flag).items():
        try:
            values[name] = int(value)
        except ValueError:
            raise UserError(f"{flag} {name} needs an integer, got '{shown(value)}'") from None
    return values


def parse_value(name: str, text: str, t):
    """The value --arg NAME=TEXT gives parameter `name` of type t."""
    if text.startswith("@"):
        path = named(text[1:], f"--arg {name}={text}")
        return checked_argument(name, text, load_npy(name, path), t)
    value = read_literal(name, text, t)
    if t.elem.name != "bool" and any(isinstance(v, bool) for v in leaves(value)):
        # Python's True would be 1 or 1.0
        raise UserError(f"argument {name} is {t}: true and false are for bool parameters, "
                        f"got '{shown(text)}'")
    if t.rank and not isinstance(value, (list, tuple)):  # the calling convention: "rank 0"
        raise UserError(f"argument {name} is {t}, an array: write it as a list, as in "
                        f"{'[' * t.rank}{shown(text)}{']' * t.rank}")
    if isinstance(value, (list, tuple)):
        try:
            np.asarray(value)
        except ValueError:  # ragged: [[1, 2], [3]]
            raise UserError(f"argument {name}: '{shown(text)}' is not an array: its nested "
                            f"lists have different lengths") from None
        elements_of_kind(name, t, list(leaves(value)))
    # the list itself, as Python would pass it: the calling convention reads an int beyond
    # i64 in it, or an empty one for an i64 parameter, where NumPy's array of it is of
    # dtype object or float64
    return checked_argument(name, text, value, t)


def elements_of_kind(name: str, t, elements: list) -> None:
    """A list's elements are written as parameter `name`'s elements are: the calling
    convention, which takes arrays from Python, would say to convert a float array."""
    v = next((v for v in elements if isinstance(v, float)), None)
    if t.elem.name == "i64" and v is not None:
        if not v.is_integer():
            raise UserError(f"argument {name} is {t}, and {v!r} is not an integer")
        if abs(v) >= 2.0 ** 63:
            raise UserError(f"argument {name} is {t}, and {v!r} is outside the range of "
                            f"i64 ([-2**63, 2**63 - 1])")
        raise UserError(f"argument {name} is {t}: write its elements without a decimal "
                        f"point ({int(v)}, not {v!r})")
    if t.elem.name == "bool":
        number = next((v for v in elements if not isinstance(v, bool)), None)
        if number is not None:
            raise UserError(f"argument {name} is {t}: write its elements true or false, "
                            f"got {number!r}")


def checked_argument(name: str, text: str, value, t):
    """value as parameter `name` of type t takes it, or a command-line error: a value of
    the wrong kind or rank is the command's mistake, not one of the run."""
    try:
        return coerce_argument(t, value, name)
    except RuntimeErrorDP as e:
        hint = ""
        if t.elem.name == "i64" and isinstance(value, float) and value.is_integer() \
                and abs(value) < 2.0 ** 63:
            hint = f" (write {int(value)}: an i64 is written without a decimal point)"
        raise UserError(f"--arg {name}={shown(text)}: {e}{hint}") from None


# A value on the command line may be a whole data set: messages repeat its first characters.
SHOWN = 60
# Brackets nested deeper than this, and than the parameter's rank, are refused unread: Python's
# parser stops at 200 and literal_eval recurses once per level, NumPy's arrays have at most
# 64 axes, and a program's parameters far fewer.
DEEPEST = 32


def shown(text: str, limit: int = SHOWN) -> str:
    """`text` as a message repeats it: at most its first `limit` characters, then '...'."""
    return text if len(text) <= limit else text[:limit] + "..."


def read_literal(name: str, text: str, t):
    """A number, a bool, or nested lists of them, written as in Python or JSON, for
    parameter `name` of type t; or a UserError that says where the text is not one."""
    if not text:
        raise UserError(f"--arg {name}= gives no value: write it after the '='")
    check_depth(name, text, t)
    unread = (f"argument {name}: cannot read '{shown(text)}' as a number, a bool or a list of "
              f"numbers")
    try:
        tree = JsonNames().visit(ast.parse(text, mode="eval"))
    except SyntaxError as e:
        raise UserError(f"{unread}: {syntax_problem(text, e, t)}") from None
    except (RecursionError, MemoryError):  # ------1: the parser recurses once per sign
        raise UserError(f"{unread}: Python's parser gives up on it, as it nests operators "
                        f"too deeply") from None
    part = not_a_literal(tree.body)
    if part is tree.body:  # None, 'a', {1.0}: nothing in it to point at
        raise UserError(unread)
    if part is not None:
        raise UserError(f"{unread}: '{shown(ast.get_source_segment(text, part), 20)}' at "
                        f"character {node_character(text, part)} is not a number, a bool or "
                        f"a list")
    return ast.literal_eval(tree)


def check_depth(name: str, text: str, t) -> None:
    """Brackets nested deeper than the parameter's rank, too deep to read: an error."""
    depth = bracket_depth(text)
    if depth > max(t.rank, DEEPEST):
        levels = f"with {count(t.rank, 'level')} of brackets" if t.rank else "without brackets"
        raise UserError(f"argument {name} is {t}, written {levels}, but '{shown(text)}' nests "
                        f"brackets {depth} deep")


def bracket_depth(text: str) -> int:
    """How deep the brackets of `text` nest, counted without parsing it."""
    depth = deepest = 0
    for c in text:
        if c in "[(":
            depth += 1
            deepest = max(deepest, depth)
        elif c in "])":
            depth -= 1
    return deepest


def syntax_problem(text: str, e: SyntaxError, t) -> str:
    """What Python's parser found wrong in --arg value `text`, and at which character."""
    # Python reads no int of more than 4300 digits (by default), and says not where it is
    limit = getattr(sys, "get_int_max_str_digits", lambda: 0)() or math.inf
    digits = max(re.findall(r"\d+", text), key=len, default="")
    if "digits" in e.msg and len(digits) > limit:
        return (f"the int at character {text.index(digits) + 1} has {len(digits)} digits, "
                f"too many for {t.elem}")
    line = text.split("\n")[(e.lineno or 1) - 1]
    start = e.offset or len(line) + 1
    part = line[start - 1:max(e.end_offset or 0, start + 1) - 1]
    if not part.strip():  # '1 +'
        return "the value ends before it is complete"
    where = f"at character {character(text, e.lineno or 1, start)}"
    if e.msg.startswith("invalid syntax"):
        comma = "; is a comma missing?" if "comma" in e.msg else ""
        return f"unexpected '{shown(part, 20)}' {where}{comma}"
    return f"{e.msg}, {where}"  # '[' was never closed, unmatched ']', ...


def not_a_literal(tree: ast.expr) -> ast.expr | None:
    """The first part of a parsed --arg value, in the text's order, that is not a number,
    a bool, or a list or tuple of them (walked without recursion)."""
    def literal(node):
        if isinstance(node, ast.UnaryOp):  # -1.0, +2; not --1, as literal_eval
            return isinstance(node.op, (ast.UAdd, ast.USub)) and \
                isinstance(node.operand, ast.Constant) and type(node.operand.value) in (int, float)
        return isinstance(node, (ast.List, ast.Tuple)) or \
            isinstance(node, ast.Constant) and type(node.value) in (int, float, bool)
    parts = [n for n in ast.walk(tree) if isinstance(n, ast.expr) and not literal(n)]
    return min(parts, key=lambda n: (n.lineno, n.col_offset), default=None)


def node_character(text: str, node: ast.expr) -> int:
    """The position in `text`, from 1, where `node` begins (ast counts a line's bytes)."""
    line = text.split("\n")[node.lineno - 1]
    column = len(line.encode()[:node.col_offset].decode(errors="ignore")) + 1
    return character(text, node.lineno, column)


def character(text: str, line: int, column: int) -> int:
    """The position in `text`, from 1, of `column` of `line` (both from 1)."""
    return sum(len(before) + 1 for before in text.split("\n")[:line - 1]) + column


def load_npy(name: str, path: str) -> np.ndarray:
    """The array in the .npy file at path. np.load also opens .npz archives (an object no
    function takes) and says any other file holds pickled data, so the magic is read first."""
    try:
        with open(path, "rb") as f:
            magic = f.read(len(NPY_MAGIC))
        if magic and magic != NPY_MAGIC:
            raise UserError(f"cannot load {path} for argument {name}: it is not a .npy file "
                            f"(np.save writes one)")
        short = missing_data(path)
        if short:
            raise UserError(f"cannot load {path} for argument {name}: {short}")
        return np.load(path, allow_pickle=False)
    except OSError as e:  # as read_source says it: No such file or directory
        raise UserError(f"cannot load {path} for argument {name}: {e.strerror or e}") from None
    except (ValueError, EOFError) as e:  # EOFError: an empty file
        raise UserError(f"cannot load {path} for argument {name}: {e}") from None
    except MemoryError:  # a whole .npy file is read at once
        raise UserError(f"cannot load {path} for argument {name}: its array does not fit "
                        f"in memory") from None


def missing_data(path: str) -> str | None:
    """What is wrong when the .npy header at `path` declares more data than the file
    holds (np.load would first try to allocate all of it: terabytes for a damaged
    header), else None. Headers np.load cannot read are left to it to describe."""
    with open(path, "rb") as f:
        try:
            read_header = NPY_HEADERS.get(np.lib.format.read_magic(f))
            if read_header is None:  # a version this check does not know
                return None
            shape, _, dtype = read_header(f)
        except (ValueError, EOFError):
            return None
        if dtype.hasobject:
            return None
        declared = math.prod(shape) * dtype.itemsize
        held = os.fstat(f.fileno()).st_size - f.tell()
    if declared <= held:
        return None
    return (f"its header declares an array of shape {shape} and {dtype} ({declared:,} bytes), "
            f"but the file holds {held:,} bytes of data")


NPY_MAGIC = b"\x93NUMPY"
NPY_HEADERS = {(1, 0): np.lib.format.read_array_header_1_0,
               (2, 0): np.lib.format.read_array_header_2_0}


class JsonNames(ast.NodeTransformer):
    """nan, inf and infinity (any case, as NumPy prints and JSON writes them) as the
    floats they name, JSON's true and false as bools: --arg s=inf, --arg "x=[1.0, nan]",
    --arg b=true."""
    NAMES = {"nan": math.nan, "inf": math.inf, "infinity": math.inf}
    BOOLS = {"true": True, "false": False}

    def visit_Name(self, node: ast.Name):
        value = self.BOOLS.get(node.id, self.NAMES.get(node.id.lower()))
        return node if value is None else ast.copy_location(ast.Constant(value), node)


def leaves(value):
    """The elements of a (nested) list or tuple, or the value itself."""
    if isinstance(value, (list, tuple)):
        for v in value:
            yield from leaves(v)
    else:
        yield value


def static_values(args) -> dict[str, int]:
    return integer_assignments(getattr(args, "static", []), "--static")


def check_dimension(dims: dict[str, int], d: str, size: int, name: str) -> None:
    """Records the size argument `name` gives dimension d, which --dim or an earlier
    argument may already have given."""
    if dims.setdefault(d, size) != size:
        raise UserError(f"argument {name} makes dimension {d} {size}, but it is "
                        f"{dims[d]} (from --dim or an earlier argument)")


def random_value(t, dims: dict[str, int], rng, name: str):
    if not isinstance(t, ArrayType):
        if t.name == "f64":
            return float(rng.standard_normal())
        raise UserError(f"argument {name} ({t}) is not filled by --random; give it with "
                        f"--arg {name}=VALUE")
    shape = []
    for d in t.shape:
        if isinstance(d, int):
            shape.append(d)
        elif d != DYN and d in dims:
            shape.append(dims[d])
        elif d == DYN:  # no name for --dim to give a size to
            raise UserError(f"argument {name} is {t}, of a size no dimension names, so "
                            f"--random cannot make it; give it with --arg {name}=VALUE")
        else:
            raise UserError(f"argument {name} is {t}: give the size of {d} with --dim {d}=INT")
    try:
        if t.elem.name == "f64":
            return rng.standard_normal(shape)
        if t.elem.name == "i64":
            return rng.integers(0, 10, size=shape)
        return rng.random(shape) < 0.5
    except (MemoryError, ValueError):  # NumPy: MemoryError, or 'array is too big'
        # a size written in the type is one --static fixed (--dim is refused for it)
        fixed = [isinstance(d, int) for d in t.shape]
        options = "--dim" if not any(fixed) else "--static" if all(fixed) else "--dim and --static"
        raise UserError(f"argument {name} ({t}) of shape {tuple(shape)} does not fit in "
                        f"memory; give smaller sizes with {options}") from None


def build_arguments(fn, args) -> list:
    given = assignments(args.arg, "--arg")
    dims = integer_assignments(args.dim, "--dim")
    named = [d for p in fn.params for d in p.type.shape if isinstance(d, str) and d != DYN]
    fixed = static_values(args)
    for d, size in dims.items():
        if size < 0:
            raise UserError(f"--dim {d}={size}: a size cannot be negative")
        if d in fixed and size != fixed[d]:
            raise UserError(f"--dim {d}={size}: --static {d}={fixed[d]} fixes it already; "
                            f"give one of the two")
        if d not in named and d not in fixed:
            raise UserError(f"--dim {d}: the arrays of '{args.fn}' have no dimension {d}")
    names = [p.name_hint for p in fn.params]
    for name in given:
        if name in fixed:
            raise UserError(f"--arg {name}: --static {name} gives its value already; give one "
                            f"of the two")
        if name not in names:
            raise UserError(f"'{args.fn}' has no parameter '{name}' (parameters: "
                            f"{', '.join(names)})")
    types = {p.name_hint: p.type for p in fn.params}
    values = {name: parse_value(name, text, types[name]) for name, text in given.items()}
    for p in fn.params:  # dimensions that given arrays fix (--static's are checked below)
        if p.name_hint in values:
            for d, size in zip(p.type.shape, np.shape(values[p.name_hint])):
                if isinstance(d, str) and d != DYN and d not in fixed:
                    check_dimension(dims, d, size, p.name_hint)
    for d in fixed.keys() & set(named):  # a dimension fixed to 1 stays a name in the types
        dims[d] = fixed[d]
    if args.random is not None and args.random < 0:
        raise UserError(f"--random {args.random}: the seed cannot be negative")
    rng = np.random.default_rng(args.random) if args.random is not None else None
    out = []
    for p in fn.params:
        if p.name_hint in values:
            out.append(values[p.name_hint])
        elif rng is not None:
            out.append(random_value(p.type, dims, rng, p.name_hint))
        else:
            raise UserError(f"missing argument {p.name_hint} ({p.type}): give --arg "
                            f"{p.name_hint}=VALUE, or --random SEED to fill arrays")
    try:  # sizes that disagree: the arguments' mistake, found before the run
        # --static n=1 leaves n a name in the specialized types: its arrays are checked
        # against the size written in, as for any other fixed size
        types = [sized(p.type, fixed) for p in fn.params]
        DimensionPlan(names, types).check([np.shape(v) for v in out])
        prepare_arguments(fn, out)
    except RuntimeErrorDP as e:
        raise UserError(str(e)) from None
    return out


def format_result(value) -> str:
    if isinstance(value, np.ndarray) and value.size <= 1000:
        return format_nested(value)
    if isinstance(value, np.ndarray):
        with np.printoptions(precision=17, threshold=1000):
            return np.array2string(value, separator=", ")
    if isinstance(value, (np.floating, float)):
        return repr(float(value))
    if isinstance(value, (np.bool_, bool)):
        return str(bool(value))
    return str(int(value)) if isinstance(value, (np.integer, int)) else str(value)


def format_nested(value) -> str:
    """A small array as a nested list, each number in its shortest exact form."""
    if value.ndim == 0:
        return format_result(value[()])
    return "[" + ", ".join(format_nested(row) for row in value) + "]"


def cmd_run(args) -> int:
    module, fn = compile_for(args)
    values = build_arguments(fn, args)
    result = module.run(fn.name, *values)
    results = result if isinstance(result, tuple) else (result,)
    for r in results:
        print(format_result(r))
    return 0


def check_function(module, args) -> None:
    """args.fn is a function of args.file, or an error that lists the file's functions."""
    if args.fn not in module.module.functions:
        names = ", ".join(module.function_names)
        raise UserError(f"no function '{args.fn}' in {args.file} "
                        f"({'functions: ' + names if names else 'it defines none'})")


def compile_for(args):
    """The compiled module and the IR of args.fn in it (of its specialization, with
    --static)."""
    module = compile_file_of(args)
    check_function(module, args)
    fn = module.module.functions[args.fn]
    return specialized(module, fn, args) if args.static else (module, fn)


def specialized(module, fn, args):
    """The module holding fn specialized for the --static values, and that function."""
    try:
        special = module.specialize(fn.name, **integer_assignments(args.static, "--static"))
    except ValueError as e:
        raise UserError(str(e)) from None
    return special.owner, special.function


def gradient_of(module, fn, args, form: str = "value_and_grad", said: str | None = None):
    """`form` (a derivative method of the module: value_and_grad, grad, jvp, ...) of fn
    with respect to --wrt (default: every f64 parameter): the compiled function and the
    wrt parameter names. Errors name the derivative as the user asked for it (`said`,
    default `form`: `dpc grad` computes value_and_grad, and says grad)."""
    said = said or form
    wrt = None if args.wrt is None else [w.strip() for w in args.wrt.split(",")]
    if wrt is not None and not all(wrt):
        raise UserError(f"--wrt takes parameter names separated by commas, got '{args.wrt}'")
    try:
        derived = (module._derivative(form, fn.name, wrt) if form in DENSE
                   else getattr(module, form)(fn.name, wrt))
    except ValueError as e:
        message = str(e)
        for words in (f"{form}(", f"{form} needs"):  # the form's own words, not a name in them
            message = message.replace(words, words.replace(form, said))
        # the command line has no vjp or jvp command: say where they are
        elsewhere = ("--derivative vjp or jvp" if getattr(args, "derivative", None)
                     else "mod.vjp or mod.jvp from Python")
        message = message.replace("use vjp or jvp)", f"use {elsewhere})")
        raise UserError(in_user_words(message, fn, args)) from None
    names = wrt or [fn.params[k].name_hint for k in fn.float_positions]
    return derived, names


def in_user_words(message: str, fn, args) -> str:
    """A message about fn as the user knows it: a function --static made has a name of its
    own (f.static.k2), which messages give as the user's name and the values given."""
    if fn.name == args.fn:
        return message
    given = ", ".join(f"{k}={v}" for k, v in static_values(args).items())
    message = message.replace(f"({fn.name})", f"({args.fn})")
    return message.replace(f"'{fn.name}'", f"'{args.fn}' with --static {given}")


def cmd_grad(args) -> int:
    module, fn = compile_for(args)
    values = build_arguments(fn, args)
    derived, names = gradient_of(module, fn, args, said="grad")
    value, *grads = derived(*values)
    print(f"value: {format_result(value)}")
    for name, g in zip(names, grads):
        print(f"grad {name}: {format_result(g)}")
    return 0


def cmd_bench(args) -> int:
    """FN and its gradient (with respect to --wrt), timed in turns on the same arguments."""
    module, fn = compile_for(args)
    values = build_arguments(fn, args)
    primal = module.function(fn.name)
    grad, _ = gradient_of(module, fn, args, "grad")
    times = median_times({"primal": lambda: primal(*values), "gradient": lambda: grad(*values)},
                         args.seconds)
    for name, (t, samples) in times.items():
        print(f"{name:16} {format_seconds(t):>10}   (median of {samples} samples)")
    print(f"{'gradient/primal':16} {times['gradient'][0] / times['primal'][0]:>10.2f}")
    return 0


def cmd_build(args) -> int:
    """FILE's functions as ahead-of-time output at -o."""
    from runtime import UnsupportedOp
    from runtime.aot import BuildError
    module = compile_file_of(args)
    kind = args.emit or kind_of_output(named(args.output, "-o"))
    try:
        module.build(kind, args.output)
    except OSError as e:  # as read_source says it: No such file or directory
        raise UserError(f"cannot build {args.output}: {e.strerror or e}") from None
    except (BuildError, UnsupportedOp) as e:
        raise UserError(f"cannot build {args.output}: {e}") from None
    print(f"wrote {args.output} ({kind}: {', '.join(module.function_names)})")
    return 0


# What `dpc build` writes when --emit is not given, by OUT's extension; any other is obj.
KIND_OF_EXTENSION = {".o": "obj", ".so": "so", ".ll": "llvm", ".s": "asm", ".h": "header"}


def kind_of_output(path: str) -> str:
    """The output kind OUT's extension names (lse.so: a shared library), else obj: writing
    object code into a file called lse.h or lse.so made a file that is neither."""
    return KIND_OF_EXTENSION.get(os.path.splitext(path)[1].lower(), "obj")


def cmd_gradcheck(args) -> int:
    """Reverse mode against central finite differences of the compiled function, element
    by element (a random sample of --samples elements of larger arrays)."""
    module, fn = compile_for(args)
    values = build_arguments(fn, args)
    derived, names = gradient_of(module, fn, args, said="grad")
    primal = module.function(fn.name)
    value, *grads = derived(*values)
    if not np.isfinite(value):
        print(in_user_words(f"note: '{fn.name}' is {format_result(value)} at these arguments, "
                            f"so the differences cannot be checked there", fn, args))
    rng = np.random.default_rng(0)
    params = [p.name_hint for p in fn.params]
    for name in names:
        note_non_finite(name, values[params.index(name)])
    worst_overall = 0.0
    print(f"{'parameter':12} {'elements':>10} {'max rel. error':>15}")
    for name, g in zip(names, grads):
        k = params.index(name)
        errors, checked = finite_difference_errors(primal, values, k, g, args, rng, name)
        worst = float(np.max(errors, initial=0.0))  # NaN stays NaN, and fails
        worst_overall = float(np.max([worst_overall, worst]))
        print(f"{name:12} {checked:>10} {worst:15.2e}")
    passed = bool(worst_overall <= args.tol)
    print(f"{'ok' if passed else 'FAILED'}: largest relative error {worst_overall:.2e} "
          f"({'within' if passed else 'above'} --tol {args.tol:g}); relative error is "
          f"|ad - fd| / max(1, |ad| + |fd|)")
    return 0 if passed else 1


def note_non_finite(name: str, value) -> None:
    """Says that parameter `name` has elements the check skips: a step from inf or nan
    lands on nan, which made a right gradient fail (and NumPy warn)."""
    bad = np.size(value) - np.count_nonzero(np.isfinite(value))
    if bad:
        verb, them = ("is", "it is") if bad == 1 else ("are", "they are")
        print(f"note: {count(bad, 'element')} of {name} {verb} not finite: finite "
              f"differences cannot be taken there, so {them} not checked")


def finite_difference_errors(primal, values, k, grad, args, rng, name: str):
    """Relative errors of grad (the gradient for parameter k, `name`) against central
    finite differences with step --eps * max(1, |x|), at its finite elements, and the
    count of elements checked."""
    x = np.array(values[k], dtype=np.float64)
    flat_grad = np.reshape(np.asarray(grad, dtype=np.float64), -1)
    size = x.size
    finite = np.flatnonzero(np.isfinite(x))
    picked = finite if finite.size <= args.samples else rng.choice(finite, args.samples,
                                                                    replace=False)
    errors = []
    for j in picked:
        step = args.eps * max(1.0, abs(float(x.reshape(-1)[j])))
        ahead, behind = (stepped_value(primal, shifted(values, k, x, j, d), name, x, j, d)
                         for d in (step, -step))
        fd = (ahead - behind) / (2 * step)
        ad = float(flat_grad[j])
        # |ad - fd| / max(1, |ad| + |fd|), in halves: the sum of two gradients near the
        # largest f64 was inf, and a wrong one passed with an error of 0
        errors.append(abs(ad / 2 - fd / 2) / max(0.5, abs(ad) / 2 + abs(fd) / 2))
    return errors, f"{len(errors)}/{size}"


def stepped_value(primal, values: list, name: str, x: np.ndarray, j: int, delta: float) -> float:
    """The function's value a finite-difference step away; where it fails there (an
    assert, an index the step moved out of range), an error that says so."""
    try:
        return float(primal(*values))
    except RuntimeErrorDP as e:
        where = name if x.ndim == 0 else f"{name}[{', '.join(map(str, np.unravel_index(j, x.shape)))}]"
        moved = float(x.reshape(-1)[j] + delta)
        raise UserError(f"the function fails at {where} = {moved:.12g}, a finite-difference "
                        f"step from the argument: {e}; a smaller --eps stays closer to the "
                        f"argument") from None


def shifted(values: list, k: int, x: np.ndarray, j: int, delta: float) -> list:
    moved = x.copy()
    moved.reshape(-1)[j] += delta
    out = list(values)
    out[k] = moved if x.ndim else float(moved)
    return out


def add_run_arguments(p) -> None:
    p.add_argument("file", help="the .dp source file")
    p.add_argument("fn", help="the function to run")
    p.add_argument("--arg", action="append", default=[], metavar="NAME=VALUE",
                   help="an argument: a number, true/false, a list like [1.0, 2.0], or "
                        "@file.npy (repeatable)")
    p.add_argument("--dim", action="append", default=[], metavar="N=INT",
                   help="the size of dimension N, for --random (repeatable)")
    p.add_argument("--random", type=int, metavar="SEED",
                   help="fill every argument not given with --arg, arrays sized by --dim: "
                        "f64 values standard normal, i64 arrays integers 0-9, bool arrays "
                        "coin flips (give i64 and bool scalars)")
    add_static(p)
    add_code_options(p)


def add_static(p) -> None:
    p.add_argument("--static", action="append", default=[], metavar="N=INT",
                   help="specialize FN for this value of an i64 parameter or a dimension: "
                        "the parameter is no longer passed, arrays must have that size "
                        "(repeatable)")


def add_code_options(p) -> None:
    p.add_argument("--fast-math", action="store_true",
                   help="let LLVM reorder floating-point arithmetic (FMA, vectorized sums, "
                        "reciprocals): faster, results may differ in the last bits")
    p.add_argument("--unchecked", action="store_true",
                   help="no bounds checks in native code: an index out of range is then "
                        "undefined behaviour, not an error")


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dpc", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    parser.commands = sub.choices  # name -> the command's parser, for main's errors

    p = sub.add_parser("check", help="parse and type-check a file, print errors",
                       description="Parse and type-check FILE, and differentiate what it "
                                   "differentiates (no native code is made). Prints 'ok' and "
                                   "the function names, or the first error with its location; "
                                   "exit status 1 on error.")
    p.add_argument("file", help="the .dp source file")
    p.set_defaults(run=cmd_check)

    p = sub.add_parser("ir", help="print a program at a stage of the pipeline",
                       description="Print the program at a stage: 'source' (the text), "
                                   "'ir' (the typed SSA IR after lowering), 'ad' (derivative "
                                   "forms replaced by generated reverse and forward functions; with --fn, "
                                   "those it calls are printed too), 'opt' (after the optimizer: "
                                   "partial evaluation, fusion), 'scalar' (array ops as "
                                   "loops), 'llvm' or 'asm' (native code).")
    p.add_argument("file", help="the .dp source file")
    p.add_argument("--fn", help="only this function (default: all)")
    p.add_argument("--stage", choices=STAGES, help="the stage (default: ir)")
    p.add_argument("--dump-after", action="append", default=[], metavar="PASS",
                   help="print the module (with --fn: that function and the functions "
                        "generated for it) after pass PASS (repeatable); the passes "
                        f"are {', '.join(pass_names())}")
    p.add_argument("--dump-after-all", action="store_true",
                   help="print the module (or --fn's function) after every pass")
    p.add_argument("--format", choices=("text", "dot"),
                   help="text (default), or dot: the IR as a Graphviz graph "
                        "(dpc ir ... --format dot | dot -Tsvg > ir.svg)")
    p.add_argument("--stats", action="store_true",
                   help="print the op count after every pass (with --fn: of that function "
                        "and the functions generated for it)")
    p.add_argument("--locations", action="store_true",
                   help='end each op line with the source place it came from, '
                        'loc("FILE":LINE:COL); ops made by AD carry the place of the op '
                        'they differentiate')
    p.add_argument("--derivative", choices=DERIVATIVES,
                   help="print this derivative of FN instead of FN (with --wrt): the "
                        "function that mod.grad(FN) and the others compile")
    add_wrt(p)
    add_static(p)
    add_code_options(p)
    p.set_defaults(run=cmd_ir)

    p = sub.add_parser("run", help="compile and run a function, print the result",
                       description="Compile FILE and call FN with the given arguments; print "
                                   "the result (one line per returned value).",
                       epilog="example: dpc run examples/llsq.dp llsq --random 0 --dim m=4 --arg n=10")
    add_run_arguments(p)
    p.set_defaults(run=cmd_run)

    p = sub.add_parser("grad", help="print a function's value and gradient",
                       description="Compile FILE and print FN's value and its gradient with "
                                   "respect to --wrt (default: every f64 parameter), by "
                                   "reverse mode. FN must return one f64.",
                       epilog='example: dpc grad examples/lse.dp lse --arg "x=[1.0, 2.0, 3.0]"')
    add_run_arguments(p)
    add_wrt(p)
    p.set_defaults(run=cmd_grad)

    p = sub.add_parser("bench", help="time a function and its gradient",
                       description="Compile FILE and time FN and its reverse-mode gradient "
                                   "(with respect to --wrt, default every f64 parameter) on the "
                                   "same arguments, in turns, and print the median time per "
                                   "call of each and their ratio. FN must return one f64.",
                       epilog="example: dpc bench examples/gmm.dp gmm --random 0 --dim k=5 "
                              "--dim d=10 --dim t=55 --dim n=1000 --arg gamma=1.0 --arg m=0")
    add_run_arguments(p)
    add_wrt(p)
    p.add_argument("--seconds", type=positive(float), default=2.0,
                   help="how long to keep timing (default 2)")
    p.set_defaults(run=cmd_bench)

    p = sub.add_parser("gradcheck", help="compare the gradient with finite differences",
                       description="Compare FN's reverse-mode gradient with central finite "
                                   "differences of FN and print the largest relative error per "
                                   "parameter; exit status 1 when one exceeds --tol.",
                       epilog="example: dpc gradcheck examples/llsq.dp llsq --random 0 "
                              "--dim m=4 --arg n=10")
    add_run_arguments(p)
    add_wrt(p)
    p.add_argument("--eps", type=positive(float), default=1e-6,
                   help="finite-difference step, relative to max(1, |x|) (default 1e-6)")
    p.add_argument("--tol", type=positive(float, zero=True), default=1e-6,
                   help="the largest relative error accepted (default 1e-6)")
    p.add_argument("--samples", type=positive(int), default=200,
                   help="check at most this many elements of each array, chosen at random "
                        "(default 200)")
    p.set_defaults(run=cmd_gradcheck)

    p = sub.add_parser("build", help="write native code to a file (object, library, header)",
                       description="Compile FILE ahead of time for this machine's CPU and write "
                                   "OUT: an object file (obj), a shared library (so, linked with "
                                   "$CC or cc), LLVM IR (llvm), assembly (asm), or a C header "
                                   "declaring the functions and their calling convention "
                                   "(header). Every function of FILE is exported as "
                                   "dpc_entry_NAME; to call a gradient from C, define it in FILE "
                                   "(def f_grad(x: f64[n]) -> f64[n]: return grad(f)(x)).",
                       epilog="example: dpc build examples/lse.dp -o lse.so && "
                              "dpc build examples/lse.dp -o lse.h (--emit so and --emit header, "
                              "from the extensions)")
    p.add_argument("file", help="the .dp source file")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="the file to write")
    p.add_argument("--emit", choices=BUILD_KINDS,
                   help="what to write (default: by OUT's extension, .o .so .ll .s .h, else obj)")
    add_code_options(p)
    p.set_defaults(run=cmd_build)

    p = sub.add_parser("gradbench", help="act as a GradBench tool on stdin/stdout",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description=gradbench.DESCRIPTION.format(
                           modules=", ".join(gradbench.MODULES)))
    gradbench.add_arguments(p)
    p.set_defaults(run=gradbench.run_command)
    return parser


def positive(kind, zero: bool = False):
    """An argparse type: a finite number of `kind` greater than 0 (or, with zero, not
    below it)."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            what = "an integer" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"'{text}' is not {what}") from None
        if not ((value >= 0 if zero else value > 0) and math.isfinite(value)):
            bound = "0 or more" if zero else "greater than 0"
            raise argparse.ArgumentTypeError(f"must be a number {bound}, not {text}")
        return value
    return parse


def add_wrt(p) -> None:
    p.add_argument("--wrt", metavar="X,Y",
                   help="the parameters to differentiate, comma-separated (default: every "
                        "f64 parameter)")


class OutputError(Exception):
    """stdout cannot be written (a full disk, a closed descriptor); the reason, as the OS
    says it."""


class CheckedOutput:
    """stdout, whose write errors are an OutputError, wherever the buffer happens to be
    flushed; a closed pipe stays a BrokenPipeError, which ends dpc quietly."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text: str) -> int:
        return self.checked(self.stream.write, text)

    def flush(self) -> None:
        self.checked(self.stream.flush)

    @staticmethod
    def checked(action, *args):
        try:
            return action(*args)
        except BrokenPipeError:
            raise
        except OSError as e:
            raise OutputError(e.strerror or str(e)) from None

    def __getattr__(self, name: str):
        return getattr(self.stream, name)


def main(argv: list[str] | None = None) -> int:
    parser = make_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # with the command's usage and name, which list its options, not dpc's
        parser.commands[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
    if sys.stdout is None:  # dpc ... >&-: Python gives print no stream, and it printed nothing
        return cannot_write(os.strerror(errno.EBADF))
    stdout, sys.stdout = sys.stdout, CheckedOutput(sys.stdout)
    try:
        return run_interruptibly(args)
    finally:
        sys.stdout = stdout


# The command's thread gets a stack as deep as the main thread's usual 8 MiB and more:
# compiling deeply nested expressions recurses (see driver.deep_expressions).
COMMAND_STACK = 64 << 20


def run_interruptibly(args) -> int:
    """run(args) in a thread of its own, the main thread waiting for it: Python takes
    Ctrl-C only in the main thread and only between bytecodes, so while native code ran
    (a ctypes call) the signal waited for it to return, and a loop that never ends kept
    dpc running. Now Ctrl-C ends dpc at once, with status 130, whatever the command is
    doing."""
    outcome = []

    def command():
        try:
            outcome.append(run(args))
        except BaseException as e:  # a bug of dpc's: its traceback, from the main thread
            outcome.append(e)

    # A handler that ends dpc, not a KeyboardInterrupt: raised inside Thread.start()'s
    # wait (the command already at work), it left threading's lock released twice and
    # printed a traceback. Ctrl-C ignored (a background job's SIG_IGN) stays ignored.
    interrupted = None
    if threading.current_thread() is threading.main_thread() and \
            signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        interrupted = signal.signal(signal.SIGINT, exit_interrupted)
    try:
        worker = threading.Thread(target=command, name="dpc command", daemon=True)
        previous = threading.stack_size(COMMAND_STACK)
        try:
            worker.start()
        finally:  # the large stack is the command's alone, not its own threads'
            threading.stack_size(previous)
        worker.join()
    finally:
        if interrupted is not None:
            signal.signal(signal.SIGINT, interrupted)
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0]


def exit_interrupted(signum, frame) -> None:
    """Ctrl-C: dpc ends at once with the status shells give a command SIGINT ended, the
    command perhaps inside native code (not waited for)."""
    print(file=sys.stderr, flush=True)
    try:
        sys.stdout.flush()
    except Exception:  # what was printed, as far as it can be; the status says the rest
        pass
    os._exit(130)


def run(args) -> int:
    """The command, its errors said as messages: a traceback is for a bug of dpc's."""
    try:
        status = args.run(args)
        sys.stdout.flush()  # here, where a closed pipe is caught, not at exit
        return status
    except BrokenPipeError:
        # the reader stopped early (dpc ir ... | head): end quietly, as cat does. Python's
        # own flush at exit would fail again on the same pipe, so stdout goes nowhere now.
        discard_output()
    except OutputError as e:
        discard_output()  # what is left in the buffer would fail again at exit
        return cannot_write(str(e))
    except KeyboardInterrupt:  # Ctrl-C: the status shells give a command SIGINT ended
        print(file=sys.stderr)
        return 130
    except CompileError as e:
        print(e.format(), file=sys.stderr)
    except RuntimeErrorDP as e:
        print(runtime_error_text(e), file=sys.stderr)
    except UserError as e:
        print(f"dpc: error: {e}", file=sys.stderr)
    except RecursionError:
        print("dpc: error: the program is nested too deeply to compile", file=sys.stderr)
    return 1


def runtime_error_text(e: RuntimeErrorDP) -> str:
    """A run-time error shown as compile errors are: FILE:LINE:COL, then the line with a
    caret under the place (when the file can still be read)."""
    if e.place is None:
        return f"run-time error: {e}"
    message, path, line, col = e.place
    try:
        lines = source_lines(read_program(path))
    except (OSError, CompileError):  # gone, or no longer UTF-8, since it was compiled
        lines = []
    text = lines[line - 1] if 1 <= line <= len(lines) else None
    return located(f"{path}:{line}:{col}: run-time error: {message}", text, line, col)


def discard_output() -> None:
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def cannot_write(reason: str) -> int:
    print(f"dpc: error: cannot write the output: {reason}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
