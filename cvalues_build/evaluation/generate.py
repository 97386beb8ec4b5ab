"""Generation mode: the model writes its answer (greedy, batched, left-padded), and the metric's
parser reads it, as the paper's automatic evaluation does."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .batching import map_in_order
from .encoding import token_ids

DEFAULT_MAX_NEW_TOKENS = 16


def has_chat_template(tokenizer: Any) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def build_inputs(tokenizer: Any, prompts: Sequence[str], use_chat_template: bool) -> tuple[list[list[int]], bool]:
    """Token ids per prompt, and whether the chat template was applied. The template is used
    when asked for and the tokenizer has one; templated text already holds its special tokens.
    The texts go through the tokenizer in batched calls."""
    chat = use_chat_template and has_chat_template(tokenizer)
    if chat:
        texts = [chat_text(tokenizer, prompt) for prompt in prompts]
        return token_ids(tokenizer, texts, add_special_tokens=False), chat
    return token_ids(tokenizer, prompts), chat


def chat_text(tokenizer: Any, prompt: str) -> str:
    """The prompt as one user turn, rendered with the chat template up to the reply."""
    return tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                         add_generation_prompt=True)


class Generator:
    """Batched generation, greedy unless ``sampling`` (extra ``generate`` arguments such as
    ``do_sample``, ``temperature``, ``top_p``) says otherwise; ``tokens_seen`` counts prompt plus
    generated tokens."""

    def __init__(self, model: Any, tokenizer: Any, max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
                 sampling: dict[str, Any] | None = None):
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
        self.model = model
        self.tokenizer = tokenizer
        self.max_new_tokens = max_new_tokens
        self.decoding = {"do_sample": False, "temperature": None, "top_p": None, "top_k": None, **(sampling or {})}
        self.device = next(model.parameters()).device
        pad = tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else tokenizer.eos_token_id
        self.tokens_seen = 0

    def generate_batch(self, inputs: list[list[int]]) -> list[str]:
        import torch

        width = max(len(s) for s in inputs)
        # Left padding: every row's last real token sits at the same column, where generation starts.
        ids = torch.tensor([[self.pad_id] * (width - len(s)) + s for s in inputs], device=self.device)
        mask = torch.tensor([[0] * (width - len(s)) + [1] * len(s) for s in inputs], device=self.device)
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=ids, attention_mask=mask, max_new_tokens=self.max_new_tokens,
                pad_token_id=self.pad_id, num_beams=1, **self.decoding,
            )
        new = out[:, width:]
        rows = []
        eos = self.tokenizer.eos_token_id
        for row in new.tolist():
            # Cut at the first eos: later tokens are padding added for rows that finished early.
            if eos is not None and eos in row:
                row = row[: row.index(eos)]
            self.tokens_seen += len(row)
            rows.append(row)
        self.tokens_seen += int(mask.sum())
        return self.tokenizer.batch_decode(rows, skip_special_tokens=True)

    def generate(
        self,
        inputs: Sequence[list[int]],
        *,
        batch_size: int | None = 16,
        token_budget: int | None = None,
        adaptive: bool = False,
        on_batch: Callable[[list[int], list[str]], None] | None = None,
    ) -> list[str]:
        """Generations in the original order; batches run longest first."""
        lengths = [len(s) + self.max_new_tokens for s in inputs]
        results = map_in_order(inputs, lengths, self.generate_batch, max_items=batch_size,
                               token_budget=token_budget, adaptive=adaptive, on_batch=on_batch)
        return [r or "" for r in results]
