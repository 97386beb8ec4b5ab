"""``cvalues eval`` imports what the chosen mode needs, when it needs it: a wrong option fails
before torch, transformers, datasets or evaluate is imported, and loglik mode loads the metric
only for the scores. Each case runs in a fresh interpreter, where ``sys.modules`` tells."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "transformers", "datasets", "evaluate", "accelerate")

# The eval command alone (registering the other commands imports nothing heavy: see the last
# test): parse the arguments, run the command, report its exit code and what it imported.
RUN = """
import argparse, contextlib, io, json, sys
from cvalues_build.evaluation import command, predictions
heavy = {heavy!r}
seen = {{}}
real = predictions.Appender.write
def write(self, rows):
    seen.setdefault("at_first_item", [m for m in sys.modules if m.split(".")[0] in heavy or "cvalues_metric" in m])
    return real(self, rows)
predictions.Appender.write = write
parser = argparse.ArgumentParser()
command.register(parser.add_subparsers())
args = parser.parse_args({argv!r})
with contextlib.redirect_stdout(io.StringIO()):
    rc = args.func(args)
seen["rc"] = rc
seen["at_exit"] = sorted({{m.split(".")[0] for m in sys.modules}} & set(heavy))
print(json.dumps(seen))
"""


def _run(argv: list[str]) -> dict:
    code = RUN.format(heavy=HEAVY, argv=argv)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("extra", [
    ["--batch-size", "0"],
    ["--limit", "0"],
    ["--mode", "generate", "--max-new-tokens", "0"],
    ["--resume", "--overwrite"],
    ["--model", "./no-such-model"],
    ["--model", "nosuch:model"],
])
def test_a_wrong_option_fails_before_anything_heavy_is_imported(extra, sample_build, tmp_path):
    argv = ["eval", "--model", "demo", "--dataset", str(sample_build), "--config", "safety_mc",
            "--out", str(tmp_path / "r"), "--no-progress", *extra]
    seen = _run(argv)
    assert seen["rc"] == 2 and seen["at_exit"] == []
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_loglik_loads_the_metric_only_for_the_scores(sample_build, tmp_path):
    argv = ["eval", "--model", "demo", "--dataset", str(sample_build), "--config", "safety_mc",
            "--out", str(tmp_path / "r"), "--no-progress", "--limit", "4", "--bootstrap", "10"]
    seen = _run(argv)
    assert seen["rc"] == 0
    assert not [m for m in seen["at_first_item"] if m.split(".")[0] == "evaluate" or "cvalues_metric" in m]
    assert "evaluate" in seen["at_exit"]  # the scores did load it


HELP = """
import contextlib, io, json, sys
from cvalues_build.cli import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
    main({argv!r})
print(json.dumps(sorted({{m.split(".")[0] for m in sys.modules}} & set({heavy!r}))))
"""


@pytest.mark.parametrize("argv", [["--help"], ["eval", "--help"], ["build", "--help"]])
def test_the_whole_cli_registers_its_commands_without_anything_heavy(argv):
    """``cvalues --help`` and any command's help: every built-in sub-command registers itself
    without importing datasets, pyarrow's dataset stack, torch or evaluate (they took 2–4 s)."""
    code = HELP.format(argv=argv, heavy=(*HEAVY, "pyarrow", "pandas"))
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert json.loads(res.stdout.strip().splitlines()[-1]) == []
