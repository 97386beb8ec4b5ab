"""The dataset card: YAML ``configs`` + ``dataset_info`` that ``datasets`` reads, then a
bilingual description with counts per config x split x category, the label balance, the
template version, license and citation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

from ..core import taxonomy as tx
from .features import CONFIG_BY_NAME
from .stats import SplitStats

CITATION = """@article{xu2023cvalues,
  title={CValues: Measuring the Values of Chinese Large Language Models from Safety to Responsibility},
  author={Xu, Guohai and Liu, Jiayi and Yan, Ming and Xu, Haotian and Si, Jinghui and Zhou, Zhuoran and Yi, Peng and Gao, Xing and Sang, Jitao and Zhang, Rong and Zhang, Ji and Peng, Chao and Huang, Fei and Zhou, Jingren},
  journal={arXiv preprint arXiv:2307.09705},
  year={2023}
}"""

DESCRIPTION_EN = """\
**CValues** measures how well Chinese large language models hold human values, at two levels:
*safety* (level 1: the reply contains no harmful content; 10 scenarios) and *responsibility*
(level 2: the reply gives positive guidance and humane care; 8 expert domains). Its automatic
evaluation asks a model which of two replies is safer or more responsible; every pair is asked in
both orders, so the labels are balanced and position bias can be measured."""

DESCRIPTION_ZH = """\
**CValues** 评测中文大模型的价值观对齐程度，分为两个层次：*安全性*（第一层：回复不含有害内容，
覆盖 10 个场景）与 *责任性*（第二层：回复给出积极引导与人文关怀，覆盖 8 个专业领域）。
自动评测让模型判断两个回复中哪个更安全或更负责任；每对回复以两种顺序各提问一次，
因此标签均衡，也可以度量位置偏好。"""

SAMPLE_WARNING = """\
> **Sample data / 示例数据.** This build includes the cvalues project's own sample
> (`source == "cvalues-sample"`): short prompts and replies written by the cvalues authors to
> exercise the pipeline. They are not CValues benchmark data, and scores on them mean nothing.
> 本数据集包含 cvalues 项目自行编写的示例数据（`source == "cvalues-sample"`），仅用于演示流程，
> 并非 CValues 基准数据，在其上得到的分数没有意义。"""


def _front_matter(stats: Sequence[SplitStats]) -> dict[str, Any]:
    configs: dict[str, list[SplitStats]] = {}
    for s in stats:
        configs.setdefault(s.config, []).append(s)
    total = sum(s.rows for s in stats)
    return {
        "license": "apache-2.0",
        "language": ["zh"],
        "pretty_name": "CValues",
        "task_categories": ["multiple-choice", "text-classification"],
        "tags": ["safety", "responsibility", "values", "alignment", "llm-evaluation", "chinese"],
        "size_categories": ["n<1K" if total < 1000 else "1K<n<10K" if total < 10_000 else
                            "10K<n<100K" if total < 100_000 else "100K<n<1M"],
        "configs": [
            {"config_name": name,
             "data_files": [{"split": s.split, "path": f"data/{name}/{s.split}-*"} for s in splits]}
            for name, splits in configs.items()
        ],
        "dataset_info": [
            {"config_name": name,
             "features": CONFIG_BY_NAME[name].features._to_yaml_list(),
             "splits": [{"name": s.split, "num_bytes": s.nbytes, "num_examples": s.rows} for s in splits]}
            for name, splits in configs.items()
        ],
    }


def _counts_table(stats: Sequence[SplitStats]) -> str:
    lines = ["| config | split | category | rows |", "|---|---|---|---:|"]
    for s in stats:
        lines.append(f"| `{s.config}` | {s.split} | **all** | **{s.rows}** |")
        for cat, n in s.by_category.items():
            lines.append(f"| | | {tx.label(cat)} (`{cat}`) | {n} |")
    return "\n".join(lines)


def _balance_table(stats: Sequence[SplitStats]) -> str:
    lines = ["| config | split | 回复1 | 回复2 | template_version |", "|---|---|---:|---:|---|"]
    for s in stats:
        if s.labels:
            lines.append(f"| `{s.config}` | {s.split} | {s.labels.get('回复1', 0)} | {s.labels.get('回复2', 0)} "
                         f"| {', '.join(s.template_versions)} |")
    return "\n".join(lines)


def _taxonomy_table() -> str:
    lines = ["| criterion | id | 中文 | English |", "|---|---|---|---|"]
    lines += [f"| {c.criterion} | `{c.id}` | {c.zh} | {c.en} |" for c in tx.ALL_CATEGORIES]
    return "\n".join(lines)


def render_card(stats: Sequence[SplitStats], template_version: str = "") -> str:
    front = yaml.safe_dump(_front_matter(stats), allow_unicode=True, sort_keys=False, width=1000)
    has_sample = any("cvalues-sample" in s.sources for s in stats)
    first_mc = next((s.config for s in stats if s.labels), "responsibility_mc")
    parts = [
        f"---\n{front}---",
        "# CValues",
        DESCRIPTION_EN,
        DESCRIPTION_ZH,
        SAMPLE_WARNING if has_sample else "",
        "## Usage / 使用",
        "```python\nfrom datasets import load_dataset\n\n"
        f'ds = load_dataset("<this folder or repo id>", "{first_mc}")["test"]\n'
        'print(ds[0]["prompt"], ds[0]["label"])\n```',
        "Score predictions with the cvalues metric: `evaluate.load(\"metric/cvalues\")` from the cvalues "
        "repository, or run a model end to end with `cvalues eval --model NAME --dataset <folder> "
        f"--config {first_mc} --out results/`.",
        "## Configs and counts / 子集与数量",
        "\n".join(f"- `{n}`: {CONFIG_BY_NAME[n].description}" for n in dict.fromkeys(s.config for s in stats)),
        _counts_table(stats),
        "## Label balance / 标签分布",
        "Every pair appears twice, with the better reply first (`回复1`) and second (`回复2`).",
        _balance_table(stats),
        f"Template version of the rendered prompts: `{template_version}` (items from the official "
        "file keep their own text as `official`)." if template_version else "",
        "## Taxonomy / 分类体系",
        _taxonomy_table(),
        "## License / 许可",
        "Apache-2.0. The CValues data is released by its authors under the Apache License 2.0.",
        "## Citation / 引用",
        f"```bibtex\n{CITATION}\n```",
    ]
    return "\n\n".join(p for p in parts if p) + "\n"
