"""The backend seam: model names, the registry, and the hf backend through the interface giving
what the scoring functions it wraps give (and what ``cvalues eval`` wrote before backends)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from cvalues_build.evaluation.backends import (
    BACKENDS,
    Backend,
    BackendError,
    GenerationSettings,
    LazyBackend,
    LoglikUnsupported,
    ModelRef,
    open_backend,
    parse_model,
)


@pytest.mark.parametrize(("spec", "ref"), [
    ("demo", ModelRef("hf", "demo")),
    ("demo:3", ModelRef("hf", "demo:3")),
    ("Qwen/Qwen2.5-7B-Instruct", ModelRef("hf", "Qwen/Qwen2.5-7B-Instruct")),
    ("hf:Qwen/Qwen2.5-7B-Instruct", ModelRef("hf", "Qwen/Qwen2.5-7B-Instruct")),
    ("hf:demo:2", ModelRef("hf", "demo:2")),
    ("./runs/ckpt", ModelRef("hf", "./runs/ckpt")),
    ("C:\\models\\qwen", ModelRef("hf", "C:\\models\\qwen")),  # a drive letter is not a backend
])
def test_model_names(spec, ref):
    assert parse_model(spec) == ref


@pytest.mark.parametrize(("spec", "message"), [
    ("", "empty"),
    ("hf:", "no model after the colon"),
    ("nosuch:some-model", "unknown backend 'nosuch'; known backends: hf"),
    ("demo:x", "demo:SEED"),
])
def test_bad_model_names_are_clear_errors(spec, message):
    with pytest.raises(ValueError, match=message):
        open_backend(spec)


def test_a_backend_refuses_options_it_does_not_take():
    with pytest.raises(BackendError, match="takes no option base_url"):
        open_backend("demo", base_url="http://127.0.0.1:1/v1")


def test_generation_settings_check_and_record():
    assert GenerationSettings().sampling() == {}  # greedy: no sampling knobs
    sampled = GenerationSettings.from_mapping({"do_sample": True, "temperature": 0.7, "top_p": 0.9, "max_new_tokens": 8})
    assert sampled.sampling() == {"temperature": 0.7, "top_p": 0.9}
    assert sampled.record() == {"max_new_tokens": 8, "do_sample": True, "temperature": 0.7, "top_p": 0.9,
                                "chat_template": True}
    with pytest.raises(ValueError, match="unknown generation settings"):
        GenerationSettings.from_mapping({"beams": 4})
    with pytest.raises(ValueError, match="max_new_tokens"):
        GenerationSettings(max_new_tokens=0)


# -- a backend added as one class and one registry line ------------------------------------------

class EchoBackend(Backend):
    """Answers every prompt with the text after ``echo:``; no log-probabilities."""

    kind = "echo"

    def generate(self, prompts: Sequence[str], settings: GenerationSettings, on_batch=None) -> list[str]:
        replies = [self.target for _ in prompts]
        for start in range(0, len(prompts), 2):
            batch = list(range(start, min(start + 2, len(prompts))))
            if on_batch is not None:
                on_batch(batch, [replies[i] for i in batch])
        return replies

    def stream(self, prompt: str, settings: GenerationSettings) -> Iterator[str]:
        yield from self.target


@pytest.fixture
def echo_registered(monkeypatch):
    monkeypatch.setitem(BACKENDS, "echo", LazyBackend(__name__, "EchoBackend"))


def _eval(build: Path, out: Path, model: str, *extra: str) -> int:
    from cvalues_build.cli import main

    return main(["eval", "--model", model, "--dataset", str(build), "--config", "safety_mc", "--out", str(out),
                 "--no-progress", "--bootstrap", "20", "--limit", "4", *extra])


def test_a_registered_backend_runs_cvalues_eval(echo_registered, sample_build, tmp_path):
    backend = open_backend("echo:回复2更安全。")
    assert isinstance(backend, EchoBackend) and "".join(backend.stream("?", GenerationSettings())) == "回复2更安全。"
    out = tmp_path / "e"
    assert _eval(sample_build, out, "echo:回复2更安全。", "--mode", "generate") == 0
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["pred"] for r in rows] == ["回复2"] * 4
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert results["backend"] == {"backend": "echo", "model": "回复2更安全。"}


def test_loglik_on_a_backend_without_logprobs_is_a_clear_error(echo_registered, sample_build, tmp_path, capsys):
    assert _eval(sample_build, tmp_path / "l", "echo:x") == 2
    err = capsys.readouterr().err
    assert "no next-token log-probabilities" in err and "--mode generate" in err and "Traceback" not in err
    with pytest.raises(LoglikUnsupported):
        open_backend("echo:x").loglik(["问题"], ["1", "2"])


# -- the hf backend gives what the functions it wraps give --------------------------------------

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def prompts(sample_build) -> list[str]:
    import datasets

    items = datasets.load_dataset(str(sample_build), "safety_mc")["test"]
    return [it["prompt"][-(40 + 25 * i):] for i, it in enumerate(items.select(range(6)))]


@pytest.fixture(scope="module")
def hf() -> Backend:
    return open_backend("demo:4", device="cpu", batch_size="4")


def test_hf_describes_itself(hf):
    assert hf.describe() == {"backend": "hf", "model": "demo:4", "dtype": "float32", "device": "cpu"}
    assert hf.supports_loglik and hf.applies_chat_template(GenerationSettings())
    assert not hf.applies_chat_template(GenerationSettings(chat_template=False))


def test_hf_loglik_equals_the_scorer(hf, prompts):
    from cvalues_build.evaluation.loglik import LoglikScorer, encode_request
    from cvalues_build.evaluation.models import load_model

    model, tok = load_model("demo:4", device="cpu")
    direct = LoglikScorer(model, tok).score([encode_request(tok, p, ["1", "2"]) for p in prompts], batch_size=4)
    seen: list[int] = []
    through = hf.loglik(prompts, ["1", "2"], on_batch=lambda batch, scores: seen.extend(batch))
    assert sorted(seen) == list(range(len(prompts)))
    assert [x for row in through for x in row] == pytest.approx([x for row in direct for x in row], abs=1e-5)
    assert hf.usage()["tokens"] > 0


def test_hf_generate_equals_the_generator(hf, prompts):
    from cvalues_build.evaluation.generate import Generator, build_inputs
    from cvalues_build.evaluation.models import load_model

    model, tok = load_model("demo:4", device="cpu")
    for chat in (True, False):
        inputs, _ = build_inputs(tok, prompts, use_chat_template=chat)
        direct = Generator(model, tok, max_new_tokens=6).generate(inputs, batch_size=4)
        assert hf.generate(prompts, GenerationSettings(max_new_tokens=6, chat_template=chat)) == direct
    assert len(set(direct)) > 1  # the demo's replies differ per prompt, so equality means something


def test_hf_stream_gives_the_greedy_reply_piece_by_piece(hf, prompts):
    settings = GenerationSettings(max_new_tokens=8)
    pieces = list(hf.stream(prompts[0], settings))
    assert len(pieces) > 1 and "".join(pieces) == hf.generate(prompts[:1], settings)[0]


def test_hf_stream_closed_early_stops_the_generation(hf, prompts):
    """A Space visitor who leaves closes their reply's stream: the model stops at its next token
    instead of running on to max_new_tokens in the background."""
    steps: list[int] = []
    hook = hf.model.register_forward_hook(lambda *args: steps.append(1))
    try:
        pieces = hf.stream(prompts[0], GenerationSettings(max_new_tokens=3000))
        next(pieces)
        pieces.close()
        seen, deadline = -1, time.monotonic() + 30
        while len(steps) != seen and time.monotonic() < deadline:  # until no step for 0.5 s
            seen = len(steps)
            time.sleep(0.5)
    finally:
        hook.remove()
    assert len(steps) < 100, f"{len(steps)} forward steps after the reader left"


def test_hf_stream_raises_a_failure_after_the_pieces(hf, prompts, monkeypatch):
    def broken(**kwargs):
        kwargs["streamer"].put(torch.tensor([[5, 6, 7]]))
        raise RuntimeError("CUDA error: device lost")

    monkeypatch.setattr(hf.model, "generate", broken)
    with pytest.raises(RuntimeError, match="device lost"):
        list(hf.stream(prompts[0], GenerationSettings()))


def test_hf_generate_samples_batches_reproducibly_with_a_seed(hf, prompts):
    """What ``cvalues respond --temperature T --seed S`` needs: sampled replies, batched, the same
    for the same seed, and the global random state left as it was."""
    greedy = hf.generate(prompts, GenerationSettings(max_new_tokens=8))
    state = torch.random.get_rng_state()
    sampled = [hf.generate(prompts, GenerationSettings(max_new_tokens=8, do_sample=True, temperature=1.5,
                                                       seed=seed)) for seed in (1, 1, 2)]
    assert sampled[0] == sampled[1] and sampled[0] != sampled[2] and sampled[0] != greedy
    assert torch.equal(torch.random.get_rng_state(), state)


def test_eval_records_the_backend_and_generation_settings(sample_build, tmp_path):
    out = tmp_path / "g"
    assert _eval(sample_build, out, "demo", "--mode", "generate", "--max-new-tokens", "3", "--device", "cpu") == 0
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert results["backend"] == {"backend": "hf", "model": "demo", "dtype": "float32", "device": "cpu"}
    assert results["generation"] == {"max_new_tokens": 3, "do_sample": False, "chat_template": True}
