"""Benchmark: cvalues' log-likelihood scorer against an lm-eval-style baseline.

Both score the same items with the same random model:
- baseline (how lm-evaluation-harness scores multiple choice): two requests per item, context +
  "1" and context + "2", each a full forward; batches in dataset order (unsorted), right padded,
  log-softmax over the full logits of every position;
- cvalues: one forward per item over the shared prefix, logits only where they are scored,
  batches sorted longest first.

It prints items/s for both and the ratio (goal: >= 1.8x on CPU), and checks that both give the
same log-probabilities. ``--device cuda --size 1.5b`` runs a Qwen2-1.5B-shaped random model in
bf16 and also prints tokens/s and MFU = 2 * params * tokens / seconds / peak, against the peak it
names (``--peak-tflops``, default 790 TFLOP/s: the issue's H200 dense bf16 figure) and against the
bf16 TFLOP/s of an 8192^3 matmul measured on the same GPU.

    python bench/scoring_bench.py                      # CPU, 4 layers x 512 hidden, under a minute
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

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PEAK_FLOPS = 790e12  # H200 dense bf16, as the issue fixes it (the default of --peak-tflops)


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


def build_model(size: str, device: str, layers: int, hidden: int):
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
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(cfg, dtype=dtype).to(device).eval()
    return model, tok


def baseline_score(model, tok, prompts: list[str], batch_size: int) -> tuple[list[list[float]], int]:
    """lm-eval style: a request per (item, choice), batches in order, full logits."""
    import torch

    reqs = []
    for p in prompts:
        ctx = tok(p)["input_ids"]
        for cont in ("1", "2"):
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
    from cvalues_build.evaluation.loglik import LoglikScorer, encode_request

    scorer = LoglikScorer(model, tok)
    reqs = [encode_request(tok, p, ["1", "2"]) for p in prompts]
    scores = scorer.score(reqs, batch_size=batch_size, token_budget=token_budget, adaptive=token_budget is not None)
    return scores, scorer.tokens_seen


def matmul_tflops(n: int = 8192, reps: int = 10) -> float:
    """bf16 TFLOP/s of an n^3 matmul on the current GPU: the achievable peak to read MFU against."""
    import torch

    a, b = (torch.randn(n, n, device="cuda", dtype=torch.bfloat16) for _ in range(2))
    for _ in range(3):
        a @ b
    _, t = timed(lambda: [a @ b for _ in range(reps)], "cuda")
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--size", choices=("small", "1.5b"), default="small")
    ap.add_argument("--layers", type=int, default=4, help="small model: layers")
    ap.add_argument("--hidden", type=int, default=512, help="small model: hidden size")
    ap.add_argument("--items", type=int, default=None, help="items to score (default 96 on CPU, 2048 on GPU)")
    ap.add_argument("--batch-size", type=int, default=None, help="sequences per forward (default 8 CPU, 64 GPU)")
    ap.add_argument("--dataset", default=None, help="a built dataset folder (default: build the sample)")
    ap.add_argument("--prompts", default=None, metavar="FILE",
                    help="rendered prompts (JSON list or JSON lines) instead of a dataset: needs no datasets")
    ap.add_argument("--peak-tflops", type=float, default=PEAK_FLOPS / 1e12,
                    help="peak bf16 TFLOP/s that MFU is quoted against (default 790, the issue's H200 figure)")
    ap.add_argument("--skip-baseline", action="store_true", help="only time cvalues (for MFU runs)")
    args = ap.parse_args(argv)

    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print("--device cuda: torch sees no GPU", file=sys.stderr)
        return 2
    n = args.items or (2048 if args.device == "cuda" else 96)
    bs = args.batch_size or (64 if args.device == "cuda" else 8)
    prompts = load_prompts(n, args.dataset, args.prompts)
    peaks = {f"{args.peak_tflops:g} TFLOP/s (--peak-tflops)": args.peak_tflops * 1e12}
    if args.device == "cuda":
        print(f"GPU: {torch.cuda.get_device_name()}, torch {torch.__version__}")
        measured = matmul_tflops()
        print(f"bf16 8192^3 matmul: {measured:.0f} TFLOP/s measured")
        peaks[f"measured matmul {measured:.0f} TFLOP/s"] = measured * 1e12
    model, tok = build_model(args.size, args.device, args.layers, args.hidden)
    params = sum(p.numel() for p in model.parameters())
    print(f"model: {args.size} ({params / 1e6:.1f}M params), device {args.device}, {n} items, "
          f"batch {bs}, torch threads {torch.get_num_threads()}, attention {getattr(model.config, '_attn_implementation', '?')}")

    def mfu(tokens: int, seconds: float) -> str:
        return ", ".join(f"{100 * 2 * params * tokens / seconds / peak:.1f}% of {name}" for name, peak in peaks.items())

    # warm-up: first calls pay for allocator growth and kernel selection
    cvalues_score(model, tok, prompts[:bs], bs, None)
    if not args.skip_baseline:
        baseline_score(model, tok, prompts[:bs], bs)

    (ours, our_tokens), t_ours = timed(lambda: cvalues_score(model, tok, prompts, bs, None), args.device)
    print(f"cvalues : {n / t_ours:8.2f} items/s  ({t_ours:.2f} s, {our_tokens / t_ours:,.0f} tokens/s)")
    if args.device == "cuda" or args.size == "1.5b":
        # With a token budget the scorer packs many more items per pass: the configuration to use
        # on a GPU (``--batch-size auto``).
        (_, auto_tokens), t_auto = timed(lambda: cvalues_score(model, tok, prompts, 512, 1 << 16), args.device)
        print(f"cvalues auto batch: {n / t_auto:8.2f} items/s ({t_auto:.2f} s), {auto_tokens / t_auto:,.0f} tokens/s, "
              f"MFU (2*params*tokens/time) {mfu(auto_tokens, t_auto)}")
        print(f"cvalues batch {bs}: MFU {mfu(our_tokens, t_ours)}")
        # The same scorer with tokenisation outside the clock: how much of the gap to peak is the
        # model on the GPU and how much is host-side work, per token budget.
        from cvalues_build.evaluation.loglik import LoglikScorer, encode_request

        reqs = [encode_request(tok, p, ["1", "2"]) for p in prompts]
        for budget in (1 << 16, 1 << 17):
            scorer = LoglikScorer(model, tok)
            _, t_model = timed(lambda b=budget, sc=scorer: sc.score(reqs, batch_size=1024, token_budget=b,
                                                                    adaptive=True), args.device)
            print(f"cvalues pre-tokenised, budget {budget}: {n / t_model:8.2f} items/s ({t_model:.2f} s), "
                  f"MFU {mfu(scorer.tokens_seen, t_model)}")
    if args.skip_baseline:
        return 0
    (base, base_tokens), t_base = timed(lambda: baseline_score(model, tok, prompts, bs), args.device)
    print(f"baseline: {n / t_base:8.2f} items/s  ({t_base:.2f} s, {base_tokens / t_base:,.0f} tokens/s)")
    diff = max(abs(a - b) for x, y in zip(ours, base, strict=True) for a, b in zip(x, y, strict=True))
    agree = sum((x[0] >= x[1]) == (y[0] >= y[1]) for x, y in zip(ours, base, strict=True)) / n
    print(f"max |log-prob difference| {diff:.2e}, same choice on {100 * agree:.1f}% of items")
    print(f"ratio cvalues / baseline: {t_base / t_ours:.2f}x (goal >= 1.8x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
