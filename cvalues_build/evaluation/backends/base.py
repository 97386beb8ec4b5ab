"""The backend interface: what ``cvalues eval``, ``cvalues respond`` and the Space's arena need
from a model, whatever serves it (transformers in this process, an OpenAI-compatible server, ...).

- ``generate``: replies to many prompts, batched however the backend batches best, handed to
  ``on_batch`` as each batch finishes (so callers append them crash-safely) and returned in order.
- ``stream``: one reply, piece by piece as it is produced (the arena shows it live).
- ``loglik``: log-probabilities of a few continuations of each context (loglik mode). Optional:
  a backend without next-token log-probabilities leaves ``supports_loglik`` False, and ``loglik``
  raises ``LoglikUnsupported`` naming the model and what to use instead.

No torch and no HTTP client here: a backend imports what it needs when it is opened.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar, TypeVar

T = TypeVar("T")
# ``on_batch(indices, results)``: the input positions of a finished batch and their results.
Progress = Callable[[list[int], list[T]], None]


def parse_batch_size(batch_size: str | int) -> int | None:
    """``--batch-size``: a positive number of items per batch, or None for ``auto`` (each
    backend's own choice: a token budget for hf, the concurrency for a server)."""
    if batch_size == "auto":
        return None
    try:
        n = int(batch_size)
    except (TypeError, ValueError):
        n = 0
    if n < 1:
        raise ValueError(f"--batch-size must be auto or a positive integer, got {batch_size!r}")
    return n


class BackendError(ValueError):
    """A model that cannot be opened or used as asked; the message names the model."""


class LoglikUnsupported(BackendError):
    """The backend gives no next-token log-probabilities (loglik mode needs them)."""


@dataclass(frozen=True)
class GenerationSettings:
    """How replies are generated; recorded with every run. Greedy unless ``do_sample``."""

    max_new_tokens: int = 16
    do_sample: bool = False
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    repetition_penalty: float | None = None
    seed: int | None = None
    chat_template: bool = True  # wrap the prompt as a user turn when the model has a template

    def __post_init__(self) -> None:
        if isinstance(self.max_new_tokens, bool) or not isinstance(self.max_new_tokens, int) or self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be a positive integer, got {self.max_new_tokens!r}")
        if self.temperature is not None and self.temperature < 0:
            raise ValueError(f"temperature must be at least 0, got {self.temperature}")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> GenerationSettings:
        """Settings from a models file's ``generation:`` block or CLI flags; unknown keys are errors."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown generation settings {unknown}: use {', '.join(sorted(known))}")
        return cls(**dict(values))

    def sampling(self) -> dict[str, Any]:
        """The sampling knobs in force: none when greedy (they would mean nothing)."""
        if not self.do_sample:
            return {}
        knobs = {"temperature": self.temperature, "top_p": self.top_p, "top_k": self.top_k}
        return {k: v for k, v in knobs.items() if v is not None}

    def record(self) -> dict[str, Any]:
        """What ``results.json`` keeps: every setting that was set."""
        return {k: v for k, v in asdict(self).items() if v is not None}


class Backend(ABC):
    """A model behind one interface. Subclasses set ``kind`` (their registry name) and are built
    as ``Backend(target, **options)`` by ``open_backend``; ``check(target)`` runs first and must be
    cheap (no model load, no network), so that a wrong name fails at once."""

    kind: ClassVar[str] = ""
    supports_loglik: ClassVar[bool] = False

    def __init__(self, target: str):
        self.target = target

    @classmethod
    def check(cls, target: str) -> None:
        """Refuse a target that cannot work, before anything is loaded or sent."""
        return None

    def describe(self) -> dict[str, Any]:
        """What ran, for ``results.json``: at least the backend and the model."""
        return {"backend": self.kind, "model": self.target}

    def usage(self) -> dict[str, int]:
        """Tokens processed so far (prompt and generated), for throughput and cost."""
        return {"tokens": 0}

    def applies_chat_template(self, settings: GenerationSettings) -> bool:
        """Whether ``generate`` wraps prompts as a chat turn under ``settings`` (the answer parser
        reads a continued prompt differently from a chat reply)."""
        return settings.chat_template

    @abstractmethod
    def generate(self, prompts: Sequence[str], settings: GenerationSettings,
                 on_batch: Progress[str] | None = None) -> list[str]:
        """The reply to each prompt, in input order."""

    @abstractmethod
    def stream(self, prompt: str, settings: GenerationSettings) -> Iterator[str]:
        """The reply to one prompt, as text pieces in order; a failure raises after the pieces so far."""

    def loglik(self, contexts: Sequence[str], continuations: Sequence[str],
               on_batch: Progress[list[float]] | None = None) -> list[list[float]]:
        """``[item][choice]``: log P(continuation | context), summed over its tokens."""
        raise LoglikUnsupported(
            f"model {self.target!r} (backend {self.kind!r}) gives no next-token log-probabilities, "
            "which loglik mode needs: use --mode generate"
        )

    def move_to(self, device: str) -> None:
        """Run on ``device`` from now on. The Space on ZeroGPU loads every model on the CPU at
        start-up and moves it to "cuda" inside each GPU call; a backend with nothing local to move
        (an API) ignores it."""
        return None

    def close(self) -> None:
        """Release what the backend holds (connections, threads)."""
        return None
