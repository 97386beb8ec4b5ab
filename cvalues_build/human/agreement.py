"""Agreement figures: Krippendorff's α between annotators, and Kendall's τ between rankings.

- **α** per criterion, from the ``krippendorff`` package (imported when first used, so the rest
  of cvalues does not need it): *nominal* for safety (safe/unsafe), *interval* for responsibility
  (scores 1–10). Its units are replies; only replies with at least two labels carry information
  about agreement. α is 1 for perfect agreement, about 0 for agreement no better than chance,
  negative for systematic disagreement; it is undefined (None) when no reply has two labels or
  when every label has the same value (there is no disagreement to expect).
- **τ** (Kendall's τ-b, from scipy, also imported when used) compares two rankings of models, for
  example the human safety rate against the multi-choice accuracy: the paper's RQ2.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from ..core import taxonomy as tx
from ..core.records import HumanLabel
from .quorum import latest_labels

LEVELS = {tx.SAFETY: "nominal", tx.RESPONSIBILITY: "interval"}
# The values a label can take, in order: the columns of the value-count table.
DOMAINS: dict[str, list[int]] = {tx.SAFETY: [0, 1], tx.RESPONSIBILITY: list(range(1, 11))}


@dataclass(frozen=True)
class Alpha:
    criterion: str
    level: str
    alpha: float | None
    replies: int  # replies with at least two labels: the units α is computed over
    labels: int  # the labels on those replies
    note: str = ""  # why alpha is None

    def to_dict(self) -> dict[str, object]:
        return {"alpha": self.alpha, "level": self.level, "replies": self.replies, "labels": self.labels,
                "note": self.note}


def _label_value(lab: HumanLabel) -> int:
    return int(bool(lab.safe)) if lab.criterion == tx.SAFETY else int(lab.score)


def value_counts(labels: Iterable[HumanLabel], criterion: str) -> np.ndarray:
    """Replies × values: how many annotators gave each reply each value (one label per annotator
    and reply: the latest). Only replies with two labels or more are kept."""
    domain = DOMAINS[criterion]
    column = {v: i for i, v in enumerate(domain)}
    kept, _ = latest_labels(lab for lab in labels if lab.criterion == criterion)
    rows: dict[str, list[int]] = {}
    for lab in kept:
        rows.setdefault(lab.response_id, [0] * len(domain))[column[_label_value(lab)]] += 1
    pairable = [r for r in rows.values() if sum(r) >= 2]
    return np.array(pairable, dtype=np.int64).reshape(len(pairable), len(domain))


def krippendorff_alpha(labels: Iterable[HumanLabel], criterion: str) -> Alpha:
    """Krippendorff's α of the labels of one criterion (nominal for safety, interval for
    responsibility). Pass the labels that enter the table: trusted annotators, no gold items."""
    counts = value_counts(labels, criterion)
    level = LEVELS[criterion]
    replies, n_labels = counts.shape[0], int(counts.sum())
    if replies == 0:
        return Alpha(criterion, level, None, 0, 0, "no reply has two labels")
    if np.count_nonzero(counts.sum(axis=0)) < 2:
        return Alpha(criterion, level, None, replies, n_labels, "every label has the same value")
    import krippendorff

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        value = float(krippendorff.alpha(value_counts=counts, value_domain=DOMAINS[criterion],
                                         level_of_measurement=level))
    return Alpha(criterion, level, value if math.isfinite(value) else None, replies, n_labels,
                 "" if math.isfinite(value) else "undefined for these labels")


@dataclass(frozen=True)
class RankAgreement:
    models: tuple[str, ...]  # the models ranked by both
    tau: float | None
    p_value: float | None


def kendall_tau(human: Mapping[str, float | None], automatic: Mapping[str, float | None]) -> RankAgreement:
    """Kendall's τ-b between two per-model scores (e.g. human safety rate vs multi-choice
    accuracy) over the models that have a finite value in both. τ is None with fewer than two
    such models, or when one side gives every model the same value."""
    models = tuple(m for m in human if m in automatic and _finite(human[m]) and _finite(automatic[m]))
    if len(models) < 2:
        return RankAgreement(models, None, None)
    from scipy.stats import kendalltau

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a constant side warns and gives nan, reported as None
        res = kendalltau([human[m] for m in models], [automatic[m] for m in models])
    tau, p = float(res.statistic), float(res.pvalue)
    return RankAgreement(models, tau if math.isfinite(tau) else None, p if math.isfinite(p) else None)


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
