"""The IR as a Graphviz graph (`dpc ir --format dot`, then `dot -Tsvg`): each op is a box
labelled with its line of the text format, each parameter and region argument an ellipse,
an edge runs from what defines a value to each op that uses it, and each function and
each region is a cluster inside what holds it. Names are the text format's, so the graph
and `dpc ir` agree."""

from __future__ import annotations

import json

from .core import Block, Function, Op, Value
from .printer import Printer


def quote(text: str) -> str:
    return json.dumps(text)  # a DOT string: quotes and backslashes escaped alike


class DotWriter:
    def __init__(self):
        self.lines = ["digraph dpc {", '  node [shape=box, fontname="monospace"];']
        self.nodes = 0
        self.node_of: dict[Value, str] = {}

    def new_node(self) -> str:
        self.nodes += 1
        return f"n{self.nodes}"

    def function(self, fn: Function) -> None:
        self.printer = Printer()  # value names restart in each function, as in the text
        self.lines.append(f'  subgraph "cluster_{fn.name}" {{')
        self.lines.append(f"    label={quote('func @' + fn.name)};")
        for p in fn.params:
            self.value_node(p, "    ")
        self.block(fn.body, "    ")
        self.lines.append("  }")

    def value_node(self, value: Value, pad: str) -> None:
        node = self.new_node()
        label = f"{self.printer.namer.define(value)}: {value.type}"
        self.lines.append(f"{pad}{node} [label={quote(label)}, shape=ellipse];")
        self.node_of[value] = node

    def block(self, block: Block, pad: str) -> None:
        for op in block.ops:
            self.op(op, pad)

    def op(self, op: Op, pad: str) -> None:
        node = self.new_node()
        sources = [self.node_of[v] for v in op.operands if v in self.node_of]
        self.lines.append(f"{pad}{node} [label={quote(self.printer.head(op))}];")
        for source in dict.fromkeys(sources):  # one edge for a value used twice
            self.lines.append(f"{pad}{source} -> {node};")
        for k, region in enumerate(op.regions):
            self.lines.append(f'{pad}subgraph "cluster_{node}_{k}" {{')
            self.lines.append(f"{pad}  label={quote(f'{op.name}, region {k}')}; style=dashed;")
            for a in region.args:
                self.value_node(a, pad + "  ")
            self.block(region, pad + "  ")
            self.lines.append(f"{pad}}}")
        for r in op.results:
            self.node_of[r] = node

    def text(self) -> str:
        return "\n".join(self.lines + ["}"]) + "\n"


def dot_functions(functions: list[Function]) -> str:
    """The functions as one Graphviz digraph, a cluster each."""
    writer = DotWriter()
    for fn in functions:
        writer.function(fn)
    return writer.text()
