"""Loop CSE: a value two loops over the same range both compute, per iteration, is
computed once, by a `build` the two then index; of two equal loops, where the first
comes before the second in its block or in a block around it, the second goes (and the
scalars that then become equal are shared, as the `cse` pass would).

The reverse sweep of a `build` replays its body element by element before running the
element's adjoint, though the sweep has just recomputed the whole build (its replay of
the primal). When that body is costly (GMM's Q·(x - μ), a triangular matrix-vector
product per component), the replay doubles the sweep's work:

    %b = build 0, %k, 1 { ^(%j): ... %q = build ... ; yield f(%q) }
    for 0, %k, 1, ... { ^(%j2, ...): ... %q2 = build ... (the same, at %j2) ; ... }
->
    %s = build 0, %k, 1 { ^(%j3): ... %q3 = build ... ; yield %q3 }
    %b = build 0, %k, 1 { ^(%j): %q = index %s, %j ; yield f(%q) }
    for 0, %k, 1, ... { ^(%j2, ...): %q2 = index %s, %j2 ; ... }

Two loops qualify when they are in the same block, share their range operands and
start at 0 with step 1. A shared value is an op with a region (a loop: cheap ops are
not worth an array) and a scalar or vector result (the saved array has one axis more)
directly in both bodies, with the same ops behind it up to the
induction variable, reading nothing carried, and unable to fail (it then runs earlier
than before, and must not raise where the program did not).
"""

from __future__ import annotations

import ir
from ir.ops import dim_of_value, range_count_dim
from ir.types import ArrayType

from .checks import walk_regions
from .dce import effect_free, eliminate_dead_code, never_fails, operands_within
from .fusion import counts_from_zero, replace_uses
from .simplify import share_scalars

LOOPS = ("build", "reduce", "for")


class LoopCSE:
    name = "loop_cse"

    def apply(self, module: ir.Module) -> ir.Module:
        for fn in module.functions.values():
            merged = False
            # a merge can make the scalars that follow equal, and those the next loops
            while merge_identical(fn.body, fn.body):
                share_scalars(fn.body)
                merged = True
            if share_in(fn.body) or merged:
                eliminate_dead_code(fn.body, effect_free, module)
        return module


def merge_identical(block: ir.Block, root: ir.Block, outer: dict | None = None) -> bool:
    """Plain CSE for ops with regions, which `cse` leaves alone: of two loops that
    compute the same (equal text, the same values from outside), where the first comes
    before the second in its block or in a block around it, the second goes and its uses
    read the first. (LICM leaves one table per use; the dense Hessian's loop over
    columns repeats the argmax search that LICM moved before it.) The first has run
    whenever the second would, with the same operands: it raised any error the second
    could, so only purity matters, not whether they can fail."""
    changed = False
    seen = dict(outer or {})  # outline(op) -> the ops before with that outline
    for op in list(block.ops):
        for region in op.regions:
            changed |= merge_identical(region, root, seen)
        if not op.regions or not op.results:
            continue
        key = outline(op)
        # texts only where outlines agree: each level of nested ifs wrote out all those
        # inside it, quadratic in the depth
        text = op_text(op, {}) if key in seen else None
        first = next((e for e in seen.get(key, ()) if op_text(e, {}) == text), None)
        if first is not None and all_pure(op):  # the same ops, so both pure or neither
            for old, new in zip(op.results, first.results):
                replace_uses(root, old, new)
            block.ops.remove(op)
            changed = True
        elif first is None:
            seen[key] = seen.get(key, ()) + (op,)
    return changed


def outline(op: ir.Op) -> tuple:
    """What two ops of equal op_text (from fresh names) have in common, cheap to compare:
    name, operands (from outside, by identity), attributes, result types, region sizes."""
    return (op.name, tuple(map(id, op.operands)), str(ir.computing_attrs(op)),
            tuple(str(r.type) for r in op.results), tuple(len(r.ops) for r in op.regions))


def all_pure(op: ir.Op) -> bool:
    return ir.REGISTRY[op.name].pure and all(ir.REGISTRY[inner.name].pure
                                             for inner in walk_regions(op))


def share_in(block: ir.Block) -> bool:
    changed = False
    for op in list(block.ops):
        for region in op.regions:
            changed |= share_in(region)
    loops = [op for op in block.ops if counted_from_zero(op)]
    for later_pos, later in enumerate(loops):
        for earlier in loops[:later_pos]:
            if not same_range(earlier, later):
                continue
            while share_one(block, earlier, later):
                changed = True
    return changed


def same_range(a: ir.Op, b: ir.Op) -> bool:
    """Do the two loops' stops agree (the same value, or equal constants)?"""
    stop_a, stop_b = a.operands[1], b.operands[1]
    return stop_a is stop_b or isinstance(dim_of_value(stop_a), int) and \
        dim_of_value(stop_a) == dim_of_value(stop_b)


def counted_from_zero(op: ir.Op) -> bool:
    return op.name in LOOPS and counts_from_zero(op)


def share_one(block: ir.Block, earlier: ir.Op, later: ir.Op) -> bool:
    """Shares the first value of `later`'s body that `earlier`'s body also computes."""
    known = {}
    for op in candidates(earlier):
        known.setdefault(fingerprint(op, earlier.regions[-1]), op)
    for op in candidates(later):
        match = known.get(fingerprint(op, later.regions[-1]))
        if match is not None:
            saved = saved_build(match, earlier)
            block.ops.insert(block.ops.index(earlier), saved)
            read_saved(earlier.regions[-1], match, saved)
            read_saved(later.regions[-1], op, saved)
            return True
    return False


def candidates(loop: ir.Op):
    body = loop.regions[-1]
    carried = set(body.args[1:])
    for op in body.ops:
        if not op.regions or len(op.results) != 1 or op.results[0].type.rank > 1:
            continue
        if ir.DYN in op.results[0].type.shape:  # its size may change with the loop's
            continue  # variable (range(i + 1)): a table of such rows would be ragged
        ops = slice_of(op, body)
        if all(never_fails(inner) for inner in ops) and not carried & reads_of(ops):
            yield op


def slice_of(op: ir.Op, body: ir.Block) -> list:
    """`op` and the ops of `body` it depends on, in program order."""
    needed = operands_within(op)
    ops = [op]
    for inner in reversed(body.ops[:body.ops.index(op)]):
        if any(r in needed for r in inner.results):
            ops.append(inner)
            needed |= operands_within(inner)
    return ops[::-1]


def reads_of(ops: list) -> set:
    reads = set()
    for op in ops:
        reads |= operands_within(op)
    return reads


def fingerprint(op: ir.Op, body: ir.Block) -> str:
    """The slice of `op` as text, its values numbered in order, the induction variable
    named, and values from outside the body by identity: two slices compute the same
    when their fingerprints are equal."""
    names = {body.args[0]: "iv"}
    return "\n".join(op_text(inner, names) for inner in slice_of(op, body))


def op_text(op: ir.Op, names: dict) -> str:
    for r in op.results:
        names[r] = f"v{len(names)}"
    operands = ",".join(names.get(v, f"@{id(v)}") for v in op.operands)
    head = (f"{','.join(names[r] for r in op.results)}={op.name}({operands})"
            f"{ir.computing_attrs(op)}:{[str(r.type) for r in op.results]}")
    parts = [head]
    for region in op.regions:
        for a in region.args:
            names[a] = f"v{len(names)}"
        parts.append("{" + ";".join(op_text(inner, names) for inner in region.ops) + "}")
    return "".join(parts)


def saved_build(op: ir.Op, loop: ir.Op) -> ir.Op:
    """A build over `loop`'s range of `op`'s value, from a copy of its slice."""
    body = loop.regions[-1]
    fresh = ir.Block([ir.I64], [body.args[0].name_hint])
    values = {body.args[0]: fresh.args[0]}
    fresh.ops = [ir.clone.clone_op(inner, values) for inner in slice_of(op, body)]
    fresh.ops.append(ir.Op("yield", [values[op.results[0]]], [], loc=op.loc))
    kind = op.results[0].type
    saved_type = ArrayType(kind.elem, (range_count_dim(loop), *kind.shape))
    return ir.Op("build", loop.operands[:3], [saved_type], regions=[fresh], loc=op.loc)


def read_saved(body: ir.Block, op: ir.Op, saved: ir.Op) -> None:
    """Replaces `op` in `body` by a read of its value from `saved`."""
    read = ir.Op("index", [saved.results[0], body.args[0]], [op.results[0].type],
                 {"inbounds": True}, loc=op.loc, result_names=[op.results[0].name_hint])
    body.ops[body.ops.index(op)] = read
    replace_uses(body, op.results[0], read.results[0])
