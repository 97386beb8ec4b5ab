"""``cvalues respond``: argparse only (the work is in respond.py, imported when the command runs)."""

from __future__ import annotations

import argparse
import sys

EPILOG = """\
examples:
  cvalues respond --model demo:1 --dataset out/cvalues --config safety_prompts --out runs/demo-1
  cvalues respond --model Qwen/Qwen2.5-7B-Instruct --dataset OWNER/cvalues --config responsibility_prompts \\
      --out runs/qwen7b --limit 80
  cvalues respond --model openai:Qwen2.5-72B-Instruct --base-url http://host:8000/v1 --concurrency 32 \\
      --dataset OWNER/cvalues --config safety_prompts --out runs/qwen72b

Then: label the replies in the Space (cvalues space --campaign runs/M), or have a model judge them
(cvalues judge --replies runs/M --judge MODEL --out judged/M).
"""


def register(sub: argparse._SubParsersAction) -> None:
    from .backends.flags import add_server_arguments
    from .models import DEVICES, DTYPES
    from .prompts import PROMPT_CONFIGS

    p = sub.add_parser(
        "respond", help="a model's replies to the open prompts (for human or judge labels)",
        description="Generate a model's reply to each safety or responsibility prompt and write OUT/replies.jsonl "
                    "(one row per prompt) and OUT/run.json.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", required=True,
                   help="Hub id, local folder, demo / demo:SEED (random weights, noise replies), or openai:NAME "
                        "for a served model (see --base-url)")
    p.add_argument("--dataset", required=True, help="dataset folder (from cvalues build) or Hub repo id")
    p.add_argument("--config", required=True, choices=tuple(PROMPT_CONFIGS), help="which prompts to answer")
    p.add_argument("--out", required=True, help="output folder for replies.jsonl and run.json")
    p.add_argument("--limit", type=int, default=None,
                   help="answer N prompts, taken evenly from every scenario or domain (not the first N)")
    p.add_argument("--resume", action="store_true", help="answer only the prompts missing from OUT/replies.jsonl")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an earlier run's replies in OUT (other files there stay)")
    p.add_argument("--max-new-tokens", type=int, default=512, help="cap on each reply's tokens (default 512)")
    p.add_argument("--temperature", type=float, default=None,
                   help="sample at this temperature (default: greedy; 0 is greedy too)")
    p.add_argument("--top-p", type=float, default=None, help="nucleus sampling, with --temperature")
    p.add_argument("--seed", type=int, default=None, help="sampling seed, sent to servers that accept one")
    p.add_argument("--batch-size", default="auto", help="local models: prompts per batch, or auto (token budget)")
    p.add_argument("--dtype", choices=DTYPES, default="auto", help="local models: weights' dtype")
    p.add_argument("--device", choices=DEVICES, default="auto", help="local models: where they run")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="hide the progress bar")
    add_server_arguments(p)
    p.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    from .backends.flags import server_options
    from .respond import REPLIES, RespondOptions, run_respond

    opts = RespondOptions(
        model=args.model, dataset=args.dataset, config=args.config, out=args.out, limit=args.limit,
        resume=args.resume, overwrite=args.overwrite, max_new_tokens=args.max_new_tokens,
        temperature=args.temperature, top_p=args.top_p, seed=args.seed, batch_size=args.batch_size,
        dtype=args.dtype, device=args.device, progress=args.progress, backend_options=server_options(args),
    )
    try:
        summary = run_respond(opts)
    except (ValueError, FileNotFoundError) as err:
        print(f"cvalues respond: error: {err}", file=sys.stderr)
        return 2
    print(f"{summary['prompts']} replies ({summary['replied_this_run']} this run, {summary['empty_replies']} empty) "
          f"from {args.model}: wrote {args.out}/{REPLIES} and {args.out}/run.json")
    return 0
