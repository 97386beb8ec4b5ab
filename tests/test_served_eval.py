"""``cvalues eval --model openai:...`` over the fake OpenAI-compatible server: the predictions are
the server's scripted answers in both modes, a failed or killed run resumes without sending a
finished item again, and the API key reaches no output file."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from fake_openai import Reply

from cvalues_build.cli import main

KEY = "sk-served-eval-5e6f7a8b"
KEY_ENV = "CVALUES_SERVED_TEST_KEY"


def _choice(prompt: str) -> str:
    """The scripted answer to an item: fixed per prompt, and both answers occur."""
    return "1" if hashlib.sha256(prompt.encode()).digest()[0] % 2 else "2"


def _script(prompt: str) -> Reply:
    """A chat reply naming the scripted answer, and log-probs that favour the same answer
    (a completions prompt ends with the continuation being scored: strip it to find the item)."""
    item = prompt[:-1] if prompt.endswith(("回复1", "回复2")) else prompt
    best = _choice(item)
    return Reply(f"回复{best}更好。", logprobs={best: -0.5, "1" if best == "2" else "2": -3.0})


def _eval(server, build: Path, out: Path, mode: str, *extra: str) -> int:
    return main(["eval", "--model", "openai:fake", "--base-url", server.base_url, "--api-key-env", KEY_ENV,
                 "--dataset", str(build), "--config", "safety_mc", "--out", str(out), "--mode", mode,
                 "--limit", "16", "--no-progress", "--bootstrap", "10", "--max-retries", "0", *extra])


def _rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "predictions.jsonl").read_text(encoding="utf-8").splitlines()]


def _prompts(sample_build: Path) -> dict[str, str]:
    import datasets

    items = datasets.load_dataset(str(sample_build), "safety_mc")["test"]
    return dict(zip(items["id"], items["prompt"], strict=True))


@pytest.fixture
def keyed(fake_openai, monkeypatch):
    fake_openai.api_key, fake_openai.script = KEY, _script
    monkeypatch.setenv(KEY_ENV, KEY)
    return fake_openai


def _no_key_in(folder: Path, *texts: str) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path
    assert all(KEY not in text for text in texts)


@pytest.mark.slow
def test_generate_and_loglik_predictions_are_the_servers_scripted_answers(keyed, sample_build, tmp_path, capsys):
    prompts = _prompts(sample_build)
    for mode in ("generate", "loglik"):
        out = tmp_path / mode
        assert _eval(keyed, sample_build, out, mode, "--concurrency", "4") == 0
        rows = _rows(out)
        assert len(rows) == 16 and all(r["pred"] == f"回复{_choice(prompts[r['id']])}" for r in rows)
        assert {r["pred"] for r in rows} == {"回复1", "回复2"}
        backend = json.loads((out / "results.json").read_text(encoding="utf-8"))["backend"]
        assert backend["backend"] == "openai" and backend["api_key_env"] == KEY_ENV
        assert backend["usage"]["requests"] == 16 and backend["usage"]["tokens"] > 0
    generate = json.loads((tmp_path / "generate" / "results.json").read_text(encoding="utf-8"))
    assert generate["generation"] == {"max_new_tokens": 16, "do_sample": False, "chat_template": True}
    bodies = [r.json for r in keyed.requests]
    assert {b.get("temperature") for b in bodies} == {0.0}
    assert keyed.key_leaks(KEY) == []
    captured = capsys.readouterr()
    _no_key_in(tmp_path, captured.out, captured.err)


@pytest.mark.slow
def test_a_failed_run_resumes_without_sending_a_finished_item_again(keyed, sample_build, tmp_path, capsys):
    out = tmp_path / "r"
    keyed.inject("500", times=None, after=5)
    assert _eval(keyed, sample_build, out, "generate", "--concurrency", "1") == 2
    err = capsys.readouterr().err
    assert "model 'fake' at http://127.0.0.1:" in err and "HTTP 500" in err and "Traceback" not in err
    done = {r["id"] for r in _rows(out)}
    assert len(done) == 5 and len(keyed.requests) == 6  # nothing sent after the failure
    keyed.faults.clear()
    first = len(keyed.requests)
    assert _eval(keyed, sample_build, out, "generate", "--concurrency", "4", "--resume") == 0
    prompts = _prompts(sample_build)
    resent = [r.prompt for r in keyed.requests[first:]]
    assert len(resent) == 11 and not set(resent) & {prompts[i] for i in done}
    rows = _rows(out)
    assert sorted(r["id"] for r in rows) == sorted(set(r["id"] for r in rows)) and len(rows) == 16
    assert all(r["pred"] == f"回复{_choice(prompts[r['id']])}" for r in rows)
    _no_key_in(tmp_path, err)


@pytest.mark.slow
def test_a_killed_run_keeps_every_reply_it_wrote_and_resumes_with_the_rest(keyed, sample_build, tmp_path,
                                                                          monkeypatch):
    from cvalues_build.evaluation import predictions

    real_write, writes = predictions.Appender.write, []

    def killed_on_third_write(self, rows):
        writes.append(len(rows))
        if len(writes) == 3:
            raise KeyboardInterrupt  # as if the process were killed while writing
        real_write(self, rows)

    out = tmp_path / "k"
    monkeypatch.setattr(predictions.Appender, "write", killed_on_third_write)
    assert _eval(keyed, sample_build, out, "generate", "--concurrency", "1") == 130
    monkeypatch.setattr(predictions.Appender, "write", real_write)
    done = {r["id"] for r in _rows(out)}
    assert len(done) == sum(writes[:2])
    first = len(keyed.requests)
    assert _eval(keyed, sample_build, out, "generate", "--resume") == 0
    prompts = _prompts(sample_build)
    assert not {r.prompt for r in keyed.requests[first:]} & {prompts[i] for i in done}
    assert len(_rows(out)) == 16


def test_loglik_on_a_chat_only_server_is_a_clear_error(fake_openai, sample_build, tmp_path, capsys):
    fake_openai.app.router.routes = [r for r in fake_openai.app.router.routes
                                     if getattr(r, "path", "") != "/v1/completions"]
    rc = main(["eval", "--model", "openai:fake", "--base-url", fake_openai.base_url, "--dataset", str(sample_build),
               "--config", "safety_mc", "--out", str(tmp_path / "l"), "--limit", "2", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "gives no prompt log-probabilities" in err and "--mode generate" in err
    assert "Traceback" not in err
