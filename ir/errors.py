"""Errors raised by IR tools and by running IR.

Run-time errors subclass both `RuntimeErrorDP` (catch every dpc run-time error) and the
matching Python exception (so `except IndexError` works as a NumPy user expects).
"""

from __future__ import annotations

import math
import re


def count(n: int, noun: str = "value") -> str:
    """'1 argument', '2 arguments': a number of things, in words."""
    return f"{n} {noun}" + ("" if n == 1 else "s")


def series(words: list[str], conjunction: str = "and") -> str:
    """'a', 'a and b', 'a, b and c' (or with 'or'): several things named in a sentence."""
    if len(words) == 1:
        return words[0]
    return f"{', '.join(words[:-1])} {conjunction} {words[-1]}"


def takes_arguments(names: list[str], listed: str | None = None) -> str:
    """'2 arguments (x, y)', or 'no arguments': what a function takes, in messages (a
    function without parameters printed '0 arguments ()'). `listed` says the names
    otherwise ('x, tangent of x')."""
    if not names:
        return "no arguments"
    return f"{count(len(names), 'argument')} ({listed or ', '.join(names)})"


def parameters_listed(names: list[str]) -> str:
    """'its parameters are x, y', or 'it has no parameters', for messages about a name
    that is not a parameter (one without parameters printed 'its parameters are ')."""
    return f"its parameters are {', '.join(names)}" if names else "it has no parameters"


class TypeRuleError(Exception):
    """An op's operands or attributes break its type rule. The message is user-facing."""


class IRParseError(Exception):
    """The text is not valid IR. Carries line and column in the IR text."""

    def __init__(self, message: str, line: int, col: int):
        super().__init__(f"{line}:{col}: {message}")
        self.message, self.line, self.col = message, line, col


class VerifyError(Exception):
    """The IR breaks one of the verifier's rules; the message names the op and the rule.
    For IR read from text, also the line and column of the op in that text."""

    def __init__(self, message: str, line: int | None = None, col: int | None = None):
        super().__init__(message if line is None else f"{line}:{col}: {message}")
        self.message, self.line, self.col = message, line, col


class RuntimeErrorDP(Exception):
    """An error while running a dpc function (interpreter or native)."""

    # Where it happened, as a located error's message ends (ir.ops.fmt_loc, and native
    # code's error sites): "... (at prog.dp:4:22)".
    AT_THE_END = re.compile(r"(.*) \(at (.+):(\d+):(\d+)\)", re.DOTALL)

    @property
    def place(self) -> tuple[str, str, int, int] | None:
        """(message without the place, file, line, column), or None for an error that
        has no place in the program."""
        found = self.AT_THE_END.fullmatch(str(self))
        if found is None:
            return None
        return found[1], found[2], int(found[3]), int(found[4])


class IndexErrorDP(RuntimeErrorDP, IndexError):
    pass


class ZeroDivisionErrorDP(RuntimeErrorDP, ZeroDivisionError):
    pass


class AssertionErrorDP(RuntimeErrorDP, AssertionError):
    pass


class ShapeErrorDP(RuntimeErrorDP, ValueError):
    """Argument or intermediate shapes do not agree."""


# What the run-time size checks of the program's operations say. Native code compares two
# sizes at a time (passes/scalarize.py, runtime/lower.py); the interpreter compares the
# same two, in the same order, so a mismatch reads the same on both backends. Sizes that
# must agree with each other (an op's operands, an array's elements) are named in the order
# the source reads: the left operand's, the first element's first; a value checked against
# what it must be (a stored row, an argument) is named first, then the size it must have.
DOT_LENGTHS = "dot: vector lengths do not match"
INNER_DIMENSIONS = "@: inner dimensions do not match"
STORED_ROW = "the stored row does not fit its slot"


def argument_size(name: str, t, axis: int, size, expected, at: str = "") -> "ShapeErrorDP":
    """The error of an argument whose size along `axis` is not the one its type `t` fixes:
    from the calling convention, and from a specialized function's own check of a
    dimension fixed to 1 (interpreter and native code)."""
    return ShapeErrorDP(f"argument {name} must be {t}: axis {axis} has size {int(size)}, "
                        f"not {expected}{at}")


def not_declared(declared, dim, axis: int, size, expected, at: str = "") -> "ShapeErrorDP":
    """The error of a value whose size along `axis` is not the one its declared type
    fixes: `expected`, the size of `dim`, the dimension (a name or a literal) it names
    there."""
    named = f"{dim} = {int(expected)}" if isinstance(dim, str) else str(int(expected))
    return ShapeErrorDP(f"expected {declared}: axis {axis} has size {int(size)}, "
                        f"not {named}{at}")


def sizes_differ(what: str, size, expected, at: str = "") -> "ShapeErrorDP":
    """The error of a size check: `size` was found where `expected` was needed, or, of
    sizes that must agree, the left (first) one and the right one."""
    return ShapeErrorDP(f"{what}: size {int(size)} is not {int(expected)}{at}")


class ValueErrorDP(RuntimeErrorDP, ValueError):
    """Any other bad value: empty reduction, zero range step, negative integer power."""


class MemoryErrorDP(RuntimeErrorDP, MemoryError):
    """An array too large to allocate: its size in bytes does not fit in an i64, or there
    is not that much memory."""


def cannot_allocate(shape, elem: str, item_bytes: int, at: str = "",
                    rank: int | None = None, stored: bool = False) -> MemoryErrorDP:
    """The error both backends raise for an array of `shape` they cannot allocate. Of an
    array of a larger `rank`, native code knows only the first sizes: the message says so.
    `stored`: an array a derivative makes to store values (a loop's tape), which the
    program does not show; allocated before the loop runs, so the error the loop itself
    would raise is not reached."""
    sizes = " x ".join(str(int(d)) for d in shape)
    what = f"cannot allocate {'the' if stored else 'an'} array of {sizes}"
    why = " that the derivative stores values in" if stored else ""
    if rank is not None and rank > len(shape):
        return MemoryErrorDP(f"{what} x ... {elem} elements (rank {rank}){why}{at}")
    if 0 in shape:  # NumPy cannot describe it
        return MemoryErrorDP(f"{what} {elem} elements (its sizes other than 0 overflow){why}{at}")
    nbytes = math.prod(int(d) for d in shape) * item_bytes
    return MemoryErrorDP(f"{what} {elem} elements ({byte_size(nbytes)}){why}{at}")


def cannot_convert(value: float, at: str = "") -> "ValueErrorDP":
    """The error of int(x) for an x that no i64 holds: NaN, an infinity, or a number
    outside [-2**63, 2**63) (both backends)."""
    why = "" if math.isnan(value) or math.isinf(value) else ": it is outside i64's range"
    return ValueErrorDP(f"cannot convert {float(value)!r} to i64{why}{at}")


def byte_size(nbytes: int) -> str:
    """A byte count for people, in the largest binary unit it reaches, to one decimal:
    "512 bytes", "1.5 KiB", "32 GiB", "128 EiB", "3.69e+19 EiB"."""
    if nbytes < 1024:
        return f"{nbytes} bytes"
    scaled, unit = nbytes / 1024, "KiB"
    for larger in ("MiB", "GiB", "TiB", "PiB", "EiB"):
        if scaled < 1024:
            break
        scaled, unit = scaled / 1024, larger
    digits = f"{scaled:.1f}".removesuffix(".0") if scaled < 1024 else f"{scaled:.3g}"
    return f"{digits} {unit}"


class NotLoweredError(RuntimeErrorDP, NotImplementedError):
    """An op that a pass must remove before the IR can run (e.g. `grad` before AD)."""
