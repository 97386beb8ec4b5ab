"""Log-likelihood scoring of multi-choice continuations.

Every cvalues prompt ends with "答案：回复", so the choices "1" and "2" share everything but their
last token: one forward pass over the shared part gives the log-probability of every choice at
the final position (plus any shared continuation tokens before it). Choices that differ earlier
fall back to a shared-prefix pass: the common prefix runs once, its KV cache is copied, and
only the differing suffixes run per choice.

Batches are sorted longest first and cut by a token budget; padding may be on either side, with
explicit position ids so that left padding gives the same numbers as right padding. The leading
tokens every item of a batch shares (a config's instructions) run once, and the rows continue from
copies of their KV cache.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

from .batching import map_in_order
from .encoding import Request, encode_request, encode_requests, request_from_ids, token_ids
from .encoding import common_prefix_len as _common_prefix_len

__all__ = ["LoglikScorer", "Request", "encode_request", "encode_requests", "naive_logprobs", "pad_batch",
           "request_from_ids", "token_ids"]

Progress = Callable[[list[int], list[list[float]]], None]
# A batch's common leading tokens run once, in a pass of their own, from this many on.
MIN_SHARED_PREFIX = 16


def _accepts(model: Any, name: str) -> bool:
    try:
        return name in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return False


def _cache_arg(model: Any) -> str:
    """transformers 5 calls the KV cache ``cache``; 4.x called it ``past_key_values``."""
    return "cache" if _accepts(model, "cache") else "past_key_values"


def _output_cache(out: Any) -> Any:
    cache = out.get("cache") if hasattr(out, "get") else None
    return cache if cache is not None else out.past_key_values


def pad_batch(seqs: Sequence[Sequence[int]], pad_id: int, side: str) -> tuple[list[list[int]], list[list[int]], list[int]]:
    """``(input_ids, attention_mask, offsets)``: ``offsets[i]`` is where row i's tokens begin."""
    if side not in ("left", "right"):
        raise ValueError(f"padding side must be left or right, got {side!r}")
    width = max(len(s) for s in seqs)
    ids, mask, offsets = [], [], []
    for s in seqs:
        pad = width - len(s)
        if side == "right":
            ids.append(list(s) + [pad_id] * pad)
            mask.append([1] * len(s) + [0] * pad)
            offsets.append(0)
        else:
            ids.append([pad_id] * pad + list(s))
            mask.append([0] * pad + [1] * len(s))
            offsets.append(pad)
    return ids, mask, offsets


class LoglikScorer:
    """Scores requests with a causal LM. ``tokens_seen`` counts the real (unpadded) tokens run,
    ``head_positions`` the positions the LM head computed logits for (padded rows included), and
    ``attention_pairs`` the causal (query, key) pairs of real tokens: the bench counts the FLOPs
    actually computed from them."""

    def __init__(self, model: Any, tokenizer: Any, padding_side: str | None = None):
        self.model = model
        self.tokenizer = tokenizer
        self.padding_side = padding_side or getattr(tokenizer, "padding_side", "right") or "right"
        pad = tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else (tokenizer.eos_token_id or 0)
        self.device = next(model.parameters()).device
        self.tokens_seen = 0
        self.head_positions = 0
        self.attention_pairs = 0
        self._positions = _accepts(model, "position_ids")
        self._keep = _accepts(model, "logits_to_keep")
        self._cache_name = _cache_arg(model)

    # -- the batched pass over ``tokens`` ---------------------------------------------------------
    def _forward_rows(self, seqs: list[list[int]], wanted: list[list[int]], use_cache: bool = False,
                      past: tuple[Any, int] | None = None):
        """Run a padded batch; return per row the float32 log-softmax at the original positions
        ``wanted[row]`` (shape [len(wanted[row]), vocab]) and the model output. With ``past``
        (a KV cache holding every row's first ``n`` tokens, and ``n``), ``seqs`` are the rows'
        tokens after those, and ``wanted`` counts from there."""
        import torch

        ids, mask, offsets = pad_batch(seqs, self.pad_id, self.padding_side)
        input_ids = torch.tensor(ids, device=self.device)
        attention = torch.tensor(mask, device=self.device)
        done = past[1] if past is not None else 0
        kwargs: dict[str, Any] = {"input_ids": input_ids, "use_cache": use_cache}
        if self._positions:
            # Left padding would otherwise shift every real token's position; pads get position 0.
            kwargs["position_ids"] = (attention.cumsum(-1) - 1).clamp(min=0) + done
        if past is not None:
            kwargs[self._cache_name] = past[0]
            attention = torch.cat([attention.new_ones((len(seqs), done)), attention], dim=1)
        kwargs["attention_mask"] = attention
        padded = [[p + off for p in want] for want, off in zip(wanted, offsets, strict=True)]
        keep = sorted({p for row in padded for p in row})
        if self._keep:
            # Only the scored positions go through the LM head: the full vocab x length logits are
            # the biggest tensor of the pass and almost all of it would be thrown away.
            kwargs["logits_to_keep"] = torch.tensor(keep, device=self.device)
        out = self.model(**kwargs)
        logits = out.logits
        column = {p: j for j, p in enumerate(keep)} if self._keep else None
        rows = []
        for r, row in enumerate(padded):
            cols = [column[p] for p in row] if column is not None else row
            rows.append(logits[r, cols].float().log_softmax(-1))
        self.tokens_seen += sum(len(s) for s in seqs)
        self.head_positions += len(seqs) * (len(keep) if self._keep else len(ids[0]))
        self.attention_pairs += sum(len(s) * done + len(s) * (len(s) + 1) // 2 for s in seqs)
        return rows, out

    def _batch_prefix(self, reqs: list[Request]) -> int:
        """How many leading tokens every request of the batch shares and none of them scores
        (0 when too few to be worth a separate pass). Every item of a cvalues config starts with
        the same instructions, about a fifth of its tokens."""
        if len(reqs) < 2 or (self.padding_side == "left" and not self._positions):
            return 0
        shared = min(_common_prefix_len([r.tokens for r in reqs]), min(min(r.starts) for r in reqs) - 1)
        return shared if shared >= MIN_SHARED_PREFIX else 0

    def _prefix_cache(self, prefix: list[int], rows: int) -> tuple[Any, int]:
        """The KV cache of ``prefix``, run once and repeated for ``rows`` rows."""
        _, out = self._forward_rows([prefix], [[len(prefix) - 1]], use_cache=True)
        cache = _output_cache(out)
        cache.batch_repeat_interleave(rows)
        return cache, len(prefix)

    def _score_single_pass(self, reqs: list[Request]) -> list[list[float]]:
        shared = self._batch_prefix(reqs)
        past = self._prefix_cache(reqs[0].tokens[:shared], len(reqs)) if shared else None
        # logits at position p predict token p + 1
        wanted = [list(range(min(r.starts) - 1 - shared, len(r.tokens) - shared)) for r in reqs]
        rows, _ = self._forward_rows([r.tokens[shared:] for r in reqs], wanted, use_cache=past is not None, past=past)
        results = []
        for req, lp in zip(reqs, rows, strict=True):
            first = min(req.starts)
            shared_tokens = req.tokens[first:]
            shared_lp = lp[:-1].gather(-1, _col(shared_tokens, lp.device)).squeeze(-1) if shared_tokens else None
            item = []
            for start, last in zip(req.starts, req.last or [], strict=True):
                total = float(lp[-1, last])
                if shared_lp is not None:
                    total += float(shared_lp[start - first:].sum())
                item.append(total)
            results.append(item)
        return results

    def _score_shared_prefix(self, req: Request) -> list[float]:
        """The fallback: the prefix once with a KV cache, then every choice's suffix on a copy."""
        import torch

        suffixes = req.suffixes or []
        cut = len(req.tokens)
        first = min(req.starts)
        wanted = list(range(min(first, cut) - 1, cut))
        rows, out = self._forward_rows([req.tokens], [wanted], use_cache=True)
        prefix_lp = rows[0]  # row j is position wanted[j]
        cache = _output_cache(out)
        k = len(suffixes)
        cache.batch_repeat_interleave(k)
        width = max(len(s) for s in suffixes)
        ids = torch.tensor([s + [self.pad_id] * (width - len(s)) for s in suffixes], device=self.device)
        # Right-padded suffixes: causal attention keeps pads out of every real position.
        attention = torch.ones((k, cut + width), dtype=torch.long, device=self.device)
        kwargs: dict[str, Any] = {"input_ids": ids, "attention_mask": attention, self._cache_name: cache, "use_cache": True}
        if self._positions:
            kwargs["position_ids"] = torch.arange(cut, cut + width, device=self.device).expand(k, -1)
        suffix_lp = self.model(**kwargs).logits.float().log_softmax(-1)
        self.tokens_seen += sum(len(s) for s in suffixes)
        self.head_positions += k * width
        self.attention_pairs += sum(len(s) * cut + len(s) * (len(s) + 1) // 2 for s in suffixes)
        results = []
        for c, (suffix, start) in enumerate(zip(suffixes, req.starts, strict=True)):
            full = req.tokens + suffix
            total = 0.0
            for p in range(start, len(full)):
                # token p is predicted by position p - 1: in the prefix pass, or in the suffix pass
                if p - 1 < cut:
                    total += float(prefix_lp[p - 1 - wanted[0], full[p]])
                else:
                    total += float(suffix_lp[c, p - 1 - cut, full[p]])
            results.append(total)
        return results

    def score_batch(self, reqs: list[Request]) -> list[list[float]]:
        """Log-probabilities, ``[item][choice]``, for one batch of requests."""
        import torch

        with torch.inference_mode():
            single = [i for i, r in enumerate(reqs) if r.single_pass]
            out: list[list[float] | None] = [None] * len(reqs)
            if single:
                for i, res in zip(single, self._score_single_pass([reqs[i] for i in single]), strict=True):
                    out[i] = res
            for i, r in enumerate(reqs):
                if not r.single_pass:
                    out[i] = self._score_shared_prefix(r)
        return [o for o in out if o is not None]

    def score(
        self,
        requests: Sequence[Request],
        *,
        batch_size: int | None = 16,
        token_budget: int | None = None,
        adaptive: bool = False,
        on_batch: Progress | None = None,
    ) -> list[list[float]]:
        """Score all requests, longest first in batches, and return them in the original order.
        ``on_batch(indices, logprobs)`` is called as each batch finishes (for crash-safe writes)."""
        lengths = [max(len(r.tokens), max(r.full_lengths, default=0)) for r in requests]
        results = map_in_order(requests, lengths, self.score_batch, max_items=batch_size,
                               token_budget=token_budget, adaptive=adaptive, on_batch=on_batch)
        return [r if r is not None else [] for r in results]


def _col(tokens: list[int], device: Any):
    import torch

    return torch.tensor(tokens, device=device).unsqueeze(-1)


def naive_logprobs(model: Any, tokenizer: Any, context: str, continuations: Sequence[str]) -> list[float]:
    """The reference: one separate, unpadded, full forward per choice. For tests and the bench."""
    import torch

    out = []
    ctx = tokenizer(context)["input_ids"]
    device = next(model.parameters()).device
    with torch.inference_mode():
        for c in continuations:
            full = tokenizer(context + c)["input_ids"]
            start = _common_prefix_len([ctx, full])
            logits = model(input_ids=torch.tensor([full], device=device)).logits[0].float().log_softmax(-1)
            out.append(float(sum(logits[p - 1, full[p]] for p in range(start, len(full)))))
    return out
