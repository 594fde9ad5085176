"""Errors raised by IR tools and by running IR.

Run-time errors subclass both `RuntimeErrorDP` (catch every dpc run-time error) and the
matching Python exception (so `except IndexError` works as a NumPy user expects).
"""

from __future__ import annotations


class TypeRuleError(Exception):
    """An op's operands or attributes break its type rule. The message is user-facing."""


class IRParseError(Exception):
    """The text is not valid IR. Carries line and column in the IR text."""

    def __init__(self, message: str, line: int, col: int):
        super().__init__(f"{line}:{col}: {message}")
        self.message, self.line, self.col = message, line, col


class VerifyError(Exception):
    """The IR breaks one of the verifier's rules; the message names the op and the rule."""


class RuntimeErrorDP(Exception):
    """An error while running a dpc function (interpreter or native)."""


class IndexErrorDP(RuntimeErrorDP, IndexError):
    pass


class ZeroDivisionErrorDP(RuntimeErrorDP, ZeroDivisionError):
    pass


class AssertionErrorDP(RuntimeErrorDP, AssertionError):
    pass


class ShapeErrorDP(RuntimeErrorDP, ValueError):
    """Argument or intermediate shapes do not agree."""


class ValueErrorDP(RuntimeErrorDP, ValueError):
    """Any other bad value: empty reduction, zero range step, negative integer power."""


class NotLoweredError(RuntimeErrorDP, NotImplementedError):
    """An op that a pass must remove before the IR can run (e.g. `grad` before AD)."""
