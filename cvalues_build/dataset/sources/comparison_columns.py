"""CValues-Comparison read column by column: the same pairs as ``comparison.read_comparison``
(which stays the reference), as Arrow tables, at a fraction of the cost.

Every check of the row converter runs here as a column operation; a row that fails any of them,
or that the JSON reader marks doubtful, is read again by the row converter itself, which reports
it (file:line and field) or accepts it. So a row is taken from the columns only when the row path
would have given the very same pair, and every problem is the row path's own.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ...core import taxonomy as tx
from ..columns import content_ids, strip
from ..pairs import PAIR_COLUMNS, pair_table
from .common import RAISE, Sink, SourceError, convert_rows, iter_rows, parse_line
from .comparison import RANK, REPLY_TYPES, SOURCE, SPLITS, converter, split_of
from .jsonl_chunks import Chunk, read_chunks

_TEXTS = {"question": "prompt", "better": "pos_resp", "worse": "neg_resp"}
_TYPES = {"better_type": "pos_type", "worse_type": "neg_type"}
SCHEMA = pa.schema([(name, pa.string()) for name in (*_TEXTS.values(), *_TYPES.values())])
# what a reply-type text means, and each kind's rank
_TYPE_TEXTS = pa.array([*REPLY_TYPES, *RANK])
_TYPE_KINDS = pa.array([*REPLY_TYPES.values(), *RANK])
_RANKS = np.array([RANK[k] for k in _TYPE_KINDS.to_pylist()])
BATCH_ROWS = 65_536  # rows of a Parquet file turned into records at a time


def _plain(column_type: pa.DataType) -> bool:
    """Whether json.loads reads every value of a column of this type as pyarrow did. Floats (NaN,
    or an integer past Python's digit limit) and nested values (nested past its recursion limit)
    may not."""
    return any(check(column_type) for check in (pa.types.is_string, pa.types.is_boolean, pa.types.is_integer,
                                                pa.types.is_null, pa.types.is_timestamp))


def read_comparison_tables(path: str | Path, sink: Sink = RAISE) -> Iterator[pa.Table]:
    """The file's pairs as tables of ``PAIR_COLUMNS`` plus ``line``, in file order; rows that
    cannot be used go to ``sink`` as the row path reports them."""
    path = Path(path)
    convert = converter(split_of(path))
    if path.suffix == ".parquet":  # Parquet needs no parsing: its rows take the row path, a batch at a time
        batch: list = []
        for record in convert_rows(iter_rows(path, sink), convert, sink):
            batch.append(record)
            if len(batch) == BATCH_ROWS:
                yield _records_table(batch)
                batch = []
        yield _records_table(batch)
        return
    for chunk in read_chunks(path, SCHEMA):
        yield _chunk_pairs(chunk, path, convert, split_of(path), sink)


def _records_table(records: list) -> pa.Table:
    return pair_table(records, line=[int(r.origin.rpartition(":")[2]) for r in records])


def _chunk_pairs(chunk: Chunk, path: Path, convert, default_split: str | None, sink: Sink) -> pa.Table:
    if chunk.table is None:
        return _row_path(chunk, np.arange(len(chunk.lines)), path, convert, sink)
    table = chunk.table
    ok = ~chunk.doubtful
    texts = {field: strip(table.column(source)) for field, source in _TEXTS.items()}
    for column in texts.values():
        ok &= pc.fill_null(pc.greater(pc.utf8_length(column), 0), False).to_numpy(zero_copy_only=False)
    types = {field: pc.fill_null(pc.index_in(strip(table.column(source)), value_set=_TYPE_TEXTS), -1)
             .to_numpy(zero_copy_only=False) for field, source in _TYPES.items()}
    better, worse = types["better_type"], types["worse_type"]
    ok &= (better >= 0) & (worse >= 0) & (_RANKS[better] < _RANKS[worse])  # (-1 picks a rank, but is refused)
    split, split_ok = _split_column(table, default_split)
    ok &= split_ok
    for name in table.column_names:
        if name not in SCHEMA.names and name != "split" and not _plain(table.schema.field(name).type):
            ok &= pc.is_null(table.column(name)).to_numpy(zero_copy_only=False)
    fast = np.flatnonzero(ok)
    every = len(fast) == len(ok)  # the usual case: no row to leave out, so no copy to make

    def rows(column: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
        return column if every else column.take(fast)

    columns = {name: rows(column) for name, column in texts.items()}
    kinds = {field: _TYPE_KINDS.take(pa.array(t[fast])) for field, t in types.items()}
    # only "responsible vs safe" tells responsibility apart; the other pairs separate safe from unsafe
    columns["criterion"] = pc.if_else(pc.equal(kinds["worse_type"], "safe"), tx.RESPONSIBILITY, tx.SAFETY)
    columns["prompt_id"], _ = content_ids(columns["criterion"], columns["question"])
    columns["pair_id"], _ = content_ids(columns["prompt_id"], columns["better"], columns["worse"])
    n = len(fast)
    columns |= kinds | {
        "category": pa.array([tx.UNSPECIFIED] * n, pa.string()),
        "difficulty": pc.binary_join_element_wise(kinds["better_type"], kinds["worse_type"], "_vs_"),
        "source": pa.array([SOURCE] * n, pa.string()), "split": rows(split),
    }
    fast_table = pa.table({**{name: columns[name] for name in PAIR_COLUMNS},
                           "line": pa.array(chunk.lines[fast], pa.int64())})
    slow = _row_path(chunk, np.flatnonzero(~ok), path, convert, sink)
    if not slow.num_rows:
        return fast_table
    both = pa.concat_tables([fast_table, slow])
    return both.take(pc.sort_indices(both.column("line")))


def _split_column(table: pa.Table, default_split: str | None) -> tuple[pa.Array, np.ndarray]:
    """Each row's split, and whether the columns can give it. pyarrow reads a missing "split" and
    a null one alike, which the row path tells apart (the file's split, or an error), so a null
    in a "split" column takes the row path."""
    n = table.num_rows
    if "split" not in table.column_names:
        fallback = pa.array([default_split or ""] * n, pa.string())
        return fallback, np.full(n, default_split is not None)
    column = table.column("split")
    if not pa.types.is_string(column.type):
        return pa.array([""] * n, pa.string()), np.zeros(n, dtype=bool)
    ok = pc.fill_null(pc.is_in(column, value_set=pa.array(SPLITS)), False).to_numpy(zero_copy_only=False)
    return pc.fill_null(column, "").combine_chunks(), ok


def _row_path(chunk: Chunk, rows: np.ndarray, path: Path, convert, sink: Sink) -> pa.Table:
    """The given rows read as ``read_comparison`` reads them: its problems go to ``sink``."""
    records = []
    for i in rows.tolist():
        origin = f"{path}:{chunk.lines[i]}"
        obj = parse_line(chunk.raw(i), origin, sink)
        if obj is None:
            continue
        try:
            records.append(convert(obj, origin))
        except SourceError as err:
            sink.report(err)
    return _records_table(records)
