"""Pairs as Arrow tables, the form in which they stream from the readers through the checks to
the multi-choice items, and the compact origins ("file:line") the checks keep for every pair.

A pair table has ``PAIR_COLUMNS`` (``PairRecord``'s fields, as strings) and ``where``: the
pair's origin packed into an int64 by ``Origins``, so that 5M origins cost 40 MB, not 5M strings.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from ..core.records import PairRecord

PAIR_COLUMNS = [f.name for f in dataclasses.fields(PairRecord) if f.name != "origin"]
_LINE_BITS = 40  # up to 2^40 lines a file, 2^23 files


class Origins:
    """Files numbered as they are met; an origin is ``file << 40 | line``. Origins that are not
    "file:line" (a record made in code) are kept whole, with line 0."""

    def __init__(self) -> None:
        self._files: list[str] = []
        self._index: dict[str, int] = {}

    def file(self, path: str) -> int:
        if path not in self._index:
            self._index[path] = len(self._files)
            self._files.append(path)
        return self._index[path]

    def pack(self, path: str, lines: np.ndarray) -> np.ndarray:
        return (np.int64(self.file(path)) << np.int64(_LINE_BITS)) | np.asarray(lines, dtype=np.int64)

    def pack_texts(self, origins: Sequence[str]) -> np.ndarray:
        packed = np.empty(len(origins), dtype=np.int64)
        for i, origin in enumerate(origins):
            path, _, line = origin.rpartition(":")
            packed[i] = self.pack(path, int(line)) if path and line.isdigit() else self.pack(origin, 0)
        return packed

    def text(self, where: int) -> str:
        path, line = self._files[int(where) >> _LINE_BITS], int(where) & ((1 << _LINE_BITS) - 1)
        return f"{path}:{line}" if line else path


def pair_table(records: Sequence[PairRecord], **extra: Sequence[int]) -> pa.Table:
    """Records as a pair table, with int64 columns beside (``where``, or a reader's ``line``)."""
    columns = {name: pa.array([getattr(r, name) for r in records], pa.string()) for name in PAIR_COLUMNS}
    return pa.table({**columns, **{name: pa.array(values, pa.int64()) for name, values in extra.items()}})

