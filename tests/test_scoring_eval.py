"""``cvalues eval`` end to end on the built sample, with the real metric."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")

from cvalues_build.cli import main  # noqa: E402

METRIC_KEYS = {"accuracy", "acc_star", "consistent_accuracy", "position_bias", "n", "n_parsed", "refuse",
               "other", "unparsed", "per_category", "accuracy_ci"}
RUN_KEYS = {"model", "config", "dataset", "mode", "template_version", "dataset_fingerprint", "n_items",
            "wall_seconds", "tokens_per_second", "versions"}


def _items(build: Path, config: str) -> list[dict]:
    import datasets

    return list(datasets.load_dataset(str(build), config)["test"])


def _eval(build: Path, out: Path, *extra: str, config: str = "responsibility_mc") -> int:
    return main(["eval", "--model", "demo", "--dataset", str(build), "--config", config, "--out", str(out),
                 "--no-progress", "--bootstrap", "50", *extra])


def _lines(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "predictions.jsonl").read_text(encoding="utf-8").splitlines()]


def test_loglik_writes_one_line_per_item_and_results(sample_build, tmp_path, capsys):
    out = tmp_path / "r"
    assert _eval(sample_build, out) == 0
    items = _items(sample_build, "responsibility_mc")
    rows = _lines(out)
    assert [r["id"] for r in rows] == [it["id"] for it in items]  # dataset order restored
    for r in rows:
        assert {"id", "pair_id", "category", "label", "pred", "logprob_1", "logprob_2"} <= set(r)
        assert r["pred"] == ("回复1" if r["logprob_1"] >= r["logprob_2"] else "回复2")
        assert isinstance(r["category"], str) and not r["category"].isdigit()
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert METRIC_KEYS | RUN_KEYS <= set(results)
    assert results["model"] == "demo" and results["config"] == "responsibility_mc"
    assert results["dataset"] == str(sample_build) and results["mode"] == "loglik"
    assert results["n_items"] == results["n"] == len(items)
    assert results["template_version"] == items[0]["template_version"]
    table = capsys.readouterr().out
    assert "consistent accuracy" in table and "position bias" in table and "psychology" in table


def test_generate_mode_parses_with_the_metric(sample_build, tmp_path):
    out = tmp_path / "g"
    assert _eval(sample_build, out, "--mode", "generate", "--limit", "6", "--max-new-tokens", "4",
                 config="safety_mc") == 0
    rows = _lines(out)
    assert len(rows) == 6
    for r in rows:
        assert r["chat_template"] is True and isinstance(r["generation"], str)
        assert r["pred"] in {"回复1", "回复2", "other", "refuse", "unparsed"}
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert results["mode"] == "generate" and results["n"] == 6
    assert results["n_parsed"] + results["refuse"] + results["other"] + results["unparsed"] == 6


SCRIPTED = {  # answer -> the class the metric's parser gives it
    "回复1更好。": "回复1", "我认为回复2更安全。": "回复2", "两个回复都很好。": "other",
    "抱歉，作为AI我无法判断。": "refuse", "今天天气不错。": "unparsed", "答案：回复1": "回复1",
}


@pytest.fixture
def metric_calls(monkeypatch):
    """Every ``evaluate.load`` of the metric, every ``parse_answer`` call on it and the
    arguments of its ``compute``, as the runner makes them."""
    import evaluate

    calls: dict = {"loads": 0, "parsed": [], "compute": None}
    real_load = evaluate.load

    def load(path, *args, **kwargs):
        metric = real_load(path, *args, **kwargs)
        calls["loads"] += 1
        parse, compute = metric.parse_answer, metric.compute

        def counted_parse(text):
            calls["parsed"].append(text)
            return parse(text)

        def recorded_compute(**kw):
            calls["compute"] = kw
            return compute(**kw)

        metric.parse_answer, metric.compute = counted_parse, recorded_compute
        return metric

    monkeypatch.setattr(evaluate, "load", load)
    return calls


def test_generate_mode_loads_the_metric_once_and_parses_each_answer_once(sample_build, tmp_path, monkeypatch,
                                                                         metric_calls):
    from cvalues_build.evaluation.demo_model import build_demo_tokenizer
    from cvalues_build.evaluation.generate import Generator, build_inputs

    prompts = [it["prompt"] for it in _items(sample_build, "safety_mc")[:6]]
    ids, _ = build_inputs(build_demo_tokenizer(), prompts, use_chat_template=True)
    answer_for = {tuple(x): text for x, text in zip(ids, SCRIPTED, strict=True)}
    monkeypatch.setattr(Generator, "generate_batch", lambda self, batch: [answer_for[tuple(x)] for x in batch])

    out = tmp_path / "g"
    assert _eval(sample_build, out, "--mode", "generate", "--limit", "6", config="safety_mc") == 0
    rows = _lines(out)
    assert [r["answer"] for r in rows] == list(SCRIPTED)
    assert [r["pred"] for r in rows] == list(SCRIPTED.values())
    assert metric_calls["loads"] == 1
    assert sorted(metric_calls["parsed"]) == sorted(SCRIPTED)  # each answer parsed once, by the runner
    assert metric_calls["compute"]["predictions"] == list(SCRIPTED.values())  # compute gets the classes
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert (results["other"], results["refuse"], results["unparsed"], results["n_parsed"]) == (1, 1, 1, 3)


def test_loglik_mode_loads_the_metric_once_and_never_parses(sample_build, tmp_path, metric_calls):
    assert _eval(sample_build, tmp_path / "l", "--limit", "4") == 0
    assert metric_calls["loads"] == 1 and metric_calls["parsed"] == []


def test_batched_left_padded_generation_equals_one_at_a_time(sample_build):
    from cvalues_build.evaluation.generate import Generator, build_inputs
    from cvalues_build.evaluation.models import load_model

    model, tok = load_model("demo:4", device="cpu")
    prompts = [it["prompt"][-(20 + 15 * i):] for i, it in enumerate(_items(sample_build, "safety_mc")[:5])]
    inputs, chat = build_inputs(tok, prompts, use_chat_template=True)
    assert chat and all(ids[0] == tok.bos_token_id for ids in inputs)
    gen = Generator(model, tok, max_new_tokens=6)
    batched = gen.generate(inputs, batch_size=5)
    single = [gen.generate([x], batch_size=1)[0] for x in inputs]
    assert batched == single
    plain, chat = build_inputs(tok, prompts, use_chat_template=False)
    assert not chat and plain[0] == tok(prompts[0])["input_ids"]


def test_interrupted_run_resumes_to_exactly_one_line_per_item(sample_build, tmp_path, monkeypatch):
    from cvalues_build.evaluation import loglik

    out = tmp_path / "crash"
    real = loglik.LoglikScorer.score_batch
    calls = {"n": 0}

    def dies_on_third_batch(self, reqs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # as if killed while the third batch was in flight
        return real(self, reqs)

    monkeypatch.setattr(loglik.LoglikScorer, "score_batch", dies_on_third_batch)
    assert _eval(sample_build, out, "--limit", "24", "--batch-size", "4") == 130
    assert len(_lines(out)) == 8  # the two finished batches survived, the one in flight is lost
    assert not (out / "results.json").exists()
    # a kill in the middle of a write leaves a torn last line: resume must not trip on it
    with (out / "predictions.jsonl").open("a", encoding="utf-8") as fh:
        fh.write('{"id": "torn", "pair_id": "x", "pre')
    monkeypatch.setattr(loglik.LoglikScorer, "score_batch", real)

    assert _eval(sample_build, out, "--limit", "24", "--batch-size", "4", "--resume") == 0
    rows = _lines(out)
    ids = [r["id"] for r in rows]
    assert len(ids) == 24 and len(set(ids)) == 24
    assert ids == [it["id"] for it in _items(sample_build, "responsibility_mc")[:24]]
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert results["n_scored_this_run"] == 16 and results["n"] == 24

    fresh = tmp_path / "fresh"
    assert _eval(sample_build, fresh, "--limit", "24") == 0
    for a, b in zip(rows, _lines(fresh), strict=True):
        assert a["pred"] == b["pred"] and a["logprob_1"] == pytest.approx(b["logprob_1"], abs=1e-4)


def test_resume_refuses_a_different_run(sample_build, tmp_path, capsys):
    out = tmp_path / "r"
    assert _eval(sample_build, out, "--limit", "4") == 0
    rc = main(["eval", "--model", "demo:1", "--dataset", str(sample_build), "--config", "responsibility_mc",
               "--out", str(out), "--limit", "4", "--resume", "--no-progress"])
    assert rc == 2 and "different model" in capsys.readouterr().err


def test_fresh_run_replaces_old_predictions(sample_build, tmp_path):
    out = tmp_path / "r"
    assert _eval(sample_build, out, "--limit", "6") == 0
    assert _eval(sample_build, out, "--limit", "2", "--overwrite") == 0
    assert len(_lines(out)) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--batch-size", "0"], "--batch-size"),
        (["--limit", "0"], "--limit"),
        (["--metric", "/nonexistent/cvalues.py"], "no such metric"),
    ],
)
def test_bad_options_are_clear_errors(sample_build, tmp_path, capsys, args, message):
    assert _eval(sample_build, tmp_path / "r", *args) == 2
    assert message in capsys.readouterr().err


def test_missing_config_is_a_clear_error(sample_build, tmp_path, capsys):
    assert _eval(sample_build, tmp_path / "r", config="responsibility_mc_official") == 2
    assert "responsibility_mc_official" in capsys.readouterr().err


def test_metric_resolves_through_the_installed_package():
    """One route: the cvalues_metric package's script, which the editable install maps onto the
    checkout's metric/cvalues/ (installed, onto the shipped copy)."""
    import cvalues_metric

    from cvalues_build.evaluation.metric import metric_path

    path = Path(metric_path())
    assert path == Path(cvalues_metric.__file__).resolve().parent / "cvalues.py" and path.exists()


def test_cli_help_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys; from cvalues_build.cli import build_parser; build_parser(); print('torch' in sys.modules)"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == "False"


def test_limit_keeps_whole_pairs():
    from cvalues_build.evaluation.runner import whole_pair_prefix

    pairs = ["a", "b", "a", "b", "c", "c", "d"]
    assert whole_pair_prefix(pairs, 4) == [0, 1, 2, 3]
    assert whole_pair_prefix(pairs, 5) == [0, 1, 2, 3]
    assert whole_pair_prefix(pairs, 1) == [0, 2]
    assert whole_pair_prefix(pairs, 100) == list(range(7))
