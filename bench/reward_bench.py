"""Benchmark: reward models and DPO policies over preference pairs, cvalues against the per-pair
loop that RewardBench runs by default, on the same pairs, models and process.

- baseline (RewardBench's default path): one pair per call, in dataset order. A reward model gets
  the chosen and rejected conversations as one right-padded batch of two (the pipeline's
  tokenizer call with padding, then the model). A DPO policy gets the pair tokenised as prompt
  and prompt + reply for each reply (TRL's build_tokenized_answer), both conversations as one
  right-padded batch of two with full logits and a log-softmax over every position, the prompt
  masked out of the sum (DPOInference.concatenated_forward); with ``--ref`` the reference
  model runs the same forward.
- cvalues: what ``cvalues eval --mode reward|dpo`` runs, tokenisation inside the clock: all
  conversations tokenised in batched calls, pairs sorted longest first into token-budgeted
  batches (``--batch-size auto``); a DPO batch runs its prompts once with a KV cache and both
  replies on a copy of it, with logits only where reply tokens are scored.

Synthetic pairs with CValues-Comparison-like lengths (prompt 10-50 characters, chosen 50-250,
rejected 30-210), random CJK text, a random Qwen2-shaped reward model (one-logit score head) and
policy built locally. Each run is repeated ``--repeats`` times, cvalues and the baseline taking
turns so that a load change on a shared machine falls on both, and the medians are printed with
pairs/s and the ratio (goal: >= 3x on CPU).

    python bench/reward_bench.py                        # CPU: 2 layers x 128 hidden, 1000 pairs
    python bench/reward_bench.py --pairs 20000 --repeats 1
    python bench/reward_bench.py --device cuda --size 1.5b --pairs 4000   # tokens/s and MFU
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.scoring_bench import PEAK_FLOPS, matmul_tflops, timed  # noqa: E402


def synth_pairs(n: int, seed: int = 0) -> tuple[list[str], list[str], list[str]]:
    rng = random.Random(seed)
    chars = [chr(c) for c in range(0x4E00, 0x4E00 + 3000)]

    def text(lo: int, hi: int) -> str:
        return "".join(rng.choices(chars, k=rng.randint(lo, hi)))

    rows = [(text(10, 50), text(50, 250), text(30, 210)) for _ in range(n)]
    return [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]


def build_models(size: str, device: str, layers: int, hidden: int):
    """``(reward_model, policy, tokenizer)``: random Qwen2-shaped models over the demo tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, Qwen2Config

    from cvalues_build.evaluation.demo_model import build_demo_tokenizer

    tok = build_demo_tokenizer()
    if size == "1.5b":
        # Qwen2-1.5B's shape, with its real vocabulary: the LM head costs what it really costs.
        shape = dict(vocab_size=151936, hidden_size=1536, intermediate_size=8960, num_hidden_layers=28,
                     num_attention_heads=12, num_key_value_heads=2, max_position_embeddings=32768)
    else:
        heads = max(1, hidden // 64)
        shape = dict(vocab_size=len(tok), hidden_size=hidden, intermediate_size=hidden * 8 // 3,
                     num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads,
                     max_position_embeddings=8192)
    cfg = Qwen2Config(**shape, tie_word_embeddings=True, pad_token_id=tok.pad_token_id, num_labels=1)
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    torch.manual_seed(0)
    reward_model = AutoModelForSequenceClassification.from_config(cfg, dtype=dtype).to(device).eval()
    policy = AutoModelForCausalLM.from_config(cfg, dtype=dtype).to(device).eval()
    return reward_model, policy, tok


def texts(tok, questions, chosen, rejected):
    """Prompt, chosen and rejected conversations through the chat template (as cvalues renders them)."""
    from cvalues_build.evaluation.preference import conversations

    prompts, with_chosen, _ = conversations(tok, questions, chosen, True)
    _, with_rejected, _ = conversations(tok, questions, rejected, True)
    return prompts, with_chosen, with_rejected


def baseline_reward(model, tok, with_chosen, with_rejected):
    import torch

    out, tokens = [], 0
    device = next(model.parameters()).device
    with torch.inference_mode():
        for c, r in zip(with_chosen, with_rejected, strict=True):
            enc = tok([c, r], padding=True, return_tensors="pt", add_special_tokens=False).to(device)
            rewards = model(**enc).logits[:, 0].float().tolist()
            out.append((rewards[0], rewards[1]))
            tokens += int(enc["attention_mask"].sum())
    return out, tokens


def _pair_logps(model, seqs, starts, pad_id):
    import torch

    device = next(model.parameters()).device
    width = max(len(s) for s in seqs)
    ids = torch.tensor([s + [pad_id] * (width - len(s)) for s in seqs], device=device)
    mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in seqs], device=device)
    logps = model(input_ids=ids, attention_mask=mask).logits.float().log_softmax(-1)
    labels = ids[:, 1:]
    per_token = logps[:, :-1].gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    cols = torch.arange(width - 1, device=device)
    keep = (cols[None] >= torch.tensor(starts, device=device)[:, None] - 1) & (mask[:, 1:] == 1)
    return (per_token * keep).double().sum(-1).tolist()


def baseline_dpo(policy, ref, tok, prompts, with_chosen, with_rejected):
    import torch

    out, tokens = [], 0
    with torch.inference_mode():
        for p, c, r in zip(prompts, with_chosen, with_rejected, strict=True):
            prompt = tok(p, add_special_tokens=False)["input_ids"]
            seqs = [tok(t, add_special_tokens=False)["input_ids"] for t in (c, r)]
            starts = [len(prompt) if s[:len(prompt)] == prompt else len(prompt) - 1 for s in seqs]
            logps = _pair_logps(policy, seqs, starts, tok.pad_token_id)
            tokens += sum(len(s) for s in seqs)
            if ref is not None:
                ref_logps = _pair_logps(ref, seqs, starts, tok.pad_token_id)
                logps = [a - b for a, b in zip(logps, ref_logps, strict=True)]
                tokens += sum(len(s) for s in seqs)
            out.append(tuple(logps))
    return out, tokens


def cvalues_reward(model, tok, with_chosen, with_rejected, device):
    from cvalues_build.evaluation.backends.hf import batching
    from cvalues_build.evaluation.encoding import token_ids
    from cvalues_build.evaluation.reward import RewardScorer

    ids = token_ids(tok, with_chosen + with_rejected, add_special_tokens=False)
    n = len(with_chosen)
    scorer = RewardScorer(model, tok)
    return scorer.score(ids[:n], ids[n:], **batching("auto", device)), scorer.tokens_seen


def cvalues_dpo(policy, ref, tok, questions, chosen, rejected, device):
    from cvalues_build.evaluation.backends.hf import batching
    from cvalues_build.evaluation.dpo import PairLogprobScorer, encode_pairs

    pairs = encode_pairs(tok, questions, chosen, rejected, True)
    scorer = PairLogprobScorer(policy, tok)
    reference = PairLogprobScorer(ref, tok) if ref is not None else None
    scores = scorer.score_pairs(pairs, reference=reference, **batching("auto", device))
    if reference is not None:
        scores = [(a - c, b - d) for a, b, c, d in scores]
    seen = scorer.tokens_seen + (reference.tokens_seen if reference is not None else 0)
    return scores, seen, pairs


def compare(name, n, runs, device, repeats):
    """Run cvalues and the baseline ``repeats`` times in turn; print the medians of the wall seconds
    and of this process's CPU seconds (on a loaded machine the wall clock mostly measures the other
    processes), pairs/s, both ratios and how far the two agree."""
    seconds = {k: [] for k in runs}
    cpu = {k: [] for k in runs}
    results = {}
    for _ in range(repeats):
        for key, fn in runs.items():
            started = time.process_time()
            results[key], t = timed(fn, device)
            seconds[key].append(t)
            cpu[key].append(time.process_time() - started)
    ours, base = results["cvalues"][0], results["baseline"][0]
    diff = max(abs(a - b) for x, y in zip(ours, base, strict=True) for a, b in zip(x, y, strict=True))
    agree = sum((x[0] > x[1]) == (y[0] > y[1]) for x, y in zip(ours, base, strict=True)) / n
    for key in runs:
        t = median(seconds[key])
        print(f"{name} {key:<9}: {n / t:9.1f} pairs/s  (median of {repeats}: {t:.2f} s wall, "
              f"{median(cpu[key]):.2f} s CPU; wall runs {', '.join(f'{s:.1f}' for s in seconds[key])} s)")
    print(f"{name}: max |score difference| {diff:.2e}, same preference on {100 * agree:.1f}% of pairs")
    print(f"{name}: ratio cvalues / baseline {median(seconds['baseline']) / median(seconds['cvalues']):.2f}x by wall "
          f"time, {median(cpu['baseline']) / median(cpu['cvalues']):.2f}x by CPU time (goal >= 3x on CPU)")
    return results, median(seconds["cvalues"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--size", choices=("small", "1.5b"), default="small")
    ap.add_argument("--layers", type=int, default=2, help="small models: layers")
    ap.add_argument("--hidden", type=int, default=128, help="small models: hidden size")
    ap.add_argument("--pairs", type=int, default=1000, help="pairs (the issue's figure is 20000)")
    ap.add_argument("--repeats", type=int, default=3, help="runs of each, taking turns; medians are printed")
    ap.add_argument("--ref", action="store_true", help="DPO with a reference model (a second random policy)")
    ap.add_argument("--only", choices=("reward", "dpo"), default=None, help="run one of the two benches")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's, one per core)")
    ap.add_argument("--peak-tflops", type=float, default=PEAK_FLOPS / 1e12, help="GPU peak for MFU (790: H200 bf16)")
    args = ap.parse_args(argv)

    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print("--device cuda: torch sees no GPU", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    reward_model, policy, tok = build_models(args.size, args.device, args.layers, args.hidden)
    ref = None
    if args.ref:
        torch.manual_seed(1)
        ref = type(policy)(policy.config).to(device=args.device, dtype=policy.dtype).eval()
    questions, chosen, rejected = synth_pairs(args.pairs)
    n = args.pairs
    print(f"{n} pairs, {args.size} models ({args.layers} layers x {args.hidden} hidden unless 1.5b), "
          f"device {args.device}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    started = time.perf_counter()
    warm = slice(0, min(8, n))
    if args.only in (None, "reward"):
        _, with_chosen, with_rejected = texts(tok, questions, chosen, rejected)
        cvalues_reward(reward_model, tok, with_chosen[warm], with_rejected[warm], args.device)  # warm-up
        res, t = compare("reward", n, {
            "cvalues": lambda: cvalues_reward(reward_model, tok, with_chosen, with_rejected, args.device),
            "baseline": lambda: baseline_reward(reward_model, tok, with_chosen, with_rejected),
        }, args.device, 1 if args.device == "cuda" else args.repeats)
        if args.device == "cuda":
            gpu_figures("reward", reward_model, res["cvalues"][1], t, 0, args)
    if args.only in (None, "dpo"):
        prompts, with_chosen, with_rejected = texts(tok, questions, chosen, rejected)
        cvalues_dpo(policy, ref, tok, questions[warm], chosen[warm], rejected[warm], args.device)
        res, t = compare("dpo", n, {
            "cvalues": lambda: cvalues_dpo(policy, ref, tok, questions, chosen, rejected, args.device),
            "baseline": lambda: baseline_dpo(policy, ref, tok, prompts, with_chosen, with_rejected),
        }, args.device, 1 if args.device == "cuda" else args.repeats)
        if args.device == "cuda":
            pairs = res["cvalues"][2]
            scored = sum(p.reply_tokens(c) for p in pairs for c in (0, 1)) * (2 if ref is not None else 1)
            gpu_figures("dpo", policy, res["cvalues"][1], t, scored, args)
    print(f"total {time.perf_counter() - started:.0f} s")
    return 0


def gpu_figures(name, model, tokens, seconds, scored, args) -> None:
    """tokens/s and MFU two ways: the 2·params·tokens formula, and the FLOPs computed (the body for
    every token, the LM head only where a reply token is scored; none for a reward model's head)."""
    params = sum(p.numel() for p in model.parameters())
    embed = model.get_input_embeddings().weight.numel()
    lm_head = 2 * model.config.hidden_size * model.config.vocab_size * scored
    counted = 2 * (params - embed) * tokens + lm_head
    measured = matmul_tflops("cuda", "bf16")
    print(f"{name}: GPU {__import__('torch').cuda.get_device_name()}, {tokens / seconds:,.0f} tokens/s, "
          f"bf16 matmul {measured:.0f} TFLOP/s measured")
    for label, flops in (("2*params*tokens", 2 * params * tokens), ("counted FLOPs", counted)):
        print(f"{name}: MFU ({label}) {100 * flops / seconds / (args.peak_tflops * 1e12):.1f}% of "
              f"{args.peak_tflops:g} TFLOP/s, {100 * flops / seconds / (measured * 1e12):.1f}% of measured")


if __name__ == "__main__":
    sys.exit(main())
