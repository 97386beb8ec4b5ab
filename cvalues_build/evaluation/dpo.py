"""DPO policies as reward models: a reply's log-probability given the prompt, and the implicit reward.

With a reference model the reward of a reply is ``log π(reply | prompt) − log π_ref(reply | prompt)``,
summed over the reply's tokens (DPO's implicit reward with β = 1: β scales every margin alike and
changes no comparison). Without one, the policy's own log-probability is the reward, normalised by
``--dpo-norm``:

- ``avg`` (the default): the mean log-probability per reply token. A sum of log-probabilities
  falls with every token, so it prefers the shorter reply whatever it says; in CValues-Comparison
  the better (responsible) reply is usually the longer one, so ``sum`` would mostly measure
  length. With a reference model the reference's log-probability takes that length term out, so
  no normalisation is applied. RewardBench's default for reference-free scoring is also ``avg``.
- ``sum``: the total log-probability, for comparison with tools that use it.

The reply's tokens are everything the conversation adds after the prompt: the reply and the
template's end-of-turn tokens (a policy that knows when to stop is part of its preference).

Both replies of a pair share the prompt, so a batch runs the prompts once (the loglik scorer's
padded forward, with its padding sides and position ids) and keeps their KV cache, then runs the
two replies of every pair in a second pass on a copy of that cache.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .batching import map_in_order
from .encoding import common_prefix_len, token_ids
from .loglik import LoglikScorer, _cache_arg, _output_cache, pad_batch
from .preference import conversations

DPO_NORMS = ("avg", "sum")
DEFAULT_DPO_NORM = "avg"


@dataclass
class PairTokens:
    """A pair's two conversations as one shared ``prefix`` and the two remainders (chosen,
    rejected; at least one token each). ``starts[c]`` is where reply c's scored tokens begin in
    ``prefix + suffixes[c]``: the first token that differs from the prompt alone."""

    prefix: list[int]
    suffixes: tuple[list[int], list[int]]
    starts: tuple[int, int]

    def reply_tokens(self, c: int) -> int:
        return len(self.prefix) + len(self.suffixes[c]) - self.starts[c]

    def full(self, c: int) -> list[int]:
        return self.prefix + self.suffixes[c]


def pair_tokens(prompt: list[int], chosen: list[int], rejected: list[int]) -> PairTokens:
    """Split a pair's tokenised conversations. Tokenisers may merge across the prompt/reply
    boundary, so a reply is scored from the first token that differs from the prompt alone."""
    fulls = (chosen, rejected)
    starts = [common_prefix_len([prompt, f]) for f in fulls]
    for name, start, full in zip(("chosen", "rejected"), starts, fulls, strict=True):
        if start == 0:
            raise ValueError("the prompt encodes to no tokens, so the reply's first token has nothing to condition on")
        if start >= len(full):
            raise ValueError(f"the {name} reply adds no tokens after the prompt")
    # Keep at least one token in each remainder, so each reply's last token is its own row's.
    cut = min(common_prefix_len(list(fulls)), min(len(f) for f in fulls) - 1)
    return PairTokens(chosen[:cut], (chosen[cut:], rejected[cut:]), (starts[0], starts[1]))


def encode_pairs(tokenizer: Any, questions: list[str], chosen: list[str], rejected: list[str],
                 use_chat_template: bool) -> list[PairTokens]:
    """Every pair's tokens, from one batched tokenizer call over all prompts and conversations."""
    prompts, with_chosen, special = conversations(tokenizer, questions, chosen, use_chat_template)
    _, with_rejected, _ = conversations(tokenizer, questions, rejected, use_chat_template)
    ids = token_ids(tokenizer, prompts + with_chosen + with_rejected, special)
    n = len(questions)
    return [pair_tokens(ids[k], ids[n + k], ids[2 * n + k]) for k in range(n)]


def implicit_reward(logprob: float, n_tokens: int, ref_logprob: float | None, norm: str) -> float:
    """A reply's reward from its summed log-probability (and the reference's, when there is one)."""
    if ref_logprob is not None:
        return logprob - ref_logprob
    if norm == "sum":
        return logprob
    if norm == "avg":
        return logprob / n_tokens
    raise ValueError(f"unknown --dpo-norm {norm!r}: use one of {', '.join(DPO_NORMS)}")


class PairLogprobScorer(LoglikScorer):
    """``(log p(chosen | prompt), log p(rejected | prompt))`` per pair, summed over reply tokens."""

    def __init__(self, model: Any, tokenizer: Any, padding_side: str | None = None):
        super().__init__(model, tokenizer, padding_side=padding_side)
        self._split = split_head(model)

    def score_batch(self, pairs: list[PairTokens]) -> list[tuple[float, float]]:  # type: ignore[override]
        import torch

        with torch.inference_mode():
            prompt_pass = self._prefix_split if self._split is not None else self._prefix_whole
            totals, cache = prompt_pass(pairs)
            if max(len(s) for p in pairs for s in p.suffixes) > 1:
                totals = [a + b for a, b in zip(totals, self._suffix_logprobs(pairs, cache), strict=True)]
        return [(totals[2 * k], totals[2 * k + 1]) for k in range(len(pairs))]

    @staticmethod
    def _prefix_targets(pairs: list[PairTokens]) -> list[tuple[int, int, int, int]]:
        """``(pair, position, token, slot)`` for every reply token the prompt pass predicts: token p
        is predicted by position p - 1, so the prefix covers p <= cut; slot 2k + c is pair k's reply c."""
        out = []
        for k, pair in enumerate(pairs):
            for c in (0, 1):
                full = pair.full(c)
                out += [(k, p - 1, full[p], 2 * k + c) for p in range(pair.starts[c], len(pair.prefix) + 1)]
        return out

    def _prefix_whole(self, pairs: list[PairTokens]) -> tuple[list[float], Any]:
        """The prompt pass through the loglik scorer's padded forward (the model run whole)."""
        firsts = [min(p.starts) for p in pairs]
        wanted = [list(range(f - 1, len(p.prefix))) for f, p in zip(firsts, pairs, strict=True)]
        rows, out = self._forward_rows([p.prefix for p in pairs], wanted, use_cache=True)
        totals = [0.0] * (2 * len(pairs))
        for k, position, token, slot in self._prefix_targets(pairs):
            totals[slot] += float(rows[k][position + 1 - firsts[k], token])
        return totals, _output_cache(out)

    def _prefix_split(self, pairs: list[PairTokens]) -> tuple[list[float], Any]:
        """The prompt pass through the body, and the head only at the positions that predict a
        reply token (one or two per pair), wherever the padding puts them."""
        import torch

        body, head, _ = self._split
        ids, mask, offsets = pad_batch([p.prefix for p in pairs], self.pad_id, self.padding_side)
        attention = torch.tensor(mask, device=self.device)
        kwargs: dict[str, Any] = {"input_ids": torch.tensor(ids, device=self.device), "attention_mask": attention,
                                  "use_cache": True}
        if self._positions:
            kwargs["position_ids"] = (attention.cumsum(-1) - 1).clamp(min=0)
        out = body(**kwargs)
        rows, cols, tokens, slots = (torch.tensor(x, device=self.device)
                                     for x in zip(*self._prefix_targets(pairs), strict=True))
        cols = cols + torch.tensor(offsets, device=self.device)[rows]
        token_lp = _head_logprobs(head, out.last_hidden_state[rows, cols], tokens)
        self.tokens_seen += sum(len(p.prefix) for p in pairs)
        sums = torch.zeros(2 * len(pairs), dtype=torch.float64, device=self.device)
        return sums.index_add_(0, slots, token_lp.double()).tolist(), _output_cache(out)

    def _suffix_logprobs(self, pairs: list[PairTokens], cache: Any) -> list[float]:
        """Both remainders of every pair on a copy of the prompt pass's cache (rows chosen 0,
        rejected 0, chosen 1, ...): the summed log-probs of their scored tokens after the first."""
        import torch

        _, prefix_mask, _ = pad_batch([p.prefix for p in pairs], self.pad_id, self.padding_side)
        cache.batch_repeat_interleave(2)
        suffixes = [s for p in pairs for s in p.suffixes]
        width = max(len(s) for s in suffixes)
        ids = torch.tensor([s + [self.pad_id] * (width - len(s)) for s in suffixes], device=self.device)
        lengths = torch.tensor([len(s) for s in suffixes], device=self.device)
        cols = torch.arange(width, device=self.device)
        # Right-padded remainders: causal attention keeps their pads out of every real position.
        real = (cols < lengths[:, None]).long()
        past = torch.tensor(prefix_mask, device=self.device).repeat_interleave(2, dim=0)
        kwargs: dict[str, Any] = {"input_ids": ids, "attention_mask": torch.cat([past, real], dim=1), "use_cache": True}
        if self._positions:
            cuts = torch.tensor([len(p.prefix) for p in pairs], device=self.device).repeat_interleave(2)
            kwargs["position_ids"] = cuts[:, None] + cols
        # remainder position j predicts its token j + 1, the conversation's token cut + j + 1
        starts = torch.tensor([p.starts[c] - len(p.prefix) for p in pairs for c in (0, 1)], device=self.device)
        scored = (cols[:-1] >= (starts - 1).clamp(min=0)[:, None]) & (cols[:-1] < lengths[:, None] - 1)
        rows, positions = scored.nonzero(as_tuple=True)
        targets = ids[rows, positions + 1]
        if self._split is not None:
            body, head, cache_name = self._split
            hidden = body(**kwargs, **{cache_name: cache}).last_hidden_state
            token_lp = _head_logprobs(head, hidden[rows, positions], targets)
        else:
            if self._keep:
                kwargs["logits_to_keep"] = cols[:-1]  # the last position predicts nothing scored
            logits = self.model(**kwargs, **{self._cache_name: cache}).logits[rows, positions].float()
            token_lp = logits.gather(-1, targets[:, None]).squeeze(-1) - logits.logsumexp(-1)
        self.tokens_seen += int(lengths.sum())
        # summed in float64: a reply has hundreds of tokens, and float32 sums drift by 1e-4 and more
        sums = torch.zeros(len(suffixes), dtype=torch.float64, device=self.device)
        return sums.index_add_(0, rows, token_lp.double()).tolist()

    def score_pairs(
        self,
        pairs: Sequence[PairTokens],
        *,
        batch_size: int | None = 16,
        token_budget: int | None = None,
        adaptive: bool = False,
        on_batch: Callable[[list[int], list[tuple[float, float]]], None] | None = None,
        reference: PairLogprobScorer | None = None,
    ) -> list[tuple[float, ...]]:
        """Per pair ``(chosen, rejected)`` log-probs, or with ``reference`` ``(chosen, rejected,
        ref_chosen, ref_rejected)``, in input order; batches longest first, both models on each
        batch before it is reported, so that a finished batch is a finished set of rows."""

        def run(batch: list[PairTokens]) -> list[tuple[float, ...]]:
            ours = self.score_batch(batch)
            if reference is None:
                return ours
            return [(*a, *b) for a, b in zip(ours, reference.score_batch(batch), strict=True)]

        # a pair is its prompt once and two remainders: twice the longer one, in padded tokens
        lengths = [len(p.prefix) + 2 * max(len(s) for s in p.suffixes) for p in pairs]
        items = None if batch_size is None else max(1, batch_size // 2)
        results = map_in_order(list(pairs), lengths, run, max_items=items, token_budget=token_budget,
                               adaptive=adaptive, on_batch=on_batch)
        return [r for r in results if r is not None]


# Rows of the LM head computed at once: a bound on the [rows, vocabulary] logits held in memory
# (about 1 GiB in float32 whatever the vocabulary).
HEAD_CHUNK_ELEMENTS = 1 << 28


def split_head(model: Any) -> tuple[Any, Any, str] | None:
    """``(body, lm_head, cache argument)`` when the model's logits are ``lm_head(body(x))``, checked
    on a short probe; None otherwise (a model that scales or caps its logits), which then runs
    whole. With the two apart, the head runs only at the positions that are scored: not at the
    padding of the shorter reply, which a batch of both replies always has."""
    import torch

    body = getattr(model, getattr(model, "base_model_prefix", ""), None)
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if not isinstance(body, torch.nn.Module) or not isinstance(head, torch.nn.Linear):
        return None
    probe = torch.arange(1, 5, device=next(model.parameters()).device)[None]
    try:
        with torch.inference_mode():
            whole = model(input_ids=probe).logits.float()
            split = head(body(input_ids=probe).last_hidden_state).float()
    except (TypeError, AttributeError, RuntimeError):
        return None
    if split.shape != whole.shape or not torch.allclose(split, whole, rtol=1e-4, atol=1e-4):
        return None
    return body, head, _cache_arg(body)


def _head_logprobs(head: Any, hidden: Any, targets: Any) -> Any:
    """log p(target) at each row of ``hidden`` ([n, d]), the head applied in chunks."""
    import torch

    rows = max(1, HEAD_CHUNK_ELEMENTS // head.out_features)
    out = []
    for lo in range(0, hidden.shape[0], rows):
        # log_softmax then gather: on CPU about twice as fast as logsumexp, whose kernel is slower
        logits = head(hidden[lo:lo + rows]).float()
        out.append(logits.log_softmax(-1).gather(-1, targets[lo:lo + rows, None]).squeeze(-1))
    return torch.cat(out) if out else hidden.new_zeros(0, dtype=torch.float32)


def naive_reply_logprob(model: Any, full: list[int], start: int) -> float:
    """The reference: one separate, unpadded, full forward per (prompt, reply). For tests and the bench."""
    import torch

    device = next(model.parameters()).device
    with torch.inference_mode():
        lp = model(input_ids=torch.tensor([full], device=device)).logits[0].double().log_softmax(-1)
    targets = torch.tensor(full[start:], device=device)
    return float(lp[start - 1 : len(full) - 1].gather(-1, targets[:, None]).sum())
