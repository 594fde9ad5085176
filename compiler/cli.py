"""The `dpc` command line. `dpc --help` lists the commands; each has its own --help.

Exit status: 0 on success, 1 for an error in the program (compile or run time) or in the
command's arguments, 2 for a usage error. Errors go to stderr, results to stdout.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

import numpy as np

from ir import ArrayType, RuntimeErrorDP
from ir.types import DYN

from .diagnostics import CompileError
from .driver import STAGES, compile_source

DESCRIPTION = """\
dpc compiles .dp programs: a small, statically typed array language with Python syntax,
made for differentiation. Write functions in a .dp file, check them, read their IR, and
run them on numbers or arrays.

examples:
  dpc check examples/lse.dp
  dpc ir examples/lse.dp --fn lse
  dpc run examples/lse.dp lse --arg "x=[1.0, 2.0, 3.0]"
  dpc run examples/mlp.dp mlp_loss --random 0 --dim n=8 --dim d=4 --dim h=16
"""


class UserError(Exception):
    """A mistake in the command's arguments; printed without a traceback."""


def read_source(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError as e:
        raise UserError(f"cannot read {path}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise UserError(f"cannot read {path}: it is not UTF-8 text") from None


def cmd_check(args) -> int:
    module = compile_source(read_source(args.file), args.file)
    names = module.function_names
    print(f"{args.file}: ok, {len(names)} function{'s' if len(names) != 1 else ''}: "
          f"{', '.join(names)}")
    return 0


def cmd_ir(args) -> int:
    module = compile_source(read_source(args.file), args.file, fast_math=args.fast_math)
    if args.fn is not None and args.fn not in module.module.functions:
        raise UserError(f"no function '{args.fn}' in {args.file} (functions: "
                        f"{', '.join(module.function_names)})")
    sys.stdout.write(module.ir(args.fn, stage=args.stage))
    return 0


def parse_assignment(text: str, what: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise UserError(f"{what} takes NAME=VALUE, got '{text}'")
    return name.strip(), value.strip()


def parse_value(name: str, text: str):
    if text.startswith("@"):
        try:
            return np.load(text[1:], allow_pickle=False)
        except (OSError, ValueError) as e:
            raise UserError(f"cannot load {text[1:]} for argument {name}: {e}") from None
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise UserError(f"argument {name}: cannot read '{text}' as a number, a bool or a "
                        f"list of numbers") from None
    return np.asarray(value) if isinstance(value, (list, tuple)) else value


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
        else:
            raise UserError(f"argument {name} is {t}: give the size of {d} with --dim {d}=INT")
    if t.elem.name == "f64":
        return rng.standard_normal(shape)
    if t.elem.name == "i64":
        return rng.integers(0, 10, size=shape)
    return rng.random(shape) < 0.5


def build_arguments(fn, args) -> list:
    given = dict(parse_assignment(a, "--arg") for a in args.arg)
    dims = {}
    for text in args.dim:
        name, value = parse_assignment(text, "--dim")
        try:
            dims[name] = int(value)
        except ValueError:
            raise UserError(f"--dim {name} needs an integer, got '{value}'") from None
    names = [p.name_hint for p in fn.params]
    for name in given:
        if name not in names:
            raise UserError(f"'{fn.name}' has no parameter '{name}' (parameters: {', '.join(names)})")
    values = {name: parse_value(name, text) for name, text in given.items()}
    for p in fn.params:  # dimensions that given arrays fix
        if p.name_hint in values:
            for d, size in zip(p.type.shape, np.shape(values[p.name_hint])):
                if isinstance(d, str):
                    dims.setdefault(d, size)
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
    return out


def format_result(value) -> str:
    if isinstance(value, np.ndarray):
        with np.printoptions(precision=17, threshold=1000):
            return np.array2string(value, separator=", ")
    if isinstance(value, (np.floating, float)):
        return repr(float(value))
    if isinstance(value, (np.bool_, bool)):
        return str(bool(value))
    return str(int(value)) if isinstance(value, (np.integer, int)) else str(value)


def cmd_run(args) -> int:
    module = compile_source(read_source(args.file), args.file, fast_math=args.fast_math)
    if args.fn not in module.module.functions:
        raise UserError(f"no function '{args.fn}' in {args.file} (functions: "
                        f"{', '.join(module.function_names)})")
    fn = module.module.functions[args.fn]
    values = build_arguments(fn, args)
    result = module.run(args.fn, *values)
    results = result if isinstance(result, tuple) else (result,)
    for r in results:
        print(format_result(r))
    return 0


def add_run_arguments(p) -> None:
    p.add_argument("file", help="the .dp source file")
    p.add_argument("fn", help="the function to run")
    p.add_argument("--arg", action="append", default=[], metavar="NAME=VALUE",
                   help="an argument: a number, True/False, a list like [1.0, 2.0], or "
                        "@file.npy (repeatable)")
    p.add_argument("--dim", action="append", default=[], metavar="N=INT",
                   help="the size of dimension N, for --random (repeatable)")
    p.add_argument("--random", type=int, metavar="SEED",
                   help="fill every argument not given with --arg with random numbers "
                        "(standard normal), arrays sized by --dim")
    add_fast_math(p)


def add_fast_math(p) -> None:
    p.add_argument("--fast-math", action="store_true",
                   help="let LLVM reassociate and contract floating-point arithmetic "
                        "(faster; results may differ in the last bits)")


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dpc", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("check", help="parse and type-check a file, print errors",
                       description="Parse and type-check FILE. Prints 'ok' and the function "
                                   "names, or the first error with its location; exit status 1 "
                                   "on error.")
    p.add_argument("file", help="the .dp source file")
    p.set_defaults(run=cmd_check)

    p = sub.add_parser("ir", help="print a program at a stage of the pipeline",
                       description="Print the program at a stage: 'source' (the text) or "
                                   "'ir' (the typed SSA IR after lowering).")
    p.add_argument("file", help="the .dp source file")
    p.add_argument("--fn", help="only this function (default: all)")
    p.add_argument("--stage", choices=STAGES, default="ir", help="the stage (default: ir)")
    add_fast_math(p)
    p.set_defaults(run=cmd_ir)

    p = sub.add_parser("run", help="compile and run a function, print the result",
                       description="Compile FILE and call FN with the given arguments; print "
                                   "the result (one line per returned value).",
                       epilog="example: dpc run examples/llsq.dp llsq --random 0 --dim m=4 --arg n=10")
    add_run_arguments(p)
    p.set_defaults(run=cmd_run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    try:
        return args.run(args)
    except CompileError as e:
        print(e.format(), file=sys.stderr)
    except RuntimeErrorDP as e:
        print(f"runtime error: {e}", file=sys.stderr)
    except UserError as e:
        print(f"dpc: error: {e}", file=sys.stderr)
    except RecursionError:
        print("dpc: error: the program is nested too deeply to compile", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
