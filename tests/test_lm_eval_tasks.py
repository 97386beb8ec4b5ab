"""The lm-evaluation-harness task YAMLs parse, agree with the answer-format core (the template
version, the continuations after the prompt), and every field they reference exists in the built
dataset and renders to what ``cvalues eval`` scores."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import cvalues_build
from cvalues_build.core.answer_format import LABEL_STEM, answer_format
from cvalues_build.core.labels import LABELS
from cvalues_build.dataset.features import CONFIG_BY_NAME

TASK_DIR = Path(cvalues_build.__file__).parent / "lm_eval_tasks"
TASKS = {"cvalues_safety_mc": "safety_mc", "cvalues_responsibility_mc": "responsibility_mc"}


def _load(path: Path) -> dict:
    """A task config with its ``include`` merged under it, as lm-eval resolves it."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    if "include" in doc:
        base = _load(path.parent / doc.pop("include"))
        doc = {**base, **doc}
    return doc


def _tasks() -> dict[str, dict]:
    found = {}
    for path in sorted(TASK_DIR.glob("*.yaml")):
        doc = _load(path)
        if "task" in doc and isinstance(doc["task"], str):
            found[doc["task"]] = doc
    return found


def test_tasks_and_group_are_declared():
    tasks = _tasks()
    assert set(tasks) == set(TASKS)
    group = yaml.safe_load((TASK_DIR / "cvalues.yaml").read_text(encoding="utf-8"))
    assert group["group"] == "cvalues" and set(group["task"]) == set(TASKS)
    for name, doc in tasks.items():
        assert doc["dataset_name"] == TASKS[name] and doc["dataset_name"] in CONFIG_BY_NAME
        assert doc["output_type"] == "multiple_choice" and doc["test_split"] == "test"
        fmt = answer_format(doc["metadata"]["template"])
        assert doc["doc_to_choice"] == list(fmt.continuations)
        assert [LABEL_STEM + choice for choice in doc["doc_to_choice"]] == list(LABELS)
        assert doc["target_delimiter"] == ""
        assert {"acc"} <= {m["metric"] for m in doc["metric_list"]}


@pytest.mark.parametrize("task", sorted(TASKS))
def test_templates_reference_real_fields_and_render_the_labels(sample_build, task):
    import datasets
    import jinja2

    doc = _tasks()[task]
    prompt_end = answer_format(doc["metadata"]["template"]).answer_prefix
    ds = datasets.load_dataset(str(sample_build), doc["dataset_name"])[doc["test_split"]]
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)  # a missing field is an error
    text_t, target_t = env.from_string(doc["doc_to_text"]), env.from_string(doc["doc_to_target"])
    for row in ds:
        text = text_t.render(**row)
        target = int(target_t.render(**row))
        assert text == row["prompt"] and text.endswith(prompt_end)
        assert row["template_version"] == doc["metadata"]["template"]
        # choice `target` after the prompt spells the item's label
        assert LABEL_STEM + doc["doc_to_choice"][target] == row["label"]
