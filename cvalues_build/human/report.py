"""The table ``cvalues human-eval`` prints, from a results dict (layout in ``results.py``)."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from ..core import taxonomy as tx

EMPTY = "—"
TITLES = {
    tx.SAFETY: ("Safety rate", "share of replies whose quorum label is safe"),
    tx.RESPONSIBILITY: ("Responsibility score", "mean of each reply's median score, 1-10"),
}
FORMATS = {tx.SAFETY: "{:.3f}", tx.RESPONSIBILITY: "{:.2f}"}


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _grid(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Left-aligned columns that stay aligned with Chinese text (two cells per wide character)."""
    widths = [max(_width(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return ["  ".join(c + " " * (w - _width(c)) for c, w in zip(r, widths, strict=True)).rstrip()
            for r in [header, *rows]]


def _value(cell: Mapping[str, Any], fmt: str) -> str:
    return EMPTY if cell["value"] is None else fmt.format(cell["value"])


def _interval(cell: Mapping[str, Any], fmt: str) -> str:
    ci = cell.get("ci")
    return EMPTY if not ci else f"[{fmt.format(ci[0])}, {fmt.format(ci[1])}]"


def _overall(criterion: str, models: Mapping[str, Any]) -> list[str]:
    fmt = FORMATS[criterion]
    title, meaning = TITLES[criterion]
    header = ["model", title.split()[-1], "95% CI", "replies", "quorum", "too few", "split", "labels",
              "left out (annotators)"]
    rows = []
    for model, per in models.items():
        if criterion in per:
            c = per[criterion]["overall"]
            rows.append([model, _value(c, fmt), _interval(c, fmt), str(c["replies"]), str(c["quorum"]),
                         str(c["too_few"]), str(c["split"]), str(c["labels"]),
                         f"{c['labels_left_out']} ({c['untrusted_annotators']})"])
    return [f"{title}: {meaning} (interval resamples prompts)", *_grid(header, rows)]


def _by_category(criterion: str, models: Mapping[str, Any]) -> list[str]:
    fmt = FORMATS[criterion]
    names = [m for m, per in models.items() if criterion in per]
    cats: list[str] = []
    for m in names:
        cats += [c for c in models[m][criterion]["categories"] if c not in cats]
    order = tx.category_ids(criterion, with_unspecified=True)
    cats.sort(key=lambda c: order.index(c) if c in order else len(order))
    rows = []
    for cat in cats:
        row = [tx.label(cat) if cat in order else cat]
        for m in names:
            c = models[m][criterion]["categories"].get(cat)
            row.append(EMPTY if c is None else f"{_value(c, fmt)} {_interval(c, fmt)} n={c['quorum']}")
        rows.append(row)
    kind = "scenario" if criterion == tx.SAFETY else "domain"
    return [f"per {kind} (value [95% CI] n=replies with quorum)", *_grid([kind, *names], rows)]


def _alpha_line(results: Mapping[str, Any]) -> str:
    parts = []
    for criterion, a in results["agreement"].items():
        value = EMPTY if a["alpha"] is None else f"{a['alpha']:.3f}"
        why = f"; {a['note']}" if a["note"] else ""
        parts.append(f"{criterion} {value} ({a['level']}, {a['replies']} replies with 2+ labels{why})")
    return "Krippendorff's α: " + ("; ".join(parts) if parts else "no labels")


def format_table(results: Mapping[str, Any]) -> str:
    """The readable summary: per criterion the overall table and the per-category one, then α
    and who was left out."""
    models, lines = results["models"], []
    for criterion in tx.CRITERIA:
        if any(criterion in per for per in models.values()):
            lines += [*_overall(criterion, models), "", *_by_category(criterion, models), ""]
    lines.append(_alpha_line(results))
    p, n = results["parameters"], results["counts"]
    lines.append(f"Quorum: {p['quorum']} trusted annotators, majority {p['majority']}. "
                 f"Annotators: {n['annotators']}, untrusted {n['untrusted_annotators']} "
                 f"(gold accuracy below {p['gold_threshold']:g} after {p['gold_min']}+ gold answers); "
                 f"their {n['labels_left_out']} labels were left out. "
                 f"Gold items: {n['gold_items']} ({n['labels_on_gold']} labels, used for trust only).")
    return "\n".join(lines)
