"""The CValues loading script: a ``datasets.ArrowBasedBuilder`` with one config per subset.

datasets >= 4 no longer runs loading scripts through ``load_dataset``, and the published dataset
is Parquet + YAML configs (``cvalues build``). This builder is for building straight from raw
sources in Python, by direct instantiation::

    from dataset_script.cvalues import CValues
    builder = CValues(config_name="responsibility_mc", data_dir="path/to/sources")
    builder.download_and_prepare()
    ds = builder.as_dataset()

``data_dir`` holds one sub-folder per source kind, all optional: ``official_prompts/``,
``official_mc/``, ``comparison/``, ``labels/``. As in ``cvalues build``, the built-in sample goes
in only when there is no ``data_dir``, unless ``include_sample`` says otherwise.

One config is served from its own sources only (``Sources.only``: the comparison files are not
read for the multi-choice configs, for instance), through the same ``collect`` as ``cvalues
build``, and its tables are encoded by the writer's own ``encode``, so both paths give the same
rows and ``Features``. ``_generate_tables`` yields those Arrow tables as they are, as datasets'
own ``parquet`` builder does: no Python object per row.

Never copy this file to the root of a published dataset folder: datasets >= 4 refuses a repo
with a ``<repo-name>.py`` loading script.
"""

from __future__ import annotations

import datasets
from datasets.builder import Key

from cvalues_build.dataset.card import CITATION, DESCRIPTION_EN
from cvalues_build.dataset.collect import Sources, collect
from cvalues_build.dataset.features import CONFIG_BY_NAME, CONFIGS
from cvalues_build.dataset.sinks import Bundle
from cvalues_build.dataset.writer import encode

_VERSION = datasets.Version("1.0.0")


class CValuesConfig(datasets.BuilderConfig):
    def __init__(self, *, include_sample: bool | None = None, skip_invalid: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.include_sample = include_sample
        self.skip_invalid = skip_invalid


class CValues(datasets.ArrowBasedBuilder):
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

    def _collect(self) -> Bundle:
        """This config's tables, from this config's sources only."""
        if self.config.data_dir:
            sources = Sources.from_data_dir(self.config.data_dir, sample=self.config.include_sample)
        else:
            sources = Sources(sample=self.config.include_sample)
        tables = Bundle(only=self.config.name)
        problems = collect(sources.only(self.config.name), tables).problems
        if not self.config.skip_invalid:
            problems.raise_if_any()
        return tables

    def _split_generators(self, dl_manager: datasets.DownloadManager) -> list[datasets.SplitGenerator]:
        self._tables = self._collect()
        splits = [split for config, split in self._tables.splits() if config == self.config.name]
        if not splits:
            raise ValueError(f"config {self.config.name!r} has no source data in {self.config.data_dir or 'the sample'}")
        # Only the split's name travels in gen_kwargs: datasets treats lists there as shards.
        return [datasets.SplitGenerator(name=split, gen_kwargs={"split": split}) for split in splits]

    def _generate_tables(self, split: str):
        for i, table in enumerate(self._tables.configs[self.config.name][split]):
            yield Key(0, i), encode(self.config.name, table)
