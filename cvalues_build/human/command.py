"""``cvalues human-eval``: the human results (the paper's table, with intervals and α) from
labels exported by the Space, read from its vote store, or written by ``cvalues judge``.

Only argparse here: numpy, krippendorff and the rest load when the command runs, so that
``cvalues --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys

from .flags import add_trust_arguments

EPILOG = """\
INPUT is one of:
  an export folder from `cvalues votes export` (labels.jsonl or labels.parquet) or a folder that
  `cvalues judge` wrote; a labels file named directly; the Space's vote database (votes.sqlite3),
  read read-only. A gold.jsonl beside the labels ({"response_id", "criterion", "expected"}) is
  read when present: its replies decide each annotator's trust and are left out of the table.

examples:
  cvalues votes export votes.sqlite3 exported/ && cvalues human-eval exported/ --out human/
  cvalues human-eval votes.sqlite3 --out human/ --quorum 3 --bootstrap 2000 --seed 1
  cvalues human-eval judged/M --out judged/M/human --quorum 1     (a judge's one label per reply)
"""


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "human-eval", help="safety rate and responsibility score per model from human (or judge) labels",
        description="Quorum labels from trusted annotators, the paper's table per model with seeded bootstrap "
                    "intervals over prompts, and Krippendorff's α; writes OUT/results.json and prints a table.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input", metavar="INPUT", help="export folder, labels file, or vote database (.sqlite3)")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for results.json")
    p.add_argument("--gold", default=None, metavar="FILE", help="gold items file (default: gold.jsonl beside the labels, if any)")
    add_trust_arguments(p, quorum_help="distinct trusted annotators a reply needs; 1 lets one label decide")
    p.add_argument("--bootstrap", type=_count, default=1000, metavar="N", help="bootstrap resamples (default 1000; 0: no intervals)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="bootstrap seed (default 0)")
    p.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    from .inputs import InputError, locate, read_gold, read_labels
    from .report import format_table
    from .results import Params, evaluate, write_results

    try:
        source, gold_path = locate(args.input)
        gold_path = args.gold or gold_path
        labels = read_labels(source)
        if not labels:
            raise InputError(f"{source} holds no labels")
        gold = read_gold(gold_path) if gold_path else {}
        params = Params(quorum=args.quorum, gold_min=args.gold_min, gold_threshold=args.gold_threshold,
                        bootstrap=args.bootstrap, seed=args.seed)
        results = evaluate(labels, gold, params)
    except (InputError, ValueError) as err:
        print(f"cvalues human-eval: error: {err}", file=sys.stderr)
        return 2
    path = write_results(results, args.out)
    print(format_table(results))
    print(f"read {len(labels)} labels from {source}" + (f" and {len(gold)} gold items from {gold_path}" if gold_path else ""))
    print(f"wrote {path}")
    return 0
