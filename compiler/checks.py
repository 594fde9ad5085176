"""Whole-module checks: no recursion; custom derivative rules have the right signatures."""

from __future__ import annotations

from ir import F64, Symbol
from ir.calls import RULE_ATTRS as CUSTOM_RULES
from ir.calls import CallGraph, closing_site, describe, listed_types, rule_mismatch

from . import ast as A
from .builtins import BUILTINS
from .lower import DERIVATIVE_FORMS
from .scope import assigned_names, did_you_mean


def calls_in(fdef: A.FuncDef, names: set[str]) -> list[tuple[str, object, str | None]]:
    """(callee, call node, derivative form or None) for every call of a module function in
    the body, in order. A function passed to a derivative form counts as called, by that
    form. A name the function binds itself (a parameter, a variable) is that value where
    it is not called: `g * b` with a parameter g does not call a function g."""
    local = bound_names(fdef)
    found = []
    roles = {}  # id of a call's function or argument -> (derivative form, is it called)
    for node in A.walk(fdef.body):  # a call comes before what it calls and passes
        if isinstance(node, A.Call):
            name = node.func.id if isinstance(node.func, A.Name) else None
            form = name if name in DERIVATIVE_FORMS else None
            roles[id(node.func)] = (None, True)
            roles.update((id(arg), (form, form is not None)) for arg in node.args)
        elif isinstance(node, A.Name) and node.id in names:
            form, callee = roles.get(id(node), (None, False))
            if callee or node.id not in local:
                found.append((node.id, node, form))
    return found


def bound_names(fdef: A.FuncDef) -> set[str]:
    """Parameters, assigned names, loop and comprehension variables of a function."""
    bound = {p.name for p in fdef.params} | set(assigned_names(fdef.body))
    bound.update(node.var for node in A.walk(fdef.body) if isinstance(node, A.Comprehension))
    return bound


def check_recursion(lowering) -> None:
    """No function may reach itself, by calls or through differentiation: a custom rule
    that differentiates the function it is the rule of would run itself forever."""
    defs = lowering.defs
    graph = CallGraph({name: calls_in(fdef, set(defs)) for name, fdef in defs.items()},
                      {(dec.target, dec.name): name for name, fdef in defs.items()
                       for dec in fdef.decorators if dec.name in CUSTOM_RULES})
    cycle = graph.cycle()
    if cycle:
        _, call = closing_site(cycle)
        raise lowering.error(call, "recursion is not supported: " + describe(cycle))


def check_decorators(lowering) -> None:
    module = lowering.module
    for fdef in lowering.tree.functions:
        for dec in fdef.decorators:
            check_rule_target(lowering, fdef, dec)
            target = module.functions[dec.target]
            rule = module.functions[fdef.name]
            wrong = rule_mismatch(dec.name, target, rule)
            if wrong:
                verb, expected, got = wrong
                raise lowering.error(dec, f"a @{dec.name}({dec.target}) rule must {verb} "
                                          f"{listed_types(verb, expected)}, but "
                                          f"'{rule.name}' {verb}s {listed_types(verb, got)}")
            if dec.name in target.attrs:
                raise lowering.error(dec, f"'{dec.target}' already has a @{dec.name} rule: "
                                          f"'{target.attrs[dec.name].name}'")
            target.attrs[dec.name] = Symbol(fdef.name)


def check_rule_target(lowering, fdef: A.FuncDef, dec: A.Decorator) -> None:
    """`dec` is @derivative(f) or @tangent(f), for another function f of the module that
    has a derivative (an f64 parameter and an f64 result)."""
    functions = lowering.module.functions
    if dec.name not in CUSTOM_RULES:
        raise lowering.error(dec, f"unknown decorator '@{dec.name}'; dpc knows "
                                  f"@derivative(f) and @tangent(f)")
    if dec.target is None:
        raise lowering.error(*target_problem(dec))
    target = A.Name(dec.target, dec.line, dec.target_col)
    if dec.target in BUILTINS and dec.target not in functions:
        raise lowering.error(target, f"'{dec.target}' is a builtin, whose derivatives are built "
                                     f"in; @{dec.name} gives the rule of a function of this module: "
                                     f"def one that calls {dec.target}")
    if dec.target not in functions:
        hint = did_you_mean(dec.target, list(functions))
        raise lowering.error(target, f"@{dec.name} names unknown function '{dec.target}'{hint}")
    if dec.target == fdef.name:
        raise lowering.error(dec, f"'{fdef.name}' cannot be its own {dec.name} rule")
    if not functions[dec.target].float_positions:
        raise lowering.error(target, f"'{dec.target}' has no f64 parameter, so no derivative "
                                     f"for a @{dec.name} rule to give")
    results = functions[dec.target].return_types
    if not any(t.elem == F64 for t in results):
        returned = listed_types("return", list(results)) if results else "nothing"
        raise lowering.error(target, f"'{dec.target}' returns {returned}, which has no "
                                     f"derivative (differentiation passes through f64 values "
                                     f"only), so a @{dec.name} rule for it would never be used")


def target_problem(dec: A.Decorator) -> tuple:
    """(where, what) for @derivative or @tangent without one function's name in its
    parentheses: @derivative, @derivative(), @derivative(f, g), @derivative(f(x))."""
    rule = f"@{dec.name}(f)"
    if dec.args is None:
        return dec, f"@{dec.name} needs the function it is the rule of: {rule}"
    given = dec.args + dec.kwargs
    if not given:  # at the empty parentheses' inside
        return (A.Name("", dec.line, dec.paren_col + 1),
                f"@{dec.name}() names no function: write the function it is the rule of, {rule}")
    if len(given) > 1:  # at where the second begins: @derivative(f, g + h) at the g
        return (A.leftmost(given[1]),
                f"@{dec.name} takes one function, the one it is the rule of: {rule}")
    if isinstance(given[0], A.Keyword):
        return given[0], f"@{dec.name} takes the function's name without a keyword: {rule}"
    return (A.leftmost(given[0]), f"@{dec.name} takes the name of a function of this module, "
                                  f"not an expression: {rule}")
