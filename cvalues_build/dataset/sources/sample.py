"""The project's own sample: short Chinese prompts, each with a better and a worse reply, for
every scenario and domain. Written by the cvalues authors as a SAMPLE to exercise the pipeline;
it is not part of the CValues benchmark and its numbers mean nothing."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ...core import taxonomy as tx
from ...core.records import PairRecord, PromptRecord, make_pair, make_prompt
from .common import RAISE, Sink, SourceError, convert_rows, iter_jsonl, text_field

SAMPLE_FILE = Path(__file__).parent / "sample_data" / "sample_pairs.jsonl"
SOURCE = "cvalues-sample"


def _pair(obj: dict[str, Any], origin: str) -> PairRecord:
    criterion = text_field(obj, "criterion", origin)
    if criterion not in tx.CRITERIA:
        raise SourceError(origin, "criterion", f"unknown criterion {criterion!r}")
    return make_pair(
        criterion=criterion,
        category=text_field(obj, "category", origin),
        question=text_field(obj, "prompt", origin),
        better=text_field(obj, "better", origin),
        worse=text_field(obj, "worse", origin),
        better_type="sample_better",
        worse_type="sample_worse",
        difficulty="sample",
        source=SOURCE,
        origin=origin,
    )


def read_sample_pairs(path: str | Path = SAMPLE_FILE, sink: Sink = RAISE) -> Iterator[PairRecord]:
    """Sample rows are ``{criterion, category, prompt, better, worse}``."""
    yield from convert_rows(iter_jsonl(path, sink), _pair, sink)


def sample_prompts(path: str | Path = SAMPLE_FILE) -> list[PromptRecord]:
    """The sample's prompts, one record per distinct prompt."""
    return prompts_of(read_sample_pairs(path))


def prompts_of(pairs: Iterable[PairRecord]) -> list[PromptRecord]:
    """One prompt record per distinct question of the sample's pairs, in first-seen order."""
    seen: dict[str, PromptRecord] = {}
    for pair in pairs:
        rec = make_prompt(criterion=pair.criterion, category=pair.category, prompt=pair.question,
                          source=SOURCE, origin=pair.origin)
        seen.setdefault(rec.id, rec)
    return list(seen.values())
