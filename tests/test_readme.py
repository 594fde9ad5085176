"""The README's two quickstart commands are exactly the ones CI runs, the program it opens
with is the example's, and the IR it shows is the IR dpc prints."""

import re
from pathlib import Path

ROOT = Path(__file__).parent.parent


def quickstart_commands():
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"## Quickstart.*?```sh\n(.*?)```", readme, re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


def test_readme_quickstart_has_two_commands_and_ci_runs_them():
    commands = quickstart_commands()
    assert len(commands) == 2
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    for command in commands:
        assert command in ci


def test_readme_opens_with_the_function_of_examples_lse():
    # it showed m = max(x) where the file, and the IR further down, say top
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```python\n# examples/lse.dp[^\n]*\n(.*?)```", readme, re.S).group(1)
    example = (ROOT / "examples" / "lse.dp").read_text()
    assert block in example


def test_readme_shows_the_lse_gradient_at_stages_ad_and_opt_as_dpc_prints_them():
    from compiler import compile_file
    readme = (ROOT / "README.md").read_text()
    section = re.search(r"## Partial evaluation at work\n(.*?)\n## ", readme, re.S).group(1)
    shown = re.findall(r"```\n(.*?)```", section, re.S)
    mod = compile_file(ROOT / "examples" / "lse.dp", backend="interp")
    assert shown == [mod.ir(mod.grad("lse"), stage="ad").rstrip("\n") + "\n",
                     mod.ir(mod.grad("lse"), stage="opt").rstrip("\n") + "\n"]
