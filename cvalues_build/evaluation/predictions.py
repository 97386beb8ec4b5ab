"""``predictions.jsonl``: appended batch by batch (flush + fsync), so a killed run loses at most
the batch in flight, and read back for ``--resume``.

With several processes (``accelerate launch``) each rank appends to its own part file; the main
process merges them into ``predictions.jsonl`` in dataset order when all ranks are done. Parts
left by a killed multi-process run are read on resume like the main file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

PREDICTIONS = "predictions.jsonl"
PART_GLOB = "predictions.part-*.jsonl"


def part_path(out: Path, rank: int) -> Path:
    return out / f"predictions.part-{rank}.jsonl"


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The complete records of a predictions file. A torn last line (the run was killed while
    writing it) is dropped: that item is simply scored again."""
    if not path.exists():
        return []
    rows = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.endswith("\n"):
                break  # torn write
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict) and "id" in row:
                rows.append(row)
    return rows


def existing_predictions(out: Path) -> dict[str, dict[str, Any]]:
    """Every finished prediction under ``out``, by id (first one wins)."""
    found: dict[str, dict[str, Any]] = {}
    for path in [out / PREDICTIONS, *sorted(out.glob(PART_GLOB))]:
        for row in read_jsonl(path):
            found.setdefault(row["id"], row)
    return found


def write_atomic(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    """Write all rows to a temporary file and rename it over ``path``: a crash leaves either
    the old file or the new one, never half of each."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def write_json_atomic(path: Path, data: Any) -> None:
    """``data`` as JSON through a temporary file, fsync and a rename: a reader or a crash sees the
    old file or the whole new one, never half of one. A failed write removes its temporary file."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with tmp.open("w", encoding="utf-8") as fh:
            fh.write(json.dumps(data, ensure_ascii=False, indent=2))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def holds_predictions(out: Path) -> bool:
    """Whether ``out`` has any prediction written (main file or a part), even a torn one."""
    return any(p.is_file() and p.stat().st_size > 0 for p in [out / PREDICTIONS, *out.glob(PART_GLOB)])


def clear(out: Path) -> None:
    """Start a fresh run: no predictions, no parts."""
    for path in [out / PREDICTIONS, *out.glob(PART_GLOB)]:
        path.unlink(missing_ok=True)


def consolidate(out: Path, order: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Merge the main file and any parts into ``predictions.jsonl`` (one line per id, in
    ``order`` when given, ids outside it dropped), remove the parts, and return the rows."""
    found = existing_predictions(out)
    if order is not None:
        rows = [found[i] for i in order if i in found]
    else:
        rows = list(found.values())
    write_atomic(out / PREDICTIONS, rows)
    for path in out.glob(PART_GLOB):
        path.unlink(missing_ok=True)
    return rows


class Appender:
    """Appends rows to one file, each batch flushed and fsynced before the next one starts."""

    def __init__(self, path: Path):
        self.path = path
        self._fh = path.open("a", encoding="utf-8")

    def write(self, rows: Iterable[dict[str, Any]]) -> None:
        self._fh.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> Appender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
