"""Self-tests of the random program generator (tests/strategies.py) and of its Python
oracle: generated programs are Python syntax, run as Python + NumPy without errors to
finite values, cover the language, and (smooth=True) are smooth in their f64 inputs."""

import ast
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from strategies import Program, evaluate_python, generate_program, parse_type, programs

SETTINGS = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def check_args(program: Program, args: dict) -> None:
    assert list(args) == list(program.params)
    for name, text in program.params.items():
        base, dims = parse_type(text)
        value = args[name]
        if dims:
            assert value.shape == tuple(program.dims[d] for d in dims)
            assert value.dtype == (np.float64 if base == "f64" else np.int64)
            assert all(1 <= size <= 5 for size in value.shape)
        else:
            assert isinstance(value, {"f64": float, "i64": int, "bool": bool}[base])


def check_program(program: Program, seed: int) -> None:
    tree = ast.parse(program.source)  # .dp is Python syntax
    names = [f.name for f in tree.body if isinstance(f, ast.FunctionDef)]
    assert program.entry in names and len(names) <= 3
    args = program.make_args(np.random.default_rng(seed))
    check_args(program, args)
    value = evaluate_python(program, args)
    if program.result == "f64":
        assert np.ndim(value) == 0
    else:
        assert np.shape(value) == tuple(program.dims[d] for d in parse_type(program.result)[1])
    assert np.all(np.isfinite(value)), program.source


@SETTINGS
@given(programs())
def test_programs_parse_and_evaluate(program):
    check_program(program, 0)


@SETTINGS
@given(programs(smooth=True))
def test_smooth_programs_parse_and_evaluate(program):
    check_program(program, 1)


@settings(SETTINGS, max_examples=100)
@given(programs(array_results=True))
def test_array_result_programs_parse_and_evaluate(program):
    check_program(program, 2)


def test_many_seeds_evaluate_on_several_inputs():
    """Wider than the hypothesis runs: 300 programs per mode, 3 inputs each."""
    for smooth in (False, True):
        for seed in range(300):
            program = generate_program(seed, smooth=smooth, array_results=seed % 5 == 0)
            for k in range(3):
                check_program(program, 1000 * seed + k)


NON_SMOOTH_CALLS = {"abs", "sign", "floor", "ceil", "int", "max", "min", "where"}


@SETTINGS
@given(programs(smooth=True))
def test_smooth_programs_use_only_smooth_operations(program):
    for node in ast.walk(ast.parse(program.source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in NON_SMOOTH_CALLS, program.source
        assert not isinstance(node, (ast.FloorDiv, ast.Mod)), program.source
        if isinstance(node, ast.Compare):  # conditions only look at integers and bools
            for leaf in ast.walk(node):
                assert not (isinstance(leaf, ast.Constant) and isinstance(leaf.value, float))
                assert not (isinstance(leaf, ast.Call) and isinstance(leaf.func, ast.Name)
                            and leaf.func.id not in ("len",)), program.source


def directional_derivative(program, args, direction, h):
    def at(t):
        moved = {k: (v + t * direction[k] if k in direction else v) for k, v in args.items()}
        return float(np.sum(evaluate_python(program, moved)))
    return (at(h) - at(-h)) / (2 * h)


@settings(SETTINGS, max_examples=100)
@given(programs(smooth=True))
def test_smooth_programs_have_stable_finite_differences(program):
    """Central differences with two step sizes agree: no kinks or jumps near the inputs,
    and derivatives of moderate size, so finite differences are a usable oracle."""
    rng = np.random.default_rng(7)
    args = program.make_args(rng)
    direction = {k: rng.standard_normal(np.shape(v)) for k, v in args.items()
                 if parse_type(program.params[k])[0] == "f64"}
    d1 = directional_derivative(program, args, direction, 1e-4)
    d2 = directional_derivative(program, args, direction, 1e-5)
    assert abs(d1 - d2) <= 1e-3 * (1 + abs(d2)), (d1, d2, program.source)


# Every feature the generator promises, as a pattern over the source text.
FEATURES = {
    "f64 param": r"\w+: f64[,)]", "i64 param": r"\w+: i64[,)]", "bool param": r": bool[,)]",
    "rank-1 param": r": f64\[\w+\]", "rank-2 param": r": f64\[\w+, \w+\]",
    "i64 array param": r": i64\[\w+\]",
    "add": r" \+ ", "sub": r" - ", "mul": r" \* ", "div": r" / ", "neg": r"\(-[a-z(]",
    "pow": r"\*\* [23]\b", "real power": r"\*\* 0\.7\b", "exp": r"\bexp\(tanh\(",
    "log": r"\blog\(1\.0 \+",
    "sqrt": r"\bsqrt\(", "sin": r"\bsin\(", "cos": r"\bcos\(", "tanh": r"\btanh\(",
    "sigmoid": r"\bsigmoid\(", "abs": r"\babs\(", "max2": r"\bmax\([^()]+, [^()]+\)",
    "comparison": r" (<|<=|>|>=|==|!=) ", "where": r"\bwhere\(", "ternary": r" if .* else ",
    "for range(n)": r"for \w+ in range\([a-z]\):", "for range(a, b)": r"in range\(\w+, \w+\):",
    "nested for": r"\n( +)for .*\n\1    for ", "while": r"\n( *)(\w+) = 0\n\1while \2 < ",
    "if/elif/else": r"\n( *)if .*:\n(\1 .*\n)+\1elif .*:\n(\1 .*\n)+\1else:",
    "comprehension": r"\[.* for \w+ in range\(\w+\)\]",
    "nested comprehension": r"\[\[.* for \w+ in range\(\w+\)\] for \w+ in range\(\w+\)\]",
    "sum generator": r"\bsum\(.* for \w+ in range\(", "max generator": r"\bmax\(.* for \w+ in range\(",
    "sum(x)": r"\bsum\(\w+\)", "max(x)": r"\bmax\(\w+\)", "mean": r"\bmean\(",
    "sum axis 0": r"axis=0\)", "sum axis 1": r"axis=1\)",
    "x[i]": r"\b\w+\[\w+\]", "a[i, j]": r"\b\w+\[\w+, \w+\]", "a[i][j]": r"\]\[",
    "zeros": r"\bzeros\(", "ones": r"\bones\(", "full": r"\bfull\(",
    "indexed =": r"\w+\[[^\]]+\] = ", "indexed +=": r"\w+\[[^\]]+\] \+= ",
    "indexed 2-d": r"\n +\w+\[\w+, \w+\] (=|\+=) ",
    "dot": r"\bdot\(", "matmul": r" @ ", "transpose": r"(\.T\b|transpose\()",
    "outer": r"\bouter\(", "call": r"\bh\d\(", "tuple return": r"-> \(f64, ",
    "destructuring": r"\n +\w+, \w+ = h\d\(", "annotated local": r"\n +\w+: f64(\[.*\])? = ",
    "augmented": r" (\+=|-=|\*=|/=) ", "assert": r"\bassert ", "range(i)": r"range\([a-z]\w*\d\)",
    "reverse range": r"range\(\w+ - 1, -1, -1\)", "floor div": r" // ", "mod": r" % ",
    "len": r"\blen\(", "float()": r"\bfloat\(", "int()": r"\bint\(", "final if return":
        r"\n    if .*:\n(    .*\n)*        return .*\n    else:\n(    .*\n)*        return ",
}


def test_generator_covers_the_language():
    sources = "\n".join(generate_program(seed, smooth=False, array_results=seed % 4 == 0).source
                        for seed in range(400))
    missing = [name for name, pattern in FEATURES.items() if not re.search(pattern, sources)]
    assert not missing


def test_generation_is_deterministic():
    assert generate_program(5).source == generate_program(5).source
    assert generate_program(5).source != generate_program(6).source


# ---- the oracle itself

def oracle(source: str, params: dict, dims: dict) -> Program:
    return Program(source, "f", params, dims)


def test_oracle_binds_dimension_names_and_runs_the_language_example():
    source = ("def lse(x: f64[n]) -> f64:\n    m = max(x)\n    return m + log(sum(exp(x - m)))\n\n"
              "def f(x: f64[n], a: f64[n, m]) -> f64:\n"
              "    acc = 0.0\n    for i in range(n):\n        for j in range(m):\n"
              "            acc += a[i, j] * x[i]\n"
              "    return acc + lse(x) + float(n * 10 + m)\n")
    x, a = np.array([0.5, -1.0, 2.0]), np.arange(6.0).reshape(3, 2)
    value = evaluate_python(oracle(source, {"x": "f64[n]", "a": "f64[n, m]"}, {}), {"x": x, "a": a})
    expected = x @ a.sum(axis=1) + np.log(np.exp(x).sum()) + 32
    assert value == pytest.approx(expected)


def test_oracle_has_value_semantics():
    source = ("def g(v: f64[n]) -> f64:\n    v[0] = 100.0\n    return v[0]\n\n"
              "def f(x: f64[n], a: f64[n, m]) -> f64:\n"
              "    y = x\n    y[0] = 1.0\n    r = a[0]\n    r[0] = 5.0\n"
              "    z = [x[i] for i in range(n)]\n    w = z\n    w[0] += 3.0\n"
              "    return x[0] + a[0, 0] + g(x) + x[0] + z[0]\n")
    x, a = np.array([2.0, 3.0]), np.ones((2, 2))
    args = {"x": x.copy(), "a": a.copy()}
    assert evaluate_python(oracle(source, {"x": "f64[n]", "a": "f64[n, m]"}, {}), args) == 107.0
    assert np.array_equal(args["x"], x) and np.array_equal(args["a"], a)


@pytest.mark.parametrize("body, error", [
    ("return x[n]", IndexError),
    ("return x[-4]", IndexError),  # -1 is the last element, -3 the first of 3
    ("y = zeros(n)\n    y[n] = 1.0\n    return y[0]", IndexError),
    ("return float(n // (n - n))", ZeroDivisionError),
    ("assert n > 5, 'too short'\n    return 0.0", AssertionError),
])
def test_oracle_raises_where_the_language_raises(body, error):
    with pytest.raises(error):
        evaluate_python(oracle(f"def f(x: f64[n]) -> f64:\n    {body}\n", {"x": "f64[n]"}, {}),
                        {"x": np.ones(3)})


def test_oracle_counts_negative_indices_from_the_end():
    source = ("def f(x: f64[n]) -> f64:\n"
              "    y = zeros(n)\n    y[-1] = x[-3]\n    return y[2] + x[-1]\n")
    assert evaluate_python(oracle(source, {"x": "f64[n]"}, {}),
                           {"x": np.array([2.0, 3.0, 5.0])}) == 7.0


def test_oracle_checks_that_dimensions_agree():
    source = "def f(x: f64[n], y: f64[n]) -> f64:\n    return dot(x, y)\n"
    with pytest.raises(ValueError, match="dimension"):
        evaluate_python(oracle(source, {"x": "f64[n]", "y": "f64[n]"}, {}),
                        {"x": np.ones(3), "y": np.ones(2)})
