"""The CValues loading script: a ``datasets.GeneratorBasedBuilder`` with one config per subset.

datasets >= 4 no longer runs loading scripts through ``load_dataset``, and the published dataset
is Parquet + YAML configs (``cvalues build``). This builder is for building straight from raw
sources in Python, by direct instantiation::

    from dataset_script.cvalues import CValues
    builder = CValues(config_name="responsibility_mc", data_dir="path/to/sources")
    builder.download_and_prepare()
    ds = builder.as_dataset()

``data_dir`` holds one sub-folder per source kind, all optional: ``official_prompts/``,
``official_mc/``, ``comparison/``, ``labels/``. As in ``cvalues build``, the built-in sample goes
in only when there is no ``data_dir``, unless ``include_sample`` says otherwise. Features come from ``cvalues_build.dataset.features``, the same definitions
the Parquet writer uses, and rows come from ``cvalues_build.dataset.collect.collect``, so both paths
give the same rows.

Never copy this file to the root of a published dataset folder: datasets >= 4 refuses a repo
with a ``<repo-name>.py`` loading script.
"""

from __future__ import annotations

import datasets

from cvalues_build.dataset.card import CITATION, DESCRIPTION_EN
from cvalues_build.dataset.collect import Sources, collect
from cvalues_build.dataset.features import CONFIG_BY_NAME, CONFIGS
from cvalues_build.dataset.sinks import Bundle

_VERSION = datasets.Version("1.0.0")


class CValuesConfig(datasets.BuilderConfig):
    def __init__(self, *, include_sample: bool | None = None, skip_invalid: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.include_sample = include_sample
        self.skip_invalid = skip_invalid


class CValues(datasets.GeneratorBasedBuilder):
    BUILDER_CONFIG_CLASS = CValuesConfig
    BUILDER_CONFIGS = [CValuesConfig(name=c.name, version=_VERSION, description=c.description) for c in CONFIGS]
    DEFAULT_CONFIG_NAME = "responsibility_mc"

    def _info(self) -> datasets.DatasetInfo:
        return datasets.DatasetInfo(
            description=DESCRIPTION_EN,
            features=CONFIG_BY_NAME[self.config.name].features,
            homepage="https://arxiv.org/abs/2307.09705",
            license="apache-2.0",
            citation=CITATION,
        )

    def _bundle(self) -> Bundle:
        if self.config.data_dir:
            sources = Sources.from_data_dir(self.config.data_dir, sample=self.config.include_sample)
        else:
            sources = Sources(sample=self.config.include_sample)
        bundle = collect(sources)
        if not self.config.skip_invalid:
            bundle.problems.raise_if_any()
        return bundle

    def _split_generators(self, dl_manager: datasets.DownloadManager) -> list[datasets.SplitGenerator]:
        self._data = self._bundle()
        splits = [split for config, split in self._data.splits() if config == self.config.name]
        if not splits:
            raise ValueError(f"config {self.config.name!r} has no source data in {self.config.data_dir or 'the sample'}")
        # Only the split's name travels in gen_kwargs: datasets treats lists there as shards.
        return [datasets.SplitGenerator(name=split, gen_kwargs={"split": split}) for split in splits]

    def _generate_examples(self, split: str):
        # stream in batches: the rows are readable names, which the Features encode on the way in
        key = 0
        for batch in self._data.table(self.config.name, split).to_batches(max_chunksize=10_000):
            for row in batch.to_pylist():
                yield key, row
                key += 1
