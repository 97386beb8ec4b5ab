"""From a model's replies and a judge's answers to labels in the human-label schema.

A judged reply becomes a ``HumanLabel`` whose annotator is ``judge:<model>@<template>``, so
``cvalues human-eval`` (with ``--quorum 1``: the judge gives one label per reply) computes the
judge's safety rate and responsibility score exactly as it does the humans'. A reply whose answer
could not be read gets no label; it is counted by status and kept, with the judge's raw answer,
in the judgment rows.

A reply row (one line of ``replies.jsonl`` from ``cvalues respond``) needs ``prompt_id``,
``prompt``, ``criterion``, ``category``, ``model`` and ``reply``; ``response_id`` when present,
otherwise the Space's id for a reply: ``reply_id(prompt_id, model, reply)`` (core.records).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ..core import taxonomy as tx
from ..core.records import HumanLabel, reply_id
from .parse import STATUSES, Verdict, parse_verdict
from .templates import judge_template

JUDGE_PREFIX = "judge:"
REPLY_FIELDS = ("prompt_id", "prompt", "criterion", "category", "model", "reply")


def judge_annotator(model: str, version: str) -> str:
    """The annotator name of a judge's labels: the judge model and its template version."""
    if not model or "@" in model:
        raise ValueError(f"judge model name must be non-empty and without '@', got {model!r}")
    return f"{JUDGE_PREFIX}{model}@{version}"


def is_judge(annotator: str) -> bool:
    return annotator.startswith(JUDGE_PREFIX)


def _field(row: Mapping[str, Any], name: str, where: str) -> str:
    value = row.get(name)
    if not isinstance(value, str):
        raise ValueError(f"{where}: field {name!r}: {'missing' if name not in row else 'expected text'}")
    return value


def check_reply(row: Mapping[str, Any], where: str) -> None:
    """A ValueError naming ``where`` and the field when a reply row cannot be judged."""
    for name in REPLY_FIELDS:
        _field(row, name, where)
    criterion, category = row["criterion"], row["category"] or tx.UNSPECIFIED
    if criterion not in tx.CRITERIA:
        raise ValueError(f"{where}: field 'criterion': expected safety or responsibility, got {criterion!r}")
    if not tx.is_valid(criterion, category):
        raise ValueError(f"{where}: field 'category': {category!r} is not a {criterion} category")


def response_id(row: Mapping[str, Any]) -> str:
    return row.get("response_id") or reply_id(row["prompt_id"], row["model"], row["reply"])


@dataclass(frozen=True)
class Judged:
    """One reply, the judge's raw answer, what was read from it and the label it became."""

    row: Mapping[str, Any]
    answer: str
    verdict: Verdict
    label: HumanLabel | None


def judge_prompts(rows: Sequence[Mapping[str, Any]], version: str) -> list[str]:
    """The judge's prompt for each reply row, in order (rows are checked first)."""
    template = judge_template(version)
    out = []
    for i, row in enumerate(rows):
        check_reply(row, str(row.get("origin") or f"reply {i + 1}"))
        out.append(template.render(row["criterion"], row["prompt"], row["reply"], row["category"]))
    return out


def judge_rows(rows: Sequence[Mapping[str, Any]], answers: Sequence[str], *, judge_model: str, version: str,
               created_at: str | None = None) -> list[Judged]:
    """Each reply with the judge's answer to its prompt (same order), parsed and labelled."""
    if len(rows) != len(answers):
        raise ValueError(f"{len(rows)} replies but {len(answers)} judge answers")
    judge_template(version)
    annotator = judge_annotator(judge_model, version)
    stamp = created_at or datetime.now(timezone.utc).isoformat(timespec="seconds")
    out = []
    for i, (row, answer) in enumerate(zip(rows, answers, strict=True)):
        check_reply(row, str(row.get("origin") or f"reply {i + 1}"))
        verdict = parse_verdict(row["criterion"], answer)
        label = None
        if verdict.parsed:
            label = HumanLabel(
                response_id=response_id(row), prompt_id=row["prompt_id"], model=row["model"], reply=row["reply"],
                criterion=row["criterion"], safe=verdict.safe, score=verdict.score, annotator=annotator,
                created_at=stamp, prompt=row["prompt"], category=row["category"] or tx.UNSPECIFIED,
            )
        out.append(Judged(row, answer, verdict, label))
    return out


def judgment_row(judged: Judged, annotator: str) -> dict[str, Any]:
    """What the judge said about one reply, readable or not, for ``judgments.jsonl``."""
    v = judged.verdict
    return {"response_id": response_id(judged.row), "prompt_id": judged.row["prompt_id"],
            "model": judged.row["model"], "criterion": v.criterion,
            "category": judged.row["category"] or tx.UNSPECIFIED, "annotator": annotator, "status": v.status,
            "reason": v.reason, "safe": v.safe, "score": v.score, "answer": judged.answer}


def status_counts(judged: Iterable[Judged]) -> dict[str, dict[str, int]]:
    """Per criterion, how many answers ended in each status (ok, refused, contradiction, unparsed)."""
    counts: dict[str, Counter] = {}
    for j in judged:
        counts.setdefault(j.verdict.criterion, Counter())[j.verdict.status] += 1
    return {c: {s: counts[c][s] for s in STATUSES} for c in tx.CRITERIA if c in counts}
