"""Every check a record must pass before it is written. Each check reports through
``Problems`` with the record's file:line and the field, and returns the records that passed, so
``--skip-invalid`` can drop the rest and still write a consistent dataset."""

from __future__ import annotations

from collections.abc import Iterable

from ..core import taxonomy as tx
from ..core.records import Battle, HumanLabel, PairRecord, PromptRecord
from .problems import Problems
from .sources.common import SourceError


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


def check_pairs(pairs: Iterable[PairRecord], problems: Problems) -> list[PairRecord]:
    """Per-pair checks, duplicates, then leakage: a prompt in both train and test."""
    kept: list[PairRecord] = []
    seen: dict[str, str] = {}
    for pair in pairs:
        if not (_texts_ok(pair, ("question", "better", "worse"), problems)
                and _category_ok(pair.criterion, pair.category, pair.origin, problems,
                                 allow_unspecified=pair.source == "cvalues-comparison")):
            continue
        if pair.better == pair.worse:
            problems.report(SourceError(pair.origin, "worse", "the better and the worse reply are the same text"))
            continue
        if _first_time(pair.pair_id, pair.origin, "pair", seen, problems):
            kept.append(pair)
    return _without_leaks(kept, problems)


def _without_leaks(pairs: list[PairRecord], problems: Problems) -> list[PairRecord]:
    # By text, not prompt_id: the same question under another criterion is still a leak.
    test_prompts = {p.question: p.origin for p in pairs if p.split == "test"}
    leaked = [p for p in pairs if p.split == "train" and p.question in test_prompts]
    for p in leaked:
        problems.report(SourceError(p.origin, "prompt", f"leakage: this train prompt is also in test (at {test_prompts[p.question]})"))
    # Skipping keeps the test split intact and drops the train copies.
    leaked_ids = {id(p) for p in leaked}
    return [p for p in pairs if id(p) not in leaked_ids]


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
