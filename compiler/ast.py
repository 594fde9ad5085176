"""The syntax tree of a .dp file. Every node carries `line` and `col` (1-based): the start of
the construct, except binary and unary operators (the operator), indexing (the `[`) and
attribute access (the `.`), so that error carets point at the spot."""

from __future__ import annotations

from dataclasses import dataclass, field


# --------------------------------------------------------------------------- types

@dataclass
class ScalarType:
    name: str
    line: int
    col: int


@dataclass
class ArrayType:
    elem: str
    dims: list
    line: int
    col: int


@dataclass
class TupleType:
    elems: list
    line: int
    col: int


# --------------------------------------------------------------------------- module

@dataclass
class Module:
    functions: list
    filename: str
    source: str
    line: int = 1
    col: int = 1


@dataclass
class Decorator:
    name: str
    target: str | None
    line: int
    col: int
    target_col: int = 0  # where the target's name is, on the decorator's line
    # what the parentheses hold, when there are any: a target is one name, but anything
    # parses, so that the error can say what the decorator takes
    args: list | None = None
    kwargs: list = field(default_factory=list)
    paren_col: int = 0


@dataclass
class Param:
    name: str
    type: object
    line: int
    col: int


@dataclass
class FuncDef:
    name: str
    params: list
    ret: object
    body: list
    decorators: list
    line: int
    col: int
    name_col: int = 0  # where the name is, on the def's line


# --------------------------------------------------------------------------- statements

@dataclass
class Assign:
    target: str
    annot: object
    value: object
    line: int
    col: int


@dataclass
class TupleAssign:
    # an Assign (x) or IndexAssign (a[i]) per target, with value None: assigned in order,
    # each the unpacked value at its place
    targets: list
    value: object
    line: int
    col: int


@dataclass
class AugAssign:
    target: str
    op: str
    value: object
    line: int
    col: int


@dataclass
class IndexAssign:
    target: str
    indices: list
    op: str | None
    value: object
    line: int
    col: int


@dataclass
class For:
    var: str
    range_args: list
    body: list
    line: int
    col: int
    range_at: tuple = ()  # (line, col) of the word range, for its errors


@dataclass
class While:
    cond: object
    body: list
    line: int
    col: int


@dataclass
class If:
    cond: object
    body: list
    orelse: list
    line: int
    col: int


@dataclass
class Return:
    values: list
    line: int
    col: int


@dataclass
class Assert:
    cond: object
    message: str | None
    line: int
    col: int


@dataclass
class Pass:
    line: int
    col: int


@dataclass
class ExprStmt:
    value: object
    line: int
    col: int


# --------------------------------------------------------------------------- expressions

@dataclass
class Num:
    value: int | float
    line: int
    col: int


@dataclass
class Bool:
    value: bool
    line: int
    col: int


@dataclass
class Name:
    id: str
    line: int
    col: int


@dataclass
class BinOp:
    op: str
    left: object
    right: object
    line: int
    col: int


@dataclass
class UnaryOp:
    op: str
    operand: object
    line: int
    col: int


@dataclass
class Compare:
    op: str
    left: object
    right: object
    line: int
    col: int


@dataclass
class BoolOp:
    op: str
    left: object
    right: object
    line: int
    col: int
    chained: bool = False  # the 'and' that `a < b < c` means, between a < b and b < c


@dataclass
class IfExp:
    cond: object
    body: object
    orelse: object
    line: int
    col: int


@dataclass
class Keyword:
    name: str
    value: object
    line: int
    col: int


@dataclass
class Call:
    func: object
    args: list
    kwargs: list
    line: int
    col: int


@dataclass
class Index:
    base: object
    indices: list
    line: int
    col: int


@dataclass
class Attribute:
    base: object
    name: str
    line: int
    col: int


@dataclass
class ListLit:
    elems: list
    line: int
    col: int


@dataclass
class TupleLit:
    elems: list
    line: int
    col: int


@dataclass
class Comprehension:
    elem: object
    var: str
    range_args: list
    line: int
    col: int
    range_at: tuple = ()


@dataclass
class Generator:
    elem: object
    var: str
    range_args: list
    line: int
    col: int
    range_at: tuple = ()


def leftmost(node):
    """The part of expression `node` that begins it in the text, so located where it begins:
    the left operand of a binary operator, the base of an index or attribute, the function
    of a call. An error about a whole expression goes there (`wrt=x + 1.0` is wrong from
    the x on), one about an operation at the node itself."""
    while True:
        if isinstance(node, (BinOp, Compare, BoolOp)):
            node = node.left
        elif isinstance(node, (Index, Attribute)):
            node = node.base
        elif isinstance(node, IfExp):
            node = node.body
        elif isinstance(node, Call):
            node = node.func
        else:
            return node


def walk(tree):
    """Every node of `tree` (a node, or a list of nodes and lists), each before the nodes
    inside it, in the order of the text. A stack, not recursion: no nesting a program
    may have (sin(sin(...)) 500 deep) exhausts Python's."""
    pending = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, list):
            pending.extend(reversed(node))
        elif hasattr(node, "__dataclass_fields__"):
            yield node
            pending.extend(getattr(node, f) for f in reversed(node.__dataclass_fields__))
