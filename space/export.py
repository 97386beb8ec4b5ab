"""``cvalues votes export DB OUT``: the store's votes as SPEC records.

``OUT/labels.jsonl`` and ``OUT/battles.jsonl`` (or ``.parquet``) hold rows that are exactly
``HumanLabel(...).to_row()`` and ``Battle(...).to_row()``, which ``cvalues build --labels`` reads
back and turns into new multi-choice pairs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cvalues_build.core.schema import BATTLE_COLUMNS, LABEL_COLUMNS, arrow_schema

from .store import VoteStore

FORMATS = ("jsonl", "parquet")


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


def export_votes(db: str | Path, out: str | Path, fmt: str = "jsonl") -> dict[str, Path]:
    """Write labels and battles from the database ``db`` into folder ``out``; returns the paths."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    store = VoteStore(db, read_only=True)  # refuses a missing, damaged or foreign database
    try:
        tables = {"labels": [r.to_row() for r in store.labels()],
                  "battles": [r.to_row() for r in store.battles()]}
    finally:
        store.close()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for kind, rows in tables.items():
        paths[kind] = out / f"{kind}.{fmt}"
        write_rows(rows, paths[kind], fmt, kind)
    return paths
