"""What running a function runs: the call graph that differentiation extends, its cycles
(recursion, which the language does not have), and the signatures of custom rules.

The front end builds the graph from the source, the verifier from the IR; both find and
describe a cycle here, in the same words.
"""

from __future__ import annotations

from .core import Module, Symbol, walk_ops
from .types import DYN, F64

RULE_ATTRS = ("derivative", "tangent")  # a function's custom rules: @derivative(f), @tangent(f)

# The custom rule a derivative form runs: reverse mode uses @derivative, forward @tangent.
RULE_OF_FORM = {"grad": "derivative", "value_and_grad": "derivative", "vjp": "derivative",
                "jvp": "tangent"}


class CallGraph:
    """What running a function needs, as edges between nodes (name, mode): mode None is
    calling the function, mode "derivative" or "tangent" is differentiating it, which
    runs its custom rule of that kind if it has one, else differentiates what it calls.
    Differentiating also runs the function itself (the value comes first).

    calls: name -> [(callee, site, derivative form or None)], a site being what an error
    points at (a call node, an op); rules: (name, kind) -> the name of its rule."""

    def __init__(self, calls: dict[str, list], rules: dict[tuple, str]):
        self.calls = calls
        self.rules = rules

    def edges(self, node) -> list[tuple[str, tuple, object]]:
        """(how, next node, site or None) for each step out of `node`."""
        name, mode = node
        if mode is None:
            steps = [("calls", (callee, None), site) for callee, site, _ in self.calls[name]]
            return steps + [("differentiates", (callee, RULE_OF_FORM[form]), site)
                            for callee, site, form in self.calls[name] if form]
        steps = [("runs", (name, None), None)]
        rule = self.rules.get((name, mode))
        if rule is not None:
            return steps + [(f"@{mode} rule", (rule, None), None)]
        return steps + [("calls", (callee, mode), site) for callee, site, _ in self.calls[name]]

    def cycle(self) -> list | None:
        """A cycle of steps [(node, how, site)], or None. Called functions are searched
        first: a cycle is told from where a call closes it."""
        state: dict[tuple, str] = {}
        for node in [(name, None) for name in self.calls] + [
                (name, mode) for name in self.calls for mode in RULE_ATTRS]:
            found = None if node in state else self.search(node, state)
            if found:
                return found
        return None

    def search(self, root, state: dict) -> list | None:
        """Depth first from root (state: node -> "active" or "done"), with a stack of our
        own, not Python's: a chain of calls may be thousands of functions long."""
        state[root] = "active"
        stack = [(root, iter(self.edges(root)))]
        path: list = []  # the steps (node, how, site) from root to the node on top
        while stack:
            node, steps = stack[-1]
            step = next(steps, None)
            if step is None:
                state[node] = "done"
                stack.pop()
                if path:
                    path.pop()
                continue
            how, target, site = step
            if state.get(target) == "active":
                here = path + [(node, how, site)]
                return here[[s[0] for s in here].index(target):]
            if target not in state:
                state[target] = "active"
                path.append((node, how, site))
                stack.append((target, iter(self.edges(target))))
        return None


def closing_site(cycle: list) -> tuple[str, object]:
    """The function and the site of the last call in a cycle: where the error points."""
    return next((name, site) for (name, _), _, site in reversed(cycle) if site is not None)


def describe(cycle: list, show=lambda name: f"'{name}'") -> str:
    """The cycle's steps in words: "'f' calls 'g', which differentiates 'h', whose
    @derivative rule is 'f'" (`show` writes a function's name)."""
    starts = [k for k, ((_, mode), _, _) in enumerate(cycle) if mode is None]
    if starts:  # told from a call where there is one
        cycle = cycle[starts[0]:] + cycle[:starts[0]]
    (first, mode), how, _ = cycle[0]
    if len(cycle) == 1 and how == "calls":
        return f"{show(first)} calls itself"
    words = []
    for k, (_, how, _) in enumerate(cycle):
        target, _ = cycle[(k + 1) % len(cycle)][0]
        if how.startswith("@"):
            words.append(f"whose {how} is {show(target)}")
        elif how != "runs":
            words.append(f"{'which ' if words else ''}{how} {show(target)}")
    return ("differentiating " if mode else "") + f"{show(first)} " + ", ".join(words)


def module_calls(module: Module) -> CallGraph:
    """The call graph of an IR module: its sites are the calling ops (a derivative form
    calls the function it differentiates), its rules the functions' rule attributes."""
    calls = {name: [(op.attrs["callee"].name, op, op.name if op.name in RULE_OF_FORM else None)
                    for op in walk_ops(fn.body) if isinstance(op.attrs.get("callee"), Symbol)
                    and op.attrs["callee"].name in module.functions]
             for name, fn in module.functions.items()}
    rules = {(name, kind): fn.attrs[kind].name for name, fn in module.functions.items()
             for kind in RULE_ATTRS if isinstance(fn.attrs.get(kind), Symbol)
             and fn.attrs[kind].name in module.functions}
    return CallGraph(calls, rules)


def rule_signature(kind: str, target) -> tuple[list, list]:
    """@derivative(f): f's parameters, then the cotangent of each result -> the cotangents
    of f's f64 parameters. @tangent(f): f's parameters, then the tangents of its f64
    parameters -> the tangent of each result."""
    floats = [t for t in target.param_types if t.elem == F64]
    if kind == "derivative":
        return list(target.param_types) + list(target.return_types), floats
    return list(target.param_types) + floats, list(target.return_types)


def rule_mismatch(kind: str, target, rule) -> tuple[str, list, list] | None:
    """How `rule` fails to be a `kind` rule of `target`: ("take", the parameter types it
    must take, those it takes) or ("return", ...); None when it fits."""
    params, results = rule_signature(kind, target)
    got = rule.param_types
    if len(got) != len(params) or any(g.elem != p.elem or g.rank != p.rank
                                      for g, p in zip(got, params)):
        return "take", params, list(got)
    rets = rule.return_types
    if len(rets) != len(results) or any(g.elem != p.elem or g.rank != p.rank
                                        for g, p in zip(rets, results)) \
            or not same_sizes(got, params, rets, results):
        return "return", results, list(rets)
    return None


def listed_types(verb: str, types: list) -> str:
    """Types as a mismatch message names them: parameters as a list, "(f64, i64)"; one
    result bare, "f64", as a function's signature writes it; several as a tuple."""
    if verb == "return" and len(types) == 1:
        return str(types[0])
    return f"({', '.join(map(str, types))})"


def same_sizes(rule_params, params, rule_results, results) -> bool:
    """Are the rule's result sizes the expected ones, its dimension names read as the
    sizes its parameters bind them to? (f64[3] where f64[n] is due is not; a `?` is
    checked when the rule runs.)"""
    bound = {}
    for got, want in zip(rule_params, params):
        for d, e in zip(got.shape, want.shape):
            if isinstance(d, str) and d != DYN:
                bound.setdefault(d, e)
    for got, want in zip(rule_results, results):
        for d, e in zip(got.shape, want.shape):
            size = bound.get(d, d) if isinstance(d, str) else d
            if DYN not in (d, e) and size != e:
                return False
    return True
