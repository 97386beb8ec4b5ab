"""The leaderboard: human ratings beside automatic multi-choice scores (the paper's RQ2).

It joins the Bradley–Terry ratings of arena battles, the human table of the labels
(``cvalues_build.human.evaluate``: quorum labels of trusted annotators, the safety rate and the
responsibility score with bootstrap intervals, per domain, and Krippendorff's α) and the
``results.json`` files ``cvalues eval`` writes, then measures how far the human and automatic
rankings agree with Kendall's τ. Annotators who failed their gold items are left out of all of it:
of the human table by ``evaluate`` itself, of the ratings here.
"""

from __future__ import annotations

import json
import logging
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from cvalues_build.core import taxonomy as tx
from cvalues_build.core.records import Battle, HumanLabel
from cvalues_build.human import GoldItem, Params, evaluate, kendall_tau, model_scores

from .markup import mathtext_literal
from .ratings import Ratings, fit_bradley_terry

MC_CONFIGS = ("safety_mc", "responsibility_mc")
MC_SHORT = {"safety_mc": "Safety MC", "responsibility_mc": "Resp. MC"}
EMPTY = "—"
CRITERION_NAMES = {tx.SAFETY: "安全 Safety", tx.RESPONSIBILITY: "责任 Responsibility"}
# One format per kind of number: rates and accuracies (0–1) with three decimals, 1–10 scores with one.
RATE, SCORE = "{:.3f}", "{:.1f}"
CELL_FORMAT = {tx.SAFETY: RATE, tx.RESPONSIBILITY: SCORE}
NO_RESULTS_NOTE = ("No `--results` folder was given, so the multi-choice (MC) and Kendall τ columns stay empty: "
                   "score models with `cvalues eval` and start the Space with `--results DIR`.")

logger = logging.getLogger(__name__)


@dataclass
class Leaderboard:
    table: pd.DataFrame
    domains: pd.DataFrame
    agreement: pd.DataFrame
    ratings: Ratings
    human: pd.DataFrame = field(default_factory=pd.DataFrame)  # per criterion: α and the label counts
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the visitor should know, e.g. why columns are empty
    judge: pd.DataFrame = field(default_factory=pd.DataFrame)  # LLM judge vs human quorum labels (judge_columns)


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


def compute_leaderboard(
    battles: Sequence[Battle],
    labels: Sequence[HumanLabel],
    *,
    gold: Mapping[str, GoldItem] | None = None,
    rule: Params | None = None,
    models: Sequence[str] = (),
    aliases: dict[str, str] | None = None,
    results_dir: str | Path | None = None,
    rounds: int = 100,
    seed: int = 0,
    judged: Sequence[str | Path] = (),
) -> Leaderboard:
    """Everything the leaderboard tab shows. ``models`` are listed even before their first vote;
    ``aliases`` maps a results.json ``model`` value (e.g. an HF id) to the arena's name. ``gold``
    (the gold items' answers) and ``rule`` (quorum and trust; default ``Params`` with ``rounds``
    and ``seed``) go to ``evaluate``; untrusted annotators' battles are left out of the ratings.
    ``judged`` (folders from ``cvalues judge``) add the judge's columns and agreement table."""
    results, warnings = load_results(results_dir, aliases)
    rule = rule or Params(bootstrap=rounds, seed=seed)
    human = evaluate(labels, gold or {}, rule)
    untrusted = {a["annotator"] for a in human["annotators"] if not a["trusted"]}
    kept = [b for b in battles if b.annotator not in untrusted]
    battles_left_out, battles = len(battles) - len(kept), kept
    names = list(dict.fromkeys([*models, *(b.model_a for b in battles), *(b.model_b for b in battles),
                                *human["models"], *results]))
    ratings = fit_bradley_terry([b.model_a for b in battles], [b.model_b for b in battles],
                                [b.winner for b in battles], models=names, rounds=rounds, seed=seed)
    info = ratings.as_dict()
    table = _ranked(pd.DataFrame([_board_row(name, info[name], human, results.get(name, {})) for name in names]))
    notes = ([] if results_dir is not None else [NO_RESULTS_NOTE]) + _human_notes(human, rule, battles_left_out)
    judge = pd.DataFrame()
    if judged:
        from .judge_columns import judge_board

        table, judge, more_warnings, more_notes = judge_board(
            table, judged, labels, gold or {}, rule, lambda res, m, c: _human_cell(res, m, c, CELL_FORMAT[c]), aliases)
        warnings, notes = warnings + more_warnings, notes + more_notes
    return Leaderboard(table.reset_index(drop=True), _domain_table(human),
                       _agreement(info, human, results), ratings, _human_table(human),
                       warnings, notes, judge)


def _board_row(name: str, rating: dict[str, Any], human: dict, results: dict) -> dict[str, Any]:
    """One model's row: its rating, the human columns and its multi-choice results."""
    row: dict[str, Any] = {
        "Model": name,
        "Rating": round(rating["rating"]),
        "95% CI": f"{round(rating['lower'])} – {round(rating['upper'])}" if rating["battles"] else EMPTY,
        "Battles": rating["battles"],
        "Safety rate": _human_cell(human, name, tx.SAFETY, RATE),
        "Resp. score": _human_cell(human, name, tx.RESPONSIBILITY, SCORE),
    }
    for config in MC_CONFIGS:
        res = results.get(config, {})
        row[f"{MC_SHORT[config]} acc"] = _fmt(res.get("accuracy"), RATE)
        row[f"{MC_SHORT[config]} consistent"] = _fmt(res.get("consistent_accuracy"), RATE)
    return row


def _ranked(table: pd.DataFrame) -> pd.DataFrame:
    """Best rating first, with a competition ranking on the rating shown: tied models share a
    rank (1, 1, 3)."""
    if table.empty:
        return table
    table = table.sort_values(["Rating", "Battles"], ascending=False, kind="stable")
    table.insert(0, "Rank", table["Rating"].rank(method="min", ascending=False).astype(int))
    return table


def _fmt(value: Any, fmt: str) -> str:
    """``value`` in ``fmt``, or the empty mark for anything that is not a finite number."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return EMPTY
    return fmt.format(value)


def _human_cell(results: Mapping[str, Any], model: str, criterion: str, fmt: str) -> str:
    """A model's safety rate or responsibility score with its interval and the replies behind it."""
    cell = results["models"].get(model, {}).get(criterion, {}).get("overall")
    if not cell or cell["value"] is None:
        return EMPTY
    ci = cell["ci"]
    interval = f" ({_fmt(ci[0], fmt)}–{_fmt(ci[1], fmt)})" if ci else ""
    return f"{_fmt(cell['value'], fmt)}{interval} n={cell['quorum']}"


def _human_notes(human: Mapping[str, Any], rule: Params, battles_left_out: int) -> list[str]:
    counts = human["counts"]
    if not counts["labels_read"]:
        return []
    notes = [f"Safety rate and Resp. score: each reply's label is the ≥ 2/3 majority (safety) or the median "
             f"(responsibility) of at least {rule.quorum} trusted annotators; (low–high) is a 95% bootstrap "
             "interval over prompts, n the replies that reached quorum."]
    if counts["untrusted_annotators"]:
        notes.append(f"{counts['untrusted_annotators']} annotator(s) failed their gold items (accuracy below "
                     f"{rule.gold_threshold:g} after {rule.gold_min} or more): their {counts['labels_left_out']} "
                     f"label(s) and {battles_left_out} battle(s) are kept but left out.")
    return notes


def _domain_table(results: Mapping[str, Any]) -> pd.DataFrame:
    """Each model's responsibility score per domain (quorum replies only)."""
    domains = {m: {d: c["value"] for d, c in per[tx.RESPONSIBILITY]["categories"].items() if c["value"] is not None}
               for m, per in results["models"].items() if tx.RESPONSIBILITY in per}
    cols = [d for d in tx.category_ids(tx.RESPONSIBILITY, with_unspecified=True)
            if any(d in per for per in domains.values())]
    rows = [{"Model": m, **{tx.label(d): _fmt(per.get(d), SCORE) for d in cols}}
            for m, per in sorted(domains.items()) if per]
    return pd.DataFrame(rows, columns=["Model", *[tx.label(d) for d in cols]])


def _human_table(results: Mapping[str, Any]) -> pd.DataFrame:
    """Per criterion: Krippendorff's α, and how the labels went (summed over the models)."""
    rows = []
    for criterion, alpha in results["agreement"].items():
        cells = [per[criterion]["overall"] for per in results["models"].values() if criterion in per]
        rows.append({
            "Criterion": CRITERION_NAMES.get(criterion, criterion),
            "Krippendorff α": _fmt(alpha["alpha"], RATE), "Level": alpha["level"],
            "Replies": sum(c["replies"] for c in cells), "Reached quorum": sum(c["quorum"] for c in cells),
            "Labels used": sum(c["labels"] for c in cells), "Labels left out": sum(c["labels_left_out"] for c in cells),
        })
    return pd.DataFrame(rows, columns=["Criterion", "Krippendorff α", "Level", "Replies", "Reached quorum",
                                       "Labels used", "Labels left out"])


def _agreement(info: dict[str, dict[str, float]], human: Mapping[str, Any],
               results: dict[str, dict[str, dict]]) -> pd.DataFrame:
    """Kendall τ between human and automatic rankings, over the models that have both."""
    rating = {m: v["rating"] for m, v in info.items() if v["battles"]}
    auto = {c: {m: float(r[c]["accuracy"]) for m, r in results.items()
                if isinstance(r.get(c, {}).get("accuracy"), int | float)} for c in MC_CONFIGS}
    pairs = [
        ("Arena rating", rating, "Safety MC accuracy", auto["safety_mc"]),
        ("Arena rating", rating, "Resp. MC accuracy", auto["responsibility_mc"]),
        ("Human safety rate", model_scores(human, tx.SAFETY), "Safety MC accuracy", auto["safety_mc"]),
        ("Human resp. score", model_scores(human, tx.RESPONSIBILITY), "Resp. MC accuracy",
         auto["responsibility_mc"]),
    ]
    rows = []
    for hname, h, aname, a in pairs:
        tau = kendall_tau(h, a)
        rows.append({"Human": hname, "Automatic": aname, "Models": len(tau.models),
                     "Kendall τ": _fmt(tau.tau, RATE), "p-value": _fmt(tau.p_value, RATE)})
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
