"""Where ``collect`` hands the tables it makes: the dataset writer (``writer.DatasetWriter``), an
in-memory ``Bundle`` (tests, the loading script), or ``RowCounts`` (``cvalues validate``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pyarrow as pa

from .features import CONFIG_BY_NAME
from .problems import Problems

BATCH_ROWS = 100_000  # items per streamed table (a shard's worth)


class ItemSink(Protocol):
    """Where ``collect`` hands the tables of readable rows: the dataset writer, an in-memory
    ``Bundle``, or ``RowCounts``. Streamed tables come ``batch_rows`` rows at a time (the last
    one shorter), so that a writer with shards of that size can take each as it is."""

    batch_rows: int

    def add_table(self, config: str, split: str, table: pa.Table) -> None: ...

    def drop_rows(self, config: str, split: str, rows: np.ndarray) -> None: ...


@dataclass
class Bundle:
    """What a collection reports (the problems, notes, and what each source gave) and, when no
    other sink is given, the tables themselves: config -> split -> tables of readable rows
    (category names, not ClassLabel ints)."""

    configs: dict[str, dict[str, list[pa.Table]]] = field(default_factory=dict)
    problems: Problems = field(default_factory=Problems)
    notes: list[str] = field(default_factory=list)
    # what went in: source kind -> {"files": n, "pairs": n, ...} as read, before validation
    inputs: dict[str, Counter] = field(default_factory=dict)
    batch_rows: int = BATCH_ROWS
    only: str | None = None  # keep this config's tables alone (the loading script serves one)

    def count(self, kind: str, what: str, n: int = 1) -> None:
        self.inputs.setdefault(kind, Counter())[what] += n

    def add_table(self, config: str, split: str, table: pa.Table) -> None:
        if table.num_rows and self.only in (None, config):  # a config with no data is left out, not kept empty
            self.configs.setdefault(config, {}).setdefault(split, []).append(table)

    def drop_rows(self, config: str, split: str, rows: np.ndarray) -> None:
        if not len(rows) or split not in self.configs.get(config, {}):
            return
        table = pa.concat_tables(self.configs[config].pop(split))
        keep = np.ones(table.num_rows, dtype=bool)
        keep[rows] = False
        self.add_table(config, split, table.filter(pa.array(keep)))

    def splits(self) -> list[tuple[str, str]]:
        """(config, split) in the published order: configs as features.CONFIGS lists them."""
        return _published_order((c, s) for c, splits in self.configs.items() for s in splits)


@dataclass
class RowCounts:
    """A sink that only counts rows per config and split (``cvalues validate``)."""

    counts: Counter = field(default_factory=Counter)
    batch_rows: int = BATCH_ROWS

    def add_table(self, config: str, split: str, table: pa.Table) -> None:
        if table.num_rows:
            self.counts[config, split] += table.num_rows

    def drop_rows(self, config: str, split: str, rows: np.ndarray) -> None:
        self.counts[config, split] -= len(np.unique(rows))

    def splits(self) -> list[tuple[str, str]]:
        return _published_order(k for k, n in self.counts.items() if n)


def _published_order(keys: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    order = {name: i for i, name in enumerate(CONFIG_BY_NAME)}
    return sorted(keys, key=lambda k: (order[k[0]], k[1]))
