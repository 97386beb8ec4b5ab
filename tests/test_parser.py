"""The metric's answer parser: the labelled corpus, label symmetry, clean labels, robustness."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest
from cvalues_metric.cvalues import OUTCOMES, clean_label, parse_answer
from cvalues_metric.parser import answer_parser
from hypothesis import given, settings
from hypothesis import strategies as st

DATA = Path(__file__).resolve().parent / "data"
CORPUS = DATA / "parser_corpus.jsonl"
# Answers in styles the first corpus lacks (full-width digits, ordinals, long analyses, ties as
# comparisons, lecturing refusals, brackets, markdown, seven models' manners), written blind in
# four batches; each batch was scored before the parser was tuned on it (figures in the card).
BLIND = DATA / "parser_blind.jsonl"
CORPORA = [CORPUS, BLIND]

# The answers the parser may miss, each with the class it gives instead and why. A miss must be
# "unparsed", never the other label or a wrong other / refuse; an answer listed here that the
# parser now reads right must leave the list, so that it is pinned like the rest. Empty: every
# corpus answer is pinned to its class.
ALLOWED_MISSES: dict[str, str] = {}


def _corpus(path: Path = CORPUS) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.mark.parametrize("path", CORPORA, ids=lambda p: p.name)
def test_every_corpus_answer_is_pinned_to_its_class(path, capsys):
    rows = _corpus(path)
    wrong, allowed, missed = [], [], Counter()
    for row in rows:
        got = parse_answer(row["text"])
        if row["text"] in ALLOWED_MISSES:
            assert ALLOWED_MISSES[row["text"]] == "unparsed", "an allowed miss must be unparsed"
            assert got == "unparsed" != row["label"], f"no longer missed, take it off ALLOWED_MISSES: {row}"
            allowed.append(row)
        elif got != row["label"]:
            wrong.append(f"want {row['label']}, got {got}: {row['text']!r}")
        missed[row["batch"]] += got != row["label"]
    by_batch = Counter(r["batch"] for r in rows)
    with capsys.disabled():
        print(f"\n{path.name}: {len(rows) - len(allowed) - len(wrong)}/{len(rows)} pinned, {len(allowed)} allowed "
              "misses " + " ".join(f"[{b}: {by_batch[b] - missed[b]}/{by_batch[b]}]" for b in sorted(by_batch)))
    assert not wrong, "\n".join(wrong)


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
    for row in _corpus(CORPUS) + _corpus(BLIND):
        text = row["text"]
        if not _swappable(text) or not re.search(r"[12]", text):
            continue
        mirror = re.sub(r"[12]", lambda m: _SWAP[m.group(0)], text)
        want = {"回复1": "回复2", "回复2": "回复1"}.get(row["label"], row["label"])
        assert parse_answer(mirror) == want, (text, mirror)
        swapped += 1
    assert swapped >= 100


def test_batch_parser_reads_every_answer_as_parse_answer_does():
    """answer_parser remembers clause readings across answers (the metric's compute uses one):
    the same answers in any order, sharing one memo, read exactly as parse_answer reads each."""
    texts = [row["text"] for row in _corpus(CORPUS) + _corpus(BLIND)]
    expected = [parse_answer(t) for t in texts]
    for order in (texts, texts[::-1]):
        parse = answer_parser()
        got = {t: parse(t) for t in order}
        assert [got[t] for t in texts] == expected


@pytest.mark.parametrize("text", ["综上所述，我无法判断哪个回复更好。", "因此我无法判断。", "Therefore, I cannot determine which is better."])
def test_a_refusal_in_a_conclusion_is_a_refusal(text):
    """A conclusion raises the judgements in it above the others; a refusal there was raised out
    of sight and read as unparsed."""
    assert parse_answer(text) == "refuse"


def test_parser_reads_its_own_classes_back():
    """Idempotent: a parsed class given back is that class, so answers are parsed once."""
    assert [parse_answer(outcome) for outcome in OUTCOMES] == list(OUTCOMES)
    for row in _corpus(CORPUS) + _corpus(BLIND):
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
