"""Names in scope while lowering a function body, and why a name is not visible.

The language binds names like Python, but SSA values do not outlive the region that makes
them: a name first bound inside a loop body, or in only some branches of an `if`, is not
visible after it. We remember where such names were bound, so that using one later gets
an error that says where to bind it first.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from ir import Value
from ir.errors import series

from . import ast as A


@dataclass
class BoundLaterInLoop:
    """A name a loop body binds that is not bound before the loop: it has no value in an
    iteration until the body binds it (Python would carry it over from the previous one).
    Where it is read decides the sentence: before its binding, or in another branch."""
    name: str
    line: int   # of the binding
    loop: str   # "for loop at line 3"

    def message(self, read_at: int) -> str:
        where = (f"it is first bound later in the {self.loop} (at line {self.line})"
                 if self.line > read_at else
                 f"the {self.loop} binds it at line {self.line}, on a path that does not "
                 f"reach this read")
        return (f"'{self.name}' has no value here: {where}; to carry it from one iteration "
                f"to the next, bind it before the loop")


@dataclass
class Scope:
    values: dict[str, Value] = field(default_factory=dict)
    # name -> sentence explaining why it is not visible here (or what makes one)
    hidden: dict[str, "str | BoundLaterInLoop"] = field(default_factory=dict)

    def copy(self) -> "Scope":
        return Scope(dict(self.values), dict(self.hidden))

    def bind(self, name: str, value: Value) -> None:
        self.values[name] = value
        self.hidden.pop(name, None)

    def lookup(self, name: str) -> Value | None:
        return self.values.get(name)

    def suggestion(self, name: str, extra: list[str]) -> str:
        return did_you_mean(name, list(self.values) + extra)


def did_you_mean(name: str, candidates: list[str]) -> str:
    """' (did you mean 'ct0', 'ct1' or 'ct2'?)': the candidates closest to name, all of
    those equally close (up to three, in their order), or '' if none is close."""
    close = difflib.get_close_matches(name, candidates, n=max(len(candidates), 1))
    if not close:
        return ""
    def score(c):
        return difflib.SequenceMatcher(None, c, name).ratio()
    best = score(close[0])
    tied = [f"'{c}'" for c in dict.fromkeys(candidates) if c in close and score(c) == best][:3]
    return f" (did you mean {series(tied, 'or')}?)"


def assigned_names(stmts) -> list[str]:
    """Names a statement list (re)binds, nested blocks included, in first-seen order."""
    return list(first_bindings(stmts, updates=True))


def first_bindings(stmts, updates: bool = False) -> dict[str, int]:
    """name -> the line of the statement that first binds it in a statement list, nested
    blocks included, in first-seen order; with `updates`, also `x += ...` and `x[i] =
    ...`, which rebind a name but need a value first."""
    out: dict[str, int] = {}
    binds = (A.Assign, A.AugAssign, A.IndexAssign) if updates else (A.Assign,)

    def visit(block) -> None:
        for s in block:
            if isinstance(s, binds):
                out.setdefault(s.target, s.line)
            elif isinstance(s, A.TupleAssign):
                visit(s.targets)
            elif isinstance(s, A.For):
                out.setdefault(s.var, s.line)
                visit(s.body)
            elif isinstance(s, A.While):
                visit(s.body)
            elif isinstance(s, A.If):
                visit(s.body)
                visit(s.orelse)

    visit(stmts)
    return out


def last_binding(stmts, name: str):
    """The statement that binds `name` last in a statement list (nested blocks included,
    in the order of the text; `x += ...` too), or None: where a value of a new type may
    come from, to point at when the types disagree."""
    last = None
    for s in stmts:
        if isinstance(s, (A.Assign, A.AugAssign)) and s.target == name:
            last = s
        elif isinstance(s, A.TupleAssign) and last_binding(s.targets, name) is not None:
            last = s
        elif isinstance(s, (A.For, A.While)):
            last = last_binding(s.body, name) or last
        elif isinstance(s, A.If):
            last = last_binding(s.orelse, name) or last_binding(s.body, name) or last
    return last
