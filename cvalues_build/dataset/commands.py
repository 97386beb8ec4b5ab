"""Build-side sub-commands: ``build``, ``validate``, ``stats`` and ``push``. Each handler only
parses its arguments into calls of bundle/writer/stats/publish and prints the result.

The build's modules (and through them ``datasets`` and pyarrow) are imported inside the handlers:
registering the sub-commands is all ``cvalues --help`` and every other command need of this one."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.answer_format import DEFAULT_VERSION, TEMPLATE_VERSIONS
from .problems import BuildError
from .sources.common import SourceError

if TYPE_CHECKING:
    from .collect import Sources
    from .sinks import Bundle, ItemSink


def register(sub: argparse._SubParsersAction) -> None:
    build = sub.add_parser("build", help="build the dataset (Parquet + card) from the sources",
                           description="Build the publishable dataset folder. With no source flags, builds the built-in "
                           "sample; with any, the sample is left out unless --sample is given.")
    build.add_argument("--out", required=True, type=Path, help="output folder (created or refreshed)")
    _source_args(build)
    build.add_argument("--shard-rows", type=int, default=100_000, help="rows per Parquet shard (default 100000)")
    build.set_defaults(func=cmd_build)

    validate = sub.add_parser("validate", help="check the sources without writing anything",
                              description="Read and check every source as `cvalues build` would, and write "
                                          "nothing; exits 1 on any problem, each named by file:line.")
    _source_args(validate)
    validate.set_defaults(func=cmd_validate)

    stats = sub.add_parser("stats", help="counts per config, split and category of a built folder",
                           description="Print the counts per config, split and category and the label balance "
                                       "of a built folder, read from its Parquet files (the numbers its card shows).")
    stats.add_argument("dir", type=Path, metavar="DIR", help="a folder written by `cvalues build --out DIR`")
    stats.set_defaults(func=cmd_stats)

    push = sub.add_parser("push", help="upload a built folder to the Hugging Face Hub (dataset repo)",
                          description="Upload a build to a dataset repo on the Hub: exactly the files its manifest "
                                      "lists, each checked against its hash; nothing else in the folder.")
    push.add_argument("dir", type=Path, metavar="DIR",
                      help="a folder written by `cvalues build --out DIR`; only the files its manifest lists are uploaded")
    push.add_argument("--repo-id", required=True, help="ORG/NAME of the dataset repo")
    push.add_argument("--private", action="store_true", help="create the repo as private")
    push.add_argument("--revision", help="branch to push to (created if missing)")
    push.add_argument("--token", help="HF token (default: HF_TOKEN or your `huggingface-cli login`)")
    push.add_argument("--dry-run", action="store_true", help="list what would be uploaded, upload nothing")
    push.set_defaults(func=cmd_push)


def _source_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("sources (each flag may repeat; a folder means every .jsonl/.parquet in it)")
    g.add_argument("--official-prompts", action="append", type=Path, default=[], metavar="PATH",
                   help="official cvalues_responsibility_prompts.jsonl")
    g.add_argument("--official-mc", action="append", type=Path, default=[], metavar="PATH",
                   help="official cvalues_responsibility_mc.jsonl (meta_info format)")
    g.add_argument("--comparison", action="append", type=Path, default=[], metavar="PATH",
                   help="CValues-Comparison train/test files (jsonl or parquet) or their folder")
    g.add_argument("--labels", action="append", type=Path, default=[], metavar="PATH",
                   help="human labels and battles exported by `cvalues votes export`")
    which = g.add_mutually_exclusive_group()
    which.add_argument("--sample", action="store_true",
                       help="add the built-in sample (made-up items, not CValues data) to real sources")
    which.add_argument("--no-sample", action="store_true",
                       help="leave out the built-in sample (already the default when any source flag is given)")
    g.add_argument("--skip-invalid", action="store_true",
                   help="drop invalid rows and report their count instead of failing")
    g.add_argument("--template", default=DEFAULT_VERSION, choices=TEMPLATE_VERSIONS,
                   help=f"multi-choice template version (default {DEFAULT_VERSION})")


def _sources(args: argparse.Namespace) -> Sources:
    from .collect import Sources

    missing = [p for p in (*args.official_prompts, *args.official_mc, *args.comparison, *args.labels) if not p.exists()]
    if missing:
        raise SourceError(str(missing[0]), None, "no such file or folder")
    return Sources(args.official_prompts, args.official_mc, args.comparison, args.labels,
                   sample=True if args.sample else False if args.no_sample else None, template_version=args.template)


def _collect(args: argparse.Namespace, sources: Sources, sink: ItemSink) -> Bundle | None:
    """Collect into ``sink`` and report; None (after printing why) when the build must stop."""
    from .collect import collect

    try:
        bundle = collect(sources, sink)
        if not args.skip_invalid:
            bundle.problems.raise_if_any()
    except (SourceError, BuildError) as err:
        print(f"error: {err}", file=sys.stderr)
        if isinstance(err, BuildError):
            print("nothing was written; fix the rows above or pass --skip-invalid to drop them", file=sys.stderr)
        return None
    return bundle


def _print_inputs(bundle: Bundle) -> None:
    """Which sources went in, with what was read from each (before validation)."""
    print("sources in this build:")
    for kind, counts in bundle.inputs.items():
        read = ", ".join(f"{n} {what}" for what, n in counts.items() if what != "files") or "nothing"
        print(f"  {kind:18s} {read} from {counts['files']} file(s)")
    if "built-in sample" in bundle.inputs:
        print("  the built-in sample is made-up data for trying the pipeline, not CValues data")
    else:
        print("  (the built-in sample is not included; --sample adds it)")


def _print_report(bundle: Bundle) -> None:
    for note in bundle.notes:
        print(f"note: {note}")
    if bundle.problems.items:
        print(f"skipped {len(bundle.problems)} invalid row(s):")
        for reason, n in bundle.problems.counts().most_common():
            print(f"  {n:6d}  {reason}")
        for p in bundle.problems.items[:5]:
            print(f"  e.g. {p}")


def cmd_build(args: argparse.Namespace) -> int:
    from .stats import format_table
    from .writer import DatasetWriter, OutputError

    start = time.perf_counter()
    try:  # the output folder is refused before any source is read
        sources = _sources(args)
        writer = DatasetWriter(args.out, shard_rows=args.shard_rows, template_version=args.template,
                               sources=sources.paths)
    except (SourceError, OutputError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    with writer:  # rows are written as they come; leaving without a commit leaves --out as it was
        bundle = _collect(args, sources, writer)
        if bundle is None:
            return 1
        if not writer.rows:
            print("error: no rows to write: every source was empty or invalid (did you pass --no-sample alone?)",
                  file=sys.stderr)
            return 1
        try:
            stats = writer.commit()
        except OutputError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
    _print_report(bundle)
    print(format_table(stats))
    _print_inputs(bundle)
    print(f"\nwrote {sum(s.rows for s in stats)} rows in {len(stats)} split(s) to {args.out} "
          f"in {time.perf_counter() - start:.1f}s")
    print(f'load with: datasets.load_dataset("{args.out}", "{stats[0].config}")')
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from .collect import collect
    from .sinks import Bundle, RowCounts

    counts = RowCounts()
    try:
        bundle = collect(_sources(args), counts)
    except SourceError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for p in bundle.problems.items:
        print(p, file=sys.stderr)
    _print_report(Bundle(notes=bundle.notes))
    for config, split in counts.splits():
        print(f"{config + '/' + split:40s} {counts.counts[config, split]:8d} rows")
    _print_inputs(bundle)
    print(f"{len(bundle.problems)} problem(s)")
    return 1 if bundle.problems.items else 0


def cmd_stats(args: argparse.Namespace) -> int:
    from ..core import taxonomy as tx
    from .stats import format_table, read_stats

    try:
        stats = read_stats(args.dir)
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(format_table(stats))
    for s in stats:
        if s.by_category:
            print(f"\n{s.config}/{s.split}")
            for cat, n in s.by_category.items():
                print(f"  {tx.label(cat):40s} {n:7d}")
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    from .publish import PublishError, plan_push, push

    try:
        plan = plan_push(args.dir, args.repo_id)
    except PublishError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"{len(plan.files)} file(s), {plan.total_bytes / 1e6:.2f} MB -> datasets/{plan.repo_id}"
          + (f"@{args.revision}" if args.revision else ""))
    if args.dry_run:
        for path, size in plan.files:
            print(f"  {size:>12,d}  {path}")
        print("dry run: nothing uploaded")
        return 0
    try:
        url = push(plan, private=args.private, revision=args.revision, token=args.token)
    except Exception as err:  # the Hub's errors (auth, network, permissions) reach the user as they are
        print(f"error: push failed: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    print(f"pushed: {url}")
    return 0
