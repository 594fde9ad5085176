"""Deep copies of functions and modules: passes transform a copy, so the module the
interpreter runs (the oracle) stays as the front end made it."""

from __future__ import annotations

from .core import Block, Function, Module, Op


def clone_block(block: Block, values: dict) -> Block:
    copy = Block([a.type for a in block.args], [a.name_hint for a in block.args])
    for old, new in zip(block.args, copy.args):
        values[old] = new
    for op in block.ops:
        copy.ops.append(clone_op(op, values))
    return copy


def clone_op(op: Op, values: dict) -> Op:
    regions = [clone_block(r, values) for r in op.regions]
    operands = [values.get(v, v) for v in op.operands]  # values from outside stay shared
    new = Op(op.name, operands, [r.type for r in op.results], dict(op.attrs), regions, op.loc,
             [r.name_hint for r in op.results])
    for old, fresh in zip(op.results, new.results):
        values[old] = fresh
    return new


def clone_function(fn: Function) -> Function:
    return Function(fn.name, clone_block(fn.body, {}), list(fn.return_types), dict(fn.attrs),
                    fn.filename)


def clone_module(module: Module) -> Module:
    return Module({name: clone_function(fn) for name, fn in module.functions.items()})
