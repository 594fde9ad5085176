"""Random, well-typed, always-terminating `.dp` programs, for property tests of the whole
pipeline (IR print/parse round trips, native code versus the interpreter, gradients versus
finite differences).

    programs(smooth=False, array_results=False)   hypothesis strategy of `Program`s
    generate_program(seed, smooth=False, ...)     the same generator driven by a seed
    evaluate_python(program, args)                runs the source as Python + NumPy (an oracle)

A `Program` is a module of up to three functions: helpers `h1`, `h2` (each may call the
earlier ones, never itself) and the entry `f`, whose parameters are a random selection of
`x: f64[n]` (always), `a: f64[n, m]`, `y: f64[m]`, `s: f64`, `k: i64`, `flag: bool`,
`c: i64[n]`, in random order. `program.make_args(rng)` builds arguments for it.

How the generator keeps its promises:

- Types: every expression is generated for a wanted type (f64, i64, bool, f64[d], f64[d, e])
  from a typed environment (name -> `Var`), so programs type-check, and broadcasting only
  ever pairs `f64[d, e]` with `f64[e]`.
- Bounds: an index into dimension `d` is a loop variable over `range(d)` (or a sub-range of
  it), a `while` counter bounded by `d`, `0`, `d - 1`, `d - 1 - i`, the neighbours `i - 1`
  (the last element at i = 0, as in Python) and `min(i + 1, d - 1)`, `e % d` or
  `min(e, d - 1)` with `e >= 0`. Dimensions are at least 1, so there are no 0-size arrays,
  and generator reductions only run over whole dimensions (never empty).
- Domains: `log`, `sqrt`, `log1p`, `lgamma` and `** 0.7` only see `1 + e ** 2`-style arguments,
  `exp` only `tanh(e)`, `tan` only `0.5 * tanh(e)`, and every denominator is `1 + e ** 2`,
  `2 + abs(e)` or a dimension name; `//` and `%` only by positive literals or dimensions.
- Magnitudes: each expression carries a rough bound on log10 |value| (`Ex.mag`). A composite
  that would exceed `expr_cap` is wrapped in tanh or sigmoid; a value stored in a variable
  may not exceed `store_cap`; sin/cos only see arguments up to ~20 (sin(1e30) is noise).
  At loop entry every carried f64 variable is assumed to be at the cap (+1 for squashed
  `+=` accumulation over <= 25 iterations), and factors `*=` in loops are at most 1, so
  loops cannot grow values geometrically.
- Gradients: every function's result mentions a value computed from its f64 parameters
  (a term is added when it would not), so gradients are rarely identically zero.
- Termination and cost: `for` loops run over dimensions (<= 5) or small constants, `while`
  loops increment a counter against such a bound as their last statement, and at most two
  levels of iteration (loops, comprehensions, generators, and calls of helpers that
  iterate) are nested, so a slow interpreter runs a program in milliseconds.
- Value semantics: indexed updates only touch arrays bound in the same function (never
  parameters); `evaluate_python` additionally copies arrays on every binding, so NumPy's
  aliasing cannot leak into the oracle.
- `smooth=True`: no abs/sign/floor/ceil/int()/max/min/where/`//`/`%`, no comparison of f64
  values (conditions only look at i64/bool values, which are not differentiated), smaller
  caps, so every program is smooth in its f64 inputs and finite differences are valid.
"""

from __future__ import annotations

import __future__
import ast
import builtins
import functools
import math
import random
import re
from dataclasses import dataclass, field, replace
from typing import Callable, NamedTuple

import numpy as np
from hypothesis import strategies as st

__all__ = ["Program", "programs", "generate_program", "evaluate_python", "python_source",
           "parse_type"]


# ----------------------------------------------------------------------------- programs

@dataclass
class Program:
    source: str                 # the whole .dp module
    entry: str                  # the function to call
    params: dict                # the entry's parameters, name -> .dp type text, in order
    dims: dict                  # concrete size of each of the entry's dimension names
    result: str = "f64"         # the entry's result type (.dp text)
    smooth: bool = False

    def make_args(self, rng: np.random.Generator) -> dict:
        """Arguments for the entry, by parameter name, in parameter order: f64 values are
        standard normal, i64 scalars are in 1..3 (they bound loops), i64 arrays in 0..3."""
        out = {}
        for name, text in self.params.items():
            base, dims = parse_type(text)
            shape = tuple(self.dims[d] for d in dims)
            if base == "f64":
                out[name] = rng.standard_normal(shape) if shape else float(rng.standard_normal())
            elif base == "i64":
                out[name] = (rng.integers(0, 4, size=shape, dtype=np.int64) if shape
                             else int(rng.integers(1, 4)))
            else:
                out[name] = bool(rng.integers(0, 2))
        return out

    def arg_list(self, rng: np.random.Generator) -> list:
        """`make_args` as a positional list, for `run(entry, *args)`-style callers."""
        return list(self.make_args(rng).values())


def parse_type(text: str) -> tuple[str, tuple]:
    """"f64[n, m]" -> ("f64", ("n", "m")); "i64" -> ("i64", ())."""
    m = re.fullmatch(r"(\w+)(?:\[(.*)\])?", text.strip())
    dims = tuple(d.strip() for d in m.group(2).split(",")) if m.group(2) else ()
    return m.group(1), dims


# ----------------------------------------------------------------------------- types

@dataclass(frozen=True)
class T:
    base: str                   # "f64" | "i64" | "bool"
    dims: tuple = ()            # dimension names; () for scalars

    def __str__(self) -> str:
        return f"{self.base}[{', '.join(self.dims)}]" if self.dims else self.base


F64, I64, BOOL = T("f64"), T("i64"), T("bool")


def arr(*dims) -> T:
    return T("f64", tuple(dims))


@dataclass(frozen=True)
class Var:
    type: T
    mag: float = 0.0            # log10 of a bound on |value| (f64 only; ints are small)
    rebind: bool = True         # may be assigned (not dims, loop variables, counters, k)
    local: bool = False         # an array bound in this function: indexed updates allowed
    index_of: frozenset = frozenset()  # i64 values known to lie in [0, d) for these d
    nonneg: bool = False        # i64 known >= 0
    stop: bool = False          # small non-negative i64: may bound a loop


class Ex(NamedTuple):
    """A generated expression: its text (always an atom: a name, a call, an indexing or
    something parenthesized, so it can be an operand anywhere) and its magnitude."""
    text: str
    mag: float = 0.0


@dataclass
class Env:
    """What is in scope while generating one block."""
    vars: dict
    dims: tuple                 # dimension names bound by the function's parameters
    heavy: int = 0              # enclosing loops/comprehensions (work grows 5x per level)
    nest: int = 0               # enclosing blocks
    in_loop: bool = False
    assigned: set = field(default_factory=set)  # names of enclosing scopes assigned here

    def child(self, heavy: int = 0, loop: bool = False) -> "Env":
        return Env(dict(self.vars), self.dims, self.heavy + heavy, self.nest + 1,
                   self.in_loop or loop)

    def names(self, pred: Callable[[Var], bool]) -> list[str]:
        return [n for n, v in self.vars.items() if pred(v)]

    def of_type(self, t: T) -> list[str]:
        return self.names(lambda v: v.type == t)


@dataclass
class Sig:
    name: str
    params: list                # [(name, T)]
    results: list               # [T]; several for a tuple return
    mags: list                  # magnitude of each result
    cost: int                   # iteration nesting inside (loops, comprehensions, calls)


# ----------------------------------------------------------------------------- generator

F_LITERALS = ["1.0", "0.5", "2.0", "0.25", "(-1.5)", "3.0", "0.1", "(-0.75)", "1e-3"]
ARG_MAG = 0.2                   # helper arguments are squashed to |v| <= ~1.6
LOG10_E = math.log10(math.e)
MAX_HEAVY = 2                   # at most 5**2 iterations of anything


def log_mag(m: float) -> float:      # log10 of a bound on log(1 + e**2) when |e| <= 10**m
    return max(0.0, math.log10(2 * m * math.log(10) + 0.7))


def lgamma_mag(m: float) -> float:   # lgamma(2 + e**2) <= y log y with y = 2 + e**2
    y = max(2 * m, 0.5)
    return y + math.log10(y * math.log(10) + 1)


# (template, magnitude of the result given the argument's) for elementwise math
SMOOTH_MATH = [
    ("tanh({})", lambda m: 0.0),
    ("sin({})", lambda m: 0.0),
    ("cos({})", lambda m: 0.0),
    ("sigmoid({})", lambda m: 0.0),
    ("exp(tanh({}))", lambda m: LOG10_E),
    ("log(1.0 + {} ** 2)", log_mag),
    ("sqrt(1.0 + {} ** 2)", lambda m: m + 0.16),
    ("log1p({} ** 2)", log_mag),
    ("expm1(sin({}))", lambda m: 0.24),
    ("tan(0.5 * tanh({}))", lambda m: 0.0),
    ("pow(cos({}), 2)", lambda m: 0.0),
    ("lgamma(2.0 + {} ** 2)", lgamma_mag),
    ("((1.0 + {} ** 2) ** 0.7)", lambda m: 0.7 * (2 * max(m, 0.0) + 0.31)),
]
ROUGH_MATH = [
    ("abs({})", lambda m: m),
    ("sqrt(abs({}))", lambda m: m / 2),
    ("floor({})", lambda m: m + 0.31),
    ("ceil({})", lambda m: m + 0.31),
    ("sign({})", lambda m: 0.0),
    ("max({}, 0.0)", lambda m: m),
]
# Squashing must be monotone and saturating: sin(1e30) is noise (a last-bit difference in
# its argument changes everything), and steep for finite differences.
SQUASH = ["tanh({})", "sigmoid({})"]
# Periodic functions only see moderate arguments (|e| <= ~20), for the same reasons.
PERIODIC = {"sin({})", "cos({})", "expm1(sin({}))", "pow(cos({}), 2)"}
PERIODIC_MAG = 1.3


class Gen:
    """One program's generator. `choose(k)` returns an int in [0, k): hypothesis draws
    (which shrink toward 0, so the first option of every choice is the simplest) or a seeded
    random.Random."""

    def __init__(self, choose: Callable[[int], int], smooth: bool):
        self.choose = choose
        self.smooth = smooth
        # Bounds (log10) on a variable's |value| and on any intermediate. Smooth programs
        # keep values small so that derivatives stay moderate (finite differences work).
        self.store_cap = 1.0 if smooth else 4.0
        self.expr_cap = 1.5 if smooth else 30.0
        self.loop_mag = self.store_cap + 1.0      # carried variables inside loops
        self.counter = 0
        self.helpers: list[Sig] = []
        self.cost = 0                             # iteration nesting of the current function

    # --- choices
    def pick(self, options):
        return options[self.choose(len(options))] if len(options) > 1 else options[0]

    def weighted(self, options):
        """options: [(weight, thunk)]; calls the chosen thunk."""
        options = [o for o in options if o[0] > 0]
        k = self.choose(sum(w for w, _ in options))
        for w, thunk in options:
            if k < w:
                return thunk()
            k -= w
        raise AssertionError

    def chance(self, num: int, den: int) -> bool:
        return self.choose(den) < num

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def enter(self, env: Env, heavy: int = 0, loop: bool = False) -> Env:
        inner = env.child(heavy, loop)
        self.cost = max(self.cost, inner.heavy)
        return inner

    # --- magnitudes
    def squash(self, e: Ex) -> Ex:
        return Ex(self.pick(SQUASH).format(e.text), 0.0)

    def limit(self, e: Ex, cap: float | None = None) -> Ex:
        return self.squash(e) if e.mag > (self.expr_cap if cap is None else cap) else e

    def store(self, e: Ex) -> Ex:
        return self.limit(e, self.store_cap)

    def factor(self, e: Ex) -> Ex:
        """A function of e with |value| <= 1: a factor that cannot grow a product."""
        fns = ["tanh", "sigmoid"] + (["cos"] if e.mag <= PERIODIC_MAG else [])
        return Ex(f"{self.pick(fns)}({e.text})", 0.0)

    # --- f64 scalars
    def f64(self, env: Env, d: int) -> Ex:
        if d <= 0:
            return self.f64_leaf(env)
        sub = lambda: self.f64(env, d - 1)  # noqa: E731
        forms = [
            (5, lambda: self.f64_leaf(env)),
            (5, lambda: self.arith(sub(), sub())),
            (1, lambda: self.neg(sub())),
            (1, lambda: self.arith(sub(), self.int_as_float(env))),
            (1, lambda: self.power(sub())),
            (1, lambda: self.divide(env, sub(), sub())),
            (3, lambda: self.math(sub())),
            (2, lambda: self.reduce(env, d - 1)),
            (1, lambda: self.dot(env, d - 1)),
            (1, lambda: self.conditional(env, sub(), sub())),
            (2 if env.heavy < MAX_HEAVY else 0, lambda: self.generator(env, d - 1)),
            (2 if self.callees(env, [F64]) else 0, lambda: self.call(env, F64, d - 1)),
        ]
        if not self.smooth:
            forms += [
                (1, lambda: self.maxmin(sub(), sub())),
                (1, lambda: self.where(env, sub(), sub())),
            ]
        return self.limit(self.weighted(forms))

    def f64_leaf(self, env: Env) -> Ex:
        forms = [(3, lambda: self.literal())]
        scalars = env.of_type(F64)
        if scalars:
            forms.append((6, lambda: self.var(env, self.pick(scalars))))
        vectors = env.names(lambda v: v.type.base == "f64" and len(v.type.dims) == 1)
        if vectors:
            forms.append((4, lambda: self.element(env, self.pick(vectors))))
        matrices = env.names(lambda v: v.type.base == "f64" and len(v.type.dims) == 2)
        if matrices:
            forms.append((2, lambda: self.element(env, self.pick(matrices))))
        forms.append((1, lambda: self.int_as_float(env)))
        return self.weighted(forms)

    def literal(self) -> Ex:
        text = self.pick(F_LITERALS)
        return Ex(text, math.log10(max(1.0, abs(float(text.strip("()"))))))

    def var(self, env: Env, name: str) -> Ex:
        return Ex(name, env.vars[name].mag)

    def element(self, env: Env, name: str) -> Ex:
        """x[i], a[i, j] or a[i][j], always in bounds."""
        v = env.vars[name]
        idx = [self.index(env, d) for d in v.type.dims]
        if len(idx) == 2 and self.chance(1, 4):
            return Ex(f"{name}[{idx[0]}][{idx[1]}]", v.mag)
        return Ex(f"{name}[{', '.join(idx)}]", v.mag)

    def int_as_float(self, env: Env) -> Ex:
        i = self.i64(env, 0)
        if self.chance(1, 2):
            return Ex(f"float({i.text})", i.mag)
        return Ex(f"({i.text} / {self.pick(list(env.dims))})", i.mag)  # int / int is f64

    # --- operators shared by scalars and arrays (text level: NumPy-style elementwise)
    def arith(self, a: Ex, b: Ex) -> Ex:
        op = self.pick(["+", "-", "*"])
        mag = a.mag + b.mag if op == "*" else max(a.mag, b.mag) + 0.31
        return Ex(f"({a.text} {op} {b.text})", mag)

    def neg(self, a: Ex) -> Ex:
        return Ex(f"(-{a.text})", a.mag)

    def power(self, a: Ex) -> Ex:
        k = self.pick([2, 3])
        return Ex(f"({a.text} ** {k})", k * a.mag)

    def divide(self, env: Env, a: Ex, b: Ex) -> Ex:
        forms = [lambda: f"({a.text} / (1.0 + {b.text} ** 2))",
                 lambda: f"({a.text} / {self.pick(list(env.dims))})"]
        if not self.smooth:
            forms.append(lambda: f"({a.text} / (2.0 + abs({b.text})))")
        return Ex(self.pick(forms)(), a.mag)

    def math(self, a: Ex) -> Ex:
        table = SMOOTH_MATH if self.smooth else SMOOTH_MATH + ROUGH_MATH
        template, mag = self.pick(table)
        if template in PERIODIC and a.mag > PERIODIC_MAG:
            a = Ex(f"tanh({a.text})", 0.0)
        return Ex(template.format(a.text), mag(a.mag))

    def maxmin(self, a: Ex, b: Ex) -> Ex:
        return Ex(f"{self.pick(['max', 'min'])}({a.text}, {b.text})", max(a.mag, b.mag))

    def conditional(self, env: Env, a: Ex, b: Ex) -> Ex:
        return Ex(f"({a.text} if {self.bool(env, 1)} else {b.text})", max(a.mag, b.mag))

    def where(self, env: Env, a: Ex, b: Ex, shape: tuple = ()) -> Ex:
        if shape and self.chance(2, 3):  # an elementwise condition: a leaky relu, a mask
            c = self.array(env, shape, 0)
            cond = self.pick([f"({c.text} > 0.0)", f"({a.text} < {c.text})"])
        else:
            cond = self.bool(env, 1)
        return Ex(f"where({cond}, {a.text}, {b.text})", max(a.mag, b.mag))

    # --- reductions and linear algebra to scalars
    def shape(self, env: Env) -> tuple:
        if self.chance(2, 3):
            return (self.pick(list(env.dims)),)
        return (self.pick(list(env.dims)), self.pick(list(env.dims)))

    def reduce(self, env: Env, d: int) -> Ex:
        shape = self.shape(env)
        a = self.array(env, shape, d)
        size = 0.7 * len(shape)  # log10 of at most 5 ** rank elements
        forms = [lambda: Ex(f"sum({a.text})", a.mag + size),
                 lambda: Ex(f"mean({a.text})", a.mag),
                 lambda: Ex(f"prod({self.factor(a).text})", 0.0)]
        if not self.smooth:
            forms += [lambda: Ex(f"{self.pick(['max', 'min'])}({a.text})", a.mag)]
        return self.pick(forms)()

    def dot(self, env: Env, d: int) -> Ex:
        dim = self.pick(list(env.dims))
        u, v = self.array(env, (dim,), d), self.array(env, (dim,), d)
        return Ex(f"dot({u.text}, {v.text})", u.mag + v.mag + 0.7)

    def generator(self, env: Env, d: int) -> Ex:
        """sum(e for i in range(d)) etc., always over a whole dimension (never empty)."""
        dim = self.pick(list(env.dims))
        i = self.fresh("g")
        inner = self.enter(env, heavy=1)
        inner.vars[i] = Var(I64, 0.7, rebind=False, index_of=frozenset([dim]), nonneg=True)
        body = self.f64(inner, d)
        kinds = [("sum", body.text, body.mag + 0.7),
                 ("prod", self.factor(body).text, 0.0)]
        if not self.smooth:
            kinds += [("max", body.text, body.mag), ("min", body.text, body.mag)]
        kind, elem, mag = self.pick(kinds)
        return Ex(f"{kind}({elem} for {i} in range({dim}))", mag)

    # --- calls of helpers
    def callees(self, env: Env, results: list) -> list[Sig]:
        """Helpers returning `results` (up to dimension names) that are cheap enough here."""
        def fits(sig):
            return (len(sig.results) == len(results) and env.heavy + sig.cost <= MAX_HEAVY
                    and all(r.base == w.base and len(r.dims) == len(w.dims)
                            for r, w in zip(sig.results, results)))
        return [s for s in self.helpers if fits(s)]

    def call(self, env: Env, want: T, d: int) -> Ex:
        sig = self.pick(self.callees(env, [want]))
        text, _ = self.call_text(env, sig, d, dict(zip(sig.results[0].dims, want.dims)))
        return Ex(text, sig.mags[0])

    def call_text(self, env: Env, sig: Sig, d: int, binding: dict) -> tuple[str, dict]:
        """`h(args)`: binds each of the helper's dimension names to one of ours, then
        generates arguments of the substituted types, squashed to the helpers' assumption."""
        self.cost = max(self.cost, env.heavy + sig.cost)
        binding = dict(binding)
        args = []
        for _, t in sig.params:
            for dim in t.dims:
                if dim not in binding:
                    binding[dim] = self.pick(list(env.dims))
            if t == F64:
                args.append(self.limit(self.f64(env, d), ARG_MAG).text)
            elif t == I64:
                args.append(self.i64(env, 1).text)
            else:
                shape = tuple(binding[x] for x in t.dims)
                args.append(self.limit(self.array(env, shape, d), ARG_MAG).text)
        return f"{sig.name}({', '.join(args)})", binding

    # --- i64
    def i64(self, env: Env, d: int) -> Ex:
        leaves = [(2, lambda: Ex(self.pick(["1", "2", "0", "3"]), 0.5))]
        ints = env.of_type(I64)
        if ints:
            leaves.append((5, lambda: self.var(env, self.pick(ints))))
        arrays = env.names(lambda v: bool(v.type.dims))
        if arrays:
            leaves.append((1, lambda: Ex(f"len({self.pick(arrays)})", 0.7)))
        ivecs = env.names(lambda v: v.type.base == "i64" and bool(v.type.dims))
        if ivecs:
            leaves.append((2, lambda: Ex(self.element(env, self.pick(ivecs)).text, 0.5)))
        if d <= 0:
            return self.weighted(leaves)
        sub = lambda: self.i64(env, d - 1)  # noqa: E731
        forms = leaves + [
            (2, lambda: self.int_arith(sub(), sub())),
            (1, lambda: self.int_conditional(env, sub(), sub())),
        ]
        if not self.smooth:
            lit = lambda: self.pick(["2", "3", "1"])  # noqa: E731
            forms += [
                (1, lambda: (lambda a: Ex(f"({a.text} // {lit()})", a.mag))(sub())),
                (1, lambda: (lambda a: Ex(f"({a.text} % {lit()})", 0.5))(sub())),
                (1, lambda: self.maxmin(sub(), sub())),
                (1, lambda: Ex(f"int(3.0 * tanh({self.f64(env, d - 1).text}))", 0.5)),
                (1, lambda: (lambda a: Ex(f"abs({a.text})", a.mag))(sub())),
            ]
        return self.weighted(forms)

    def int_arith(self, a: Ex, b: Ex) -> Ex:
        op = self.pick(["+", "-", "*"])
        return Ex(f"({a.text} {op} {b.text})",
                  a.mag + b.mag if op == "*" else max(a.mag, b.mag) + 0.31)

    def int_conditional(self, env: Env, a: Ex, b: Ex) -> Ex:
        return Ex(f"({a.text} if {self.bool(env, 0)} else {b.text})", max(a.mag, b.mag))

    def index(self, env: Env, dim: str) -> str:
        """An i64 expression certainly in [-1, dim): -1 only as i - 1 at i = 0, the last
        element (negative indices count from the end, as in Python)."""
        idx = env.names(lambda v: dim in v.index_of)
        forms = [(1, lambda: "0"), (1, lambda: f"{dim} - 1")]
        if idx:
            forms += [(8, lambda: self.pick(idx)), (1, lambda: f"{dim} - 1 - {self.pick(idx)}"),
                      (2, lambda: f"{self.pick(idx)} - 1"),
                      (1, lambda: f"min({self.pick(idx)} + 1, {dim} - 1)")]
        if not self.smooth:
            nonneg = env.names(lambda v: v.type == I64 and v.nonneg)
            forms.append((2, lambda: f"({self.i64(env, 1).text}) % {dim}"))
            if nonneg:
                forms.append((1, lambda: f"min({self.pick(nonneg)}, {dim} - 1)"))
        return self.weighted(forms)

    # --- bool
    def bool(self, env: Env, d: int) -> str:
        """A condition. In smooth mode it only looks at i64 and bool values, so the program
        is piecewise constant in nothing that gets differentiated."""
        forms = [(1, lambda: self.pick(["True", "False"])),
                 (4, lambda: f"({self.i64(env, 0).text} "
                             f"{self.pick(['<', '<=', '>', '>=', '==', '!='])} "
                             f"{self.i64(env, 0).text})")]
        bools = env.of_type(BOOL)
        if bools:
            forms.append((3, lambda: self.pick(bools)))
        if not self.smooth:  # no == on floats: backends may differ in the last bit
            forms.append((5, lambda: f"({self.f64(env, max(d - 1, 0)).text} "
                                     f"{self.pick(['<', '<=', '>', '>='])} "
                                     f"{self.f64(env, max(d - 1, 0)).text})"))
        if d > 0:
            forms += [(1, lambda: f"(not {self.bool(env, d - 1)})"),
                      (1, lambda: f"({self.bool(env, d - 1)} {self.pick(['and', 'or'])} "
                                  f"{self.bool(env, d - 1)})")]
        return self.weighted(forms)

    # --- f64 arrays
    def array(self, env: Env, shape: tuple, d: int) -> Ex:
        """An f64 array of exactly this shape (dimension names)."""
        t = arr(*shape)
        leaves = [(1, lambda: self.constructor(shape, env))]
        same = env.of_type(t)
        if same:
            leaves.append((8, lambda: self.var(env, self.pick(same))))
        # cheap ways to get this shape from the variables in scope
        matrices = env.names(lambda v: v.type.base == "f64" and len(v.type.dims) == 2)
        if len(shape) == 1:
            rows = [m for m in matrices if env.vars[m].type.dims[1] == shape[0]]
            if rows:
                leaves.append((3, lambda: self.row(env, self.pick(rows))))
            sums = ([(m, 0) for m in rows] +
                    [(m, 1) for m in matrices if env.vars[m].type.dims[0] == shape[0]])
            if sums:
                leaves.append((1, lambda: (lambda m, axis: Ex(
                    f"sum({m}, axis={axis})", env.vars[m].mag + 0.7))(*self.pick(sums))))
        else:
            flipped = env.of_type(arr(shape[1], shape[0]))
            if flipped:
                leaves.append((3, lambda: self.transpose(self.var(env, self.pick(flipped)))))
            us, vs = env.of_type(arr(shape[0])), env.of_type(arr(shape[1]))
            if us and vs:
                leaves.append((2, lambda: (lambda u, v: Ex(f"outer({u.text}, {v.text})",
                                                           u.mag + v.mag))(
                    self.var(env, self.pick(us)), self.var(env, self.pick(vs)))))
        if d <= 0:
            return self.weighted(leaves)
        sub = lambda: self.array(env, shape, d - 1)  # noqa: E731
        scal = lambda: self.f64(env, d - 1)  # noqa: E731
        dims = list(env.dims)
        forms = leaves + [
            (4, lambda: self.arith(sub(), sub())),
            (2, lambda: self.arith(sub(), scal()) if self.chance(1, 2)
                else self.arith(scal(), sub())),
            (1, lambda: self.neg(sub())),
            (1, lambda: self.power(sub())),
            (3, lambda: self.math(sub())),
            (1, lambda: self.divide(env, sub(), sub() if self.chance(1, 2) else scal())),
            (1, lambda: self.conditional(env, sub(), sub())),
        ]
        if len(shape) == 1:
            (e,) = shape
            forms += [
                (2, lambda: (lambda g: self.matvec(self.array(env, (e, g), d - 1),
                                                   self.array(env, (g,), d - 1)))(self.pick(dims))),
                (1, lambda: (lambda g: self.vecmat(self.array(env, (g,), d - 1),
                                                   self.array(env, (g, e), d - 1)))(self.pick(dims))),
                (1, lambda: self.axis_reduce(env, e, d - 1)),
            ]
            if env.heavy < MAX_HEAVY:
                forms.append((2, lambda: self.comprehension(env, e, d - 1)))
        else:
            e, f = shape
            forms += [  # broadcasting f64[e, f] with f64[f], either side
                (2, lambda: (lambda v: self.arith(sub(), v) if self.chance(1, 2)
                             else self.arith(v, sub()))(self.array(env, (f,), d - 1))),
                (1, lambda: (lambda g: self.matmat(self.array(env, (e, g), d - 1),
                                                   self.array(env, (g, f), d - 1)))(self.pick(dims))),
                (1, lambda: (lambda u, v: Ex(f"outer({u.text}, {v.text})", u.mag + v.mag))(
                    self.array(env, (e,), d - 1), self.array(env, (f,), d - 1))),
                (1, lambda: self.transpose(self.array(env, (f, e), d - 1))),
            ]
            if env.heavy < MAX_HEAVY:
                forms.append((2, lambda: self.comprehension2(env, e, f, d - 1)))
        if self.callees(env, [t]):
            forms.append((2, lambda: self.call(env, t, d - 1)))
        if not self.smooth:
            forms += [(1, lambda: self.maxmin(sub(), sub())),
                      (2, lambda: self.where(env, sub(), sub(), shape))]
        return self.limit(self.weighted(forms))

    def constructor(self, shape: tuple, env: Env | None = None) -> Ex:
        dims = ", ".join(shape)
        forms = [lambda: Ex(f"zeros({dims})", 0.0), lambda: Ex(f"ones({dims})", 0.0),
                 lambda: (lambda v: Ex(f"full({v.text}, {dims})", v.mag))(
                     self.f64_leaf(env) if env else self.literal())]
        return self.pick(forms)()

    def row(self, env: Env, name: str) -> Ex:
        return Ex(f"{name}[{self.index(env, env.vars[name].type.dims[0])}]", env.vars[name].mag)

    def transpose(self, a: Ex) -> Ex:
        return Ex(f"{a.text}.T" if self.chance(1, 2) else f"transpose({a.text})", a.mag)

    def matvec(self, m: Ex, v: Ex) -> Ex:
        return Ex(f"({m.text} @ {v.text})", m.mag + v.mag + 0.7)

    def vecmat(self, v: Ex, m: Ex) -> Ex:
        return Ex(f"({v.text} @ {m.text})", m.mag + v.mag + 0.7)

    def matmat(self, a: Ex, b: Ex) -> Ex:
        return Ex(f"({a.text} @ {b.text})", a.mag + b.mag + 0.7)

    def axis_reduce(self, env: Env, e: str, d: int) -> Ex:
        """sum(a, axis=k) (or max/min) giving f64[e] from a matrix with e on the kept axis."""
        g = self.pick(list(env.dims))
        axis = self.choose(2)
        a = self.array(env, (g, e) if axis == 0 else (e, g), d)
        kinds = [("sum", a.mag + 0.7)] + ([] if self.smooth else [("max", a.mag), ("min", a.mag)])
        kind, mag = self.pick(kinds)
        return Ex(f"{kind}({a.text}, axis={axis})", mag)

    def comprehension(self, env: Env, e: str, d: int) -> Ex:
        i = self.fresh("c")
        inner = self.enter(env, heavy=1)
        inner.vars[i] = Var(I64, 0.7, rebind=False, index_of=frozenset([e]), nonneg=True)
        body = self.f64(inner, d)
        return Ex(f"[{body.text} for {i} in range({e})]", body.mag)

    def comprehension2(self, env: Env, e: str, f: str, d: int) -> Ex:
        """f64[e, f] as a comprehension of rows, or a nested comprehension."""
        i = self.fresh("c")
        inner = self.enter(env, heavy=1)
        inner.vars[i] = Var(I64, 0.7, rebind=False, index_of=frozenset([e]), nonneg=True)
        if inner.heavy < MAX_HEAVY and self.chance(1, 2):
            row = self.comprehension(inner, f, d)
        else:
            row = self.array(inner, (f,), d)
        return Ex(f"[{row.text} for {i} in range({e})]", row.mag)

    # ------------------------------------------------------------------ statements
    def block(self, env: Env, count: int) -> list[str]:
        lines = []
        for _ in range(count):
            lines += self.statement(env)
        return lines

    def statement(self, env: Env) -> list[str]:
        can_nest = env.nest < 2  # keeps programs small: blocks nest at most 2 deep
        can_loop = can_nest and env.heavy < MAX_HEAVY
        rebindable = env.names(lambda v: v.rebind)
        locals_ = env.names(lambda v: v.local)
        forms = [
            (4, lambda: self.let_f64(env)),
            (3, lambda: self.let_array(env)),
            (1, lambda: self.let_i64(env)),
            (1, lambda: self.let_bool(env)),
            (4 if rebindable else 0, lambda: self.rebind(env, self.pick(rebindable))),
            (3 if locals_ else 0, lambda: self.update(env, self.pick(locals_))),
            (2 if can_loop else 0, lambda: self.fill(env)),
            (3 if can_loop else 0, lambda: self.for_loop(env)),
            (2 if can_loop else 0, lambda: self.while_loop(env)),
            (3 if can_nest else 0, lambda: self.if_statement(env)),
            (2 if self.tuple_callees(env) else 0, lambda: self.unpack(env)),
            (1, lambda: self.assertion(env)),
        ]
        return self.weighted(forms)

    def bind(self, env: Env, name: str, var: Var) -> None:
        if name in env.vars:
            env.assigned.add(name)
        env.vars[name] = var

    def let_f64(self, env: Env) -> list[str]:
        name, e = self.fresh("t"), self.store(self.f64(env, 3))
        self.bind(env, name, Var(F64, e.mag))
        return [f"{name}{': f64' if self.chance(1, 6) else ''} = {e.text}"]

    def let_array(self, env: Env) -> list[str]:
        shape = self.shape(env)
        name, e = self.fresh("v"), self.store(self.array(env, shape, 2))
        self.bind(env, name, Var(arr(*shape), e.mag, local=True))
        annotation = f": {arr(*shape)}" if self.chance(1, 6) else ""
        return [f"{name}{annotation} = {e.text}"]

    def let_i64(self, env: Env) -> list[str]:
        name, e = self.fresh("j"), self.i64(env, 2)
        if e.mag > 2.0:
            e = self.i64(env, 0)
        self.bind(env, name, Var(I64, 3.0))  # may be rebound (+= 1 in loops)
        return [f"{name} = {e.text}"]

    def let_bool(self, env: Env) -> list[str]:
        name = self.fresh("b")
        text = self.bool(env, 2)
        self.bind(env, name, Var(BOOL))
        return [f"{name} = {text}"]

    def rebind(self, env: Env, name: str) -> list[str]:
        """Assign again to a variable, keeping its type (`=`, `+=`, `-=`, `*=`, `/=`).
        In a loop the new value must not grow geometrically from one iteration to the
        next: increments are squashed, factors are at most 1."""
        v = env.vars[name]
        t = v.type
        if t == BOOL:
            forms = [lambda: f"{name} = (not {name})",
                     lambda: f"{name} = ({name} or {self.bool(env, 1)})",
                     lambda: f"{name} = {self.bool(env, 1)}"]
            line = self.pick(forms)()
            self.bind(env, name, v)
            return [line]
        if t == I64:
            forms = [lambda: f"{name} += 1", lambda: f"{name} -= 1",
                     lambda: f"{name} += {self.pick(['2', '3'])}"]
            if not self.smooth:
                forms.append(lambda: f"{name} = ({name} + {self.i64(env, 0).text}) % 7")
            line = self.pick(forms)()
            self.bind(env, name, v)
            return [line]
        value = (lambda: self.f64(env, 2)) if t == F64 else (lambda: self.array(env, t.dims, 2))
        op = self.pick(["=", "+=", "-=", "*=", "/="])
        if op == "=":
            e = self.store(value())
            mag = e.mag
        elif op in ("+=", "-="):
            e = value() if t == F64 or self.chance(1, 2) else self.f64(env, 2)
            if env.in_loop or max(v.mag, e.mag) + 0.31 > self.store_cap:
                e = self.limit(e, 0.5)
            mag = v.mag if env.in_loop else max(v.mag, e.mag) + 0.31
        elif op == "*=":
            e = value() if self.chance(1, 2) else self.f64(env, 2)
            if env.in_loop or v.mag + e.mag > self.store_cap:
                e = self.factor(e)
            mag = v.mag + e.mag
        else:
            e = value() if self.chance(1, 2) else self.f64(env, 2)
            e = (Ex(f"(2.0 + abs({e.text}))") if not self.smooth and self.chance(1, 3)
                 else Ex(f"(1.0 + {e.text} ** 2)"))
            mag = v.mag
        self.bind(env, name, replace(v, mag=mag))
        return [f"{name} {op} {e.text}"]

    def update(self, env: Env, name: str) -> list[str]:
        """y[i] = e, y[i] += e, y[i, j] -= e, y[i] *= e on an array local to this function."""
        v = env.vars[name]
        target = f"{name}[{', '.join(self.index(env, d) for d in v.type.dims)}]"
        op = self.pick(["=", "+=", "-=", "*="])
        e = self.f64(env, 2)
        if op == "=":
            e = self.store(e)
            mag = max(v.mag, e.mag)
        elif op == "*=":
            e = self.factor(e)
            mag = v.mag
        else:
            if env.in_loop or max(v.mag, e.mag) + 0.31 > self.store_cap:
                e = self.limit(e, 0.5)
            mag = v.mag if env.in_loop else max(v.mag, e.mag) + 0.31
        self.bind(env, name, replace(v, mag=mag))
        return [f"{target} {op} {e.text}"]

    def loop_env(self, env: Env, heavy: int = 1) -> Env:
        """The body's scope: every f64 variable that the body might assign is carried from
        the previous iteration, so assume it is as large as a stored value may get."""
        inner = self.enter(env, heavy=heavy, loop=True)
        for name, v in inner.vars.items():
            if v.rebind and v.type.base == "f64":
                inner.vars[name] = replace(v, mag=max(v.mag, self.loop_mag))
        return inner

    def after_loop(self, env: Env, inner: Env) -> None:
        for name in inner.assigned:
            if name in env.vars:
                v = env.vars[name]
                mag = max(v.mag, inner.vars[name].mag,
                          self.loop_mag if v.type.base == "f64" else 0.0)
                self.bind(env, name, replace(v, mag=mag))

    def indent(self, lines: list[str]) -> list[str]:
        return ["    " + line for line in lines]

    def loop_range(self, env: Env) -> tuple[str, Var]:
        """A range() and what its variable is known to be."""
        d = self.pick(list(env.dims))
        idx = env.names(lambda v: d in v.index_of and v.nonneg)
        stops = env.names(lambda v: v.stop)
        forms = [
            (5, lambda: (f"range({d})", d)),
            (2, lambda: (f"range(1, {d})", d)),
            (1, lambda: (f"range(0, {d}, 2)", d)),
            (1, lambda: (f"range({d} - 1, -1, -1)", d)),
            (1, lambda: (f"range({self.pick(['2', '3'])})", None)),
        ]
        if idx:  # triangular loops: j < i < d, i <= j < d
            forms += [(2, lambda: (f"range({self.pick(idx)})", d)),
                      (1, lambda: (f"range({self.pick(idx)}, {d})", d))]
        if stops:
            forms.append((2, lambda: (f"range({self.pick(stops)})", None)))
        text, of = self.weighted(forms)
        return text, Var(I64, 0.7, rebind=False, index_of=frozenset([of] if of else []),
                         nonneg=True)

    def for_loop(self, env: Env) -> list[str]:
        lines = []
        acc = None
        if self.chance(1, 2):  # the common shape: an accumulator carried through the loop
            acc = self.fresh("acc")
            init = self.pick([Ex("0.0"), Ex("1.0"), self.f64_leaf(env)])
            lines.append(f"{acc} = {init.text}")
            self.bind(env, acc, Var(F64, init.mag))
        i = self.fresh("i")
        rng, var = self.loop_range(env)
        inner = self.loop_env(env)
        inner.vars[i] = var
        body = self.block(inner, 1 + self.choose(2 if acc is None else 1))
        if acc:
            e = self.limit(self.f64(inner, 2), 0.5)
            body.append(f"{acc} {self.pick(['+=', '-='])} {e.text}")
            inner.assigned.add(acc)
        self.after_loop(env, inner)
        return lines + [f"for {i} in {rng}:"] + self.indent(body)

    def fill(self, env: Env) -> list[str]:
        """y = zeros(d); for i in range(d): y[i] = e(i)  (also rank 2, two nested loops)."""
        rank = 2 if env.heavy == 0 and self.chance(1, 3) else 1
        shape = self.shape(env)[:1] if rank == 1 else (self.pick(list(env.dims)),
                                                       self.pick(list(env.dims)))
        name = self.fresh("y")
        init = self.constructor(shape)
        lines = [f"{name} = {init.text}"]
        self.bind(env, name, Var(arr(*shape), init.mag, local=True))
        inner = self.loop_env(env, heavy=rank)
        idx = []
        for d in shape:
            i = self.fresh("i")
            inner.vars[i] = Var(I64, 0.7, rebind=False, index_of=frozenset([d]), nonneg=True)
            idx.append(i)
        op = self.pick(["=", "+="])
        e = self.limit(self.f64(inner, 2), self.store_cap if op == "=" else 0.5)
        body = [f"{name}[{', '.join(idx)}] {op} {e.text}"]
        inner.assigned.add(name)
        for i, d in reversed(list(zip(idx, shape))):
            body = [f"for {i} in range({d}):"] + self.indent(body)
        self.after_loop(env, inner)
        env.vars[name] = replace(env.vars[name], mag=max(init.mag, e.mag + 0.31))
        return lines + body

    def while_loop(self, env: Env) -> list[str]:
        """w = 0; while w < bound [and cond]: ...; w += 1   -- always terminates."""
        w = self.fresh("w")
        stops = env.names(lambda v: v.stop and v.type == I64)
        bound = self.pick(stops + ["3", "2"])
        cond = f"{w} < {bound}"
        if self.chance(1, 3):  # the extra condition is generated before w is an index
            cond += f" and {self.bool(env, 1)}"
        inner = self.loop_env(env)
        inner.vars[w] = Var(I64, 0.7, rebind=False, nonneg=True,
                            index_of=frozenset([bound] if bound in env.dims else []))
        body = self.block(inner, 1 + self.choose(1)) + [f"{w} += 1"]
        self.after_loop(env, inner)
        env.vars[w] = Var(I64, 0.7, rebind=False, nonneg=True)
        return [f"{w} = 0", f"while {cond}:"] + self.indent(body)

    def if_statement(self, env: Env) -> list[str]:
        """if/elif/else. With an else, every branch ends by assigning the same targets
        (fresh names, visible after the if, or existing ones); without, only existing
        names may be assigned (or nothing: `pass`)."""
        branches = self.pick([2, 1, 3])
        has_else = branches >= 2
        targets = []
        for _ in range(self.choose(3)):
            rebindable = [n for n in env.names(lambda v: v.rebind and v.type.base == "f64")
                          if n not in [t for t, _ in targets]]
            if has_else and (not rebindable or self.chance(1, 2)):
                t = self.pick([F64, F64, arr(self.pick(list(env.dims)))])
                targets.append((self.fresh("r"), t))
            elif rebindable:
                targets.append((self.pick(rebindable), None))
        lines, merged = [], {}
        for b in range(branches):
            if b == 0:
                lines.append(f"if {self.bool(env, 2)}:")
            elif b < branches - 1 or not has_else:
                lines.append(f"elif {self.bool(env, 2)}:")
            else:
                lines.append("else:")
            inner = self.enter(env)
            body = self.block(inner, self.choose(2))
            for name, t in targets:
                if t is None:
                    body += self.rebind(inner, name)
                else:
                    e = self.store(self.f64(inner, 2) if t == F64 else self.array(inner, t.dims, 2))
                    body.append(f"{name} = {e.text}")
                    merged[name] = Var(t, max(e.mag, merged[name].mag if name in merged else 0.0),
                                       local=bool(t.dims))
            for name in inner.assigned:
                if name in env.vars:
                    v = env.vars[name]
                    self.bind(env, name, replace(v, mag=max(v.mag, inner.vars[name].mag)))
            lines += self.indent(body or ["pass"])
        env.vars.update(merged)
        return lines

    def tuple_callees(self, env: Env) -> list[Sig]:
        return [s for s in self.helpers if len(s.results) > 1 and env.heavy + s.cost <= MAX_HEAVY]

    def unpack(self, env: Env) -> list[str]:
        """p, q = h(...) with a helper returning a tuple; fresh names inside loops (so the
        call's result is never fed back into its own arguments)."""
        sig = self.pick(self.tuple_callees(env))
        text, binding = self.call_text(env, sig, 1, {})
        names = []
        for t, mag in zip(sig.results, sig.mags):
            t = T(t.base, tuple(binding[d] for d in t.dims))
            reuse = [n for n in env.names(lambda v: v.rebind and v.type == t) if n not in names]
            name = (self.pick(reuse) if reuse and not env.in_loop and self.chance(1, 3)
                    else self.fresh("p"))
            names.append(name)
            self.bind(env, name, Var(t, mag, local=bool(t.dims)))
        return [f"{', '.join(names)} = {text}"]

    def assertion(self, env: Env) -> list[str]:
        arrays = env.names(lambda v: bool(v.type.dims))
        forms = [lambda: (lambda d: f'assert {d} >= 1, "dimension {d} is positive"')(
            self.pick(list(env.dims)))]
        if arrays:
            forms.append(lambda: (lambda a: f'assert len({a}) == {env.vars[a].type.dims[0]}, '
                                            f'"length of {a}"')(self.pick(arrays)))
        idx = env.names(lambda v: bool(v.index_of))
        if idx:
            forms.append(lambda: (lambda i: f'assert {i} < {sorted(env.vars[i].index_of)[0]}, '
                                            f'"index {i} in bounds"')(self.pick(idx)))
        return [self.pick(forms)()]

    # ------------------------------------------------------------------ functions
    def returns(self, env: Env, results: list, cap: float, body: list,
                inputs: list) -> tuple[list[str], list[float]]:
        """The tail: `return e` / `return e1, e2`, sometimes a final if/else returning in
        every branch. Each returned value depends on the f64 `inputs` (else gradient tests
        would compare zeros): if it mentions nothing computed from them, a term is added."""
        def values(scope, before):
            live = live_names(before, inputs)
            # prefer parameters never reassigned: `s = 0.25` in a branch would kill `s`
            untouched = [p for p in inputs if p not in assigned_names(before)]
            out = []
            for t in results:
                e = self.f64(scope, 3) if t == F64 else self.array(scope, t.dims, 2)
                locals_ = scope.names(lambda v: v.type == F64 and v.rebind)
                if t == F64 and locals_ and self.chance(1, 2):  # use what the body computed
                    e = self.arith(self.var(scope, self.pick(locals_)), e)
                usable = untouched or sorted(n for n in live if n in scope.vars
                                             and scope.vars[n].type.base == "f64")
                if usable and not mentions(e.text) & set(usable):
                    name = self.pick(usable)
                    leaf = (self.var(scope, name) if not scope.vars[name].type.dims
                            else self.element(scope, name))
                    e = self.arith(self.limit(e), leaf)
                out.append(self.limit(e, cap))
            return out

        if env.nest < 2 and self.chance(1, 4):
            lines, mags = [], [0.0] * len(results)
            for b in range(2):
                lines.append(f"if {self.bool(env, 2)}:" if b == 0 else "else:")
                inner = self.enter(env)
                branch = self.block(inner, self.choose(2))
                vals = values(inner, body + branch)
                mags = [max(m, v.mag) for m, v in zip(mags, vals)]
                lines += self.indent(branch + [f"return {', '.join(v.text for v in vals)}"])
            return lines, mags
        vals = values(env, body)
        return [f"return {', '.join(v.text for v in vals)}"], [v.mag for v in vals]

    def function(self, name: str, params: list, results: list, env: Env,
                 statements: int, cap: float) -> tuple[list[str], list[float]]:
        self.cost = 0
        body = self.block(env, statements)
        inputs = [p for p, t in params if t.base == "f64"]
        tail, mags = self.returns(env, results, cap, body, inputs)
        sig = ", ".join(f"{p}: {t}" for p, t in params)
        ret = str(results[0]) if len(results) == 1 else f"({', '.join(map(str, results))})"
        return [f"def {name}({sig}) -> {ret}:"] + self.indent(body + tail), mags

    def helper(self, name: str) -> list[str]:
        """A helper with its own dimension names p, q, bound at each call."""
        candidates = [("u", F64), ("v", arr("p")), ("w", arr("p", "q")), ("z", arr("q")),
                      ("j", I64), ("r", F64)]
        params = [c for c in candidates if self.chance(1, 2)] or [candidates[1]]
        params = [params[i] for i in self.permutation(len(params))]
        dims = tuple(d for d in ("p", "q") if any(d in t.dims for _, t in params))
        if not dims:  # every function gets at least one dimension to loop over
            params.append(("v", arr("p")))
            dims = ("p",)
        env = Env({}, dims)
        for d in dims:
            env.vars[d] = Var(I64, 0.7, rebind=False, nonneg=True, stop=True)
        for p, t in params:  # i64 arguments are arbitrary (small) ints: never loop bounds
            env.vars[p] = Var(t, ARG_MAG if t.base == "f64" else 3.0, rebind=t.base == "f64")
        results = self.pick([[F64], [F64], [arr(dims[0])], [F64, F64], [F64, arr(dims[0])]])
        lines, mags = self.function(name, params, results, env, 1 + self.choose(2),
                                    self.store_cap)
        self.helpers.append(Sig(name, params, results, mags, self.cost))
        return lines

    def permutation(self, n: int) -> list[int]:
        rest, out = list(range(n)), []
        while rest:
            out.append(rest.pop(self.choose(len(rest))))
        return out

    def entry(self, array_result: bool) -> tuple[list[str], dict]:
        candidates = [("x", arr("n")), ("a", arr("n", "m")), ("s", F64), ("k", I64),
                      ("y", arr("m")), ("flag", BOOL), ("c", T("i64", ("n",)))]
        params = [candidates[0]] + [c for c in candidates[1:] if self.chance(1, 2)]
        params = [params[i] for i in self.permutation(len(params))]
        dims = tuple(d for d in ("n", "m") if any(d in t.dims for _, t in params))
        env = Env({}, dims)
        for d in dims:
            env.vars[d] = Var(I64, 0.7, rebind=False, nonneg=True, stop=True)
        for p, t in params:
            if p == "k":  # make_args gives 1..3: a loop bound; never reassigned
                env.vars[p] = Var(I64, 0.5, rebind=False, nonneg=True, stop=True)
            else:  # f64 inputs are standard normal: |v| < 10**0.8 in practice
                env.vars[p] = Var(t, 0.8 if t.base == "f64" else 0.5,
                                  rebind=t.base == "f64" and self.chance(1, 3))
        result = arr(*dims[:1 + self.choose(len(dims))]) if array_result else F64
        lines, _ = self.function("f", params, [result], env, 2 + self.choose(3), self.expr_cap)
        return lines, {p: str(t) for p, t in params}


def mentions(text: str) -> set:
    return set(re.findall(r"[A-Za-z_]\w*", text))


def assigned_names(lines: list) -> set:
    tree = ast.parse("\n".join(lines) or "pass")
    return {t.id for node in ast.walk(tree) if isinstance(node, (ast.Assign, ast.AugAssign,
                                                                 ast.AnnAssign))
            for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
            for t in ast.walk(target) if isinstance(t, ast.Name)}


def live_names(lines: list, inputs: list) -> set:
    """Names whose value may depend on `inputs` after running `lines` (statements at one
    indentation level): a fixed point over assignments, ignoring control flow."""
    tree = ast.parse("\n".join(lines) or "pass")
    def assigned(target):  # x, (p, q), y[i] -> y
        if isinstance(target, ast.Tuple):
            return [n for t in target.elts for n in assigned(t)]
        while isinstance(target, ast.Subscript):
            target = target.value
        return [target.id]

    assigns = [(node.value, [n for t in (node.targets if isinstance(node, ast.Assign)
                                         else [node.target]) for n in assigned(t)])
               for node in ast.walk(tree)
               if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign))]
    live, changed = set(inputs), True
    while changed:
        changed = False
        for value, targets in assigns:
            if {n.id for n in ast.walk(value) if isinstance(n, ast.Name)} & live:
                changed |= not set(targets) <= live
                live.update(targets)
    return live


def build_program(choose: Callable[[int], int], smooth: bool = False,
                  array_results: bool = False) -> Program:
    gen = Gen(choose, smooth)
    functions = [gen.helper(f"h{i + 1}") for i in range(choose(3))]  # h2 may call h1
    entry, params = gen.entry(array_results)
    functions.insert(choose(len(functions) + 1), entry)  # definition order is free
    dims = {d: 1 + choose(5) for d in ("n", "m")
            if any(d in parse_type(t)[1] for t in params.values())}
    source = "\n\n".join("\n".join(f) for f in functions) + "\n"
    result = entry[0].rsplit("-> ", 1)[1].rstrip(":")
    return Program(source, "f", params, dims, result, smooth)


@st.composite
def programs(draw, smooth: bool = False, array_results: bool = False) -> Program:
    """Random well-typed, terminating programs; entry `f` returns f64 (or, with
    array_results=True, an f64 array over the entry's dimensions)."""
    return build_program(lambda k: draw(st.integers(0, k - 1)), smooth, array_results)


def generate_program(seed: int, smooth: bool = False, array_results: bool = False) -> Program:
    """The same distribution without hypothesis (for debugging and coverage checks)."""
    r = random.Random(seed)
    return build_program(lambda k: r.randrange(k), smooth, array_results)


# ----------------------------------------------------------------------------- oracle
# The source is Python syntax; evaluate it as Python after a few rewrites that give it the
# language's meaning: arrays as NumPy arrays with value semantics, bounds-checked indexing
# (a negative index counts from the end), dimension names bound from the parameters' shapes.

class _Type:
    """f64, i64: subscriptable so that `f64[n]` is a valid annotation (never evaluated)."""

    def __init__(self, name):
        self.name = name

    def __getitem__(self, dims):
        return self

    def __repr__(self):
        return self.name


def _copy(v):
    if isinstance(v, np.ndarray):
        return v.copy()
    if isinstance(v, tuple):
        return tuple(_copy(x) for x in v)
    return v


def _check(a, idx):
    """The index tuple, if every component is an i64 in bounds; a negative one counts from
    the end, as in Python and dpc (-1 is the last element), and comes back as the
    non-negative index of the same element."""
    idx = idx if isinstance(idx, tuple) else (idx,)
    if not isinstance(a, np.ndarray) or len(idx) > a.ndim:
        raise IndexError(f"too many indices for a value of shape {np.shape(a)}")
    out = []
    for k, i in enumerate(idx):
        if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)):
            raise TypeError(f"index {i!r} is not an i64")
        if not -a.shape[k] <= i < a.shape[k]:
            raise IndexError(f"index {int(i)} out of bounds for size {a.shape[k]}")
        out.append(int(i) % a.shape[k])
    return tuple(out)


def _ix(a, idx):
    return _copy(a[_check(a, idx)])  # a row is a value, not a view


def _arr(items):
    """A comprehension or array literal: f64 unless every element is an integer."""
    return np.array(items, dtype=np.float64 if any(
        isinstance(x, (float, np.floating, np.ndarray)) for x in items) else None)


def _dim(a, k, bound=None):
    size = int(np.shape(a)[k])
    if bound is not None and bound != size:
        raise ValueError(f"dimension mismatch: {size} is not {bound}")
    return size


def _scalar(v):
    v = np.asarray(v)
    return v[()] if v.ndim == 0 else v


def _max(*args, axis=None):
    if len(args) == 2:  # max(a, b): elementwise
        return _scalar(np.maximum(*args))
    (a,) = args
    return _scalar(np.max(a, axis=axis)) if isinstance(a, np.ndarray) else builtins.max(a)


def _min(*args, axis=None):
    if len(args) == 2:
        return _scalar(np.minimum(*args))
    (a,) = args
    return _scalar(np.min(a, axis=axis)) if isinstance(a, np.ndarray) else builtins.min(a)


def _sum(a, axis=None):
    return _scalar(np.sum(a, axis=axis)) if isinstance(a, np.ndarray) else builtins.sum(a)


def _prod(a, axis=None):
    return _scalar(np.prod(a, axis=axis)) if isinstance(a, np.ndarray) else math.prod(a)


def _elementwise(fn):
    return lambda x: _scalar(fn(x))


def _as_float(fn):
    return _elementwise(lambda x: fn(np.asarray(x, dtype=np.float64)))


_lgamma = np.vectorize(math.lgamma, otypes=[np.float64])

PRELUDE = {
    "f64": _Type("f64"), "i64": _Type("i64"),
    "exp": _as_float(np.exp), "log": _as_float(np.log), "log1p": _as_float(np.log1p),
    "expm1": _as_float(np.expm1), "sqrt": _as_float(np.sqrt), "sin": _as_float(np.sin),
    "cos": _as_float(np.cos), "tan": _as_float(np.tan), "tanh": _as_float(np.tanh),
    "sigmoid": _as_float(lambda x: 0.5 + 0.5 * np.tanh(0.5 * x)),
    "floor": _as_float(np.floor), "ceil": _as_float(np.ceil), "lgamma": _as_float(_lgamma),
    "abs": _elementwise(np.abs), "sign": _elementwise(np.sign), "pow": lambda a, b: a ** b,
    "max": _max, "min": _min, "sum": _sum, "prod": _prod,
    "mean": lambda a: _scalar(np.mean(a)),
    "where": lambda c, a, b: _scalar(np.where(c, a, b)),
    "zeros": lambda *d: np.zeros(d), "ones": lambda *d: np.ones(d),
    "full": lambda v, *d: np.full(d, float(v)),
    "arange": lambda n: np.arange(n, dtype=np.int64),
    "dot": lambda a, b: _scalar(np.dot(a, b)), "outer": np.outer, "transpose": np.transpose,
    "len": len, "range": range, "float": float, "int": int, "bool": bool,
    "_ix": _ix, "_check": _check, "_copy": _copy, "_arr": _arr, "_dim": _dim,
}


def _call(fn: str, *args) -> ast.Call:
    return ast.Call(ast.Name(fn, ast.Load()), list(args), [])


class _ToPython(ast.NodeTransformer):
    def visit_FunctionDef(self, node):
        prologue, bound = [], set()
        for a in node.args.args:
            ann = a.annotation
            a.annotation = None  # types are checked by the compiler, not here
            if not isinstance(ann, ast.Subscript):
                continue
            dims = ann.slice.elts if isinstance(ann.slice, ast.Tuple) else [ann.slice]
            # arrays have value semantics: the callee gets its own copy
            prologue.append(ast.parse(f"{a.arg} = _copy({a.arg})").body[0])
            for k, d in enumerate(dims):
                if isinstance(d, ast.Name):  # n = size of this axis (and agree with earlier)
                    check = f", {d.id}" if d.id in bound else ""
                    prologue.append(ast.parse(f"{d.id} = _dim({a.arg}, {k}{check})").body[0])
                    bound.add(d.id)
        node.returns = None
        node.body = prologue + [self.visit(stmt) for stmt in node.body]
        return node

    def visit_ListComp(self, node):
        return _call("_arr", self.generic_visit(node))

    def visit_List(self, node):
        node = self.generic_visit(node)
        return _call("_arr", node) if isinstance(node.ctx, ast.Load) else node

    def visit_Subscript(self, node):
        node = self.generic_visit(node)
        if isinstance(node.ctx, ast.Load):
            return _call("_ix", node.value, node.slice)
        node.slice = _call("_check", node.value, node.slice)  # a store: y[i] = e, y[i] += e
        return node

    def visit_Assign(self, node):  # y = x binds a copy
        node = self.generic_visit(node)
        if isinstance(node.value, ast.Name):
            node.value = _call("_copy", node.value)
        return node

    def visit_AnnAssign(self, node):  # x: T = e  ->  x = e
        return self.visit(ast.Assign([node.target], node.value, lineno=node.lineno))


@functools.lru_cache(maxsize=256)
def python_source(source: str) -> str:
    """The .dp source rewritten into plain Python that runs with PRELUDE."""
    tree = _ToPython().visit(ast.parse(source))
    return ast.unparse(ast.fix_missing_locations(tree))


@functools.lru_cache(maxsize=256)
def _compiled(source: str):
    return compile(python_source(source), "<dp as python>", "exec",
                   flags=__future__.annotations.compiler_flag, dont_inherit=True)


def evaluate_python(program: Program, args: dict):
    """Run the entry on `args` (as from make_args) as Python + NumPy: an independent oracle
    for the language's meaning. Raises IndexError/ZeroDivisionError/FloatingPointError/...
    where the language raises a run-time error or a value is not finite."""
    namespace = dict(PRELUDE)
    exec(_compiled(program.source), namespace)
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        return namespace[program.entry](*(args[p] for p in program.params))
