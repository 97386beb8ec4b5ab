"""``cvalues respond``: a model's own replies to the safety or responsibility prompts, the input
of human labels (the Space's campaigns), of ``cvalues judge`` and so of the paper's RQ1 table.

It is ``cvalues eval``'s machinery with free text instead of a score: the model opened through
``backends.open_backend`` (hf batches length-sorted under a token budget; a served model keeps
``--concurrency`` requests in flight), each batch appended and fsynced as it finishes
(``predictions.Appender``), ``--resume`` skipping what is on disk, and the ``--out`` rules of
``predictions.check_run_folder``.

``OUT/replies.jsonl``, one row per prompt, in dataset order once the run is complete::

    prompt_id, prompt, criterion, category, source   the prompt
    model                                            --model as given (demo:1, openai:NAME, ORG/NAME)
    reply, response_id                               the reply, and the Space's id for it:
                                                     core.records.reply_id(prompt_id, model, reply)
    generation, seed                                 the settings the reply was generated with
    timing                                           {batch_seconds, batch_replies, finished_at}

``OUT/run.json``: what was asked (model, dataset, config, limit, generation; a ``--resume`` must
ask the same), and once complete the counts, the backend's own account (with token usage for a
served model), the wall time and the package versions.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..core.records import PromptRecord, reply_id
from . import predictions as store
from .backends import GenerationSettings, check_model, open_backend, parse_batch_size, parse_model
from .prompts import Prompts, check_config, load_prompts

REPLIES = "replies.jsonl"
KEY = "prompt_id"


@dataclass
class RespondOptions:
    model: str
    dataset: str
    config: str
    out: str
    limit: int | None = None
    resume: bool = False
    overwrite: bool = False
    max_new_tokens: int = 512
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    batch_size: str = "auto"
    dtype: str = "auto"
    device: str = "auto"
    progress: bool = True
    backend_options: dict[str, Any] = field(default_factory=dict)


def replies_file(run: str | Path) -> Path:
    """``run``'s replies.jsonl (``run`` is the --out folder of ``cvalues respond``, or the file)."""
    path = Path(run)
    source = path / REPLIES if path.is_dir() else path
    if not source.is_file():
        raise FileNotFoundError(f"{path}: no {REPLIES} here (write one with `cvalues respond`)")
    return source


def read_reply_rows(source: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(file:line, row)`` for every row of a replies.jsonl; a line that is not a JSON object is
    an error naming it (and saying so when it is the torn last line of a run that was stopped)."""
    with source.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{source}:{number}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                torn = "" if line.endswith("\n") else " (the run stopped while writing it: finish it with --resume)"
                raise ValueError(f"{where}: not a JSON object{torn}: {err.msg}") from None
            if not isinstance(row, dict):
                raise ValueError(f"{where}: not a JSON object")
            yield where, row


def generation_settings(opts: RespondOptions) -> GenerationSettings:
    """Greedy unless ``--temperature`` is above 0 (then sampled, with ``--top-p`` if given); always
    through the chat template: the replies answer a user's question."""
    sampled = opts.temperature is not None and opts.temperature > 0
    if opts.top_p is not None and not sampled:
        raise ValueError("--top-p applies to sampled replies: give a --temperature above 0 too")
    return GenerationSettings(max_new_tokens=opts.max_new_tokens, do_sample=sampled,
                              temperature=opts.temperature if sampled else None,
                              top_p=opts.top_p if sampled else None, seed=opts.seed)


def run_record(opts: RespondOptions, settings: GenerationSettings) -> dict[str, Any]:
    """What a run asked for; a resumed run must ask the same."""
    return {"model": opts.model, "dataset": opts.dataset, "config": opts.config, "limit": opts.limit,
            "generation": settings.record()}


def reply_row(prompt: PromptRecord, model: str, reply: str, settings: GenerationSettings,
              timing: dict[str, Any]) -> dict[str, Any]:
    return {"prompt_id": prompt.id, "prompt": prompt.prompt, "criterion": prompt.criterion,
            "category": prompt.category, "source": prompt.source, "model": model, "reply": reply,
            "response_id": reply_id(prompt.id, model, reply), "generation": settings.record(),
            "seed": settings.seed, "timing": timing}


def _open(opts: RespondOptions) -> Any:
    local = {"dtype": opts.dtype, "device": opts.device, "batch_size": opts.batch_size}
    return open_backend(opts.model, **opts.backend_options, **{k: v for k, v in local.items() if v != "auto"})


def _respond(opts: RespondOptions, prompts: Prompts, pending: list[int], settings: GenerationSettings,
             out: Path) -> dict[str, Any]:
    """Reply to the ``pending`` prompts, each batch appended as it finishes; the backend's account."""
    from tqdm.auto import tqdm

    backend = _open(opts)
    records = [prompts.records[i] for i in pending]
    try:
        with store.Appender(out / REPLIES) as appender, tqdm(
                total=len(records), unit="reply", desc=f"respond {opts.config}", disable=not opts.progress,
                dynamic_ncols=True) as bar:
            last = time.perf_counter()

            def write(batch: list[int], replies: list[str]) -> None:
                nonlocal last
                now, stamp = time.perf_counter(), datetime.now(timezone.utc).isoformat(timespec="seconds")
                timing = {"batch_seconds": round(now - last, 3), "batch_replies": len(batch), "finished_at": stamp}
                last = now
                appender.write([reply_row(records[j], opts.model, reply, settings, timing)
                                for j, reply in zip(batch, replies, strict=True)])
                bar.update(len(batch))

            backend.generate([r.prompt for r in records], settings, on_batch=write)
        return backend.describe()
    finally:
        backend.close()


def run_respond(opts: RespondOptions) -> dict[str, Any]:
    """Reply to every prompt (or those ``--resume`` finds missing); returns what run.json holds."""
    from .runner import versions

    started, out = time.perf_counter(), Path(opts.out)
    if opts.resume and opts.overwrite:
        raise ValueError("--resume continues the run in --out and --overwrite replaces it: give one, not both")
    check_config(opts.config)
    settings = generation_settings(opts)
    parse_batch_size(opts.batch_size)
    check_model(opts.model)
    record = run_record(opts, settings)
    store.check_run_folder(out, record, resume=opts.resume, overwrite=opts.overwrite, rows=REPLIES)
    prompts = load_prompts(opts.dataset, opts.config, opts.limit)
    store.prepare_run_folder(out, record, resume=opts.resume, rows=REPLIES, key=KEY)
    done = store.existing_predictions(out, REPLIES, KEY)
    pending = [i for i, pid in enumerate(prompts.ids) if pid not in done]
    ref = parse_model(opts.model)
    backend = _respond(opts, prompts, pending, settings, out) if pending else {"backend": ref.backend,
                                                                                "model": ref.target}
    rows = store.consolidate(out, order=prompts.ids, name=REPLIES, key=KEY)
    if len(rows) != len(prompts.ids):
        raise RuntimeError(f"expected {len(prompts.ids)} replies, found {len(rows)} in {out / REPLIES}")
    summary = {**record, "dataset_fingerprint": prompts.fingerprint, "prompts": len(rows),
               "replied_this_run": len(pending), "empty_replies": sum(not r["reply"].strip() for r in rows),
               "backend": backend, "wall_seconds": round(time.perf_counter() - started, 3), "versions": versions()}
    store.write_json_atomic(out / store.RUN_FILE, summary)
    return summary
