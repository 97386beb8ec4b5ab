"""Issue 13's acceptance demo, end to end: `cvalues respond` for demo:1 and demo:2, a Space with
both campaigns, simulated annotators labelling through its HTTP API (one of them failing gold),
then `cvalues votes export` and `cvalues human-eval`. Loopback only; every loop is bounded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("gradio")
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


def test_the_demo_recovers_the_truth_and_leaves_the_careless_annotator_out(tmp_path, report):
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "human_eval_demo.py"), "--work", str(tmp_path), "--limit", "10",
         "--honest", "3", "--careless", "1"],
        cwd=tmp_path, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "Safety rate" in done.stdout and "Krippendorff's α" in done.stdout  # human-eval's printed table
    summary = json.loads((tmp_path / "demo_summary.json").read_text(encoding="utf-8"))
    lines = []
    for model, per in summary["models"].items():
        for criterion, cell in per.items():
            lines.append(f"{model} {criterion} {cell['value']:.3f} {cell['ci']} (truth {cell['truth']:.3f}, "
                         f"quorum {cell['quorum']}/{cell['replies']})")
            assert cell["quorum"] == cell["replies"] > 0  # every campaign reply reached its quorum
            assert cell["ci"][0] <= cell["truth"] <= cell["ci"][1]
    assert set(summary["models"]) == {"demo:1", "demo:2"}  # no gold "reference" model in the table
    counts = summary["counts"]
    assert counts["untrusted_annotators"] == 1 and counts["labels_left_out"] > 0
    [failed] = [a for a in summary["annotators"] if not a["trusted"]]
    assert failed["gold_correct"] == 0 and failed["gold_answered"] >= 5
    assert all(a["gold_accuracy"] == 1.0 for a in summary["annotators"] if a["trusted"])
    assert all(alpha > 0.5 for alpha in summary["alpha"].values())
    report("human-eval demo: " + "; ".join(lines) + f"; α {summary['alpha']}; "
           f"{counts['labels_left_out']} labels of the careless annotator left out")
