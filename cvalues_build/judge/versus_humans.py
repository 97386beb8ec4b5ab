"""``cvalues judge --agreement VOTES --labels judged/M``: the judge's labels against the human
quorum labels of the same replies (``agreement.agreement``), written to ``agreement.json``.

The human side is read as ``cvalues human-eval`` reads it (an export folder, a labels file or the
Space's vote store, with ``gold.jsonl`` beside it when present): judge labels in it are set
aside, annotators who fail gold are left out, gold replies get no verdict, and a reply counts
only once it reaches the quorum (``human.quorum.decide_replies``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.records import HumanLabel
from ..evaluation.predictions import write_json_atomic
from ..human.gold import GOLD_MIN, GOLD_THRESHOLD
from ..human.quorum import DEFAULT_QUORUM
from .agreement import agreement, format_agreement
from .labels import is_judge

AGREEMENT_FILE = "agreement.json"


@dataclass(frozen=True)
class HumanSide:
    """How the human labels were decided; recorded beside the figures."""

    quorum: int = DEFAULT_QUORUM
    gold_min: int = GOLD_MIN
    gold_threshold: float = GOLD_THRESHOLD


def judge_labels(path: str | Path) -> tuple[str, list[HumanLabel]]:
    """The one judge's labels in a folder from ``cvalues judge`` (or a labels file)."""
    from ..human.inputs import read_labels

    labels = [lab for lab in read_labels(path) if is_judge(lab.annotator)]
    judges = sorted({lab.annotator for lab in labels})
    if not judges:
        raise ValueError(f"{path}: no judge labels (annotator judge:<model>@<template>) to compare")
    if len(judges) > 1:
        raise ValueError(f"{path}: labels of several judges ({', '.join(judges)}): compare one judge's folder at a time")
    return judges[0], labels


def human_verdicts(path: str | Path, side: HumanSide) -> tuple[list[Any], dict[str, int]]:
    """The quorum verdicts of the people's labels in ``path``, and counts of what went into them."""
    from ..human.gold import annotator_trust, untrusted_annotators
    from ..human.inputs import locate, read_gold, read_labels
    from ..human.quorum import decide_replies

    labels = [lab for lab in read_labels(path) if not is_judge(lab.annotator)]
    _, gold_path = locate(path)
    gold = read_gold(gold_path) if gold_path else {}
    untrusted = untrusted_annotators(annotator_trust(labels, gold, gold_min=side.gold_min,
                                                     gold_threshold=side.gold_threshold))
    verdicts = decide_replies(labels, quorum=side.quorum, untrusted=untrusted, exclude=gold)
    counts = {"labels": len(labels), "replies": len(verdicts), "replies_at_quorum": sum(v.reached for v in verdicts),
              "gold_items": len(gold), "untrusted_annotators": len(untrusted)}
    return verdicts, counts


def compare_with_humans(votes: str | Path, judged: str | Path, side: HumanSide,
                        out: str | Path | None = None) -> tuple[dict[str, Any], str, Path]:
    """The agreement record, its printed table, and where it was written (``out``, else the
    judge's folder)."""
    annotator, labels = judge_labels(judged)
    verdicts, counts = human_verdicts(votes, side)
    result = agreement(labels, verdicts)
    record = {"format": "cvalues-judge-agreement", "format_version": 1, "judge": annotator,
              "human": {**counts, "quorum": side.quorum, "majority": "2/3", "gold_min": side.gold_min,
                        "gold_threshold": side.gold_threshold},
              "agreement": result}
    folder = Path(out) if out is not None else (Path(judged) if Path(judged).is_dir() else Path(judged).parent)
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(folder / AGREEMENT_FILE, record)
    return record, _header(counts, side) + "\n\n" + format_agreement(result, annotator), folder / AGREEMENT_FILE


def _header(counts: Mapping[str, int], side: HumanSide) -> str:
    return (f"human side: {counts['labels']} labels on {counts['replies']} replies, {counts['replies_at_quorum']} at "
            f"quorum {side.quorum}; {counts['untrusted_annotators']} untrusted annotators and "
            f"{counts['gold_items']} gold replies left out")
