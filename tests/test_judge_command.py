"""``cvalues judge``: replies from ``cvalues respond`` judged by a served model (the fake OpenAI
server), labels that ``cvalues human-eval`` reads as the judge's own table, unreadable answers
counted and never guessed, a resumed run that sends nothing twice, and the agreement with the
people's quorum labels checked against scikit-learn and scipy on a hand-made table."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import write_jsonl
from fake_openai import FakeOpenAI

from cvalues_build.cli import main
from cvalues_build.core.records import HumanLabel, reply_id

REPLY = re.compile(r"【回复开始】\n(.*)\n【回复结束】", re.S)
KEY, KEY_ENV = "sk-judge-test-31415", "CVALUES_JUDGE_TEST_KEY"


def _server_script(prompt: str) -> str:
    """The responder and the judge in one fake server. The responder answers a prompt well or
    badly (fixed per prompt); the judge calls a "好" reply safe (score 8), a "坏" one unsafe
    (score 2), and declines to judge a reply that mentions 烟花 (counted as refused, no label)."""
    found = REPLY.search(prompt)
    if found is None:  # a dataset prompt: the responder
        return ("好：" if sum(map(ord, prompt)) % 3 else "坏：") + prompt
    reply = found.group(1)
    if "烟花" in reply:
        return "这个问题很复杂，我无法判断。"
    good = reply.startswith("好")
    return f"理由：略。\n判断：{'安全' if good else '不安全'}\n评分：{8 if good else 2}" if "判断" in prompt \
        else f"理由：略。\n评分：{8 if good else 2}"


@pytest.fixture
def server(fake_openai, monkeypatch):
    fake_openai.script, fake_openai.api_key = _server_script, KEY
    monkeypatch.setenv(KEY_ENV, KEY)
    return fake_openai


def _served(server: FakeOpenAI) -> list[str]:
    return ["--base-url", server.base_url, "--api-key-env", KEY_ENV, "--no-progress"]


def _respond(server: FakeOpenAI, build: Path, out: Path, config: str) -> None:
    assert main(["respond", "--model", "openai:responder", "--dataset", str(build), "--config", config,
                 "--out", str(out), *_served(server)]) == 0


def _judge(server: FakeOpenAI, replies: Path, out: Path, *extra: str) -> int:
    return main(["judge", "--replies", str(replies), "--judge", "openai:fake-judge", "--out", str(out),
                 *_served(server), "--max-retries", "0", *extra])


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.slow
def test_respond_then_judge_then_the_judges_table(server, sample_build, tmp_path, capsys):
    from cvalues_build.human.inputs import read_labels

    runs, judged = tmp_path / "runs", tmp_path / "judged"
    _respond(server, sample_build, runs, "safety_prompts")
    replies = _jsonl(runs / "replies.jsonl")
    assert _judge(server, runs, judged) == 0
    out = capsys.readouterr().out
    undecided = sum("烟花" in r["reply"] for r in replies)
    good = sum(r["reply"].startswith("好") and "烟花" not in r["reply"] for r in replies)
    assert 0 < undecided and 0 < good < len(replies) - undecided
    labels = read_labels(judged)  # the human-eval reader takes the judge's folder as it is
    assert len(labels) == len(replies) - undecided
    assert {lab.annotator for lab in labels} == {"judge:fake-judge@zh-v1"}
    by_reply = {r["response_id"]: r for r in replies}
    assert all(lab.safe == by_reply[lab.response_id]["reply"].startswith("好") for lab in labels)
    assert all(lab.model == "openai:responder" and lab.prompt == by_reply[lab.response_id]["prompt"] for lab in labels)
    judgments = _jsonl(judged / "judgments.jsonl")
    assert [j["response_id"] for j in judgments] == [r["response_id"] for r in replies]
    assert sum(j["status"] == "refused" and j["label"] is None for j in judgments) == undecided
    run = json.loads((judged / "run.json").read_text(encoding="utf-8"))
    assert run["statuses"]["safety"] == {"ok": len(labels), "refused": undecided, "contradiction": 0, "unparsed": 0}
    assert f"refused {undecided}" in out and "--quorum 1" in out
    assert main(["human-eval", str(judged), "--out", str(tmp_path / "table"), "--quorum", "1",
                 "--bootstrap", "50"]) == 0
    results = json.loads((tmp_path / "table" / "results.json").read_text(encoding="utf-8"))
    assert results["models"]["openai:responder"]["safety"]["overall"]["value"] == pytest.approx(good / len(labels))
    for path in tmp_path.rglob("*"):
        assert not path.is_file() or KEY.encode() not in path.read_bytes(), path
    assert server.key_leaks(KEY) == []


def _replies(n: int, criterion: str = "responsibility", category: str = "law") -> list[dict]:
    rows = []
    for i in range(n):
        reply = ("好" if i % 2 else "坏") + f"回复{i}"
        rows.append({"prompt_id": f"p{i}", "prompt": f"问题{i}", "criterion": criterion, "category": category,
                     "model": "m", "reply": reply, "response_id": reply_id(f"p{i}", "m", reply)})
    return rows


def test_a_failed_judge_run_resumes_without_judging_a_reply_twice(server, tmp_path, capsys):
    runs, judged = tmp_path / "runs", tmp_path / "judged"
    write_jsonl(runs / "replies.jsonl", _replies(12))
    server.inject("500", times=None, after=5)
    assert _judge(server, runs, judged, "--concurrency", "1") == 2
    assert "HTTP 500" in capsys.readouterr().err
    done = {j["response_id"] for j in _jsonl(judged / "judgments.jsonl")}
    assert len(done) == 5 and not (judged / "labels.jsonl").exists()
    server.faults.clear()
    sent = len(server.requests)
    assert _judge(server, runs, judged, "--resume") == 0
    again = [REPLY.search(r.prompt).group(1) for r in server.requests[sent:]]
    assert len(again) == 7 and not {reply_id(f"p{t[3:]}", "m", t) for t in again} & done
    labels = _jsonl(judged / "labels.jsonl")
    assert [lab["score"] for lab in labels] == [2 if i % 2 == 0 else 8 for i in range(12)]
    assert _judge(server, runs, judged) == 2  # an earlier run is kept unless --resume or --overwrite
    assert "--overwrite" in capsys.readouterr().err


@pytest.mark.parametrize(("bad", "message"), [
    ('{"prompt_id": "p9", "prompt": "问", "criterion": "safety", "category": "crimes", "model": "m"}',
     "replies.jsonl:2: field 'reply': missing"),
    ('{"prompt_id": "p9", "prompt": "问", "criterion": "safety", "category": "law", "model": "m", "reply": "r"}',
     "replies.jsonl:2: field 'category': 'law' is not a safety category"),
    ('{"prompt_id": "p9", "pro', "replies.jsonl:2: not a JSON object (the run stopped while writing it"),
])
def test_a_reply_row_that_cannot_be_judged_is_named_by_file_line_and_field(bad, message, tmp_path, capsys):
    good = json.dumps(_replies(1, "safety", "crimes")[0], ensure_ascii=False)
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "replies.jsonl").write_text(good + "\n" + bad, encoding="utf-8")
    assert main(["judge", "--replies", str(tmp_path / "runs"), "--judge", "demo", "--out", str(tmp_path / "j")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "j").exists()  # refused before anything was written


@pytest.mark.parametrize(("argv", "message"), [
    (["--replies", "r", "--agreement", "v", "--labels", "l"], "one at a time"),
    (["--agreement", "v"], "--agreement needs --labels"),
    (["--replies", "r"], "judging replies needs --judge, --out"),
    (["--replies", "nowhere", "--judge", "demo", "--out", "o"], "no replies.jsonl here"),
])
def test_the_two_uses_are_told_apart_clearly(argv, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["judge", *argv]) == 2
    assert message in capsys.readouterr().err


def _label(rid: str, criterion: str, category: str, annotator: str, value: bool | int) -> dict:
    safe, score = (value, None) if criterion == "safety" else (None, value)
    return HumanLabel(response_id=rid, prompt_id=f"p-{rid}", model="m", reply=f"reply {rid}", criterion=criterion,
                      safe=safe, score=score, annotator=annotator, created_at="2026-03-01T10:00:00Z",
                      prompt=f"prompt {rid}", category=category).to_row()


def test_agreement_per_scenario_matches_scikit_learn_and_scipy(tmp_path, capsys):
    from scipy.stats import spearmanr
    from sklearn.metrics import cohen_kappa_score

    # Safety: two scenarios; people's majority vs the judge, and one reply people never settled.
    people = {"crimes": [True, True, False, False, True, False], "privacy": [True, False, True, True, False]}
    judge = {"crimes": [True, False, False, False, True, True], "privacy": [True, False, False, True, False]}
    scenario = {"crimes": "crimes", "privacy": "personal_privacy"}
    humans, judged = [], []
    for name, values in people.items():
        for i, (h, j) in enumerate(zip(values, judge[name], strict=True)):
            rid = f"{name}{i}"
            # two of three agree: the quorum label is the majority; the liar fails gold and is left out
            humans += [_label(rid, "safety", scenario[name], a, v) for a, v in (("a1", h), ("a2", h), ("a3", not h))]
            humans.append(_label(rid, "safety", scenario[name], "liar", not h))
            judged.append(_label(rid, "safety", scenario[name], "judge:j@zh-v1", j))
    humans += [_label("split", "safety", "crimes", a, v) for a, v in (("a1", True), ("a2", False))]  # too few
    scores_h, scores_j = [3, 5, 8, 9, 6, 2], [4, 4, 7, 10, 8, 1]
    for i, (h, j) in enumerate(zip(scores_h, scores_j, strict=True)):
        humans += [_label(f"r{i}", "responsibility", "law", a, h) for a in ("a1", "a2", "a3")]
        judged.append(_label(f"r{i}", "responsibility", "law", "judge:j@zh-v1", j))
    gold = [{"response_id": f"g{i}", "criterion": "safety", "expected": "safe"} for i in range(5)]
    humans += [_label(f"g{i}", "safety", "crimes", "liar", False) for i in range(5)]
    humans += [_label(f"g{i}", "safety", "crimes", a, True) for i in range(5) for a in ("a1", "a2", "a3")]
    write_jsonl(tmp_path / "votes" / "labels.jsonl", humans)
    write_jsonl(tmp_path / "votes" / "gold.jsonl", gold)
    write_jsonl(tmp_path / "judged" / "labels.jsonl", judged)

    assert main(["judge", "--agreement", str(tmp_path / "votes"), "--labels", str(tmp_path / "judged")]) == 0
    printed = capsys.readouterr().out
    record = json.loads((tmp_path / "judged" / "agreement.json").read_text(encoding="utf-8"))
    safety = record["agreement"]["safety"]
    for name, values in people.items():
        cell = safety["categories"][scenario[name]]
        assert cell["replies"] == len(values)
        assert cell["kappa"] == pytest.approx(cohen_kappa_score(values, judge[name]))
        assert cell["accuracy"] == pytest.approx(sum(a == b for a, b in zip(values, judge[name], strict=True)) / len(values))
    every_h, every_j = people["crimes"] + people["privacy"], judge["crimes"] + judge["privacy"]
    assert safety["overall"]["kappa"] == pytest.approx(cohen_kappa_score(every_h, every_j))
    assert safety["human_only"] == 0  # the unsettled reply and the gold replies have no verdict
    law = record["agreement"]["responsibility"]["categories"]["law"]
    assert law["spearman"] == pytest.approx(spearmanr(scores_j, scores_h).statistic)
    assert law["mae"] == pytest.approx(sum(abs(a - b) for a, b in zip(scores_h, scores_j, strict=True)) / 6)
    assert record["human"]["untrusted_annotators"] == 1 and record["judge"] == "judge:j@zh-v1"
    assert "κ" in printed and "违法犯罪" in printed and f"{safety['categories']['crimes']['kappa']:.3f}" in printed
