"""The build's internal records (SPEC: Records). Every importer yields these; nothing downstream
reads a source format.

Each record carries an ``origin`` ("file:line") that is never written to the dataset but lets
validation point at the exact input line.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from typing import Any


def content_id(*parts: object, length: int = 16) -> str:
    """A deterministic id from content, so that rebuilding the same sources gives identical files."""
    h = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8"))
    return h.hexdigest()[:length]


def reply_id(prompt_id: str, model: str, reply: str) -> str:
    """The id of one model's reply to one prompt: a label's ``response_id``, the Space's reply and
    campaign ids, and ``cvalues respond``'s ``response_id``. The same reply text from the same
    model to the same prompt is the same reply, wherever it was generated."""
    return content_id(prompt_id, model, reply)


@dataclass
class _Record:
    origin: str = field(default="", kw_only=True, compare=False, repr=False)

    def to_row(self) -> dict[str, Any]:
        """The record as a dataset row: every field but ``origin``."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "origin"}


@dataclass
class PromptRecord(_Record):
    id: str
    criterion: str
    category: str
    prompt: str
    source: str


@dataclass
class PairRecord(_Record):
    pair_id: str
    prompt_id: str
    criterion: str
    category: str
    question: str
    better: str
    worse: str
    better_type: str
    worse_type: str
    difficulty: str
    source: str
    split: str = "test"


@dataclass
class MCItem(_Record):
    id: str
    pair_id: str
    criterion: str
    category: str
    question: str
    reply_1: str
    reply_2: str
    prompt: str
    label: str
    better_position: int
    difficulty: str
    source: str
    template_version: str


@dataclass
class HumanLabel(_Record):
    """One visitor's label of one reply (the Space's label tab).

    ``prompt`` and ``category`` go beyond the SPEC's minimum: a label can only become a
    multi-choice pair when the question text and its category travel with it.
    """

    response_id: str
    prompt_id: str
    model: str
    reply: str
    criterion: str
    safe: bool | None
    score: int | None = field(metadata={"kind": "int8"})
    annotator: str
    created_at: str
    prompt: str = ""
    category: str = ""


@dataclass
class Battle(_Record):
    """One arena vote between two anonymous models."""

    battle_id: str
    prompt_id: str
    criterion: str
    model_a: str
    model_b: str
    reply_a: str
    reply_b: str
    winner: str  # model_a | model_b | tie | both_bad
    anonymous: bool
    annotator: str
    created_at: str
    prompt: str = ""
    category: str = ""


WINNERS = ("model_a", "model_b", "tie", "both_bad")


def make_pair(
    *,
    criterion: str,
    category: str,
    question: str,
    better: str,
    worse: str,
    difficulty: str,
    source: str,
    better_type: str = "",
    worse_type: str = "",
    split: str = "test",
    origin: str = "",
) -> PairRecord:
    """A pair with content-hash ids (the prompt id depends on the question alone, so that pairs
    from one prompt share it and leakage checks can compare splits by prompt)."""
    prompt_id = content_id(criterion, question)
    return PairRecord(
        pair_id=content_id(prompt_id, better, worse),
        prompt_id=prompt_id,
        criterion=criterion,
        category=category,
        question=question,
        better=better,
        worse=worse,
        better_type=better_type,
        worse_type=worse_type,
        difficulty=difficulty,
        source=source,
        split=split,
        origin=origin,
    )


def make_prompt(*, criterion: str, category: str, prompt: str, source: str, origin: str = "") -> PromptRecord:
    return PromptRecord(
        id=content_id(criterion, prompt), criterion=criterion, category=category, prompt=prompt,
        source=source, origin=origin,
    )
