"""Whole-module checks: no recursion; custom derivative rules have the right signatures."""

from __future__ import annotations

from ir import DYN, F64, Symbol

from . import ast as A
from .lower import DERIVATIVE_FORMS
from .scope import assigned_names

CUSTOM_RULES = ("derivative", "tangent")


def calls_in(fdef: A.FuncDef, names: set[str]) -> list[tuple[str, object, str | None]]:
    """(callee, call node, derivative form or None) for every call of a module function in
    the body, in order. A function passed to a derivative form counts as called, by that
    form. A name the function binds itself (a parameter, a variable) is that value where
    it is not called: `g * b` with a parameter g does not call a function g."""
    local = bound_names(fdef)
    found = []

    def visit(node, form: str | None = None, callee: bool = False) -> None:
        if isinstance(node, list):
            for x in node:
                visit(x)
            return
        if not hasattr(node, "__dataclass_fields__"):
            return
        if isinstance(node, A.Name) and node.id in names and (callee or node.id not in local):
            found.append((node.id, node, form))
        if isinstance(node, A.Call):
            name = node.func.id if isinstance(node.func, A.Name) else None
            form = name if name in DERIVATIVE_FORMS else None
            visit(node.func, callee=True)
            for arg in node.args:
                visit(arg, form, callee=form is not None)
            visit(node.kwargs)
            return
        for field in node.__dataclass_fields__:
            visit(getattr(node, field))

    visit(fdef.body)
    return found


def bound_names(fdef: A.FuncDef) -> set[str]:
    """Parameters, assigned names, loop and comprehension variables of a function."""
    bound = {p.name for p in fdef.params} | set(assigned_names(fdef.body))

    def visit(node) -> None:
        if isinstance(node, list):
            for x in node:
                visit(x)
        elif hasattr(node, "__dataclass_fields__"):
            if isinstance(node, A.Comprehension):
                bound.add(node.var)
            for field in node.__dataclass_fields__:
                visit(getattr(node, field))

    visit(fdef.body)
    return bound


# The custom rule a derivative form runs: reverse mode uses @derivative, forward @tangent.
RULE_OF_FORM = {"grad": "derivative", "value_and_grad": "derivative", "vjp": "derivative",
                "jvp": "tangent"}


class CallGraph:
    """What running a function needs, as edges between nodes (name, mode): mode None is
    calling the function, mode "derivative" or "tangent" is differentiating it, which
    runs its custom rule of that kind if it has one, else differentiates what it calls.
    Differentiating also runs the function itself (the value comes first)."""

    def __init__(self, defs: dict[str, A.FuncDef]):
        self.calls = {name: calls_in(fdef, set(defs)) for name, fdef in defs.items()}
        self.rules = {(dec.target, dec.name): name for name, fdef in defs.items()
                      for dec in fdef.decorators if dec.name in CUSTOM_RULES}

    def edges(self, node) -> list[tuple[str, tuple, object]]:
        """(how, next node, call node or None) for each step out of `node`."""
        name, mode = node
        if mode is None:
            steps = [("calls", (callee, None), call) for callee, call, _ in self.calls[name]]
            return steps + [("differentiates", (callee, RULE_OF_FORM[form]), call)
                            for callee, call, form in self.calls[name] if form]
        steps = [("runs", (name, None), None)]
        rule = self.rules.get((name, mode))
        if rule is not None:
            return steps + [(f"@{mode} rule", (rule, None), None)]
        return steps + [("calls", (callee, mode), call) for callee, call, _ in self.calls[name]]


def check_recursion(lowering) -> None:
    """No function may reach itself, by calls or through differentiation: a custom rule
    that differentiates the function it is the rule of would run itself forever."""
    graph = CallGraph(lowering.defs)
    state: dict[tuple, str] = {}

    def visit(node, path: list) -> None:
        state[node] = "active"
        for how, target, call in graph.edges(node):
            here = path + [(node, how, call)]
            if state.get(target) == "active":
                cycle = here[[step[0] for step in here].index(target):]
                call = next(c for _, _, c in reversed(cycle) if c is not None)
                raise lowering.error(call, "recursion is not supported: " + describe(cycle))
            if target not in state:
                visit(target, here)
        state[node] = "done"

    # called functions first: a cycle is told from where a call closes it
    for node in [(name, None) for name in graph.calls] + [
            (name, mode) for name in graph.calls for mode in CUSTOM_RULES]:
        if node not in state:
            visit(node, [])


def describe(cycle: list) -> str:
    """The cycle's steps in words: "'f' calls 'g', which differentiates 'h', whose
    @derivative rule is 'f'"."""
    starts = [k for k, ((_, mode), _, _) in enumerate(cycle) if mode is None]
    if starts:  # told from a call where there is one
        cycle = cycle[starts[0]:] + cycle[:starts[0]]
    (first, mode), how, _ = cycle[0]
    if len(cycle) == 1 and how == "calls":
        return f"'{first}' calls itself"
    words = []
    for k, (_, how, _) in enumerate(cycle):
        target, _ = cycle[(k + 1) % len(cycle)][0]
        if how.startswith("@"):
            words.append(f"whose {how} is '{target}'")
        elif how != "runs":
            words.append(f"{'which ' if words else ''}{how} '{target}'")
    return ("differentiating " if mode else "") + f"'{first}' " + ", ".join(words)


def check_decorators(lowering) -> None:
    module = lowering.module
    for fdef in lowering.tree.functions:
        for dec in fdef.decorators:
            if dec.name not in CUSTOM_RULES:
                raise lowering.error(dec, f"unknown decorator '@{dec.name}'; dpc knows "
                                          f"@derivative(f) and @tangent(f)")
            if dec.target is None:
                raise lowering.error(dec, f"@{dec.name} needs the function it is the rule of: "
                                          f"@{dec.name}(f)")
            if dec.target not in module.functions:
                raise lowering.error(dec, f"@{dec.name} names unknown function '{dec.target}'")
            if dec.target == fdef.name:
                raise lowering.error(dec, f"'{fdef.name}' cannot be its own {dec.name} rule")
            target = module.functions[dec.target]
            rule = module.functions[fdef.name]
            expected_params, expected_results = rule_signature(dec.name, target)
            check_signature(lowering, dec, rule, expected_params, expected_results)
            if dec.name in target.attrs:
                raise lowering.error(dec, f"'{dec.target}' already has a @{dec.name} rule: "
                                          f"'{target.attrs[dec.name].name}'")
            target.attrs[dec.name] = Symbol(fdef.name)


def rule_signature(kind: str, target) -> tuple[list, list]:
    """@derivative(f): f's parameters, then the cotangent of each result -> the cotangents
    of f's f64 parameters. @tangent(f): f's parameters, then the tangents of its f64
    parameters -> the tangent of each result."""
    floats = [t for t in target.param_types if t.elem == F64]
    if kind == "derivative":
        return list(target.param_types) + list(target.return_types), floats
    return list(target.param_types) + floats, list(target.return_types)


def check_signature(lowering, dec, rule, params, results) -> None:
    what = f"a @{dec.name}({dec.target}) rule"
    got = rule.param_types
    if len(got) != len(params) or any(g.elem != p.elem or g.rank != p.rank for g, p in zip(got, params)):
        raise lowering.error(dec, f"{what} must take ({', '.join(map(str, params))}), but "
                                  f"'{rule.name}' takes ({', '.join(map(str, got))})")
    rets = rule.return_types
    if len(rets) != len(results) or any(g.elem != p.elem or g.rank != p.rank for g, p in zip(rets, results)) \
            or not same_sizes(got, params, rets, results):
        raise lowering.error(dec, f"{what} must return ({', '.join(map(str, results))}), but "
                                  f"'{rule.name}' returns ({', '.join(map(str, rets))})")


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
