"""``predictions.jsonl``: appended batch by batch (flush + fsync), so a killed run loses at most
the batch in flight, and read back for ``--resume``.

With several processes (``accelerate launch``) each rank appends to its own part file; the main
process merges them into ``predictions.jsonl`` in dataset order when all ranks are done. Parts
left by a killed multi-process run are read on resume like the main file.

The same machinery keeps other row files (``cvalues respond``'s ``replies.jsonl``, ``cvalues
judge``'s ``judgments.jsonl``): each function takes the file's ``name`` and the row ``key``. The
rules for a run's output folder (refuse to overwrite, resume only the same run) are
``check_run_folder`` and ``prepare_run_folder``, shared by every command that writes one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

PREDICTIONS = "predictions.jsonl"
RUN_FILE = "run.json"


def part_path(out: Path, rank: int) -> Path:
    return out / f"predictions.part-{rank}.jsonl"


def _files(out: Path, name: str) -> list[Path]:
    """The main row file and the part files of a multi-process run, in that order."""
    return [out / name, *sorted(out.glob(f"{Path(name).stem}.part-*.jsonl"))]


def read_jsonl(path: Path, key: str = "id") -> list[dict[str, Any]]:
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
            if isinstance(row, dict) and key in row:
                rows.append(row)
    return rows


def existing_predictions(out: Path, name: str = PREDICTIONS, key: str = "id") -> dict[str, dict[str, Any]]:
    """Every finished row under ``out``, by ``key`` (first one wins)."""
    found: dict[str, dict[str, Any]] = {}
    for path in _files(out, name):
        for row in read_jsonl(path, key):
            found.setdefault(row[key], row)
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


def holds_predictions(out: Path, name: str = PREDICTIONS) -> bool:
    """Whether ``out`` has any row written (main file or a part), even a torn one."""
    return any(p.is_file() and p.stat().st_size > 0 for p in _files(out, name))


def clear(out: Path, name: str = PREDICTIONS) -> None:
    """Start a fresh run: no rows, no parts."""
    for path in _files(out, name):
        path.unlink(missing_ok=True)


def consolidate(out: Path, order: Sequence[str] | None = None, name: str = PREDICTIONS,
                key: str = "id") -> list[dict[str, Any]]:
    """Merge the main file and any parts into ``name`` (one line per ``key``, in ``order`` when
    given, keys outside it dropped), remove the parts, and return the rows."""
    found = existing_predictions(out, name, key)
    if order is not None:
        rows = [found[i] for i in order if i in found]
    else:
        rows = list(found.values())
    write_atomic(out / name, rows)
    for path in _files(out, name)[1:]:
        path.unlink(missing_ok=True)
    return rows


def read_run(out: Path) -> dict[str, Any] | None:
    """The run record in ``out/run.json``, or None when there is none (or it is unreadable)."""
    try:
        run = json.loads((out / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return run if isinstance(run, dict) else None


def check_run_folder(out: Path, run: Mapping[str, Any], *, resume: bool, overwrite: bool,
                     rows: str = PREDICTIONS, results: str | None = None) -> None:
    """Read-only, before anything heavy: refuse to discard an earlier run's rows or ``results``
    unless ``overwrite``, and refuse to ``resume`` a run whose record differs from ``run`` in any
    of its keys (it did something else)."""
    before = read_run(out)
    if resume:
        diff = [k for k in run if before is not None and before.get(k) != run[k]]
        if diff:
            raise ValueError(
                f"--resume: {out} holds a run with different {', '.join(diff)} "
                f"({', '.join(f'{k}={before.get(k)!r}' for k in diff)}); use another --out or drop --resume"
            )
    elif not overwrite and ((results is not None and (out / results).exists()) or holds_predictions(out, rows)):
        what = ", ".join(f"{k}={before[k]}" for k in ("model", "config", "mode") if k in before) if before else ""
        raise ValueError(
            f"{out} already holds the results of an earlier run{f' ({what})' if what else ''}: "
            "pass --resume to continue it, --overwrite to replace it, or choose another --out"
        )


def prepare_run_folder(out: Path, run: Mapping[str, Any], *, resume: bool, rows: str = PREDICTIONS,
                       results: str | None = None, key: str = "id") -> None:
    """After ``check_run_folder``, on the main process: repair a resumed run's rows (a torn last
    line dropped, parts folded in, so that appends start on a clean line) or clear an overwritten
    run's rows and results; then record ``run``. Other files in ``out`` are never touched."""
    out.mkdir(parents=True, exist_ok=True)
    if resume:
        consolidate(out, name=rows, key=key)
    else:
        clear(out, rows)
        if results is not None:
            (out / results).unlink(missing_ok=True)
    write_json_atomic(out / RUN_FILE, dict(run))


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
