"""Log-likelihood scoring equals a naive reference (one separate full forward per choice)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from cvalues_build.evaluation.demo_model import build_demo_model  # noqa: E402
from cvalues_build.evaluation.loglik import LoglikScorer, encode_request, naive_logprobs, pad_batch  # noqa: E402

TOL = 1e-4


def _gpt2(tok):
    """A tiny GPT-2: absolute position embeddings, so wrong position ids under left padding
    would change the numbers (RoPE models are shift-invariant and would not notice)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(3)
    config = GPT2Config(vocab_size=len(tok), n_positions=1024, n_embd=32, n_layer=2, n_head=2,
                        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    return GPT2LMHeadModel(config).eval()


@pytest.fixture(scope="module", params=["llama", "gpt2"])
def demo(request):
    model, tok = build_demo_model(seed=5)
    if request.param == "gpt2":
        model = _gpt2(tok)
    return model, tok


@pytest.fixture(scope="module")
def prompts(sample_build):
    import datasets

    ds = datasets.load_dataset(str(sample_build), "responsibility_mc")["test"]
    # Varied lengths (the sorting and padding matter), kept short so the test is quick.
    return [p[-(30 + 17 * i):] for i, p in enumerate(ds["prompt"][:7])]


CASES = {
    # the cvalues case: the prompt ends with "答案：回复", the choices are the digits
    "digits": (["1", "2"], ""),
    # multi-token choices sharing all but the last token: still one pass
    "shared_but_last": (["回复1", "回复2"], "答案："),
    # choices that differ early and in length: the shared-prefix fallback
    "fallback": (["1", "2号更好"], ""),
    "three_choices": (["是的", "不是", "也许吧"], ""),
}


@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_naive_reference(demo, prompts, side, case):
    model, tok = demo
    conts, strip = CASES[case]
    contexts = [p.removesuffix("回复") + strip if strip else p for p in prompts]
    reqs = [encode_request(tok, c, conts) for c in contexts]
    assert all(r.single_pass for r in reqs) == (case in ("digits", "shared_but_last"))
    got = LoglikScorer(model, tok, padding_side=side).score(reqs, batch_size=4)
    want = [naive_logprobs(model, tok, c, conts) for c in contexts]
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g == pytest.approx(w, abs=TOL)


def test_order_is_restored_and_batching_does_not_matter(demo, prompts):
    model, tok = demo
    reqs = [encode_request(tok, p, ["1", "2"]) for p in prompts]
    one_by_one = [LoglikScorer(model, tok).score([r], batch_size=1)[0] for r in reqs]
    budgeted = LoglikScorer(model, tok, padding_side="left").score(reqs, batch_size=None, token_budget=300)
    for a, b in zip(one_by_one, budgeted, strict=True):
        assert a == pytest.approx(b, abs=TOL)


def test_only_real_tokens_are_counted(demo, prompts):
    model, tok = demo
    reqs = [encode_request(tok, p, ["1", "2"]) for p in prompts[:4]]
    scorer = LoglikScorer(model, tok)
    scorer.score(reqs, batch_size=4)
    assert scorer.tokens_seen == sum(len(r.tokens) for r in reqs)


def test_encode_rejects_bad_requests(demo):
    _, tok = demo
    with pytest.raises(ValueError, match="two continuations"):
        encode_request(tok, "答案：回复", ["1"])
    with pytest.raises(ValueError, match="adds no tokens"):
        encode_request(tok, "答案：回复", ["1", ""])


def test_pad_batch_sides():
    ids, mask, offsets = pad_batch([[5, 6, 7], [8]], pad_id=0, side="left")
    assert ids == [[5, 6, 7], [0, 0, 8]] and mask == [[1, 1, 1], [0, 0, 1]] and offsets == [0, 2]
    ids, mask, offsets = pad_batch([[5, 6, 7], [8]], pad_id=0, side="right")
    assert ids == [[5, 6, 7], [8, 0, 0]] and mask == [[1, 1, 1], [1, 0, 0]] and offsets == [0, 0]
    with pytest.raises(ValueError, match="padding side"):
        pad_batch([[1]], 0, "middle")


@pytest.mark.parametrize("side, head_positions", [("right", 2 * 2), ("left", 2 * 1)])
def test_flop_counters_follow_what_the_pass_computed(side, head_positions):
    """The bench's FLOPs-computed figure rests on these: the LM head runs at the union of the
    rows' scored columns for every row (right padding puts two lengths in two columns, left
    padding lines them up), and causal attention sees L(L+1)/2 pairs per row of L real tokens."""
    model, tok = build_demo_model(seed=5)
    reqs = [encode_request(tok, "问题好", ["1", "2"]), encode_request(tok, "问题好不好", ["1", "2"])]
    assert [len(r.tokens) for r in reqs] == [4, 6]  # bos + characters
    scorer = LoglikScorer(model, tok, padding_side=side)
    scorer.score(reqs, batch_size=2)
    assert scorer.head_positions == head_positions
    assert scorer.attention_pairs == 4 * 5 // 2 + 6 * 7 // 2
    scorer.score([encode_request(tok, "问题", ["1", "2号"])], batch_size=1)  # the shared-prefix fallback
    # prefix [bos, 问, 题] (the cut keeps a token in each suffix), with the head at its last position
    # only; then the suffixes ["1", pad] and ["2", "号"], with the head at every column
    assert scorer.head_positions == head_positions + 1 + 2 * 2
    assert scorer.attention_pairs == 4 * 5 // 2 + 6 * 7 // 2 + 3 * 4 // 2 + (1 * 3 + 1) + (2 * 3 + 3)


@pytest.mark.parametrize("side", ["left", "right"])
def test_batch_prefix_runs_once_and_scores_match_naive(demo, sample_build, side):
    """Items of one config share their opening instructions: the batch runs them once and
    continues every row from a copy of their KV cache, with the same log-probabilities."""
    import datasets

    from cvalues_build.evaluation.loglik import MIN_SHARED_PREFIX

    model, tok = demo
    prompts = datasets.load_dataset(str(sample_build), "safety_mc")["test"]["prompt"]
    contexts = [p[:70 + 29 * i] for i, p in enumerate(prompts[:6])]  # varied lengths, one opening
    reqs = [encode_request(tok, c, ["1", "2"]) for c in contexts]
    scorer = LoglikScorer(model, tok, padding_side=side)
    shared = scorer._batch_prefix(reqs)
    assert shared >= MIN_SHARED_PREFIX
    got = scorer.score(reqs, batch_size=len(reqs))
    assert scorer.tokens_seen == sum(len(r.tokens) for r in reqs) - (len(reqs) - 1) * shared
    for g, c in zip(got, contexts, strict=True):
        assert g == pytest.approx(naive_logprobs(model, tok, c, ["1", "2"]), abs=TOL)
