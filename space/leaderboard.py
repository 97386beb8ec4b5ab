"""The leaderboard: human ratings beside automatic multi-choice scores (the paper's RQ2).

It joins the Bradley–Terry ratings of arena battles, label statistics (safety rate; responsibility
mean per domain) and the ``results.json`` files ``cvalues eval`` writes, then measures how far the
human and automatic rankings agree with Kendall's τ.
"""

from __future__ import annotations

import json
import logging
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from scipy.stats import kendalltau

from cvalues_build.core import taxonomy as tx
from cvalues_build.core.records import Battle, HumanLabel

from .markup import mathtext_literal
from .ratings import Ratings, fit_bradley_terry

MC_CONFIGS = ("safety_mc", "responsibility_mc")
MC_SHORT = {"safety_mc": "Safety MC", "responsibility_mc": "Resp. MC"}
EMPTY = "—"
# One format per kind of number: rates and accuracies (0–1) with three decimals, 1–10 scores with one.
RATE, SCORE = "{:.3f}", "{:.1f}"
NO_RESULTS_NOTE = ("No `--results` folder was given, so the multi-choice (MC) and Kendall τ columns stay empty: "
                   "score models with `cvalues eval` and start the Space with `--results DIR`.")

logger = logging.getLogger(__name__)


@dataclass
class Leaderboard:
    table: pd.DataFrame
    domains: pd.DataFrame
    agreement: pd.DataFrame
    ratings: Ratings
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the visitor should know, e.g. why columns are empty


def load_results(folder: str | Path | None, aliases: dict[str, str] | None = None) -> tuple[dict[str, dict[str, dict]], list[str]]:
    """``{model: {config: results}}`` from every results.json under ``folder``, and warnings for
    files that could not be used (a broken file must not take the leaderboard down). Warnings are
    shown to every visitor, so they name files relative to ``folder``, never the server's paths."""
    out: dict[str, dict[str, dict]] = defaultdict(dict)
    warnings: list[str] = []
    if folder is None:
        return out, warnings
    folder = Path(folder)
    if not folder.is_dir():
        logger.warning("results folder %s does not exist", folder)
        return out, ["the results folder does not exist (the server log names it)"]
    aliases = aliases or {}
    for path in sorted(folder.rglob("results.json")):
        shown = path.relative_to(folder).as_posix()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as err:
            warnings.append(f"{shown}: unreadable ({err.strerror or type(err).__name__})")
            continue
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            warnings.append(f"{shown}: unreadable ({err})")
            continue
        entries = data if isinstance(data, list) else [data]
        for k, res in enumerate(entries):
            if not isinstance(res, dict) or not isinstance(res.get("model"), str) or "config" not in res:
                warnings.append(f"{shown}[{k}]: needs 'model' and 'config'")
                continue
            model = aliases.get(res["model"], res["model"])
            out[model][str(res["config"])] = res
    return out, warnings


def _fmt_rate(values: Sequence[float]) -> tuple[float, int]:
    return (float(sum(values)) / len(values) if values else math.nan), len(values)


def label_stats(labels: Sequence[HumanLabel]) -> tuple[dict[str, tuple[float, int]], dict[str, tuple[float, int]],
                                                        dict[str, dict[str, float]]]:
    """Per model: (safety rate, n), (responsibility mean, n), and {domain: mean score}."""
    safe: dict[str, list[float]] = defaultdict(list)
    score: dict[str, list[float]] = defaultdict(list)
    by_domain: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for lab in labels:
        if lab.criterion == tx.SAFETY and lab.safe is not None:
            safe[lab.model].append(float(lab.safe))
        elif lab.criterion == tx.RESPONSIBILITY and lab.score is not None:
            score[lab.model].append(float(lab.score))
            by_domain[lab.model][lab.category or tx.UNSPECIFIED].append(float(lab.score))
    domains = {m: {d: sum(v) / len(v) for d, v in per.items()} for m, per in by_domain.items()}
    return ({m: _fmt_rate(v) for m, v in safe.items()}, {m: _fmt_rate(v) for m, v in score.items()}, domains)


def _tau(x: dict[str, float], y: dict[str, float]) -> tuple[int, float, float]:
    common = [m for m in x if m in y and not math.isnan(x[m]) and not math.isnan(y[m])]
    if len(common) < 2:
        return len(common), math.nan, math.nan
    res = kendalltau([x[m] for m in common], [y[m] for m in common])
    return len(common), float(res.statistic), float(res.pvalue)


def compute_leaderboard(
    battles: Sequence[Battle],
    labels: Sequence[HumanLabel],
    *,
    models: Sequence[str] = (),
    aliases: dict[str, str] | None = None,
    results_dir: str | Path | None = None,
    rounds: int = 100,
    seed: int = 0,
) -> Leaderboard:
    """Everything the leaderboard tab shows. ``models`` are listed even before their first vote;
    ``aliases`` maps a results.json ``model`` value (e.g. an HF id) to the arena's name."""
    results, warnings = load_results(results_dir, aliases)
    names = list(dict.fromkeys([*models, *(b.model_a for b in battles), *(b.model_b for b in battles),
                                *(lab.model for lab in labels), *results]))
    ratings = fit_bradley_terry([b.model_a for b in battles], [b.model_b for b in battles],
                                [b.winner for b in battles], models=names, rounds=rounds, seed=seed)
    safety, resp, domains = label_stats(labels)
    info = ratings.as_dict()
    rows: list[dict[str, Any]] = []
    for name in names:
        r = info[name]
        row: dict[str, Any] = {
            "Model": name,
            "Rating": round(r["rating"]),
            "95% CI": f"{round(r['lower'])} – {round(r['upper'])}" if r["battles"] else EMPTY,
            "Battles": r["battles"],
            "Safety rate": _counted(*safety.get(name, (math.nan, 0)), RATE),
            "Resp. mean": _counted(*resp.get(name, (math.nan, 0)), SCORE),
        }
        for config in MC_CONFIGS:
            res = results.get(name, {}).get(config, {})
            row[f"{MC_SHORT[config]} acc"] = _fmt(res.get("accuracy"), RATE)
            row[f"{MC_SHORT[config]} consistent"] = _fmt(res.get("consistent_accuracy"), RATE)
        rows.append(row)
    table = pd.DataFrame(rows)
    if not table.empty:
        table = table.sort_values(["Rating", "Battles"], ascending=False, kind="stable")
        # Competition ranking on the rating shown: tied models share a rank (1, 1, 3).
        table.insert(0, "Rank", table["Rating"].rank(method="min", ascending=False).astype(int))
    notes = [] if results_dir is not None else [NO_RESULTS_NOTE]
    return Leaderboard(table.reset_index(drop=True), _domain_table(domains),
                       _agreement(info, safety, resp, results), ratings, warnings, notes)


def _fmt(value: Any, fmt: str) -> str:
    """``value`` in ``fmt``, or the empty mark for anything that is not a finite number."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return EMPTY
    return fmt.format(value)


def _counted(value: float, n: int, fmt: str) -> str:
    return EMPTY if not n else f"{_fmt(value, fmt)} (n={n})"


def _domain_table(domains: dict[str, dict[str, float]]) -> pd.DataFrame:
    cols = [d for d in tx.category_ids(tx.RESPONSIBILITY, with_unspecified=True)
            if any(d in per for per in domains.values())]
    rows = [{"Model": m, **{tx.label(d): _fmt(per.get(d), SCORE) for d in cols}}
            for m, per in sorted(domains.items())]
    return pd.DataFrame(rows, columns=["Model", *[tx.label(d) for d in cols]])


def _agreement(info: dict[str, dict[str, float]], safety: dict[str, tuple[float, int]],
               resp: dict[str, tuple[float, int]], results: dict[str, dict[str, dict]]) -> pd.DataFrame:
    """Kendall τ between human and automatic rankings, over the models that have both."""
    rating = {m: v["rating"] for m, v in info.items() if v["battles"]}
    auto = {c: {m: float(r[c]["accuracy"]) for m, r in results.items()
                if isinstance(r.get(c, {}).get("accuracy"), int | float)} for c in MC_CONFIGS}
    pairs = [
        ("Arena rating", rating, "Safety MC accuracy", auto["safety_mc"]),
        ("Arena rating", rating, "Resp. MC accuracy", auto["responsibility_mc"]),
        ("Safety rate (labels)", {m: v for m, (v, _) in safety.items()}, "Safety MC accuracy", auto["safety_mc"]),
        ("Resp. mean (labels)", {m: v for m, (v, _) in resp.items()}, "Resp. MC accuracy",
         auto["responsibility_mc"]),
    ]
    rows = []
    for hname, h, aname, a in pairs:
        n, tau, p = _tau(h, a)
        rows.append({"Human": hname, "Automatic": aname, "Models": n,
                     "Kendall τ": _fmt(tau, RATE), "p-value": _fmt(p, RATE)})
    return pd.DataFrame(rows)


def ratings_figure(ratings: Ratings) -> Any:
    """A horizontal plot of each rating with its 95% interval (a matplotlib Figure)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    order = sorted(range(len(ratings.models)), key=lambda k: ratings.rating[k])
    fig = Figure(figsize=(7, 0.5 * max(len(order), 2) + 1.2), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    if order:
        y = list(range(len(order)))
        r = [ratings.rating[k] for k in order]
        # A percentile interval need not contain the point estimate (tiny samples): clip at 0.
        lo = [max(0.0, ratings.rating[k] - ratings.lower[k]) for k in order]
        hi = [max(0.0, ratings.upper[k] - ratings.rating[k]) for k in order]
        ax.errorbar(r, y, xerr=[lo, hi], fmt="o", color="#c2410c", ecolor="#9ca3af", capsize=4)
        ax.set_yticks(y, [mathtext_literal(ratings.models[k]) for k in order])
    ax.axvline(1000, color="#d1d5db", lw=1, ls="--")
    ax.set_xlabel("Bradley–Terry rating (400·θ + 1000), 95% bootstrap interval")
    ax.set_title(f"Arena ratings ({int(ratings.battles.sum() // 2)} battles)")
    fig.tight_layout()
    return fig
