"""The pass manager: named IR-to-IR passes run in order, with the IR verified between
them in debug mode, dumps after chosen passes, and op counts after each.

    manager = PassManager([Scalarize(), Bounds()], verify=True, dump_after={"bounds"})
    module = manager.run(module)
    manager.dumps   # [(pass name, module text)] for the passes asked for
    manager.stats   # [(pass name, op count after it)], starting with ("input", count)

`view` (module -> module) is the part of the module the dumps print and the stats count:
the whole module by default.

A pass is any object with a `name` and `apply(module) -> module`. Debug mode is on when
the environment sets DPC_DEBUG=1 (the test suite does): a pass that breaks an IR rule is
then named in the error, instead of failing somewhere downstream.
"""

from __future__ import annotations

import os

import ir


def debug_mode() -> bool:
    return os.environ.get("DPC_DEBUG", "0") not in ("0", "", "off", "false", "no")


def op_count(module: ir.Module) -> int:
    """Every op of every function, those inside regions included."""
    return sum(1 for fn in module.functions.values() for _ in ir.walk_ops(fn.body))


class PassManager:
    def __init__(self, passes: list, verify: bool | None = None, dump_after=(),
                 view=lambda module: module, locations: bool = False):
        self.passes = list(passes)
        self.view = view
        self.verify = debug_mode() if verify is None else verify
        self.dump_after = set(dump_after)
        self.locations = locations  # the dumps end each op line with its source place
        self.dumps: list[tuple[str, str]] = []
        self.stats: list[tuple[str, int]] = []

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.passes]

    def run(self, module: ir.Module) -> ir.Module:
        self.stats.append(("input", op_count(self.view(module))))
        for p in self.passes:
            module = p.apply(module)
            if self.verify:
                try:
                    ir.verify_module(module)
                except ir.VerifyError as e:
                    raise ir.VerifyError(f"after pass '{p.name}': {e}") from None
            self.stats.append((p.name, op_count(self.view(module))))
            if p.name in self.dump_after or "all" in self.dump_after:
                self.dumps.append((p.name, ir.print_module(self.view(module), self.locations)))
        return module
