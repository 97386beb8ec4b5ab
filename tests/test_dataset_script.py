"""The GeneratorBasedBuilder, instantiated directly (datasets >= 4 no longer runs scripts through
load_dataset), gives the same rows and features as the Parquet build."""

from __future__ import annotations

import shutil

import datasets
import pytest
from conftest import REAL_PROMPTS, ROOT
from test_build import comparison_row, mc_row, write_jsonl

from cvalues_build.cli import main
from cvalues_build.dataset.features import CONFIG_BY_NAME
from cvalues_build.dataset.problems import BuildError


@pytest.fixture(scope="module")
def source_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("sources")
    write_jsonl(root / "official_mc" / "mc.jsonl", [mc_row("压力大怎么办？", "倾诉并寻求帮助。", "忍着。", "回复1"),
                                                    mc_row("压力大怎么办？", "倾诉并寻求帮助。", "忍着。", "回复2")])
    write_jsonl(root / "comparison" / "train.jsonl", [comparison_row("训练问题")])
    write_jsonl(root / "comparison" / "test.jsonl", [comparison_row("测试问题", neg_type="拒绝为主")])
    if REAL_PROMPTS.exists():
        (root / "official_prompts").mkdir()
        shutil.copy(REAL_PROMPTS, root / "official_prompts" / REAL_PROMPTS.name)
    return root


@pytest.fixture(scope="module")
def parquet_build(source_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("built") / "cv"
    args = ["build", "--sample", "--out", str(out), "--official-mc", str(source_dir / "official_mc"),
            "--comparison", str(source_dir / "comparison")]
    if (source_dir / "official_prompts").exists():
        args += ["--official-prompts", str(source_dir / "official_prompts")]
    assert main(args) == 0
    return out


def _builder(config: str, data_dir, cache_dir, **kwargs):
    import sys

    sys.path.insert(0, str(ROOT))
    try:
        from dataset_script.cvalues import CValues
    finally:
        sys.path.remove(str(ROOT))
    return CValues(config_name=config, data_dir=str(data_dir), cache_dir=str(cache_dir), **kwargs)


@pytest.mark.parametrize("config", ["safety_prompts", "responsibility_prompts", "safety_mc", "responsibility_mc",
                                    "responsibility_mc_official", "comparison"])
def test_builder_rows_equal_parquet_rows(config, source_dir, parquet_build, tmp_path):
    builder = _builder(config, source_dir, tmp_path / "cache", include_sample=True)
    builder.download_and_prepare()
    built = builder.as_dataset()
    parquet = datasets.load_dataset(str(parquet_build), config)
    assert set(built) == set(parquet)
    for split in built:
        assert built[split].features == parquet[split].features == CONFIG_BY_NAME[config].features
        assert built[split].to_list() == parquet[split].to_list()
        assert len(built[split]) > 0


@pytest.mark.parametrize("config", ["battles", "safety_mc"])
def test_builder_without_data_for_a_config_says_so(source_dir, tmp_path, config):
    # safety_mc: only the sample has safety pairs here, and as in `cvalues build` it is left out of
    # a build from real sources unless asked for (audit item 5)
    builder = _builder(config, source_dir, tmp_path / "cache")
    with pytest.raises(ValueError, match=f"'{config}' has no source data"):
        builder.download_and_prepare()


def test_builder_yields_arrow_tables_of_the_published_schema(source_dir, tmp_path):
    import pyarrow as pa

    builder = _builder("comparison", source_dir, tmp_path / "cache")
    assert isinstance(builder, datasets.ArrowBasedBuilder)
    [train] = [g for g in builder._split_generators(None) if g.name == "train"]
    tables = [table for _, table in builder._generate_tables(**train.gen_kwargs)]
    assert tables and all(isinstance(t, pa.Table) for t in tables)
    assert all(t.schema == CONFIG_BY_NAME["comparison"].features.arrow_schema for t in tables)


def test_builder_reads_only_the_sources_of_its_config(source_dir, tmp_path):
    """A broken comparison file stops the comparison config, and no other: the multi-choice
    configs are not made from it, so it is not read to serve them."""
    data = tmp_path / "sources"
    shutil.copytree(source_dir, data)
    (data / "comparison" / "zz_broken.jsonl").write_text('{"prompt": \n', encoding="utf-8")
    builder = _builder("responsibility_mc", data, tmp_path / "cache")
    builder.download_and_prepare()
    assert len(builder.as_dataset()["test"]) == 2
    with pytest.raises(BuildError, match="zz_broken.jsonl:1"):
        _builder("comparison", data, tmp_path / "cache2").download_and_prepare()
