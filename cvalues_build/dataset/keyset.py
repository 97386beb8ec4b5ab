"""A set of 64-bit keys that remembers where each was first seen: the whole-dataset state of the
duplicate check, kept as sorted numpy arrays (16 bytes a key) instead of texts or Python objects,
so that 5M pairs cost about 80 MB.

Batches are looked up and inserted with array operations: a batch is sorted, its keys are found
in the runs kept so far by binary search, and its new keys become a run. Runs merge like a
binary counter (a run is merged into the one before it while it is at least half as long), so
there are only a logarithmic number of them and each key is moved a logarithmic number of times;
a merge is a timsort of two sorted runs, which is linear.
"""

from __future__ import annotations

import numpy as np


class FirstSeen:
    def __init__(self) -> None:
        self._runs: list[tuple[np.ndarray, np.ndarray]] = []  # (sorted keys, where each was first seen)

    def add(self, keys: np.ndarray, where: np.ndarray) -> np.ndarray:
        """Add ``keys`` in order, with ``where`` (a non-negative int64 per key, say a packed
        file:line). Returns, per key, -1 when it is new, else the ``where`` of its first sighting,
        in this batch or an earlier one."""
        keys, where = np.asarray(keys, dtype=np.uint64), np.asarray(where, dtype=np.int64)
        order = np.argsort(keys, kind="stable")  # stable: equal keys keep their batch order
        sorted_keys, sorted_where = keys[order], where[order]
        head = np.ones(len(keys), dtype=bool)
        head[1:] = sorted_keys[1:] != sorted_keys[:-1]
        starts = np.flatnonzero(head)
        group = np.cumsum(head) - 1
        heads, head_where = sorted_keys[starts], sorted_where[starts]
        earlier = np.full(len(heads), -1, dtype=np.int64)
        for run_keys, run_where in self._runs:
            at = np.minimum(np.searchsorted(run_keys, heads), len(run_keys) - 1)
            hit = run_keys[at] == heads
            earlier[hit] = run_where[at[hit]]
        # a repeat within the batch points at the batch's first; a key seen before, at that sighting
        first_sorted = np.where(head, -1, head_where[group])
        first_sorted = np.where(earlier[group] >= 0, earlier[group], first_sorted)
        new = earlier < 0
        self._push(heads[new], head_where[new])
        first = np.empty(len(keys), dtype=np.int64)
        first[order] = first_sorted
        return first

    def _push(self, keys: np.ndarray, where: np.ndarray) -> None:
        if not len(keys):
            return
        self._runs.append((keys, where))
        while len(self._runs) > 1 and 2 * len(self._runs[-1][0]) >= len(self._runs[-2][0]):
            (k1, w1), (k2, w2) = self._runs.pop(-2), self._runs.pop()
            merged_keys, merged_where = np.concatenate([k1, k2]), np.concatenate([w1, w2])
            order = np.argsort(merged_keys, kind="stable")
            self._runs.append((merged_keys[order], merged_where[order]))
