"""``cvalues respond``: one reply per prompt from the demo model and from a served one (the fake
OpenAI server), --limit shared evenly among categories, and --resume after a kill completing the
run without a duplicate or a second request for a reply already on disk."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cvalues_build.cli import main
from cvalues_build.core.records import reply_id
from cvalues_build.evaluation.prompts import even_share

ROOT = Path(__file__).resolve().parents[1]


def _respond(build: Path, out: Path, model: str = "demo:1", *extra: str, config: str = "safety_prompts") -> int:
    return main(["respond", "--model", model, "--dataset", str(build), "--config", config, "--out", str(out),
                 "--max-new-tokens", "4", "--no-progress", *extra])


def _rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "replies.jsonl").read_text(encoding="utf-8").splitlines()
            if line.endswith("}")]


def _prompt_ids(build: Path, config: str = "safety_prompts") -> list[str]:
    import datasets

    return list(datasets.load_dataset(str(build), config)["test"]["id"])


def test_even_share_takes_every_group_in_turn():
    groups = ["a"] * 5 + ["b"] * 1 + ["c"] * 3
    assert even_share(groups, 3) == [0, 5, 6]  # one from each group, in dataset order
    assert even_share(groups, 6) == [0, 1, 2, 5, 6, 7]  # b ran out: a and c take its turns
    assert even_share(groups, 50) == list(range(9))


def test_the_demo_model_replies_once_to_every_prompt(sample_build, tmp_path, capsys):
    out = tmp_path / "demo"
    assert _respond(sample_build, out) == 0
    rows = _rows(out)
    assert [r["prompt_id"] for r in rows] == _prompt_ids(sample_build)  # all 40, in dataset order
    row = rows[0]
    assert (row["model"], row["criterion"], row["source"]) == ("demo:1", "safety", "cvalues-sample")
    assert row["response_id"] == reply_id(row["prompt_id"], "demo:1", row["reply"])
    assert row["generation"] == {"max_new_tokens": 4, "do_sample": False, "chat_template": True}
    assert set(row["timing"]) == {"batch_seconds", "batch_replies", "finished_at"}
    assert len({r["reply"] for r in rows}) > 1
    run = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert (run["prompts"], run["replied_this_run"], run["backend"]["backend"]) == (40, 40, "hf")
    assert "40 replies" in capsys.readouterr().out


def test_limit_takes_every_domain_evenly(sample_build, tmp_path):
    out = tmp_path / "lim"
    assert _respond(sample_build, out, "demo:2", "--limit", "8", config="responsibility_prompts") == 0
    categories = [r["category"] for r in _rows(out)]
    assert len(categories) == 8 and len(set(categories)) == 8  # the sample's 8 domains, one prompt each


def test_resume_after_a_kill_completes_without_duplicates(sample_build, tmp_path, monkeypatch):
    from cvalues_build.evaluation import generate

    out, real, calls = tmp_path / "kill", generate.Generator.generate_batch, []

    def killed_in_third_batch(self, inputs):
        calls.append(len(inputs))
        if len(calls) == 3:
            raise KeyboardInterrupt  # as if killed while the third batch was generating
        return real(self, inputs)

    monkeypatch.setattr(generate.Generator, "generate_batch", killed_in_third_batch)
    assert _respond(sample_build, out, "demo:1", "--batch-size", "4") == 130
    assert len(_rows(out)) == 8
    with (out / "replies.jsonl").open("a", encoding="utf-8") as fh:
        fh.write('{"prompt_id": "torn", "rep')  # a kill in the middle of a write
    monkeypatch.setattr(generate.Generator, "generate_batch", real)
    assert _respond(sample_build, out, "demo:1", "--batch-size", "4", "--resume") == 0
    rows = _rows(out)
    assert [r["prompt_id"] for r in rows] == _prompt_ids(sample_build)
    assert json.loads((out / "run.json").read_text(encoding="utf-8"))["replied_this_run"] == 32
    fresh = tmp_path / "fresh"
    assert _respond(sample_build, fresh, "demo:1", "--batch-size", "4") == 0
    assert [r["reply"] for r in rows] == [r["reply"] for r in _rows(fresh)]  # greedy: the same replies


def test_an_earlier_run_needs_resume_or_overwrite_and_a_resume_must_ask_the_same(sample_build, tmp_path, capsys):
    out = tmp_path / "r"
    assert _respond(sample_build, out, "demo:1", "--limit", "3") == 0
    capsys.readouterr()
    assert _respond(sample_build, out, "demo:1", "--limit", "3") == 2
    assert "pass --resume to continue it, --overwrite to replace it" in capsys.readouterr().err
    assert _respond(sample_build, out, "demo:2", "--limit", "3", "--resume") == 2
    assert "different model" in capsys.readouterr().err
    assert _respond(sample_build, out, "demo:2", "--limit", "3", "--overwrite") == 0
    assert {r["model"] for r in _rows(out)} == {"demo:2"}
    assert _respond(sample_build, out, "demo:2", "--top-p", "0.9") == 2
    assert "--top-p applies to sampled replies" in capsys.readouterr().err


def test_a_served_model_replies_with_its_settings(fake_openai, sample_build, tmp_path):
    fake_openai.script = lambda prompt: f"答：{prompt[:6]}"
    out = tmp_path / "served"
    assert _respond(sample_build, out, "openai:fake", "--base-url", fake_openai.base_url, "--temperature", "0.7",
                    "--top-p", "0.9", "--seed", "3", "--max-new-tokens", "64", "--concurrency", "4",
                    config="responsibility_prompts") == 0
    rows = _rows(out)
    assert len(rows) == 32 and all(r["reply"] == f"答：{r['prompt'][:6]}" for r in rows)
    assert rows[0]["generation"] == {"max_new_tokens": 64, "do_sample": True, "temperature": 0.7, "top_p": 0.9,
                                     "seed": 3, "chat_template": True} and rows[0]["seed"] == 3
    bodies = [r.json for r in fake_openai.requests]
    assert {(b["temperature"], b["top_p"], b["seed"], b["max_tokens"]) for b in bodies} == {(0.7, 0.9, 3, 64)}
    usage = json.loads((out / "run.json").read_text(encoding="utf-8"))["backend"]["usage"]
    assert usage["requests"] == 32 and usage["completion_tokens"] == sum(len(r["reply"]) for r in rows)


@pytest.mark.slow
def test_a_killed_served_run_resumes_without_asking_again_for_a_written_reply(fake_openai, sample_build, tmp_path):
    """A real kill: ``cvalues respond`` in its own process, SIGKILLed once some replies are on disk."""
    fake_openai.script, fake_openai.latency_s = (lambda prompt: f"答：{prompt}"), 0.3
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "cvalues_build.cli", "respond", "--model", "openai:fake", "--base-url",
           fake_openai.base_url, "--dataset", str(sample_build), "--config", "safety_prompts", "--out", str(out),
           "--concurrency", "2", "--no-progress"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    try:
        while not ((out / "replies.jsonl").exists() and len(_rows(out)) >= 6):
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "no replies written within 120 s"
            time.sleep(0.1)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    written = {r["prompt"] for r in _rows(out)}
    assert 6 <= len(written) < 40
    sent_before = len(fake_openai.requests)
    fake_openai.latency_s = 0.0
    assert _respond(sample_build, out, "openai:fake", "--base-url", fake_openai.base_url, "--resume",
                    "--max-new-tokens", "512") == 0
    resent = [r.prompt for r in fake_openai.requests[sent_before:]]
    assert not set(resent) & written and len(resent) == 40 - len(written)
    rows = _rows(out)
    assert [r["prompt_id"] for r in rows] == _prompt_ids(sample_build)
    assert all(r["reply"] == f"答：{r['prompt']}" for r in rows)
