"""`dpc gradbench`: dpc as a tool of GradBench, the cross-tool AD benchmark
(github.com/gradbench/gradbench; protocol in its CONTRIBUTING.md, summary in
examples/gradbench/NOTES.md).

The eval writes one JSON message per line to our stdin; we answer each with one JSON line
on stdout, flushed:

    {"id": 0, "kind": "start"}
        -> {"id": 0, "tool": "dpc"}
    {"id": 1, "kind": "define", "module": "lse"}
        -> {"id": 1, "success": true, "timings": [{"name": "compile", "nanoseconds": ...}]}
    {"id": 2, "kind": "evaluate", "module": "lse", "function": "gradient",
     "input": {"x": [...], "min_runs": 1, "min_seconds": 1}}
        -> {"id": 2, "success": true, "output": [...],
            "timings": [{"name": "evaluate", "nanoseconds": ...}, ...]}
    {"id": 3, "kind": "analysis", "of": 2, "valid": true}
        -> {"id": 3}

`define` compiles the module's .dp file to native code, and every derivative the module
needs, so compilation is timed there. `evaluate` converts the JSON input to arguments
once, runs the native function at least `min_runs` times and until `min_seconds` have
passed, timing each run alone (no JSON), and converts the last result to the output the
eval's README gives. A message we cannot serve (not JSON, or nested too deeply to read, a
field missing, an unknown module or function, a module's .dp file without the function the
eval calls, an input of the wrong shape, a run-time error) gets
`{"id": ..., "success": false, "error": "..."}` (id null when unknown), and the tool
reads on.

Both ways the lines are strict JSON (json.org), which has no NaN or Infinity: GradBench's
intermediary parses every line with Rust's serde_json and ends the session on one it
cannot read. An input line with them is not JSON to us either, and a result that is not
finite, which no output could carry, is a failed evaluate (with its timings): the eval
counts a failure and goes on to the next input.

Each module is one .dp file and one entry in MODULES: for each function the eval calls,
which compiled function runs (a .dp function, or a derivative dpc makes from one), how
the JSON input becomes its arguments, and how its result becomes the JSON output. Adding
a module is adding its .dp file and its entry.
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ir import F64, RuntimeErrorDP
from ir.calls import listed_types

from .diagnostics import CompileError
from .driver import CompiledFunction, CompiledModule, compile_file

TOOL = "dpc"
# The examples folder of the source tree; from an installed copy, the one in the current
# directory (a checkout), unless --examples names another.
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
if not EXAMPLES.is_dir():
    EXAMPLES = Path.cwd() / "examples"

DESCRIPTION = """\
Act as a GradBench tool: read the protocol's JSON messages from stdin, one per line, and
answer each with one JSON line on stdout. The .dp programs are read from the examples
folder of the dpc source tree, or, from an installed copy, from ./examples (--examples to
read them elsewhere).
modules: {modules}

example (GradBench's CLI, in a checkout of github.com/gradbench/gradbench):
  ./gradbench run --eval "./gradbench repo eval lse" --tool "dpc gradbench"
"""


class MessageError(Exception):
    """A message we cannot serve; its text goes into the response's `error`."""


# --- reading inputs (before the timed runs) ---------------------------------------------

def field(input: Any, name: str) -> Any:
    if not isinstance(input, dict):
        raise MessageError(f"the input must be a JSON object with the field '{name}'")
    if name not in input:
        raise MessageError(f"the input has no field '{name}'")
    return input[name]


def number(value: Any, what: str = "the input") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise MessageError(f"{what} must be a number, not {brief(value)}")
    return float(value)


def real(input: Any, name: str) -> float:
    return number(field(input, name), f"field '{name}'")


def integer(input: Any, name: str) -> int:
    value = field(input, name)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise MessageError(f"field '{name}' must be an integer, not {brief(value)}")
    return value


RANKS = {1: "a list of numbers", 2: "a list of lists of numbers"}


def floats(input: Any, name: str, rank: int) -> np.ndarray:
    """Field `name` as a C-contiguous float64 array of the given rank."""
    value = field(input, name)
    try:
        array = np.asarray(value)
    except ValueError:  # ragged nesting
        array = None
    if array is not None and array.dtype == object and array.ndim == rank \
            and all(type(v) in (int, float) for v in array.flat):  # JSON's integers have no bound
        try:
            array = array.astype(np.float64)
        except OverflowError:
            raise MessageError(f"field '{name}' holds an integer out of the range of f64") \
                from None
    if array is None or array.ndim != rank or (array.size and array.dtype.kind not in "iuf") \
            or holds_bool(value):
        raise MessageError(f"field '{name}' must be {RANKS[rank]}"
                           f"{' of equal lengths' if rank > 1 else ''}, not {brief(value)}")
    return np.ascontiguousarray(array, dtype=np.float64)


def holds_bool(value) -> bool:
    """Is there a JSON true or false among the lists of value? (NumPy makes [0.5, true]
    an array of floats; serde_json takes no bool for a number.)"""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, bool):
            return True
        if isinstance(v, list):
            stack.extend(v)
    return False


def no_constant(name: str):
    """json.loads takes NaN, Infinity and -Infinity, which are not JSON; we do not."""
    raise MessageError(f"{name} is not a JSON number (JSON has no NaN or infinity)")


def finite_float(text: str) -> float:
    """A JSON number with a fraction or exponent; json.loads makes 1e400 inf, which
    serde_json refuses as out of range, and so do we."""
    value = float(text)
    if not math.isfinite(value):
        raise MessageError(f"{text} is out of the range of f64")
    return value


def brief(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def runs_wanted(input: Any) -> tuple[int, float]:
    """(min_runs, min_seconds) from the input; one run when it does not say."""
    if not isinstance(input, dict):
        return 1, 0.0
    runs = input.get("min_runs", 1)
    seconds = input.get("min_seconds", 0.0)
    if isinstance(runs, bool) or not isinstance(runs, int) or runs < 0:
        raise MessageError(f"'min_runs' must be a non-negative integer, not {brief(runs)}")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
        raise MessageError(f"'min_seconds' must be a non-negative number, not {brief(seconds)}")
    return max(runs, 1), float(seconds)


# --- the modules --------------------------------------------------------------------------

@dataclass(frozen=True)
class Function:
    """One function of a GradBench module. `compiled` picks what runs from the compiled
    module (at define time); `arguments` turns the message's input into its arguments
    (before the timed runs); `output` turns its result, given those arguments, into the
    output the eval expects (after them)."""
    compiled: Callable[[CompiledModule], CompiledFunction]
    arguments: Callable[[Any], tuple]
    output: Callable[[Any, tuple], Any]


@dataclass(frozen=True)
class Module:
    """A GradBench module: its .dp file (under examples/) and its functions by name."""
    source: str
    functions: dict[str, Function]


def primal(name: str):
    return lambda module: module.function(name)


def gradient(name: str, wrt=None):
    return lambda module: module.grad(name, wrt)


def number_output(result, args) -> float:
    return float(result)


def list_output(result, args) -> list:
    return np.asarray(result).tolist()


def flat_output(result, args) -> list:
    return np.asarray(result).reshape(-1).tolist()


def hello_arguments(input) -> tuple:
    return (number(input),)


def lse_arguments(input) -> tuple:
    return (floats(input, "x", 1),)


def llsq_arguments(input) -> tuple:
    return floats(input, "x", 1), integer(input, "n")


def det_arguments(input) -> tuple:
    """A: l*l numbers, row-major, reshaped to the l x l matrix det.dp takes."""
    a, ell = floats(input, "A", 1), integer(input, "ell")
    if ell < 1:
        raise MessageError(f"field 'ell' must be at least 1, not {ell}")
    if a.size != ell * ell:
        raise MessageError(f"field 'A' must hold ell * ell = {ell * ell} numbers for "
                           f"ell = {ell}, not {a.size}")
    return (a.reshape(ell, ell),)


def ode_arguments(input) -> tuple:
    return floats(input, "x", 1), integer(input, "s")


def gmm_arguments(input) -> tuple:
    """The arguments of gmm.dp's `gmm`: q and l packed into icf, ADBench's layout (row j
    is q[j] followed by l[j])."""
    q, l = floats(input, "q", 2), floats(input, "l", 2)
    if len(q) != len(l):
        raise MessageError(f"fields 'q' and 'l' must have as many rows (k), not "
                           f"{len(q)} and {len(l)}")
    icf = np.concatenate([q, l], axis=1)
    return (floats(input, "alpha", 1), floats(input, "mu", 2), icf, floats(input, "x", 2),
            real(input, "gamma"), integer(input, "m"))


def gmm_jacobian_output(result, args) -> dict:
    """The gradient split as the input came: icf's gradient back into q and l."""
    d_alpha, d_mu, d_icf = result
    d = args[1].shape[1]
    return {"alpha": d_alpha.tolist(), "mu": d_mu.tolist(),
            "q": d_icf[:, :d].tolist(), "l": d_icf[:, d:].tolist()}


def lstm_arguments(input) -> tuple:
    return tuple(floats(input, name, 2)
                 for name in ("main_params", "extra_params", "state", "sequence"))


def lstm_jacobian_output(result, args) -> list:
    """main_params' gradient, then extra_params', each flattened row by row."""
    d_main, d_extra = result
    return np.concatenate([d_main.reshape(-1), d_extra.reshape(-1)]).tolist()


def kmeans_arguments(input) -> tuple:
    return floats(input, "points", 2), floats(input, "centroids", 2)


def saddle_arguments(input) -> tuple:
    start = floats(input, "start", 1)
    if start.size != 2:
        raise MessageError(f"field 'start' must hold 2 numbers, not {start.size}")
    return (start,)


def particle_arguments(input) -> tuple:
    return (real(input, "w"),)


NESTED_VARIANTS = ("ff", "fr", "rf", "rr")  # forward or reverse, outer then inner


MODULES: dict[str, Module] = {
    "hello": Module("gradbench/hello.dp", {
        "square": Function(primal("square"), hello_arguments, number_output),
        "double": Function(gradient("square"), hello_arguments, number_output),
    }),
    "lse": Module("lse.dp", {
        "primal": Function(primal("lse"), lse_arguments, number_output),
        "gradient": Function(gradient("lse"), lse_arguments, list_output),
    }),
    "llsq": Module("llsq.dp", {
        "primal": Function(primal("llsq"), llsq_arguments, number_output),
        "gradient": Function(gradient("llsq", "x"), llsq_arguments, list_output),
    }),
    "det": Module("gradbench/det.dp", {
        "primal": Function(primal("det"), det_arguments, number_output),
        "gradient": Function(gradient("det"), det_arguments, flat_output),
    }),
    "ode": Module("ode.dp", {
        "primal": Function(primal("ode"), ode_arguments, list_output),
        "gradient": Function(gradient("ode_last", "x"), ode_arguments, list_output),
    }),
    "gmm": Module("gmm.dp", {
        "objective": Function(primal("gmm"), gmm_arguments, number_output),
        "jacobian": Function(gradient("gmm", ("alphas", "means", "icf")), gmm_arguments,
                             gmm_jacobian_output),
    }),
    "lstm": Module("lstm.dp", {
        "objective": Function(primal("lstm"), lstm_arguments, number_output),
        "jacobian": Function(gradient("lstm", ("main_params", "extra_params")),
                             lstm_arguments, lstm_jacobian_output),
    }),
    "kmeans": Module("kmeans.dp", {
        "cost": Function(primal("kmeans"), kmeans_arguments, number_output),
        "dir": Function(primal("kmeans_dir"), kmeans_arguments, list_output),
    }),
    "saddle": Module("gradbench/saddle.dp", {
        name: Function(primal(name), saddle_arguments, list_output) for name in NESTED_VARIANTS
    }),
    "particle": Module("gradbench/particle.dp", {
        name: Function(primal(name), particle_arguments, number_output) for name in NESTED_VARIANTS
    }),
}


# --- running -----------------------------------------------------------------------------

def timed_runs(fn: Callable, args: tuple, min_runs: int, min_seconds: float):
    """The last result of fn(*args) and the nanoseconds of each run: at least min_runs
    runs, and more until they add up to min_seconds."""
    timings = []
    elapsed = 0
    while len(timings) < min_runs or elapsed < min_seconds * 1e9:
        start = time.perf_counter_ns()
        result = fn(*args)
        took = time.perf_counter_ns() - start
        timings.append(took)
        elapsed += took
    return result, timings


def non_finite(output: Any, path: str = "output") -> str | None:
    """Where the output holds a number JSON cannot write, 'output[2] is nan', or None."""
    if isinstance(output, dict):
        return next(filter(None, (non_finite(v, f"{path}.{k}") for k, v in output.items())),
                    None)
    numbers = np.asarray(output, dtype=np.float64)  # numbers, or lists of them
    bad = np.argwhere(~np.isfinite(numbers))
    if len(bad) == 0:
        return None
    return f"{path}{''.join(f'[{i}]' for i in bad[0])} is {numbers[tuple(bad[0])]}"


def require(message: dict, name: str) -> str:
    value = message.get(name)
    if not isinstance(value, str):
        kind = message.get("kind")
        raise MessageError(f"a '{kind}' message needs a string field '{name}'"
                           if value is None else f"field '{name}' must be a string")
    return value


def failure(id, error: str) -> dict:
    return {"id": id, "success": False, "error": error}


class Tool:
    """Answers GradBench messages, one at a time. Compiled modules are kept, so a module
    is compiled once however often it is defined or evaluated."""

    def __init__(self, modules: dict[str, Module] = MODULES, examples: Path = EXAMPLES,
                 fast_math: bool = False):
        self.modules = modules
        self.examples = Path(examples)
        self.fast_math = fast_math
        self.compiled: dict[str, dict[str, CompiledFunction]] = {}

    def respond(self, line: str) -> dict:
        try:
            message = json.loads(line, parse_constant=no_constant, parse_float=finite_float)
        except (json.JSONDecodeError, MessageError) as e:
            return failure(None, f"the line is not JSON: {e}")
        except RecursionError:  # Python's reader recurses once per level
            return failure(None, "the line cannot be read: its arrays or objects nest too "
                                 "deeply")
        if not isinstance(message, dict) or "id" not in message:
            return failure(None, "a message must be a JSON object with an 'id'")
        id = message["id"]
        kind = message.get("kind")
        handlers = {"start": self.start, "define": self.define, "evaluate": self.evaluate}
        if not isinstance(kind, str):
            return failure(id, "the message needs a string field 'kind'")
        if kind not in handlers:
            return {"id": id}  # analysis, and any kind the protocol adds later
        try:
            return {"id": id, **handlers[kind](message)}
        except MessageError as e:
            return failure(id, str(e))
        except CompileError as e:
            return failure(id, f"compile error:\n{e}")
        except RuntimeErrorDP as e:
            return failure(id, f"run-time error: {e}")
        except Exception as e:  # a bug of ours: say so, and keep serving
            return failure(id, f"internal error in dpc: {type(e).__name__}: {e}")

    def start(self, message: dict) -> dict:
        return {"tool": TOOL}

    def define(self, message: dict) -> dict:
        began = time.perf_counter_ns()
        self.functions(require(message, "module"))
        took = time.perf_counter_ns() - began
        return {"success": True, "timings": [{"name": "compile", "nanoseconds": took}]}

    def evaluate(self, message: dict) -> dict:
        module = require(message, "module")
        name = require(message, "function")
        if "input" not in message:
            raise MessageError("an 'evaluate' message needs the field 'input'")
        compiled = self.functions(module)  # compiled at define; here only if not defined
        if name not in compiled:
            raise MessageError(f"module '{module}' has no function '{name}' (functions: "
                               f"{', '.join(compiled)})")
        spec = self.modules[module].functions[name]
        input = message["input"]
        args = spec.arguments(input)
        min_runs, min_seconds = runs_wanted(input)
        result, timings = timed_runs(compiled[name].call, args, min_runs, min_seconds)
        output = spec.output(result, args)
        timed = [{"name": "evaluate", "nanoseconds": t} for t in timings]
        where = non_finite(output)
        if where is not None:  # no JSON number for it: the evaluate fails, its runs timed
            return {"success": False, "error": f"the output is not finite ({where}), and "
                                               f"JSON has no NaN or infinity to send it as",
                    "timings": timed}
        return {"success": True, "output": output, "timings": timed}

    def functions(self, module: str) -> dict[str, CompiledFunction]:
        """The compiled functions of `module`, compiling them on first use."""
        if module not in self.compiled:
            if module not in self.modules:
                raise MessageError(f"dpc has no GradBench module '{module}' (modules: "
                                   f"{', '.join(self.modules)})")
            spec = self.modules[module]
            path = self.examples / spec.source
            try:
                compiled = compile_file(path, fast_math=self.fast_math)
            except OSError as e:
                raise MessageError(f"cannot read {path}: {e.strerror or e}") from None
            self.compiled[module] = {name: served_function(f, compiled, module, name, path)
                                     for name, f in spec.functions.items()}
        return self.compiled[module]


def served_function(function: Function, compiled: CompiledModule, module: str, name: str,
                    path: Path) -> CompiledFunction:
    """What runs for GradBench's function `name`, from the compiled file at path. A
    function missing from the file, or one that cannot be differentiated as the eval needs,
    is a mistake in that file (--examples names the user's), not in dpc."""
    try:
        served = function.compiled(compiled)
    except (KeyError, ValueError) as e:  # KeyError's str() quotes its message
        raise MessageError(f"{path} cannot serve function '{name}' of module '{module}': "
                           f"{e.args[0]}") from None
    wanted = OUTPUT_KINDS.get(function.output)
    returns = served.function.return_types
    if wanted is not None and not wanted[1](returns):
        raise MessageError(f"{path} cannot serve function '{name}' of module '{module}': "
                           f"{served.function.written} returns "
                           f"{listed_types('return', returns)}, where the eval needs "
                           f"{wanted[0]}")
    return served


# What the generic outputs need of the function's results: a number, or one array.
OUTPUT_KINDS = {
    number_output: ("a number (f64)", lambda types: types == [F64]),
    list_output: ("an array of f64", lambda types: len(types) == 1 and types[0].rank > 0
                  and types[0].elem == F64),
}
OUTPUT_KINDS[flat_output] = OUTPUT_KINDS[list_output]


def encoded(response: dict) -> str:
    """The response as strict JSON; should a number JSON cannot write reach it (a bug of
    ours: inputs and outputs are checked), an error response in its place."""
    try:
        return json.dumps(response, allow_nan=False)
    except ValueError:  # Python's words for it vary with its version
        return json.dumps(failure(response.get("id"), "internal error in dpc: the response "
                                  "holds a number JSON cannot write (NaN or infinity)"))


def serve(stdin, stdout, tool: Tool | None = None) -> int:
    """Answers every line of stdin until it ends."""
    tool = tool or Tool()
    for line in iter(stdin.readline, ""):
        if not line.strip():
            continue
        try:
            stdout.write(encoded(tool.respond(line)) + "\n")
            stdout.flush()
        except BrokenPipeError:  # the eval has gone
            return 0
    return 0


# --- the subcommand (registered in cli.py) ---------------------------------------------------

def add_arguments(parser) -> None:
    parser.add_argument("--examples", metavar="DIR", default=str(EXAMPLES),
                        help=f"the folder the modules' .dp files are read from (default: "
                             f"{EXAMPLES})")
    parser.add_argument("--fast-math", action="store_true",
                        help="let LLVM reassociate and contract floating-point arithmetic")


def run_command(args) -> int:
    return serve(sys.stdin, sys.stdout, Tool(examples=args.examples, fast_math=args.fast_math))
