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
from concurrent.futures import Future, ThreadPoolExecutor
from functools import cache
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from ..core.install import existing_output, install, new_staging
from ..core.manifest import Entry, ManifestError, sha256_of, write_manifest
from .card import render_card
from .features import CONFIG_BY_NAME
from .stats import SplitStats, StatsBuilder

SHARD_ROWS = 100_000
MANIFEST_KIND = "dataset"


class OutputError(RuntimeError):
    pass


@cache
def _features(config: str) -> tuple[datasets.Features, pa.Schema]:
    features = CONFIG_BY_NAME[config].features
    return features, features.arrow_schema


def encode(config: str, table: pa.Table) -> pa.Table:
    """Readable rows -> the published schema: ClassLabel names become their ints, column by
    column in Arrow, and the schema carries the features for datasets to read back."""
    features, schema = _features(config)
    columns = []
    for name, feature in features.items():
        column = table.column(name)
        if isinstance(feature, datasets.ClassLabel):
            column = pc.index_in(column, value_set=pa.array(feature.names))
            if column.null_count:  # validation should have caught it; never write a null label
                raise ValueError(f"{config}.{name}: a value outside {feature.names}")
        columns.append(column.cast(schema.field(name).type))
    return pa.Table.from_arrays(columns, schema=schema)


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


def _write_shard(table: pa.Table, path: Path) -> tuple[Path, tuple[int, str]]:
    """Write one shard and hash it for the manifest, both off the main thread (zstd and sha256
    release the GIL)."""
    pq.write_table(table, path, compression="zstd")
    return path, (path.stat().st_size, sha256_of(path))


class _SplitShards:
    """One split's shards, written as they fill: shard i holds rows [i * shard_rows, (i+1) *
    shard_rows) exactly as if the split had been one table cut into slices, so the files are the
    same whatever the tables' sizes. Names get their "-of-N" once N is known."""

    def __init__(self, folder: Path, config: str, split: str, shard_rows: int, pool: ThreadPoolExecutor):
        self.folder, self.config, self.split, self.shard_rows, self.pool = folder, config, split, shard_rows, pool
        self.buffer: list[pa.Table] = []
        self.buffered = 0
        self.shards: list[Path] = []
        self.pending: list[Future] = []
        self.stats = StatsBuilder(config, split)
        self.dropped: list[np.ndarray] = []
        self.digests: dict[Path, tuple[int, str]] = {}  # shard -> (size, sha256), from the writing thread

    @property
    def rows(self) -> int:
        return self.stats.rows + self.buffered

    def add(self, table: pa.Table) -> None:
        self.buffer.append(table)
        self.buffered += table.num_rows
        while self.buffered >= self.shard_rows:
            self._write(self.shard_rows)

    def _write(self, n: int) -> None:
        whole = pa.concat_tables(self.buffer) if len(self.buffer) > 1 else self.buffer[0]
        shard, rest = whole.slice(0, n), whole.slice(n)
        if any(column.num_chunks > 1 for column in shard.columns):  # Parquet's bytes follow the chunks
            shard = shard.combine_chunks()
        self.buffer, self.buffered = ([rest] if rest.num_rows else []), self.buffered - n
        self.stats.add(shard)
        path = self.folder / f"{self.split}-{len(self.shards):05d}.partial"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.shards.append(path)
        self.pending.append(self.pool.submit(_write_shard, shard, path))
        while len(self.pending) > 2:  # Parquet compression runs beside the reading, at most two shards ahead
            path, digest = self.pending.pop(0).result()
            self.digests[path] = digest

    def finish(self, root: Path, hashed: dict[str, Entry]) -> SplitStats | None:
        """Write the last shard and name them all, adding their manifest entries (paths relative
        to ``root``) to ``hashed``; None for a split left with no rows."""
        if self.dropped:
            self._rewrite_without(np.unique(np.concatenate(self.dropped)))
        if self.buffered:
            self._write(self.buffered)
        digests = self.digests | dict(future.result() for future in self.pending)
        for i, path in enumerate(self.shards):
            final = path.rename(self.folder / f"{self.split}-{i:05d}-of-{len(self.shards):05d}.parquet")
            rel = final.relative_to(root).as_posix()
            hashed[rel] = Entry(rel, *digests[path])
        return self.stats.result() if self.shards else None

    def _rewrite_without(self, rows: np.ndarray) -> None:
        """The split again without ``rows`` (rows dropped after they were written: leaks)."""
        for future in self.pending:
            future.result()
        self.digests = {}
        written = [path.rename(path.with_suffix(".dropping")) for path in self.shards]
        tail = self.buffer
        self.buffer, self.buffered, self.shards, self.pending = [], 0, [], []
        self.stats = self.stats.restart()
        start = 0
        for part in [*written, *tail]:
            table = pq.read_table(part) if isinstance(part, Path) else part
            local = rows[(rows >= start) & (rows < start + table.num_rows)] - start
            keep = np.ones(table.num_rows, dtype=bool)
            keep[local] = False
            start += table.num_rows
            if isinstance(part, Path):
                part.unlink()
            if keep.any():
                self.add(table.filter(pa.array(keep)))


class DatasetWriter:
    """The item tables of a build, written into a staging folder as they come (``add_table``),
    then the card and the manifest, and the whole moved into the output folder (``commit``).
    Closing it without a commit leaves the output folder as it was."""

    def __init__(self, out_dir: str | Path, shard_rows: int = SHARD_ROWS, template_version: str = "",
                 sources: Iterable[str | Path] = ()):
        self.out = Path(out_dir)
        check_output(self.out, sources)
        self.shard_rows, self.template_version = shard_rows, template_version
        self.batch_rows = shard_rows  # (ItemSink) tables of a shard's size are written as they are
        self.staging = new_staging(self.out)
        self.pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 1)
        self.splits: dict[tuple[str, str], _SplitShards] = {}

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def rows(self) -> int:
        return sum(s.rows for s in self.splits.values())

    def _split(self, config: str, split: str) -> _SplitShards:
        if (config, split) not in self.splits:
            folder = self.staging / "data" / config
            self.splits[config, split] = _SplitShards(folder, config, split, self.shard_rows, self.pool)
        return self.splits[config, split]

    def add_table(self, config: str, split: str, table: pa.Table) -> None:
        """Readable rows of one config and split, appended to what came before."""
        if table.num_rows:  # a config with no source data is left out, not written empty
            self._split(config, split).add(encode(config, table))

    def drop_rows(self, config: str, split: str, rows: np.ndarray) -> None:
        """Leave out rows already added (their numbers in the split); applied at ``commit``, so a
        build that fails anyway does not rewrite anything."""
        if len(rows):
            self._split(config, split).dropped.append(np.asarray(rows, dtype=np.int64))

    def commit(self) -> list[SplitStats]:
        """Finish every split, write the card and the manifest, and install the folder; returns
        the stats shown in the summary."""
        order = {name: i for i, name in enumerate(CONFIG_BY_NAME)}
        stats, hashed = [], {}
        for key in tqdm(sorted(self.splits, key=lambda k: (order[k[0]], k[1])), desc="writing", unit="split",
                        leave=False, disable=None):
            done = self.splits[key].finish(self.staging, hashed)
            if done is not None:
                stats.append(done)
        self.pool.shutdown()
        (self.staging / "README.md").write_text(render_card(stats, self.template_version), encoding="utf-8")
        try:
            write_manifest(self.staging, MANIFEST_KIND, hashed=hashed)
            install(self.staging, self.out, MANIFEST_KIND)
        except ManifestError as err:
            raise OutputError(str(err)) from err
        return stats

    def close(self) -> None:
        self.pool.shutdown(cancel_futures=True)
        shutil.rmtree(self.staging, ignore_errors=True)


