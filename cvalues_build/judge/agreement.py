"""How well a judge agrees with people, on the replies both labelled.

The human side is each reply's quorum label (``cvalues_build.human.quorum``): the majority
safe/unsafe, or the median score. The judge side is its one label per reply. Compared per
criterion, overall and per scenario or domain, with counts:

- **safety**: accuracy (the share of replies where the judge gives the quorum label) and Cohen's
  κ (agreement beyond what the two label frequencies give by chance);
- **responsibility**: Spearman's ρ (do the judge's scores order replies as people's do?) and the
  mean absolute error in score points.

κ and ρ are written here with numpy (checked against scikit-learn and scipy in the tests), so the
runtime needs neither. A statistic that is undefined (κ when both sides give every reply the same
label; ρ when one side's values are all equal; anything on fewer than two replies) is None, never
NaN.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from ..core import taxonomy as tx

Value = bool | float


def cohen_kappa(a: Sequence[Any], b: Sequence[Any]) -> float | None:
    """Cohen's κ of two raters' labels of the same items (any hashable labels)."""
    if len(a) != len(b):
        raise ValueError(f"two raters need the same items: {len(a)} and {len(b)} labels")
    if not a:
        return None
    classes = sorted(set(a) | set(b), key=repr)
    index = {c: i for i, c in enumerate(classes)}
    table = np.zeros((len(classes), len(classes)))
    for x, y in zip(a, b, strict=True):
        table[index[x], index[y]] += 1
    n = table.sum()
    observed = np.trace(table) / n
    expected = float(table.sum(axis=1) @ table.sum(axis=0)) / n**2
    if np.isclose(expected, 1.0):
        return None  # both raters used one and the same label: agreement by chance is certain
    return float((observed - expected) / (1.0 - expected))


def _ranks(values: np.ndarray) -> np.ndarray:
    """Ranks from 1, ties sharing their average rank (scipy's ``rankdata`` default)."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(1, len(values) + 1)
    uniques, inverse = np.unique(values, return_inverse=True)
    sums = np.bincount(inverse, weights=ranks, minlength=len(uniques))
    return (sums / np.bincount(inverse, minlength=len(uniques)))[inverse]


def spearman_rho(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's ρ: the Pearson correlation of the two sides' ranks."""
    if len(x) != len(y):
        raise ValueError(f"two raters need the same items: {len(x)} and {len(y)} values")
    if len(x) < 2:
        return None
    rx, ry = _ranks(np.asarray(x, dtype=float)), _ranks(np.asarray(y, dtype=float))
    dx, dy = rx - rx.mean(), ry - ry.mean()
    denom = float(np.sqrt((dx @ dx) * (dy @ dy)))
    if denom == 0.0:
        return None  # one side gives every item the same value: no order to compare
    return float(np.clip((dx @ dy) / denom, -1.0, 1.0))


def mean_absolute_error(x: Sequence[float], y: Sequence[float]) -> float | None:
    if len(x) != len(y):
        raise ValueError(f"two raters need the same items: {len(x)} and {len(y)} values")
    return float(np.mean(np.abs(np.asarray(x, float) - np.asarray(y, float)))) if len(x) else None


def _cell(criterion: str, judge: list[Value], human: list[Value]) -> dict[str, Any]:
    if criterion == tx.SAFETY:
        agree = sum(bool(j) == bool(h) for j, h in zip(judge, human, strict=True))
        return {"replies": len(judge), "accuracy": agree / len(judge) if judge else None,
                "kappa": cohen_kappa([bool(v) for v in judge], [bool(v) for v in human])}
    return {"replies": len(judge), "spearman": spearman_rho(judge, human), "mae": mean_absolute_error(judge, human)}


def compare(criterion: str, judge: Mapping[str, Value], human: Mapping[str, Value],
            categories: Mapping[str, str]) -> dict[str, Any]:
    """Agreement of one criterion's judge labels with the human quorum labels, matched by
    ``response_id``: ``overall`` and per category (taxonomy order), each a cell with
    ``replies`` (the pairs compared) and the criterion's statistics; ``judge_only`` and
    ``human_only`` count replies that only one side labelled."""
    if criterion not in tx.CRITERIA:
        raise ValueError(f"unknown criterion {criterion!r}")
    both = [rid for rid in judge if rid in human]
    by_category: dict[str, list[str]] = {}
    for rid in both:
        by_category.setdefault(categories.get(rid) or tx.UNSPECIFIED, []).append(rid)
    order = tx.category_ids(criterion, with_unspecified=True)
    known = [c for c in order if c in by_category] + sorted(c for c in by_category if c not in order)
    return {
        "criterion": criterion,
        "overall": _cell(criterion, [judge[r] for r in both], [human[r] for r in both]),
        "categories": {c: _cell(criterion, [judge[r] for r in by_category[c]], [human[r] for r in by_category[c]])
                       for c in known},
        "judge_only": sum(rid not in human for rid in judge),
        "human_only": sum(rid not in judge for rid in human),
    }


def label_values(labels: Iterable[Any]) -> tuple[dict[str, dict[str, Value]], dict[str, str]]:
    """``{criterion: {response_id: value}}`` and ``{response_id: category}`` from labels or quorum
    verdicts: anything with ``response_id``, ``criterion``, ``category`` and ``safe`` or ``score``
    (``HumanLabel``, ``human.quorum.ReplyVerdict``). A verdict that did not reach quorum (its
    ``reached`` is false) is left out; so is a label without a value."""
    values: dict[str, dict[str, Value]] = {c: {} for c in tx.CRITERIA}
    categories: dict[str, str] = {}
    for lab in labels:
        if getattr(lab, "reached", True) is False:
            continue
        value = lab.safe if lab.criterion == tx.SAFETY else lab.score
        if value is None:
            continue
        values[lab.criterion][lab.response_id] = value
        categories[lab.response_id] = lab.category or tx.UNSPECIFIED
    return values, categories


def agreement(judge_labels: Iterable[Any], human_verdicts: Iterable[Any]) -> dict[str, dict[str, Any]]:
    """Per criterion, ``compare`` of the judge's labels with the human quorum verdicts. The
    category of a reply comes from the human side, else the judge's."""
    judge, judge_cats = label_values(judge_labels)
    human, human_cats = label_values(human_verdicts)
    categories = {**judge_cats, **human_cats}
    return {c: compare(c, judge[c], human[c], categories) for c in tx.CRITERIA if judge[c] or human[c]}


_COLUMNS = {tx.SAFETY: (("accuracy", "accuracy"), ("kappa", "κ")),
            tx.RESPONSIBILITY: (("spearman", "ρ"), ("mae", "MAE"))}


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def format_agreement(result: Mapping[str, Mapping[str, Any]], judge: str = "judge") -> str:
    """The agreement as a plain-text table per criterion: one line per category, then overall
    (columns stay aligned with Chinese names: a wide character takes two cells)."""
    blocks = []
    for criterion, table in result.items():
        columns = _COLUMNS[criterion]
        rows = [["category", "replies", *(title for _, title in columns)]]
        for category, cell in [*table["categories"].items(), ("overall", table["overall"])]:
            name = tx.label(category) if category in tx.category_ids(with_unspecified=True) else category
            rows.append([name, str(cell["replies"]), *(_number(cell[key]) for key, _ in columns)])
        widths = [max(_width(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = [f"{criterion}: {judge} vs human quorum labels"]
        lines += ["  ".join(c + " " * (w - _width(c)) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
        lines.append(f"labelled by the judge only: {table['judge_only']}; by people only: {table['human_only']}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
