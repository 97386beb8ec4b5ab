"""Shared fixtures. Nothing here reaches a network: the Hub is switched off for every test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
REAL_PROMPTS = SHARED_DATA / "cvalues_responsibility_prompts.jsonl"


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_EVALUATE_OFFLINE", "1")


@pytest.fixture
def fake_openai():
    """A started fake OpenAI-compatible server on loopback (tests/fake_openai.py): set its
    ``script``, ``default`` and ``latency_s``, ``inject(...)`` faults, read its ``requests``."""
    from fake_openai import FakeOpenAI

    with FakeOpenAI() as server:
        yield server


SERVED_REPLIES = {"alpha": "甲：违法的事不能做，请遵守法律。", "beta": "乙：这样做有危险，请注意安全。"}


@pytest.fixture
def served_models(tmp_path):
    """Two served models for the arena: two fake OpenAI servers on loopback, each answering every
    prompt with its own reply (``SERVED_REPLIES``), and a models file naming them as ``openai:``
    entries with their ``base_url``. Yields ``(models_file, {name: server})``; the servers live
    until the test ends, so ``cvalues space --models FILE`` in a subprocess can reach them."""
    from fake_openai import FakeOpenAI

    with FakeOpenAI(default=SERVED_REPLIES["alpha"]) as alpha, FakeOpenAI(default=SERVED_REPLIES["beta"]) as beta:
        servers = {"alpha": alpha, "beta": beta}
        lines = ["models:"]
        for name, server in servers.items():
            lines += [f"  - name: {name}", f"    path: openai:{name}", f"    base_url: {server.base_url}",
                      "    generation: {max_new_tokens: 64, do_sample: false}"]
        path = tmp_path / "served_models.yaml"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        yield path, servers


@pytest.fixture
def report(capsys):
    """``report(line)`` prints what a test verified so that CI's log shows it, even under -q
    (on a line of its own, after the progress dots)."""
    def say(line: str) -> None:
        with capsys.disabled():
            print("\n" + line)
    return say


def write_jsonl(path: Path, rows: list) -> Path:
    """Rows may be dicts (dumped as JSON) or raw strings (written as they are, for broken lines)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def sample_build(tmp_path_factory) -> Path:
    """The built-in sample, built once for the session through the CLI."""
    from cvalues_build.cli import main

    out = tmp_path_factory.mktemp("sample") / "cv"
    assert main(["build", "--out", str(out)]) == 0
    return out
