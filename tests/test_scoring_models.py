"""The demo model and the model loader."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch = pytest.importorskip("torch")

from cvalues_build.evaluation.demo_model import build_demo_model, build_demo_tokenizer  # noqa: E402
from cvalues_build.evaluation.models import load_model, parse_demo  # noqa: E402


def test_tokenizer_round_trips_chinese_and_unknown_characters():
    tok = build_demo_tokenizer()
    text = "问题：你好，世界！“回复1” abc 😀\n答案：回复"
    ids = tok(text).input_ids
    assert ids[0] == tok.bos_token_id
    assert tok.unk_token_id not in ids
    assert tok.decode(ids, skip_special_tokens=True) == text
    # character level: each CJK character is one token
    assert len(tok("回复", add_special_tokens=False).input_ids) == 2


def test_answer_digits_are_single_distinct_tokens():
    tok = build_demo_tokenizer()
    a = tok("答案：回复1").input_ids
    b = tok("答案：回复2").input_ids
    assert a[:-1] == b[:-1] and a[-1] != b[-1]


def test_chat_template_renders_generation_prompt():
    tok = build_demo_tokenizer()
    text = tok.apply_chat_template([{"role": "user", "content": "你好"}], tokenize=False, add_generation_prompt=True)
    assert text.startswith(tok.bos_token) and "你好" in text and text.endswith("<|assistant|>\n")


def test_same_seed_same_weights_other_seed_differs():
    m1, _ = build_demo_model(0)
    m2, _ = build_demo_model(0)
    m3, _ = build_demo_model(1)
    assert all(torch.equal(a, b) for a, b in zip(m1.parameters(), m2.parameters(), strict=True))
    assert not torch.equal(m1.model.embed_tokens.weight, m3.model.embed_tokens.weight)


def test_load_model_demo_and_saved_folder(tmp_path):
    model, tok = load_model("demo:3", dtype="fp32", device="cpu")
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    loaded, tok2 = load_model(str(tmp_path), dtype="fp32", device="cpu")
    assert tok2("答案：回复1").input_ids == tok("答案：回复1").input_ids
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), loaded.parameters(), strict=True))


def test_bad_names_and_options_are_clear_errors():
    assert parse_demo("demo") == 0 and parse_demo("demo:7") == 7 and parse_demo("gpt2") is None
    with pytest.raises(ValueError, match="demo:SEED"):
        parse_demo("demo:x")
    with pytest.raises(ValueError, match="dtype"):
        load_model("demo", dtype="fp8", device="cpu")


def test_unloadable_model_is_a_clear_error(sample_build, tmp_path, capsys):
    from cvalues_build.cli import main

    empty = tmp_path / "not-a-model"  # a folder, but nothing from_pretrained can read
    empty.mkdir()
    code = main(["eval", "--model", str(empty), "--dataset", str(sample_build), "--config", "responsibility_mc",
                 "--out", str(tmp_path / "r"), "--no-progress"])
    assert code != 0
    err = capsys.readouterr().err
    assert f"cannot load model {str(empty)!r}" in err and "Traceback" not in err
