"""``cvalues eval`` refuses at once what it cannot do: a dataset or model path that does not exist
(audit item 12) and an output folder that holds another run's results (audit item 13)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from cvalues_build.cli import main


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to resolve or reach a host, or to ask a loader, fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"a network call was attempted: {args[:2]}")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    import datasets

    monkeypatch.setattr(datasets, "load_dataset", refuse)


def _eval(dataset: str, out: Path, *extra: str, model: str = "demo") -> int:
    return main(["eval", "--model", model, "--dataset", dataset, "--config", "safety_mc", "--out", str(out),
                 "--no-progress", "--bootstrap", "20", *extra])


@pytest.mark.parametrize("typo", ["out/cvalue", "./cvalues-data", "out/cv/data", "cvalues.data", "~/no-such-cvalues"])
def test_a_mistyped_dataset_path_fails_at_once_online(typo, tmp_path, monkeypatch, capsys, no_network):
    """Audit item 12: online (no HF_HUB_OFFLINE), a path-like --dataset never reaches the Hub."""
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out").mkdir()  # what the user built into, beside the typo
    assert _eval(typo, tmp_path / "r") == 2
    err = capsys.readouterr().err
    assert f"no such dataset folder: {typo}" in err and "Traceback" not in err


def test_offline_an_uncached_hub_id_fails_at_once(tmp_path, monkeypatch, capsys, no_network):
    import datasets.config
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "datasets")
    assert _eval("someorg/cvalues", tmp_path / "r") == 2
    err = capsys.readouterr().err
    assert "no such dataset folder: someorg/cvalues (HF_HUB_OFFLINE is set" in err and "Traceback" not in err


def test_offline_a_cached_hub_id_is_handed_to_the_loader(tmp_path, monkeypatch):
    from huggingface_hub import constants

    from cvalues_build.evaluation.references import resolve_reference

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    (tmp_path / "models--someorg--tiny").mkdir()
    assert resolve_reference("someorg/tiny", "model") == "someorg/tiny"
    with pytest.raises(FileNotFoundError, match="no such model folder: someorg/other"):
        resolve_reference("someorg/other", "model")


@pytest.mark.parametrize("model", ["./no-such-model", "runs/ckpt-1/model", "someorg/no-such-model"])
def test_a_missing_model_fails_before_anything_loads(model, sample_build, tmp_path, monkeypatch, capsys, no_network):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.chdir(tmp_path)
    assert _eval(str(sample_build), tmp_path / "r", model=model) == 2
    err = capsys.readouterr().err
    assert f"no such model folder: {model}" in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()  # refused before the output folder was touched



# -- audit item 13: an output folder that holds another run -------------------------------------

def _results(out: Path) -> dict:
    return json.loads((out / "results.json").read_text(encoding="utf-8"))


def test_an_earlier_run_is_not_overwritten_without_a_flag(sample_build, tmp_path, capsys):
    out = tmp_path / "r"
    assert _eval(str(sample_build), out, "--limit", "4") == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    capsys.readouterr()
    assert _eval(str(sample_build), out, "--limit", "2", model="demo:1") == 2
    err = capsys.readouterr().err
    assert "already holds" in err and "--overwrite" in err and "--resume" in err and "Traceback" not in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # nothing touched

    assert _eval(str(sample_build), out, "--limit", "2", "--overwrite", model="demo:1") == 0
    assert _results(out)["model"] == "demo:1" and _results(out)["n"] == 2


def test_resume_and_overwrite_together_are_refused(sample_build, tmp_path, capsys):
    assert _eval(str(sample_build), tmp_path / "r", "--resume", "--overwrite") == 2
    assert "not both" in capsys.readouterr().err


def test_a_folder_with_only_unrelated_files_is_used_and_they_stay(sample_build, tmp_path):
    out = tmp_path / "r"
    out.mkdir()
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    assert _eval(str(sample_build), out, "--limit", "2") == 0
    assert (out / "notes.txt").read_text(encoding="utf-8") == "mine"


def test_a_failed_run_leaves_no_half_written_run_file(sample_build, tmp_path, monkeypatch):
    """run.json goes through a temporary file and a rename: a crash while writing leaves no
    run.json at all (and no temporary file that a later run could mistake for one)."""
    from cvalues_build.evaluation import predictions

    real_replace = predictions.os.replace

    def crash_on_run_file(src, dst):
        if Path(dst).name == "run.json":
            raise KeyboardInterrupt  # killed between writing the temporary file and the rename
        return real_replace(src, dst)

    monkeypatch.setattr(predictions.os, "replace", crash_on_run_file)
    out = tmp_path / "r"
    assert _eval(str(sample_build), out, "--limit", "2") == 130
    assert not (out / "run.json").exists() and not list(out.glob("run.json*"))
    monkeypatch.setattr(predictions.os, "replace", real_replace)
    assert _eval(str(sample_build), out, "--limit", "2") == 0  # nothing half-written stands in the way
    assert json.loads((out / "run.json").read_text(encoding="utf-8"))["model"] == "demo"
