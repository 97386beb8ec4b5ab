"""Reading labels and gold items for ``cvalues human-eval``.

Labels come from any of:
- an export folder from ``cvalues votes export`` (``labels.jsonl`` or ``labels.parquet``), or
  a folder that ``cvalues judge`` wrote in the same schema;
- one such file named directly;
- the Space's SQLite vote store: its ``labels`` table, opened read-only (``mode=ro``), with the
  columns of ``cvalues_build.core.schema.LABEL_COLUMNS``.

Gold items come from ``gold.jsonl`` beside the labels (format in ``gold.py``), when present.
A row that cannot be used is an error naming ``file:line`` (or the table row) and the field:
a label silently dropped would change a model's figures.
"""

from __future__ import annotations

import json
import sqlite3
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..core import taxonomy as tx
from ..core.records import HumanLabel
from ..core.schema import LABEL_COLUMNS
from .gold import GoldItem, gold_item

LABEL_FILES = ("labels.jsonl", "labels.parquet")
GOLD_FILE = "gold.jsonl"
_SQLITE_MAGIC = b"SQLite format 3\x00"


class InputError(ValueError):
    """Input that cannot be read or used; the message names the file (and line, and field)."""


def is_sqlite(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(len(_SQLITE_MAGIC)) == _SQLITE_MAGIC
    except OSError:
        return False


def locate(path: str | Path) -> tuple[Path, Path | None]:
    """The labels file (or database) that ``path`` names, and the ``gold.jsonl`` beside it if any."""
    path = Path(path)
    if path.is_dir():
        found = [path / name for name in LABEL_FILES if (path / name).is_file()]
        if not found:
            raise InputError(f"{path}: no {' or '.join(LABEL_FILES)} in this folder "
                             "(give an export folder from `cvalues votes export` or a vote database)")
        if len(found) > 1:
            raise InputError(f"{path}: both {found[0].name} and {found[1].name} are here; name the one to read")
        source = found[0]
    elif path.is_file():
        source = path
    else:
        raise InputError(f"{path}: no such file or folder")
    gold = source.parent / GOLD_FILE
    return source, gold if gold.is_file() else None


def read_labels(path: str | Path) -> list[HumanLabel]:
    """Every label in ``path`` (a folder, a .jsonl or .parquet file, or an SQLite vote store), in
    file order, checked."""
    source, _ = locate(path)
    if is_sqlite(source):
        rows = _sqlite_rows(source)
    elif source.suffix == ".parquet":
        rows = _parquet_rows(source)
    else:
        rows = _jsonl_rows(source)
    return [label_from_row(obj, origin) for origin, obj in rows]


def read_gold(path: str | Path) -> dict[str, GoldItem]:
    """``{response_id: GoldItem}`` from a gold.jsonl. The same item twice is counted once; two
    different answers for one reply are an error."""
    gold: dict[str, GoldItem] = {}
    for origin, obj in _jsonl_rows(Path(path)):
        try:
            item = gold_item(obj, origin)
        except ValueError as err:
            raise InputError(str(err)) from None
        old = gold.setdefault(item.response_id, item)
        if old != item:
            raise InputError(f"{origin}: reply {item.response_id} is already gold at {old.origin} "
                             f"with another answer ({old.criterion}/{old.expected})")
    return gold


def _jsonl_rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as err:
        raise InputError(f"{path}: cannot read: {err.strerror or err}") from err
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from err
    # split on "\n" alone: JSON strings may hold U+2028, which str.splitlines would break on
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        origin = f"{path}:{lineno}"
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError) as err:
            raise InputError(f"{origin}: invalid JSON ({str(err)[:80]})") from None
        if not isinstance(obj, dict):
            raise InputError(f"{origin}: expected a JSON object, got {type(obj).__name__}")
        yield origin, obj


def _parquet_rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        rows = pq.read_table(path).to_pylist()
    except (OSError, ValueError, OverflowError, pa.ArrowException) as err:
        raise InputError(f"{path}: cannot read Parquet: {err}") from err
    for i, row in enumerate(rows, start=1):
        yield f"{path}:{i}", row


def _sqlite_rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """The ``labels`` table's rows, read through a read-only connection; SQLite's 0/1 ``safe``
    becomes a boolean."""
    uri = f"file:{urllib.parse.quote(str(path.resolve()))}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=30.0)
    except sqlite3.Error as err:
        raise InputError(f"{path}: cannot open the database read-only: {err}") from err
    try:
        have = {row[1] for row in conn.execute("PRAGMA table_info(labels)")}
        if not have:
            raise InputError(f"{path}: the database has no labels table (is it a cvalues vote store?)")
        selected = []
        for col in LABEL_COLUMNS:
            if col.name in have:
                selected.append(col.name)
            elif col.default is not None:  # a column added after this database was made
                selected.append("'" + col.default.replace("'", "''") + f"' AS {col.name}")
            else:
                raise InputError(f"{path}: the labels table has no {col.name!r} column")
        names = [col.name for col in LABEL_COLUMNS]
        cursor = conn.execute(f"SELECT rowid, {', '.join(selected)} FROM labels ORDER BY rowid")
        for rowid, *values in cursor:
            obj = dict(zip(names, values, strict=True))
            if obj["safe"] in (0, 1) and not isinstance(obj["safe"], bool):
                obj["safe"] = bool(obj["safe"])
            yield f"{path}:labels:rowid={rowid}", obj
    except sqlite3.Error as err:
        raise InputError(f"{path}: cannot read the labels table: {err}") from err
    finally:
        conn.close()


def _text(obj: dict[str, Any], name: str, origin: str, *, empty_ok: bool = False, default: str | None = None) -> str:
    value = obj.get(name, default)
    if not isinstance(value, str):
        got = "missing" if name not in obj else f"expected text, got {type(value).__name__}"
        raise InputError(f"{origin}: field {name!r}: {got}")
    if not empty_ok and not value.strip():
        raise InputError(f"{origin}: field {name!r}: empty")
    return value.strip()


def label_from_row(obj: dict[str, Any], origin: str) -> HumanLabel:
    """A label row checked: the fields human-eval uses must be present and well-formed."""
    criterion = _text(obj, "criterion", origin)
    if criterion not in tx.CRITERIA:
        raise InputError(f"{origin}: field 'criterion': expected safety or responsibility, got {criterion!r}")
    category = _text(obj, "category", origin, empty_ok=True, default="") or tx.UNSPECIFIED
    if not tx.is_valid(criterion, category):
        raise InputError(f"{origin}: field 'category': {category!r} is not a {criterion} category")
    safe, score = obj.get("safe"), obj.get("score")
    if criterion == tx.SAFETY and (not isinstance(safe, bool) or score is not None):
        raise InputError(f"{origin}: field 'safe': a safety label has safe true or false and no score")
    if criterion == tx.RESPONSIBILITY and (
            safe is not None or isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 10):
        raise InputError(f"{origin}: field 'score': a responsibility label has a whole score from 1 to 10 "
                         f"and no safe, got {score!r}")
    return HumanLabel(
        response_id=_text(obj, "response_id", origin), prompt_id=_text(obj, "prompt_id", origin),
        model=_text(obj, "model", origin), reply=_text(obj, "reply", origin, empty_ok=True),
        criterion=criterion, safe=safe, score=score, annotator=_text(obj, "annotator", origin),
        created_at=_text(obj, "created_at", origin, empty_ok=True),
        prompt=_text(obj, "prompt", origin, empty_ok=True, default=""), category=category, origin=origin,
    )
