"""`dpc ir --format dot`: the IR as a Graphviz graph, named as in the text format."""

import pytest

from compiler import compile_source
from compiler.cli import main

SQUARES = "def f(x: f64[n]) -> f64[n]:\n    return [x[i] * x[i] for i in range(n)]\n"


def test_a_function_with_a_region():
    mod = compile_source(SQUARES, backend="interp")
    assert mod.ir("f", format="dot") == """\
digraph dpc {
  node [shape=box, fontname="monospace"];
  subgraph "cluster_f" {
    label="func @f";
    n1 [label="%x: f64[n]", shape=ellipse];
    n2 [label="%n = dim %x {axis = 0} : i64"];
    n1 -> n2;
    n3 [label="%0 = const 0 : i64"];
    n4 [label="%1 = const 1 : i64"];
    n5 [label="%2 = build %0, %n, %1 : f64[n]"];
    n3 -> n5;
    n2 -> n5;
    n4 -> n5;
    subgraph "cluster_n5_0" {
      label="build, region 0"; style=dashed;
      n6 [label="%i: i64", shape=ellipse];
      n7 [label="%3 = index %x, %i : f64"];
      n1 -> n7;
      n6 -> n7;
      n8 [label="%4 = index %x, %i : f64"];
      n1 -> n8;
      n6 -> n8;
      n9 [label="%5 = mul %3, %4 : f64"];
      n7 -> n9;
      n8 -> n9;
      n10 [label="yield %5"];
      n9 -> n10;
    }
    n11 [label="return %2"];
    n5 -> n11;
  }
}
"""


def test_quotes_in_labels_are_escaped_and_a_value_used_twice_is_one_edge():
    mod = compile_source("def g(x: f64[n]) -> f64:\n    y = sum(x)\n    return y * y\n",
                         backend="interp")
    lines = mod.ir("g", stage="scalar", format="dot").splitlines()
    assert '    n5 [label="%y = reduce %1, %0, %2 {kind = \\"sum\\"} : f64"];' in lines
    assert lines[-6:] == ['    n9 [label="%4 = mul %y, %y : f64"];', "    n5 -> n9;",
                          '    n10 [label="return %4"];', "    n9 -> n10;", "  }", "}"]


def test_only_ir_stages_are_drawn(tmp_path, capsys):
    path = tmp_path / "sq.dp"
    path.write_text(SQUARES)
    assert main(["ir", str(path), "--stage", "asm", "--format", "dot"]) == 1
    assert capsys.readouterr().err == ("dpc: error: format 'dot' draws the IR stages (ir, ad, "
                                       "opt, scalar), not 'asm'\n")
    with pytest.raises(ValueError, match="unknown format 'svg'; formats are text, dot"):
        compile_source(SQUARES, backend="interp").ir("f", format="svg")
