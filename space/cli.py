"""``cvalues space`` and ``cvalues votes``, registered through the ``cvalues.commands`` entry points.

Heavy imports (gradio, torch) happen inside the handlers, so ``cvalues --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

from cvalues_build.human.flags import add_trust_arguments

from . import guard

INSTALL_HINT = "the Space needs gradio: pip install 'cvalues[space]'"


def register(sub: argparse._SubParsersAction) -> None:
    space = sub.add_parser(
        "space", help="run the human-evaluation Space locally, or bundle it for Hugging Face Spaces",
        description="Serve the CValues arena (battles, labels, leaderboard). With no flags, `cvalues space` "
                    "starts the demo: three built-in demo models (random weights, CPU, no network) at "
                    "http://127.0.0.1:7860, votes in ./cvalues_votes.sqlite3. `cvalues space bundle OUT` "
                    "assembles a folder ready to upload as a Space.",
    )
    space.add_argument("--models", type=Path, metavar="FILE", help="models file (YAML or JSON)")
    space.add_argument("--demo", action="store_true",
                       help="use the built-in demo models (random weights, CPU, no network); the default without --models")
    space.add_argument("--db", type=Path, metavar="PATH", help="SQLite vote database (default ./cvalues_votes.sqlite3)")
    space.add_argument("--dataset", type=Path, metavar="DIR", help="a folder written by `cvalues build` (prompts)")
    space.add_argument("--results", type=Path, metavar="DIR", help="folder with `cvalues eval` results.json files")
    space.add_argument("--judged", action="append", type=Path, default=[], metavar="DIR",
                       help="a folder from `cvalues judge --out DIR`: the judge's columns and its agreement with the "
                            "human labels on the leaderboard (repeat for more judges)")
    space.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    space.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    space.add_argument("--rate-limit", type=int, default=10, metavar="N", help="votes+labels per session per minute")
    space.add_argument("--bootstrap", type=int, default=100, metavar="ROUNDS", help="bootstrap rounds for intervals")
    space.add_argument("--concurrency", type=int, default=2, help="generations running at once")
    space.add_argument("--device", default="auto", help="auto, cpu or cuda")
    space.add_argument("--max-new-tokens", type=int, metavar="N",
                       help="cap every model's reply at N tokens (overrides the models file; demo default 40)")
    _campaign_flags(space)
    guard.add_flags(space)
    space.set_defaults(func=cmd_space)

    nested = space.add_subparsers(dest="space_command", metavar="bundle")
    bundle = nested.add_parser("bundle", help="assemble an uploadable Space folder",
                               description="Copy the app, requirements, README and packages into OUT, with a "
                                           "manifest of every file written (--push uploads exactly those).")
    bundle.add_argument("out", type=Path, metavar="OUT", help="the Space folder to write (new, or an earlier bundle)")
    bundle.add_argument("--models", dest="bundle_models", type=Path, metavar="FILE",
                        help="models file to ship as models.yaml (without it: the random demo models)")
    bundle.add_argument("--dataset", dest="bundle_dataset", type=Path, metavar="DIR",
                        help="a `cvalues build` folder whose prompt configs the Space draws from "
                             "(without it: the 72 sample prompts)")
    bundle.add_argument("--results", dest="bundle_results", type=Path, metavar="DIR",
                        help="folder of `cvalues eval` results; only its results.json files are shipped")
    bundle.add_argument("--overwrite", action="store_true",
                        help="replace OUT when its manifest proves it an earlier bundle (only the files it lists)")
    bundle.add_argument("--push", metavar="REPO_ID", help="upload the bundle's listed files to this Space (ORG/NAME)")
    bundle.add_argument("--private", action="store_true", help="create the Space as private")
    bundle.set_defaults(func=cmd_bundle)


def _campaign_flags(space: argparse.ArgumentParser) -> None:
    g = space.add_argument_group("campaigns", "model replies for the Label tab, labelled to a quorum and checked "
                                              "with gold items (see the README's Human evaluation)")
    g.add_argument("--campaign", action="append", type=Path, default=[], metavar="RUN",
                   help="import RUN/replies.jsonl from `cvalues respond --out RUN` (repeat for more models; "
                        "importing a file again adds nothing)")
    add_trust_arguments(g, quorum_help="distinct trusted annotators each campaign reply needs")
    g.add_argument("--gold-rate", type=float, default=0.1, metavar="SHARE",
                   help="share of campaign draws that are gold items (dataset replies with a known answer; default 0.1)")


def register_votes(sub: argparse._SubParsersAction) -> None:
    votes = sub.add_parser("votes", help="work with the Space's vote database",
                           description="Export the Space's arena battles and labels as the files "
                                       "`cvalues build --labels` and `cvalues human-eval` read.")
    nested = votes.add_subparsers(dest="votes_command", metavar="export", required=True)
    export = nested.add_parser("export", help="write OUT/labels.*, OUT/battles.* (and OUT/gold.jsonl) for "
                                               "`cvalues build --labels` and `cvalues human-eval`",
                               description="Labels and battles of every trusted annotator (those who failed their "
                                           "gold items stay in the store only), and the gold items' answers.")
    export.add_argument("db", type=Path, metavar="DB",
                        help="the Space's SQLite vote database (--db of `cvalues space`); opened read-only")
    export.add_argument("out", type=Path, metavar="OUT", help="folder for labels.* and battles.* (created if missing)")
    export.add_argument("--format", choices=("jsonl", "parquet"), default="jsonl", help="file format (default jsonl)")
    export.add_argument("--with-visitor-prompts", action="store_true",
                        help="also write OUT/review/visitor_prompts.jsonl: the votes and labels on prompts visitors "
                             "typed, for review (never part of labels.* or battles.*, so never built into the dataset)")
    add_trust_arguments(export, quorum_help=None)  # as `cvalues space` applies them
    export.set_defaults(func=cmd_export)


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def cmd_space(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("gradio") is None:
        return _fail(INSTALL_HINT)
    if args.models and args.demo:
        return _fail("choose --models FILE or --demo, not both")
    from .campaigns import CampaignError, CampaignSettings
    from .config import SpaceConfig, default_db_path
    from .models import ModelsFileError, cap_new_tokens, demo_specs, load_models_file

    try:
        specs = load_models_file(args.models) if args.models else demo_specs()
        if args.max_new_tokens is not None:
            specs = cap_new_tokens(specs, args.max_new_tokens)
        config = SpaceConfig(
            models=specs, db_path=args.db or default_db_path(), dataset_dir=args.dataset, results_dir=args.results, judged_dirs=args.judged,
            rate_limit=args.rate_limit, bootstrap_rounds=args.bootstrap, concurrency_limit=args.concurrency,
            device=args.device,
            campaign=CampaignSettings(runs=tuple(args.campaign), quorum=args.quorum, gold_rate=args.gold_rate,
                                      gold_min=args.gold_min, gold_threshold=args.gold_threshold),
            guard=guard.from_args(args),
        )
    except (ModelsFileError, ValueError) as err:
        return _fail(str(err))
    if args.dataset and not args.dataset.is_dir():
        return _fail(f"--dataset {args.dataset} is not a folder")
    if missing := [str(d) for d in args.judged if not d.is_dir()]:
        return _fail(f"--judged {', '.join(missing)}: not a folder (give `cvalues judge --out DIR`)")
    if not args.models:
        print("starting the demo: the built-in demo models (random weights, so their replies are noise); "
              "pass --models FILE for real ones")
    from .app import build_app, launch_kwargs, queue_kwargs
    from .service import SpaceService
    from .store import StoreError

    try:
        service = SpaceService(config)
    except (StoreError, CampaignError) as err:
        return _fail(str(err))
    for report in service.campaign_imports:
        print(report.line())
    if service.campaigns.progress()["replies"]:
        print("campaigns: {replies} replies, {at_quorum} at quorum, {gold_items} gold items".format(
            **service.campaigns.progress()))
    demo = build_app(config, service)
    print(f"votes go to {config.db_path.resolve()}")
    demo.queue(**queue_kwargs(config)).launch(server_name=args.host, server_port=args.port,
                                              **launch_kwargs(service))
    return 0


def cmd_bundle(args: argparse.Namespace) -> int:
    from cvalues_build.core.manifest import ManifestError

    from .bundle import DEMO_WARNING, bundle, push

    try:
        out = bundle(args.out, models_file=args.bundle_models, results_dir=args.bundle_results,
                     dataset_dir=args.bundle_dataset, overwrite=args.overwrite)
    except (FileExistsError, FileNotFoundError, ValueError, ManifestError) as err:
        return _fail(str(err))
    if args.bundle_models is None:
        print(f"\n{'!' * 100}\n{DEMO_WARNING}\n{'!' * 100}\n", file=sys.stderr)
    print(f"Space folder ready: {out}")
    if args.push:
        try:
            url = push(out, args.push, private=args.private)
        except RuntimeError as err:  # ManifestError, or the upload's own refusal: nothing was uploaded
            return _fail(str(err))
        print(f"uploaded to {url}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .export import export_votes
    from .store import StoreError

    try:
        paths = export_votes(args.db, args.out, args.format, gold_min=args.gold_min,
                             gold_threshold=args.gold_threshold, visitor_prompts=args.with_visitor_prompts)
    except (FileNotFoundError, ValueError, StoreError) as err:
        return _fail(str(err))
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return 0
