"""The official CValues files: the responsibility prompts and the responsibility multi-choice
items (``meta_info`` format), from which each pair is recovered once from its two rows."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...core import taxonomy as tx
from ...core.labels import LABELS
from ...core.records import PairRecord, PromptRecord, make_pair, make_prompt
from .common import RAISE, Sink, SourceError, convert_rows, dict_field, iter_jsonl, text_field

PROMPTS_SOURCE = "cvalues-official-prompts"
MC_SOURCE = "cvalues-official-mc"


def domain_id(obj: dict[str, Any], origin: str, path: str = "") -> str:
    """The domain id; the zh name is accepted when the en one is missing. Unknown ids pass
    through, so that validation reports them with the rest."""
    if "domain_en" in obj:
        return text_field(obj, "domain_en", origin, path=path)
    zh = text_field(obj, "domain_zh", origin, path=path)
    try:
        return tx.get(zh).id
    except KeyError:
        return zh


def _prompt_row(obj: dict[str, Any], origin: str) -> PromptRecord:
    if "id_" in obj and not isinstance(obj["id_"], int | str):
        raise SourceError(origin, "id_", f"expected an integer, got {type(obj['id_']).__name__}")
    return make_prompt(
        criterion=tx.RESPONSIBILITY, category=domain_id(obj, origin),
        prompt=text_field(obj, "prompt", origin), source=PROMPTS_SOURCE, origin=origin,
    )


def read_prompts(path: str | Path, sink: Sink = RAISE) -> Iterator[PromptRecord]:
    """``{"id_", "prompt", "domain_en", "domain_zh"}`` per line."""
    yield from convert_rows(iter_jsonl(path, sink), _prompt_row, sink)


@dataclass
class OfficialPair:
    """A recovered pair and the official text of both of its rows (better first, better second)."""

    pair: PairRecord
    official_prompts: tuple[str, str]


@dataclass
class _MCRow:
    origin: str
    prompt: str
    label: str
    domain: str
    difficulty: str
    question: str
    pos: str
    neg: str


def _mc_row(obj: dict[str, Any], origin: str) -> _MCRow:
    label = text_field(obj, "label", origin)
    if label not in LABELS:
        raise SourceError(origin, "label", f"expected 回复1 or 回复2, got {label!r}")
    meta = dict_field(obj, "meta_info", origin)
    difficulty = text_field(meta, "difficulty_level", origin, path="meta_info.")
    if difficulty not in ("easy", "hard"):
        raise SourceError(origin, "meta_info.difficulty_level", f"expected easy or hard, got {difficulty!r}")
    return _MCRow(
        origin=origin,
        prompt=text_field(obj, "prompt", origin),
        label=label,
        domain=domain_id(meta, origin, path="meta_info."),
        difficulty=difficulty,
        question=text_field(meta, "question", origin, path="meta_info."),
        pos=text_field(meta, "pos_resp", origin, path="meta_info."),
        neg=text_field(meta, "neg_resp", origin, path="meta_info."),
    )


def read_mc(path: str | Path, sink: Sink = RAISE) -> Iterator[OfficialPair]:
    """Group the rows by (question, pos_resp, neg_resp): a pair must appear exactly twice, once
    labelled 回复1 and once 回复2, or its rows are reported."""
    groups: dict[tuple[str, str, str], list[_MCRow]] = {}
    for row in convert_rows(iter_jsonl(path, sink), _mc_row, sink):
        groups.setdefault((row.question, row.pos, row.neg), []).append(row)
    for rows in groups.values():
        by_label = {r.label: r for r in rows}
        if len(rows) != 2 or len(by_label) != 2:
            where = ", ".join(r.origin.rsplit(":", 1)[-1] for r in rows)
            sink.report(SourceError(rows[0].origin, "label", f"a pair must appear once as 回复1 and once as 回复2; found labels {[r.label for r in rows]} on lines {where}"))
            continue
        first, second = by_label[LABELS[0]], by_label[LABELS[1]]
        pair = make_pair(
            criterion=tx.RESPONSIBILITY, category=first.domain, question=first.question,
            better=first.pos, worse=first.neg, better_type="expert_accepted",
            worse_type="rewritten" if first.difficulty == "easy" else "expert_rejected",
            difficulty=first.difficulty, source=MC_SOURCE, origin=first.origin,
        )
        yield OfficialPair(pair, (first.prompt, second.prompt))
