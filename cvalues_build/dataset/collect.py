"""Sources -> validated records -> the rows of every config and split.

This is the one place that knows which record goes to which config; the CLI, the writer and
the loading script all go through ``collect``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
from tqdm.auto import tqdm

from ..core import taxonomy as tx
from ..core.answer_format import DEFAULT_VERSION
from ..core.records import Battle, HumanLabel, PairRecord, PromptRecord
from .features import CONFIG_BY_NAME
from .multichoice import items_table
from .problems import Problems
from .sources import comparison, labels, official, sample
from .sources.common import expand_paths
from .validate import check_human, check_pairs, check_prompts


@dataclass
class Sources:
    """Everything a build reads. Paths may be files or folders (read in sorted order)."""

    official_prompts: list[Path] = field(default_factory=list)
    official_mc: list[Path] = field(default_factory=list)
    comparison: list[Path] = field(default_factory=list)
    labels: list[Path] = field(default_factory=list)
    sample: bool | None = None  # None: the built-in sample only when no real source is named
    template_version: str = DEFAULT_VERSION

    @property
    def paths(self) -> list[Path]:
        """Every source file or folder named."""
        return [*self.official_prompts, *self.official_mc, *self.comparison, *self.labels]

    @property
    def with_sample(self) -> bool:
        """Whether the sample goes in: as asked, else only in a build of no real source (a real
        build must never be padded with made-up items)."""
        return self.sample if self.sample is not None else not self.paths

    @classmethod
    def from_data_dir(cls, data_dir: str | Path, sample: bool | None = None) -> Sources:
        """The folder layout the loading script reads: one sub-folder per source kind."""
        root = Path(data_dir)

        def sub(name: str) -> list[Path]:
            return [root / name] if (root / name).exists() else []

        return cls(sub("official_prompts"), sub("official_mc"), sub("comparison"), sub("labels"), sample)


@dataclass
class Bundle:
    """config -> split -> Arrow tables of readable rows (category names, not ClassLabel ints),
    plus what was dropped and why."""

    configs: dict[str, dict[str, list[pa.Table]]] = field(default_factory=dict)
    problems: Problems = field(default_factory=Problems)
    notes: list[str] = field(default_factory=list)
    # what went in: source kind -> {"files": n, "pairs": n, ...} as read, before validation
    inputs: dict[str, Counter] = field(default_factory=dict)

    def count(self, kind: str, what: str, n: int = 1) -> None:
        self.inputs.setdefault(kind, Counter())[what] += n

    def add(self, config: str, split: str, rows: Iterable[dict[str, Any]]) -> None:
        rows = list(rows)
        if rows:  # a config with no source data is left out, not written empty
            self.add_table(config, split, pa.Table.from_pylist(rows))

    def add_table(self, config: str, split: str, table: pa.Table) -> None:
        if table.num_rows:
            self.configs.setdefault(config, {}).setdefault(split, []).append(table)

    def table(self, config: str, split: str) -> pa.Table:
        return pa.concat_tables(self.configs[config][split], promote_options="permissive")

    def splits(self) -> list[tuple[str, str]]:
        """(config, split) in the published order: configs as features.CONFIGS lists them."""
        order = {name: i for i, name in enumerate(CONFIG_BY_NAME)}
        return sorted(((c, s) for c, splits in self.configs.items() for s in splits), key=lambda k: (order[k[0]], k[1]))

    def rows(self, config: str, split: str) -> int:
        return sum(t.num_rows for t in self.configs[config][split])


def _read(paths: list[Path], reader: Callable[..., Iterable[Any]], bundle: Bundle, kind: str,
          what: str) -> Iterator[Any]:
    """Every record of every file, counted in ``bundle.inputs[kind][what]``, with a progress bar
    per file (shown on a terminal only)."""
    for path in expand_paths(paths):
        bundle.count(kind, "files")
        for record in tqdm(reader(path, bundle.problems), desc=f"{kind}: {path.name}", unit=" rows", leave=False,
                           disable=None, mininterval=0.5):
            bundle.count(kind, what)
            yield record


def collect(sources: Sources, problems: Problems | None = None) -> Bundle:
    """Read, validate and arrange every source; problems are collected, never raised here."""
    bundle = Bundle(problems=problems or Problems())
    probs = bundle.problems
    prompts: list[PromptRecord] = []
    pairs: list[PairRecord] = []
    official_text: dict[str, tuple[str, str]] = {}
    if sources.with_sample:
        sample_pairs = list(_read([sample.SAMPLE_FILE], sample.read_sample_pairs, bundle, "built-in sample", "pairs"))
        pairs.extend(sample_pairs)
        prompts.extend(sample.prompts_of(sample_pairs))
    prompts.extend(_read(sources.official_prompts, official.read_prompts, bundle, "official prompts", "prompts"))
    for op in _read(sources.official_mc, official.read_mc, bundle, "official MC", "pairs"):
        pairs.append(op.pair)
        official_text[op.pair.pair_id] = op.official_prompts
    pairs.extend(_read(sources.comparison, comparison.read_comparison, bundle, "comparison", "pairs"))
    human_labels, battles = _read_human(sources.labels, bundle)
    pairs.extend(_human_pairs(human_labels, battles, bundle))

    valid_prompts = check_prompts(prompts, probs)
    for criterion in tx.CRITERIA:
        bundle.add(f"{criterion}_prompts", "test", (p.to_row() for p in valid_prompts if p.criterion == criterion))
    _add_items(bundle, check_pairs(pairs, probs), official_text, sources.template_version)
    bundle.add("human_labels", "train", (lab.to_row() for lab in human_labels))
    bundle.add("battles", "train", (b.to_row() for b in battles))
    return bundle


def _read_human(paths: list[Path], bundle: Bundle) -> tuple[list[HumanLabel], list[Battle]]:
    all_labels: list[HumanLabel] = []
    all_battles: list[Battle] = []
    for path in expand_paths(paths):
        data = labels.read_human(path, bundle.problems)
        bundle.count("labels", "files")
        bundle.count("labels", "labels", len(data.labels))
        bundle.count("labels", "battles", len(data.battles))
        all_labels.extend(data.labels)
        all_battles.extend(data.battles)
    return check_human(all_labels, all_battles, bundle.problems)


def _human_pairs(human_labels: list[HumanLabel], battles: list[Battle], bundle: Bundle) -> list[PairRecord]:
    """Votes repeat and contradict each other; keep each pair once and drop contradicted ones."""
    pairs: dict[str, PairRecord] = {}
    without_category = 0
    for pair in (*labels.label_pairs(human_labels), *labels.battle_pairs(battles)):
        if pair.category == tx.UNSPECIFIED:
            without_category += 1  # a visitor's own prompt has no scenario or domain to file it under
            continue
        pairs.setdefault(pair.pair_id, pair)
    directions = {(p.question, p.better, p.worse) for p in pairs.values()}
    kept = {k: p for k, p in pairs.items() if (p.question, p.worse, p.better) not in directions}
    if without_category:
        bundle.notes.append(f"{without_category} human pair(s) without a scenario or domain were not turned into items")
    if len(kept) < len(pairs):
        bundle.notes.append(f"{len(pairs) - len(kept)} contradicting human pair(s) were dropped")
    return list(kept.values())


def _add_items(bundle: Bundle, pairs: list[PairRecord], official_text: dict[str, tuple[str, str]],
               version: str) -> None:
    """Group pairs by (config, split) and turn each group into items in one columnar pass."""
    groups: dict[tuple[str, str], list[PairRecord]] = {}
    for pair in pairs:
        config = "comparison" if pair.source == comparison.SOURCE else f"{pair.criterion}_mc"
        groups.setdefault((config, pair.split), []).append(pair)
    for (config, split), group in tqdm(groups.items(), desc="multi-choice items", unit="split", leave=False,
                                       disable=None):
        bundle.add_table(config, split, items_table(group, version))
    official = [p for p in pairs if p.pair_id in official_text]
    if official:
        bundle.add_table("responsibility_mc_official", "test",
                         items_table(official, official_prompts=[official_text[p.pair_id] for p in official]))
