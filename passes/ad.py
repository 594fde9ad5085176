"""The AD pass, and reverse mode: `grad`, `value_and_grad` and `vjp` as a source
transformation, IR to IR. (`jvp`, forward mode, is in passes/forward.py; this pass lowers
every derivative form, so the two modes nest in any order.)

For a function `@f` and the positions `wrt` of its parameters, the pass writes a new
function `@f.rev` (`@f.rev.0.2` for other wrt sets): it takes f's parameters and one
cotangent per result, and returns f's results followed by the cotangents of the wrt
parameters. A derivative op becomes a call to it:

    %g = grad %x {callee = @f, wrt = [0]}       %1 = const 1.0 : f64
                                            ->  %2, %g = call %x, %1 {callee = @f.rev}

The body of `@f.rev` is a forward sweep (f's ops, cloned) and then a reverse sweep: each
op, last to first, passes its results' cotangents to its operands by the op's adjoint
rule in the registry. `adjoint` below holds the cotangent accumulated so far for each
value of f; `primal` maps each value of f to the value that holds it where code is being
emitted. Only values that depend on a wrt parameter ("active" ones) get cotangents.

Regions are reversed by replaying them (cheap to recompute) and running their reverse
sweep right after, inside a new region. A `for` loop of a few known trips is unrolled
first (`unrolled`), in the copy of f that is differentiated: it needs no tape.

- `for` and `while`: the forward loop also writes each iteration's carried values into a
  tape, allocated once at the trip count (a `while` loop runs once to count, then again
  to fill it). A reverse loop reads the tape from the last iteration to the first,
  replays the body from those values and runs its reverse sweep, carrying the
  cotangents of the carried values and of the outer values the body uses. A `for`
  loop also tapes its body's costly elementwise results (OpDef.costly) no larger than
  its carried values, and the replay reads them instead of computing them again. A
  `for` loop directly in its body that computes such values, with a range fixed outside
  it and values no larger than the outer loop's carried ones, has its own tapes and
  results recorded too (a tape of tapes): the reverse sweep reads them and does not run
  that inner loop forward again.
- `build` and `reduce`: a loop over the same range; each step replays the body at its
  index with the cotangent of its element.
- `if`: an `if` on the same condition whose branches replay and reverse the taken branch.
- `call`: a call to the callee's own `.rev` function, or to its `@derivative` rule.

Indexing reads become `add_at` into the array's cotangent: O(1) each (in place in native
code), never a one-hot array. The output is left simple and somewhat wasteful (replayed
values nobody needs are removed here; the rest is the optimizer's job).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import ir
from ir import F64, I64, ArrayType, Block, Builder, Function, Symbol
from ir.clone import clone_function, clone_op
from ir.ops import OVERWRITTEN, REPEATED, SUM_LANES_FROM, constant
from ir.registry import REGISTRY
from ir.types import DYN, ZERO

from .dce import eliminate_dead_code, never_fails
from .bounds import prove_repeated
from .emit import DifferentiationError, Emitter, checked_rule_result, mark_checked
from .forward import Tangents, tangent_rule_function
from .unroll import small_to_write_out, unroll

DERIVATIVE_FORMS = ("grad", "value_and_grad", "vjp", "jvp")
# The run-time error of a reverse sweep over such a loop (record_carried); mod.jacobian's
# "auto" mode then runs forward mode, which differentiates it.
SIZE_CHANGING_LOOP = "reverse mode cannot differentiate a loop whose carried array changes size"


class AutoDiff:
    """The pass: replaces every derivative form of the module by a call to a generated
    function: grad / value_and_grad / vjp by one to a `.rev` function (reverse mode,
    below), jvp by one to a `.fwd` function (forward mode, passes/forward.py). A function
    is differentiated only after its own forms are replaced, so they nest in any order."""

    name = "ad"

    def apply(self, module: ir.Module) -> ir.Module:
        self.module = module
        self.lowered: set[str] = set()
        for fn in list(module.functions.values()):
            self.lower_forms(fn)
        for fn in module.functions.values():
            prove_repeated(fn)
        return module

    def lower_forms(self, fn: Function) -> None:
        if fn.name in self.lowered:
            return
        self.lowered.add(fn.name)
        self.lower_block(fn.body, {})

    def lower_block(self, block: Block, subst: dict) -> None:
        old, block.ops = block.ops, []
        b = Builder(self.module, block)
        for op in old:
            op.operands = [subst.get(v, v) for v in op.operands]
            for region in op.regions:
                self.lower_block(region, subst)
            if op.name not in DERIVATIVE_FORMS:
                block.ops.append(op)
                continue
            b.loc = op.loc
            new_results = self.call_jvp(b, op) if op.name == "jvp" else self.call_rev(b, op)
            for old_result, new in zip(op.results, new_results):
                new.name_hint = old_result.name_hint
                subst[old_result] = new

    def call_rev(self, b: Builder, op: ir.Op) -> list:
        callee = self.module.functions[op.attrs["callee"].name]
        n = len(callee.params)
        args, cts = op.operands[:n], op.operands[n:]
        if op.name != "vjp":
            cts = [b.const(1.0)]
        rev = self.rev_function(callee, op.attrs["wrt"])
        call = b.op("call", args + cts, {"callee": Symbol(rev)})
        values = len(callee.return_types)
        return call.results if op.name == "value_and_grad" else call.results[values:]

    def call_jvp(self, b: Builder, op: ir.Op) -> list:
        callee = self.module.functions[op.attrs["callee"].name]
        jvp = self.jvp_function(callee, op.attrs["wrt"])
        return b.op("call", list(op.operands), {"callee": Symbol(jvp)}).results

    def jvp_function(self, fn: Function, wrt: list[int]) -> str:
        """The name of `fn`'s jvp function for `wrt`, written on first use."""
        name = fn.derived_name("fwd", wrt)
        if name not in self.module.functions:
            self.lower_forms(fn)
            if "tangent" in fn.attrs:
                self.module.add(tangent_rule_function(self.module, fn, list(wrt), name))
            else:
                self.module.add(Tangents(self, fn, list(wrt)).run(name))
        return name

    def rev_function(self, fn: Function, wrt: list[int], values: bool = True) -> str:
        """The name of `fn`'s reverse function for `wrt`, written on first use. With
        values=False it is `.bwd`: it returns the cotangents only, for the reverse sweep
        of a caller, which has run fn on the same arguments already (so nothing in it
        needs checking again, and what only the values needed goes)."""
        name = fn.derived_name("rev" if values else "bwd", wrt)
        if name in self.module.functions:
            return name
        self.lower_forms(fn)
        if "derivative" in fn.attrs:
            self.module.add(rule_function(self.module, fn, list(wrt), name, values))
        else:
            self.module.add(Differentiator(self, unrolled(fn), list(wrt)).run(name, values))
        return name


def unrolled(fn: Function) -> Function:
    """A copy of fn whose `for` loops of a few known trips are unrolled (with
    passes/unroll.py's `unroll`), which reverse mode differentiates in fn's place:
    each iteration's values are then SSA values of the forward sweep, not rows of a tape.
    A tape is memory that every iteration of an enclosing loop writes and reads again, so
    that loop runs one element at a time: a Newton iteration mapped over 10^5 values had
    a gradient 27x its primal with 2 steps (2.7x unrolled), and with 20 steps took
    18.8 ms where unrolled it takes 3.4 ms."""
    copy = clone_function(fn)
    unroll(copy.body, small_to_write_out)
    return copy


def reverse_signature(fn: Function) -> Block:
    """The body block of a reverse function of fn: fn's parameters, then one cotangent
    per result."""
    count = len(fn.return_types)
    cts = ["ct"] if count == 1 else [f"ct{k}" for k in range(count)]
    return Block(fn.param_types + fn.return_types, [p.name_hint for p in fn.params] + cts)


def reverse_function(name: str, fn: Function, wrt: list[int], values: bool,
                     body: Block) -> Function:
    """The reverse function made of `body`: it returns fn's results (with values), then
    the cotangents of the wrt parameters."""
    types = list(fn.return_types) if values else []
    return Function(name, body, types + [fn.param_types[k] for k in wrt], filename=fn.filename)


def rule_function(module: ir.Module, fn: Function, wrt: list[int], name: str,
                  values: bool) -> Function:
    """The reverse function of a function with a @derivative rule: its value from fn
    itself, its cotangents from the rule (which returns one per f64 parameter)."""
    body = reverse_signature(fn)
    b = Builder(module, body)
    args = body.args[:len(fn.params)]
    results = b.op("call", args, {"callee": Symbol(fn.name)}).results if values else []
    grads = b.op("call", list(body.args), {"callee": fn.attrs["derivative"]}).results
    # a rule's result of size `?`, or for a parameter of size `?`, is checked here against
    # the parameter it is the cotangent of (other sizes the front end compared with the
    # parameter's), at the rule's return
    rule = fn.attrs["derivative"].name
    b.loc = module.functions[rule].body.ops[-1].loc
    grads = [checked_rule_result(b, g, args[k], f"the cotangent {rule} returns for "
                                 f"{fn.params[k].name_hint}")
             for g, k in zip(grads, fn.float_positions)]
    b.op("return", list(results) + [grads[fn.float_positions.index(k)] for k in wrt])
    return reverse_function(name, fn, wrt, values, body)


@dataclass
class Tape:
    """What the forward loop recorded: its trip count, one tape per carried value (None
    for an array whose element reads are stored instead: element_reads), one per stored
    intermediate value of the body (value of the body -> its tape), and the tapes of the
    loops inside it that it kept whole (NestedTape)."""

    count: ir.Value
    tapes: list
    stored: dict = field(default_factory=dict)
    nested: list = field(default_factory=list)


@dataclass
class NestedTape:
    """A `for` loop inside a taped loop, whose own tapes (`inner`'s Tape: one per
    carried value, then one per stored value) and results the outer loop records at
    each of its iterations, in `outer` (the tapes' rows first, then the results)."""

    inner: ir.Op
    count: ir.Value
    outer: list
    carried: int

    def recorded(self, d: "Differentiator") -> list:
        """The values to record, in the forward loop, after the body's replay."""
        tape = d.tapes[self.inner]
        if len(tape.tapes) + len(tape.stored) != len(self.outer) - self.carried:
            raise AssertionError("the inner loop stored other values than planned")
        return tape.tapes + list(tape.stored.values()) + d.xs(self.inner.results)

    def restore(self, d: "Differentiator", k) -> dict:
        """At iteration k of the reverse sweep: the inner loop's Tape, read from the
        outer tapes, and its results (`given` to the replay, which then skips it)."""
        rows = [d.emit("index", t, k, inbounds=True) for t in self.outer]
        stored = inner_stored_values(self.inner)
        tapes, rest = rows[:self.carried], rows[self.carried:]
        d.tapes[self.inner] = Tape(self.count, tapes, dict(zip(stored, rest[:len(stored)])))
        return dict(zip(self.inner.results, rest[len(stored):]))


def stored_values(body: Block, sizes) -> list:
    """The body's costly elementwise results (OpDef.costly) whose every dimension is one
    of `sizes` (a carried value's): a tape of them costs no more than the carried values'
    tapes, and is filled by a loop that runs whole anyway. The reverse sweep would
    compute them again (an LSTM cell's gates)."""
    return [op.results[0] for op in body.ops[:-1]
            if REGISTRY[op.name].costly and len(op.results) == 1 and op.results[0].type.shape
            and all(d in sizes for d in op.results[0].type.shape)]


def element_reads(body: Block) -> dict:
    """For a `for` loop's body: carried position j -> the body's reads of single
    elements of that carried array, for each array the body does nothing else with but
    update into the value it passes on (y[i] = a * y[i - 1] + x[i]). The reverse sweep
    needs those elements, not the array, so they are taped instead of a copy of the array
    per iteration: n^2 time and memory for a recurrence over n elements."""
    yields = body.ops[-1].operands
    reads = {}
    for j, arg in enumerate(body.args[1:]):
        if arg.type.rank == 0 or yields[j] is arg:
            continue
        found = [op.results[0] for op in body.ops[:-1] if op.name == "index" and
                 op.operands[0] is arg and op.results[0].type.rank == 0]
        if found and only_read_and_updated(body, j, arg, found):
            reads[j] = found
    return reads


def only_read_and_updated(body: Block, j: int, arg, reads: list) -> bool:
    """Whether the body uses `arg` only in `reads` and in one update whose result only
    the yield passes on, as carried value j."""
    updates = [op for op in body.ops[:-1] if op.name == "update" and op.operands[0] is arg
               and op.results[0] is body.ops[-1].operands[j]]
    if len(updates) != 1:
        return False
    allowed = {id(r.owner) for r in reads} | {id(updates[0])}
    updated = updates[0].results[0]
    for op in body.ops:
        inner = ir.uses_within(op)
        if arg in inner or updated in inner:
            return False
        if id(op) not in allowed and arg in op.operands:
            return False
        if op is not body.ops[-1] and updated in op.operands:
            return False
    if updates[0].operands[1] is arg or arg in updates[0].operands[2:]:
        return False
    return body.ops[-1].operands.count(updated) == 1


def inner_stored_values(loop: ir.Op) -> list:
    """The values forward_for will store for `loop`: stored_values by the dimensions of
    its initial values, as forward_for finds them."""
    dims = {d for v in loop.operands[3:] for d in v.type.shape if d != DYN}
    return stored_values(loop.regions[0], dims)


class Differentiator(Emitter):
    """Writes the reverse function of one function. Its methods are the interface the
    adjoint rules of ir/ops.py use (`x`, `emit`, `times`, `add_at`, `reverse_for`, ...)."""

    def __init__(self, owner: AutoDiff, fn: Function, wrt: list[int]):
        super().__init__(owner.module, fn, wrt)
        self.owner = owner
        self.adjoint: dict = {}  # value of fn -> its cotangent so far
        self.tapes: dict = {}  # loop op of fn -> Tape of its latest forward run
        self.outer_cache: dict = {}  # for ir.outer_uses of fn's blocks
        self.kept: set = set()  # ids of the primal ops: they keep their run-time checks
        self.in_primal = False  # emitting the forward sweep of the function itself
        self.counting = False  # emitting a while loop that only counts its iterations
        self.deferred: dict = {}  # id of an element read -> the value its cotangent goes to

    # --- the function
    def run(self, name: str, values: bool = True) -> Function:
        fn = self.fn
        body = reverse_signature(fn)
        self.b.block = body
        params, ct_args = body.args[:len(fn.params)], body.args[len(fn.params):]
        self.primal.update(zip(fn.params, params))
        self.in_primal = values  # without values, the forward sweep is a replay
        for op in fn.body.ops[:-1]:
            self.forward(op)
        self.in_primal = False
        returned = fn.body.ops[-1].operands
        results = self.xs(returned) if values else []
        saved, self.b.loc = self.b.loc, fn.body.ops[-1].loc  # the checks point at the return
        for v, ct in zip(returned, ct_args):
            self.check_cotangent_size(v, ct)
        self.b.loc = saved
        for v, ct in zip(returned, ct_args):
            self.accumulate(v, ct)
        for op in reversed(fn.body.ops[:-1]):
            self.reverse(op)
        grads = [self.adjoint_value(fn.params[k]) for k in self.wrt]
        for g, k in zip(grads, self.wrt):
            if g.name_hint is None:
                g.name_hint = f"{fn.params[k].name_hint}_bar"
        with self.b.located(fn.body.ops[-1].loc):
            self.b.op("return", results + grads)
        eliminate_dead_code(body, self.removable, self.module)
        return reverse_function(name, fn, self.wrt, values, body)

    def check_cotangent_size(self, result, ct) -> None:
        """A result of data-dependent size (`?`) meets its cotangent, whose size only the
        caller knew: they must agree, or the reverse sweep reads past the end of one."""
        for axis, d in enumerate(getattr(ct.type, "shape", ())):
            if d == DYN:
                self.b.size_check(ct, axis, self.emit("dim", self.x(result), axis=axis),
                                  f"the cotangent {ct.name_hint} must have the size of the "
                                  f"result, axis {axis}")

    def removable(self, op: ir.Op) -> bool:
        """Replayed and adjoint ops may go when unused; a primal op only if it cannot
        fail, so the gradient raises every error the function raises."""
        return REGISTRY[op.name].pure and (id(op) not in self.kept or never_fails(op))

    # --- the interface of adjoint rules
    def add_at(self, array, ct, indices: list) -> None:
        """Adds ct into the cotangent of `array` (a value of fn) at `indices`."""
        if not self.active(array) or ct is None:
            return
        target = self.adjoint_value(array)
        self.adjoint[array] = self.emit("add_at", target, ct, *indices, inbounds=REPEATED)

    def add_at_first(self, array, result, ct, axis) -> None:
        """max / min over `axis` (None: all): ct goes to the first element, in row-major
        order, equal to the result."""
        if not self.active(array):
            return
        a = self.x(array)
        firsts = self.first_extreme(a, self.x(result), axis)
        if axis is None:
            self.add_at(array, ct, firsts)
            return
        zero = self.const(0.0)

        def element(idx):
            others = idx[:axis] + idx[axis + 1:]
            wins = self.emit("eq", idx[axis], self.at(firsts, others))
            return self.emit("select", wins, self.at(ct, others), zero)
        self.accumulate(array, self.nest(self.dims(a), element))

    # --- accumulation
    def accumulate(self, v, ct) -> None:
        if ct is None or not self.active(v):
            return
        ct = self.fit(ct, v.type)
        old = self.adjoint.get(v)
        self.adjoint[v] = ct if old is None else self.emit("add", old, ct)

    def fit(self, ct, t):
        """ct summed over the axes that broadcasting added to a value of type t."""
        while ct.type.rank > t.rank:
            ct = self.emit("reduce_sum", ct, axis=0)
        for axis, (d, e) in enumerate(zip(t.shape, ct.type.shape)):
            if d == 1 and e != 1:
                ct = self.insert_axis(self.emit("reduce_sum", ct, axis=axis), axis)
        if ct.type != t:
            if any(d != e and DYN not in (d, e) for d, e in zip(ct.type.shape, t.shape)):
                # f64[3] for an f64[n] passed to a parameter f64[3]: the call's argument
                # check made n 3, which no type says; the casts check it again
                ct = self.emit("shape_cast", ct, type=ArrayType(t.elem, (DYN,) * t.rank))
            ct = self.emit("shape_cast", ct, type=t)
        return ct

    def insert_axis(self, value, axis: int):
        """value with a new axis of size 1 at `axis`."""
        if axis == 0:
            return self.nest([self.const(1)], lambda idx: value)
        return self.nest([self.emit("dim", value, axis=0)], lambda idx: self.insert_axis(
            self.emit("index", value, idx[0], inbounds=True), axis - 1))

    def adjoint_value(self, v):
        """The cotangent of v so far, zeros when nothing reached it yet."""
        if v not in self.adjoint:
            self.adjoint[v] = self.zeros_like(self.x(v))
        return self.adjoint[v]

    # --- forward and reverse sweeps
    def forward(self, op: ir.Op) -> None:
        # a loop inside a while loop that counts runs as it is: its tapes are made when
        # the iterations run again (taped there, each while's loops were made twice, and
        # nested whiles 2**depth times)
        if op.name in ("for", "while") and not self.counting and \
                any(self.active(r) for r in op.results):
            with self.b.located(op.loc):  # its trip count fails where the loop is
                getattr(self, "forward_" + op.name)(op)
            return
        new = clone_op(op, self.primal)
        self.b.block.ops.append(new)
        self.keep_checks(new)
        if not self.in_primal:
            mark_checked(new)

    def keep_checks(self, op: ir.Op) -> None:
        if self.in_primal:
            self.kept.add(id(op))
            self.kept.update(id(inner) for inner in ir.ops_within(op))

    def reverse(self, op: ir.Op) -> None:
        if id(op) in self.deferred:  # reversed after its loop (threaded_loop)
            self.accumulate(self.deferred[id(op)], self.adjoint.pop(op.results[0], None))
            return
        cts = [self.adjoint.pop(r, None) for r in op.results]
        if all(ct is None for ct in cts):
            return
        rule = REGISTRY[op.name].adjoint
        if rule is None:
            raise DifferentiationError(f"cannot differentiate through '{op.name}' in "
                                       f"'{self.fn.name}': it has no reverse-mode rule", op.loc)
        with self.b.located(op.loc):
            for v, ct in zip(op.operands, rule(self, op, cts)):
                self.accumulate(v, ct)

    def replay(self, block: Block, args: list, given: dict | None = None) -> list:
        """Emits `block`'s ops with its arguments bound to `args`, and the results in
        `given` (read from a tape) bound to those values instead of recomputed; returns
        its yields."""
        self.primal.update(zip(block.args, args))
        given = given or {}
        for op in block.ops[:-1]:
            if op.results and all(r in given for r in op.results):
                self.primal.update((r, given[r]) for r in op.results)
                continue
            self.forward(op)
        return self.xs(block.ops[-1].operands)

    def backprop(self, block: Block, yield_cts: list) -> list:
        """The reverse sweep of a replayed block; returns its arguments' cotangents."""
        for v, ct in zip(block.ops[-1].operands, yield_cts):
            self.accumulate(v, ct)
        for op in reversed(block.ops[:-1]):
            self.reverse(op)
        return [self.adjoint.pop(a, None) for a in block.args]

    def free_values(self, block: Block) -> list:
        """The active values that `block` (or a region in it) uses but does not define:
        the outer values whose cotangents its reverse sweep adds to."""
        return [v for v in ir.outer_uses(block, self.outer_cache) if self.active(v)]

    def needless_in_reverse(self, block: Block) -> set:
        """The ids of the ifs in `block` whose results only its yield uses. A reverse
        branch needs none of their values (their own reverse replays their branches), and
        replaying them there too copied each nested if once per level above it: n^2 ops
        for an elif chain of n arms."""
        used = set()
        for op in block.ops[:-1]:
            used.update(op.operands)
            for region in op.regions:
                used.update(ir.outer_uses(region, self.outer_cache))
        return {id(op) for op in block.ops[:-1]
                if op.name == "if" and not any(r in used for r in op.results)}

    def threaded_loop(self, count, inits: list, free: list, body, block: Block) -> list:
        """`for k in range(count)` carrying `inits` and the cotangents of `free`;
        body(k, carried) emits one step of `block` and returns the next carried values.
        Afterwards the cotangents of `free` are the loop's; returns the rest of its results.

        A scalar's cotangent is not carried from step to step: each step stores its part
        in an array of `count`, and reduce_sum adds the parts after the loop. Carried, the
        sum was a chain of dependent adds, one per step, which kept the loop from running
        in vector lanes (reduce_sum adds in lanes); the order of a cotangent's terms is
        reverse mode's to choose, as JAX's transpose of a broadcast is a sum. So too for
        an element read at the same place by every step (`x[i]` in a loop over j): its
        add into x's cotangent, a chain through memory in the loop, happens once after it."""
        reads = self.invariant_reads(block, count)
        summed = [v for v in free if self.summed_in_parts(v, count)] + list(reads)
        threaded = [v for v in free if v not in summed]
        before = {v: self.adjoint.pop(v, None) for v in summed}
        zero = self.const(0.0)
        carried = (inits + [self.adjoint_value(v) for v in threaded]
                   + [self.emit("full", zero, count) for _ in summed])
        loop_block = Block([I64] + [c.type for c in carried],
                           ["k"] + [c.name_hint for c in carried])
        k, *args = loop_block.args
        own, parts = args[:len(inits) + len(threaded)], args[len(inits) + len(threaded):]
        self.deferred.update((id(op), key) for key, ops in reads.items() for op in ops)
        first, stride = self.const(0), self.const(1)
        with self.b.at(loop_block), self.running_loop(first, count, stride):
            self.adjoint.update(zip(threaded, own[len(inits):]))
            out = body(k, own[:len(inits)])
            stored = [self.emit("update", p, self.adjoint.pop(v, None) or zero, k, inbounds=True)
                      for v, p in zip(summed, parts)]
            self.b.op("yield", out + [self.adjoint[v] for v in threaded] + stored)
        for ops in reads.values():
            for op in ops:
                del self.deferred[id(op)]
        loop = self.b.op("for", [first, count, stride] + carried, regions=[loop_block])
        results = loop.results[len(inits):]
        self.adjoint.update(zip(threaded, results))
        for v, p in zip(summed, results[len(threaded):]):
            self.adjoint[v] = before[v]
            self.accumulate(v, self.emit("reduce_sum", p))
        for key in reads:
            self.reverse_if_ran(count, key.defining_op)
        return loop.results[:len(inits)]

    def invariant_reads(self, block: Block, count) -> dict:
        """The scalar element reads of `block` (not in its regions) whose array and
        indices come from outside it, as {the first one's result: all reads of that
        element}, when the loop may be long enough for summing in parts."""
        inside = set(block.args) | {r for op in block.ops for r in op.results}
        reads: dict = {}
        for op in block.ops[:-1]:
            if (op.name == "index" and op.results[0].type == F64 and self.active(op.results[0])
                    and self.summed_in_parts(op.results[0], count)
                    and not any(v in inside for v in op.operands)):
                reads.setdefault(tuple(op.operands), []).append(op)
        return {ops[0].results[0]: ops for ops in reads.values()}

    def reverse_if_ran(self, count, op: ir.Op) -> None:
        """The reverse of `op`, an element read of a loop of `count` steps, with the
        cotangent of its result, under `if count > 0`: with no step, its index was never
        checked (and adding even a zero would turn a -0.0 there into 0.0)."""
        free = [v for v in op.operands if self.active(v)]
        incoming = [self.adjoint_value(v) for v in free]
        ran, skipped = Block(), Block()
        with self.b.at(ran):
            self.reverse(op)
            self.b.op("yield", [self.adjoint[v] for v in free])
        with self.b.at(skipped):
            self.b.op("yield", incoming)
        some = self.emit("gt", count, self.const(0))
        new = self.b.op("if", [some], regions=[ran, skipped],
                        result_types=[v.type for v in incoming])
        self.adjoint.update(zip(free, new.results))

    @staticmethod
    def summed_in_parts(v, count) -> bool:
        """Whether threaded_loop sums v's cotangent in parts: a float scalar, over a loop
        not known to be too short for reduce_sum's lanes (SUM_LANES_FROM), where the array
        and its sum would cost more than the chain."""
        known = constant(count)
        return v.type == F64 and (known is None or known >= SUM_LANES_FROM)

    # --- loops
    def new_tape(self, count, init, row_type):
        """An array of `count` rows shaped like `init`, typed to hold any `row_type`."""
        tape = self.tape_of(count, init.type.elem, self.dims(init), init.name_hint)
        wanted = ArrayType(init.type.elem, (DYN, *row_type.shape))
        if tape.type != wanted:
            tape = self.emit("shape_cast", tape, type=wanted)
        return tape

    def tape_row(self, count, k):
        """The row of a tape that iteration k of `count` writes: the last iteration's
        values are row 0, so that the reverse sweep reads the rows in increasing order.
        (Read from the last row to the first, each reverse step's loops over a row had
        LLVM's run-time overlap checks, hoisted out of the step loop, fail for its
        negative stride, and ran unvectorized.)"""
        return self.emit("sub", self.emit("sub", count, self.const(1)), k)

    def record(self, tape, value, k):
        """The tape with `value` stored as row k. (A tape that nothing reads goes, and
        with it the store.)"""
        return self.emit("update", tape, value, k, inbounds=True)

    def record_row(self, tape, value, k):
        """record, of a value whose type may give a size as `?` where the tape's rows
        have a literal, or the other way round: an inner loop's tape of range(1) is
        f64[?, n] (new_tape), the outer tape that keeps it f64[s, 1, n]."""
        row = ArrayType(tape.type.elem, tape.type.shape[1:]) if tape.type.rank > 1 \
            else tape.type.elem
        if value.type != row:
            value = self.emit("shape_cast", value, type=row)
        return self.record(tape, value, k)

    def record_carried(self, tape, value, k):
        """record, of a value the loop carries. An array of `?` size may change size
        from one iteration to the next, and the tape's rows have the first one's: the
        store then fails, saying that this is what reverse mode cannot do (not that a
        row the program never stored does not fit)."""
        if DYN not in getattr(value.type, "shape", ()):
            return self.record(tape, value, k)
        which = f"'{value.name_hint}'" if value.name_hint else "one"
        message = f"{SIZE_CHANGING_LOOP}: {which} did"
        return self.emit("update", tape, value, k, inbounds=True, message=message)

    def forward_for(self, op: ir.Op) -> None:
        start, stop, step, *inits = self.xs(op.operands)
        body = op.regions[0]
        count = self.trip_count(start, stop, step)
        reads = element_reads(body)  # taped instead of their arrays
        whole = [j for j in range(len(inits)) if j not in reads]
        tapes = [self.new_tape(count, inits[j], body.args[1 + j].type) for j in whole]
        sizes = self.carried_sizes(inits)
        # the reverse sweep reads these from tapes
        kept = stored_values(body, sizes) + [v for j in sorted(reads) for v in reads[j]]
        tapes += [self.tape_of(count, v.type.elem, self.size_values(sizes, v.type.shape), v.name_hint)
                  for v in kept]
        nested = self.nested_tapes(op, sizes, count)
        tapes += [tape for plan in nested for tape in plan.outer]
        new = Block([a.type for a in body.args] + [t.type for t in tapes],
                    [a.name_hint for a in body.args] + [t.name_hint for t in tapes])
        n, m = len(inits), len(whole)
        i, carried, tape_args = new.args[0], new.args[1:n + 1], new.args[n + 1:]
        with self.b.at(new):
            row = self.tape_row(count, self.iteration(i, start, step))
            stored = [self.record_carried(t, carried[j], row) for t, j in zip(tape_args, whole)]
            yields = self.replay(body, [i] + carried)
            stored += [self.record(t, self.x(v), row) for t, v in zip(tape_args[m:], kept)]
            rest = iter(tape_args[m + len(kept):])
            for plan in nested:
                stored += [self.record_row(next(rest), v, row) for v in plan.recorded(self)]
            self.b.op("yield", yields + stored)
        loop = self.b.op("for", [start, stop, step] + inits + tapes, regions=[new])
        if self.in_primal:  # the loop itself keeps its checks; its tapes may go
            self.kept.add(id(loop))
        self.primal.update(zip(op.results, loop.results[:n]))
        outer = iter(loop.results[n + m + len(kept):])
        for plan in nested:
            plan.outer = [next(outer) for _ in plan.outer]
        carried_tapes = [None] * n  # None: the reverse sweep reads its elements' tapes
        for j, t in zip(whole, loop.results[n:n + m]):
            carried_tapes[j] = t
        self.tapes[op] = Tape(count, carried_tapes,
                              dict(zip(kept, loop.results[n + m:])), nested)

    def nested_tapes(self, loop: ir.Op, sizes: dict, count) -> list:
        """For each `for` loop directly in `loop`'s body, whose range is fixed outside it, that
        computes costly values (stored_values), and whose carried and stored values' sizes
        are the carried values' of the loop around (an LSTM's loop over layers inside its
        loop over time): tapes, allocated here, that keep that inner loop's own tapes and
        results from every iteration, so that the reverse sweep reads them instead of
        running the inner loop again."""
        inside = ir.defined_within(loop)
        plans = []
        for inner in loop.regions[0].ops[:-1]:
            bounds = inner.operands[:3]
            if inner.name != "for" or any(v in inside and constant(v) is None for v in bounds):
                continue
            if not any(self.active(r) for r in inner.results):  # replayed as it is, no tapes
                continue
            if element_reads(inner.regions[0]):  # its Tape has no tape of some carried value
                continue
            carried = [a.type for a in inner.regions[0].args[1:]]
            stored = [v.type for v in inner_stored_values(inner)]
            shapes = [t.shape for t in carried + stored]
            # only where the replay would compute costly values again: a cheap inner
            # loop (llsq's polynomial) is faster replayed than read from a larger tape
            if not stored or not all(d in sizes for shape in shapes for d in shape):
                continue
            inner_count = self.trip_count(*[self.const(constant(v)) if v in inside else self.x(v)
                                            for v in bounds])
            rows = [self.tape_of(count, t.elem, [inner_count] + self.size_values(sizes, t.shape))
                    for t in carried + stored]
            results = [self.tape_of(count, t.elem, self.size_values(sizes, t.shape))
                       for t in carried]
            plans.append(NestedTape(inner, inner_count, rows + results, len(carried)))
        return plans

    def carried_sizes(self, inits: list) -> dict:
        """Each dimension of a carried value: a literal, or (carried value, axis)."""
        sizes = {}
        for v in inits:
            for axis, d in enumerate(v.type.shape):
                if d != DYN:
                    sizes.setdefault(d, d if isinstance(d, int) else (v, axis))
        return sizes

    def size_values(self, sizes: dict, shape) -> list:
        """The sizes of `shape` as values: constants, or `dim`s of carried values."""
        return [self.const(sizes[d]) if isinstance(sizes[d], int)
                else self.emit("dim", sizes[d][0], axis=sizes[d][1]) for d in shape]

    def tape_of(self, count, elem, dims, name: str | None = None):
        """`count` rows of element type `elem`, each of size `dims`, left unfilled: the
        forward loop stores every row before the reverse loop reads it (OVERWRITTEN)."""
        tape = self.emit("full", self.const(ZERO[elem]), count, *dims, **{OVERWRITTEN: True})
        tape.name_hint = f"{name}_tape" if name else "tape"
        return tape

    def forward_while(self, op: ir.Op) -> None:
        """The loop itself, counting its iterations; then the same iterations again as a
        `for` loop that fills tapes allocated once at that count. (A tape grown inside
        the loop would be a carried value that changes shape, which a second reverse
        mode, as in grad(grad(f)), could not tape in turn.)"""
        inits = self.xs(op.operands)
        cond, body = op.regions
        n = len(inits)
        types = [a.type for a in body.args] + [I64]
        names = [a.name_hint for a in body.args] + ["count"]
        new_cond, new_body = Block(types, names), Block(types, names)
        counting, self.counting = self.counting, True
        with self.b.at(new_cond):
            self.b.op("yield", self.replay(cond, new_cond.args[:n]))
        with self.b.at(new_body):
            yields = self.replay(body, new_body.args[:n])
            self.b.op("yield", yields + [self.emit("add", new_body.args[n], self.const(1))])
        self.counting = counting
        loop = self.b.op("while", inits + [self.const(0)], regions=[new_cond, new_body])
        if self.in_primal:
            self.kept.add(id(loop))
        self.primal.update(zip(op.results, loop.results[:n]))
        count = loop.results[n]
        tapes = [self.new_tape(count, v, a.type) for v, a in zip(inits, body.args)]
        block = Block([I64] + types[:n] + [t.type for t in tapes],
                      ["k"] + names[:n] + [t.name_hint for t in tapes])
        k, carried, tape_args = block.args[0], block.args[1:n + 1], block.args[n + 1:]
        in_primal, self.in_primal = self.in_primal, False  # a replay of the loop above
        counting, self.counting = self.counting, False
        with self.b.at(block):
            row = self.tape_row(count, k)
            stored = [self.record_carried(t, c, row) for t, c in zip(tape_args, carried)]
            self.b.op("yield", self.replay(body, carried) + stored)
        self.in_primal, self.counting = in_primal, counting
        refill = self.b.op("for", [self.const(0), count, self.const(1)] + inits + tapes,
                           regions=[block])
        self.tapes[op] = Tape(count, refill.results[n:])

    def reverse_loop(self, op: ir.Op, cts: list, lead: int, positions) -> list:
        """The reverse of a taped `for` (lead 1) or `while` (lead 0) loop: returns the
        cotangents of the loop's initial values."""
        body = op.regions[-1]
        tape = self.tapes[op]
        n = len(op.results)
        flowing = [j for j in range(n) if self.active(body.args[lead + j])]
        inits = [cts[j] if cts[j] is not None else self.zeros_like(self.x(op.results[j]))
                 for j in flowing]

        # an array whose elements are taped (element_reads) stands for itself by its
        # initial value: the replay reads its elements from their tapes, and only needs
        # its size, which its update keeps
        inits_of = op.operands[3:] if op.name == "for" else op.operands

        def step(r, carried):  # r counts the iterations back from the last, k forward
            k = self.tape_row(tape.count, r)
            rows = [self.emit("index", t, r, inbounds=True) if t is not None else self.x(v)
                    for t, v in zip(tape.tapes, inits_of)]
            yield_cts = [None] * n
            for j, ct in zip(flowing, carried):
                yield_cts[j] = ct
            given = {v: self.emit("index", t, r, inbounds=True) for v, t in tape.stored.items()}
            for plan in tape.nested:
                given.update(plan.restore(self, r))
            self.replay(body, positions(k) + rows, given)
            arg_cts = self.backprop(body, yield_cts)[lead:]
            return [arg_cts[j] if arg_cts[j] is not None else self.zeros_like(rows[j])
                    for j in flowing]
        results = self.threaded_loop(tape.count, inits, self.free_values(body), step, body)
        out = [None] * n
        for j, r in zip(flowing, results):
            out[j] = r
        return out

    def reverse_for(self, op: ir.Op, cts: list) -> list:
        start, _, step = self.xs(op.operands[:3])
        out = self.reverse_loop(op, cts, 1, lambda k: [self.position(k, start, step)])
        return [None, None, None] + out

    def reverse_while(self, op: ir.Op, cts: list) -> list:
        return self.reverse_loop(op, cts, 0, lambda k: [])

    # --- comprehensions and reductions
    def reverse_build(self, op: ir.Op, cts: list) -> list:
        (ct,) = cts
        self.reverse_range(op, [], lambda k, values, carried: (
            self.emit("index", ct, k, inbounds=True), [], None))
        return [None, None, None]

    def reverse_reduce(self, op: ir.Op, cts: list) -> list:
        (ct,) = cts
        kind = op.attrs["kind"]
        if kind == "sum":
            self.reverse_range(op, [], lambda k, values, carried: (ct, [], None))
        elif kind in ("max", "min"):
            self.reverse_pick(op, ct)
        else:
            self.reverse_prod(op, ct)
        return [None, None, None]

    def reverse_range(self, op: ir.Op, inits: list, element_ct) -> list:
        """A loop over the range of a build or reduce: each step replays the body at its
        index and runs its reverse sweep with the element's cotangent, where
        element_ct(k, yielded values, carried) -> (ct, next carried, condition or None)
        says (with a condition: only where it holds)."""
        start, stop, step = self.xs(op.operands[:3])
        body = op.regions[0]
        free = self.free_values(body)
        if not free:
            return inits

        def one(k, carried):
            values = self.replay(body, [self.position(k, start, step)])
            ct, out, condition = element_ct(k, values, carried)
            if condition is None:
                self.backprop(body, [ct])
            else:
                self.backprop_if(condition, body, [ct], free)
            return out
        return self.threaded_loop(self.trip_count(start, stop, step), inits, free, one, body)

    def reverse_pick(self, op: ir.Op, ct) -> None:
        """max / min: the cotangent goes to the first element equal to the result (per
        position, for array elements). For scalars only that element's reverse sweep
        runs, under an `if`: the others contribute nothing, not even 0 * inf."""
        if op.result.type.rank == 0:
            self.reverse_pick_scalar(op, ct)
            return
        best = self.x(op.result)
        done = self.emit("full", self.const(False), *self.dims(best))

        def element_ct(k, values, carried):
            (seen,) = carried
            hit = self.emit("and", self.is_extreme(values[0], best), self.emit("not", seen))
            seen = self.emit("or", seen, hit)
            return self.emit("select", hit, ct, self.const(0.0)), [seen], None
        self.reverse_range(op, [done], element_ct)

    def reverse_pick_scalar(self, op: ir.Op, ct) -> None:
        """One pass over the elements finds the extreme (as the reduction computes it,
        NaN included), the position of the first element that beats all before it (a NaN
        beats any number), and that element; the reverse sweep of that one element runs
        where it is the extreme (the first NaN, when there is one). The reduction's own value is not read, so its replay
        goes: each element is evaluated once here, not once to replay the reduction and
        again to find the first equal one."""
        start, stop, step = self.xs(op.operands[:3])
        body = op.regions[0]
        free = self.free_values(body)
        if not free:
            return
        # e beats the extreme so far where it is not on the extreme's side of it (so also
        # where e is NaN) and the extreme is not NaN: the first NaN wins and stays
        not_beaten, combine = ("ge", "minimum") if op.attrs["kind"] == "min" else ("le", "maximum")
        block = Block([I64, F64, I64, F64], ["k", "extreme", "at", "picked"])
        k, extreme, at, picked = block.args
        with self.b.at(block):
            (e,) = self.replay(body, [self.position(k, start, step)])
            first = self.emit("eq", k, self.const(0))
            beats = self.emit("and", self.emit("not", self.emit(not_beaten, e, extreme)),
                              self.emit("eq", extreme, extreme))
            wins = self.emit("or", first, beats)
            self.b.op("yield", [self.emit("select", first, e, self.emit(combine, extreme, e)),
                                self.emit("select", wins, k, at),
                                self.emit("select", wins, e, picked)])
        zero = self.const(0.0)
        loop = self.b.op("for", [self.const(0), self.trip_count(start, stop, step), self.const(1),
                                 zero, self.const(0), zero], regions=[block])
        extreme, at, picked = loop.results
        for v in free:
            self.adjoint_value(v)
        self.replay(body, [self.position(at, start, step)])
        self.backprop_if(self.is_extreme(picked, extreme), body, [ct], free)

    def backprop_if(self, cond, block: Block, cts: list, free: list) -> None:
        """The reverse sweep of a replayed block, run only where cond holds."""
        incoming = [self.adjoint[v] for v in free]
        taken, skipped = Block(), Block()
        with self.b.at(taken):
            self.backprop(block, cts)
            self.b.op("yield", [self.adjoint[v] for v in free])
        with self.b.at(skipped):
            self.b.op("yield", incoming)
        new = self.b.op("if", [cond], regions=[taken, skipped],
                        result_types=[v.type for v in incoming])
        self.adjoint.update(zip(free, new.results))

    def reverse_prod(self, op: ir.Op, ct) -> None:
        """prod: ct times the product of the other elements. The elements are replayed
        into an array once, for the scans of Emitter.products_of_others."""
        start, stop, step = self.xs(op.operands[:3])
        body = op.regions[0]
        elements = self.nest([self.trip_count(start, stop, step)], lambda k: self.replay(
            body, [self.position(k[0], start, step)])[0])
        others = self.products_of_others(elements, 0)
        self.reverse_range(op, [], lambda k, values, carried: (
            self.emit("mul", ct, self.emit("index", others, k, inbounds=True)), [], None))

    # --- branches and calls
    def reverse_if(self, op: ir.Op, cts: list) -> list:
        free = self.free_values(op.regions[0])
        free += [v for v in self.free_values(op.regions[1]) if v not in free]
        if not free:
            return [None]
        # a scalar nothing has reached yet gets its first cotangent in a branch as it is,
        # not added to a zero: 0.0 + ct is not ct (for -0.0), so nothing would remove
        # the add, and in a loop the sum chains each step to the one before
        incoming = [self.adjoint.get(v) if v.type.rank == 0 else self.adjoint_value(v)
                    for v in free]
        branches = []
        for region in op.regions:
            block = Block()
            with self.b.at(block):
                for v, ct in zip(free, incoming):
                    self.adjoint.pop(v, None)
                    if ct is not None:
                        self.adjoint[v] = ct
                needless = self.needless_in_reverse(region)
                for inner in region.ops[:-1]:
                    if id(inner) not in needless:
                        self.forward(inner)
                self.backprop(region, cts)
                self.b.op("yield", [self.adjoint_value(v) for v in free])
            branches.append(block)
        new = self.b.op("if", [self.x(op.operands[0])], regions=branches,
                        result_types=[self.x(v).type for v in free])
        self.adjoint.update(zip(free, new.results))
        return [None]

    def reverse_call(self, op: ir.Op, cts: list) -> list:
        callee = self.module.functions[op.attrs["callee"].name]
        args = self.xs(op.operands)
        cts = [ct if ct is not None else self.zeros_like(self.x(r)) for ct, r in zip(cts, op.results)]
        floats = callee.float_positions
        bwd = self.owner.rev_function(callee, floats, values=False)  # honours @derivative
        grads = self.b.op("call", args + cts, {"callee": Symbol(bwd)}).results
        out = [None] * len(args)
        for k, g in zip(floats, grads):
            out[k] = g
        return out
