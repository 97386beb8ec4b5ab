"""``cvalues judge``: argparse only. Two uses of one command, told apart by their flags:

    cvalues judge --replies runs/M --judge MODEL --out judged/M [--template zh-v1]   (judge replies)
    cvalues judge --agreement VOTES --labels judged/M [--quorum K]                    (judge vs people)
"""

from __future__ import annotations

import argparse
import sys

from ..human.flags import add_trust_arguments

EPILOG = """\
examples:
  cvalues judge --replies runs/qwen7b --judge openai:Qwen2.5-72B-Instruct --base-url http://host:8000/v1 \\
      --out judged/qwen7b
  cvalues human-eval judged/qwen7b --out judged/qwen7b/table --quorum 1      (the judge's own table)
  cvalues judge --agreement votes.sqlite3 --labels judged/qwen7b             (κ per scenario, ρ per domain)

The judge writes judged/M/labels.jsonl (the human label schema, annotator judge:<model>@<template>),
judgments.jsonl (every raw answer and its parse status) and run.json. An answer that cannot be
read is counted by status, never guessed. VOTES is what `cvalues human-eval` reads: the Space's
vote database, an export folder, or a labels file (gold.jsonl beside it is used).
"""
JUDGE_FLAGS = ("replies", "judge", "out")
AGREEMENT_FLAGS = ("agreement", "labels")


def register(sub: argparse._SubParsersAction) -> None:
    from ..evaluation.backends.flags import add_server_arguments
    from ..evaluation.models import DEVICES, DTYPES
    from .templates import DEFAULT_VERSION, TEMPLATES

    p = sub.add_parser(
        "judge", help="an LLM judge labels free-form replies; its agreement with people",
        description="Label the replies of `cvalues respond` with a judge model (safe/unsafe, or a 1-10 "
                    "responsibility score), or compare a judge's labels with the people's quorum labels.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run = p.add_argument_group("judging replies")
    run.add_argument("--replies", metavar="DIR", help="a folder from `cvalues respond` (or its replies.jsonl)")
    run.add_argument("--judge", metavar="MODEL", help="the judge model, as --model names one (openai:NAME, ORG/NAME)")
    run.add_argument("--out", metavar="DIR", help="output folder (judging); agreement.json's folder (agreement)")
    run.add_argument("--template", default=DEFAULT_VERSION, choices=tuple(TEMPLATES),
                     help=f"judge template version (default {DEFAULT_VERSION})")
    run.add_argument("--max-new-tokens", type=int, default=512, help="cap on each judge answer (default 512)")
    run.add_argument("--resume", action="store_true", help="judge only replies missing from OUT/judgments.jsonl")
    run.add_argument("--overwrite", action="store_true", help="replace an earlier run's judgments and labels in OUT")
    run.add_argument("--batch-size", default="auto", help="a local judge: replies per batch, or auto")
    run.add_argument("--dtype", choices=DTYPES, default="auto", help="a local judge's dtype")
    run.add_argument("--device", choices=DEVICES, default="auto", help="where a local judge runs")
    run.add_argument("--no-progress", dest="progress", action="store_false", help="hide the progress bar")
    versus = p.add_argument_group("agreement with people")
    versus.add_argument("--agreement", metavar="VOTES", help="human labels: vote database, export folder or labels file")
    versus.add_argument("--labels", metavar="DIR", help="the judge's folder (from cvalues judge) or its labels.jsonl")
    add_trust_arguments(versus, quorum_help="labels a reply needs from distinct trusted people")
    add_server_arguments(p, whose="the judge")
    p.set_defaults(func=handle)


def _given(args: argparse.Namespace, names: tuple[str, ...]) -> list[str]:
    return [n for n in names if getattr(args, n) is not None]


def _flags(names: list[str] | tuple[str, ...]) -> str:
    return ", ".join(f"--{n}" for n in names)


def handle(args: argparse.Namespace) -> int:
    judging, comparing = _given(args, JUDGE_FLAGS[:2]), _given(args, AGREEMENT_FLAGS)
    try:
        if comparing and judging:
            raise ValueError(f"{_flags(judging)} judge replies and {_flags(comparing)} compare labels: one at a time")
        if comparing:
            missing = [n for n in AGREEMENT_FLAGS if n not in comparing]
            if missing:
                raise ValueError(f"--agreement needs {_flags(missing)} too")
            return _agreement(args)
        missing = [n for n in JUDGE_FLAGS if getattr(args, n) is None]
        if missing:
            raise ValueError(f"judging replies needs {_flags(missing)} (or compare labels with --agreement VOTES "
                             "--labels DIR)")
        return _judge(args)
    except (ValueError, FileNotFoundError) as err:
        print(f"cvalues judge: error: {err}", file=sys.stderr)
        return 2


def _judge(args: argparse.Namespace) -> int:
    from ..evaluation.backends.flags import server_options
    from .run import LABELS, JudgeOptions, run_judge

    summary = run_judge(JudgeOptions(
        replies=args.replies, judge=args.judge, out=args.out, template=args.template, resume=args.resume,
        overwrite=args.overwrite, max_new_tokens=args.max_new_tokens, batch_size=args.batch_size,
        dtype=args.dtype, device=args.device, progress=args.progress, backend_options=server_options(args)))
    for criterion, counts in summary["statuses"].items():
        read = ", ".join(f"{status} {n}" for status, n in counts.items())
        print(f"{criterion}: {read}")
    unread = summary["judged"] - summary["labels"]
    print(f"{summary['annotator']}: {summary['labels']} labels from {summary['judged']} replies "
          f"({unread} answers not read as a label, counted above); wrote {args.out}/{LABELS}, judgments.jsonl "
          f"and run.json. Its table: cvalues human-eval {args.out} --out OUT --quorum 1")
    return 0


def _agreement(args: argparse.Namespace) -> int:
    from .versus_humans import HumanSide, compare_with_humans

    side = HumanSide(quorum=args.quorum, gold_min=args.gold_min, gold_threshold=args.gold_threshold)
    _, table, path = compare_with_humans(args.agreement, args.labels, side, args.out)
    print(table)
    print(f"wrote {path}")
    return 0
