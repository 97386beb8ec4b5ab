"""``cvalues eval``: score a model on the multi-choice items (log-likelihood or generation).

Only argparse here: torch and transformers are imported when the command runs, so that
``cvalues --help`` and ``cvalues build`` stay light.
"""

from __future__ import annotations

import argparse
import sys

EPILOG = """\
examples:
  cvalues eval --model demo --dataset ./cvalues-data --config responsibility_mc --out runs/demo
  cvalues eval --model Qwen/Qwen2-1.5B-Instruct --dataset OWNER/cvalues --config safety_mc --out runs/qwen
  accelerate launch --multi_gpu --num_processes 4 -m cvalues_build.cli eval ...   (data parallel, GPUs)
  torchrun --standalone --nproc_per_node 2 -m cvalues_build.cli eval ...           (data parallel, CPUs)

--model demo is a tiny random model for trying the pipeline offline: its scores are meaningless.
"""


def register(sub: argparse._SubParsersAction) -> None:
    from .backends.flags import add_server_arguments
    from .dpo import DPO_NORMS
    from .models import DEVICES, DTYPES
    from .runner import MC_CONFIGS, MODES

    p = sub.add_parser(
        "eval", help="score a model on the multi-choice items",
        description="Score a causal LM on cvalues multi-choice items and write predictions.jsonl and results.json.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", required=True,
                   help="Hub id, local folder, or demo / demo:SEED (random, meaningless scores); BACKEND:MODEL "
                        "names a backend (hf:ORG/NAME is the default one)")
    p.add_argument("--dataset", required=True, help="dataset folder (from cvalues build) or Hub repo id")
    p.add_argument("--config", required=True, choices=(*MC_CONFIGS, "comparison"),
                   help="multi-choice config to score (reward/dpo: its pairs; comparison is CValues-Comparison)")
    p.add_argument("--out", required=True, help="output folder for predictions.jsonl and results.json")
    p.add_argument("--mode", choices=MODES, default="loglik",
                   help="loglik: compare log P(回复1) vs log P(回复2), one forward per item (default); "
                        "generate: greedy answer parsed by the metric; "
                        "reward: a sequence-classifier reward model scores chosen vs rejected replies; "
                        "dpo: a policy's log-probability of each reply (see --ref-model, --dpo-norm)")
    p.add_argument("--ref-model", default=None, help="dpo mode: reference model; reward = sum log π - log π_ref")
    p.add_argument("--dpo-norm", choices=DPO_NORMS, default=None,
                   help="dpo mode without --ref-model: mean (avg, default: a sum favours short replies) "
                        "or summed log-probability of the reply tokens")
    p.add_argument("--with-mc", action="store_true",
                   help="dpo mode: also run loglik multi-choice on the same pairs, side by side in results.json")
    p.add_argument("--batch-size", default="auto", help="items per batch, or auto (token budget, halves on OOM)")
    p.add_argument("--limit", type=int, default=None, help="score only the first N items (rounded down to whole pairs); "
                                                                   "reward/dpo: N pairs, stratified by difficulty")
    p.add_argument("--dtype", choices=DTYPES, default="auto", help="auto: bf16 on GPU, fp32 on CPU")
    p.add_argument("--device", choices=DEVICES, default="auto")
    p.add_argument("--chat-template", action=argparse.BooleanOptionalAction, default=True,
                   help="generate, reward and dpo modes: wrap the prompt (and reply) in the tokenizer's chat "
                        "template when it has one")
    p.add_argument("--max-new-tokens", type=int, default=16, help="generate mode: cap on generated tokens")
    p.add_argument("--padding-side", choices=("left", "right"), default=None,
                   help="loglik mode: override the tokenizer's padding side (results are the same)")
    p.add_argument("--resume", action="store_true", help="skip items already in OUT/predictions.jsonl")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an earlier run's predictions and results in OUT (other files there stay)")
    p.add_argument("--metric", default=None, help="path to the cvalues metric script (default: the bundled one)")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the accuracy CI")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="hide the progress bar")
    add_server_arguments(p)
    p.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    from .backends.flags import server_options
    from .report import summary_table
    from .runner import EvalOptions, run_eval

    opts = EvalOptions(
        model=args.model, dataset=args.dataset, config=args.config, out=args.out, mode=args.mode,
        batch_size=args.batch_size, limit=args.limit, dtype=args.dtype, device=args.device,
        chat_template=args.chat_template, resume=args.resume, overwrite=args.overwrite,
        max_new_tokens=args.max_new_tokens,
        metric=args.metric, padding_side=args.padding_side, bootstrap=args.bootstrap, seed=args.seed,
        progress=args.progress, ref_model=args.ref_model, dpo_norm=args.dpo_norm, with_mc=args.with_mc,
        backend_options=server_options(args),
    )
    try:
        results = run_eval(opts)
    except (ValueError, FileNotFoundError) as err:
        print(f"cvalues eval: error: {err}", file=sys.stderr)
        return 2
    if results is not None:
        print(summary_table(results))
        print(f"wrote {args.out}/predictions.jsonl and {args.out}/results.json")
    return 0
