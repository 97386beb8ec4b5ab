"""Rows -> Parquet shards ``data/<config>/<split>-NNNNN-of-NNNNN.parquet`` and the card.

The output is a pure function of the rows: no timestamps, fixed shard sizes and compression, so
two builds of the same sources are byte-identical. Files are written into a staging folder, listed
with their hashes in a manifest (``core.manifest``) and moved in at the end, so an interrupted
build never leaves a half dataset. A build replaces only a folder that its manifest proves to be
an earlier build, and only the files that manifest lists.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from ..core.install import existing_output, install, new_staging
from ..core.manifest import ManifestError, write_manifest
from .card import render_card
from .collect import Bundle
from .features import CONFIG_BY_NAME
from .stats import SplitStats, split_stats

SHARD_ROWS = 100_000
MANIFEST_KIND = "dataset"


class OutputError(RuntimeError):
    pass


def encode(config: str, table: pa.Table) -> pa.Table:
    """Readable rows -> the published schema: ClassLabel names become their ints, column by
    column in Arrow, and the schema carries the features for datasets to read back."""
    features = CONFIG_BY_NAME[config].features
    columns = []
    for name, feature in features.items():
        column = table.column(name)
        if isinstance(feature, datasets.ClassLabel):
            column = pc.index_in(column, value_set=pa.array(feature.names))
            if column.null_count:  # validation should have caught it; never write a null label
                raise ValueError(f"{config}.{name}: a value outside {feature.names}")
        columns.append(column.cast(features.arrow_schema.field(name).type))
    return pa.Table.from_arrays(columns, schema=features.arrow_schema)


def shard_paths(folder: Path, split: str, rows: int, shard_rows: int = SHARD_ROWS) -> list[tuple[Path, int]]:
    """(path, first row) of each shard of a split."""
    n_shards = max(1, -(-rows // shard_rows))
    return [(folder / f"{split}-{i:05d}-of-{n_shards:05d}.parquet", i * shard_rows) for i in range(n_shards)]


def write_shard(table: pa.Table, path: Path, start: int, shard_rows: int = SHARD_ROWS) -> Path:
    pq.write_table(table.slice(start, shard_rows), path, compression="zstd")
    return path


def check_output(out_dir: str | Path, sources: Iterable[str | Path] = ()) -> None:
    """Refuse, before any work, an output folder that a build may not write: one holding anything
    but an earlier build (proved by its manifest), or one that is, holds or sits inside a source."""
    out = Path(out_dir).resolve()
    for source in sources:
        src = Path(source).resolve()
        if src == out or out in src.parents:
            raise OutputError(f"refusing to write into {out}: it {'is' if src == out else 'contains'} the "
                              f"source {source}. Nothing was changed; choose an empty or new folder")
        if src in out.parents:
            raise OutputError(f"refusing to write into {out}: it is inside the source folder {source}, so a "
                              "later build would read its own output. Choose a folder outside the sources")
    try:
        existing_output(out, MANIFEST_KIND)
    except ManifestError as err:
        raise OutputError(str(err)) from err


def write_dataset(bundle: Bundle, out_dir: str | Path, shard_rows: int = SHARD_ROWS,
                  template_version: str = "", sources: Iterable[str | Path] = ()) -> list[SplitStats]:
    """Write every config and split, then the card and the manifest; returns the stats shown in
    the summary. OutputError, with nothing changed, when ``out_dir`` may not be written."""
    out = Path(out_dir)
    check_output(out, sources)
    staging = new_staging(out)
    try:
        stats = _write_all(bundle, staging, shard_rows)
        (staging / "README.md").write_text(render_card(stats, template_version), encoding="utf-8")
        write_manifest(staging, MANIFEST_KIND)
        install(staging, out, MANIFEST_KIND)
    except ManifestError as err:
        raise OutputError(str(err)) from err
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return stats


def _write_all(bundle: Bundle, root: Path, shard_rows: int) -> list[SplitStats]:
    """Encode split after split while the shards already encoded are written: Parquet encoding
    and compression release the GIL, so the shards keep every core busy, and each file is still a
    pure function of its rows."""
    stats, pending = [], []
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for config, split in tqdm(bundle.splits(), desc="writing", unit="split", leave=False, disable=None):
            table = encode(config, bundle.table(config, split))
            folder = root / "data" / config
            folder.mkdir(parents=True, exist_ok=True)
            pending += [pool.submit(write_shard, table, path, start, shard_rows)
                        for path, start in shard_paths(folder, split, table.num_rows, shard_rows)]
            stats.append(split_stats(config, split, table))
        for future in pending:
            future.result()
    return stats
