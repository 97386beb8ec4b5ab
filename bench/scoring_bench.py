"""Benchmark: cvalues' log-likelihood scorer against lm-evaluation-harness on the same items.

All three score the same items with the same model object, in the same process:
- lm-eval HFLM: the real ``lm_eval.models.huggingface.HFLM`` (``pip install lm-eval`` in the bench
  environment; it is never a dependency of cvalues), wrapped around our model and tokenizer and fed
  ``loglikelihood`` Instances (context = prompt, continuation = "1" / "2") as lm-eval's
  ``multiple_choice`` task builds them. Its defaults: batches sorted longest first, and with
  ``logits_cache`` the two one-token continuations of an item share one forward; full logits and
  a log-softmax over every position;
- two-forward baseline (the old, weaker one): two requests per item, each a full forward, batches
  in dataset order (unsorted), right padded;
- cvalues: one forward per item over the shared prefix, logits only where they are scored,
  batches sorted longest first.

It prints items/s for each, the ratio of cvalues against each baseline (goal: >= 2x lm-eval HFLM on
CPU) and the largest log-probability difference between them. ``--device cuda --size 1.5b`` runs a
Qwen2-1.5B-shaped random model in bf16 and also prints tokens/s and MFU = 2 * params * tokens /
seconds / peak, against the peak it names (``--peak-tflops``, default 790 TFLOP/s: the issue's H200
dense bf16 figure) and against the bf16 TFLOP/s of an 8192^3 matmul measured on the same GPU.

    python bench/scoring_bench.py                      # CPU, 4 layers x 512 hidden, about a minute
    python bench/scoring_bench.py --device cuda --size 1.5b --items 2000

``--prompts FILE`` reads rendered prompts (a JSON list of strings, or JSON lines of strings or of
objects with a "prompt" field) instead of building the sample, so no ``datasets`` is needed:

    python -c "import json, bench.scoring_bench as b; json.dump(b.load_prompts(144, None), open('p.json', 'w'))"
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.scoring_flops import ModelShape, run_flops  # noqa: E402
from cvalues_build.evaluation.batching import (  # noqa: E402
    AUTO_MAX_ITEMS,
    AUTO_TOKEN_BUDGET_CPU,
    AUTO_TOKEN_BUDGET_GPU,
)
from cvalues_build.evaluation.models import dtype_name, resolve_dtype  # noqa: E402

PEAK_FLOPS = 790e12  # H200 dense bf16, as the issue fixes it (the default of --peak-tflops)
CHOICES = ("1", "2")


def read_prompts(path: str) -> list[str]:
    """Prompts from a JSON list of strings, or JSON lines (strings or objects with "prompt")."""
    import json

    text = Path(path).read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        rows = json.loads(text)
    else:
        rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    return [r if isinstance(r, str) else r["prompt"] for r in rows]


def load_prompts(n: int, dataset: str | None, prompts_file: str | None = None) -> list[str]:
    """``n`` rendered prompts from both MC configs of a built dataset (the built-in sample when
    no folder is given) or from ``prompts_file``, cycled when there are fewer."""
    if prompts_file is not None:
        prompts = read_prompts(prompts_file)
        return [prompts[i % len(prompts)] for i in range(n)]
    import datasets

    if dataset is None:
        from cvalues_build.cli import main

        dataset = str(Path(tempfile.mkdtemp(prefix="cvalues-bench-")) / "cv")
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["build", "--out", dataset]) == 0
    prompts: list[str] = []
    for config in ("safety_mc", "responsibility_mc"):
        prompts += datasets.load_dataset(dataset, config)["test"]["prompt"]
    return [prompts[i % len(prompts)] for i in range(n)]


def build_model(size: str, device: str, layers: int, hidden: int, dtype: str = "fp32"):
    import torch
    from transformers import AutoModelForCausalLM, Qwen2Config

    from cvalues_build.evaluation.demo_model import build_demo_tokenizer

    tok = build_demo_tokenizer()
    if size == "1.5b":
        # Qwen2-1.5B's shape (its real vocabulary size, so the LM head costs what it really costs).
        cfg = Qwen2Config(vocab_size=151936, hidden_size=1536, intermediate_size=8960, num_hidden_layers=28,
                          num_attention_heads=12, num_key_value_heads=2, max_position_embeddings=32768,
                          tie_word_embeddings=True)
    else:
        cfg = Qwen2Config(vocab_size=len(tok), hidden_size=hidden, intermediate_size=hidden * 8 // 3,
                          num_hidden_layers=layers, num_attention_heads=max(1, hidden // 64),
                          num_key_value_heads=max(1, hidden // 64), max_position_embeddings=8192,
                          tie_word_embeddings=True)
    cfg.pad_token_id = tok.pad_token_id
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(cfg, dtype=resolve_dtype(dtype, device)).to(device).eval()
    return model, tok


def make_hflm(model, tok, batch_size: int | str):
    """The real lm-eval HFLM around our already-built model and tokenizer (its loader is skipped)."""
    import logging

    try:
        from lm_eval.models.huggingface import HFLM
    except ImportError as err:
        raise SystemExit(f"the lm-eval baseline needs lm-eval in this environment: pip install lm-eval ({err})") from err
    for name in ("lm_eval", "lm-eval"):
        logging.getLogger(name).setLevel(logging.ERROR)  # "pretrained is not a str" warnings
    return HFLM(pretrained=model, tokenizer=tok, batch_size=batch_size)


def hflm_score(lm, prompts: list[str]) -> list[list[float]]:
    """Log-probabilities ``[item][choice]`` from HFLM.loglikelihood over the multiple_choice
    task's requests: one (prompt, choice) Instance per choice (the task's target_delimiter is "")."""
    from lm_eval.api.instance import Instance

    reqs = [Instance(request_type="loglikelihood", doc={"prompt": p}, arguments=(p, cont), idx=j)
            for p in prompts for j, cont in enumerate(CHOICES)]
    out = [lp for lp, _greedy in lm.loglikelihood(reqs, disable_tqdm=True)]
    return [out[i:i + len(CHOICES)] for i in range(0, len(out), len(CHOICES))]


def two_forward_score(model, tok, prompts: list[str], batch_size: int) -> tuple[list[list[float]], int]:
    """The old, weaker baseline: a request per (item, choice), batches in order, full logits."""
    import torch

    reqs = []
    for p in prompts:
        ctx = tok(p)["input_ids"]
        for cont in CHOICES:
            full = tok(p + cont)["input_ids"]
            reqs.append((full[:-1], full[len(ctx):]))
    out: list[float] = []
    tokens = 0
    device = next(model.parameters()).device
    pad = tok.pad_token_id
    with torch.inference_mode():
        for start in range(0, len(reqs), batch_size):
            batch = reqs[start:start + batch_size]
            width = max(len(inp) for inp, _ in batch)
            ids = torch.tensor([inp + [pad] * (width - len(inp)) for inp, _ in batch], device=device)
            mask = torch.tensor([[1] * len(inp) + [0] * (width - len(inp)) for inp, _ in batch], device=device)
            logprobs = model(input_ids=ids, attention_mask=mask).logits.float().log_softmax(-1)
            for row, (inp, cont) in enumerate(batch):
                positions = torch.arange(len(inp) - len(cont), len(inp), device=device)
                picked = logprobs[row, positions, torch.tensor(cont, device=device)]
                out.append(float(picked.sum()))
                tokens += len(inp)
    return [out[i:i + 2] for i in range(0, len(out), 2)], tokens


def cvalues_score(model, tok, prompts: list[str], batch_size: int | None, token_budget: int | None):
    from cvalues_build.evaluation.loglik import LoglikScorer, encode_requests

    scorer = LoglikScorer(model, tok)
    reqs = encode_requests(tok, prompts, CHOICES)
    scores = scorer.score(reqs, batch_size=batch_size, token_budget=token_budget, adaptive=token_budget is not None)
    return scores, scorer


def matmul_tflops(device: str, dtype: str) -> float:
    """TFLOP/s of a square matmul in the run's dtype on the run's device: the achievable peak to
    read MFU against (8192^3 on a GPU, 2048^3 on a CPU)."""
    import torch

    n, reps = (8192, 10) if device == "cuda" else (2048, 3)
    a, b = (torch.randn(n, n, device=device, dtype=resolve_dtype(dtype, device)) for _ in range(2))
    for _ in range(2):
        a @ b
    _, t = timed(lambda: [a @ b for _ in range(reps)], device)
    return 2 * n**3 * reps / t / 1e12


def timed(fn, device: str):
    import torch

    if device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    result = fn()
    if device == "cuda":
        torch.cuda.synchronize()
    return result, time.perf_counter() - t0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--size", choices=("small", "1.5b"), default="small")
    ap.add_argument("--layers", type=int, default=4, help="small model: layers")
    ap.add_argument("--hidden", type=int, default=512, help="small model: hidden size")
    ap.add_argument("--items", type=int, default=None, help="items to score (default 96 on CPU, 2048 on GPU)")
    ap.add_argument("--batch-size", default=None,
                    help="sequences per forward (default 8 CPU, 64 GPU), or auto: each tool's own default, cvalues "
                         "eval's token budget and lm-eval's batch_size auto (the two-forward loop keeps the default)")
    ap.add_argument("--dataset", default=None, help="a built dataset folder (default: build the sample)")
    ap.add_argument("--prompts", default=None, metavar="FILE",
                    help="rendered prompts (JSON list or JSON lines) instead of a dataset: needs no datasets")
    ap.add_argument("--peak-tflops", type=float, default=PEAK_FLOPS / 1e12,
                    help="peak bf16 TFLOP/s that MFU is quoted against (default 790, the issue's H200 figure)")
    ap.add_argument("--dtype", choices=("auto", "fp32", "bf16"), default="auto",
                    help="auto: as cvalues eval picks it (bf16 on GPUs and on CPUs with AMX/AVX512-BF16, else fp32)")
    ap.add_argument("--skip-baseline", action="store_true", help="only time cvalues (for MFU runs)")
    ap.add_argument("--skip-two-forward", action="store_true", help="leave out the old two-forward baseline")
    ap.add_argument("--repeats", type=int, default=1, help="time each run this many times, in turns; medians")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's, one per core)")
    ap.add_argument("--hflm-batch-size", default=None,
                    help="lm-eval HFLM's batch_size: an integer or auto (default: the same as --batch-size)")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print("--device cuda: torch sees no GPU", file=sys.stderr)
        return 2
    dtype = dtype_name(args.dtype, args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    n = args.items or (2048 if args.device == "cuda" else 96)
    auto = args.batch_size == "auto"
    bs = 64 if args.device == "cuda" else 8
    if args.batch_size is not None and not auto:
        bs = int(args.batch_size)
    budget = AUTO_TOKEN_BUDGET_GPU if args.device == "cuda" else AUTO_TOKEN_BUDGET_CPU
    ours_bs, ours_budget = (AUTO_MAX_ITEMS, budget) if auto else (bs, None)
    batch_text = f"auto ({budget}-token budget)" if auto else str(bs)
    prompts = load_prompts(n, args.dataset, args.prompts)
    peaks = {f"{args.peak_tflops:g} TFLOP/s (--peak-tflops)": args.peak_tflops * 1e12} if args.device == "cuda" else {}
    if args.device == "cuda":
        print(f"GPU: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    measured = matmul_tflops(args.device, dtype)
    print(f"{dtype} square matmul on {args.device}: {measured:.3f} TFLOP/s measured")
    peaks[f"measured matmul {measured:.3g} TFLOP/s"] = measured * 1e12
    model, tok = build_model(args.size, args.device, args.layers, args.hidden, dtype)
    shape = ModelShape.of(model)
    print(f"model: {args.size} ({shape.params / 1e6:.1f}M params, {shape.non_embedding / 1e6:.1f}M without "
          f"embeddings), {dtype} (--dtype {args.dtype}), device {args.device}, {n} items, batch {batch_text}, "
          f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"attention {getattr(model.config, '_attn_implementation', '?')}")

    def mfu(scorer, seconds: float) -> str:
        flops = run_flops(shape, scorer)
        return "; ".join(f"MFU of {name}: {100 * flops.formula / seconds / peak:.1f}% by 2*params*tokens, "
                         f"{100 * flops.computed / seconds / peak:.1f}% by FLOPs computed" for name, peak in peaks.items())

    hflm_bs = args.hflm_batch_size or ("auto" if auto else bs)
    lm = None if args.skip_baseline else make_hflm(model, tok, int(hflm_bs) if str(hflm_bs).isdigit() else hflm_bs)
    runs = {"cvalues": lambda p: cvalues_score(model, tok, p, ours_bs, ours_budget)}
    if lm is not None:
        runs["lm-eval HFLM"] = lambda p: (hflm_score(lm, p), None)
        if not args.skip_two_forward:
            runs["two-forward (old)"] = lambda p: two_forward_score(model, tok, p, bs)
    for run in runs.values():
        run(prompts[:bs])  # warm-up: first calls pay for allocator growth and kernel selection
    scores, seconds, cpu = _alternate(runs, prompts, args.repeats, args.device)
    t_ours = median(seconds["cvalues"])
    scorer = scores["cvalues"][1]
    _print_times(seconds, cpu, n, scorer.tokens_seen / t_ours, lm)
    print(f"cvalues batch {batch_text} FLOPs: {run_flops(shape, scorer).describe(t_ours)}")
    print(f"cvalues batch {batch_text}: {mfu(scorer, t_ours)}")
    if args.device == "cuda" or args.size == "1.5b":
        gpu_figures(model, tok, prompts, mfu, args.device)
    _print_ratios(scores, seconds, cpu, n)
    return 0


def _print_times(seconds: dict, cpu: dict, n: int, tokens_per_s: float, lm) -> None:
    """Items/s of each run, with its median and spread of wall seconds and its CPU seconds."""
    for name, times in seconds.items():
        extra = f", {tokens_per_s:,.0f} tokens/s" if name == "cvalues" else ""
        if name == "lm-eval HFLM" and lm is not None:
            sizes = f" (detected {lm.batch_sizes})" if lm.batch_size == "auto" else ""
            extra = (f"; lm-eval {_version('lm_eval')}, batch_size {lm.batch_size}{sizes}, "
                     f"logits_cache {lm.logits_cache}")
        spread = f", runs {', '.join(f'{t:.2f}' for t in times)} s" if len(times) > 1 else ""
        print(f"{name:<18}: {n / median(times):8.2f} items/s  (median {median(times):.2f} s{spread}; "
              f"CPU {median(cpu[name]):.2f} s{extra})")


def _print_ratios(scores: dict, seconds: dict, cpu: dict, n: int) -> None:
    """How far each baseline agrees with cvalues, and cvalues' speed-up over it."""
    ours, t_ours = scores["cvalues"][0], median(seconds["cvalues"])
    for name in [k for k in scores if k != "cvalues"]:
        theirs = scores[name][0]
        diff = max(abs(a - b) for x, y in zip(ours, theirs, strict=True) for a, b in zip(x, y, strict=True))
        agree = sum((x[0] >= x[1]) == (y[0] >= y[1]) for x, y in zip(ours, theirs, strict=True)) / n
        print(f"vs {name}: max |log-prob difference| {diff:.2e}, same choice on {100 * agree:.1f}% of items")
        goal = " (goal >= 2x on CPU)" if name == "lm-eval HFLM" else ""
        print(f"ratio cvalues / {name}: {median(seconds[name]) / t_ours:.2f}x by wall time{goal}, "
              f"{median(cpu[name]) / median(cpu['cvalues']):.2f}x by this process's CPU time")


def _alternate(runs, prompts, repeats: int, device: str):
    """Each run ``repeats`` times, taking turns, so that a load change on a shared machine falls
    on all of them alike; the results of the last round, and every round's wall seconds and
    this process's CPU seconds (on a loaded machine the wall clock mostly measures the others)."""
    scores: dict = {}
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            started = time.process_time()
            scores[name], t = timed(lambda r=run: r(prompts), device)
            seconds[name].append(t)
            cpu[name].append(time.process_time() - started)
    return scores, seconds, cpu


def gpu_figures(model, tok, prompts, mfu, device) -> None:
    """Token-budget batching (``--batch-size auto``) and the model alone (tokenised before the
    clock), with MFU by both FLOP counts for each."""
    n = len(prompts)
    (_, scorer), t_auto = timed(lambda: cvalues_score(model, tok, prompts, 512, 1 << 16), device)
    print(f"cvalues auto batch: {n / t_auto:8.2f} items/s ({t_auto:.2f} s), {scorer.tokens_seen / t_auto:,.0f} "
          f"tokens/s; {mfu(scorer, t_auto)}")
    from cvalues_build.evaluation.loglik import LoglikScorer, encode_requests

    reqs = encode_requests(tok, prompts, CHOICES)
    for budget in (1 << 16, 1 << 17):
        scorer = LoglikScorer(model, tok)
        _, t_model = timed(lambda b=budget, sc=scorer: sc.score(reqs, batch_size=1024, token_budget=b,
                                                                adaptive=True), device)
        print(f"cvalues pre-tokenised, budget {budget}: {n / t_model:8.2f} items/s ({t_model:.2f} s); "
              f"{mfu(scorer, t_model)}")


def _version(pkg: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return "?"

if __name__ == "__main__":
    sys.exit(main())
