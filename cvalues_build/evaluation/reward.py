"""Sequence-classifier reward models: one scalar per conversation, chosen against rejected.

A pair's two conversations go into the same length-sorted batch (``batching.map_in_order``), so
each batch finishes whole pairs and can be appended to ``predictions.jsonl`` at once. The reward
is the model's own pooled logit: ``AutoModelForSequenceClassification`` reads the last token that
is not the pad id, for left and right padding alike, exactly as a trainer reads it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .batching import map_in_order
from .loglik import _accepts, pad_batch
from .models import load_model

RewardPair = tuple[float, float]


def build_demo_reward_model(seed: int = 0) -> tuple[Any, Any]:
    """``(model, tokenizer)``: the demo model's shape and tokenizer with a one-logit score head
    (random, seeded, meaningless scores), for trying ``--mode reward`` offline."""
    import torch
    from transformers import AutoModelForSequenceClassification

    from .demo_model import build_demo_tokenizer, demo_config

    tokenizer = build_demo_tokenizer()
    config = demo_config(tokenizer)
    config.num_labels = 1
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModelForSequenceClassification.from_config(config, dtype=torch.float32)
    return model.eval(), tokenizer


def load_reward_model(name_or_path: str, dtype: str = "auto", device: str = "auto") -> tuple[Any, Any]:
    """``(model, tokenizer)`` for a one-logit ``AutoModelForSequenceClassification``, in eval mode;
    ``demo`` / ``demo:SEED`` is the built-in random one."""
    model, tokenizer = load_model(name_or_path, dtype=dtype, device=device, reward=True)
    if model.config.num_labels != 1:
        raise ValueError(f"{name_or_path}: a reward model has one output, this one has {model.config.num_labels} "
                         "(num_labels); a classifier's labels are not a reward")
    if model.config.pad_token_id is None:
        # The pooled token is found by the pad id, and batches need one.
        model.config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


class RewardScorer:
    """Rewards of (chosen, rejected) token sequences. ``tokens_seen`` counts real tokens run."""

    def __init__(self, model: Any, tokenizer: Any, padding_side: str | None = None):
        self.model = model
        self.padding_side = padding_side or getattr(tokenizer, "padding_side", "right") or "right"
        pad = model.config.pad_token_id
        # Pad with the id the model pools by, so that a pad is never read as the last token.
        self.pad_id = pad if pad is not None else tokenizer.pad_token_id
        self.device = next(model.parameters()).device
        self._positions = _accepts(model, "position_ids")
        self.tokens_seen = 0

    def rewards(self, seqs: Sequence[Sequence[int]]) -> list[float]:
        """One padded forward over ``seqs``; their rewards as floats."""
        import torch

        ids, mask, _ = pad_batch(seqs, self.pad_id, self.padding_side)
        attention = torch.tensor(mask, device=self.device)
        kwargs: dict[str, Any] = {"input_ids": torch.tensor(ids, device=self.device), "attention_mask": attention}
        if self._positions:
            # Left padding would otherwise shift every real token's position.
            kwargs["position_ids"] = (attention.cumsum(-1) - 1).clamp(min=0)
        with torch.inference_mode():
            logits = self.model(**kwargs).logits
        self.tokens_seen += sum(len(s) for s in seqs)
        return logits[:, 0].float().tolist()

    def score_batch(self, pairs: list[tuple[list[int], list[int]]]) -> list[RewardPair]:
        flat = self.rewards([c for c, _ in pairs] + [r for _, r in pairs])
        n = len(pairs)
        return list(zip(flat[:n], flat[n:], strict=True))

    def score(
        self,
        chosen: Sequence[list[int]],
        rejected: Sequence[list[int]],
        *,
        batch_size: int | None = 16,
        token_budget: int | None = None,
        adaptive: bool = False,
        on_batch: Callable[[list[int], list[RewardPair]], None] | None = None,
    ) -> list[RewardPair]:
        """``(chosen_reward, rejected_reward)`` per pair, in input order; batches longest first.
        A pair runs as two rows of its batch, so its cost is twice its longer conversation."""
        pairs = list(zip(chosen, rejected, strict=True))
        lengths = [2 * max(len(c), len(r)) for c, r in pairs]
        # batch_size counts sequences per forward, as in the other modes: a pair is two of them
        items = None if batch_size is None else max(1, batch_size // 2)
        results = map_in_order(pairs, lengths, self.score_batch, max_items=items, token_budget=token_budget,
                               adaptive=adaptive, on_batch=on_batch)
        return [r for r in results if r is not None]


def naive_reward(model: Any, ids: list[int]) -> float:
    """The reference: one unpadded forward for one conversation. For tests and the bench."""
    import torch

    device = next(model.parameters()).device
    with torch.inference_mode():
        return float(model(input_ids=torch.tensor([ids], device=device)).logits[0, 0].float())
