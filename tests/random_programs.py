"""Hypothesis strategies for random, well-typed, terminating .dp programs.

A program has two helpers and an entry `f(x: f64[n], a: f64[n, m], s: f64, k: i64) -> f64`
whose body mixes assignments, `for` and `while` loops with carried names, `if/else`,
comprehensions, generator reductions, reductions, indexing (always in bounds: indices are
loop variables over the right dimension, or 0), indexed updates of fresh local arrays,
calls (one returning a tuple), broadcasting and matrix products.

With `smooth=True`, only operations differentiable everywhere on the inputs are used and
values stay bounded, so finite differences are a valid oracle for gradients.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from hypothesis import strategies as st

HELPERS = """\
def helper(u: f64, v: f64[p]) -> f64:
    return tanh(u) * sum(v) / (1.0 + dot(v, v))

def pair(u: f64, w: f64) -> (f64, f64):
    return u * w, sin(u) + w
"""


@dataclass
class Env:
    """Names in scope by type: scalars (f64), vectors over n, vectors over m, matrices
    [n, m], and index variables tagged with the dimension they run over."""

    scalars: list = field(default_factory=lambda: ["s"])
    vec_n: list = field(default_factory=lambda: ["x"])
    vec_m: list = field(default_factory=list)
    mats: list = field(default_factory=lambda: ["a"])
    idx: dict = field(default_factory=dict)  # name -> "n" | "m"

    def copy(self) -> "Env":
        return Env(list(self.scalars), list(self.vec_n), list(self.vec_m), list(self.mats),
                   dict(self.idx))


@dataclass
class Program:
    source: str
    dims: dict
    entry: str = "f"

    def make_args(self, rng: np.random.Generator) -> list:
        n, m = self.dims["n"], self.dims["m"]
        return [rng.standard_normal(n), rng.standard_normal((n, m)),
                float(rng.standard_normal()), int(rng.integers(1, 4))]


class Gen:
    def __init__(self, draw, smooth: bool):
        self.draw = draw
        self.smooth = smooth
        self.counter = 0

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def choice(self, options):
        return self.draw(st.sampled_from(options))

    def index(self, env: Env, dim: str) -> str:
        names = [i for i, d in env.idx.items() if d == dim]
        return self.choice(names + ["0"])

    # --- expressions
    def scalar(self, env: Env, depth: int) -> str:
        leaves = [lambda: self.choice(env.scalars),
                  lambda: repr(self.draw(st.sampled_from([0.5, 1.0, 2.0, -1.5, 0.25]))),
                  lambda: f"x[{self.index(env, 'n')}]",
                  lambda: f"a[{self.index(env, 'n')}, {self.index(env, 'm')}]",
                  lambda: f"float({self.choice(['n', 'm', 'k'])})"]
        if depth <= 0:
            return self.choice(leaves)()
        d = depth - 1
        forms = leaves + [
            lambda: f"({self.scalar(env, d)} {self.choice(['+', '-', '*'])} {self.scalar(env, d)})",
            lambda: f"{self.choice(['tanh', 'sin', 'cos', 'sigmoid'])}({self.scalar(env, d)})",
            lambda: f"exp(tanh({self.scalar(env, d)}))",
            lambda: f"log(1.0 + {self.square(self.scalar(env, d))})",
            lambda: f"sqrt(1.0 + {self.square(self.scalar(env, d))})",
            lambda: f"({self.scalar(env, d)}) / (2.0 + {self.square(self.scalar(env, d))})",
            lambda: f"sum({self.vector(env, 'n', d)})",
            lambda: f"mean({self.vector(env, 'm', d)})",
            lambda: f"dot({self.vector(env, 'n', d)}, x)",
            lambda: f"sum(a)",
            lambda: f"helper({self.scalar(env, d)}, {self.vector(env, self.choice(['n', 'm']), d)})",
            lambda: self.generator(env, d),
        ]
        if not self.smooth:
            forms += [
                lambda: f"abs({self.scalar(env, d)})",
                lambda: f"max({self.scalar(env, d)}, {self.scalar(env, d)})",
                lambda: f"max({self.vector(env, 'n', d)})",
                lambda: f"min(a)",
                lambda: (f"({self.scalar(env, d)} if {self.scalar(env, d)} > {self.scalar(env, d)} "
                         f"else {self.scalar(env, d)})"),
                lambda: f"where({self.scalar(env, d)} < 0.0, {self.scalar(env, d)}, 1.0)",
            ]
        return self.choice(forms)()

    @staticmethod
    def square(e: str) -> str:
        return f"({e}) * ({e})"

    def generator(self, env: Env, depth: int) -> str:
        dim = self.choice(["n", "m"])
        var = self.fresh("g")
        inner = env.copy()
        inner.idx[var] = dim
        kind = self.choice(["sum"] if self.smooth else ["sum", "max", "min"])
        return f"{kind}({self.scalar(inner, depth)} for {var} in range({dim}))"

    def vector(self, env: Env, dim: str, depth: int) -> str:
        names = env.vec_n if dim == "n" else env.vec_m
        leaves = [lambda: f"a[{self.index(env, 'n')}]"] if dim == "m" else [
            lambda: f"sum(a, axis=1)"]
        leaves += [lambda: self.choice(names)] if names else []
        if depth <= 0:
            return self.choice(leaves)()
        d = depth - 1
        forms = leaves + [
            lambda: f"({self.vector(env, dim, d)} {self.choice(['+', '-', '*'])} {self.vector(env, dim, d)})",
            lambda: f"({self.vector(env, dim, d)} * {self.scalar(env, d)})",
            lambda: f"tanh({self.vector(env, dim, d)})",
            lambda: self.comprehension(env, dim, d),
        ]
        if dim == "n":
            forms.append(lambda: f"(a @ {self.vector(env, 'm', d)})")
        else:
            forms.append(lambda: f"({self.vector(env, 'n', d)} @ a)")
            forms.append(lambda: f"sum(a * {self.vector(env, 'm', d)}, axis=0)")
        return self.choice(forms)()

    def comprehension(self, env: Env, dim: str, depth: int) -> str:
        var = self.fresh("c")
        inner = env.copy()
        inner.idx[var] = dim
        return f"[{self.scalar(inner, depth)} for {var} in range({dim})]"

    # --- statements
    def statements(self, env: Env, indent: str, count: int, depth: int) -> list[str]:
        lines = []
        for _ in range(count):
            lines += self.statement(env, indent, depth)
        return lines

    def statement(self, env: Env, indent: str, depth: int) -> list[str]:
        # Nested blocks work on a copy of `env`: names they bind first are not visible
        # after them, and names bound before keep their types, so the copy is dropped.
        kinds = ["scalar", "scalar", "vector", "update"]
        if depth > 0:
            kinds += ["for", "while", "if", "pair"]
        kind = self.choice(kinds)
        e = 2
        if kind == "scalar":
            name = self.choice(env.scalars + [self.fresh("t")])
            op = self.choice(["=", "+=", "*="]) if name in env.scalars else "="
            value = self.scalar(env, e)
            if op == "*=":
                value = f"tanh({value})"  # keep products bounded
            if name not in env.scalars:
                env.scalars.append(name)
            return [f"{indent}{name} {op} {value}"]
        if kind == "vector":
            dim = self.choice(["n", "m"])
            name = self.fresh("v")
            line = f"{indent}{name} = {self.vector(env, dim, e)}"
            (env.vec_n if dim == "n" else env.vec_m).append(name)
            return [line]
        if kind == "update":
            dim = self.choice(["n", "m"])
            name = self.fresh("y")
            i = self.fresh("i")
            inner = env.copy()
            inner.idx[i] = dim
            op = self.choice(["=", "+="])
            lines = [f"{indent}{name} = zeros({dim})",
                     f"{indent}for {i} in range({dim}):",
                     f"{indent}    {name}[{i}] {op} {self.scalar(inner, e)}"]
            (env.vec_n if dim == "n" else env.vec_m).append(name)
            return lines
        if kind == "pair":
            u, w = self.fresh("p"), self.fresh("q")
            line = f"{indent}{u}, {w} = pair({self.scalar(env, e)}, {self.scalar(env, e)})"
            env.scalars += [u, w]
            return [line]
        if kind == "for":
            i = self.fresh("i")
            dim = self.choice(["n", "m", "k"])
            start = self.choice(["", "1, "]) if dim != "k" else ""
            inner = env.copy()
            if dim != "k":
                inner.idx[i] = dim
            body = self.statements(inner, indent + "    ", self.draw(st.integers(1, 2)), depth - 1)
            return [f"{indent}for {i} in range({start}{dim}):"] + body
        if kind == "while":
            counter = self.fresh("w")
            inner = env.copy()
            body = self.statements(inner, indent + "    ", 1, depth - 1)
            return ([f"{indent}{counter} = 0", f"{indent}while {counter} < k:"] + body +
                    [f"{indent}    {counter} += 1"])
        # if / else: both branches assign the same fresh name
        name = self.fresh("b")
        cond = f"{self.scalar(env, 1)} > {self.scalar(env, 1)}" if not self.smooth else "k > 1"
        then_env, else_env = env.copy(), env.copy()
        then_body = self.statements(then_env, indent + "    ", 1, depth - 1)
        else_body = self.statements(else_env, indent + "    ", 1, depth - 1)
        env.scalars.append(name)
        return ([f"{indent}if {cond}:"] + then_body +
                [f"{indent}    {name} = {self.scalar(then_env, 1)}", f"{indent}else:"] +
                else_body + [f"{indent}    {name} = {self.scalar(else_env, 1)}"])


@st.composite
def programs(draw, smooth: bool = False) -> Program:
    gen = Gen(draw, smooth)
    env = Env()
    body = gen.statements(env, "    ", draw(st.integers(1, 4)), depth=2)
    result = gen.scalar(env, 2)
    entry = ("def f(x: f64[n], a: f64[n, m], s: f64, k: i64) -> f64:\n" +
             "\n".join(body) + f"\n    return {result}\n")
    dims = {"n": draw(st.integers(1, 4)), "m": draw(st.integers(1, 4))}
    return Program(HELPERS + "\n" + entry, dims)
