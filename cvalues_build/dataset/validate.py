"""Every check a record must pass before it is written. Each check reports through
``Problems`` with the record's file:line and the field, and returns the records that passed, so
``--skip-invalid`` can drop the rest and still write a consistent dataset."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..core import taxonomy as tx
from ..core.records import Battle, HumanLabel, PromptRecord
from .columns import id_keys, strip, text_keys
from .keyset import FirstSeen
from .pairs import Origins
from .problems import Problems
from .sources.common import SourceError
from .sources.comparison import SOURCE as COMPARISON_SOURCE


def _category_ok(criterion: str, category: str, origin: str, problems: Problems, *, allow_unspecified: bool) -> bool:
    if category == tx.UNSPECIFIED and not allow_unspecified:
        problems.report(SourceError(origin, "category", "a scenario or domain is required here"))
        return False
    if not tx.is_valid(criterion, category):
        expected = ", ".join(tx.category_ids(criterion)) if criterion in tx.CRITERIA else "a known criterion"
        problems.report(SourceError(origin, "category", f"unknown {criterion} category {category!r}; expected one of {expected}"))
        return False
    return True


def _texts_ok(record: object, fields: tuple[str, ...], problems: Problems) -> bool:
    for name in fields:
        if not str(getattr(record, name)).strip():
            problems.report(SourceError(record.origin, name, "empty text"))  # type: ignore[attr-defined]
            return False
    return True


def _first_time(key: str, origin: str, what: str, seen: dict[str, str], problems: Problems) -> bool:
    """Whether ``key`` is new; a repeat is reported with where it was first seen."""
    if key in seen:
        problems.report(SourceError(origin, "prompt", f"duplicate {what} (first at {seen[key]})"))
        return False
    seen[key] = origin
    return True


def check_prompts(prompts: Iterable[PromptRecord], problems: Problems) -> list[PromptRecord]:
    kept: list[PromptRecord] = []
    seen: dict[str, str] = {}
    for p in prompts:
        if not (_texts_ok(p, ("prompt",), problems)
                and _category_ok(p.criterion, p.category, p.origin, problems, allow_unspecified=False)):
            continue
        if _first_time(p.id, p.origin, "prompt", seen, problems):
            kept.append(p)
    return kept


class PairChecks:
    """The checks of pairs, over a stream of pair tables (``pairs.py``): each pair's own checks,
    duplicates (the same pair_id again) and leakage (a train prompt also in test). The state kept
    across tables is small: 64-bit keys and packed origins, never texts."""

    def __init__(self, problems: Problems, origins: Origins):
        self.problems, self.origins = problems, origins
        self._seen = FirstSeen()
        self._test: list[tuple[np.ndarray, np.ndarray]] = []  # (question keys, where) of kept test pairs
        self._train: list[tuple[np.ndarray, np.ndarray]] = []  # the same of kept train pairs, in order

    def check(self, pairs: pa.Table) -> pa.Table:
        """The pairs that pass, in order; the others are reported with their file:line."""
        where = pairs.column("where").to_numpy()
        faults = self._own_faults(pairs)
        ok = np.array([f is None for f in faults], dtype=bool)
        first = np.full(len(ok), -1, dtype=np.int64)
        first[ok] = self._seen.add(id_keys(pairs.column("pair_id").filter(ok)), where[ok])
        for i in np.flatnonzero(~ok | (first >= 0)).tolist():  # every problem, in row order
            field, message = faults[i] or ("prompt", f"duplicate pair (first at {self.origins.text(first[i])})")
            self.problems.report(SourceError(self.origins.text(where[i]), field, message))
        kept = pairs.filter(ok & (first < 0))
        split = kept.column("split").to_numpy(zero_copy_only=False)
        keys, kept_where = text_keys(kept.column("question")), kept.column("where").to_numpy()
        for name, into in (("test", self._test), ("train", self._train)):
            into.append((keys[split == name], kept_where[split == name]))
        return kept

    def _own_faults(self, pairs: pa.Table) -> list[tuple[str, str] | None]:
        """(field, message) of each pair's first failing check, None for a pair that passes."""
        faults: list[tuple[str, str] | None] = [None] * pairs.num_rows
        for name in ("question", "better", "worse"):
            for i in np.flatnonzero(pc.equal(pc.utf8_length(strip(pairs.column(name))), 0).to_numpy(zero_copy_only=False)):
                faults[i] = faults[i] or (name, "empty text")
        for i, message in _category_faults(pairs):
            faults[i] = faults[i] or ("category", message)
        for i in np.flatnonzero(pc.equal(pairs.column("better"), pairs.column("worse")).to_numpy(zero_copy_only=False)):
            faults[i] = faults[i] or ("worse", "the better and the worse reply are the same text")
        return faults

    def leaked(self) -> np.ndarray:
        """Report every kept train pair whose question is also in test (by text, not prompt_id:
        the same question under another criterion is still a leak), naming the last test pair
        that holds it; returns their ordinals among the kept train pairs."""
        train_keys, train_where = _joined(self._train)
        test_keys, test_where = _joined(self._test)
        order = np.argsort(test_keys, kind="stable")
        test_keys, test_where = test_keys[order], test_where[order]
        last = np.ones(len(test_keys), dtype=bool)
        last[:-1] = test_keys[1:] != test_keys[:-1]
        test_keys, test_where = test_keys[last], test_where[last]
        at = np.minimum(np.searchsorted(test_keys, train_keys), max(len(test_keys) - 1, 0))
        hit = np.flatnonzero(test_keys[at] == train_keys) if len(test_keys) else np.empty(0, dtype=np.int64)
        for i in hit.tolist():
            self.problems.report(SourceError(self.origins.text(train_where[i]), "prompt", "leakage: this train "
                                             f"prompt is also in test (at {self.origins.text(test_where[at[i]])})"))
        return hit


def _joined(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    if not parts:
        return np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.int64)
    return np.concatenate([k for k, _ in parts]), np.concatenate([w for _, w in parts])


def _category_faults(pairs: pa.Table) -> list[tuple[int, str]]:
    """(row, message) of the pairs whose category ``_category_ok`` refuses, asked once per distinct
    (criterion, category, source): a million pairs hold a few dozen."""
    combos = pc.binary_join_element_wise(pairs.column("criterion"), pairs.column("category"),
                                         pairs.column("source"), "\x1f")
    refused: dict[str, str] = {}
    for combo in pc.unique(combos).to_pylist():
        criterion, category, source = combo.split("\x1f")
        probe = Problems()
        if not _category_ok(criterion, category, "", probe, allow_unspecified=source == COMPARISON_SOURCE):
            refused[combo] = probe.items[0].reason
    if not refused:
        return []
    rows = np.flatnonzero(pc.is_in(combos, value_set=pa.array(list(refused))).to_numpy(zero_copy_only=False))
    return [(i, refused[combos[i].as_py()]) for i in rows.tolist()]


def check_human(labels: Iterable[HumanLabel], battles: Iterable[Battle],
                problems: Problems) -> tuple[list[HumanLabel], list[Battle]]:
    kept_labels = [lab for lab in labels
                   if _category_ok(lab.criterion, lab.category, lab.origin, problems, allow_unspecified=True)]
    kept_battles = []
    for b in battles:
        if not _category_ok(b.criterion, b.category, b.origin, problems, allow_unspecified=True):
            continue
        if b.model_a == b.model_b:
            problems.report(SourceError(b.origin, "model_b", "a battle needs two different models"))
            continue
        kept_battles.append(b)
    return kept_labels, kept_battles
