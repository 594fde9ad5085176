"""The calling convention shared by the interpreter and the native runtime: how Python
arguments become the values a function's parameters declare, and how dimension names are
bound and checked.

Conversion rule (documented in README): a `f64` parameter takes Python/NumPy floats,
ints and bools; an `i64` parameter takes ints (and floats that are whole numbers are
refused: no silent truncation); a `bool` parameter takes bools. Array parameters take
NumPy arrays or nested lists; float64 and int64 arrays are used as they are, an integer or
bool array is converted once to float64 for a `f64[...]` parameter, and any conversion
that could lose information (float to int, complex, object) is an error.
"""

from __future__ import annotations

import numbers

import numpy as np

from .errors import ShapeErrorDP, ValueErrorDP
from .types import BOOL, DYN, F64, I64, ArrayType, Type

NP_DTYPE = {F64: np.dtype(np.float64), I64: np.dtype(np.int64), BOOL: np.dtype(np.bool_)}
SAFE_SOURCES = {
    F64: ("f", "i", "u", "b"),
    I64: ("i", "u", "b"),
    BOOL: ("b",),
}


def coerce_scalar(t: Type, value, name: str):
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if t == BOOL:
        if isinstance(value, (bool, np.bool_)):
            return np.bool_(value)
    elif t == I64:
        if isinstance(value, numbers.Integral):
            return np.int64(value)
    elif isinstance(value, numbers.Real):
        return np.float64(value)
    raise ValueErrorDP(f"argument {name} must be {t}, got {type(value).__name__} {value!r}")


def coerce_array(t: ArrayType, value, name: str) -> np.ndarray:
    try:
        arr = value if isinstance(value, np.ndarray) else np.asarray(value)
    except (ValueError, TypeError) as e:
        raise ValueErrorDP(f"argument {name} must be {t}: {e}") from None
    if arr.ndim != t.rank:
        raise ShapeErrorDP(f"argument {name} must be {t} (rank {t.rank}), got an array of "
                           f"rank {arr.ndim} with shape {arr.shape}")
    want = NP_DTYPE[t.elem]
    if arr.dtype != want:
        if arr.dtype.kind not in SAFE_SOURCES[t.elem]:
            raise ValueErrorDP(f"argument {name} must be {t}, got an array of dtype {arr.dtype}"
                               f" (convert it explicitly if that is intended)")
        arr = arr.astype(want)
    return arr


def coerce_argument(t: Type, value, name: str):
    if isinstance(t, ArrayType):
        return coerce_array(t, value, name)
    return coerce_scalar(t, value, name)


def bind_dimensions(names: list[str], types: list[Type], values: list) -> dict[str, int]:
    """Binds each dimension name to its size, checking that every use agrees."""
    dims: dict[str, int] = {}
    first_seen: dict[str, str] = {}
    for name, t, v in zip(names, types, values):
        for axis, (d, size) in enumerate(zip(t.shape, np.shape(v))):
            if isinstance(d, int):
                if size != d:
                    raise ShapeErrorDP(f"argument {name} must be {t}: axis {axis} has size "
                                       f"{size}, not {d}")
            elif d != DYN:
                if d in dims and dims[d] != size:
                    raise ShapeErrorDP(
                        f"argument {name}: dimension {d} is {size} here but {dims[d]} in "
                        f"argument {first_seen[d]}")
                dims.setdefault(d, size)
                first_seen.setdefault(d, name)
    return dims


def prepare_arguments(fn, args: list) -> tuple[list, dict[str, int]]:
    """Converts Python arguments for `fn` and binds its dimension names."""
    names = [p.name_hint or f"#{k}" for k, p in enumerate(fn.params)]
    if len(args) != len(fn.params):
        raise ValueErrorDP(f"{fn.name}() takes {len(fn.params)} arguments "
                           f"({', '.join(names)}), {len(args)} given")
    values = [coerce_argument(t, a, n) for t, a, n in zip(fn.param_types, args, names)]
    return values, bind_dimensions(names, fn.param_types, values)
