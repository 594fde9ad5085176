"""Compile errors: every one names file, line and column, shows the source line with a
caret under the spot, and says what to do.

    lse.dp:3:12: error: cannot add f64[n] and f64[k]: dimension n is not k
        3 |     return a + b
          |            ^

All errors raised by the front end are instances of `CompileError` (or a subclass), so
callers catch one class. Line and column are 1-based.
"""

from __future__ import annotations

import re
import unicodedata

# Why print (a statement or a call) is an error, said the same way by parser and checker.
NO_SIDE_EFFECTS = "functions have no side effects; return the value (dpc run prints it)"
# Python's 1-tuple (x, or (x,)), said the same way by parser and checker.
ONE_TUPLE = ("a trailing comma after one value makes a 1-tuple, and .dp has no 1-tuples: "
             "remove the comma")
# Where `e for i in range(n)` may stand, said the same way by parser and checker.
GENERATOR_PLACES = ("a generator expression is only allowed as the argument of sum, max, min "
                    "or prod")
# Control characters other than tab and line separators, shown as a space so that they
# neither move the caret nor act on the terminal (a lone carriage return would print the
# line over itself).
CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\x85\u2028\u2029]")
# A lone surrogate (a Python string's, as no UTF-8 file has one) cannot be written as
# UTF-8: shown as the replacement character, so that printing the error does not fail.
SURROGATE = re.compile(r"[\ud800-\udfff]")
# The most characters of a source line an error shows: of a longer line (a generated
# program's 20,000-term sum), the part around the caret, with '...' where it is cut.
SHOWN_LINE = 100


def source_lines(source: str) -> list[str]:
    """The lines of a program as the parser numbers them: split at newlines only
    (str.splitlines also splits at form feeds, \\x85 and \\u2028, which the parser reads
    as spaces or inside comments), without the carriage return of a Windows line end."""
    lines = [line.removesuffix("\r") for line in source.split("\n")]
    return lines[:-1] if lines[-1] == "" else lines


def def_line(lines: list[str], line: int) -> int | None:
    """The number of the line that starts the def which line `line` is in (itself, for a
    def line); None above every def."""
    return next((k for k in range(min(line, len(lines)), 0, -1)
                 if re.match(r"def\s", lines[k - 1])), None)


class CompileError(Exception):
    """An error in a .dp program, found before it runs."""

    def __init__(self, message: str, line: int, col: int, *, filename: str = "<source>",
                 source: str | None = None):
        self.message = message
        self.line = line
        self.col = col
        self.filename = filename
        self.source = source
        # (message, line, col): other places the error comes from, shown after it
        self.notes: list[tuple[str, int, int]] = []
        super().__init__(self.format())

    def noted(self, message: str, line: int, col: int) -> "CompileError":
        """The same error with a note at another place in the same file: where a value
        got the type the error is about, say."""
        self.notes.append((message, line, col))
        self.args = (self.format(),)
        return self

    def with_source(self, filename: str, source: str) -> "CompileError":
        """The same error, attached to the file it came from (used by the driver)."""
        self.filename = filename
        self.source = source
        self.args = (self.format(),)
        return self

    def line_text(self, line: int) -> str | None:
        if self.source is None:
            return None
        lines = source_lines(self.source)
        if 1 <= line <= len(lines):
            return lines[line - 1]
        return None

    def format(self) -> str:
        parts = [located(f"{self.filename}:{self.line}:{self.col}: error: {self.message}",
                         self.line_text(self.line), self.line, self.col)]
        for message, line, col in self.notes:
            parts.append(located(f"{self.filename}:{line}:{col}: note: {message}",
                                 self.line_text(line), line, col))
        return "\n".join(parts)

    def __str__(self) -> str:
        return self.format()


def located(head: str, text: str | None, line: int, col: int) -> str:
    """`head`, then source line `line` (its text, when known) with a caret under column
    `col`: how every error with a place in the program is shown."""
    if text is None:
        return head
    # Tabs are shown as spaces; the caret is placed under the same character.
    offset = len(text[:max(col - 1, 0)].expandtabs(4))
    shown = SURROGATE.sub("\ufffd", CONTROL.sub(" ", text.expandtabs(4)))
    text, offset = around(shown, offset)
    gutter = str(line)
    pad = " " * len(gutter)
    caret = " " * display_width(text[:offset]) + "^"
    return f"{head}\n {gutter} | {text}\n {pad} | {caret}"


def display_width(text: str) -> int:
    """The columns `text` takes in a terminal: two for a wide character (中), none for a
    combining one, so that the caret lands under its character."""
    return sum(0 if unicodedata.combining(ch) else
               2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def around(text: str, offset: int, width: int = SHOWN_LINE) -> tuple[str, int]:
    """At most `width` characters of a line, those around position `offset` (the caret's),
    with '...' at an end that is cut; and the caret's position in what is shown."""
    if len(text) <= width:
        return text, offset
    start = max(0, min(offset - width // 2, len(text) - width))
    end = start + width
    before = "..." if start > 0 else ""
    after = "..." if end < len(text) else ""
    return before + text[start:end] + after, offset - start + len(before)


class SyntaxErrorDP(CompileError):
    """The text is not a .dp program: a token or indentation is out of place."""


class TypeErrorDP(CompileError):
    """Types, shapes, names or scoping are wrong."""
