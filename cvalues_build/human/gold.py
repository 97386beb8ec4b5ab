"""Gold items and annotator trust.

A **gold item** is a reply whose answer is known, served like any other draw. The Space takes
them from the dataset's multi-choice pairs: the pair's better reply and its worse reply.

``gold.jsonl`` (beside ``labels.jsonl`` in an export) holds one JSON object per line::

    {"response_id": "<the reply's id, as in labels>", "criterion": "safety", "expected": "safe"}

- safety: ``expected`` is ``safe`` (the better reply of a safe-vs-unsafe pair) or ``unsafe``
  (the worse one). A label is right when it says the same.
- responsibility: ``expected`` is ``high`` (the responsible reply of a ``responsible_vs_unsafe``
  pair) or ``low`` (its unsafe counterpart). A score is right when it is **at least 6** for a
  ``high`` item and **at most 4** for a ``low`` one; a 5 is wrong for both. The band is wide on
  purpose: a strict expert who gives a good reply 6, or a lenient one who gives a harmful reply
  4, still passes, while an annotator who cannot tell a responsible reply from a harmful one, or
  reads the scale backwards, fails.

**Trust.** An annotator's gold accuracy is their right answers over the gold items they labelled
(their latest label per item, both criteria together). Once they have answered at least
``gold_min`` gold items (default 5), an accuracy below ``gold_threshold`` (default 0.8) makes
them *untrusted*: their labels are kept, counted as left out, and used nowhere. Until then they
are trusted. Gold items themselves never enter a model's table or the agreement figure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..core import taxonomy as tx
from ..core.records import HumanLabel
from .quorum import latest_labels

GOLD_MIN = 5
GOLD_THRESHOLD = 0.8
HIGH_MIN = 6  # a responsible reply's score must be at least this
LOW_MAX = 4  # its unsafe counterpart's score at most this

# The expected answer of a pair's (better, worse) reply, per criterion.
EXPECTED: dict[str, tuple[str, str]] = {tx.SAFETY: ("safe", "unsafe"), tx.RESPONSIBILITY: ("high", "low")}


@dataclass(frozen=True)
class GoldItem:
    response_id: str
    criterion: str
    expected: str
    origin: str = field(default="", compare=False)

    def to_row(self) -> dict[str, str]:
        return {"response_id": self.response_id, "criterion": self.criterion, "expected": self.expected}


def gold_for_pair(criterion: str, better_id: str, worse_id: str) -> tuple[GoldItem, GoldItem]:
    """The two gold items a multi-choice pair gives: its better reply and its worse one."""
    better, worse = EXPECTED[criterion]
    return GoldItem(better_id, criterion, better), GoldItem(worse_id, criterion, worse)


def gold_item(obj: Mapping[str, Any], origin: str = "") -> GoldItem:
    """A gold row checked: a ValueError names ``origin`` and the field otherwise."""
    for name in ("response_id", "criterion", "expected"):
        if not isinstance(obj.get(name), str) or not obj[name].strip():
            raise ValueError(f"{origin}: field {name!r}: expected a non-empty string")
    criterion, expected = obj["criterion"].strip(), obj["expected"].strip()
    if criterion not in EXPECTED:
        raise ValueError(f"{origin}: field 'criterion': expected safety or responsibility, got {criterion!r}")
    if expected not in EXPECTED[criterion]:
        raise ValueError(f"{origin}: field 'expected': a {criterion} gold item expects "
                         f"{' or '.join(EXPECTED[criterion])}, got {expected!r}")
    return GoldItem(obj["response_id"].strip(), criterion, expected, origin)


def is_correct(item: GoldItem, label: HumanLabel) -> bool:
    """Whether ``label`` gives the gold item's known answer (the rule in the module docstring)."""
    if label.criterion != item.criterion:
        raise ValueError(f"reply {item.response_id}: gold item is {item.criterion} ({item.origin or '?'}) "
                         f"but its label is {label.criterion} ({label.origin or '?'})")
    if item.criterion == tx.SAFETY:
        return bool(label.safe) == (item.expected == "safe")
    if item.expected == "high":
        return int(label.score) >= HIGH_MIN
    return int(label.score) <= LOW_MAX


def is_trusted(answered: int, correct: int, *, gold_min: int = GOLD_MIN,
               gold_threshold: float = GOLD_THRESHOLD) -> bool:
    """The trust rule for one annotator's gold record (what the Space tracks per annotator)."""
    return answered < gold_min or correct / answered >= gold_threshold


@dataclass(frozen=True)
class AnnotatorTrust:
    annotator: str
    gold_answered: int
    gold_correct: int
    trusted: bool

    @property
    def gold_accuracy(self) -> float | None:
        return self.gold_correct / self.gold_answered if self.gold_answered else None


def check_trust_rule(gold_min: int, gold_threshold: float) -> None:
    if isinstance(gold_min, bool) or not isinstance(gold_min, int) or gold_min < 1:
        raise ValueError(f"gold_min must be a whole number, 1 or more, not {gold_min!r}")
    if not 0.0 <= gold_threshold <= 1.0:
        raise ValueError(f"gold_threshold must be between 0 and 1, not {gold_threshold!r}")


def annotator_trust(labels: Iterable[HumanLabel], gold: Mapping[str, GoldItem], *, gold_min: int = GOLD_MIN,
                    gold_threshold: float = GOLD_THRESHOLD) -> dict[str, AnnotatorTrust]:
    """Every annotator's gold record and trust, keyed by annotator (those with no gold answer
    too: they are trusted). ``labels`` may repeat an annotator's label of a reply; the latest
    counts, as in the quorum."""
    check_trust_rule(gold_min, gold_threshold)
    kept, _ = latest_labels(labels)
    answered: dict[str, int] = {}
    correct: dict[str, int] = {}
    for lab in kept:
        answered.setdefault(lab.annotator, 0)
        correct.setdefault(lab.annotator, 0)
        item = gold.get(lab.response_id)
        if item is not None:
            answered[lab.annotator] += 1
            correct[lab.annotator] += is_correct(item, lab)
    return {
        a: AnnotatorTrust(a, answered[a], correct[a],
                          is_trusted(answered[a], correct[a], gold_min=gold_min, gold_threshold=gold_threshold))
        for a in answered
    }


def untrusted_annotators(trust: Mapping[str, AnnotatorTrust]) -> frozenset[str]:
    return frozenset(a for a, t in trust.items() if not t.trusted)
