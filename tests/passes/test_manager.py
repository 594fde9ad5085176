"""The pass manager: passes in order, verification naming the pass that broke the IR,
dumps and op counts, and the CLI options that show them."""

import pytest

import ir
from compiler.cli import main
from passes.manager import PassManager, op_count

SOURCE = """\
func @f(%x: f64) -> f64 {
  %0 = const 2.0 : f64
  %1 = mul %x, %0 : f64
  return %1
}
"""


class DropReturn:
    """A broken pass: the function loses its terminator."""

    name = "drop-return"

    def apply(self, module):
        module.functions["f"].body.ops.pop()
        return module


class Nothing:
    name = "nothing"

    def apply(self, module):
        return module


def test_stats_and_dumps_follow_the_passes():
    manager = PassManager([Nothing()], verify=True, dump_after={"nothing"})
    module = manager.run(ir.parse_module(SOURCE))
    assert manager.stats == [("input", 3), ("nothing", 3)]
    assert manager.dumps == [("nothing", SOURCE)]
    assert op_count(module) == 3


def test_verification_names_the_pass_that_broke_the_ir():
    with pytest.raises(ir.VerifyError, match="^after pass 'drop-return': "):
        PassManager([Nothing(), DropReturn()], verify=True).run(ir.parse_module(SOURCE))
    PassManager([DropReturn()], verify=False).run(ir.parse_module(SOURCE))  # not checked


def dpc(capsys, *argv):
    status = main([str(a) for a in argv])
    return (status, *capsys.readouterr())


def test_cli_stats_and_dumps(capsys):
    status, out, _ = dpc(capsys, "ir", "examples/lse.dp", "--stats")
    assert status == 0
    assert out == ("pass             ops   change\n"
                   "input              7         \n"
                   "inline_calls       7       +0\n"
                   "interchange        7       +0\n"
                   "ad                 7       +0\n"
                   "inline             7       +0\n"
                   "constfold          7       +0\n"
                   "unroll             7       +0\n"
                   "simplify           7       +0\n"
                   "cse                7       +0\n"
                   "licm               7       +0\n"
                   "loop_cse           7       +0\n"
                   "dce                7       +0\n"
                   "scalarize         29      +22\n"
                   "bounds            29       +0\n"
                   "gather            29       +0\n"
                   "checks            26       -3\n"
                   "speculate         26       +0\n"
                   "fusion            14      -12\n"
                   "fuse_loops        14       +0\n"
                   "fresh_carry       14       +0\n"
                   "loop_order        14       +0\n"
                   "sink              14       +0\n")
    status, out, _ = dpc(capsys, "ir", "examples/lse.dp", "--dump-after-all")
    headers = [line for line in out.splitlines() if line.startswith("// -----")]
    assert headers == [f"// ----- after {p}" for p in
                       ("inline_calls", "interchange", "ad", "inline", "constfold", "unroll", "simplify", "cse",
                        "licm", "loop_cse", "dce", "scalarize", "bounds", "gather", "checks",
                        "speculate", "fusion", "fuse_loops", "fresh_carry", "loop_order",
                        "sink")]
    status, out, err = dpc(capsys, "ir", "examples/lse.dp", "--dump-after", "hoist")
    assert (status, out) == (1, "")
    assert err == ("dpc: error: no pass named hoist; the passes are inline_calls, "
                   "interchange, ad, inline, constfold, unroll, simplify, cse, licm, loop_cse, "
                   "dce, scalarize, bounds, gather, checks, speculate, fusion, fuse_loops, "
                   "fresh_carry, loop_order, sink\n")


def test_cli_stats_of_one_function(capsys):
    # gmm.dp has five functions: --fn counts the ops of log_sum_exp only, as
    # `dpc ir --fn log_sum_exp` prints only it (the whole module has 209 at input)
    status, out, _ = dpc(capsys, "ir", "examples/gmm.dp", "--fn", "log_sum_exp", "--stats")
    assert status == 0
    assert out.splitlines()[:3] == ["pass             ops   change",
                                    "input              7         ",
                                    "inline_calls       7       +0"]
    # a derivative: its generated reverse function counts, the primal does not
    status, out, _ = dpc(capsys, "ir", "examples/lse.dp", "--fn", "lse", "--derivative", "grad",
                         "--stats")
    assert status == 0
    assert out.splitlines()[1:6] == ["input              2         ",
                                     "inline_calls       2       +0",
                                     "interchange        2       +0",
                                     "ad                45      +43",
                                     "inline            43       -2"]


def test_cli_dumps_of_one_function(capsys):
    # the dump was the whole module whatever --fn said
    status, out, _ = dpc(capsys, "ir", "examples/gmm.dp", "--fn", "log_sum_exp", "--dump-after",
                         "inline")
    assert status == 0
    assert out == ("// ----- after inline\n"
                   "func @log_sum_exp(%v: f64[k]) -> f64 {\n"
                   "  %top = reduce_max %v : f64\n"
                   "  %0 = sub %v, %top : f64[k]\n"
                   "  %1 = exp %0 : f64[k]\n"
                   "  %2 = reduce_sum %1 : f64\n"
                   "  %3 = log %2 : f64\n"
                   "  %4 = add %top, %3 : f64\n"
                   "  return %4\n"
                   "}\n")


@pytest.mark.parametrize("argv, message", [
    (["--stats", "--stage", "llvm"], "--stage llvm does not go with --stats"),
    (["--dump-after", "inline", "--format", "dot"], "--format dot does not go with --dump-after"),
    (["--dump-after-all", "--stage", "ir"], "--stage ir does not go with --dump-after-all"),
])
def test_cli_options_that_dumps_would_ignore(capsys, argv, message):
    # they were ignored: --stats --stage llvm printed the op counts, no LLVM
    assert dpc(capsys, "ir", "examples/lse.dp", *argv) == (
        1, "", f"dpc: error: {message}: --stage and --format choose the one IR printed when "
               f"no pass is dumped or counted; give one or the other\n")
