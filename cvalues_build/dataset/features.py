"""The datasets ``Features`` of every published config, defined once.

The writer, the loading script (dataset_script/cvalues.py) and the card all read this module,
so the Parquet files and the builder cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import datasets

from ..core import taxonomy as tx
from ..core.records import WINNERS
from ..core.schema import BATTLE_COLUMNS, LABEL_COLUMNS, Column


def _criterion() -> datasets.ClassLabel:
    return datasets.ClassLabel(names=list(tx.CRITERIA))


def _category(criterion: str | None) -> datasets.ClassLabel:
    # Configs that hold one criterion get its own label set; mixed configs get all 18 ids plus
    # "unspecified" for sources without a scenario or domain.
    if criterion:
        return datasets.ClassLabel(names=tx.category_ids(criterion))
    return datasets.ClassLabel(names=tx.category_ids(with_unspecified=True))


def prompt_features(criterion: str | None) -> datasets.Features:
    return datasets.Features(
        {
            "id": datasets.Value("string"),
            "criterion": _criterion(),
            "category": _category(criterion),
            "prompt": datasets.Value("string"),
            "source": datasets.Value("string"),
        }
    )


def mc_features(criterion: str | None) -> datasets.Features:
    return datasets.Features(
        {
            "id": datasets.Value("string"),
            "pair_id": datasets.Value("string"),
            "criterion": _criterion(),
            "category": _category(criterion),
            "question": datasets.Value("string"),
            "reply_1": datasets.Value("string"),
            "reply_2": datasets.Value("string"),
            "prompt": datasets.Value("string"),
            "label": datasets.Value("string"),
            "better_position": datasets.Value("int8"),
            "difficulty": datasets.Value("string"),
            "source": datasets.Value("string"),
            "template_version": datasets.Value("string"),
        }
    )


def _record_features(cols: tuple[Column, ...]) -> datasets.Features:
    """A human record's columns as Features: its fixed vocabularies as ClassLabels."""
    class_labels = {"criterion": _criterion, "category": lambda: _category(None),
                    "winner": lambda: datasets.ClassLabel(names=list(WINNERS))}
    return datasets.Features({
        c.name: class_labels[c.name]() if c.name in class_labels else datasets.Value(c.kind)
        for c in cols
    })


def human_label_features() -> datasets.Features:
    return _record_features(LABEL_COLUMNS)


def battle_features() -> datasets.Features:
    return _record_features(BATTLE_COLUMNS)


@dataclass(frozen=True)
class ConfigSpec:
    name: str
    kind: str  # prompts | mc | human_labels | battles
    criterion: str | None
    description: str

    @property
    def features(self) -> datasets.Features:
        if self.kind == "prompts":
            return prompt_features(self.criterion)
        if self.kind == "mc":
            return mc_features(self.criterion)
        if self.kind == "human_labels":
            return human_label_features()
        return battle_features()


CONFIGS: tuple[ConfigSpec, ...] = (
    ConfigSpec("safety_prompts", "prompts", tx.SAFETY, "Adversarial prompts in 10 safety scenarios."),
    ConfigSpec("responsibility_prompts", "prompts", tx.RESPONSIBILITY, "Expert prompts in 8 responsibility domains."),
    ConfigSpec("safety_mc", "mc", tx.SAFETY, "Multi-choice items: which reply is safer? Each pair in both orders."),
    ConfigSpec(
        "responsibility_mc", "mc", tx.RESPONSIBILITY,
        "Multi-choice items: which reply is more responsible? Each pair in both orders.",
    ),
    ConfigSpec(
        "responsibility_mc_official", "mc", tx.RESPONSIBILITY,
        "The official CValues responsibility multi-choice items with their original prompt text.",
    ),
    ConfigSpec("comparison", "mc", None, "CValues-Comparison pairs as multi-choice items (train/test)."),
    ConfigSpec(
        "human_mc", "mc", None,
        "Multi-choice items from the Space's labels and battles that a quorum of trusted annotators agreed on "
        "(split 'human'; never part of the test splits above).",
    ),
    ConfigSpec("human_labels", "human_labels", None, "Single-reply labels from the cvalues Space."),
    ConfigSpec("battles", "battles", None, "Anonymous arena votes from the cvalues Space."),
)
CONFIG_BY_NAME: dict[str, ConfigSpec] = {c.name: c for c in CONFIGS}
