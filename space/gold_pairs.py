"""Gold items for the Label tab: dataset replies whose answer is known.

They come from the dataset's multi-choice pairs (``safety_mc`` and ``responsibility_mc`` of a
``cvalues build`` folder, or the built-in sample's pairs). Each usable pair gives two gold items,
its better reply and its worse one, with the answer ``cvalues_build.human.gold`` expects:

- **safety**: the better reply of a safe-vs-unsafe pair is *safe*, the worse one *unsafe*. Such
  pairs are the sample's and CValues-Comparison's ``safe_vs_unsafe`` and ``responsible_vs_unsafe``.
- **responsibility**: the responsible reply should score **high** (6 or more) and its counterpart
  **low** (4 or less). Only pairs whose worse reply was written to be irresponsible qualify: the
  sample's and the official items marked ``easy`` (a rewritten reply). The official ``hard``
  items are left out, because their worse reply is one that experts rejected, which may be
  mediocre rather than harmful, so a fair annotator could give it a 5.
- Pairs made from the Space's own votes never become gold: their answer is what is being checked.

Gold replies carry the model name ``reference`` in their labels, and are shown like any other
draw: the same prompt card, with the same source line, and no name until after the label.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from cvalues_build.core import taxonomy as tx
from cvalues_build.core.records import PairRecord, make_pair, reply_id
from cvalues_build.human import gold_for_pair

from .store import StoredReply

GOLD_MODEL = "reference"  # the dataset's own reply, not a model's
MC_CONFIGS = {tx.SAFETY: "safety_mc", tx.RESPONSIBILITY: "responsibility_mc"}
# The pairs' ``difficulty`` values whose known answer gold may use (an allow-list: the votes' own
# pairs, "human_safe_vs_unsafe" among them, must never qualify).
GOLD_DIFFICULTIES = {tx.SAFETY: ("sample", "safe_vs_unsafe", "responsible_vs_unsafe"),
                     tx.RESPONSIBILITY: ("sample", "easy")}
GoldRow = tuple[StoredReply, str, str, str]  # the reply, its expected answer, the pair id, the pair's source


def is_gold_pair(criterion: str, difficulty: str) -> bool:
    """Whether a pair's known answer may test annotators (the rule in the module docstring)."""
    return difficulty in GOLD_DIFFICULTIES.get(criterion, ())


def gold_rows(pairs: Iterable[PairRecord]) -> Iterator[GoldRow]:
    """Two gold rows per usable pair: its better reply and its worse one."""
    for pair in pairs:
        if pair.criterion not in MC_CONFIGS or not is_gold_pair(pair.criterion, pair.difficulty):
            continue
        replies = [StoredReply(reply_id(pair.prompt_id, GOLD_MODEL, text), pair.prompt_id, pair.question,
                               pair.criterion, pair.category, GOLD_MODEL, text) for text in (pair.better, pair.worse)]
        items = gold_for_pair(pair.criterion, replies[0].reply_id, replies[1].reply_id)
        for reply, item in zip(replies, items, strict=True):
            yield reply, item.expected, pair.pair_id, pair.source


def dataset_pairs(folder: str | Path) -> list[PairRecord]:
    """The pairs behind the ``safety_mc`` and ``responsibility_mc`` items of a ``cvalues build``
    folder (each pair is there twice, once per order; it is read once)."""
    import datasets

    pairs: dict[str, PairRecord] = {}
    for criterion, config in MC_CONFIGS.items():
        try:
            ds = datasets.load_dataset(str(folder), config)
        except (ValueError, FileNotFoundError) as err:
            if any(word in str(err).lower() for word in ("not found", "unknown", "available")):
                continue  # a config with no source data is left out of a build
            raise
        for split in ds.values():
            category = split.features["category"]
            for row in split:
                better, worse = ((row["reply_1"], row["reply_2"]) if row["better_position"] == 1
                                 else (row["reply_2"], row["reply_1"]))
                cat = category.int2str(row["category"]) if hasattr(category, "int2str") else row["category"]
                pair = make_pair(criterion=criterion, category=cat, question=row["question"], better=better,
                                 worse=worse, difficulty=row["difficulty"], source=row["source"])
                pairs.setdefault(pair.pair_id, pair)
    return list(pairs.values())


def load_gold_pairs(dataset_dir: str | Path | None) -> list[PairRecord]:
    """The pairs gold items come from: the build folder's, or else the built-in sample's."""
    if dataset_dir is not None:
        return dataset_pairs(dataset_dir)
    from cvalues_build.dataset import sample_pairs

    return sample_pairs()
