"""Type checking and lowering: AST -> typed SSA IR, in one walk.

Each expression is typed as it is lowered: the IR op registry's type rules compute result
types (and their TypeRuleError sentences become compile errors at the expression), and
this module adds what only the source knows: names and scoping, promotion of `i64` to
`f64`, which names a loop carries, how branches merge, tail-position `return`.

Control flow becomes structured ops: a `for`/`while` carries the names that the body
rebinds and that existed before it; an `if` yields the names its branches rebind.
"""

from __future__ import annotations

from dataclasses import replace

import ir
from ir import BOOL, DYN, F64, I64, ArrayType, Block, Builder, Function, Loc, Module, Symbol
from ir.core import WRITTEN_NAME
from ir.errors import TypeRuleError, count, parameters_listed, takes_arguments
from ir.ops import broadcast_result_shape
from ir.types import MAX_RANK, SCALARS, Type, assignable, join, with_elem

from . import ast as A
from .builtins import BUILTINS, REDUCTION_OPS
from .diagnostics import GENERATOR_PLACES, NO_SIDE_EFFECTS, ONE_TUPLE, TypeErrorDP
from .scope import (BoundLaterInLoop, Scope, assigned_names, did_you_mean, first_bindings,
                    last_binding)

BINARY_OPS = {"+": "add", "-": "sub", "*": "mul", "/": "div", "//": "floordiv", "%": "mod",
              "**": "pow"}
COMPARE_OPS = {"<": "lt", "<=": "le", ">": "gt", ">=": "ge", "==": "eq", "!=": "ne"}
VERBS = {"add": "add", "sub": "subtract", "mul": "multiply", "div": "divide",
         "floordiv": "floor-divide", "mod": "take modulo of", "pow": "raise",
         "lt": "compare", "le": "compare", "gt": "compare", "ge": "compare", "eq": "compare",
         "ne": "compare"}
DERIVATIVE_FORMS = ("grad", "value_and_grad", "jvp", "vjp")
# What users of NumPy, JAX and Python reach for that is not a builtin here, and what to
# write instead (a close spelling would suggest the wrong builtin: square -> sqrt).
NOT_BUILTINS = {
    "square": "write x * x", "expit": "use sigmoid(x)", "logistic": "use sigmoid(x)",
    "f64": "convert with float(x)", "i64": "convert with int(x)",
    "round": "floor(x + 0.5) rounds halves up", "maximum": "max(a, b) works elementwise",
    "minimum": "min(a, b) works elementwise", "clip": "write min(max(x, low), high)",
    "log10": "write log(x) / log(10.0)", "log2": "write log(x) / log(2.0)",
    "sinh": "write (exp(x) - exp(-x)) / 2.0", "cosh": "write (exp(x) + exp(-x)) / 2.0",
    "softmax": "write exp(x - max(x)) / sum(exp(x - max(x)))",
    "logsumexp": "write max(x) + log(sum(exp(x - max(x))))",
    "argmax": "keep the index of the largest so far in a for loop",
    "argmin": "keep the index of the smallest so far in a for loop",
    "cumsum": "carry the running sum in a for loop",
    "matmul": "use a @ b", "array": "write a list [a, b, c] or a comprehension",
    "asarray": "arrays come in as parameters", "linspace": "write [a + (b - a) * i / (n - 1) "
    "for i in range(n)]", "print": NO_SIDE_EFFECTS,
    "shape": "use len(x) or the dimension names of the parameter's type",
    "hessian": "jvp(grad(f))(x, v) gives the Hessian times v (from Python, mod.hessian gives "
    "the whole matrix)",
}
JACOBIAN = ("jvp(f)(x, t) gives the Jacobian times t, vjp(f)(x, c) gives c times the Jacobian "
            "(from Python, mod.jacobian gives the whole matrix)")
NOT_BUILTINS.update(jacobian=JACOBIAN, jacfwd=JACOBIAN, jacrev=JACOBIAN)
# Module names NumPy, JAX and Python code calls through; .dp has none.
MODULES = ("np", "numpy", "jnp", "jax", "math", "torch", "scipy", "random", "cmath")
# Constants those modules have, and how to write them.
CONSTANTS = {"pi": "write the number 3.141592653589793", "e": "write exp(1.0)",
             "inf": "write 1.0 / 0.0", "nan": "write 0.0 / 0.0", "true": "write True",
             "false": "write False", "None": "every value is a number, a bool or an array"}


def operation(node) -> str:
    """How an error names the call or operator `node`: 'exp()', "'@'"."""
    if isinstance(node, A.Call) and isinstance(node.func, A.Name):
        return f"{node.func.id}()"
    if isinstance(node, A.BinOp):
        return f"'{node.op}'"
    return "this operation"


class Lowering:
    """Lowers a whole module. One instance per compile."""

    def __init__(self, tree: A.Module):
        self.tree = tree
        self.module = Module()
        self.defs: dict[str, A.FuncDef] = {}

    def error(self, node, message: str) -> TypeErrorDP:
        return TypeErrorDP(message, node.line, node.col, filename=self.tree.filename,
                           source=self.tree.source)

    def run(self) -> Module:
        from .checks import check_decorators, check_recursion
        for fdef in self.tree.functions:
            self.declare(fdef)
        check_recursion(self)
        for fdef in self.tree.functions:
            FunctionLowering(self, fdef).run()
        check_decorators(self)
        return self.module

    # --- signatures
    def ir_type(self, t, what: str, allow_tuple: bool = False) -> list[Type]:
        if isinstance(t, A.TupleType):
            if not allow_tuple:
                raise self.error(t, f"a tuple type is only allowed as a return type, not for {what}")
            return [x for e in t.elems for x in self.ir_type(e, what)]
        if isinstance(t, A.ScalarType):
            return [SCALARS[t.name]]
        if t.elem not in SCALARS:
            raise self.error(t, f"unknown element type '{t.elem}'; arrays hold f64, i64 or bool")
        if len(t.dims) > MAX_RANK:
            raise self.error(t, f"{t.elem}[...] of {len(t.dims)} dimensions; arrays have at "
                                f"most {MAX_RANK} (NumPy's limit)")
        return [ArrayType(SCALARS[t.elem], tuple(t.dims))]

    def declare(self, fdef: A.FuncDef) -> None:
        if fdef.name in self.defs:
            first = self.defs[fdef.name]
            raise self.error(fdef, f"function '{fdef.name}' is defined twice (first at line {first.line})")
        if fdef.name in DERIVATIVE_FORMS:
            raise self.error(fdef, f"'{fdef.name}' is a built-in derivative form; choose another name")
        if fdef.name == "range":  # for i in range(n) would not call it
            raise self.error(fdef, "'range' is the form of for loops and comprehensions; choose "
                                   "another name")
        self.defs[fdef.name] = fdef
        seen: set[str] = set()
        types, names = [], []
        for p in fdef.params:
            if p.name in seen:
                raise self.error(p, f"parameter '{p.name}' appears twice")
            seen.add(p.name)
            types.append(self.ir_type(p.type, f"parameter '{p.name}'")[0])
            names.append(p.name)
        dims = {d for t in types for d in ir.types.dim_names(t)}
        for p in fdef.params:
            if p.name in dims:
                raise self.error(p, f"parameter '{p.name}' has the name of a dimension; "
                                    f"rename one of them")
        rets = self.ir_type(fdef.ret, "a return value", allow_tuple=True)
        self.check_dims_bound(rets, dims, fdef.ret, "the return type")
        fn = Function(fdef.name, Block(types, names), rets, filename=self.tree.filename)
        self.module.add(fn)


    def check_dims_bound(self, types: list, dims: set, node, what: str) -> None:
        """Every dimension name of `types` is one a parameter has (one of `dims`)."""
        for t in types:
            for d in ir.types.dim_names(t):
                if d not in dims:
                    raise self.error(node, f"dimension '{d}' of {what} is not the dimension "
                                           f"of any parameter; write ? for a size known only "
                                           f"when the function runs")


def conversion_advice(value, target: Type) -> str:
    """Where an i64 was wanted and an f64 came, how to get one: with // where '/' divided
    integers (n = n / 2), or with int(...)."""
    if target.elem != I64 or value.type.elem != F64 or value.type.rank != target.rank:
        return ""
    op = value.defining_op
    if op is not None and op.name == "div" and all(from_integer(v) for v in op.operands):
        return (f" ('/' at line {op.loc.line} gives f64 even for integers; use // for integer "
                f"division)")
    return " (convert with int(...), which truncates toward zero)"


def root_name(e: A.Attribute) -> A.Name:
    while isinstance(e, A.Attribute):
        e = e.base
    return e


def dotted(e) -> str:
    """np.random.rand, as written."""
    return f"{dotted(e.base)}.{e.name}" if isinstance(e, A.Attribute) else getattr(e, "id", "?")


def builtin_call(name: str, array: str, e: A.Call) -> str:
    """x.sum(), x.max(1), x.sum(axis=1) as calls of the builtin: a method's one argument
    is NumPy's axis, which the builtins take by keyword (max(x, 1) is elementwise)."""
    axis = e.args[0] if len(e.args) == 1 and isinstance(e.args[0], A.Num) else None
    axis = axis.value if axis is not None else next(
        (kw.value.value for kw in e.kwargs if kw.name == "axis" and isinstance(kw.value, A.Num)),
        None)
    if name in ("sum", "prod", "max", "min", "mean") and axis is not None:
        return f"{name}({array}, axis={axis})"
    return f"{name}({array}{', ...' if e.args or e.kwargs else ''})"


def from_integer(value) -> bool:
    """Is `value` an i64 promoted to f64 (as both sides of n / 2 are)?"""
    op = value.defining_op
    return op is not None and op.name == "to_f64" and op.operands[0].type.elem == I64


def index_advice(t: Type) -> str:
    if t == F64:
        return " (convert with int(...))"
    if t.rank > 0 and t.elem == BOOL:
        return (" (a mask cannot select elements: keep them with where(mask, x, 0.0), "
                "or sum(where(mask, x, 0.0)))")
    if t.rank > 0 and t.elem == I64:
        return " (an array cannot index: gather with [x[idx[j]] for j in range(len(idx))])"
    return ""


def unpacked_into(targets: list) -> str:
    """What `a, b = ...` unpacks into, for its errors: "2 names", or "2 targets" when
    some are elements a[i]."""
    names = all(isinstance(t, A.Assign) for t in targets)
    return f"{len(targets)} {'names' if names else 'targets'}"


class FunctionLowering:
    def __init__(self, owner: Lowering, fdef: A.FuncDef):
        self.owner = owner
        self.fdef = fdef
        self.fn = owner.module.functions[fdef.name]
        self.b = Builder(owner.module, self.fn.body)
        self.scope = Scope()
        for name, value in zip((p.name for p in fdef.params), self.fn.params):
            self.scope.bind(name, value)
        self.dim_ops: list[ir.Op] = []
        self.loops = 0  # how many loops the statement being lowered is in
        # names bound to a function (dh = grad(h, wrt=x)) -> (that function, the line)
        self.functions: dict[str, tuple[Function, int]] = {}
        # name -> line of its first binding anywhere in the body (x += ... and a[i] = ...
        # included): such a name is the function's variable everywhere, as in Python
        self.local_names = first_bindings(fdef.body, updates=True)
        # a value whose type a loop widened (k = 0 before it, k = k + 0.5 in it) -> the
        # note that says where: an error about k's type at x[k] shows it
        self.widened: dict[ir.Value, tuple[str, object]] = {}
        self.bind_dimensions()

    def error(self, node, message: str):
        error = self.owner.error(node, message)
        for note, where in self.widening_notes(node):
            error.noted(note, where.line, where.col)
        return error

    def widening_notes(self, node) -> list:
        """The notes of the loop-widened values that names in `node` (an expression, or a
        statement without a body) stand for, in the order of the text."""
        if isinstance(node, (A.For, A.While, A.If, A.FuncDef)):
            return []
        notes = []
        for name in A.walk(node):
            note = isinstance(name, A.Name) and self.widened.get(self.scope.lookup(name.id))
            if note and note not in notes:
                notes.append(note)
        return notes

    def bind_dimensions(self) -> None:
        """Every dimension name is an i64 value in the body: `dim` of the first parameter
        that has it. Unused ones are removed after lowering."""
        for param in self.fn.params:
            for axis, d in enumerate(param.type.shape):
                if isinstance(d, str) and d != DYN and self.scope.lookup(d) is None:
                    value = self.b.emit("dim", param, axis=axis, name_hint=d)
                    self.dim_ops.append(value.defining_op)
                    self.scope.bind(d, value)

    def run(self) -> None:
        body = rewrite_early_returns(self.fdef.body, self)
        values = self.block(body, tail=True)
        if values is None:
            raise self.missing_return()
        self.at(body[-1])  # not where the last expression was: checks made for it point here
        self.b.op("return", values)
        self.drop_unused_dims()

    def missing_return(self):
        """At the function's name: the body has no one statement a return would follow."""
        types = self.fn.return_types
        declared = str(types[0]) if len(types) == 1 else f"({', '.join(map(str, types))})"
        name = A.Name(self.fdef.name, self.fdef.line, self.fdef.name_col)
        return self.error(name, f"function '{self.fdef.name}' does not end with a return "
                                f"statement; add one as its last line, returning the {declared} "
                                f"it declares")

    def drop_unused_dims(self) -> None:
        used = {v for op in ir.walk_ops(self.fn.body) for v in op.operands}
        unused = {op for op in self.dim_ops if op.result not in used}
        self.fn.body.ops = [op for op in self.fn.body.ops if op not in unused]

    # --- emitting
    def at(self, node) -> None:
        self.b.loc = Loc(self.owner.tree.filename, node.line, node.col)

    def emit(self, node, name: str, *operands, name_hint=None, **attrs):
        self.at(node)
        try:
            return self.b.emit(name, *operands, name_hint=name_hint, **attrs)
        except TypeRuleError as e:
            raise self.error(node, str(e)) from None

    def emit_op(self, node, name: str, operands, attrs=None, regions=None, result_types=None,
                names=None) -> ir.Op:
        self.at(node)
        try:
            return self.b.op(name, operands, attrs, regions, result_types, names)
        except TypeRuleError as e:
            raise self.error(node, str(e)) from None

    def const(self, node, value):
        self.at(node)
        return self.b.const(value)

    # --- conversions
    def coerce(self, node, value, target: Type, what: str):
        """`value` as type `target`: i64 -> f64 promotion, and a checked `shape_cast` where
        the value's shape is only known at run time. Anything else is an error."""
        t = value.type
        if t == target:
            return value
        if t.rank == target.rank and t.elem != target.elem:
            if t.elem == I64 and target.elem == F64:
                value = self.emit(node, "to_f64", value)
                return self.coerce(node, value, target, what)
        if assignable(value.type, target):
            return value
        if value.type.elem == target.elem and value.type.rank == target.rank:
            for d, e in zip(value.type.shape, target.shape):
                if d != e and d != DYN and e != DYN:
                    raise self.error(node, f"{what} is {value.type} but must be {target}: "
                                           f"dimension {d} is not {e}")
            return self.emit(node, "shape_cast", value, type=target)
        raise self.error(node, f"{what} is {value.type} but must be {target}"
                               f"{conversion_advice(value, target)}")

    def unify(self, node, types: list[Type], what: str) -> Type:
        """The type that values of all these types can be converted to."""
        result = types[0]
        for t in types[1:]:
            a, b = result, t
            if {a.elem, b.elem} == {I64, F64}:
                a, b = with_elem(a, F64), with_elem(b, F64)
            joined = join(a, b)
            if joined is None:
                raise self.error(node, f"{what} is {result} in one place and {t} in another; "
                                       f"it must keep one type")
            result = joined
        return result

    def numeric_pair(self, node, a, b, verb: str):
        for v in (a, b):
            if v.type.elem == BOOL:
                raise self.error(node, f"cannot {verb} {a.type} and {b.type}: {verb} needs "
                                       f"numbers, not bool")
        if a.type.elem != b.type.elem:
            try:  # a mismatch names the types as written: i64[m], not the f64[m] it becomes
                broadcast_result_shape([a.type, b.type], verb)
            except TypeRuleError as e:
                raise self.error(node, str(e)) from None
            a, b = self.to_float(node, a), self.to_float(node, b)
        return a, b

    def to_float(self, node, v):
        if v.type.elem == F64:
            return v
        if v.type.elem == BOOL:
            raise self.error(node, f"{operation(node)} needs numbers, not {v.type}; convert "
                                   f"it with float(...) first")
        return self.emit(node, "to_f64", v)

    # --- statements
    def block(self, stmts, tail: bool) -> list | None:
        """Lowers statements; the returned values when the list ends in a return."""
        for k, s in enumerate(stmts):
            last = tail and k == len(stmts) - 1
            try:
                if isinstance(s, A.Return) or isinstance(s, A.If) and last and returns_somewhere(s):
                    return self.ending(s, last)
                self.stmt(s)
            except RecursionError:  # Python's stack, one level of it per operator or call
                raise self.error(s, "this statement nests too deeply to compile: split its "
                                    "expression into several statements") from None
        return None

    def ending(self, s, last: bool) -> list:
        """The values returned by statement s, a return or an if that returns."""
        if isinstance(s, A.If):
            return self.if_return(s)
        if self.loops:
            raise self.error(s, "return cannot be inside a loop: a loop runs all its "
                                "iterations; keep the value in a variable and return it after "
                                "the loop")
        if not last:
            raise self.error(s, "return must be the last statement of a function or of a "
                                "branch of an if: what follows it never runs")
        return self.returned(s)

    def loop_body(self, stmts) -> None:
        self.loops += 1
        try:
            self.block(stmts, tail=False)
        finally:
            self.loops -= 1

    def returned(self, s: A.Return) -> list:
        parts = [self.multi(e) for e in s.values]
        for e, part in zip(s.values, parts):
            if len(s.values) > 1 and len(part) > 1:  # Python would nest the tuples
                raise self.error(e, f"this call returns {count(len(part))}, and a tuple "
                                    f"cannot hold a tuple: unpack it first (a, b = ...) and "
                                    f"return the values")
        values = [v for part in parts for v in part]
        declared = self.fn.return_types
        if len(values) != len(declared):
            raise self.error(s, f"'{self.fn.name}' is declared to return {count(len(declared))}, "
                                f"this returns {count(len(values))}")
        return [self.coerce(e, v, t, "the returned value")
                for e, v, t in zip(pad(s.values, len(values)), values, declared)]

    def stmt(self, s) -> None:
        handler = getattr(self, "stmt_" + type(s).__name__, None)
        if handler is None:
            raise self.error(s, f"unsupported statement {type(s).__name__}")
        handler(s)

    def stmt_Pass(self, s) -> None:
        pass

    def stmt_ExprStmt(self, s) -> None:
        if isinstance(s.value, A.Name) and s.value.id in ("break", "continue"):
            raise self.error(s, f"'{s.value.id}' is not supported: a loop runs all its "
                                f"iterations (use while with a condition to stop early)")
        problem = self.callee_problem(s.value) if isinstance(s.value, A.Call) else None
        if problem is not None:  # print(x), a.append(v): say more than that it goes unused
            raise self.error(*problem)
        raise self.error(s, "this expression's value is not used; assign it to a name "
                            "(functions in dpc have no side effects)")

    def stmt_Assign(self, s: A.Assign) -> None:
        fn = self.function_denoted(s.value)
        if fn is not None:
            return self.bind_function(s, fn)
        self.check_not_function(s, s.target)
        value = self.expr(s.value)
        if s.annot is not None:
            (t,) = self.owner.ir_type(s.annot, f"'{s.target}'")
            dims = {d for p in self.fn.params for d in ir.types.dim_names(p.type)}
            self.owner.check_dims_bound([t], dims, s.annot, f"the type of '{s.target}'")
            value = self.coerce(s.value, value, t, f"'{s.target}'")
        self.bind(s.target, value)

    def function_denoted(self, node) -> Function | None:
        """The function `node` stands for, if it is one and not a value: a derivative form
        not yet applied (grad(h, wrt=x)), a function of the module, or a name bound to one."""
        from .derivatives import function_of  # it imports this module
        if isinstance(node, A.Call) and isinstance(node.func, A.Name):
            name, is_function = node.func.id, node.func.id in DERIVATIVE_FORMS
        elif isinstance(node, A.Name):
            name, is_function = node.id, node.id in self.owner.defs or node.id in self.functions
        else:
            return None
        if not is_function or self.scope.lookup(name) is not None:  # a value named grad
            return None
        return function_of(self, node)

    def bind_function(self, s: A.Assign, fn: Function) -> None:
        """`dh = grad(h)`: dh names that function from here on, for calls and derivative
        forms. It is known when compiling, so a name stands for one function throughout,
        and is bound only at the top level of the body, where it cannot be bound in some
        branches only."""
        if s.annot is not None:
            raise self.error(s.annot, f"'{s.target}' names a function, which takes no type "
                                      f"annotation: {s.target} = ...")
        if self.b.block is not self.fn.body:  # in a branch or loop, it would outlive it
            raise self.error(s, f"name a function outside of if, for and while: '{s.target}' "
                                f"stands for one function in the whole body")
        if self.scope.lookup(s.target) is not None:
            raise self.error(s, f"'{s.target}' already holds a value; give the function a "
                                f"name of its own")
        bound, line = self.functions.get(s.target, (fn, s.line))
        if bound is not fn:
            raise self.error(s, f"'{s.target}' already names another function (at line "
                                f"{line}); a name stands for one function, use another")
        self.functions[s.target] = (fn, line)

    def check_not_function(self, s, name: str) -> None:
        if name in self.functions:
            line = self.functions[name][1]
            raise self.error(s, f"'{name}' names a function (at line {line}); use another name "
                                f"for this value")

    def bind(self, name: str, value) -> None:
        if value.name_hint is None and value.defining_op is not None:
            value.name_hint = name
        self.scope.bind(name, value)

    def stmt_TupleAssign(self, s: A.TupleAssign) -> None:
        if isinstance(s.value, A.TupleLit):  # a, b = b, a: every value first, as Python
            values = [self.expr(e) for e in s.value.elems]
        else:
            values = self.multi(s.value)
        into = unpacked_into(s.targets)
        if len(values) == 1 and values[0].type.rank > 0:  # a, b = x: NumPy's rows
            write = "take its elements by index"
            if isinstance(s.value, A.Name) and into.endswith("names"):
                names = ", ".join(t.target for t in s.targets)
                items = ", ".join(f"{s.value.id}[{k}]" for k in range(len(s.targets)))
                write = f"write {names} = {items}"
            raise self.error(s, f"cannot unpack {values[0].type} into {into}: "
                                f"only a tuple is unpacked; {write}")
        if len(values) != len(s.targets):
            raise self.error(s, f"cannot unpack {count(len(values))} into {into}")
        for target, value in zip(s.targets, values):  # left to right, as Python assigns
            if isinstance(target, A.IndexAssign):  # a[i]: its indices see earlier targets
                self.store_element(target, *self.element_slot(target), value)
            else:
                self.check_not_function(target, target.target)
                self.bind(target.target, value)

    def stmt_AugAssign(self, s: A.AugAssign) -> None:
        current = self.name_value(s, s.target)
        self.bind(s.target, self.binary(s, s.op, current, self.expr(s.value)))

    def stmt_IndexAssign(self, s: A.IndexAssign) -> None:
        array, indices = self.element_slot(s)
        value = self.expr(s.value)
        if s.op is not None:
            old = self.emit(s, "index", array, *indices, **{WRITTEN_NAME: s.target})
            value = self.binary(s, s.op, old, value)
        self.store_element(s, array, indices, value)

    def element_slot(self, s: A.IndexAssign) -> tuple:
        """The array that `a[i, j] = ...` updates, and the indices of the element."""
        array = self.name_value(s, s.target)
        if array.type.rank == 0:
            raise self.error(s, f"cannot assign to an element of '{s.target}': it is "
                                f"{array.type}, not an array")
        return array, [self.index_value(i) for i in s.indices]

    def store_element(self, s: A.IndexAssign, array, indices: list, value) -> None:
        """Binds the array's name to a copy of it with `value` at `indices`."""
        if value.type.elem == I64 and array.type.elem == F64:
            value = self.emit(s, "to_f64", value)
        self.bind(s.target, self.emit(s, "update", array, value, *indices,
                                      **{WRITTEN_NAME: s.target}))

    def stmt_Assert(self, s: A.Assert) -> None:
        cond = self.condition(s.cond, "assert")
        self.emit_op(s, "assert", [cond], {"message": s.message or "assertion failed"})

    def condition(self, e, what: str):
        value = self.expr(e)
        if value.type != BOOL and value.type.elem == BOOL:  # x > 0.0 for an array x
            raise self.error(e, f"the {what} condition must be one bool, got {value.type}, "
                                f"an elementwise comparison; compare one value, for example "
                                f"x[i] > 0.0 or sum(x) > 0.0")
        if value.type != BOOL:
            raise self.error(e, f"the {what} condition must be bool, got {value.type} "
                                f"(compare it, for example x > 0.0)")
        return value

    # --- if
    def branch(self, stmts, tail: bool, before: Scope) -> tuple[Block, Scope, list | None]:
        block = Block()
        self.scope = before.copy()
        with self.b.at(block):
            values = self.block(stmts, tail)
        return block, self.scope, values

    def stmt_If(self, s: A.If) -> None:
        cond = self.condition(s.cond, "if")
        before = self.scope
        then_block, then_scope, _ = self.branch(s.body, False, before)
        else_block, else_scope, _ = self.branch(s.orelse, False, before)
        self.scope = before.copy()
        merged, types = [], []
        for name in assigned_names(s.body) + assigned_names(s.orelse):
            if name in merged:
                continue
            a, b = then_scope.lookup(name), else_scope.lookup(name)
            if a is None or b is None:
                self.scope.hidden[name] = (f"'{name}' is bound only in some branches of the if "
                                           f"at line {s.line}; bind it before the if or in "
                                           f"every branch")
                continue
            if a is before.lookup(name) and b is before.lookup(name):
                continue
            merged.append(name)
            prior = before.lookup(name)  # the branch that changed its type is pointed at
            changed = s.body if prior is not None and a.type != prior.type else s.orelse
            at = last_binding(changed, name) or last_binding([s], name) or s
            types.append(self.unify(at, [a.type, b.type], f"'{name}'"))
        for block, scope in ((then_block, then_scope), (else_block, else_scope)):
            with self.b.at(block):
                out = [self.coerce(s, scope.lookup(n), t, f"'{n}'") for n, t in zip(merged, types)]
                self.b.op("yield", out)
        op = self.emit_op(s, "if", [cond], regions=[then_block, else_block], result_types=types,
                          names=merged)
        for name, value in zip(merged, op.results):
            self.scope.bind(name, value)

    def if_return(self, s: A.If) -> list:
        """A final `if` whose branches all return: an `if` op yielding the returned values."""
        if not (ends_in_return(s.body) and ends_in_return(s.orelse)):
            raise self.error(s, "this if returns in some branches but not all; add an else "
                                "branch that returns, or a return after the if")
        cond = self.condition(s.cond, "if")
        before = self.scope
        blocks = []
        for stmts in (s.body, s.orelse):
            block, _, values = self.branch(stmts, True, before)
            with self.b.at(block):
                self.b.op("yield", values)
            blocks.append(block)
        self.scope = before
        op = self.emit_op(s, "if", [cond], regions=blocks, result_types=list(self.fn.return_types))
        return op.results

    # --- loops
    def stmt_For(self, s: A.For) -> None:
        if self.scope.lookup(s.var) is not None:
            raise self.error(s, f"loop variable '{s.var}' already names a value here; use "
                                f"another name for the loop variable")
        start, stop, step = self.range_bounds(s)
        carried = [n for n in assigned_names(s.body) if self.scope.lookup(n) is not None]
        before = self.scope

        def lower_body(types, notes):
            block = Block([I64, *types], [s.var, *carried])
            self.scope = self.body_scope(s, before, f"for loop at line {s.line}", s.var)
            self.scope.bind(s.var, block.args[0])
            self.bind_carried(carried, block.args[1:], notes)
            with self.b.at(block):
                self.loop_body(s.body)
            return block, self.scope

        block, types, notes = self.fixpoint(s, carried, before, lower_body)
        op = self.emit_op(s, "for", [start, stop, step, *self.inits(s, carried, types, before)],
                          regions=[block], names=carried)
        self.after_loop(s, carried, op, before, f"for loop at line {s.line}", s.var, notes)

    def stmt_While(self, s: A.While) -> None:
        carried = [n for n in assigned_names(s.body) if self.scope.lookup(n) is not None]
        before = self.scope

        def lower_region(types, notes, stmts_or_cond):
            block = Block(list(types), list(carried))
            self.scope = self.body_scope(s, before, f"while loop at line {s.line}", None)
            self.bind_carried(carried, block.args, notes)
            with self.b.at(block):
                if stmts_or_cond is None:
                    self.loop_body(s.body)
                else:
                    cond = self.condition(s.cond, "while")
                    self.b.op("yield", [cond])
            return block, self.scope

        block, types, notes = self.fixpoint(s, carried, before,
                                            lambda ts, ns: lower_region(ts, ns, None))
        cond_block, _ = lower_region(types, notes, s.cond)
        self.scope = before
        op = self.emit_op(s, "while", self.inits(s, carried, types, before),
                          regions=[cond_block, block], names=carried)
        self.after_loop(s, carried, op, before, f"while loop at line {s.line}", None, notes)

    def body_scope(self, s, before, what: str, loop_var: str | None):
        """The scope a loop body starts with: a name the body binds that is not bound before
        the loop has no value until the body binds it, in each iteration."""
        scope = before.copy()
        for name, line in first_bindings(s.body).items():
            if before.lookup(name) is None and name != loop_var:
                scope.hidden[name] = BoundLaterInLoop(name, line, what)
        return scope

    def fixpoint(self, s, carried, before, lower_body):
        """Lowers a loop body until the carried types stop widening (i64 -> f64, a
        dimension -> `?`), then appends the `yield`. At most a few rounds: each widens.
        Also returns the notes that say where the widened names got their type."""
        types = [before.lookup(n).type for n in carried]
        notes = {}
        for _ in range(2 * len(carried) + 2):
            block, scope = lower_body(types, notes)
            out = [scope.lookup(n) for n in carried]
            widened = [self.unify(last_binding(s.body, n) or s, [t, v.type],
                                  f"'{n}', carried by the loop,")
                       for n, t, v in zip(carried, types, out)]
            if widened == types:
                with self.b.at(block):
                    values = [self.coerce(s, v, t, f"'{n}'") for n, v, t in zip(carried, out, types)]
                    self.b.op("yield", values)
                self.scope = before
                return block, types, notes
            types = widened
            notes = self.widening(s, carried, before, types)
        raise self.error(s, "the types of the names this loop carries do not settle")

    def widening(self, s, carried, before, types) -> dict:
        """name -> (note, node) for each carried name whose type `types` widens."""
        notes = {}
        for name, t in zip(carried, types):
            first = before.lookup(name).type
            if t != first:
                notes[name] = (f"the loop carries '{name}' as {t}, not the {first} it is "
                               f"before the loop, because of this assignment",
                               last_binding(s.body, name) or s)
        return notes

    def bind_carried(self, names, values, notes) -> None:
        for name, value in zip(names, values):
            self.scope.bind(name, value)
            if name in notes:
                self.widened[value] = notes[name]

    def inits(self, s, carried, types, before) -> list:
        self.scope = before
        return [self.coerce(s, before.lookup(n), t, f"'{n}'") for n, t in zip(carried, types)]

    def after_loop(self, s, carried, op, before, what: str, var: str | None, notes) -> None:
        self.scope = before.copy()
        self.bind_carried(carried, op.results, notes)
        for name in assigned_names(s.body):
            if name not in carried and name != var:
                self.scope.hidden[name] = (f"'{name}' is bound inside the {what} and is not "
                                           f"visible after it; bind it before the loop")
        if var is not None:
            self.scope.hidden[var] = (f"'{var}' is the loop variable of the {what} and is not "
                                      f"visible after it")

    def range_bounds(self, node) -> tuple:
        """start, stop and step of a loop's or comprehension's range(...)."""
        args = node.range_args
        hidden = self.hidden_callee("range")
        if hidden is not None:
            raise self.error(A.Name("range", *node.range_at) if node.range_at else node, hidden)
        if not 1 <= len(args) <= 3:
            raise self.error(node, f"range() takes 1 to 3 arguments, {len(args)} given")
        values = [self.expr(a) for a in args]
        for a, v in zip(args, values):
            if v.type != I64:
                raise self.error(a, f"range() needs i64 arguments, got {v.type}")
        if len(values) == 1:
            return self.const(node, 0), values[0], self.const(node, 1)
        if len(values) == 2:
            return values[0], values[1], self.const(node, 1)
        return tuple(values)

    # --- expressions
    def expr(self, e):
        values = self.multi(e)
        if len(values) != 1:
            names = ", ".join("abcdefgh"[:len(values)]) if len(values) <= 8 else "a, b, ..."
            raise self.error(e, f"this expression gives {count(len(values))}; unpack them: "
                                f"{names} = ...")
        return values[0]

    def multi(self, e) -> list:
        handler = getattr(self, "expr_" + type(e).__name__, None)
        if handler is None:
            raise self.error(e, f"unsupported expression {type(e).__name__}")
        result = handler(e)
        return result if isinstance(result, list) else [result]

    def expr_Num(self, e: A.Num):
        if type(e.value) is int and e.value == 2**63:  # let through for -9223372036854775808
            raise self.error(e, f"integer {e.value} does not fit in i64")
        return self.const(e, e.value)

    def expr_Bool(self, e: A.Bool):
        return self.const(e, bool(e.value))

    def expr_Name(self, e: A.Name):
        return self.name_value(e, e.id)

    def name_value(self, node, name: str):
        value = self.scope.lookup(name)
        if value is not None:
            return value
        hidden = self.scope.hidden.get(name)
        if isinstance(hidden, BoundLaterInLoop):
            raise self.error(node, hidden.message(node.line))
        if hidden is not None:
            raise self.error(node, hidden)
        if isinstance(node, (A.AugAssign, A.IndexAssign)):  # x += 1.0 or x[i] = v, x unbound
            self.check_not_function(node, name)
            first = "x = 0.0" if isinstance(node, A.AugAssign) else "x = zeros(n)"
            raise self.error(node, f"'{name}' has no value before this statement updates it; "
                                   f"bind it first ({first.replace('x', name, 1)}, say)")
        if name in self.owner.defs or name in self.functions:
            raise self.error(node, f"'{name}' is a function; call it: {name}(...)")
        if name in BUILTINS or name in DERIVATIVE_FORMS:
            raise self.error(node, f"'{name}' is a built-in function; call it: {name}(...)")
        if name in CONSTANTS and name != "e":  # a lone e is more likely a name of the user's
            raise self.error(node, f"unknown name '{name}': {CONSTANTS[name]}")
        later = first_bindings(self.fdef.body).get(name)
        if later is not None and later > node.line:
            raise self.error(node, f"'{name}' is used before it is bound (at line {later}); "
                                   f"bind it first")
        if later == node.line:  # y = y + x, y unbound
            raise self.error(node, f"'{name}' has no value before this line binds it; bind "
                                   f"it first")
        hint = self.scope.suggestion(name, [])
        raise self.error(node, f"unknown name '{name}'{hint}")

    def expr_BinOp(self, e: A.BinOp):
        return self.binary(e, e.op, self.expr(e.left), self.expr(e.right))

    def binary(self, node, op: str, a, b):
        if op == "@":  # in f64, integers promoted, as dot and outer are
            a, b = self.to_float(node, a), self.to_float(node, b)
            if a.type.rank == 1 and b.type.rank == 1:
                return self.emit(node, "dot", a, b)
            return self.emit(node, "matmul", a, b)
        name = BINARY_OPS[op]
        a, b = self.numeric_pair(node, a, b, VERBS[name])
        if name == "div":
            a, b = self.to_float(node, a), self.to_float(node, b)
        return self.emit(node, name, a, b)

    def expr_Compare(self, e: A.Compare):
        a, b = self.expr(e.left), self.expr(e.right)
        name = COMPARE_OPS[e.op]
        if not (a.type.elem == BOOL and b.type.elem == BOOL and name in ("eq", "ne")):
            a, b = self.numeric_pair(e, a, b, "compare")
        return self.emit(e, name, a, b)

    def expr_UnaryOp(self, e: A.UnaryOp):
        if e.op == "-" and isinstance(e.operand, A.Num):
            # a negative literal is a constant (reverse mode multiplies by a constant
            # without a guard, passes/emit.py `times`)
            return self.const(e, -e.operand.value)
        x = self.expr(e.operand)
        if e.op == "not":
            if x.type.elem != BOOL:
                raise self.error(e, f"'not' needs a bool, got {x.type}")
            return self.emit(e, "not", x)
        if x.type.elem == BOOL:
            raise self.error(e, f"unary '{e.op}' needs a number, got {x.type}")
        return x if e.op == "+" else self.emit(e, "neg", x)

    def expr_BoolOp(self, e: A.BoolOp):
        a = self.expr(e.left)
        if a.type.elem != BOOL:
            raise self.error(e.left, f"'{e.op}' needs bool operands, got {a.type}")
        if a.type.rank == 0 and may_fail(e.right):
            # Python evaluates the right side only when needed: `i < n and x[i] > 0` is safe.
            short = self.const(e, e.op == "or")
            return self.conditional(e, a, e.right, short) if e.op == "and" else \
                self.conditional(e, a, short, e.right)
        b = self.expr(e.right)
        if b.type.elem != BOOL:
            raise self.error(e.right, f"'{e.op}' needs bool operands, got {b.type}")
        if e.chained:
            return self.chain_link(e, a, b)
        return self.emit(e, e.op, a, b)

    def chain_link(self, e: A.BoolOp, a, b):
        """`a < b < c` is `a < b and b < c`; when the two comparisons' sizes differ, say
        so in the chain's terms: the user wrote no 'and'."""
        self.at(e)
        try:
            return self.b.emit("and", a, b)
        except TypeRuleError as err:
            why = str(err).partition(": ")[2] or str(err)
            raise self.error(e, f"the comparisons of this chain give {a.type} and {b.type}, "
                                f"which 'and' cannot combine: {why} (a < b < c means "
                                f"a < b and b < c, element by element)") from None

    def conditional(self, node, cond, then, other):
        """An `if` op choosing between two expressions (AST nodes or ready values)."""
        blocks, values = [], []
        for branch in (then, other):
            block = Block()
            with self.b.at(block):
                values.append(branch if isinstance(branch, ir.Value) else self.expr(branch))
            blocks.append(block)
        t = self.unify(node, [v.type for v in values], "the conditional expression")
        for block, v in zip(blocks, values):
            with self.b.at(block):
                self.b.op("yield", [self.coerce(node, v, t, "a branch")])
        return self.emit_op(node, "if", [cond], regions=blocks, result_types=[t]).result

    def expr_IfExp(self, e: A.IfExp):
        cond = self.expr(e.cond)
        if cond.type != BOOL:
            hint = " (for arrays, use where(c, a, b))" if cond.type.elem == BOOL else ""
            raise self.error(e.cond, f"the condition must be bool, got {cond.type}{hint}")
        if may_fail(e.body) or may_fail(e.orelse):
            return self.conditional(e, cond, e.body, e.orelse)
        a, b = self.expr(e.body), self.expr(e.orelse)
        t = self.unify(e, [a.type, b.type], "the conditional expression")
        a, b = self.coerce(e, a, t, "a branch"), self.coerce(e, b, t, "a branch")
        if a.type != b.type:  # f64[1] and f64[n]: `select` would broadcast them elementwise
            return self.conditional(e, cond, a, b)
        return self.emit(e, "select", cond, a, b)

    def expr_Index(self, e: A.Index):
        base, indices = e.base, list(e.indices)
        while isinstance(base, A.Index):  # a[i][j] is a[i, j]
            base, indices = base.base, list(base.indices) + indices
        array = self.expr(base)
        if array.type.rank == 0:
            raise self.error(e, f"cannot index {array.type}: it is not an array")
        written = {WRITTEN_NAME: base.id} if isinstance(base, A.Name) else {}
        return self.emit(e, "index", array, *(self.index_value(i) for i in indices), **written)

    def index_value(self, e):
        v = self.expr(e)
        if v.type != I64:
            raise self.error(e, f"an index must be i64, got {v.type}" + index_advice(v.type))
        return v

    def expr_Attribute(self, e: A.Attribute):
        if e.name == "T":
            return self.emit(e, "transpose", self.expr(e.base))
        module = self.module_prefix(e)
        if module is not None:
            advice = CONSTANTS.get(e.name, "pass the value as an argument")
            raise self.error(e.base, f"{module}.{e.name}: there are no modules in .dp; {advice}")
        raise self.error(e, f"unknown attribute '.{e.name}'; arrays have '.T' (use len(a) or "
                            f"dimension names for sizes)")

    def expr_ListLit(self, e: A.ListLit):
        if not e.elems:
            raise self.error(e, "an empty list has no type; use zeros(n)")
        values = [self.expr(x) for x in e.elems]
        t = self.unify(e, [v.type for v in values], "an element of the list")
        return self.emit(e, "stack", *(self.coerce(e, v, t, "an element") for v in values))

    def expr_TupleLit(self, e: A.TupleLit):
        if len(e.elems) == 1:
            raise self.error(e, ONE_TUPLE)
        raise self.error(e, "tuples are only allowed in 'return a, b' and 'a, b = ...'")

    def comprehension_region(self, e, var: str) -> tuple[Block, Scope]:
        if self.scope.lookup(var) is not None:
            raise self.error(e, f"comprehension variable '{var}' already names a value here; "
                                f"use another name")
        block = Block([I64], [var])
        before = self.scope
        self.scope = before.copy()
        self.scope.bind(var, block.args[0])
        with self.b.at(block):
            value = self.expr(e.elem)
            self.b.op("yield", [value])
        self.scope = before
        what = "generator expression" if isinstance(e, A.Generator) else "comprehension"
        self.scope.hidden[var] = (f"'{var}' is the variable of the {what} at line {e.line} "
                                  f"and is visible only inside it")
        return block

    def expr_Comprehension(self, e: A.Comprehension):
        bounds = self.range_bounds(e)
        block = self.comprehension_region(e, e.var)
        return self.emit_op(e, "build", list(bounds), regions=[block]).result

    def reduction(self, e: A.Generator, kind: str):
        bounds = self.range_bounds(e)
        block = self.comprehension_region(e, e.var)
        if block.ops[-1].operands[0].type.elem == BOOL:
            raise self.error(e.elem, f"{kind}() of bool values; convert them with float(...)")
        return self.emit_op(e, "reduce", list(bounds), {"kind": kind}, regions=[block]).result

    def expr_Generator(self, e: A.Generator):
        raise self.error(e, GENERATOR_PLACES)

    def expr_Call(self, e: A.Call):
        from .derivatives import lower_derivative_call  # it imports this module
        if isinstance(e.func, A.Call):
            return lower_derivative_call(self, e)
        problem = self.callee_problem(e)
        if problem is not None:
            raise self.error(*problem)
        if not isinstance(e.func, A.Name):
            raise self.error(e, "only named functions can be called")
        name = e.func.id
        if name in self.functions and self.scope.lookup(name) is None:
            self.check_hidden_reduction(e, name, self.functions[name][1])
            return self.call_function(e, self.functions[name][0], name)
        if name in self.owner.defs:
            self.check_hidden_reduction(e, name, self.owner.defs[name].line)
            return self.call_function(e, self.owner.module.functions[name], name)
        if name in BUILTINS:
            return BUILTINS[name](self, e)
        if name in DERIVATIVE_FORMS:
            raise self.error(e, f"{name}(f) gives a function; call it with arguments: "
                                f"{name}(f)(x)")
        raise self.error(e, f"'{name}' is a value, not a function")

    def check_hidden_reduction(self, e: A.Call, name: str, line: int) -> None:
        """`sum(x[i] for i in ...)` where a function of the program is named sum: the
        generator is right for the builtin, which that function hides. (A generator
        given to any other function fails where it is lowered, as anywhere else.)"""
        generator = next((a for a in e.args if isinstance(a, A.Generator)), None)
        if generator is not None and name in REDUCTION_OPS:
            raise self.error(generator, f"'{name}' here is the function defined at line {line}, "
                                        f"which hides the builtin {name}; rename the function "
                                        f"to use the builtin's generator form")

    def callee_problem(self, e: A.Call) -> tuple | None:
        """(where, what) for a call of a method, through a module or of a name that is no
        function (np.exp(x), x.sum(), print(x)); None for a callee that exists."""
        if isinstance(e.func, A.Attribute):
            at = root_name(e.func) if self.module_prefix(e.func) is not None else e.func
            return at, self.method_call_error(e)
        if not isinstance(e.func, A.Name):
            return None
        name = e.func.id
        hidden = self.hidden_callee(name)
        if hidden is not None:
            return e.func, hidden
        known = (name in self.owner.defs or name in BUILTINS or name in DERIVATIVE_FORMS
                 or name in self.functions or self.scope.lookup(name) is not None)
        if known:
            return None
        if name in NOT_BUILTINS:
            return e.func, f"'{name}' is not a builtin: {NOT_BUILTINS[name]}"
        hint = self.scope.suggestion(name, [*self.owner.defs, *BUILTINS, *DERIVATIVE_FORMS])
        return e.func, f"unknown function '{name}'{hint}"

    def hidden_callee(self, name: str) -> str | None:
        """What is wrong with calling or differentiating `name` when a value of that name
        hides the function (sum = 2.0, then sum(x)): Python would use the value, so going on
        with the function would compute what the program does not say; or when the body
        binds the name elsewhere (sum(x), then sum = 2.0), which makes it a variable in the
        whole body. None when no value hides one."""
        if name in self.owner.defs:
            what = f"the function '{name}'"
        elif name in BUILTINS or name in DERIVATIVE_FORMS:
            what = f"the builtin {name}()"
        else:
            return None
        value = self.scope.lookup(name)
        if value is not None:
            return (f"'{name}' is a value here ({value.type}), which hides {what}; give the "
                    f"value another name")
        # read before its binding, Python raises UnboundLocalError
        line = self.local_names.get(name)
        if line is None:
            return None
        return (f"'{name}' is bound at line {line} of this function, which makes it a "
                f"variable everywhere in the function (as in Python), not {what}; give the "
                f"variable another name")

    def module_prefix(self, e: A.Attribute) -> str | None:
        """The module name `e` is read through (np.exp, math.pi), unless it names a value."""
        base = root_name(e)  # np of np.random.rand
        if isinstance(base, A.Name) and base.id in MODULES and self.scope.lookup(base.id) is None:
            return base.id
        return None

    def method_call_error(self, e: A.Call) -> str:
        """What to write instead of np.exp(x), x.sum() or a.append(v)."""
        func, name = e.func, e.func.name
        module = self.module_prefix(func)
        if name in BUILTINS and module is None and isinstance(func.base, A.Name):
            call = builtin_call(name, func.base.id, e)
            instead = self.rename_first(name, call) or f"call the builtin: {call}"
        elif name in BUILTINS or name in DERIVATIVE_FORMS:  # np.exp(x), jax.grad(f)
            instead = self.rename_first(name, f"{name}(...)") or f"call the builtin {name}(...)"
        else:
            instead = NOT_BUILTINS.get(name, f"there is no builtin '{name}'")
        if module is not None:
            return f"{dotted(func)}: there are no modules in .dp; {instead}"
        if name == "append":
            return ("arrays cannot grow: make one with a comprehension, or with zeros(n) and "
                    "x[i] = ... in a loop")
        if name == "T" and not e.args and not e.kwargs:
            return f"'.T' is not a method; write {dotted(func)} without parentheses"
        return f"values have no methods in .dp ('.{name}'); {instead}"

    def rename_first(self, name: str, call: str) -> str | None:
        """When a value named `name` hides the builtin that x.sum() or np.exp(x) should call:
        that `call` (sum(x)) would fail too, so the advice is to rename the value first."""
        value = self.scope.lookup(name)
        if value is None:
            return None
        return (f"the value '{name}' ({value.type}) hides the builtin here: give the value "
                f"another name, then call {call}")

    def call_function(self, e: A.Call, fn: Function, called: str) -> list:
        names = [p.name_hint for p in fn.params]
        arg_nodes = self.arguments_in_order(e, names, f"'{called}'", ", ".join(names))
        args = self.call_arguments(e, fn, arg_nodes, called=called)
        return self.emit_op(e, "call", args, {"callee": Symbol(fn.name)}).results

    def arguments_in_order(self, e: A.Call, names: list[str], called: str, takes: str) -> list:
        """The argument nodes of call `e` in parameter order: its positional ones, then
        those passed by name, by Python's rules. `names` are the parameters of what is
        called; `called` says what that is and `takes` what it takes, in messages."""
        if len(e.args) > len(names) or (not e.kwargs and len(e.args) < len(names)):
            given = " by position" if e.kwargs else ""
            raise self.error(e, f"{called} takes {takes_arguments(names, takes)}, "
                                f"{len(e.args)} given{given}")
        listed = parameters_listed(names)
        nodes = dict(zip(names, e.args))
        for kw in e.kwargs:
            if kw.name not in names:
                raise self.error(kw, f"{called} has no parameter '{kw.name}'"
                                     f"{did_you_mean(kw.name, names)}; {listed}")
            if kw.name in nodes:
                # a derived form's own names (t_x_2 where f has a t_x) are in `takes`
                listed = "" if takes == ", ".join(names) else f"; it takes {takes}"
                raise self.error(kw, f"argument '{kw.name}' of {called} is given twice, by "
                                     f"position and by name{listed}")
            nodes[kw.name] = kw.value
        missing = [f"'{name}'" for name in names if name not in nodes]
        if missing:
            noun = "argument" if len(missing) == 1 else "arguments"
            raise self.error(e, f"{called} is missing the {noun} {', '.join(missing)} "
                                f"({listed})")
        return [nodes[name] for name in names]

    def call_arguments(self, e, fn: Function, arg_nodes, check_sizes: bool = True,
                       called: str | None = None) -> list:
        """The arguments of a call of fn, in parameter order, which the program calls
        `called` (fn's name, or a name bound to fn: dh = grad(h))."""
        called = called or fn.name
        out = []
        for node, param in zip(arg_nodes, fn.params):
            v = self.expr(node)
            if v.type.elem == I64 and param.type.elem == F64 and v.type.rank == param.type.rank:
                v = self.emit(node, "to_f64", v)
            if v.type.elem != param.type.elem or v.type.rank != param.type.rank:
                # the whole argument is wrong: point where it begins, not at its operator
                raise self.error(A.leftmost(node), f"argument '{param.name_hint}' of "
                                 f"'{called}' must be {param.type}, got {v.type}"
                                 f"{conversion_advice(v, param.type)}")
            out.append(v)
        if check_sizes:
            self.check_call_sizes(e, called, [(p.name_hint, p.type) for p in fn.params], out)
        return out

    def check_call_sizes(self, e, callee: str, params: list, args: list) -> None:
        """Run-time checks that the arguments' sizes are what the parameter types say
        (params: (name, type) of each, the callee's; a literal, or one size wherever a
        dimension name appears) where the arguments' own types do not show it: a `?`, or
        a name for a literal. Sizes that differ by their types were refused by the call's
        type rule; a size left unchecked would let the callee read past an array's end."""
        first = {}  # the callee's dimension name -> (argument, axis) that binds it
        for k, (v, (name, t)) in enumerate(zip(args, params)):
            for axis, (d_arg, d_par) in enumerate(zip(v.type.shape, t.shape)):
                where = f"argument {name} of {callee} ({t}), axis {axis}"
                if isinstance(d_par, int):
                    if d_arg != d_par:
                        self.size_check(e, v, axis, self.b.const(d_par), where)
                    continue
                if d_par == DYN:  # a result of data-dependent size: its vjp checks it
                    continue
                if d_par not in first:
                    first[d_par] = (k, axis)
                    continue
                k0, axis0 = first[d_par]
                if DYN in (d_arg, args[k0].type.shape[axis0]):
                    size = self.emit(e, "dim", args[k0], axis=axis0)
                    bound_by = f"axis {axis0}'s" if k0 == k else f"{params[k0][0]}'s"
                    self.size_check(e, v, axis, size, f"{where}, whose {d_par} is {bound_by}")

    def size_check(self, e, v, axis: int, size, message: str) -> None:
        self.at(e)  # the check points at the call
        self.b.size_check(v, axis, size, message)


# ----------------------------------------------------------------------------- helpers

def pad(nodes, n):
    return nodes if len(nodes) == n else [nodes[0]] * n


def ends_in_return(stmts) -> bool:
    if not stmts:
        return False
    last = stmts[-1]
    if isinstance(last, A.Return):
        return True
    return isinstance(last, A.If) and ends_in_return(last.body) and ends_in_return(last.orelse)


def returns_somewhere(s) -> bool:
    if isinstance(s, A.Return):
        return True
    if isinstance(s, A.If):
        return any(returns_somewhere(x) for x in s.body + s.orelse)
    return False


COPY_BUDGET = 1000  # statements that early returns may copy into both branches of ifs


def rewrite_early_returns(stmts, lowering, budget: list | None = None) -> list:
    """`if c: return a` followed by more statements means `if c: return a else: <rest>`:
    the rest moves into each branch that does not end in a return, and a branch that
    returns on some of its paths only is rewritten the same way, so every return is in
    tail position. When neither branch ends in a return, the rest goes into both: each
    such copy counts against `budget` (COPY_BUDGET statements), since a run of them
    doubles the code each time. Returns in loops are left alone and reported where they
    stand."""
    budget = [COPY_BUDGET] if budget is None else budget
    for k, s in enumerate(stmts):
        if not isinstance(s, A.If) or not returns_somewhere(s):
            continue
        rest = list(stmts[k + 1:])
        body_returns, else_returns = ends_in_return(s.body), ends_in_return(s.orelse)
        if rest and body_returns and else_returns:
            raise lowering.error(rest[0], "unreachable code: every branch of the if above "
                                          "returns")
        if rest and not body_returns and not else_returns:
            budget[0] -= statement_count(rest)
            if budget[0] < 0:
                raise lowering.error(s, "each branch of this if returns on some paths only, "
                                        "so the code after it would be copied into both, "
                                        "too many times over with the ifs like it; keep the "
                                        "result in a variable and return it once, at the end")
        body = list(s.body) + ([] if body_returns else rest)
        orelse = list(s.orelse) + ([] if else_returns else rest)
        return list(stmts[:k]) + [replace(s, body=rewrite_early_returns(body, lowering, budget),
                                          orelse=rewrite_early_returns(orelse, lowering, budget))]
    return list(stmts)


def statement_count(stmts) -> int:
    """Statements in stmts, those in the bodies of ifs and loops included."""
    return sum(1 + statement_count(getattr(s, "body", [])) + statement_count(getattr(s, "orelse", []))
               for s in stmts)


def may_fail(e) -> bool:
    """Could evaluating `e` raise a run-time error (so it must not run unless needed)?"""
    if isinstance(e, (A.Index, A.Call)):
        return True
    if isinstance(e, A.BinOp) and e.op in ("//", "%", "**"):
        return True
    return any(may_fail(c) for c in child_exprs(e))


def child_exprs(e) -> list:
    out = []
    for v in vars(e).values():
        if isinstance(v, list):
            out.extend(x for x in v if is_expr(x))
        elif is_expr(v):
            out.append(v)
    return out


def is_expr(x) -> bool:
    return hasattr(x, "line") and type(x).__module__ == A.__name__ and not isinstance(
        x, (A.ScalarType, A.ArrayType, A.TupleType))


def lower_module(tree: A.Module) -> Module:
    return Lowering(tree).run()

