"""Counts per config x split x category and the label balance, computed from Arrow tables, so the
card written by a build and ``cvalues stats DIR`` on a folder read the very same numbers."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .features import CONFIG_BY_NAME


@dataclass
class SplitStats:
    config: str
    split: str
    rows: int
    nbytes: int = 0
    by_category: dict[str, int] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)
    template_versions: list[str] = field(default_factory=list)
    sources: dict[str, int] = field(default_factory=dict)

    @property
    def balance(self) -> str:
        """'50.0% 回复1' for MC splits, '' elsewhere."""
        if not self.labels:
            return ""
        return f"{100 * self.labels.get('回复1', 0) / max(self.rows, 1):.1f}% 回复1"


class StatsBuilder:
    """The SplitStats of a split read or written a table (a shard) at a time: counts add up, and
    ``nbytes`` is what Arrow reports for the whole split as one table (the card's ``num_bytes``),
    from the row and byte counts of each column rather than by holding the split."""

    def __init__(self, config: str, split: str):
        self.config, self.split = config, split
        self.rows = 0
        self._counts: dict[str, Counter] = {"category": Counter(), "label": Counter(), "source": Counter(),
                                            "template_version": Counter()}
        self._columns: dict[str, list] = {}  # name -> [type, rows, string bytes, has a validity buffer]
        self._validity_known = False

    def add(self, table: pa.Table) -> StatsBuilder:
        self.rows += table.num_rows
        for name, counts in self._counts.items():
            if name in table.column_names:
                counts.update(dict(zip(*_value_counts(table.column(name)), strict=True)))
        for name, column in zip(table.column_names, table.columns, strict=True):
            size = self._columns.setdefault(name, [column.type, 0, 0, False])
            size[1] += len(column)
            if pa.types.is_string(column.type):
                size[2] += int(pc.sum(pc.binary_length(column)).as_py() or 0)
            if not self._validity_known:
                size[3] = size[3] or any(chunk.buffers()[0] is not None for chunk in column.chunks)
        return self

    def restart(self) -> StatsBuilder:
        """An empty builder for the same split that keeps which columns have validity buffers:
        for rows read back from Parquet (whose buffers differ) to count as the rows first added."""
        fresh = StatsBuilder(self.config, self.split)
        fresh._columns = {name: [kind, 0, 0, validity] for name, (kind, _, _, validity) in self._columns.items()}
        fresh._validity_known = bool(self._columns)  # (rows never written yet are their own tables)
        return fresh

    @property
    def nbytes(self) -> int:
        total = 0
        for kind, rows, text_bytes, validity in self._columns.values():
            total += -(-rows // 8) if validity else 0
            if pa.types.is_string(kind):
                total += 4 * rows + text_bytes  # 32-bit offsets, as Arrow counts them, and the text
            elif pa.types.is_boolean(kind):
                total += -(-rows // 8)
            else:
                total += rows * kind.bit_width // 8
        return total

    def result(self) -> SplitStats:
        stats = SplitStats(self.config, self.split, self.rows, self.nbytes)
        if self._counts["category"]:
            names = CONFIG_BY_NAME[self.config].features["category"].names
            stats.by_category = {names[i]: self._counts["category"][i] for i in sorted(self._counts["category"])}
        stats.labels = dict(sorted(self._counts["label"].items()))
        stats.sources = dict(sorted(self._counts["source"].items()))
        stats.template_versions = sorted(self._counts["template_version"])
        return stats


def _value_counts(column: pa.ChunkedArray) -> tuple[list, list]:
    counts = pc.value_counts(column)
    return counts.field("values").to_pylist(), counts.field("counts").to_pylist()


def read_stats(out_dir: str | Path) -> list[SplitStats]:
    """Stats of a built folder (data/<config>/<split>-*.parquet)."""
    data = Path(out_dir) / "data"
    if not data.is_dir():
        raise FileNotFoundError(f"{out_dir} has no data/ folder: is it a cvalues build?")
    out = []
    for config_dir in sorted(p for p in data.iterdir() if p.is_dir() and p.name in CONFIG_BY_NAME):
        splits = sorted({f.name.split("-")[0] for f in config_dir.glob("*.parquet")})
        for split in splits:
            builder = StatsBuilder(config_dir.name, split)
            for f in sorted(config_dir.glob(f"{split}-*.parquet")):
                builder.add(pq.read_table(f))
            out.append(builder.result())
    return out


def format_table(stats: list[SplitStats]) -> str:
    """The end-of-build summary: one line per config and split."""
    header = ("config", "split", "rows", "categories", "labels", "template")
    lines = [header] + [
        (s.config, s.split, str(s.rows), str(len(s.by_category)) if s.by_category else "-",
         s.balance or "-", ",".join(s.template_versions) or "-")
        for s in stats
    ]
    widths = [max(len(row[i]) for row in lines) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    rule = "  ".join("-" * w for w in widths)
    return "\n".join([fmt.format(*lines[0]), rule, *(fmt.format(*row) for row in lines[1:])])
