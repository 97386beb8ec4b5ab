"""Counts per config x split x category and the label balance, computed from Arrow tables, so the
card written by a build and ``cvalues stats DIR`` on a folder read the very same numbers."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
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


def split_stats(config: str, split: str, table: pa.Table) -> SplitStats:
    stats = SplitStats(config, split, table.num_rows, table.nbytes)
    if "category" in table.column_names:
        names = CONFIG_BY_NAME[config].features["category"].names
        counts = Counter(table.column("category").to_pylist())
        stats.by_category = {names[i]: counts[i] for i in sorted(counts)}
    if "label" in table.column_names:
        stats.labels = dict(sorted(Counter(table.column("label").to_pylist()).items()))
    if "source" in table.column_names:
        stats.sources = dict(sorted(Counter(table.column("source").to_pylist()).items()))
    if "template_version" in table.column_names:
        stats.template_versions = sorted(set(table.column("template_version").to_pylist()))
    return stats


def read_stats(out_dir: str | Path) -> list[SplitStats]:
    """Stats of a built folder (data/<config>/<split>-*.parquet)."""
    data = Path(out_dir) / "data"
    if not data.is_dir():
        raise FileNotFoundError(f"{out_dir} has no data/ folder: is it a cvalues build?")
    out = []
    for config_dir in sorted(p for p in data.iterdir() if p.is_dir() and p.name in CONFIG_BY_NAME):
        splits = sorted({f.name.split("-")[0] for f in config_dir.glob("*.parquet")})
        for split in splits:
            files = sorted(config_dir.glob(f"{split}-*.parquet"))
            out.append(split_stats(config_dir.name, split, pa.concat_tables(pq.read_table(f) for f in files)))
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
