"""What every reader shares: line-numbered JSON Lines reading and field checks that name
file:line and the field."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
_SURROGATE = re.compile("[\ud800-\udfff]")


class SourceError(ValueError):
    """A source row that cannot be used: ``origin`` is "file:line", ``field`` the culprit."""

    def __init__(self, origin: str, field: str | None, message: str):
        self.origin, self.field, self.reason = origin, field, message
        where = f"{origin}: field {field!r}: " if field else f"{origin}: "
        super().__init__(where + message)


class Sink(Protocol):
    def report(self, err: SourceError) -> None: ...


class Raise:
    """The default sink: the first problem stops the read."""

    def report(self, err: SourceError) -> None:
        raise err


RAISE = Raise()  # every reader's default sink (it holds no state, so one serves all)


def iter_jsonl(path: str | Path, sink: Sink = RAISE) -> Iterator[tuple[str, dict[str, Any]]]:
    """(origin, object) for each non-blank line. A line that is not a JSON object goes to ``sink``
    (raised by default) and is skipped; an unreadable file is always raised."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise SourceError(str(path), None, f"cannot open: {err.strerror or err}") from err
    try:  # one decode for the whole file; only a file with bad bytes is decoded line by line
        lines: list[str] | list[bytes] = data.decode("utf-8").split("\n")
    except UnicodeDecodeError:
        lines = data.split(b"\n")
    for lineno, raw in enumerate(lines, start=1):
        origin = f"{path}:{lineno}"
        obj = parse_line(raw, origin, sink)
        if obj is not None:
            yield origin, obj


def parse_line(raw: str | bytes, origin: str, sink: Sink) -> dict[str, Any] | None:
    # Lines split on "\n" alone: JSON strings may hold U+2028 and friends, which
    # str.splitlines would break on.
    try:
        line = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as err:
        sink.report(SourceError(origin, None, f"not UTF-8 text ({err.reason})"))
        return None
    if not line.strip():
        return None
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError) as err:  # ValueError: JSONDecodeError and the one below
        if isinstance(err, json.JSONDecodeError):
            msg = f"invalid JSON: {err.msg} (column {err.colno})"
        elif isinstance(err, RecursionError):
            msg = "invalid JSON: nested too deeply"
        else:  # json parses integers with int(), whose digit limit (Python >= 3.11) raises a plain ValueError
            msg = f"invalid JSON: {str(err).split(':')[0]}"
        sink.report(SourceError(origin, None, msg))
        return None
    if not isinstance(obj, dict):
        sink.report(SourceError(origin, None, f"expected a JSON object, got {type(obj).__name__}"))
        return None
    return obj


def text_field(obj: dict[str, Any], name: str, origin: str, *, allow_empty: bool = False, path: str = "") -> str:
    """A required string field, stripped of surrounding whitespace. ``path`` prefixes the field's
    name in errors for nested objects (``meta_info.question``)."""
    field = path + name
    if name not in obj:
        raise SourceError(origin, field, "missing")
    value = obj[name]
    if not isinstance(value, str):
        raise SourceError(origin, field, f"expected a string, got {type(value).__name__}")
    if _SURROGATE.search(value):
        # json.loads turns a "\ud800" escape into a lone surrogate, which no UTF-8 output (ids, Parquet) can hold
        raise SourceError(origin, field, "not valid Unicode: a lone surrogate (an unpaired \\uD800-\\uDFFF escape)")
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


def iter_rows(path: str | Path, sink: Sink = RAISE) -> Iterator[tuple[str, dict[str, Any]]]:
    """Rows of a JSON Lines or Parquet file; Parquet rows are numbered like lines (1-based)."""
    path = Path(path)
    if path.suffix != ".parquet":
        yield from iter_jsonl(path, sink)
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        rows = pq.read_table(path).to_pylist()
    except (OSError, ValueError, OverflowError, pa.ArrowException) as err:
        # A damaged file fails in the reader (ArrowInvalid, or ArrowNotImplementedError for a garbled
        # type) or only when its values become Python objects (UnicodeDecodeError for string bytes
        # that are not UTF-8, OverflowError for a timestamp past year 9999): either way it is unusable.
        raise SourceError(str(path), None, f"cannot read Parquet: {err}") from err
    for i, row in enumerate(rows, start=1):
        yield f"{path}:{i}", row


def convert_rows(
    rows: Iterator[tuple[str, dict[str, Any]]], convert: Callable[[dict[str, Any], str], T], sink: Sink = RAISE
) -> Iterator[T]:
    """Apply ``convert`` to each row; a row it rejects goes to ``sink`` and the rest go on."""
    for origin, obj in rows:
        try:
            yield convert(obj, origin)
        except SourceError as err:
            sink.report(err)
