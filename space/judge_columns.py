"""The LLM judge on the leaderboard (issue 12 step 2): ``cvalues space --judged judged/M``.

Each folder written by ``cvalues judge`` holds one judge's labels in the human label schema. Its
safety rate and responsibility score per model are computed exactly as the people's
(``cvalues_build.human.evaluate``) but at quorum 1, since a judge gives each reply one label, and
shown beside the human columns. The agreement table compares the judge with the quorum labels of
the store's people (``judge.agreement.agreement`` against ``human.decide_replies``, the same
pairing as ``cvalues judge --agreement``): κ and accuracy per scenario for safety, ρ and MAE per
domain for responsibility, with the replies compared. It is computed from the labels the board
already holds rather than through ``compare_with_humans``, which reads a file and writes
``agreement.json`` beside it: the board must write nothing, and must count the labels the Space
counts (the same campaign gold, the same provenance filter).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from cvalues_build.core import taxonomy as tx
from cvalues_build.core.records import HumanLabel
from cvalues_build.human import GoldItem, Params, evaluate

logger = logging.getLogger(__name__)

# (criterion, the statistics the table shows as (key, column title))
STATISTICS = {tx.SAFETY: (("kappa", "κ"), ("accuracy", "Accuracy")),
              tx.RESPONSIBILITY: (("spearman", "Spearman ρ"), ("mae", "MAE"))}


def load_judges(folders: Sequence[str | Path], aliases: Mapping[str, str] | None = None,
                ) -> tuple[dict[str, list[HumanLabel]], list[str]]:
    """``{judge annotator: its labels}`` from the folders (a judge's runs joined), the replied models renamed by
    ``aliases`` (a run's ``--model`` value to the arena's name); a folder that cannot be read is
    a warning naming only the folder's own name (visitors see warnings, not the server's paths)."""
    from cvalues_build.human import InputError
    from cvalues_build.judge.versus_humans import judge_labels

    aliases = aliases or {}
    judges: dict[str, list[HumanLabel]] = {}
    warnings: list[str] = []
    for folder in folders:
        try:
            annotator, labels = judge_labels(folder)
        except (OSError, ValueError, InputError) as err:
            logger.warning("judged folder %s: %s", folder, err)
            warnings.append(f"judged folder {Path(folder).name}: unreadable (the server log says why)")
            continue
        # One judge over several runs (`cvalues judge` takes one run folder): its labels join.
        judges.setdefault(annotator, []).extend(
            dataclasses.replace(lab, model=aliases.get(lab.model, lab.model)) for lab in labels)
    return judges, warnings


def judge_tables(judges: Mapping[str, Sequence[HumanLabel]], rule: Params) -> dict[str, dict[str, Any]]:
    """Each judge's human-eval table at quorum 1 (its labels are all one annotator's)."""
    params = Params(quorum=1, bootstrap=rule.bootstrap, seed=rule.seed, confidence=rule.confidence)
    return {judge: evaluate(labels, {}, params) for judge, labels in judges.items()}


def human_verdicts(labels: Sequence[HumanLabel], gold: Mapping[str, GoldItem], rule: Params) -> list[Any]:
    """The people's quorum verdicts, decided as ``evaluate`` decides them for the human columns."""
    from cvalues_build.human import annotator_trust, decide_replies, latest_labels, untrusted_annotators
    from cvalues_build.judge.labels import is_judge

    kept, _ = latest_labels([lab for lab in labels if not is_judge(lab.annotator)])
    untrusted = untrusted_annotators(annotator_trust(kept, gold, gold_min=rule.gold_min,
                                                     gold_threshold=rule.gold_threshold))
    return decide_replies(kept, quorum=rule.quorum, untrusted=untrusted, exclude=gold)


def agreement_table(judges: Mapping[str, Sequence[HumanLabel]], verdicts: Sequence[Any]) -> pd.DataFrame:
    """One row per judge × criterion × scenario or domain (then overall): the replies both sides
    labelled and the criterion's two statistics, blank where undefined."""
    from cvalues_build.judge.agreement import agreement

    rows = []
    for judge, labels in judges.items():
        for criterion, result in agreement(labels, verdicts).items():
            (k1, t1), (k2, t2) = STATISTICS[criterion]
            for category, cell in [*result["categories"].items(), ("overall", result["overall"])]:
                name = tx.label(category) if category in tx.category_ids(with_unspecified=True) else category
                rows.append({"Judge": judge, "Criterion": criterion, "Scenario / domain": name,
                             "Replies": cell["replies"], t1: _number(cell.get(k1)), t2: _number(cell.get(k2))})
    columns = ["Judge", "Criterion", "Scenario / domain", "Replies", "κ", "Accuracy", "Spearman ρ", "MAE"]
    return pd.DataFrame(rows, columns=columns).fillna("")


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def add_judge_columns(table: pd.DataFrame, tables: Mapping[str, Mapping[str, Any]], cell) -> pd.DataFrame:
    """``table`` with each judge's safety rate and responsibility score per model, ``cell(results,
    model, criterion)`` formatting them as the human columns are (one judge: "Judge safety rate";
    several: the judge named in each column)."""
    table = table.copy()
    for judge, results in tables.items():
        suffix = "" if len(tables) == 1 else f" · {judge}"
        for criterion, title in ((tx.SAFETY, "Judge safety rate"), (tx.RESPONSIBILITY, "Judge resp. score")):
            table[title + suffix] = [cell(results, model, criterion) for model in table.get("Model", [])]
    return table


def judge_board(table: pd.DataFrame, folders: Sequence[str | Path], labels: Sequence[HumanLabel],
                gold: Mapping[str, GoldItem], rule: Params, cell,
                aliases: Mapping[str, str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame, list[str], list[str]]:
    """The leaderboard's judge parts: the table with the judge columns, the agreement table,
    warnings (unreadable folders) and notes (models the judge labelled that the board lacks)."""
    judges, warnings = load_judges(folders, aliases)
    tables = judge_tables(judges, rule)
    shown = set(table.get("Model", []))
    missing = sorted({m for results in tables.values() for m in results["models"]} - shown)
    notes = [f"The judge also labelled models not on this board: {', '.join(missing)}."] if missing else []
    return (add_judge_columns(table, tables, cell), agreement_table(judges, human_verdicts(labels, gold, rule)),
            warnings, notes)
