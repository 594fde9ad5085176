"""The IR: types, values, ops, functions and modules; the op registry; the text printer and
parser (a dump parses back); the verifier; the reference interpreter. Imports nothing else
from the project."""

from . import ops as _ops  # registers every op  # noqa: F401
from .builder import Builder
from .clone import clone_function, clone_module
from .core import (Block, Function, Loc, Module, Op, Symbol, Value, computing_attrs, defined_within,
                   ops_within, outer_uses, uses_within, walk_ops)
from .errors import (AssertionErrorDP, IndexErrorDP, IRParseError, MemoryErrorDP,
                     NotLoweredError, RuntimeErrorDP, ShapeErrorDP, TypeRuleError, ValueErrorDP,
                     VerifyError, ZeroDivisionErrorDP)
from .interpreter import Interpreter
from .parser import parse_function, parse_module
from .printer import print_function, print_module
from .registry import REGISTRY, OpDef
from .types import BOOL, DYN, F64, I64, ArrayType, ScalarType
from .verifier import verify_function, verify_module
