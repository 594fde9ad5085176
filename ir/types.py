"""IR types: scalars and arrays with symbolic shapes.

A dimension is an `int` (a literal size), a `str` (a name bound by the function's
parameters, such as `n`), or `DYN` ("?"), a size known only at run time. Types are
immutable and compare by value.
"""

from __future__ import annotations

from dataclasses import dataclass

DYN = "?"

# The most axes an array may have: NumPy's limit, so that every array crosses to Python
MAX_RANK = 64

Dim = int | str


@dataclass(frozen=True)
class ScalarType:
    name: str  # 'f64' | 'i64' | 'bool'

    @property
    def rank(self) -> int:
        return 0

    @property
    def shape(self) -> tuple:
        return ()

    @property
    def elem(self) -> "ScalarType":
        return self

    def __str__(self) -> str:
        return self.name


F64 = ScalarType("f64")
I64 = ScalarType("i64")
BOOL = ScalarType("bool")
SCALARS = {"f64": F64, "i64": I64, "bool": BOOL}
ZERO = {F64: 0.0, I64: 0, BOOL: False}  # the zero of each scalar type, as a constant's value


@dataclass(frozen=True)
class ArrayType:
    elem: ScalarType
    shape: tuple  # tuple[Dim, ...], length >= 1

    @property
    def rank(self) -> int:
        return len(self.shape)

    def __str__(self) -> str:
        return f"{self.elem}[{', '.join(str(d) for d in self.shape)}]"


Type = ScalarType | ArrayType


def array_or_scalar(elem: ScalarType, shape: tuple) -> Type:
    """The type with this element type and shape; a scalar when the shape is empty."""
    return ArrayType(elem, tuple(shape)) if shape else elem


def with_elem(t: Type, elem: ScalarType) -> Type:
    return array_or_scalar(elem, t.shape)


def sized(t: Type, dims: dict) -> Type:
    """Type t with its dimension names replaced as `dims` says (by names or sizes)."""
    if isinstance(t, ArrayType):
        return ArrayType(t.elem, tuple(dims.get(d, d) for d in t.shape))
    return t


def is_numeric(t: Type) -> bool:
    return t.elem in (F64, I64)


def dim_assignable(src: Dim, dst: Dim) -> bool:
    """Can a value whose dimension is `src` stand where `dst` is declared?"""
    return src == dst or dst == DYN


def assignable(src: Type, dst: Type) -> bool:
    """Same element type and rank, and every dimension assignable (a `?` slot takes any)."""
    if src.elem != dst.elem or src.rank != dst.rank:
        return False
    return all(dim_assignable(s, d) for s, d in zip(src.shape, dst.shape))


def refines(declared: Type, inferred: Type) -> bool:
    """A declared type may be more precise than the inferred one where that one has `?`."""
    if declared.elem != inferred.elem or declared.rank != inferred.rank:
        return False
    return all(d == i or i == DYN for d, i in zip(declared.shape, inferred.shape))


def join_dim(a: Dim, b: Dim) -> Dim:
    return a if a == b else DYN


def join(a: Type, b: Type) -> Type | None:
    """The most precise type both `a` and `b` are assignable to, or None if none exists."""
    if a.elem != b.elem or a.rank != b.rank:
        return None
    return array_or_scalar(a.elem, tuple(join_dim(x, y) for x, y in zip(a.shape, b.shape)))


class ShapeMismatch(Exception):
    """Two dimensions that must agree do not; carries both for the error message."""

    def __init__(self, a: Dim, b: Dim):
        super().__init__(f"dimension {a} is not {b}")
        self.a, self.b = a, b


def broadcast_dims(a: Dim, b: Dim) -> Dim:
    if a == b:
        return a
    if a == 1:
        return b
    if b == 1:
        return a
    if a == DYN:
        return b  # if the run-time size differs, the run-time check reports it
    if b == DYN:
        return a
    raise ShapeMismatch(a, b)


def broadcast_shapes(*shapes: tuple) -> tuple:
    """NumPy broadcasting on symbolic shapes: align trailing dimensions."""
    rank = max(len(s) for s in shapes)
    out = []
    for axis in range(rank):
        dim = 1
        first = True
        for s in shapes:
            k = axis - (rank - len(s))
            if k < 0:
                continue
            dim = s[k] if first else broadcast_dims(dim, s[k])
            first = False
        out.append(dim)
    return tuple(out)


def results_text(types: list[Type]) -> str:
    """A function's result types as its signature writes them: f64, or (f64, f64)."""
    return str(types[0]) if len(types) == 1 else f"({', '.join(map(str, types))})"


def dim_names(t: Type) -> list[str]:
    return [d for d in t.shape if isinstance(d, str) and d != DYN]
