"""The answer-format core: every template version says what its prompts end with and what a
scorer compares after them, and build and scoring both follow it."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from cvalues_build.core import taxonomy as tx
from cvalues_build.core.answer_format import (
    DEFAULT_VERSION,
    FORMATS,
    LABEL_STEM,
    OFFICIAL_VERSION,
    TEMPLATE_VERSIONS,
    answer_format,
)
from cvalues_build.core.labels import LABELS


@pytest.mark.parametrize("version", TEMPLATE_VERSIONS)
def test_rendered_prompts_end_with_the_answer_prefix(version):
    fmt = answer_format(version)
    for criterion in tx.CRITERIA:
        text = fmt.render(criterion, "问题Q", "回答A", "回答B")
        assert "问题Q" in text and text.index("回答A") < text.index("回答B")
        assert text.endswith(fmt.answer_prefix)
    # the prompt ends with the label word, so each continuation completes one label
    assert [fmt.answer_prefix[-len(LABEL_STEM):] + c for c in fmt.continuations] == list(LABELS)


def test_official_items_are_scored_on_whole_labels_whatever_their_text_ends_with():
    fmt = answer_format(OFFICIAL_VERSION)
    assert fmt.continuations == LABELS
    # the official text is the source's own: the parser reads the generation as it is
    assert fmt.answer_text("2", chat=False) == "2"
    with pytest.raises(ValueError, match="no text for criterion"):
        fmt.render(tx.SAFETY, "q", "a", "b")


def test_answer_text_restores_the_label_word_only_without_a_chat_template():
    fmt = answer_format(DEFAULT_VERSION)
    assert fmt.answer_text("2更安全", chat=False) == "回复2更安全"
    assert fmt.answer_text("回复2更安全", chat=True) == "回复2更安全"


def test_an_unknown_version_names_the_known_ones():
    with pytest.raises(ValueError, match="zh-v9.*zh-v1"):
        answer_format("zh-v9")
    assert set(TEMPLATE_VERSIONS) <= set(FORMATS) and OFFICIAL_VERSION not in TEMPLATE_VERSIONS


def test_scoring_takes_the_continuations_from_the_items_version(tmp_path, monkeypatch):
    """A prompt that ends with "回复" but is an official item is scored on whole labels: the
    runner reads ``template_version``, not the prompt's last characters."""
    pytest.importorskip("torch")
    from cvalues_build.evaluation import loglik, runner

    seen: list[list[str]] = []
    real = loglik.encode_request

    def spy(tokenizer, prompt, continuations):
        seen.append(list(continuations))
        return real(tokenizer, prompt, continuations)

    monkeypatch.setattr(loglik, "encode_request", spy)
    items = runner.Items(ids=["a", "b"], pair_ids=["p", "p"], categories=["law", "law"],
                         labels=list(LABELS), prompts=["问题…答案：回复", "问题…答案：回复"],
                         template_version=OFFICIAL_VERSION, fingerprint="f")
    state = SimpleNamespace(num_processes=1, process_index=0, is_main_process=True, device="cpu")
    opts = runner.EvalOptions(model="demo", dataset="-", config="responsibility_mc_official", out=str(tmp_path),
                              device="cpu", progress=False)
    runner._score_shard(opts, items, [0, 1], tmp_path, state)
    assert seen == [list(LABELS), list(LABELS)]


def test_the_metrics_copy_of_the_labels_is_the_cores_byte_for_byte():
    """The metric must load alone from the Hub, so it carries its own labels.py; it is the core's
    file, unchanged, or one of the two has drifted."""
    root = Path(__file__).resolve().parents[1]
    core = (root / "cvalues_build" / "core" / "labels.py").read_bytes()
    metric = (root / "metric" / "cvalues" / "labels.py").read_bytes()
    assert core == metric, "metric/cvalues/labels.py differs from cvalues_build/core/labels.py: change both"


def test_the_core_normalises_every_clean_label_form():
    from cvalues_build.core.labels import clean_label

    for value, label in [("回复1", LABELS[0]), (2, LABELS[1]), ("B", LABELS[1]), ("Response 1", LABELS[0]),
                         ("【回复２】", LABELS[1]), ("回复1更安全", None), (True, None), (3, None)]:
        assert clean_label(value) == label, value
