"""The scoring modes of ``cvalues eval``. A mode is one function in ``SCORERS``: it gets one
process's share of the items as a ``ShardJob``, writes a prediction row per item through
``job.write`` as batches finish, and returns its statistics. The runner does the rest (items,
output folder, processes, resume, metric, results), the same for every mode.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..core.answer_format import answer_format
from ..core.labels import LABELS
from .backends import Backend, GenerationSettings, open_backend
from .items import Items


@dataclass
class ShardJob:
    """One process's share of a run. ``write(positions, rows)`` appends the rows for the items
    ``shard[positions]`` (the runner adds each item's id, pair, category and label), flushed to
    disk before it returns, and advances the progress bar. ``metric()`` is the run's metric,
    loaded on first call."""

    opts: Any  # runner.EvalOptions
    items: Items
    shard: list[int]
    device: str
    metric: Callable[[], Any]
    write: Callable[[list[int], list[dict[str, Any]]], None]

    def prompts(self) -> list[str]:
        return [self.items.prompts[i] for i in self.shard]


Scorer = Callable[[ShardJob], dict[str, Any]]


def generation_settings(opts: Any) -> GenerationSettings:
    """Generate mode's settings: greedy, as the paper's automatic evaluation."""
    return GenerationSettings(max_new_tokens=opts.max_new_tokens, chat_template=opts.chat_template)


def open_model(job: ShardJob) -> Backend:
    """The run's model. Options left at ``auto`` are not passed (each backend has its own
    default), so a backend is given only what was asked of it, and refuses what it cannot do
    (``--dtype bf16`` with a served model)."""
    opts = job.opts
    options = {"dtype": opts.dtype, "device": job.device, "batch_size": opts.batch_size}
    return open_backend(opts.model, padding_side=opts.padding_side, **opts.backend_options,
                        **{k: v for k, v in options.items() if v != "auto"})


def _stats(backend: Backend, started: float) -> dict[str, Any]:
    """Tokens and seconds of the scoring itself (the model load is not in them), and what ran."""
    return {"tokens": backend.usage()["tokens"], "seconds": time.perf_counter() - started,
            "backend": backend.describe()}


def score_loglik(job: ShardJob) -> dict[str, Any]:
    """log P(回复1) against log P(回复2) after each prompt, with the item's own continuations."""
    backend = open_model(job)
    started = time.perf_counter()
    continuations = answer_format(job.items.template_version).continuations

    def on_batch(batch: list[int], scores: list[list[float]]) -> None:
        # Ties go to 回复1; with continuous log-probs they do not happen in practice.
        job.write(batch, [{"pred": LABELS[0] if lp[0] >= lp[1] else LABELS[1], "logprob_1": lp[0],
                           "logprob_2": lp[1]} for lp in scores])

    try:
        backend.loglik(job.prompts(), continuations, on_batch=on_batch)
        return _stats(backend, started)
    finally:
        backend.close()


def score_generate(job: ShardJob) -> dict[str, Any]:
    """The model writes its answer; the metric's parser reads it once, as it arrives."""
    backend = open_model(job)
    started = time.perf_counter()
    settings = generation_settings(job.opts)
    chat = backend.applies_chat_template(settings)
    fmt = answer_format(job.items.template_version)
    parse = job.metric().parse_answer

    def on_batch(batch: list[int], texts: list[str]) -> None:
        rows = []
        for text in texts:
            answer = fmt.answer_text(text, chat)
            rows.append({"pred": parse(answer), "generation": text, "answer": answer, "chat_template": chat})
        job.write(batch, rows)

    try:
        backend.generate(job.prompts(), settings, on_batch=on_batch)
        return _stats(backend, started)
    finally:
        backend.close()


SCORERS: dict[str, Scorer] = {
    "loglik": score_loglik,
    "generate": score_generate,
}
# Options a resumed run must share with the run it continues, beyond the model, data and dtype.
RUN_KEYS_BY_MODE: dict[str, tuple[str, ...]] = {"generate": ("chat_template", "max_new_tokens")}
