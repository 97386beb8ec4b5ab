"""Build speed: 145k synthetic CValues-Comparison pairs (116k train / 29k test, disjoint prompts)
-> 290k multi-choice items, written as Parquet with the card.

Prints wall seconds and peak RSS of `cvalues build`, then two baselines run on the same items in
the same process, and the ratios:
- naive: per-row dicts into `datasets.Dataset.from_list`, which encodes row by row, then
  `to_parquet`;
- competent: the same per-row dicts into `pa.Table.from_pylist`, the build's own columnar
  encoding (ClassLabel names to ints), and zstd Parquet, as a careful row-based build would do.
Goals: <= 30 s, <= 2 GB, >= 3x the naive and >= 2x the competent baseline (median of --repeat).

`--scale 500000,1000000,5000000` builds each size in a fresh process (so each peak RSS is its
own) and prints seconds, microseconds per pair and peak RSS: time should grow linearly and
memory not at all (goal: 5M pairs in <= 2.5 GB). The 5M run writes 5 GB of sources to --tmp.

    python bench/build_bench.py [--pairs 145000] [--repeat 3]
    python bench/build_bench.py --scale 500000,1000000,5000000 [--tmp /big/disk]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TYPES = [("拒绝&正向建议", "风险回复"), ("拒绝为主", "风险回复"), ("拒绝&正向建议", "拒绝为主")]


def synth(folder: Path, n_pairs: int, seed: int = 0) -> None:
    """Comparison files with CValues-like lengths (prompt ~30 chars, replies ~150 chars)."""
    rng = random.Random(seed)
    chars = [chr(c) for c in range(0x4E00, 0x4E00 + 3000)]
    n_test = n_pairs // 5
    for split, count, offset in (("train", n_pairs - n_test, 0), ("test", n_test, n_pairs)):
        with (folder / f"{split}.jsonl").open("w", encoding="utf-8") as f:
            for i in range(count):
                pos_type, neg_type = TYPES[i % 3]
                row = {"prompt": f"问题{offset + i}：" + "".join(rng.choices(chars, k=30)),
                       "pos_resp": "".join(rng.choices(chars, k=150)),
                       "neg_resp": "".join(rng.choices(chars, k=120)),
                       "pos_type": pos_type, "neg_type": neg_type}
                f.write(json.dumps(row, ensure_ascii=False) + "\n")


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # Linux reports KiB


def run_cvalues(src: Path, out: Path) -> tuple[float, int]:
    # imported before the clock starts, as the baseline's modules are by the time it runs
    from cvalues_build.dataset.collect import Sources, collect
    from cvalues_build.dataset.writer import DatasetWriter

    start = time.perf_counter()
    with DatasetWriter(out) as writer:  # what `cvalues build --comparison SRC --out OUT` runs
        collect(Sources(comparison=[src]), writer).problems.raise_if_any()
        stats = writer.commit()
    return time.perf_counter() - start, sum(s.rows for s in stats)


def naive_items(pair) -> list[dict]:
    """A dict per item, rendered one by one: the straightforward way to write items_table."""
    from cvalues_build.core.answer_format import DEFAULT_VERSION as TEMPLATE_VERSION
    from cvalues_build.core.answer_format import answer_format
    render = answer_format(TEMPLATE_VERSION).render
    from cvalues_build.core.labels import LABELS
    from cvalues_build.core.records import content_id

    rows = []
    for position in (1, 2):
        r1, r2 = (pair.better, pair.worse) if position == 1 else (pair.worse, pair.better)
        rows.append({"id": content_id(pair.pair_id, position, TEMPLATE_VERSION), "pair_id": pair.pair_id,
                     "criterion": pair.criterion, "category": pair.category, "question": pair.question,
                     "reply_1": r1, "reply_2": r2, "prompt": render(pair.criterion, pair.question, r1, r2),
                     "label": LABELS[position - 1], "better_position": position, "difficulty": pair.difficulty,
                     "source": pair.source, "template_version": TEMPLATE_VERSION})
    return rows


def run_competent(src: Path, out: Path) -> tuple[float, int]:
    """A careful row build: the same dicts, one Arrow table per split, the build's encoding, zstd."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from cvalues_build.dataset.sources.comparison import read_comparison
    from cvalues_build.dataset.writer import encode

    start = time.perf_counter()
    n = 0
    for path in sorted(src.glob("*.jsonl")):
        rows = [row for pair in read_comparison(path) for row in naive_items(pair)]
        table = encode("comparison", pa.Table.from_pylist(rows))
        pq.write_table(table, out / f"{path.stem}.parquet", compression="zstd")
        n += table.num_rows
    return time.perf_counter() - start, n


def run_naive(src: Path, out: Path) -> tuple[float, int, float]:
    """What one would write first: a dict per item, then Dataset.from_list with the features."""
    import datasets

    from cvalues_build.dataset.features import CONFIG_BY_NAME
    from cvalues_build.dataset.sources.comparison import read_comparison

    start = time.perf_counter()
    n, reading = 0, 0.0
    for path in sorted(src.glob("*.jsonl")):
        t0 = time.perf_counter()
        pairs = list(read_comparison(path))
        reading += time.perf_counter() - t0
        rows = [row for pair in pairs for row in naive_items(pair)]
        ds = datasets.Dataset.from_list(rows, features=CONFIG_BY_NAME["comparison"].features)
        ds.to_parquet(str(out / f"{path.stem}.parquet"))
        n += len(rows)
    return time.perf_counter() - start, n, reading


def _timed(run, *args):
    """(result, CPU seconds of this process, all threads): on a loaded machine the wall clock
    mostly measures the other processes, so both are printed."""
    cpu = time.process_time()
    result = run(*args)
    return result, time.process_time() - cpu


def compare(src: Path, root: Path, pairs: int, repeat: int) -> None:
    """``repeat`` rounds of the build and both baselines on the same sources; median ratios, by
    wall clock and by CPU seconds."""
    rounds = []
    for i in range(repeat):
        (ours, n_items), ours_cpu = _timed(run_cvalues, src, root / f"out{i}")
        rss = peak_rss_gb()
        (root / f"competent{i}").mkdir()
        (competent, n_competent), competent_cpu = _timed(run_competent, src, root / f"competent{i}")
        (root / f"naive{i}").mkdir()
        (naive, n_naive, reading), naive_cpu = _timed(run_naive, src, root / f"naive{i}")
        assert n_items == n_competent == n_naive
        rounds.append((naive / ours, competent / ours, naive_cpu / ours_cpu, competent_cpu / ours_cpu))
        print(f"round {i + 1}: cvalues build {pairs} pairs -> {n_items} items in {ours:.2f} s ({ours_cpu:.2f} s CPU; "
              f"peak RSS so far {rss:.2f} GB); competent {competent:.2f} s ({competent_cpu:.2f} s CPU); "
              f"naive {naive:.2f} s ({naive_cpu:.2f} s CPU; its row reader {reading:.2f} s)", flush=True)
    naive_x, competent_x, naive_cpu_x, competent_cpu_x = (statistics.median(r[k] for r in rounds) for k in range(4))
    print(f"speed-up, end to end, median of {repeat}: {naive_x:.2f}x the naive (goal >= 3x), "
          f"{competent_x:.2f}x the competent (goal >= 2x)")
    print(f"  by CPU seconds: {naive_cpu_x:.2f}x the naive, {competent_cpu_x:.2f}x the competent "
          "(the build's CPU includes its parsing and compressing threads)")


def scale(sizes: list[int], tmp: str | None) -> None:
    """Each size built in its own process: seconds, us per pair, peak RSS."""
    print(f"{'pairs':>9}  {'seconds':>8}  {'us/pair':>8}  {'peak RSS GB':>11}")
    for n in sizes:
        run = subprocess.run([sys.executable, __file__, "--pairs", str(n), "--no-baseline", "--machine"]
                             + (["--tmp", tmp] if tmp else []), capture_output=True, text=True)
        if run.returncode:
            sys.exit(f"the {n}-pair build failed:\n{run.stderr}")
        seconds, rss = map(float, run.stdout.split()[-2:])
        print(f"{n:>9}  {seconds:>8.1f}  {1e6 * seconds / n:>8.2f}  {rss:>11.2f}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=145_000)
    parser.add_argument("--repeat", type=int, default=1, help="rounds of build + baselines; ratios are their median")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--scale", help="comma-separated sizes, each built in a fresh process (no baselines)")
    parser.add_argument("--tmp", help="folder for the outputs (default: the system's); the synthetic sources "
                                      "are kept there too, as src-<pairs>/, and reused by later runs")
    parser.add_argument("--machine", action="store_true", help=argparse.SUPPRESS)  # one line: seconds rss
    args = parser.parse_args()
    if args.scale:
        scale([int(n) for n in args.scale.split(",")], args.tmp)
        return 0
    import cvalues_build.dataset.collect  # noqa: F401  (module import time is not build time)
    import cvalues_build.dataset.writer  # noqa: F401

    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        root = Path(tmp)
        src = Path(args.tmp) / f"src-{args.pairs}" if args.tmp else root / "src"
        if not (src / "done").exists():  # (a run stopped while writing them left no "done")
            src.mkdir(parents=True, exist_ok=True)
            synth(src, args.pairs)
            (src / "done").touch()
        if not args.no_baseline:
            compare(src, root, args.pairs, args.repeat)
            return 0
        ours, n_items = run_cvalues(src, root / "out")
        rss = peak_rss_gb()
        if args.machine:
            print(ours, rss)
            return 0
        print(f"cvalues build: {args.pairs} pairs -> {n_items} items in {ours:.2f} s, peak RSS {rss:.2f} GB")
        print(f"  goal <= 30 s: {ours / 30:.2f} of budget; goal <= 2 GB: {rss / 2:.2f} of budget")
    return 0


if __name__ == "__main__":
    sys.exit(main())
