"""The calling convention shared by the interpreter and the native runtime: how Python
arguments become the values a function's parameters declare, and how dimension names are
bound and checked.

Conversion rule (documented in README): a `f64` parameter takes Python/NumPy floats,
ints and bools; an `i64` parameter takes ints (and floats that are whole numbers are
refused: no silent truncation); a `bool` parameter takes bools. Array parameters take
NumPy arrays or nested lists; float64 and int64 arrays are used as they are, an integer or
bool array is converted once to float64 for a `f64[...]` parameter, and any conversion
that could lose information (float to int, complex, object, a float wider than f64 such as
np.longdouble to f64) is an error.
"""

from __future__ import annotations

import numbers

import numpy as np

from .errors import ShapeErrorDP, ValueErrorDP, argument_size, takes_arguments
from .types import BOOL, DYN, F64, I64, ArrayType, Type

NP_DTYPE = {F64: np.dtype(np.float64), I64: np.dtype(np.int64), BOOL: np.dtype(np.bool_)}
I64_MIN, I64_MAX = -2**63, 2**63 - 1
# The largest size a dimension name takes. An array's bytes must fit in an i64, but one
# with no elements may have any sizes: passes/bounds.py takes a loop up to a dimension to
# stay below 2**60, so that i + 1 cannot wrap around.
LARGEST_SIZE = 2**60
SAFE_SOURCES = {
    F64: ("f", "i", "u", "b"),
    I64: ("i", "u", "b"),
    BOOL: ("b",),
}


def coerce_scalar(t: Type, value, name: str):
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, np.bool_):  # not a numbers.Integral, as Python's bool is
        value = bool(value)
    if t == BOOL:
        if isinstance(value, bool):
            return np.bool_(value)
    elif t == I64:
        if isinstance(value, numbers.Integral):
            return np.int64(in_i64_range(int(value), name))
    elif isinstance(value, numbers.Real):
        if isinstance(value, np.floating) and wider_than_f64(value.dtype):
            raise ValueErrorDP(f"argument {name} must be f64, got {type(value).__name__} "
                               f"{value!r}, more precise than f64: pass float({name}) to "
                               f"round it")
        try:
            return np.float64(value)
        except OverflowError:  # an int (or a Fraction) beyond the doubles
            if not isinstance(value, numbers.Integral):
                raise ValueErrorDP(f"argument {name} is a {type(value).__name__} too large "
                                   f"for f64") from None
            digits = len(str(abs(value)))
            raise ValueErrorDP(f"argument {name} is an int of {digits} digits, too large for "
                               f"f64") from None
    if not isinstance(value, (np.ndarray, np.generic)) and hasattr(value, "__array__"):
        array = as_array(value, t, name)  # a 0-d JAX array or torch tensor is a scalar
        if array.ndim == 0:
            return coerce_scalar(t, array, name)
        value = array
    if isinstance(value, (np.ndarray, list, tuple)):  # printed whole, it said little more
        raise ValueErrorDP(f"argument {name} is a single {t}, not an array")
    raise ValueErrorDP(f"argument {name} must be {t}, got {type(value).__name__} {value!r}")


def in_i64_range(value: int, name: str) -> int:
    """`value`, if an i64 holds it: a larger one would wrap around silently."""
    if not I64_MIN <= value <= I64_MAX:
        digits = len(str(abs(value)))  # a value of thousands of digits is not repeated
        said = value if digits <= 40 else f"an int of {digits} digits"
        raise ValueErrorDP(f"argument {name} is {said}, outside the range of i64 "
                           f"([-2**63, 2**63 - 1])")
    return value


def as_array(value, t: Type, name: str) -> np.ndarray:
    """np.asarray(value), its failure an error naming the argument (a torch tensor that
    requires grad raises RuntimeError, saying to detach it)."""
    try:
        return np.asarray(value)
    except (ValueError, TypeError, OverflowError, RuntimeError) as e:
        raise ValueErrorDP(f"argument {name} must be {t}: {e}") from None


def coerce_array(t: ArrayType, value, name: str) -> np.ndarray:
    if isinstance(value, np.ma.MaskedArray):  # native code would read the masked elements
        raise ValueErrorDP(f"argument {name} is a masked array, and dpc reads every element: "
                           f"pass {name}.filled(value), or np.asarray({name}) to drop the mask")
    arr = value if isinstance(value, np.ndarray) else as_array(value, t, name)
    if arr.dtype == object and not isinstance(value, np.ndarray) and arr.size:
        try:
            arr = beyond_int64(value, arr, t, name)
        except OverflowError as e:  # [2**2000] for f64[n]
            raise ValueErrorDP(f"argument {name} must be {t}: {e}") from None
    elif t.elem == I64 and arr.dtype.kind == "f" and isinstance(value, (list, tuple)):
        ints_in_i64_range(np.asarray(value, dtype=object).ravel(), name)  # [2**63, 1]
    if not isinstance(value, np.ndarray) and arr.dtype.kind not in "biuf":  # None, "abc", 1j
        raise ValueErrorDP(f"argument {name} must be {t}, got {type(value).__name__} "
                           f"{value!r:.60}")
    if arr.ndim != t.rank:
        if arr.ndim == 0 and not isinstance(value, np.ndarray):  # not "an array of rank 0"
            raise ShapeErrorDP(f"argument {name} must be {t} (rank {t.rank}), got a single "
                               f"{type(value).__name__}, {str(value):.60}")
        raise ShapeErrorDP(f"argument {name} must be {t} (rank {t.rank}), got an array of "
                           f"rank {arr.ndim} with shape {arr.shape}")
    want = NP_DTYPE[t.elem]
    if arr.dtype != want:
        # a list with no numbers in it ([], [[]]) has NumPy's default dtype, float64, but
        # no element that could lose information: it is an empty array of any type
        empty_list = arr.size == 0 and not isinstance(value, np.ndarray)
        if t.elem == F64 and wider_than_f64(arr.dtype):
            rounded = (f"{name}.astype(np.float64)" if isinstance(value, np.ndarray)
                       else f"np.asarray({name}, dtype=np.float64)")
            raise ValueErrorDP(f"argument {name} must be {t}, got an array of dtype {arr.dtype}, "
                               f"more precise than f64: pass {rounded} to round it")
        if arr.dtype.kind not in SAFE_SOURCES[t.elem] and not empty_list:
            raise ValueErrorDP(f"argument {name} must be {t}, got an array of dtype {arr.dtype}"
                               f" (convert it explicitly if that is intended)")
        if want == np.int64 and arr.dtype.kind == "u" and arr.size:
            in_i64_range(int(arr.max()), f"{name}'s largest element")
        arr = arr.astype(want)
    return arr


def wider_than_f64(dtype: np.dtype) -> bool:
    """Is dtype a float with more precision than a double (np.longdouble where it is x87's
    80 bits, a double-double or a quad)? Narrowing it to f64 would lose digits its user
    asked for: JAX refuses it too. Every such float takes more than 8 bytes (a longdouble
    that is a double takes 8), and the size is cheaper to read than np.finfo on each call."""
    return dtype.kind == "f" and dtype.itemsize > 8


def beyond_int64(value, arr: np.ndarray, t: ArrayType, name: str) -> np.ndarray:
    """A list NumPy made an object array of because an int in it is beyond int64 ([2**70],
    [2**70, 0.5]): doubles for an f64 array, as such an int alone would be; for an i64 one,
    the error naming that int. Anything else (a None, a string) is left to the caller."""
    items = list(arr.flat)
    if t.elem == F64 and all(isinstance(v, numbers.Real) for v in items):
        return np.asarray(value, dtype=np.float64)
    if t.elem == I64:
        ints_in_i64_range(items, name)
    return arr


def ints_in_i64_range(items, name: str) -> None:
    """When every one of a list's elements `items` is an int, the error naming one that an
    i64 cannot hold (NumPy makes an object array of [2**70], and a float64 one of [2**63, 1],
    as no integer type holds both); else nothing, and the array's dtype is refused."""
    if all(isinstance(v, numbers.Integral) for v in items):
        for v in items:
            in_i64_range(int(v), f"{name}'s element")


def coerce_argument(t: Type, value, name: str):
    if isinstance(t, ArrayType):
        return coerce_array(t, value, name)
    return coerce_scalar(t, value, name)


class DimensionPlan:
    """How a function's parameters bind dimension names: where each name is first seen,
    and which other sizes must agree with it or with a literal. Planned once per function
    and shared by both backends, so a mismatch gets the same message everywhere."""

    def __init__(self, names: list[str], types: list[Type]):
        self.names = names
        self.types = types
        self.first: dict[str, tuple[int, int]] = {}  # name -> (argument, axis)
        self.checks: list[tuple] = []  # (argument, axis, literal size or dimension name)
        for k, t in enumerate(types):
            for axis, d in enumerate(t.shape):
                if isinstance(d, int) or d in self.first:
                    self.checks.append((k, axis, d))
                elif d != DYN:
                    self.first[d] = (k, axis)

    def check(self, shapes: list[tuple]) -> None:
        """Raises ShapeErrorDP naming the argument and the dimension that disagree."""
        for d, (k, axis) in self.first.items():
            if shapes[k][axis] > LARGEST_SIZE:  # an array of no elements, (2**63 - 1, 0)
                raise self.too_large(k, axis, shapes[k][axis])
        for k, axis, d in self.checks:
            size = shapes[k][axis]
            if isinstance(d, int):
                if size != d:
                    raise self.not_literal(k, axis, size)
                continue
            k0, axis0 = self.first[d]
            if size != shapes[k0][axis0]:
                raise self.disagrees(k, axis, size, shapes[k0][axis0])

    # The messages, also those of the same checks in native code (runtime/lower.py), which
    # a caller from C meets without Python's checks before it.
    def too_large(self, k: int, axis: int, size: int) -> ShapeErrorDP:
        d = self.types[k].shape[axis]
        if size < 0:  # only from C
            return ShapeErrorDP(f"argument {self.names[k]} has size {size} along axis {axis}: "
                                f"a size is at least 0")
        return ShapeErrorDP(f"argument {self.names[k]} makes dimension {d} {size}: dpc takes "
                            f"at most 2**60")

    def not_literal(self, k: int, axis: int, size: int) -> ShapeErrorDP:
        return argument_size(self.names[k], self.types[k], axis, size,
                             self.types[k].shape[axis])

    def disagrees(self, k: int, axis: int, size: int, first_size: int) -> ShapeErrorDP:
        d = self.types[k].shape[axis]
        k0, axis0 = self.first[d]
        if k0 == k:  # f64[n, n]: 'here but ... in argument a' would name a itself
            return ShapeErrorDP(f"argument {self.names[k]} must be {self.types[k]}: dimension "
                                f"{d} is {size} on axis {axis} but {first_size} on axis "
                                f"{axis0}")
        return ShapeErrorDP(f"argument {self.names[k]}: dimension {d} is {size} here but "
                            f"{first_size} in argument {self.names[k0]}")

    def bind(self, shapes: list[tuple]) -> dict[str, int]:
        """Checks, then the size of every dimension name."""
        self.check(shapes)
        return {d: shapes[k][axis] for d, (k, axis) in self.first.items()}


def prepare_arguments(fn, args: list) -> tuple[list, dict[str, int]]:
    """Converts Python arguments for `fn` and binds its dimension names."""
    names = [p.name_hint or f"#{k}" for k, p in enumerate(fn.params)]
    if len(args) != len(fn.params):
        raise wrong_count(fn.name, names, len(args))
    values = [coerce_argument(t, a, n) for t, a, n in zip(fn.param_types, args, names)]
    plan = DimensionPlan(names, fn.param_types)
    return values, plan.bind([np.shape(v) for v in values])


def wrong_count(fn_name: str, names: list[str], given: int, missing=()) -> ValueErrorDP:
    """The error of a call with `given` arguments of a function taking `names` (the
    native call path and keyword binding say it too), naming those `missing`."""
    lacking = f": {', '.join(missing)} missing" if missing else ""
    return ValueErrorDP(f"{fn_name}() takes {takes_arguments(names)}, {given} given{lacking}")
