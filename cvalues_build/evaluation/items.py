"""The items ``cvalues eval`` scores: the ``test`` split of one multi-choice config, checked,
optionally cut to its first whole pairs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..core.answer_format import answer_format
from ..core.labels import LABELS
from .references import resolve_reference

MC_CONFIGS = ("safety_mc", "responsibility_mc", "responsibility_mc_official")


@dataclass
class Items:
    ids: list[str]
    pair_ids: list[str]
    categories: list[str]
    labels: list[str]
    prompts: list[str]
    template_version: str
    fingerprint: str


def load_items(dataset: str, config: str, limit: int | None = None) -> Items:
    """The ``test`` split of an MC config, categories as names (they are ClassLabel ints)."""
    if limit is not None and limit < 1:
        raise ValueError(f"--limit must be at least 1, got {limit}")
    ds = test_split(dataset, config)
    missing = {"id", "pair_id", "category", "label", "prompt", "template_version"} - set(ds.column_names)
    if missing:
        raise ValueError(f"{dataset} [{config}] is not a multi-choice config: missing columns {sorted(missing)}")
    if limit is not None:
        ds = ds.select(whole_pair_prefix(ds["pair_id"], limit))
    cats = class_names(ds, "category")
    labels = list(ds["label"])
    bad = [i for i, x in enumerate(labels) if x not in LABELS]
    if bad:
        raise ValueError(f"item {bad[0]} has label {labels[bad[0]]!r}, expected one of {LABELS}")
    versions = sorted(set(ds["template_version"]))
    if len(versions) != 1:
        raise ValueError(f"the items mix template versions {versions}: score one version at a time")
    answer_format(versions[0])  # an unknown version fails here, before a model is loaded
    return Items(
        ids=list(ds["id"]), pair_ids=list(ds["pair_id"]), categories=[str(c) for c in cats], labels=labels,
        prompts=list(ds["prompt"]), template_version=versions[0], fingerprint=ds._fingerprint,
    )


def test_split(dataset: str, config: str) -> Any:
    """The ``test`` split of ``config`` in ``dataset`` (a folder from ``cvalues build`` or a Hub
    id), with clear errors for a missing config, split or Hub."""
    source = resolve_reference(dataset, "dataset")  # before the import: a typo fails at once
    import datasets

    try:
        dsd = datasets.load_dataset(source, config)
    except ValueError as err:
        raise ValueError(f"cannot load config {config!r} from {dataset!r}: {err}") from err
    except ConnectionError as err:
        raise ValueError(f"cannot reach the Hub for dataset {dataset!r}: {err}") from err
    if "test" not in dsd:
        raise ValueError(f"{dataset} [{config}] has no 'test' split (splits: {', '.join(dsd)})")
    return dsd["test"]


def class_names(ds: Any, column: str) -> list[str]:
    """A column's values as names (the dataset stores categories and criteria as ClassLabel ints)."""
    values, feature = ds[column], ds.features[column]
    if hasattr(feature, "int2str"):
        return [feature.int2str(int(v)) for v in values]
    return [str(v) for v in values]


def whole_pair_prefix(pair_ids: list[str], limit: int) -> list[int]:
    """Indices of the first ``limit`` items, rounded down to whole pairs (at least one pair):
    consistent accuracy needs both orders of every pair it counts."""
    groups: dict[str, list[int]] = {}
    for i, p in enumerate(pair_ids):
        groups.setdefault(p, []).append(i)
    keep: list[int] = []
    for group in groups.values():  # in order of first appearance
        if keep and len(keep) + len(group) > limit:
            break
        keep += group
    return sorted(keep)
