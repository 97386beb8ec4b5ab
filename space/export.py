"""``cvalues votes export DB OUT``: the store's votes as SPEC records.

``OUT/labels.jsonl`` and ``OUT/battles.jsonl`` (or ``.parquet``) hold rows that are exactly
``HumanLabel(...).to_row()`` and ``Battle(...).to_row()``, which ``cvalues build --labels`` reads
back and turns into new multi-choice pairs, and ``cvalues human-eval OUT`` into the human table.

``OUT/gold.jsonl`` (when the store holds gold items) lists them in the format of
``cvalues_build.human.gold``, so that ``cvalues human-eval`` applies the same trust rule as the
Space. Annotators that rule makes untrusted (they failed their gold items) are left out of the
export, labels and battles alike: an export is what feeds the dataset, and their votes stay in
the store only.

What else stays in the store only (``origins.screen``): votes their origin excludes (a battle
whose reply names a model or its maker; an anonymous vote when the Space required a login for
data), and votes and labels on prompts that visitors typed, which ``--with-visitor-prompts``
writes to ``OUT/review/visitor_prompts.jsonl`` for review, never into labels.* or battles.*. An
anonymous annotator is exported as its client key (a salted hash of the address), so that one
client counts once toward a quorum however many sessions it opened. Free-text reasons are never
exported: they are not part of the records.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cvalues_build.core.schema import BATTLE_COLUMNS, LABEL_COLUMNS, arrow_schema
from cvalues_build.human import GoldItem, annotator_trust, untrusted_annotators
from cvalues_build.human.gold import GOLD_MIN, GOLD_THRESHOLD

from .campaign_store import gold_answers
from .origins import read_origins, screen
from .store import VoteStore

FORMATS = ("jsonl", "parquet")
GOLD_FILE = "gold.jsonl"  # the name cvalues human-eval looks for beside the labels
REVIEW_FILE = Path("review") / "visitor_prompts.jsonl"  # cvalues build --labels skips it


def _schemas() -> dict[str, Any]:
    """The Arrow schema of each export, from the records' columns (core/schema.py)."""
    return {"labels": arrow_schema(LABEL_COLUMNS), "battles": arrow_schema(BATTLE_COLUMNS)}


def write_rows(rows: Sequence[dict[str, Any]], path: Path, fmt: str, kind: str) -> None:
    if fmt == "jsonl":
        with path.open("w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(list(rows), schema=_schemas()[kind]), path)


def export_votes(db: str | Path, out: str | Path, fmt: str = "jsonl", *, gold_min: int = GOLD_MIN,
                 gold_threshold: float = GOLD_THRESHOLD, visitor_prompts: bool = False) -> dict[str, Path]:
    """Write labels and battles from the database ``db`` into folder ``out`` (and the gold items,
    when there are any), leaving out annotators who failed gold; returns the paths."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    store = VoteStore(db, read_only=True)  # refuses a missing, damaged or foreign database
    try:
        labels, battles, gold_rows = store.labels(), store.battles(), gold_answers(store)
        screened = screen(labels, battles, read_origins(store))  # see origins.py: what may feed the dataset
    finally:
        store.close()
    labels, battles = screened.labels, screened.battles
    gold = {row["response_id"]: GoldItem(**row) for row in gold_rows}
    untrusted = untrusted_annotators(annotator_trust(labels, gold, gold_min=gold_min, gold_threshold=gold_threshold))
    tables = {"labels": [r.to_row() for r in labels if r.annotator not in untrusted],
              "battles": [r.to_row() for r in battles if r.annotator not in untrusted]}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for kind, rows in tables.items():
        paths[kind] = out / f"{kind}.{fmt}"
        write_rows(rows, paths[kind], fmt, kind)
    if gold_rows:
        paths["gold"] = out / GOLD_FILE
        write_rows(gold_rows, paths["gold"], "jsonl", "gold")
    if visitor_prompts:
        paths["visitor prompts (for review)"] = out / REVIEW_FILE
        paths["visitor prompts (for review)"].parent.mkdir(exist_ok=True)
        write_rows(screened.review, out / REVIEW_FILE, "jsonl", "review")
    return paths
