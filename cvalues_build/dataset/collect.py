"""Sources -> validated pairs -> the item tables of every config and split, handed to a sink as
they are made.

This is the one place that knows which record goes to which config; the CLI, the writer and the
loading script all go through ``collect``. The comparison source, which can hold millions of
pairs, streams through a chunk at a time (read by columns, checked, turned into items, handed
on), so memory does not grow with it; the other sources are small and are held to the end.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from tqdm.auto import tqdm

from ..core import taxonomy as tx
from ..core.answer_format import DEFAULT_VERSION
from ..core.records import Battle, HumanLabel, PairRecord
from .human_mc import HUMAN_MC, HUMAN_SPLIT, quorum_pairs
from .multichoice import items_table
from .pairs import Origins, pair_table
from .problems import Problems
from .sinks import Bundle, ItemSink
from .sources import comparison, labels, official, sample
from .sources.common import SourceError, expand_paths
from .sources.comparison_columns import read_comparison_tables
from .validate import PairChecks, check_human, check_prompts

# The source kinds each config is made from, with those its checks compare against (duplicates,
# leakage), the comparison source aside for configs it does not feed (see ``Sources.only``).
CONFIG_SOURCES: dict[str, tuple[str, ...]] = {
    "safety_prompts": ("official_prompts",), "responsibility_prompts": ("official_prompts",),
    "safety_mc": ("official_mc",), "responsibility_mc": ("official_mc",),
    "responsibility_mc_official": ("official_mc",), "comparison": ("official_mc", "comparison"),
    "human_mc": ("official_mc", "labels"), "human_labels": ("labels",), "battles": ("labels",),
}


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

    def only(self, config: str) -> Sources:
        """The sources ``config`` is made from: what the loading script reads to serve one config.
        A pair of the sample, the official items or the votes that repeats a comparison pair is
        then kept, where a full build keeps only its first sighting."""
        kinds = CONFIG_SOURCES[config]
        return replace(self, **{kind: [] for kind in ("official_prompts", "official_mc", "comparison", "labels")
                                if kind not in kinds}, sample=self.with_sample)

    @classmethod
    def from_data_dir(cls, data_dir: str | Path, sample: bool | None = None) -> Sources:
        """The folder layout the loading script reads: one sub-folder per source kind."""
        root = Path(data_dir)

        def sub(name: str) -> list[Path]:
            return [root / name] if (root / name).exists() else []

        return cls(sub("official_prompts"), sub("official_mc"), sub("comparison"), sub("labels"), sample)


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


def collect(sources: Sources, sink: ItemSink | None = None, problems: Problems | None = None) -> Bundle:
    """Read, validate and arrange every source, handing each config's tables to ``sink`` (the
    returned Bundle itself by default); problems are collected, never raised here."""
    bundle = Bundle(problems=problems or Problems())
    sink = bundle if sink is None else sink
    origins = Origins()
    checks = PairChecks(bundle.problems, origins)
    early_pairs = list(_read([sample.SAMPLE_FILE], sample.read_sample_pairs, bundle, "built-in sample", "pairs")
                       if sources.with_sample else [])
    prompts = sample.prompts_of(early_pairs)
    prompts.extend(_read(sources.official_prompts, official.read_prompts, bundle, "official prompts", "prompts"))
    valid_prompts = check_prompts(prompts, bundle.problems)
    for criterion in tx.CRITERIA:
        _add_rows(sink, f"{criterion}_prompts", "test", (p.to_row() for p in valid_prompts if p.criterion == criterion))
    official_text: dict[str, tuple[str, str]] = {}
    for op in _read(sources.official_mc, official.read_mc, bundle, "official MC", "pairs"):
        early_pairs.append(op.pair)
        official_text[op.pair.pair_id] = op.official_prompts
    small = [checks.check(_pair_table(early_pairs, origins))]  # held to the end: they are few
    _stream_comparison(sources, bundle, sink, checks, origins)
    human_labels, battles, gold = _read_human(sources.labels, bundle)
    human = checks.check(_pair_table(_human_pairs(human_labels, battles, gold, bundle), origins))
    leaked = checks.leaked()  # only comparison pairs are train pairs: these are comparison/train's
    sink.drop_rows("comparison", "train", np.sort(np.concatenate([2 * leaked, 2 * leaked + 1])))
    _add_small_items(sink, pa.concat_tables(small), official_text, sources.template_version)
    if human.num_rows:  # votes only through a quorum, and only into their own config (human_mc.py)
        sink.add_table(HUMAN_MC, HUMAN_SPLIT, items_table(human, sources.template_version))
    _add_rows(sink, "human_labels", "train", (lab.to_row() for lab in human_labels))
    _add_rows(sink, "battles", "train", (b.to_row() for b in battles))
    return bundle


def _add_rows(sink: ItemSink, config: str, split: str, rows: Iterable[dict[str, Any]]) -> None:
    rows = list(rows)
    if rows:
        sink.add_table(config, split, pa.Table.from_pylist(rows))


def _pair_table(records: list[PairRecord], origins: Origins) -> pa.Table:
    return pair_table(records, where=origins.pack_texts([r.origin for r in records]))


def _stream_comparison(sources: Sources, bundle: Bundle, sink: ItemSink, checks: PairChecks,
                       origins: Origins) -> None:
    """Comparison files a chunk at a time: read and checked; the pairs of each split are made
    into items ``sink.batch_rows`` at a time, in a worker thread while the next chunk is read
    (taking, rendering and encoding run without the GIL), and handed on in order."""
    batch_pairs = max(1, sink.batch_rows // 2)
    held: dict[str, list[pa.Table]] = {split: [] for split in comparison.SPLITS}
    making: list[tuple[str, Future]] = []

    def hand_on(split: str, at_least: int, ahead: int = 1) -> None:
        pairs = pa.concat_tables(held[split]) if held[split] else None
        while pairs is not None and pairs.num_rows >= max(at_least, 1):
            batch, pairs = pairs.slice(0, batch_pairs), pairs.slice(batch_pairs)
            making.append((split, maker.submit(items_table, batch, sources.template_version)))
        held[split] = [pairs] if pairs is not None and pairs.num_rows else []
        while len(making) > ahead:
            done_split, items = making.pop(0)
            sink.add_table("comparison", done_split, items.result())

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="items") as maker:
        for path in expand_paths(sources.comparison):
            bundle.count("comparison", "files")
            for table in tqdm(read_comparison_tables(path, bundle.problems), desc=f"comparison: {path.name}",
                              unit=" chunks", leave=False, disable=None):
                bundle.count("comparison", "pairs", table.num_rows)
                where = origins.pack(str(path), table.column("line").to_numpy())
                kept = checks.check(table.drop_columns(["line"]).append_column("where", pa.array(where)))
                for split in comparison.SPLITS:
                    mine = pc.equal(kept.column("split"), split)
                    # a file holds one split as a rule: then the chunk goes on as it is, uncopied
                    held[split].append(kept if pc.all(mine).as_py() is not False else kept.filter(mine))
                    hand_on(split, batch_pairs)
        for split in comparison.SPLITS:
            hand_on(split, 1, ahead=0)


def _read_human(paths: list[Path], bundle: Bundle) -> tuple[list[HumanLabel], list[Battle], dict]:
    """Every export's labels and battles, each once (a copied export or a repeated row counts
    once), and the gold items beside them."""
    data = labels.read_exports(paths, bundle.problems)
    bundle.count("labels", "files", data.files)
    bundle.count("labels", "labels", len(data.labels))
    bundle.count("labels", "battles", len(data.battles))
    if data.copies:
        bundle.notes.append(f"{len(data.copies)} vote file(s) read before were skipped: {'; '.join(data.copies)}")
    if data.repeats:
        bundle.notes.append(f"{data.repeats} vote row(s) seen in more than one export were counted once")
    return *check_human(data.labels, data.battles, bundle.problems), data.gold


def _human_pairs(human_labels: list[HumanLabel], battles: list[Battle], gold: dict,
                 bundle: Bundle) -> list[PairRecord]:
    """The votes' quorum pairs; a pair repeated is kept once, a contradicted one dropped."""
    pairs: dict[str, PairRecord] = {}
    without_category = 0
    try:
        made = quorum_pairs(human_labels, battles, gold)
    except SourceError as err:  # two rows contradict each other: a problem like any other row's
        bundle.problems.report(err)
        return []
    if human_labels or battles:
        bundle.notes.append(made.note())
    for pair in made.pairs:
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


def _add_small_items(sink: ItemSink, pairs: pa.Table, official_text: dict[str, tuple[str, str]],
                     version: str) -> None:
    """The pairs of the sample, the official items and the votes, as items of ``<criterion>_mc``
    (and, for the official items, of ``responsibility_mc_official`` with their own text)."""
    for criterion in tx.CRITERIA:
        part = pairs.filter(pc.equal(pairs.column("criterion"), criterion))
        for split in pc.unique(part.column("split")).to_pylist():
            sink.add_table(f"{criterion}_mc", split, items_table(part.filter(pc.equal(part.column("split"), split)),
                                                                 version))
    official = pairs.filter(pc.is_in(pairs.column("pair_id"), value_set=pa.array(list(official_text), pa.string())))
    if official.num_rows:
        texts = pa.array([text for pid in official.column("pair_id").to_pylist() for text in official_text[pid]])
        sink.add_table("responsibility_mc_official", "test", items_table(official, official_prompts=texts))
