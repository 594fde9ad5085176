"""Whole-module checks: no recursion; custom derivative rules have the right signatures."""

from __future__ import annotations

from ir import F64, Symbol

from . import ast as A
from .lower import DERIVATIVE_FORMS
from .scope import assigned_names

CUSTOM_RULES = ("derivative", "tangent")


def calls_in(fdef: A.FuncDef, names: set[str]) -> list[tuple[str, object]]:
    """(callee, call node) for every call of a module function in the body, in order.
    A function passed to a derivative form counts as called. A name the function binds
    itself (a parameter, a variable) is that value where it is not called: `g * b`
    with a parameter g does not call a function g."""
    local = bound_names(fdef)
    found = []

    def visit(node, callee: bool = False) -> None:
        if isinstance(node, list):
            for x in node:
                visit(x)
            return
        if not hasattr(node, "__dataclass_fields__"):
            return
        if isinstance(node, A.Name) and node.id in names and (callee or node.id not in local):
            found.append((node.id, node))
        if isinstance(node, A.Call):
            form = isinstance(node.func, A.Name) and node.func.id in DERIVATIVE_FORMS
            visit(node.func, callee=True)
            for arg in node.args:
                visit(arg, callee=form)
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


def check_recursion(lowering) -> None:
    defs = lowering.defs
    graph = {name: calls_in(fdef, set(defs)) for name, fdef in defs.items()}
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        state[name] = "active"
        for callee, node in graph[name]:
            if state.get(callee) == "active":
                cycle = path[path.index(callee):] + [name] if callee != name else [name]
                raise lowering.error(node, "recursion is not supported: " + describe(cycle, callee))
            if callee not in state:
                visit(callee, path + [name])
        state[name] = "done"

    for name in defs:
        if name not in state:
            visit(name, [])


def describe(cycle: list[str], back_to: str) -> str:
    if len(cycle) == 1:
        return f"'{cycle[0]}' calls itself"
    steps = f"'{cycle[0]}' calls " + ", which calls ".join(f"'{c}'" for c in cycle[1:])
    return f"{steps}, which calls '{back_to}'"


def check_decorators(lowering) -> None:
    module = lowering.module
    for fdef in lowering.tree.functions:
        for dec in fdef.decorators:
            if dec.name not in CUSTOM_RULES:
                raise lowering.error(dec, f"unknown decorator '@{dec.name}'; dpc knows "
                                          f"@derivative(f) and @tangent(f)")
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
    if len(rets) != len(results) or any(g.elem != p.elem or g.rank != p.rank for g, p in zip(rets, results)):
        raise lowering.error(dec, f"{what} must return ({', '.join(map(str, results))}), but "
                                  f"'{rule.name}' returns ({', '.join(map(str, rets))})")
