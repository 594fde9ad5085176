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

from . import ast as A


@dataclass
class Scope:
    values: dict[str, Value] = field(default_factory=dict)
    # name -> sentence explaining why it is not visible here
    hidden: dict[str, str] = field(default_factory=dict)

    def copy(self) -> "Scope":
        return Scope(dict(self.values), dict(self.hidden))

    def bind(self, name: str, value: Value) -> None:
        self.values[name] = value
        self.hidden.pop(name, None)

    def lookup(self, name: str) -> Value | None:
        return self.values.get(name)

    def suggestion(self, name: str, extra: list[str]) -> str:
        close = difflib.get_close_matches(name, list(self.values) + extra, n=1)
        return f" (did you mean '{close[0]}'?)" if close else ""


def assigned_names(stmts) -> list[str]:
    """Names a statement list (re)binds, nested blocks included, in first-seen order."""
    return list(first_bindings(stmts))


def first_bindings(stmts) -> dict[str, int]:
    """name -> the line of the statement that first (re)binds it in a statement list,
    nested blocks included, in first-seen order."""
    out: dict[str, int] = {}

    def visit(block) -> None:
        for s in block:
            if isinstance(s, (A.Assign, A.AugAssign, A.IndexAssign)):
                out.setdefault(s.target, s.line)
            elif isinstance(s, A.TupleAssign):
                for t in s.targets:
                    out.setdefault(t, s.line)
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
