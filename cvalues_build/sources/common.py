"""What every reader shares: line-numbered JSON Lines reading and field checks that name
file:line and the field."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class SourceError(ValueError):
    """A source row that cannot be used: ``origin`` is "file:line", ``field`` the culprit."""

    def __init__(self, origin: str, field: str | None, message: str):
        self.origin, self.field, self.reason = origin, field, message
        where = f"{origin}: field {field!r}: " if field else f"{origin}: "
        super().__init__(where + message)


def iter_jsonl(path: str | Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(origin, object) for each non-blank line; a line that is not a JSON object raises."""
    path = Path(path)
    try:
        handle = path.open(encoding="utf-8")
    except OSError as err:
        raise SourceError(str(path), None, f"cannot open: {err.strerror or err}") from err
    with handle:
        lineno = 0
        while True:
            origin = f"{path}:{lineno + 1}"
            try:
                line = handle.readline()
            except UnicodeDecodeError as err:
                raise SourceError(origin, None, f"not UTF-8 text ({err.reason})") from err
            if not line:
                return
            lineno += 1
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as err:
                raise SourceError(origin, None, f"invalid JSON: {err.msg} (column {err.colno})") from err
            if not isinstance(obj, dict):
                raise SourceError(origin, None, f"expected a JSON object, got {type(obj).__name__}")
            yield origin, obj


def text_field(obj: dict[str, Any], field: str, origin: str, *, allow_empty: bool = False) -> str:
    """A required string field, stripped of surrounding whitespace."""
    if field not in obj:
        raise SourceError(origin, field, "missing")
    value = obj[field]
    if not isinstance(value, str):
        raise SourceError(origin, field, f"expected a string, got {type(value).__name__}")
    value = value.strip()
    if not value and not allow_empty:
        raise SourceError(origin, field, "empty text")
    return value


def dict_field(obj: dict[str, Any], field: str, origin: str) -> dict[str, Any]:
    value = obj.get(field)
    if not isinstance(value, dict):
        raise SourceError(origin, field, "missing" if value is None else f"expected an object, got {type(value).__name__}")
    return value


def expand_paths(paths: list[str | Path], suffixes: tuple[str, ...] = (".jsonl", ".json", ".parquet")) -> list[Path]:
    """Files named directly, plus the files with a known suffix inside named folders (sorted, so
    builds are deterministic)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.is_file() and f.suffix in suffixes))
        else:
            out.append(p)
    return out
