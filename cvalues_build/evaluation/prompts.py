"""The open prompts a model answers in free text (``safety_prompts``, ``responsibility_prompts``):
what ``cvalues respond`` sends, as ``PromptRecord``s (the core record the Space's arena draws too)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..core import taxonomy as tx
from ..core.records import PromptRecord
from .items import class_names, test_split

PROMPT_CONFIGS = {"safety_prompts": tx.SAFETY, "responsibility_prompts": tx.RESPONSIBILITY}


@dataclass
class Prompts:
    records: list[PromptRecord]
    fingerprint: str

    @property
    def ids(self) -> list[str]:
        return [r.id for r in self.records]


def check_config(config: str) -> str:
    """The criterion of a prompts config; any other config is refused by name."""
    if config not in PROMPT_CONFIGS:
        raise ValueError(f"--config {config!r} is not a prompts config: use {' or '.join(PROMPT_CONFIGS)}")
    return PROMPT_CONFIGS[config]


def load_prompts(dataset: str, config: str, limit: int | None = None) -> Prompts:
    """The prompts of ``config``'s test split in dataset order; ``limit`` of them shared evenly
    among the categories (``even_share``)."""
    criterion = check_config(config)
    if limit is not None and limit < 1:
        raise ValueError(f"--limit must be at least 1, got {limit}")
    ds = test_split(dataset, config)
    missing = {"id", "category", "prompt"} - set(ds.column_names)
    if missing:
        raise ValueError(f"{dataset} [{config}] is not a prompts config: missing columns {sorted(missing)}")
    categories = class_names(ds, "category")
    sources = ds["source"] if "source" in ds.column_names else [""] * len(ds)
    records = [PromptRecord(id=i, criterion=criterion, category=c, prompt=p, source=s)
               for i, c, p, s in zip(ds["id"], categories, ds["prompt"], sources, strict=True)]
    bad = next((r for r in records if not tx.is_valid(criterion, r.category)), None)
    if bad is not None:
        raise ValueError(f"{dataset} [{config}]: prompt {bad.id} has category {bad.category!r}, not a {criterion} one")
    if limit is not None:
        records = [records[i] for i in even_share([r.category for r in records], limit)]
    return Prompts(records, ds._fingerprint)


def even_share(groups: Sequence[str], limit: int) -> list[int]:
    """Indices of ``limit`` entries (all, if fewer) taken evenly from every group: one from each
    group in turn (groups in order of first appearance, each in its own order) until ``limit``,
    so a short run covers every scenario or domain instead of the first one or two. A group that
    runs out leaves its turn to the others. The indices come back in their original order."""
    members: dict[str, list[int]] = {}
    for i, group in enumerate(groups):
        members.setdefault(group, []).append(i)
    picked: list[int] = []
    depth = 0
    while len(picked) < min(limit, len(groups)):
        for ids in members.values():
            if depth < len(ids) and len(picked) < limit:
                picked.append(ids[depth])
        depth += 1
    return sorted(picked)
