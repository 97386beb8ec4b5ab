"""JSON Lines read by pyarrow, a chunk of whole lines at a time, with every row tied to its line.

pyarrow parses far faster than ``json.loads`` but not always the same way: it reads a line holding
``null`` as a row of nulls, skips a byte-order mark, and splits a line at a lone "\\r". So a row
is only ever taken from pyarrow when nothing can differ, and the reader says which rows those are:
- a chunk pyarrow refuses (a broken line, a duplicate key, a value of the wrong type) is halved
  until the refused part is a few lines, which then go to the row path (``common.iter_jsonl``'s
  ``json.loads``), so that one bad line never slows down more than its neighbours;
- a line that is not one ``{...}`` object, holds a control byte or a byte-order mark, or has
  hundreds of brackets, is marked ``doubtful`` and never given to pyarrow (a ``null`` line
  before an object with an unknown field crashes pyarrow 26, and so does an object nested 50,000
  deep): the caller reads it with the row path too;
- a part that is not UTF-8 is refused as well: pyarrow does not check, the row path does.
Memory stays bounded by the chunk size, whatever the file's.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from queue import Full, Queue

import numpy as np
import pyarrow as pa
import pyarrow.json as pj

from .common import SourceError

CHUNK_BYTES = 16 << 20
MIN_LINES = 64  # a refused part this short goes to the row path
MAX_BRACKETS = 256  # a line with more "{" and "[" than this goes to the row path
_JSON_SPACE = np.zeros(256, dtype=bool)
_JSON_SPACE[[0x20, 0x09, 0x0D, 0x0A]] = True
_CONTROL = np.zeros(256, dtype=bool)
_CONTROL[[b for b in range(0x20) if b not in (0x09, 0x0A)]] = True


@dataclass
class Chunk:
    """Rows of consecutive lines: ``table`` has one row per entry of ``lines`` (1-based line
    numbers in the file), or is None when pyarrow refused the lines, which the caller then reads
    with the row path. ``raw(i)`` is the i-th line's bytes."""

    table: pa.Table | None
    lines: np.ndarray
    doubtful: np.ndarray  # per row: read it with the row path
    data: bytes
    starts: np.ndarray
    ends: np.ndarray

    def raw(self, i: int) -> bytes:
        return self.data[self.starts[i]:self.ends[i]]


def read_chunks(path: Path, schema: pa.Schema) -> Iterator[Chunk]:
    """The file's non-blank lines as Chunks, in order. Fields in ``schema`` are read as its
    types (a value of another type makes pyarrow refuse the part); others are inferred. The next
    chunk is read and parsed in a thread while the caller works on this one (pyarrow and most of
    numpy run without the GIL)."""
    return _ahead(_chunks(path, schema))


def _chunks(path: Path, schema: pa.Schema) -> Iterator[Chunk]:
    options = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="infer", newlines_in_values=False)
    for data, first_line in _line_blocks(path, CHUNK_BYTES):
        starts, ends, lines = _nonblank_lines(data, first_line)
        yield from _parse(data, starts, ends, lines, options)


def _ahead(items: Iterator[Chunk]) -> Iterator[Chunk]:
    """``items`` produced one ahead in a worker thread; its exceptions reach the caller in order,
    and a caller that stops early stops the worker at its next chunk."""
    done = object()
    queue: Queue = Queue(maxsize=1)
    stop = threading.Event()

    def put(entry: tuple) -> bool:
        while not stop.is_set():
            try:
                queue.put(entry, timeout=0.1)
                return True
            except Full:
                continue
        return False

    def work() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((done, None))
        except BaseException as err:  # noqa: BLE001 (handed to the caller, raised there)
            put((done, err))

    worker = threading.Thread(target=work, name="jsonl-chunks", daemon=True)
    worker.start()
    try:
        while True:
            item, err = queue.get()
            if item is done:
                if err is not None:
                    raise err
                return
            yield item
    finally:
        stop.set()


def _line_blocks(path: Path, chunk_bytes: int) -> Iterator[tuple[bytes, int]]:
    """(bytes of whole lines, number of the first line), about ``chunk_bytes`` at a time."""
    try:
        f = open(path, "rb")  # noqa: SIM115 (closed below; a generator cannot use a with block across yields)
    except OSError as err:
        raise SourceError(str(path), None, f"cannot open: {err.strerror or err}") from err
    line, rest = 1, b""
    with f:
        while block := f.read(chunk_bytes):
            data = rest + block
            cut = data.rfind(b"\n") + 1
            if cut == 0:  # one line longer than a chunk: read on
                rest = data
                continue
            yield data[:cut], line
            line += data.count(b"\n", 0, cut)
            rest = data[cut:]
    if rest:
        yield rest, line


def _nonblank_lines(data: bytes, first_line: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Byte ranges and line numbers of the lines that are not JSON whitespace only (pyarrow
    skips those, as the row path skips blank lines). Only a line that starts with a space is
    looked at byte by byte."""
    buf = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(buf == 0x0A)
    if not len(buf) or buf[-1] != 0x0A:
        ends = np.append(ends, len(buf))
    starts = np.concatenate([[0], ends[:-1] + 1])
    keep = ends > starts
    keep[keep] = ~_JSON_SPACE[buf[starts[keep]]]
    for i in np.flatnonzero((ends > starts) & ~keep).tolist():
        keep[i] = bool(data[starts[i]:ends[i]].strip(b" \t\r"))
    return starts[keep], ends[keep], first_line + np.flatnonzero(keep)


def _parse(data: bytes, starts: np.ndarray, ends: np.ndarray, lines: np.ndarray,
           options: pj.ParseOptions) -> Iterator[Chunk]:
    if not len(lines):
        return
    doubtful = _doubtful(data, starts, ends)
    clean = np.flatnonzero(~doubtful)  # pyarrow never sees the others (a "null" line can crash it)
    table = _read_lines(data, starts[clean], ends[clean], options, whole=len(clean) == len(lines))
    if table is not None or not len(clean):
        if table is not None and len(clean) < len(lines):  # a null row in place of each doubtful line
            at = np.full(len(lines), -1)
            at[clean] = np.arange(len(clean))
            table = table.take(pa.array(at, mask=at < 0))
        yield Chunk(table, lines, doubtful, data, starts, ends)
    elif len(lines) <= MIN_LINES:  # (read when called: tests shrink it)
        yield Chunk(None, lines, np.ones(len(lines), dtype=bool), data, starts, ends)
    else:
        half = len(lines) // 2
        yield from _parse(data, starts[:half], ends[:half], lines[:half], options)
        yield from _parse(data, starts[half:], ends[half:], lines[half:], options)


def _read_lines(data: bytes, starts: np.ndarray, ends: np.ndarray, options: pj.ParseOptions,
                whole: bool) -> pa.Table | None:
    """pyarrow's table of these lines, one row each, or None when it refuses them, reads another
    number of rows, or when they are not UTF-8 (which pyarrow does not check)."""
    if not len(starts):
        return None
    if whole:  # the common case: the lines as they lie, without a copy
        block = pa.py_buffer(data).slice(int(starts[0]), int(ends[-1] - starts[0]))
    else:
        block = pa.py_buffer(b"\n".join(data[s:e] for s, e in zip(starts.tolist(), ends.tolist(), strict=True)))
    # pyarrow parses blocks in parallel, and a line must fit in one
    blocks = pj.ReadOptions(block_size=max(1 << 20, int(np.max(ends - starts)) + 2))
    try:  # Arrow's UTF-8 check: the cast of the bytes to a string
        pa.Array.from_buffers(pa.binary(), 1, [None, pa.py_buffer(np.array([0, block.size], np.int32)), block]) \
            .cast(pa.string())
        table = pj.read_json(pa.BufferReader(block), read_options=blocks, parse_options=options)
    except pa.ArrowException:  # refused: a bad line somewhere in here
        return None
    return table if table.num_rows == len(starts) else None


def _doubtful(data: bytes, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Lines pyarrow may read differently from ``json.loads``: not one ``{...}`` (a ``null``
    line, two objects), or holding a control byte (a lone "\\r"), a byte-order mark or
    hundreds of brackets. Each test first counts over the whole part (at memchr speed) and looks
    at single lines only when the count says one may be at fault."""
    buf = np.frombuffer(data, dtype=np.uint8)
    lo, hi = int(starts[0]), int(ends[-1])
    last = ends - 1
    trailing_cr = buf[last] == 0x0D  # CRLF: that "\r" is JSON whitespace to both readers
    last -= trailing_cr
    opens = buf[starts] == ord("{")
    doubtful = ~opens | (buf[np.maximum(last, starts)] != ord("}"))
    controls = int(np.count_nonzero(buf[lo:hi] < 0x20))
    if controls > data.count(b"\n", lo, hi) + data.count(b"\t", lo, hi) + int(np.count_nonzero(trailing_cr)):
        odd = lo + np.flatnonzero(_CONTROL[buf[lo:hi]])
        odd = odd[~np.isin(odd, ends[trailing_cr] - 1)]
        line = np.minimum(np.searchsorted(ends, odd), len(ends) - 1)
        doubtful[line[starts[line] <= odd]] = True  # (a control byte on a blank line between them is no row's)
    # deep nesting overflows pyarrow's stack: a line with many brackets (inside strings or not,
    # so surely no deeper) is left to the row path; every "{...}" line holds one at least
    if data.count(b"{", lo, hi) + data.count(b"[", lo, hi) - int(np.count_nonzero(opens)) >= MAX_BRACKETS:
        opening = lo + np.flatnonzero((buf[lo:hi] == ord("{")) | (buf[lo:hi] == ord("[")))
        doubtful |= np.bincount(np.searchsorted(ends, opening), minlength=len(ends))[:len(ends)] > MAX_BRACKETS
    if data.find(b"\xef\xbb\xbf", lo, hi) >= 0:
        doubtful |= np.array([data.find(b"\xef\xbb\xbf", s, e) >= 0 for s, e in zip(starts, ends, strict=True)])
    return doubtful
