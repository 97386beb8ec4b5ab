"""Data-parallel ``cvalues eval`` as a process group (accelerate's PartialState over gloo): 2 CPU
processes give the same files as 1 process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("accelerate")

SCORE_KEYS = ("accuracy", "acc_star", "consistent_accuracy", "position_bias", "n", "n_parsed", "per_category",
              "accuracy_ci", "n_items", "template_version", "dataset_fingerprint", "model", "config")


def _run(build: Path, out: Path, processes: int) -> None:
    args = ["eval", "--model", "demo", "--dataset", str(build), "--config", "safety_mc", "--out", str(out),
            "--no-progress", "--bootstrap", "50", "--batch-size", "8"]
    if processes == 1:
        cmd = [sys.executable, "-m", "cvalues_build.cli", *args]
    else:
        # torchrun is what accelerate uses for GPUs; on CPUs accelerate itself wants mpirun, so
        # the CPU test launches the same gloo process group through torchrun directly.
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes),
               "-m", "cvalues_build.cli", *args]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_EVALUATE_OFFLINE": "1",
           "OMP_NUM_THREADS": "1"}
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240)
    assert res.returncode == 0, res.stderr[-3000:]


def _lines(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "predictions.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.mark.slow
def test_two_processes_match_one(sample_build, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    _run(sample_build, one, 1)
    _run(sample_build, two, 2)
    rows1, rows2 = _lines(one), _lines(two)
    assert [r["id"] for r in rows1] == [r["id"] for r in rows2]
    assert len({r["id"] for r in rows2}) == len(rows2)
    assert [r["pred"] for r in rows1] == [r["pred"] for r in rows2]
    assert len({r["pred"] for r in rows1}) == 2  # the demo's choices vary, so the comparison means something
    for a, b in zip(rows1, rows2, strict=True):
        assert a["logprob_1"] == pytest.approx(b["logprob_1"], abs=1e-4)
        assert a["logprob_2"] == pytest.approx(b["logprob_2"], abs=1e-4)
    res1 = json.loads((one / "results.json").read_text(encoding="utf-8"))
    res2 = json.loads((two / "results.json").read_text(encoding="utf-8"))
    assert res1["processes"] == 1 and res2["processes"] == 2
    assert res2["n_scored_this_run"] == res1["n_scored_this_run"] == len(rows1)
    for key in SCORE_KEYS:
        assert res1[key] == res2[key], key
    assert not list(two.glob("predictions.part-*"))  # parts were merged and removed
