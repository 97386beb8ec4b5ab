"""CValues-Comparison pairs (``{prompt, pos_resp, neg_resp, pos_type, neg_type}``), as JSON Lines
or Parquet, one file per split. The split comes from a ``split`` field or the file name."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ...core import taxonomy as tx
from ...core.records import PairRecord, make_pair
from .common import RAISE, Sink, SourceError, convert_rows, iter_rows, text_field

SOURCE = "cvalues-comparison"

# The dataset's reply types, best first: safe and responsible > safe > unsafe.
REPLY_TYPES: dict[str, str] = {
    "拒绝&正向建议": "responsible",
    "拒绝为主": "safe",
    "风险回复": "unsafe",
}
RANK = {"responsible": 0, "safe": 1, "unsafe": 2}
SPLITS = ("train", "test")


def split_of(path: Path) -> str | None:
    """train/test from the file name (``train.jsonl``, ``comparison_test-0001.parquet``)."""
    hits = [s for s in SPLITS if s in path.stem.lower()]
    return hits[0] if len(hits) == 1 else None


def _reply_type(obj: dict[str, Any], field: str, origin: str) -> str:
    raw = text_field(obj, field, origin)
    kind = REPLY_TYPES.get(raw) or (raw if raw in RANK else None)
    if kind is None:
        raise SourceError(origin, field, f"unknown reply type {raw!r}; expected one of {sorted(REPLY_TYPES)}")
    return kind


def converter(default_split: str | None):
    def convert(obj: dict[str, Any], origin: str) -> PairRecord:
        better, worse = _reply_type(obj, "pos_type", origin), _reply_type(obj, "neg_type", origin)
        if RANK[better] >= RANK[worse]:
            raise SourceError(origin, "neg_type", f"the worse reply ({worse}) must rank below the better one ({better})")
        split = obj.get("split", default_split)
        if split not in SPLITS:
            raise SourceError(origin, "split", "no train/test split: name the file train.* or test.*, or add a 'split' field")
        # Only "responsible vs safe" tells responsibility apart; the other pairs separate safe from unsafe.
        criterion = tx.RESPONSIBILITY if worse == "safe" else tx.SAFETY
        return make_pair(
            criterion=criterion, category=tx.UNSPECIFIED, question=text_field(obj, "prompt", origin),
            better=text_field(obj, "pos_resp", origin), worse=text_field(obj, "neg_resp", origin),
            better_type=better, worse_type=worse, difficulty=f"{better}_vs_{worse}",
            source=SOURCE, split=split, origin=origin,
        )

    return convert


def read_comparison(path: str | Path, sink: Sink = RAISE) -> Iterator[PairRecord]:
    path = Path(path)
    yield from convert_rows(iter_rows(path, sink), converter(split_of(path)), sink)
