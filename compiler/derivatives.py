"""The derivative forms `grad(f)(...)`, `grad(f, wrt=(x, w))(...)`, `value_and_grad`,
`jvp` and `vjp`, lowered to the IR ops of the same names, which the AD passes transform.

A derivative form applied to another one (`grad(grad(f))`) needs the inner one as a
function: we add it to the module as `@f.grad` (wrt positions in the name when not the
default), whose body is the single derivative op. Its result types come from the same
type rule as everywhere else. The Python API's derivatives are made here too: `@f.hvp`
(jvp of grad), and the dense `@f.hessian`, `@f.jacfwd` and `@f.jacrev`, loops over unit
vectors calling hvp, jvp or vjp.
"""

from __future__ import annotations

from ir import F64, I64, Block, Builder, Function, Op, Symbol
from ir.errors import TypeRuleError, parameters_listed
from ir.ops import OVERWRITTEN, derived_param_names, tangent_types
from ir.registry import lookup
from ir.types import results_text

from . import ast as A
from .builtins import BUILTINS
from .lower import DERIVATIVE_FORMS, count
from .scope import did_you_mean

KWARGS = ("wrt",)
DENSE = ("hessian", "jacfwd", "jacrev")  # the derivatives make_dense builds


def lower_derivative_call(lw, e: A.Call) -> list:
    """`form(f, wrt=...)(args...)`: the op for `form` applied to `args`."""
    form = e.func
    kind, fn, wrt = resolve_form(lw, form)
    n = len(fn.params)
    names = derived_param_names(kind, fn, wrt)
    arg_nodes = lw.arguments_in_order(e, names, f"{kind}({fn.written})",
                                      describe_arguments(kind, fn, wrt, names))
    args = lw.call_arguments(e, fn, arg_nodes[:n], check_sizes=False)
    extra_types = tangent_types(kind, fn, wrt)
    for node, t in zip(arg_nodes[n:], extra_types):
        v = lw.expr(node)
        if v.type.elem == I64 and t.elem == F64:
            v = lw.to_float(node, v)
        if v.type.elem != t.elem or v.type.rank != t.rank:
            unused = (f" (an integer or bool result has no derivative: pass any {t}, zeros "
                      f"say; its values are not used)") if t.elem != F64 else ""
            raise lw.error(node, f"this {'tangent' if kind == 'jvp' else 'cotangent'} must be "
                                 f"{t}, got {v.type}{unused}")
        args.append(v)
    # the tangents and cotangents too: jvp(g)(x, ones(k)) read past the end of ones(k)
    lw.check_call_sizes(e, f"{kind}({fn.written})", list(zip(names, fn.param_types + extra_types)),
                        args)
    return lw.emit_op(e, kind, args, {"callee": Symbol(fn.name), "wrt": wrt}).results


def describe_arguments(kind: str, fn: Function, wrt: list[int], names: list[str]) -> str:
    """What `kind(f)` takes, by the names a call can give them (`names`: derived_param_names,
    so t_x_2 where f has a parameter t_x): 'x, y, then the tangents t_x of x and t_y of y'."""
    n = len(fn.params)
    extra = names[n:]
    if kind not in ("jvp", "vjp") or not extra:
        return ", ".join(names)
    if kind == "jvp":
        described = [f"{t} of {fn.params[k].name_hint}" for t, k in zip(extra, wrt)]
        noun = "tangent"
    else:
        described = ([f"{extra[0]} of the result"] if len(extra) == 1 else
                     [f"{ct} of the {ordinal(k)} result" for k, ct in enumerate(extra)])
        noun = "cotangent"
    plural = "s" if len(described) > 1 else ""
    listed = described[0] if len(described) == 1 else \
        f"{', '.join(described[:-1])} and {described[-1]}"
    return ", ".join(names[:n] + [f"then the {noun}{plural} {listed}"])


def ordinal(k: int) -> str:
    """'first' for k = 0, ..., 'tenth', then '11th', '12th', '13th', '21st'..."""
    words = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth",
             "ninth", "tenth"]
    if k < len(words):
        return words[k]
    n = k + 1
    suffix = "th" if n % 100 in (11, 12, 13) else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def resolve_form(lw, form: A.Call) -> tuple[str, Function, list[int]]:
    """For `kind(F, wrt=...)`: the kind, the function F denotes, and the wrt positions."""
    problem = lw.callee_problem(form)  # gard(f)(x), hessian(f)(x), grad = 1.0 then grad(f)
    if problem is not None:
        raise lw.error(*problem)
    if not isinstance(form.func, A.Name) or form.func.id not in DERIVATIVE_FORMS:
        raise lw.error(form, "only derivative forms (grad, value_and_grad, jvp, vjp) can be "
                             "called on a call's result")
    kind = form.func.id
    if len(form.args) != 1:
        raise lw.error(form, f"{kind}() takes one function, {len(form.args)} given: "
                             f"{kind}(f) or {kind}(f, wrt=(x, y))")
    for kw in form.kwargs:
        if kw.name not in KWARGS:
            raise lw.error(kw, f"{kind}() has no keyword argument '{kw.name}'; it takes wrt=")
    fn = function_of(lw, form.args[0])
    wrt_node = next((kw.value for kw in form.kwargs if kw.name == "wrt"), None)
    wrt = wrt_positions(lw, kind, fn, wrt_node, form)
    return kind, fn, wrt


def function_of(lw, node) -> Function:
    if isinstance(node, A.Name) and node.id in lw.functions:  # dh = grad(h), then grad(dh)
        return lw.functions[node.id][0]
    if isinstance(node, A.Name):
        hidden = lw.hidden_callee(node.id)  # f = 2.0, then grad(f): Python passes the value
        if hidden is not None:
            raise lw.error(node, hidden)
        if node.id in BUILTINS and node.id not in lw.owner.module.functions:
            raise lw.error(node, f"'{node.id}' is a builtin; derivative forms take a function "
                                 f"of this module: def a function that calls {node.id}, and "
                                 f"pass that")
        if node.id in DERIVATIVE_FORMS and node.id not in lw.owner.module.functions:
            raise lw.error(node, f"'{node.id}' needs the function it differentiates: "
                                 f"write {node.id}(f) here")
        if node.id not in lw.owner.module.functions:
            hint = did_you_mean(node.id, list(lw.owner.module.functions))
            if lw.scope.lookup(node.id) is not None:  # not 'did you mean' the value itself
                raise lw.error(node, f"'{node.id}' is a value; derivative forms take a "
                                     f"function of this module{hint}")
            raise lw.error(node, f"unknown function '{node.id}'{hint}")
        return lw.owner.module.functions[node.id]
    if isinstance(node, A.Call):
        kind, fn, wrt = resolve_form(lw, node)
        return derived_function(lw, node, kind, fn, wrt)
    raise lw.error(node, "expected the name of a function of this module")


def wrt_positions(lw, kind: str, fn: Function, node, form) -> list[int]:
    if node is None:
        wrt = fn.float_positions
        if not wrt:
            raise lw.error(form, f"'{fn.written}' has no f64 parameter to differentiate")
        return wrt
    items = node.elems if isinstance(node, A.TupleLit) else [node]
    wrt = []
    for item in items:
        if not isinstance(item, A.Name):
            raise lw.error(A.leftmost(item), "wrt= takes parameter names: wrt=x or wrt=(x, y)")
        try:
            wrt.append(wrt_position(fn, item.id, wrt))
        except WrtError as e:
            raise lw.error(item, str(e)) from None
    return wrt


class WrtError(ValueError):
    """A wrt entry that names no f64 parameter of the function (or one already named)."""


def wrt_position(fn: Function, item, chosen: list[int]) -> int:
    """The position of parameter `item` (a name, or a position from Python) of fn, to be
    added to `chosen`; raises WrtError saying what is wrong with it."""
    names = [p.name_hint for p in fn.params]
    if not isinstance(item, (str, int)) or isinstance(item, bool):  # wrt=("x", None)
        raise WrtError(f"wrt takes parameter names (str) or positions (int), not "
                       f"{type(item).__name__} {item!r:.40}")
    k = names.index(item) if item in names else item
    if isinstance(k, int) and not isinstance(k, bool) and not 0 <= k < len(names):
        # a position, from Python: counted from 0, never from the end (as JAX's argnums)
        listed = f" ({', '.join(names)})" if names else ""
        raise WrtError(f"wrt position {k} is not a parameter of '{fn.written}', which takes "
                       f"{count(len(names), 'parameter')}{listed}, counted from 0")
    if isinstance(k, str):
        raise WrtError(f"'{item}' is not a parameter of '{fn.written}' "
                       f"({parameters_listed(names)})")
    if fn.param_types[k].elem != F64:
        raise WrtError(f"cannot differentiate with respect to '{names[k]}': it is "
                       f"{fn.param_types[k]}, not f64")
    if k in chosen:
        raise WrtError(f"'{names[k]}' is named twice in wrt")
    return k


def derived_function(lw, node, kind: str, fn: Function, wrt: list[int]) -> Function:
    """The function `kind(fn, wrt)` as a module function, made once."""
    try:
        return make_derived(lw.owner.module, kind, fn, wrt)
    except TypeRuleError as err:
        raise lw.error(node, str(err)) from None


def make_derived(module, kind: str, fn: Function, wrt: list[int]) -> Function:
    """Adds (once) `@f.kind` (with the wrt positions in the name unless they are f's f64
    parameters), whose body is the single derivative op; raises TypeRuleError when the
    form does not apply to f."""
    name = fn.derived_name(kind, wrt)
    if name in module.functions:
        return module.functions[name]
    types = list(fn.param_types) + tangent_types(kind, fn, wrt)
    body = Block(types, derived_param_names(kind, fn, wrt))
    op = Op(kind, list(body.args), [], {"callee": Symbol(fn.name), "wrt": wrt})
    op.set_result_types(lookup(kind).infer(op, module))
    body.ops.append(op)
    body.ops.append(Op("return", op.results, []))
    return module.add(Function(name, body, [r.type for r in op.results], filename=fn.filename))


def make_hvp(module, fn: Function, wrt: list[int]) -> Function:
    """Adds (once) `@f.hvp`: f's parameters, then a vector per wrt parameter -> the
    Hessian of scalar-valued f times those vectors, one part per wrt parameter, as the
    tangent of f's gradient (forward over reverse)."""
    if fn.return_types != [F64]:  # said here: grad's own message would name grad
        raise TypeRuleError(f"hvp needs a function returning f64, '{fn.written}' returns "
                            f"{results_text(fn.return_types)}")
    gradient = make_derived(module, "grad", fn, wrt)
    jvp = make_derived(module, "jvp", gradient, wrt)
    name = fn.derived_name("hvp", wrt)
    if name in module.functions:
        return module.functions[name]
    body = Block(jvp.param_types, [p.name_hint for p in jvp.params])
    call = Op("call", list(body.args), [], {"callee": Symbol(jvp.name)})
    call.set_result_types(list(jvp.return_types))
    body.ops.append(call)
    products = call.results[len(wrt):]
    body.ops.append(Op("return", products, []))
    return module.add(Function(name, body, [v.type for v in products], filename=fn.filename))


def check_jacobian_results(fn: Function) -> None:
    """A Jacobian's rows or columns are f64: an i64 or bool result has none (the reverse
    function's cotangent of it would be i64, its tangent a store of i64 into f64)."""
    for r, t in enumerate(fn.return_types):
        if t.elem != F64:
            raise TypeRuleError(f"result {r} is {t}; a Jacobian needs f64 results")


def make_dense(module, kind: str, fn: Function, wrt: list[int]) -> Function:
    """Adds (once) `@f.hessian`, `@f.jacfwd` or `@f.jacrev`: f's parameters -> f's dense
    second or first derivatives, one native call for all of them. It runs an inner
    derivative (hvp, jvp or vjp of f) once per element of each of its seeds (the wrt
    parameters' tangents, or for jacrev the results' cotangents), with that element 1
    and every other seed element 0, and stores each product of the run at the element's
    index: the block of seed s and product p has shape S_s + P_p. The products are the
    wrt parameters' Hessian parts (hessian), the results' tangents (jacfwd) or the wrt
    parameters' cotangents (jacrev); each block holds, for jacfwd, the columns of the
    dense derivative, for jacrev its rows, and for hessian its rows, which are its
    columns (second derivatives are symmetric)."""
    name = fn.derived_name(kind, wrt)
    if name in module.functions:
        return module.functions[name]
    if kind == "hessian" and fn.return_types != [F64]:
        raise TypeRuleError(f"a Hessian needs a function returning f64, '{fn.written}' "
                            f"returns {results_text(fn.return_types)}")
    if kind != "hessian":
        check_jacobian_results(fn)
    first_product = 0  # where the products start among the inner derivative's results
    if kind == "hessian":
        inner = make_hvp(module, fn, wrt)
    elif kind == "jacfwd":
        inner = make_derived(module, "jvp", fn, wrt)
        first_product = len(fn.return_types)  # after f's results
    else:
        inner = make_derived(module, "vjp", fn, wrt)
    body = Block(list(fn.param_types), [p.name_hint for p in fn.params])
    b = Builder(module, body)
    args = list(body.args)
    wrt_dims = [axis_sizes(b, args[k]) for k in wrt]
    # f runs once: its results give their shapes, unknown until it runs, and where f
    # fails (lse of no element), so does its derivative, also when there is no column
    results = b.op("call", args, {"callee": Symbol(fn.name)},
                   result_types=list(fn.return_types)).results
    result_dims = [axis_sizes(b, r) for r in results]
    seed_dims, product_dims = {"hessian": (wrt_dims, wrt_dims),
                               "jacfwd": (wrt_dims, result_dims),
                               "jacrev": (result_dims, wrt_dims)}[kind]
    zeros = [b.emit("full", b.const(0.0), *dims) if dims else b.const(0.0) for dims in seed_dims]
    parts = []
    for s, dims in enumerate(seed_dims):
        def run(index, s=s):  # the products for unit element `index` of seed s
            unit = (b.emit("update", zeros[s], b.const(1.0), *index, inbounds=True) if index
                    else b.const(1.0))
            seeds = zeros[:s] + [unit] + zeros[s + 1:]
            call = b.op("call", args + seeds, {"callee": Symbol(inner.name)},
                        result_types=list(inner.return_types))
            return call.results[first_product:]
        if not dims:
            parts += run([])
            continue
        # every element of the seed gets its products stored (element_loops visits
        # each), so native code leaves the blocks unfilled: 8 MB of zeros were 8% of
        # lse's Hessian at n = 1000
        inits = [b.emit("full", b.const(0.0), *dims, *p, **{OVERWRITTEN: True})
                 for p in product_dims]
        parts += element_loops(b, dims, inits, lambda index, held: [
            b.emit("update", part, product, *index)
            for part, product in zip(held, run(index))])
    b.op("return", parts)
    return module.add(Function(name, body, [v.type for v in parts], filename=fn.filename))


def axis_sizes(b: Builder, value) -> list:
    """The sizes of an array value's axes as i64 values; none for a scalar."""
    return [b.emit("dim", value, axis=axis) for axis in range(value.type.rank)]


def element_loops(b: Builder, dims: list, carried: list, step, index=()) -> list:
    """Nested `for` loops over every index of an array of sizes `dims`, in row-major
    order, carrying `carried` through step(index, carried) -> the next carried values;
    returns the last ones."""
    if not dims:
        return step(list(index), carried)
    block = Block([I64] + [v.type for v in carried], [f"i{len(index)}"] + [None] * len(carried))
    with b.at(block):
        out = element_loops(b, dims[1:], list(block.args[1:]), step, (*index, block.args[0]))
        b.op("yield", out)
    return b.op("for", [b.const(0), dims[0], b.const(1)] + carried, regions=[block]).results
