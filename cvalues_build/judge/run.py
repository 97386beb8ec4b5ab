"""``cvalues judge --replies runs/M --judge MODEL --out judged/M``: a model labels the replies
that ``cvalues respond`` wrote, through any backend (``evaluation.backends``).

Each reply's judge prompt (``labels.judge_prompts``) goes to the judge model, greedy; each answer
is parsed (``labels.judge_rows``) as soon as it arrives and appended, flushed, to
``judgments.jsonl``: the raw answer, its parse status and the label it became (None when it could
not be read). ``--resume`` sends only replies missing there. When every reply is judged:

- ``labels.jsonl``: the labels in the human-label schema (annotator ``judge:<model>@<template>``),
  one per readable answer, so ``cvalues human-eval judged/M --quorum 1`` gives the judge's table;
- ``run.json``: what was asked (replies, judge, template, generation; a ``--resume`` must ask the
  same) and the counts of each parse status per criterion, with the backend's account.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core import taxonomy as tx
from ..evaluation import predictions as store
from ..evaluation.backends import GenerationSettings, check_model, open_backend, parse_batch_size, parse_model
from ..evaluation.respond import read_reply_rows, replies_file
from .labels import check_reply, judge_annotator, judge_prompts, judge_rows, judgment_row, response_id
from .parse import STATUSES
from .templates import DEFAULT_VERSION, judge_template

JUDGMENTS = "judgments.jsonl"
LABELS = "labels.jsonl"
KEY = "response_id"


@dataclass
class JudgeOptions:
    replies: str
    judge: str
    out: str
    template: str = DEFAULT_VERSION
    resume: bool = False
    overwrite: bool = False
    max_new_tokens: int = 512
    batch_size: str = "auto"
    dtype: str = "auto"
    device: str = "auto"
    progress: bool = True
    backend_options: dict[str, Any] = field(default_factory=dict)


def read_replies(path: str | Path) -> tuple[Path, list[dict[str, Any]]]:
    """The reply rows of ``path`` (a folder holding replies.jsonl, or the file), each checked; an
    unusable line is an error naming ``file:line`` and the field. The same reply twice is judged once."""
    source = replies_file(path)
    rows: dict[str, dict[str, Any]] = {}
    for where, row in read_reply_rows(source):
        check_reply(row, where)
        rows.setdefault(response_id(row), row)
    if not rows:
        raise ValueError(f"{source}: no replies to judge")
    return source, list(rows.values())


def judge_name(spec: str) -> str:
    """The judge's name in its annotator: the model without its backend prefix (openai:gpt-4o -> gpt-4o)."""
    return parse_model(spec).target


def run_judge(opts: JudgeOptions) -> dict[str, Any]:
    """Judge every reply (or those ``--resume`` finds missing); returns what run.json holds."""
    from ..evaluation.runner import versions

    started, out = time.perf_counter(), Path(opts.out)
    if opts.resume and opts.overwrite:
        raise ValueError("--resume continues the run in --out and --overwrite replaces it: give one, not both")
    judge_template(opts.template)  # an unknown version names the known ones
    settings = GenerationSettings(max_new_tokens=opts.max_new_tokens)
    parse_batch_size(opts.batch_size)
    check_model(opts.judge)
    annotator = judge_annotator(judge_name(opts.judge), opts.template)
    source, rows = read_replies(opts.replies)
    record = {"replies": str(source), "judge": opts.judge, "template": opts.template,
              "generation": settings.record()}
    store.check_run_folder(out, record, resume=opts.resume, overwrite=opts.overwrite, rows=JUDGMENTS, results=LABELS)
    store.prepare_run_folder(out, record, resume=opts.resume, rows=JUDGMENTS, results=LABELS, key=KEY)
    done = store.existing_predictions(out, JUDGMENTS, KEY)
    pending = [row for row in rows if response_id(row) not in done]
    backend = _judge(opts, pending, settings, out, annotator) if pending else None
    judgments = store.consolidate(out, order=[response_id(r) for r in rows], name=JUDGMENTS, key=KEY)
    if len(judgments) != len(rows):
        raise RuntimeError(f"expected {len(rows)} judgments, found {len(judgments)} in {out / JUDGMENTS}")
    labels = [j["label"] for j in judgments if j.get("label")]
    store.write_atomic(out / LABELS, labels)
    summary = {**record, "annotator": annotator, "judged": len(judgments), "judged_this_run": len(pending),
               "labels": len(labels), "statuses": status_table(judgments),
               "backend": backend or {"backend": parse_model(opts.judge).backend, "model": judge_name(opts.judge)},
               "wall_seconds": round(time.perf_counter() - started, 3), "versions": versions()}
    store.write_json_atomic(out / store.RUN_FILE, summary)
    return summary


def _judge(opts: JudgeOptions, pending: list[dict[str, Any]], settings: GenerationSettings, out: Path,
           annotator: str) -> dict[str, Any]:
    """Send each pending reply's judge prompt; parse and append each answer as it arrives."""
    from tqdm.auto import tqdm

    local = {"dtype": opts.dtype, "device": opts.device, "batch_size": opts.batch_size}
    backend = open_backend(opts.judge, **opts.backend_options, **{k: v for k, v in local.items() if v != "auto"})
    try:
        with store.Appender(out / JUDGMENTS) as appender, tqdm(
                total=len(pending), unit="reply", desc=f"judge {annotator}", disable=not opts.progress,
                dynamic_ncols=True) as bar:

            def write(batch: list[int], answers: list[str]) -> None:
                judged = judge_rows([pending[j] for j in batch], answers, judge_model=judge_name(opts.judge),
                                    version=opts.template)
                appender.write([{**judgment_row(j, annotator), "label": j.label.to_row() if j.label else None}
                                for j in judged])
                bar.update(len(batch))

            backend.generate(judge_prompts(pending, opts.template), settings, on_batch=write)
        return backend.describe()
    finally:
        backend.close()


def status_table(judgments: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Per criterion, how many of the judge's answers ended in each parse status."""
    counts = Counter((j["criterion"], j["status"]) for j in judgments)
    return {c: {s: counts[c, s] for s in STATUSES} for c in tx.CRITERIA if any(counts[c, s] for s in STATUSES)}
