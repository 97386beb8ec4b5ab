"""Preference pairs for the reward and DPO modes: (prompt, chosen, rejected) recovered from a
multi-choice config, and the conversations a model scores.

Every MC config holds each pair twice, once per order; the row with ``better_position == 1`` has
the better reply as ``reply_1``, so it alone gives the pair. Both rows are kept (``mc_rows``) so
that ``--with-mc`` can ask the same model the multi-choice question on exactly these pairs.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from ..core.taxonomy import UNSPECIFIED

PAIR_COLUMNS = ("id", "pair_id", "category", "question", "reply_1", "reply_2", "better_position", "difficulty",
                "prompt", "label", "template_version")


@dataclass
class Pairs:
    """One entry per pair, in dataset order. ``mc_rows[k]`` are pair k's two MC items (ids,
    prompts and labels, better-first row first)."""

    pair_ids: list[str]
    questions: list[str]
    chosen: list[str]
    rejected: list[str]
    difficulties: list[str]
    categories: list[str]
    template_version: str
    fingerprint: str
    mc_rows: list[list[dict[str, str]]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.pair_ids)

    def select(self, keep: list[int]) -> Pairs:
        def pick(values: list[Any]) -> list[Any]:
            return [values[k] for k in keep]

        return Pairs(pick(self.pair_ids), pick(self.questions), pick(self.chosen), pick(self.rejected),
                     pick(self.difficulties), pick(self.categories), self.template_version, self.fingerprint,
                     pick(self.mc_rows))

    @property
    def categories_known(self) -> bool:
        """CValues-Comparison has no categories (all ``unspecified``); the sample configs do."""
        return any(c != UNSPECIFIED for c in self.categories)


def load_pairs(dataset: str, config: str, limit: int | None = None) -> Pairs:
    """The ``test`` split of an MC config as pairs; ``limit`` whole pairs, stratified by difficulty."""
    import datasets

    try:
        ds = datasets.load_dataset(dataset, config)
    except ValueError as err:
        raise ValueError(f"cannot load config {config!r} from {dataset!r}: {err}") from err
    if "test" not in ds:
        raise ValueError(f"{dataset} [{config}] has no 'test' split (splits: {', '.join(ds)})")
    ds = ds["test"]
    missing = set(PAIR_COLUMNS) - set(ds.column_names)
    if missing:
        raise ValueError(f"{dataset} [{config}] holds no preference pairs: missing columns {sorted(missing)}")
    feature = ds.features["category"]
    columns = {name: list(ds[name]) for name in PAIR_COLUMNS}
    if hasattr(feature, "int2str"):
        columns["category"] = [feature.int2str(int(c)) for c in columns["category"]]
    pairs = pairs_from_rows(columns, ds._fingerprint)
    if limit is not None:
        if limit < 1:
            raise ValueError(f"--limit must be at least 1, got {limit}")
        pairs = pairs.select(stratified_prefix(pairs.difficulties, limit))
    return pairs


def pairs_from_rows(columns: dict[str, list[Any]], fingerprint: str) -> Pairs:
    """Pairs from MC rows given as columns (names as in ``PAIR_COLUMNS``)."""
    versions = sorted(set(columns["template_version"]))
    if len(versions) > 1:
        raise ValueError(f"the items mix template versions {versions}: score one version at a time")
    rows_of: dict[str, list[int]] = defaultdict(list)
    for i, pid in enumerate(columns["pair_id"]):
        rows_of[pid].append(i)
    first: list[int] = []
    for pid, rows in rows_of.items():  # in order of first appearance
        better_first = [i for i in rows if int(columns["better_position"][i]) == 1]
        if len(better_first) != 1:
            raise ValueError(f"pair {pid!r} has {len(better_first)} rows with better_position 1, expected 1")
        first.append(better_first[0])
    mc_keys = ("id", "prompt", "label")

    def mc(pid: str, lead: int) -> list[dict[str, str]]:
        ordered = [lead] + [i for i in rows_of[pid] if i != lead]
        return [{k: columns[k][i] for k in mc_keys} for i in ordered]

    return Pairs(
        pair_ids=[columns["pair_id"][i] for i in first],
        questions=[columns["question"][i] for i in first],
        chosen=[columns["reply_1"][i] for i in first],
        rejected=[columns["reply_2"][i] for i in first],
        difficulties=[columns["difficulty"][i] for i in first],
        categories=[str(columns["category"][i]) for i in first],
        template_version=versions[0] if versions else "",
        fingerprint=fingerprint,
        mc_rows=[mc(columns["pair_id"][i], i) for i in first],
    )


def stratified_prefix(groups: list[str], limit: int) -> list[int]:
    """Indices of ``limit`` entries (all, if fewer), shared among the groups in proportion to their
    sizes (largest remainder), each group's share taken from its start: a quick run keeps the
    mix of difficulties of the full one, and a longer limit extends a shorter one per group."""
    members: dict[str, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        members[g].append(i)
    n = len(groups)
    if limit >= n:
        return list(range(n))
    exact = {g: limit * len(ids) / n for g, ids in members.items()}
    quota = {g: int(x) for g, x in exact.items()}
    # ties in the remainder go to the larger group, then to the group seen first
    by_remainder = sorted(members, key=lambda g: (-(exact[g] - quota[g]), -len(members[g])))
    for g in by_remainder[: limit - sum(quota.values())]:
        quota[g] += 1
    return sorted(i for g, ids in members.items() for i in ids[: quota[g]])


def conversations(tokenizer: Any, questions: list[str], replies: list[str], use_chat_template: bool
                  ) -> tuple[list[str], list[str], bool]:
    """``(prompt_texts, full_texts, add_special_tokens)``: each question as the user turn, and the
    same turn followed by the reply as the assistant's. ``prompt_texts`` end where the reply
    starts (the generation prompt). A rendered chat template carries its own special tokens, so
    it is tokenised with ``add_special_tokens=False``, as ``apply_chat_template`` does. Without a
    template the prompt is the question and a newline, and the tokenizer adds its own bos."""
    if use_chat_template and getattr(tokenizer, "chat_template", None):
        users = [[{"role": "user", "content": q}] for q in questions]
        fulls = [[*u, {"role": "assistant", "content": r}] for u, r in zip(users, replies, strict=True)]
        prompts = tokenizer.apply_chat_template(users, tokenize=False, add_generation_prompt=True)
        texts = tokenizer.apply_chat_template(fulls, tokenize=False)
        return list(prompts), list(texts), False
    prompts = [q + "\n" for q in questions]
    return prompts, [p + r for p, r in zip(prompts, replies, strict=True)], True


def uses_chat_template(tokenizer: Any, wanted: bool) -> bool:
    return bool(wanted and getattr(tokenizer, "chat_template", None))
