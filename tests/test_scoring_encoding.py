"""Batched tokenisation equals the one-item-at-a-time encoders, item by item: on the demo
tokenizer (where appending the choice's tokens is exact), on one whose merges join the answer
prefix's last character with the choice (the per-item fallback), and on one that appends an end
token (the one-time check refuses appending altogether)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("transformers")

from cvalues_build.evaluation.demo_model import EOS, build_demo_tokenizer  # noqa: E402
from cvalues_build.evaluation.encoding import appended_tokens, encode_request, encode_requests  # noqa: E402
from cvalues_build.evaluation.generate import build_inputs, chat_text  # noqa: E402

CHOICE_SETS = (["1", "2"], ["回复1", "回复2"], ["1", "2号更好"], ["是的", "不是", "也许吧"])


def _variant(merges: list[tuple[str, str]] = (), end_token: bool = False):
    """The demo tokenizer with extra BPE merges (and their tokens) or an end token after the text."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    base = build_demo_tokenizer()
    spec = json.loads(base.backend_tokenizer.to_str())
    vocab = spec["model"]["vocab"]
    for a, b in merges:
        vocab[a + b] = max(vocab.values()) + 1
        spec["model"]["merges"].append([a, b])
    if end_token:
        spec["post_processor"]["single"].append({"SpecialToken": {"id": EOS, "type_id": 0}})
        spec["post_processor"]["special_tokens"][EOS] = {"id": EOS, "ids": [vocab[EOS]], "tokens": [EOS]}
    tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(json.dumps(spec)), bos_token=base.bos_token,
                                  eos_token=base.eos_token, pad_token=base.pad_token, unk_token=base.unk_token)
    tok.chat_template = base.chat_template
    return tok


@pytest.fixture(scope="module")
def contexts(sample_build):
    import datasets

    prompts = []
    for config in ("safety_mc", "responsibility_mc"):
        prompts += datasets.load_dataset(str(sample_build), config)["test"]["prompt"]
    # Whole prompts (all end with the answer prefix "答案：回复"), the same with the prefix's last
    # character cut (other endings), and a short one.
    return prompts[:24] + [p.removesuffix("回复") for p in prompts[:8]] + ["答"]


def _assert_same(tok, contexts, choices, add_special_tokens=True):
    got = encode_requests(tok, contexts, choices, add_special_tokens=add_special_tokens)
    want = [encode_request(tok, c, choices, add_special_tokens=add_special_tokens) for c in contexts]
    assert got == want


@pytest.mark.parametrize("add_special_tokens", [True, False])
@pytest.mark.parametrize("choices", CHOICE_SETS, ids=lambda c: "-".join(c))
def test_demo_tokenizer_appends_and_equals_encode_request(contexts, choices, add_special_tokens):
    tok = build_demo_tokenizer()
    assert all(a is not None for a in appended_tokens(tok, contexts, choices, add_special_tokens))
    _assert_same(tok, contexts, choices, add_special_tokens)


def test_boundary_merge_falls_back_per_item(contexts):
    tok = _variant(merges=[("复", "1"), ("复", "2")])
    # The merge really crosses the boundary: "回复" + "1" is not "回复"'s tokens then "1"'s.
    assert tok("回复1")["input_ids"][-1] == tok.convert_tokens_to_ids("复1")
    appended = appended_tokens(tok, contexts, ["1", "2"])
    merging = [c.endswith("复") for c in contexts]
    assert [a is None for a in appended] == merging and any(merging) and not all(merging)
    for choices in CHOICE_SETS:
        _assert_same(tok, contexts, choices)


def test_end_token_after_the_text_refuses_appending(contexts):
    tok = _variant(end_token=True)
    assert tok("答案")["input_ids"][-1] == tok.eos_token_id
    assert all(a is None for a in appended_tokens(tok, contexts, ["1", "2"]))
    _assert_same(tok, contexts, ["1", "2"])


def test_bad_requests_and_empty_input():
    tok = build_demo_tokenizer()
    with pytest.raises(ValueError, match="two continuations"):
        encode_requests(tok, ["答案：回复"], ["1"])
    with pytest.raises(ValueError, match="adds no tokens"):
        encode_requests(tok, ["答案：回复"], ["1", ""])
    assert encode_requests(tok, [], ["1", "2"]) == []


@pytest.mark.parametrize("use_chat_template", [True, False])
def test_build_inputs_equals_one_call_per_prompt(contexts, use_chat_template):
    tok = build_demo_tokenizer()
    ids, chat = build_inputs(tok, contexts, use_chat_template)
    assert chat == use_chat_template
    if chat:
        want = [tok(chat_text(tok, p), add_special_tokens=False)["input_ids"] for p in contexts]
    else:
        want = [tok(p)["input_ids"] for p in contexts]
    assert ids == want
