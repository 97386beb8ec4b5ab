"""The ``hf`` backend: a transformers causal LM in this process, on CPU or one GPU per process.

It is the scoring path that ``cvalues eval`` always had, behind the backend interface: the model
comes from ``models.load_model`` (the demo, a Hub id or a folder), loglik mode runs
``loglik.LoglikScorer`` and generation runs ``generate.Generator`` (greedy, length-sorted,
token-budgeted batches). Streaming runs ``model.generate`` with a ``TextIteratorStreamer``, and
stops it when the reader closes the stream (a Space visitor who left).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from ..batching import AUTO_MAX_ITEMS, AUTO_TOKEN_BUDGET_CPU, AUTO_TOKEN_BUDGET_GPU
from ..models import parse_demo
from ..references import resolve_reference
from .base import Backend, GenerationSettings, Progress, parse_batch_size

# Seconds a streamer waits for the next token before giving up on a stuck generation.
STREAM_TIMEOUT_S = 300.0

# transformers resolves its public names lazily, and that first lookup is not thread-safe: a burst
# of first battles in the Space racing through it raised "cannot import name
# 'TextIteratorStreamer'". So the first streamer import and every model load go through this one
# lock; once done, both are lock-free.
_LOAD_LOCK = threading.Lock()
_streamer_cls: Any = None
_stop_when_set_cls: Any = None


def streamer_class() -> Any:
    global _streamer_cls
    if _streamer_cls is None:
        with _LOAD_LOCK:
            from transformers import TextIteratorStreamer

            _streamer_cls = TextIteratorStreamer
    return _streamer_cls


def stop_when_set(event: threading.Event) -> Any:
    """Stopping criteria that end ``model.generate`` at its next token once ``event`` is set."""
    global _stop_when_set_cls
    if _stop_when_set_cls is None:
        with _LOAD_LOCK:
            import torch
            from transformers import StoppingCriteria, StoppingCriteriaList

            class StopWhenSet(StoppingCriteria):
                def __init__(self, event: threading.Event):
                    self.event = event

                def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                    done = self.event.is_set()
                    return torch.full((input_ids.shape[0],), done, dtype=torch.bool, device=input_ids.device)

            _stop_when_set_cls = (StopWhenSet, StoppingCriteriaList)
    criterion, as_list = _stop_when_set_cls
    return as_list([criterion(event)])


def batching(batch_size: str, device: str) -> dict[str, Any]:
    """``--batch-size`` (auto or N) as arguments for the scorers: auto is a token budget per
    forward pass (larger on GPU) that halves on out-of-memory."""
    n = parse_batch_size(batch_size)
    if n is None:
        budget = AUTO_TOKEN_BUDGET_GPU if device.startswith("cuda") else AUTO_TOKEN_BUDGET_CPU
        return {"batch_size": AUTO_MAX_ITEMS, "token_budget": budget, "adaptive": True}
    return {"batch_size": n, "token_budget": None, "adaptive": False}


def _decoding(settings: GenerationSettings) -> dict[str, Any]:
    """``model.generate`` arguments for the settings beyond the token cap."""
    kwargs: dict[str, Any] = {"do_sample": settings.do_sample, **settings.sampling()}
    if settings.repetition_penalty is not None:
        kwargs["repetition_penalty"] = settings.repetition_penalty
    return kwargs


@contextmanager
def _seeded(seed: int | None, device: str) -> Iterator[None]:
    """With a seed, a sampled run draws from its own seeded generator state (restored after), so
    the same prompts, settings and batches give the same replies; without one, nothing changes."""
    if seed is None:
        yield
        return
    import torch

    cuda = torch.device(device)
    with torch.random.fork_rng(devices=[cuda] if cuda.type == "cuda" else []):
        torch.manual_seed(seed)
        yield


class HFBackend(Backend):
    kind = "hf"
    supports_loglik = True

    @classmethod
    def check(cls, target: str) -> None:
        if parse_demo(target) is None:  # parse_demo refuses a bad demo:SEED itself
            resolve_reference(target, "model")

    def __init__(self, target: str, *, dtype: str = "auto", device: str = "auto", batch_size: str = "auto",
                 padding_side: str | None = None):
        from ..models import load_model

        super().__init__(target)
        source = target if parse_demo(target) is not None else resolve_reference(target, "model")
        with _LOAD_LOCK:
            self.model, self.tokenizer = load_model(source, dtype=dtype, device=device)
        weights = next(self.model.parameters())
        self.device, self.dtype = str(weights.device), str(weights.dtype).removeprefix("torch.")
        self.batch_kw = batching(batch_size, self.device)
        self.padding_side = padding_side
        self._scorer: Any = None
        self._counters: list[Any] = []  # the scorers and generators run, each counting its tokens

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "dtype": self.dtype, "device": self.device}

    def move_to(self, device: str) -> None:
        import torch

        if torch.device(device).type != torch.device(self.device).type:
            self.model.to(device)
            self.device = str(next(self.model.parameters()).device)

    def usage(self) -> dict[str, int]:
        return {"tokens": sum(c.tokens_seen for c in self._counters)}

    def applies_chat_template(self, settings: GenerationSettings) -> bool:
        from ..generate import has_chat_template

        return settings.chat_template and has_chat_template(self.tokenizer)

    def generate(self, prompts: Sequence[str], settings: GenerationSettings,
                 on_batch: Progress[str] | None = None) -> list[str]:
        from ..generate import Generator, build_inputs

        generator = Generator(self.model, self.tokenizer, max_new_tokens=settings.max_new_tokens,
                              sampling=_decoding(settings))
        self._counters.append(generator)
        inputs, _ = build_inputs(self.tokenizer, list(prompts), settings.chat_template)
        with _seeded(settings.seed, self.device):
            return generator.generate(inputs, on_batch=on_batch, **self.batch_kw)

    def stream(self, prompt: str, settings: GenerationSettings) -> Iterator[str]:
        """``settings.seed`` is not applied here: torch's random state is shared by the threads of
        concurrent streams (the arena's), so seeding one would reseed them all."""
        import torch

        from ..generate import build_inputs

        streamer = streamer_class()(self.tokenizer, skip_prompt=True, skip_special_tokens=True,
                                    timeout=STREAM_TIMEOUT_S)
        ids, _ = build_inputs(self.tokenizer, [prompt], settings.chat_template)
        input_ids = torch.tensor(ids, device=self.device)
        closed = threading.Event()
        kwargs = {"max_new_tokens": settings.max_new_tokens, "stopping_criteria": stop_when_set(closed),
                  **_decoding(settings)}
        failed: list[BaseException] = []

        def run() -> None:
            try:
                with torch.inference_mode():
                    self.model.generate(input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
                                        streamer=streamer, **kwargs)
            except BaseException as err:  # noqa: BLE001 - raised to the reader below
                failed.append(err)
                streamer.end()

        threading.Thread(target=run, daemon=True).start()
        try:
            yield from streamer
        finally:
            closed.set()  # a reader that stops early (GeneratorExit) frees the model at the next token
        if failed:
            raise failed[0]

    def loglik(self, contexts: Sequence[str], continuations: Sequence[str],
               on_batch: Progress[list[float]] | None = None) -> list[list[float]]:
        from .. import loglik as scoring

        if self._scorer is None:
            self._scorer = scoring.LoglikScorer(self.model, self.tokenizer, padding_side=self.padding_side)
            self._counters.append(self._scorer)
        reqs = [scoring.encode_request(self.tokenizer, context, list(continuations)) for context in contexts]
        return self._scorer.score(reqs, on_batch=on_batch, **self.batch_kw)
