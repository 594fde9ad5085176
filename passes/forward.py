"""Forward mode: `jvp` as a source transformation, IR to IR.

For a function `@f` and the positions `wrt` of its parameters, `Tangents` writes `@f.fwd`
(`@f.fwd.0.2` for other wrt sets): it takes f's parameters and one tangent per wrt
parameter, and returns f's results followed by their tangents. A `jvp` op becomes a call
to it (see passes/ad.py, which lowers every derivative form).

The body is f's ops, cloned in order; after each op whose results depend on a wrt
parameter ("active" ones), the op's tangent rule in the registry emits the tangents of its
results from those of its operands. `tangent` maps each active value of f to the value
holding its tangent where code is emitted; a value without one has tangent zero.

Regions carry their tangents alongside their values, in one op:

- `for` and `while`: the tangents of the active carried values are carried too.
- `if`: both branches yield their values' tangents after their values.
- `build` and `reduce`: the op itself, then a second loop over the same range that
  replays the body for the element's tangent (a sum of them for `sum`; for `prod`, the
  product rule carried along; for `max`/`min`, the tangent of the first extreme element).
- `call`: a call to the callee's own `.fwd` function, or to its `@tangent` rule.
"""

from __future__ import annotations

import ir
from ir import I64, Block, Function, Symbol
from ir.clone import clone_op
from ir.registry import REGISTRY

from .dce import eliminate_dead_code, never_fails
from .emit import DifferentiationError, Emitter, checked_rule_result, mark_checked

STRUCTURED = ("for", "while", "if", "build", "reduce", "call")


def jvp_signature(fn: Function, wrt: list[int]) -> Block:
    """fn's parameters, then one tangent per wrt parameter."""
    names = [p.name_hint for p in fn.params] + [f"t_{fn.params[k].name_hint}" for k in wrt]
    return Block(fn.param_types + [fn.param_types[k] for k in wrt], names)


def jvp_function(name: str, fn: Function, body: Block) -> Function:
    return Function(name, body, list(fn.return_types) * 2, filename=fn.filename)


def tangent_rule_function(module: ir.Module, fn: Function, wrt: list[int], name: str) -> Function:
    """The jvp function of a function with a @tangent rule: its values from fn itself,
    their tangents from the rule, which takes a tangent for every f64 parameter (zero
    for those not in wrt)."""
    body = jvp_signature(fn, wrt)
    emitter = Emitter(module, fn, wrt)
    emitter.b.block = body
    params = body.args[:len(fn.params)]
    given = dict(zip(wrt, body.args[len(fn.params):]))
    tangents = [given[k] if k in given else emitter.zeros_like(params[k]) for k in fn.float_positions]
    b = emitter.b
    values = b.op("call", params, {"callee": Symbol(fn.name)}).results
    rule = fn.attrs["tangent"].name
    from_rule = b.op("call", params + tangents, {"callee": Symbol(rule)}).results
    # the tangent of a result is of the result's size: where the types leave it open
    # (`?`), it is checked here, at the rule's return
    b.loc = module.functions[rule].body.ops[-1].loc
    checked = [checked_rule_result(b, t, v, f"the tangent {rule} returns for "
                                   f"{fn.name}'s {result_name(k, len(values))}")
               for k, (t, v) in enumerate(zip(from_rule, values))]
    b.op("return", list(values) + checked)
    return jvp_function(name, fn, body)


def result_name(k: int, count: int) -> str:
    """How an error names result k (from 0) of a function with `count` results."""
    return "result" if count == 1 else f"result {k + 1} of {count}"


class Tangents(Emitter):
    """Writes the jvp function of one function. Its methods are the interface the tangent
    rules of ir/ops.py use (`x`, `dx`, `emit`, `times`, `tangent_for`, ...)."""

    def __init__(self, owner, fn: Function, wrt: list[int]):
        super().__init__(owner.module, fn, wrt)
        self.owner = owner  # the pass: it writes the jvp functions of callees
        self.tangent: dict = {}  # active value of fn -> its tangent where we emit
        self.replaying = False  # emitting a replay of ops that already ran
        self.kept: set = set()  # ids of ops that run f itself: they keep their checks

    def run(self, name: str) -> Function:
        fn = self.fn
        body = jvp_signature(fn, self.wrt)
        self.b.block = body
        n = len(fn.params)
        self.primal.update(zip(fn.params, body.args[:n]))
        self.tangent.update(zip([fn.params[k] for k in self.wrt], body.args[n:]))
        returned = self.propagate(fn.body)
        with self.b.located(fn.body.ops[-1].loc):
            self.b.op("return", self.xs(returned) + [self.t(v) for v in returned])
        eliminate_dead_code(body, self.removable, self.module)
        return jvp_function(name, fn, body)

    def removable(self, op: ir.Op) -> bool:
        """Tangent and replayed ops may go when unused; an op of f itself only if it
        cannot fail, so the jvp raises every error the function raises."""
        return REGISTRY[op.name].pure and (id(op) not in self.kept or never_fails(op))

    # --- the interface of tangent rules
    def dx(self, v):
        """The tangent of v where code is emitted, or None when it is zero."""
        return self.tangent.get(v)

    def t(self, v):
        """The tangent of v, zeros when it has none."""
        t = self.tangent.get(v)
        return t if t is not None else self.zeros_like(self.x(v))

    def total(self, parts: list):
        """The sum of the tangents in parts that are not None; None if all are."""
        parts = [p for p in parts if p is not None]
        if not parts:
            return None
        out = parts[0]
        for p in parts[1:]:
            out = self.emit("add", out, p)
        return out

    def fit(self, t, like):
        """Tangent t at exactly the type of its primal value `like`: broadcast where an
        operand's tangent is smaller than the result, cast where only `?` differ."""
        if t.type == like.type:
            return t
        aligned = like.type.shape[like.type.rank - t.type.rank:]
        if t.type.rank < like.type.rank or any(d == 1 and e != 1 for d, e in zip(t.type.shape, aligned)):
            t = self.emit("add", self.zeros_like(like), t)
        if t.type != like.type:
            t = self.emit("shape_cast", t, type=like.type)
        return t

    # --- the sweep
    def propagate(self, block: Block) -> list:
        """Emits block's ops with their tangents; returns the operands of its terminator."""
        for op in block.ops[:-1]:
            self.transform(op)
        return block.ops[-1].operands

    def transform(self, op: ir.Op) -> None:
        if not any(self.active(r) for r in op.results):
            self.clone(op)
            return
        rule = REGISTRY[op.name].tangent
        if rule is None:
            raise DifferentiationError(f"cannot differentiate through '{op.name}' in "
                                       f"'{self.fn.name}': it has no forward-mode rule", op.loc)
        with self.b.located(op.loc):  # a loop's ops, and then the loop, at their places
            if op.name not in STRUCTURED:  # structured rules emit the op itself too
                self.clone(op)
                if all(self.dx(v) is None for v in op.operands):
                    return  # every operand's tangent is zero, so are the results'
            for r, t in zip(op.results, rule(self, op)):
                if t is not None and self.active(r):
                    self.tangent[r] = self.fit(t, self.x(r))

    def clone(self, op: ir.Op) -> ir.Op:
        new = clone_op(op, self.primal)
        self.b.block.ops.append(new)
        if self.replaying:
            mark_checked(new)
        else:
            self.kept.add(id(new))
            self.kept.update(id(inner) for inner in ir.ops_within(new))
        return new

    def keep(self, op: ir.Op) -> ir.Op:
        """A structured op that runs f itself keeps its checks, like a clone."""
        if not self.replaying:
            self.kept.add(id(op))
        return op

    def carried_block(self, args: list, flowing: list) -> Block:
        """A region taking `args` (a region's arguments) and then the tangents of those
        at positions `flowing`; binds them."""
        extra = [args[j] for j in flowing]
        block = Block([a.type for a in args + extra],
                      [a.name_hint for a in args] + [f"t_{a.name_hint or 'v'}" for a in extra])
        self.primal.update(zip(args, block.args[:len(args)]))
        self.tangent.update(zip(extra, block.args[len(args):]))
        return block

    def with_tangents(self, values: list, flowing: list) -> list:
        return self.xs(values) + [self.t(values[j]) for j in flowing]

    def spread_tangents(self, results: list, flowing: list, tangents: list) -> list:
        out = [None] * len(results)
        for j, t in zip(flowing, tangents):
            out[j] = t
        return out

    # --- loops and branches
    def tangent_for(self, op: ir.Op) -> list:
        start, stop, step, *inits = self.xs(op.operands)
        body = op.regions[0]
        n = len(inits)
        flowing = [j for j in range(n) if self.active(body.args[1 + j])]
        block = self.carried_block(body.args, [1 + j for j in flowing])
        with self.b.at(block), self.running_loop(start, stop, step):
            yields = self.propagate(body)
            self.b.op("yield", self.with_tangents(yields, flowing))
        t_inits = [self.t(op.operands[3 + j]) for j in flowing]
        loop = self.keep(self.b.op("for", [start, stop, step] + inits + t_inits, regions=[block]))
        self.primal.update(zip(op.results, loop.results[:n]))
        return self.spread_tangents(op.results, flowing, loop.results[n:])

    def tangent_while(self, op: ir.Op) -> list:
        cond, body = op.regions
        n = len(op.results)
        flowing = [j for j in range(n) if self.active(body.args[j])]
        new_cond = self.carried_block(cond.args, flowing)
        with self.b.at(new_cond):
            self.b.op("yield", self.xs(self.propagate(cond)))
        new_body = self.carried_block(body.args, flowing)
        with self.b.at(new_body):
            self.b.op("yield", self.with_tangents(self.propagate(body), flowing))
        inits = self.xs(op.operands) + [self.t(op.operands[j]) for j in flowing]
        loop = self.keep(self.b.op("while", inits, regions=[new_cond, new_body]))
        self.primal.update(zip(op.results, loop.results[:n]))
        return self.spread_tangents(op.results, flowing, loop.results[n:])

    def tangent_if(self, op: ir.Op) -> list:
        flowing = [j for j, r in enumerate(op.results) if self.active(r)]
        branches = []
        for region in op.regions:
            block = Block()
            with self.b.at(block):
                self.b.op("yield", self.with_tangents(self.propagate(region), flowing))
            branches.append(block)
        types = [r.type for r in op.results]
        new = self.keep(self.b.op("if", [self.x(op.operands[0])], regions=branches,
                                  result_types=types + [types[j] for j in flowing]))
        n = len(op.results)
        self.primal.update(zip(op.results, new.results[:n]))
        return self.spread_tangents(op.results, flowing, new.results[n:])

    # --- comprehensions and reductions
    def tangent_build(self, op: ir.Op) -> list:
        self.clone(op)
        return [self.over_range(op, "build", {}, lambda values, tangents: tangents[0])]

    def tangent_reduce(self, op: ir.Op) -> list:
        self.clone(op)
        kind = op.attrs["kind"]
        if kind == "sum":
            return [self.over_range(op, "reduce", {"kind": "sum"}, lambda values, tangents: tangents[0])]
        best = self.x(op.result)
        if kind == "prod":  # (p, dp) -> (p e, dp e + p de)
            inits = [self.emit("add", self.zeros_like(best), self.const(1.0)), self.zeros_like(best)]

            def step(values, tangents, carried):
                (e,), (de,), (p, dp) = values, tangents, carried
                return [self.emit("mul", p, e),
                        self.emit("add", self.emit("mul", dp, e), self.emit("mul", p, de))]
            return [self.carry_over_range(op, inits, step)[1]]
        # max / min: the tangent of the first element equal to the result
        seen = self.const(False)
        if best.type.rank:
            seen = self.emit("full", seen, *self.dims(best))

        def pick(values, tangents, carried):
            (e,), (de,), (seen, picked) = values, tangents, carried
            hit = self.emit("and", self.is_extreme(e, best), self.emit("not", seen))
            return [self.emit("or", seen, hit), self.emit("select", hit, de, picked)]
        return [self.carry_over_range(op, [seen, self.zeros_like(best)], pick)[1]]

    def replay_element(self, body: Block, i) -> tuple[list, list]:
        """The body of a build or reduce at index i, replayed: its values and tangents."""
        self.primal[body.args[0]] = i
        replaying, self.replaying = self.replaying, True
        yields = self.propagate(body)
        self.replaying = replaying
        return self.xs(yields), [self.t(v) for v in yields]

    def over_range(self, op: ir.Op, opname: str, attrs: dict, element):
        """`opname` (build or reduce) over op's range of element(values, tangents)."""
        block = Block([I64], ["i"])
        with self.b.at(block), self.running_loop(*self.xs(op.operands[:3])):
            values, tangents = self.replay_element(op.regions[0], block.args[0])
            self.b.op("yield", [element(values, tangents)])
        return self.b.op(opname, self.xs(op.operands[:3]), attrs, [block]).result

    def carry_over_range(self, op: ir.Op, inits: list, step) -> list:
        """A `for` over op's range carrying inits through step(values, tangents, carried)."""
        block = Block([I64] + [v.type for v in inits], ["i"] + [None] * len(inits))
        with self.b.at(block), self.running_loop(*self.xs(op.operands[:3])):
            values, tangents = self.replay_element(op.regions[0], block.args[0])
            self.b.op("yield", step(values, tangents, block.args[1:]))
        return self.b.op("for", self.xs(op.operands[:3]) + inits, regions=[block]).results

    # --- calls
    def tangent_call(self, op: ir.Op) -> list:
        callee = self.module.functions[op.attrs["callee"].name]
        active = [k for k in callee.float_positions if self.active(op.operands[k])]
        jvp = self.owner.jvp_function(callee, active)  # honours @tangent
        args = self.xs(op.operands)
        call = self.keep(self.b.op("call", args + [self.t(op.operands[k]) for k in active],
                                   {"callee": Symbol(jvp)}))
        n = len(op.results)
        self.primal.update(zip(op.results, call.results[:n]))
        return call.results[n:]

