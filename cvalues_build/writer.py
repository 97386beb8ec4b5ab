"""Rows -> Parquet shards ``data/<config>/<split>-NNNNN-of-NNNNN.parquet`` and the card.

The output is a pure function of the rows: no timestamps, fixed shard sizes and compression, so
two builds of the same sources are byte-identical. Files are written into a temporary folder
next to the target and moved in at the end, so an interrupted build never leaves a half dataset.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from .bundle import Bundle
from .card import render_card
from .features import CONFIG_BY_NAME
from .stats import SplitStats, split_stats

SHARD_ROWS = 100_000
# What a build owns inside its output folder; anything else there is the user's and is kept.
OWNED = ("README.md", "data")


class OutputError(RuntimeError):
    pass


def to_table(config: str, rows: Sequence[dict[str, Any]]) -> pa.Table:
    """Column-wise encoding (ClassLabel names -> ints) straight into Arrow: much faster than
    encoding row by row, and the schema carries the features for datasets to read back."""
    features = CONFIG_BY_NAME[config].features
    columns: dict[str, list[Any]] = {}
    for name, feature in features.items():
        values = [row[name] for row in rows]
        if isinstance(feature, datasets.ClassLabel):
            index = {label: i for i, label in enumerate(feature.names)}
            values = [index[v] for v in values]
        columns[name] = values
    return pa.Table.from_pydict(columns, schema=features.arrow_schema)


def write_split(table: pa.Table, folder: Path, split: str, shard_rows: int = SHARD_ROWS) -> list[Path]:
    n_shards = max(1, -(-table.num_rows // shard_rows))
    paths = []
    for i in range(n_shards):
        path = folder / f"{split}-{i:05d}-of-{n_shards:05d}.parquet"
        pq.write_table(table.slice(i * shard_rows, shard_rows), path, compression="zstd")
        paths.append(path)
    return paths


def write_dataset(bundle: Bundle, out_dir: str | Path, shard_rows: int = SHARD_ROWS,
                  template_version: str = "") -> list[SplitStats]:
    """Write every config and split, then the card; returns the stats shown in the summary."""
    out = Path(out_dir)
    _check_output(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        stats = _write_all(bundle, tmp, shard_rows)
        (tmp / "README.md").write_text(render_card(stats, template_version), encoding="utf-8")
        _move_into(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return stats


def _write_all(bundle: Bundle, root: Path, shard_rows: int) -> list[SplitStats]:
    stats = []
    jobs = [(c, s, rows) for c, splits in bundle.configs.items() for s, rows in splits.items()]
    order = {name: i for i, name in enumerate(CONFIG_BY_NAME)}
    for config, split, rows in tqdm(sorted(jobs, key=lambda j: (order[j[0]], j[1])), desc="writing",
                                    unit="split", leave=False, disable=None):
        table = to_table(config, rows)
        folder = root / "data" / config
        folder.mkdir(parents=True, exist_ok=True)
        write_split(table, folder, split, shard_rows)
        stats.append(split_stats(config, split, table))
    return stats


def _check_output(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out} exists and is not a folder")
    if out.is_dir():
        foreign = sorted(p.name for p in out.iterdir() if p.name not in OWNED and not p.name.startswith("."))
        if foreign and not (out / "README.md").exists():
            raise OutputError(f"refusing to write into {out}: it holds other files ({', '.join(foreign[:5])}) "
                              "and is not a cvalues build; choose an empty or new folder")


def _move_into(tmp: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name in OWNED:
        target = out / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        os.replace(tmp / name, target)
