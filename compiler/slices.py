"""What to write instead of a slice: the subscript the user wrote, read back from the
source line, turned into the .dp that means the same thing.

    x[1:]      ->  [x[i] for i in range(1, n)]        (n: x's declared first dimension)
    x[:, 0]    ->  [x[i, 0] for i in range(n)]
    x[::-1]    ->  [x[n - 1 - i] for i in range(n)]
    x[-3:]     ->  [x[i] for i in range(max(n - 3, 0), n)]
    x[:3]      ->  [x[i] for i in range(min(3, n))]
    x[0, :]    ->  x[0]                               (a whole row)
    y[:] = v   ->  for i in range(len(y)): y[i] = ...
    x[::2]     ->  [x[2 * i] for i in range((n + 1) // 2)]
    x[:]       ->  x (arrays are values)

A length comes from the enclosing def's parameter types where they name it, else from
`len`. A slice this cannot rewrite exactly (a step that is not a positive literal, or -1
over the whole axis; a bound such as -k, which counts from the end or not by k's sign;
more indices than the array has axes; a subscript of an expression or of a type) gets
None, and the parser's general advice.
"""

from __future__ import annotations

import keyword
import re

from .diagnostics import def_line

LOOP_NAMES = "ijklpqrstuvw"


def slice_advice(lines: list[str], line: int, column: int) -> str | None:
    """The advice for the slice in the subscript whose '[' is at (line, column), 1-based."""
    text = lines[line - 1]
    name = re.search(r"([A-Za-z_]\w*)\s*$", text[:column - 1])
    end = closing_bracket(text, column - 1)
    if name is None or end is None or name.group(1) in ("f64", "i64", "bool") \
            or keyword.iskeyword(name.group(1)) or text[:name.start()].rstrip().endswith("."):
        return None
    array = name.group(1)
    parts = [part.strip() for part in split_top_level(text[column:end], ",")]
    dims = declared_dims(lines, line, array)
    if "" in parts or dims and len(parts) > len(dims):  # x[:,], or more indices than axes
        return None
    used = function_words(lines, line)
    fresh = (v for v in LOOP_NAMES if v not in used)
    indices, loops = [], []
    for axis, part in enumerate(parts):
        pieces = [p.strip() for p in split_top_level(part, ":")]
        if len(pieces) == 1:
            indices.append(part)
            continue
        size = dims[axis] if axis < len(dims) and dims[axis] != "?" else length(array, axis)
        loop = axis_loop(pieces, size, next(fresh, None))
        if loop is None:
            return None
        indices.append(loop[0])
        loops.append(loop[1:])
    rest = text[end + 1:]
    if re.match(r"\s*([-+*/]|//|\*\*)?=(?!=)", rest) and text[:name.start()].strip() == "":
        return assignment_advice(array, indices, loops)
    if all(p == ":" for p in parts):
        return f"write {array} itself: arrays are values, and y = {array} is already a copy"
    if all(p == ":" for p in parts[len(parts) - len(loops):]):
        row = f"{array}[{', '.join(parts[:len(parts) - len(loops)])}]"
        return f"index the row instead: {row}"
    element = f"{array}[{', '.join(indices)}]"
    for var, loop_range in reversed(loops):
        element = f"[{element} for {var} in {loop_range}]"
    return f"build the part with a comprehension: {element}"


def axis_loop(pieces: list[str], size: str, var: str | None):
    """(index, loop variable, range) for one axis's `lo:hi` or `lo:hi:step`, else None."""
    low, high, step = (pieces + [""])[:3]
    if var is None or len(pieces) > 3 or not all(map(exact_bound, pieces)):
        return None
    if step in ("", "1"):
        low, high = from_end(low, size, start=True) or "0", stop(high, size)
        return var, var, f"range({high})" if low == "0" else f"range({low}, {high})"
    if step == "-1" and not low and not high:
        return f"{size} - 1 - {var}", var, f"range({size})"
    if re.fullmatch(r"-([2-9]|[1-9]\d+)", step) and not low and not high:  # x[::-2]
        return f"{size} - 1 - {step[1:]} * {var}", var, \
            f"range({stepped_count('0', size, int(step[1:]))})"
    if re.fullmatch(r"[2-9]|[1-9]\d+", step):  # lo, lo + step, ... below hi
        low, high = from_end(low, size, start=True) or "0", stop(high, size)
        index = f"{step} * {var}" if low == "0" else f"{low} + {step} * {var}"
        return index, var, f"range({stepped_count(low, high, int(step))})"
    return None


def exact_bound(bound: str) -> bool:
    """Whether a bound's meaning is known when compiling: -k counts from the end when k is
    positive only (x[-k:] is all of x for k = 0), and 1.0 is no index."""
    return not (bound.startswith("-") and not re.fullmatch(r"-\s*\d+", bound)
                or re.search(r"\d\.|\.\d", bound))


def stepped_count(low: str, high: str, step: int) -> str:
    """How many of low, low + step, ... are below high: (high - low + step - 1) // step,
    its constants added up."""
    if not re.fullmatch(r"\d+", low):
        return f"({high} - ({low}) + {step - 1}) // {step}"
    if re.fullmatch(r"\d+", high):
        return str(max(0, (int(high) - int(low) + step - 1) // step))
    extra = step - 1 - int(low)
    span = high if extra == 0 else f"{high} + {extra}" if extra > 0 else f"{high} - {-extra}"
    return f"({span}) // {step}"


def assignment_advice(array: str, indices: list[str], loops: list) -> str:
    header = " ".join(f"for {var} in {loop_range}:" for var, loop_range in loops[:1])
    if len(loops) > 1:
        return "assign the elements in nested loops over " + ", ".join(
            f"{var} in {loop_range}" for var, loop_range in loops) + \
            f", one element at a time: {array}[{', '.join(indices)}] = ..."
    return f"assign the elements in a loop: {header} {array}[{', '.join(indices)}] = ..."


def from_end(bound: str, size: str, start: bool = False) -> str:
    """A negative literal bound counts from the end, as in Python: -1 is size - 1. A start
    before the first element is the first, as NumPy clips it (x[-3:] of two elements is
    both): max(size - 3, 0), else range would begin at -1, which wraps to the last."""
    if re.fullmatch(r"-\s*\d+", bound):
        from_the_end = f"{size} - {bound[1:].strip()}"
        return f"max({from_the_end}, 0)" if start else from_the_end
    return bound


def stop(high: str, size: str) -> str:
    """Where a slice stops: the end if it gives none, or past the end, as NumPy clips it
    (x[:3] of two elements is both): min(3, n), else range would run past the last."""
    if not high or high == size:
        return size
    if re.fullmatch(r"-\s*\d+", high):
        return from_end(high, size)
    if re.fullmatch(r"\d+", high) and re.fullmatch(r"\d+", size):
        return str(min(int(high), int(size)))
    return f"min({high}, {size})"


def length(array: str, axis: int) -> str:
    """The length of an axis as .dp writes it: len of the array, or of its first row."""
    return f"len({array}[{', '.join(['0'] * axis)}])" if axis else f"len({array})"


def closing_bracket(text: str, opening: int) -> int | None:
    depth = 0
    for k in range(opening, len(text)):
        if text[k] in "([":
            depth += 1
        elif text[k] in ")]":
            depth -= 1
            if depth == 0:
                return k
    return None


def split_top_level(text: str, separator: str) -> list[str]:
    """`text` split at `separator` where no bracket is open."""
    parts, depth, start = [], 0, 0
    for k, c in enumerate(text):
        if c in "([":
            depth += 1
        elif c in ")]":
            depth -= 1
        elif c == separator and depth == 0:
            parts.append(text[start:k])
            start = k + 1
    return parts + [text[start:]]


def function_words(lines: list[str], line: int) -> set[str]:
    """Every word of the def the line is in: a comprehension variable may not reuse a name
    the function binds."""
    first = def_line(lines, line) or line
    last = next((k for k in range(line + 1, len(lines) + 1) if re.match(r"\S", lines[k - 1])
                 and not lines[k - 1].lstrip().startswith("#")), len(lines) + 1)
    return {w for k in range(first, last) for w in re.findall(r"\w+", lines[k - 1])}


def declared_dims(lines: list[str], line: int, array: str) -> list[str]:
    """The dimensions `array` has in the parameters of the def that the line is in, [] when
    it is not a parameter there (or its type is not an array)."""
    first = def_line(lines, line)
    if first is None:
        return []
    signature = " ".join(lines[first - 1:line]).split("->")[0]
    declared = re.search(rf"[(,]\s*{re.escape(array)}\s*:\s*\w+\[([^\]]*)\]", signature)
    return [d.strip() for d in declared.group(1).split(",")] if declared else []
