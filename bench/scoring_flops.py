"""FLOPs of a scoring run, two ways, for ``scoring_bench.py``'s MFU figures.

- formula: ``2 * params * tokens``, the usual MFU numerator. It charges every token for the
  embedding table and the LM head, which a scorer that keeps logits only where it scores skips.
- computed: what the run's matmuls actually did: the body (``2 * non-embedding params`` per real
  token), causal attention (``4 * attention width`` per (query, key) pair of real tokens, per
  layer: QK^T and AV), and the LM head (``2 * hidden * vocab``) at the positions it produced
  logits for, as the scorer counted them. Padding is not counted in either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ModelShape:
    params: int
    non_embedding: int
    layers: int
    attention_width: int
    hidden: int
    vocab: int

    @classmethod
    def of(cls, model: Any) -> ModelShape:
        cfg = model.config
        heads = cfg.num_attention_heads
        head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // heads
        embedding = model.get_input_embeddings().weight
        head = model.get_output_embeddings().weight
        params = sum(p.numel() for p in model.parameters())  # a tied head is one parameter
        tied = head.data_ptr() == embedding.data_ptr()
        non_embedding = params - embedding.numel() - (0 if tied else head.numel())
        return cls(params=params, non_embedding=non_embedding, layers=cfg.num_hidden_layers,
                   attention_width=heads * head_dim, hidden=cfg.hidden_size, vocab=head.shape[0])


@dataclass(frozen=True)
class Flops:
    formula: float
    body: float
    attention: float
    head: float
    head_positions: int

    @property
    def computed(self) -> float:
        return self.body + self.attention + self.head

    def describe(self, seconds: float) -> str:
        return (f"2*params*tokens {self.formula / 1e12:.3f} TFLOP ({self.formula / seconds / 1e12:.3f} TFLOP/s); "
                f"computed {self.computed / 1e12:.3f} TFLOP ({self.computed / seconds / 1e12:.3f} TFLOP/s) = "
                f"body {self.body / 1e12:.3f} + attention {self.attention / 1e12:.3f} + LM head "
                f"{self.head / 1e12:.3f} at {self.head_positions:,} positions")


def run_flops(shape: ModelShape, scorer: Any) -> Flops:
    """The FLOPs of everything ``scorer`` (a LoglikScorer) has run so far."""
    return Flops(
        formula=2.0 * shape.params * scorer.tokens_seen,
        body=2.0 * shape.non_embedding * scorer.tokens_seen,
        attention=4.0 * shape.layers * shape.attention_width * scorer.attention_pairs,
        head=2.0 * shape.hidden * shape.vocab * scorer.head_positions,
        head_positions=scorer.head_positions,
    )
