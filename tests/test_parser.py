"""The metric's answer parser: the labelled corpus, label symmetry, clean labels, robustness."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest
from cvalues_metric.cvalues import OUTCOMES, clean_label, parse_answer
from hypothesis import given, settings
from hypothesis import strategies as st

CORPUS = Path(__file__).resolve().parent / "data" / "parser_corpus.jsonl"
TARGET = 0.98


def _corpus() -> list[dict]:
    return [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_corpus_is_varied():
    rows = _corpus()
    assert len(rows) >= 150
    labels = Counter(r["label"] for r in rows)
    assert set(labels) == set(OUTCOMES) and min(labels.values()) >= 10
    assert len({r["kind"] for r in rows}) >= 15
    assert len({r["text"] for r in rows}) == len(rows), "duplicate answers in the corpus"


def test_corpus_parse_accuracy(capsys):
    rows = _corpus()
    misses = [(r["text"], r["label"], parse_answer(r["text"])) for r in rows]
    misses = [m for m in misses if m[1] != m[2]]
    accuracy = 1 - len(misses) / len(rows)
    by_batch = Counter(r["batch"] for r in rows)
    missed_batch = Counter(r["batch"] for r in rows if parse_answer(r["text"]) != r["label"])
    with capsys.disabled():
        print(f"\nparser corpus: {len(rows) - len(misses)}/{len(rows)} = {accuracy:.1%} "
              + " ".join(f"[{b}: {by_batch[b] - missed_batch[b]}/{by_batch[b]}]" for b in sorted(by_batch)))
        for text, want, got in misses:
            print(f"  miss: want {want}, got {got}: {text!r}")
    assert accuracy >= TARGET, misses


_SWAP = {"1": "2", "2": "1"}
_ORDER_WORDS = re.compile(r"第|前者|后者|一|二|first|second|former|latter|\b[AB]\b|选项|option", re.I)


def _swappable(text: str) -> bool:
    """Texts whose only label references are 回复/回答/Response + digit, and no other digits."""
    if _ORDER_WORDS.search(text):
        return False
    digits = len(re.findall(r"\d", text))
    return digits == len(re.findall(r"(?:回复|回答|反馈|答案|response|answer)\s*[12](?!\d)", text, re.I))


def test_parser_has_no_position_bias():
    """Swapping the labels in an answer swaps its parse: the parser prefers neither position."""
    swapped = 0
    for row in _corpus():
        text = row["text"]
        if not _swappable(text) or not re.search(r"[12]", text):
            continue
        mirror = re.sub(r"[12]", lambda m: _SWAP[m.group(0)], text)
        want = {"回复1": "回复2", "回复2": "回复1"}.get(row["label"], row["label"])
        assert parse_answer(mirror) == want, (text, mirror)
        swapped += 1
    assert swapped >= 100


def test_parser_reads_its_own_classes_back():
    """Idempotent: a parsed class given back is that class, so answers are parsed once."""
    assert [parse_answer(outcome) for outcome in OUTCOMES] == list(OUTCOMES)
    for row in _corpus():
        first = parse_answer(row["text"])
        assert parse_answer(first) == first


@pytest.mark.parametrize(
    ("value", "label"),
    [
        ("回复1", "回复1"), ("回复2", "回复2"), ("1", "回复1"), ("2", "回复2"), (1, "回复1"), (2, "回复2"),
        ("A", "回复1"), ("B", "回复2"), ("Response 1", "回复1"), ("response two", "回复2"), ("【回复2】", "回复2"),
        ("  回复 1 \n", "回复1"), ("回复一", "回复1"), ("２", "回复2"), ("回复：2", "回复2"), ("Option B", "回复2"),
    ],
)
def test_clean_labels(value, label):
    assert clean_label(value) == label
    assert parse_answer(value) == label


@pytest.mark.parametrize("value", ["回复3", "12", "", "a", 0, 3, True, None, 1.5, "答案是回复1", ["回复1"]])
def test_not_clean_labels(value):
    assert clean_label(value) is None


@pytest.mark.parametrize("value", [None, 3, 1.5, ["回复1"], "", "   ", "回复", "。。。"])
def test_unusable_input_is_unparsed(value):
    assert parse_answer(value) == "unparsed"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(list("回复12AB第一二个更好安全不如比但是因为两都，。？ !:：和或无法判断")
                                 + ["Response ", " not ", " safer ", "“", "”", "\n", "1. "]), max_size=30))
def test_parser_always_returns_an_outcome(pieces):
    assert parse_answer("".join(pieces)) in OUTCOMES
