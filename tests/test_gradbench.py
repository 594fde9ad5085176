"""`dpc gradbench`, driven as a subprocess through scripted GradBench sessions.

For every module, the inputs are built the way the eval's run.py builds them (same seeds
and generators, small sizes), and every output, primal and derivative, is checked against
a NumPy reference (tests/reference.py, tests/reference_grad.py, or a closed form below)
with GradBench's comparison: the same JSON shape, and |a - e| / max(1, |a| + |e|) within
TIGHT, which is 1e-8 (GradBench accepts 1e-4) since every reference here is exact.
Then the protocol's corner cases: runs and timings, and messages that cannot be served,
each followed by one that must still be.
"""

import json
import math
import os
import select
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

import nested_reference
import reference
import reference_grad

ROOT = Path(__file__).resolve().parent.parent
TIGHT = 1e-8
TIMEOUT = 300  # seconds to wait for one response before failing


def not_json(constant: str):
    """Python reads NaN, Infinity and -Infinity; GradBench's intermediary (serde_json)
    refuses the line, which ends the session."""
    raise AssertionError(f"{constant} in a response, which is not JSON")


def interruptible() -> None:
    """SIGINT as a terminal's Ctrl-C finds it: a test run started in the background (`cmd
    &` in a script) hands its children SIGINT ignored, and Python then raises no
    KeyboardInterrupt (the Ctrl-C test waited out its timeout so in a fresh clone)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Session:
    """One `dpc gradbench` process: send a message, read its one-line response."""

    def __init__(self):
        self.stderr = tempfile.TemporaryFile(mode="w+")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "compiler.cli", "gradbench"], cwd=ROOT,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, text=True,
            preexec_fn=interruptible)
        self.next_id = 0

    def send_line(self, line: str) -> dict:
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        ready, _, _ = select.select([self.process.stdout], [], [], TIMEOUT)
        response = self.process.stdout.readline() if ready else ""
        if not response:
            self.stderr.seek(0)
            pytest.fail(f"no response to {line[:200]}\nstderr:\n{self.stderr.read()}")
        assert response.endswith("\n")
        return json.loads(response, parse_constant=not_json)  # strict, as GradBench reads it

    def ask(self, kind: str, **fields) -> dict:
        """Sends a message with a fresh id; its response must carry the same id."""
        id = self.next_id
        self.next_id += 1
        response = self.send_line(json.dumps({"id": id, "kind": kind, **fields}))
        assert response["id"] == id
        return response

    def close(self) -> int:
        self.process.stdin.close()
        code = self.process.wait(TIMEOUT)
        self.process.stdout.close()
        self.stderr.close()
        return code


@pytest.fixture(scope="module")
def tool():
    session = Session()
    assert session.ask("start", eval="test") == {"id": 0, "tool": "dpc"}
    yield session
    assert session.close() == 0


def define(tool: Session, module: str) -> None:
    response = tool.ask("define", module=module)
    assert response["success"] is True, response
    assert [t["name"] for t in response["timings"]] == ["compile"]
    assert response["timings"][0]["nanoseconds"] > 0


def evaluate(tool: Session, module: str, function: str, input, min_runs: int = 2):
    """The output of one evaluate, after checking the response around it."""
    if isinstance(input, dict):
        input = input | {"min_runs": min_runs, "min_seconds": 0}
    response = tool.ask("evaluate", module=module, function=function, input=input,
                        description="test")
    assert response["success"] is True, response
    assert set(response) == {"id", "success", "output", "timings"}
    timings = response["timings"]
    assert len(timings) == (min_runs if isinstance(input, dict) else 1)
    for t in timings:
        assert t["name"] == "evaluate" and isinstance(t["nanoseconds"], int)
        assert t["nanoseconds"] > 0
    analysis = tool.ask("analysis", of=response["id"], valid=True)
    assert analysis == {"id": analysis["id"]}
    return response["output"]


def check(actual, expected, tol: float = TIGHT, path: str = "output") -> None:
    """GradBench's comparison: numbers are JSON numbers, lists have the expected lengths,
    objects the expected keys, and numbers agree within |a - e| / max(1, |a| + |e|)."""
    if isinstance(expected, np.ndarray):
        expected = expected.tolist()
    if isinstance(expected, dict):
        assert isinstance(actual, dict) and set(actual) == set(expected), path
        for key in expected:
            check(actual[key], expected[key], tol, f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), path
        for i, (a, e) in enumerate(zip(actual, expected)):
            check(a, e, tol, f"{path}[{i}]")
    else:
        assert isinstance(actual, float), f"{path}: {actual!r} is not a JSON number"
        e = float(expected)
        assert abs(actual - e) / max(1.0, abs(actual) + abs(e)) <= tol, f"{path}: {actual} != {e}"


# --- the modules, inputs as each eval's run.py makes them -----------------------------------

def test_hello(tool):
    define(tool, "hello")
    x = 1.0
    for _ in range(4):  # run.py: square, then double of the result, fed back in
        y = evaluate(tool, "hello", "square", x)
        check(y, x * x)
        x = evaluate(tool, "hello", "double", y)
        check(x, 2 * y)
    assert x == 2.0 ** 15


def test_lse(tool):
    define(tool, "lse")
    np.random.seed(31337)
    for n in (1, 3, 50):
        x = np.random.rand(n)
        check(evaluate(tool, "lse", "primal", {"x": x.tolist()}), reference.lse(x))
        check(evaluate(tool, "lse", "gradient", {"x": x.tolist()}), reference_grad.softmax(x))


def llsq_gradient(x, n):
    """-V^T r for the Vandermonde matrix V of the points and the residual r."""
    t = reference.llsq_points(n)
    vander = t[:, None] ** np.arange(len(x))[None, :]
    return -vander.T @ (np.sign(t) - vander @ x)


def test_llsq(tool):
    define(tool, "llsq")
    np.random.seed(31337)
    # odd n puts a sample point at t = 0, where sign(t) = 0
    for n, m in sorted([(n, m) for n in (2, 16, 17) for m in (1, 4)], key=lambda v: v[0] * v[1]):
        x = np.random.rand(m)
        input = {"x": x.tolist(), "n": n}
        check(evaluate(tool, "llsq", "primal", input), reference.llsq(x, n))
        check(evaluate(tool, "llsq", "gradient", input), llsq_gradient(x, n))


def test_det(tool):
    define(tool, "det")
    np.random.seed(31337)
    for ell in (1, 2, 3, 4, 5, 6, 7):
        a = np.random.rand(ell * ell)
        input = {"A": a.tolist(), "ell": ell}
        matrix = a.reshape(ell, ell)
        value = np.linalg.det(matrix)
        cofactors = value * np.linalg.inv(matrix).T  # d det / d A
        check(evaluate(tool, "det", "primal", input), value)
        check(evaluate(tool, "det", "gradient", input), cofactors.reshape(-1))


def test_ode(tool):
    define(tool, "ode")
    np.random.seed(31337)
    for n, s in sorted([(n, s) for n in (1, 2, 10) for s in (1, 3)], key=lambda v: v[0] * v[1]):
        x = np.random.rand(n)
        input = {"x": x.tolist(), "s": s}
        y = reference.ode(x, s)
        check(evaluate(tool, "ode", "primal", input), y)
        # Every term of the Runge-Kutta y[n-1] is x[0] x[1] ... x[n-1] times a constant,
        # so its gradient is y[n-1] / x (as GradBench's manual tool computes it).
        check(evaluate(tool, "ode", "gradient", input), y[-1] / x)


def gmm_input(*, seed, d, k, n, m, gamma):
    """run.py's generate(): a fresh generator per (d, k)."""
    rng = np.random.default_rng(seed=seed)
    return {
        "d": d, "k": k, "n": n,
        "x": [list(rng.normal(size=d)) for _ in range(n)],
        "m": m, "gamma": gamma,
        "alpha": list(rng.normal(size=k)),
        "mu": [list(rng.uniform(size=d)) for _ in range(k)],
        "q": [list(rng.normal(size=d)) for _ in range(k)],
        "l": [list(rng.normal(size=d * (d - 1) // 2)) for _ in range(k)],
    }


def gmm_arguments(input):
    """reference.py's argument order, with ADBench's packing icf = [q | l]."""
    icf = np.concatenate([np.reshape(input["q"], (input["k"], input["d"])),
                          np.reshape(input["l"], (input["k"], -1))], axis=1)
    return [np.array(input["alpha"]), np.array(input["mu"]), icf, np.array(input["x"]),
            input["gamma"], input["m"]]


@pytest.mark.parametrize("m, gamma", [(0, 1.0), (2, 0.5)])  # run.py's defaults; -m 2 --gamma 0.5
def test_gmm(tool, m, gamma):
    define(tool, "gmm")
    for d, k in sorted([(1, 2), (2, 3), (3, 4)], key=lambda v: v[0] * v[1]):
        input = gmm_input(seed=31337, d=d, k=k, n=6, m=m, gamma=gamma)
        args = gmm_arguments(input)
        check(evaluate(tool, "gmm", "objective", input), reference.gmm_objective(*args))
        d_alpha, d_mu, d_icf = reference_grad.gmm_gradient(*args)
        expected = {"alpha": d_alpha, "mu": d_mu, "q": d_icf[:, :d], "l": d_icf[:, d:]}
        check(evaluate(tool, "gmm", "jacobian", input), expected)


# A stand-in for evals/lstm/data/lstm_full.txt (ASCII text: 7 bits per character).
LSTM_TEXT = "It is a truth universally acknowledged, that a single man in possession of " * 2


def lstm_input(text, layers, chars):
    """run.py's gen_lstm(): the characters' bits, most significant first, and uniform
    random parameters and state."""
    use_text = text[:chars]
    bits = math.ceil(math.log2(max(ord(c) for c in use_text)))
    sequence = [[float(b) for b in bin(ord(c))[2:].zfill(bits)] for c in use_text]
    return {
        "main_params": np.random.random((2 * layers, 4 * bits)).tolist(),
        "extra_params": np.random.random((3, bits)).tolist(),
        "state": np.random.random((2 * layers, bits)).tolist(),
        "sequence": sequence,
    }


def test_lstm(tool):
    define(tool, "lstm")
    np.random.seed(31337)
    for layers, chars in sorted([(1, 3), (2, 3), (2, 9)], key=lambda v: v[0] * v[1]):
        input = lstm_input(LSTM_TEXT, layers, chars)
        args = [np.array(input[name]) for name in ("main_params", "extra_params", "state",
                                                   "sequence")]
        assert args[1].shape[1] == 7
        check(evaluate(tool, "lstm", "objective", input), reference.lstm_objective(*args))
        d_main, d_extra = reference_grad.lstm_gradient(*args)
        expected = np.concatenate([d_main.reshape(-1), d_extra.reshape(-1)])
        output = evaluate(tool, "lstm", "jacobian", input)
        assert len(output) == 8 * layers * 7 + 3 * 7
        check(output, expected)


# --- runs and timings ---------------------------------------------------------------------

def test_kmeans(tool):
    define(tool, "kmeans")
    np.random.seed(31337)
    for k, n, d in ((2, 10, 2), (3, 20, 3)):
        points = np.random.rand(n, d)
        centroids = points[-k:]  # run.py: the last k points, so no cluster is empty
        input = {"points": points.tolist(), "centroids": centroids.tolist()}
        nearest = np.argmin(((points[:, None, :] - centroids[None]) ** 2).sum(-1), axis=1)
        newton = [c - points[nearest == j].mean(axis=0) for j, c in enumerate(centroids)]
        check(evaluate(tool, "kmeans", "cost", input), reference.kmeans_cost(points, centroids))
        check(evaluate(tool, "kmeans", "dir", input), np.array(newton))


def test_saddle(tool):
    define(tool, "saddle")
    expected = nested_reference.saddle(nested_reference.SADDLE_START)
    for variant in ("ff", "fr", "rf", "rr"):  # run.py: each variant on start [1, 1]
        output = evaluate(tool, "saddle", variant, {"start": [1.0, 1.0]}, min_runs=1)
        check(output, expected)
        check(output, nested_reference.SADDLE_EXPECTED, tol=1e-4)  # GradBench's constant


def test_particle(tool):
    define(tool, "particle")
    expected = nested_reference.particle(nested_reference.PARTICLE_START)
    for variant in ("ff", "fr", "rf", "rr"):  # run.py: each variant from w = 0
        output = evaluate(tool, "particle", variant, {"w": 0.0}, min_runs=1)
        check(output, expected)
        check(output, nested_reference.PARTICLE_EXPECTED, tol=1e-4)


def test_runs_follow_min_runs_and_min_seconds(tool):
    define(tool, "lse")
    x = [0.5, 1.5]

    def timings(min_runs, min_seconds):
        response = tool.ask("evaluate", module="lse", function="primal",
                            input={"x": x, "min_runs": min_runs, "min_seconds": min_seconds})
        assert response["success"] is True
        return [t["nanoseconds"] for t in response["timings"]]

    assert len(timings(5, 0)) == 5
    assert len(timings(0, 0)) == 1  # an output needs one run
    assert sum(timings(1, 0.02)) >= 0.02e9


def test_define_twice_reuses_the_compiled_module(tool):
    define(tool, "hello")
    response = tool.ask("define", module="hello")
    assert response["success"] is True


# --- messages that cannot be served: an error response, and the tool serves on -------------

@pytest.fixture(scope="module")
def fresh():
    """A session of its own: also checks that an evaluate needs no define first."""
    session = Session()
    yield session
    assert session.close() == 0


def served(session: Session) -> None:
    """The message after an error is served as usual."""
    check(evaluate(session, "hello", "square", 3.0), 9.0)


def assert_failure(response: dict, id, *words: str) -> None:
    assert set(response) == {"id", "success", "error"}, response
    assert response["id"] == id and response["success"] is False
    for word in words:
        assert word in response["error"], response["error"]


def test_unknown_module(fresh):
    response = fresh.ask("define", module="nosuch")
    assert_failure(response, response["id"], "nosuch", "lse")  # names the modules there are
    served(fresh)
    response = fresh.ask("evaluate", module="nosuch", function="primal", input={})
    assert_failure(response, response["id"], "nosuch")
    served(fresh)


def test_unknown_function(fresh):
    response = fresh.ask("evaluate", module="lse", function="hessian", input={"x": [1.0]})
    assert_failure(response, response["id"], "hessian", "primal, gradient")
    served(fresh)


@pytest.mark.parametrize("line, id, words", [
    ("this is not json", None, ["not JSON"]),
    ("[1, 2, 3]", None, ["'id'"]),
    ('{"kind": "start"}', None, ["'id'"]),
    ('{"id": 41}', 41, ["'kind'"]),
    ('{"id": 42, "kind": "define"}', 42, ["'module'"]),
    ('{"id": 43, "kind": "define", "module": 7}', 43, ["'module'"]),
    ('{"id": 44, "kind": "evaluate", "module": "lse", "input": {"x": [1.0]}}', 44, ["'function'"]),
    ('{"id": 45, "kind": "evaluate", "module": "lse", "function": "primal"}', 45, ["'input'"]),
    # Python's json reads these; they are not JSON, and an id of NaN had no JSON answer
    ('{"id": NaN, "kind": "start"}', None,
     ["the line is not JSON: NaN is not a JSON number (JSON has no NaN or infinity)"]),
    ('{"id": 46, "kind": "evaluate", "module": "hello", "function": "square", '
     '"input": -Infinity}', None,
     ["the line is not JSON: -Infinity is not a JSON number (JSON has no NaN or infinity)"]),
    ('{"id": 1e400, "kind": "start"}', None,
     ["the line is not JSON: 1e400 is out of the range of f64"]),
])
def test_malformed_message(fresh, line, id, words):
    assert_failure(fresh.send_line(line), id, *words)
    served(fresh)


@pytest.mark.parametrize("module, function, input, words", [
    ("hello", "square", "three", ["number"]),
    ("lse", "primal", {"y": [1.0]}, ["'x'"]),
    ("lse", "primal", [1.0, 2.0], ["JSON object"]),
    ("lse", "gradient", {"x": [[1.0], [2.0]]}, ["'x'", "list of numbers"]),
    ("lse", "primal", {"x": [1.0, "two"]}, ["'x'"]),
    ("lse", "primal", {"x": [1, 2 * 10**400]}, ["field 'x' holds an integer out of the range "
                                                "of f64"]),
    ("lse", "primal", {"x": [1.0], "min_runs": -1}, ["min_runs"]),
    ("llsq", "primal", {"x": [1.0], "n": 2.5}, ["'n'", "integer"]),
    ("det", "primal", {"A": [1.0, 2.0, 3.0], "ell": 2}, ["'A'", "4"]),
    ("det", "primal", {"A": [], "ell": 0}, ["field 'ell' must be at least 1, not 0"]),
    ("ode", "primal", {"x": [1.0, 2.0]}, ["'s'"]),
    ("saddle", "rr", {"start": [1.0, 1.0, 1.0]}, ["'start'", "2 numbers"]),
    ("particle", "ff", {"w": "zero"}, ["'w'", "number"]),
    ("lse", "primal", {"x": [0.5, True]}, ["'x'", "list of numbers"]),  # taken as 1.0
    # shapes that only the compiled program can check: dpc's run-time errors
    ("gmm", "objective", gmm_input(seed=1, d=2, k=2, n=3, m=0, gamma=1.0)
        | {"mu": [[0.5, 0.5, 0.5], [0.5, 0.5, 0.5]]}, ["run-time error"]),
    ("lstm", "objective", {"main_params": [[1.0] * 5] * 2, "extra_params": [[1.0] * 2] * 3,
                           "state": [[1.0] * 2] * 2, "sequence": [[1.0] * 2] * 3},
     ["run-time error", "4 blocks"]),
])
def test_wrong_input(fresh, module, function, input, words):
    response = fresh.ask("evaluate", module=module, function=function, input=input)
    assert_failure(response, response["id"], *words)
    served(fresh)


NOT_FINITE_GMM = {"d": 1, "k": 2, "n": 2, "x": [[1e300], [0.0]], "m": 0, "gamma": 1.0,
                  "alpha": [0.0, 0.0], "mu": [[0.0], [0.0]], "q": [[0.0], [0.0]], "l": [[], []]}


@pytest.mark.parametrize("module, function, input, where", [
    ("hello", "square", 1e200, "output is inf"),
    ("ode", "gradient", {"x": [1e300, -1e300, 1e300], "s": 1}, "output[0] is -inf"),
    ("gmm", "jacobian", NOT_FINITE_GMM, "output.alpha[0] is nan"),
])
def test_an_output_that_is_not_finite_is_a_failed_evaluate(fresh, module, function, input,
                                                           where):
    # it went out as a bare Infinity or NaN, which ended GradBench's session; the protocol
    # has no number for it, so the evaluate fails, with its timings, and the eval goes on
    response = fresh.ask("evaluate", module=module, function=function, input=input)
    assert set(response) == {"id", "success", "error", "timings"}, response
    assert response["success"] is False
    assert response["error"] == (f"the output is not finite ({where}), and JSON has no NaN "
                                 f"or infinity to send it as")
    assert [t["name"] for t in response["timings"]] == ["evaluate"]
    served(fresh)


def test_a_response_is_strict_json_even_should_a_non_finite_number_reach_it():
    from compiler.gradbench import encoded
    assert encoded({"id": 7, "success": True, "output": [1.0, float("nan")]}) == (
        '{"id": 7, "success": false, "error": "internal error in dpc: the response holds a '
        'number JSON cannot write (NaN or infinity)"}')


def test_an_integer_beyond_i64_is_a_number(fresh):
    # valid JSON: it was "field 'x' must be a list of numbers"
    response = evaluate(fresh, "lse", "primal", {"x": [1, 2, 10**29]})
    check(response, 1e29)
    # also among floats, where NumPy makes an array of objects
    check(evaluate(fresh, "lse", "primal", {"x": [0.5, 10**20]}), 1e20)
    check(evaluate(fresh, "kmeans", "cost", {"points": [[1.0, 10**20]],
                                             "centroids": [[1.0, 0.0]]}), 1e40)


def test_other_kinds_get_their_id_back(fresh):
    assert fresh.ask("analysis", of=0, valid=False, error="no") == {"id": fresh.next_id - 1}
    assert fresh.ask("shutdown") == {"id": fresh.next_id - 1}
    served(fresh)


def test_blank_lines_are_skipped_and_eof_ends_the_tool():
    process = subprocess.run([sys.executable, "-m", "compiler.cli", "gradbench"], cwd=ROOT,
                             input='\n{"id": 1, "kind": "start"}\n\n', capture_output=True,
                             text=True, timeout=TIMEOUT, env=os.environ)
    assert process.returncode == 0
    assert process.stdout == '{"id": 1, "tool": "dpc"}\n'


def test_a_line_nested_too_deeply_to_read_is_answered(fresh):
    # Python's reader raised RecursionError, which ended the session with 'the program is
    # nested too deeply to compile'
    assert fresh.send_line("[" * 100000 + "]" * 100000) == {
        "id": None, "success": False,
        "error": "the line cannot be read: its arrays or objects nest too deeply"}
    served(fresh)


def gradbench_with(argv: list[str], messages: list[dict], **run) -> subprocess.CompletedProcess:
    """`dpc gradbench ARGV` run on the messages, to the end of its input."""
    lines = "".join(json.dumps(m) + "\n" for m in messages)
    return subprocess.run([sys.executable, "-m", "compiler.cli", "gradbench", *argv], cwd=ROOT,
                          input=lines, text=True, timeout=TIMEOUT, **run)


def test_a_module_file_without_what_the_eval_calls_is_the_file_s_mistake(tmp_path):
    # --examples names the user's files: a function missing from one, or one that grad
    # cannot take, was answered 'internal error in dpc: KeyError: ...'
    (tmp_path / "gradbench").mkdir()
    (tmp_path / "gradbench" / "hello.dp").write_text(
        "def cube(x: f64) -> f64:\n    return x * x * x\n")
    (tmp_path / "lse.dp").write_text("def lse(x: f64[n]) -> f64[n]:\n    return x\n")
    done = gradbench_with(["--examples", str(tmp_path)],
                          [{"id": 1, "kind": "define", "module": "hello"},
                           {"id": 2, "kind": "define", "module": "lse"}],
                          capture_output=True)
    hello, lse = tmp_path / "gradbench" / "hello.dp", tmp_path / "lse.dp"
    assert (done.returncode, done.stderr) == (0, "")
    assert [json.loads(line) for line in done.stdout.splitlines()] == [
        {"id": 1, "success": False,
         "error": f"{hello} cannot serve function 'square' of module 'hello': no function "
                  f"'square' in {hello} (functions: cube)"},
        {"id": 2, "success": False,
         "error": f"{lse} cannot serve function 'primal' of module 'lse': lse returns "
                  f"f64[n], where the eval needs a number (f64)"}]


def test_a_module_file_whose_results_are_not_what_the_eval_needs_is_the_file_s_mistake(tmp_path):
    # a tuple for a number was 'internal error in dpc: TypeError: float() argument ...';
    # a number for a list went out as the output, with success
    (tmp_path / "kmeans.dp").write_text(
        "def kmeans(points: f64[n, d], centroids: f64[k, d]) -> (f64, f64):\n"
        "    return 1.0, 2.0\n\n"
        "def kmeans_dir(points: f64[n, d], centroids: f64[k, d]) -> f64:\n    return 1.0\n")
    (tmp_path / "lse.dp").write_text("def lse(x: f64) -> f64:\n    return x\n")
    done = gradbench_with(["--examples", str(tmp_path)],
                          [{"id": 1, "kind": "define", "module": "kmeans"},
                           {"id": 2, "kind": "define", "module": "lse"}],
                          capture_output=True)
    kmeans, lse = tmp_path / "kmeans.dp", tmp_path / "lse.dp"
    assert (done.returncode, done.stderr) == (0, "")
    assert [json.loads(line) for line in done.stdout.splitlines()] == [
        {"id": 1, "success": False,
         "error": f"{kmeans} cannot serve function 'cost' of module 'kmeans': kmeans returns "
                  f"(f64, f64), where the eval needs a number (f64)"},
        {"id": 2, "success": False,
         "error": f"{lse} cannot serve function 'gradient' of module 'lse': grad(lse) returns "
                  f"f64, where the eval needs an array of f64"}]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
def test_an_output_that_cannot_be_written_ends_the_tool_with_an_error():
    # > /dev/full: an OSError traceback
    with open("/dev/full", "w") as full:
        done = gradbench_with([], [{"id": 1, "kind": "start"}], stdout=full,
                              stderr=subprocess.PIPE)
    assert (done.returncode, done.stderr) == (
        1, "dpc: error: cannot write the output: No space left on device\n")


def test_ctrl_c_ends_an_idle_tool_quietly():
    # a KeyboardInterrupt traceback; shells give a command that SIGINT ended status 130
    session = Session()
    assert session.ask("start") == {"id": 0, "tool": "dpc"}  # reading the next line now
    session.process.send_signal(signal.SIGINT)
    code = session.process.wait(TIMEOUT)
    session.stderr.seek(0)
    stderr = session.stderr.read()
    assert "Traceback" not in stderr
    assert (code, stderr) == (130, "\n")
    session.close()
