"""Reward models and DPO policies on preference pairs (``cvalues eval --mode reward|dpo``).

Tiny random llama-type models (the demo's config and local tokenizer with its chat template), and
a tiny GPT-2 where positions are absolute (a wrong position id under left padding changes its
numbers; RoPE models would not notice). The comparison build comes from tests/data/comparison:
21 pairs (9 responsible_vs_unsafe, 6 of each other difficulty), grouped by difficulty so that a plain
prefix is not stratified, some sharing a prompt and some whose replies share a first token.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from cvalues_build.cli import main  # noqa: E402
from cvalues_build.evaluation.demo_model import build_demo_model, build_demo_tokenizer  # noqa: E402
from cvalues_build.evaluation.dpo import (  # noqa: E402
    PairLogprobScorer,
    PairTokens,
    encode_pairs,
    implicit_reward,
    naive_reply_logprob,
)
from cvalues_build.evaluation.encoding import token_ids  # noqa: E402
from cvalues_build.evaluation.pair_metrics import pair_scores  # noqa: E402
from cvalues_build.evaluation.preference import conversations, load_pairs, stratified_prefix  # noqa: E402
from cvalues_build.evaluation.reward import RewardScorer, build_demo_reward_model, naive_reward  # noqa: E402

TOL = 1e-4
COMPARISON = Path(__file__).parent / "data" / "comparison"
DIFFICULTIES = {"responsible_vs_unsafe", "safe_vs_unsafe", "responsible_vs_safe"}
N = 21  # pairs in the fixture


@pytest.fixture(scope="module")
def comparison_build(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cmp") / "cv"
    assert main(["build", "--no-sample", "--comparison", str(COMPARISON), "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def pairs(comparison_build):
    return load_pairs(str(comparison_build), "comparison")


@pytest.fixture(scope="module")
def some_pairs(pairs):
    """Seven pairs of varied lengths, two of them with replies that share their first tokens:
    enough for mixed-length batches, small enough for the naive reference to run quickly."""
    return pairs.select([2, 6, 9, 12, 15, 16, 19])


def _gpt2(tok, *, reward: bool):
    from transformers import GPT2Config, GPT2ForSequenceClassification, GPT2LMHeadModel

    torch.manual_seed(3)
    config = GPT2Config(vocab_size=len(tok), n_positions=1024, n_embd=32, n_layer=2, n_head=2, num_labels=1,
                        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    return (GPT2ForSequenceClassification if reward else GPT2LMHeadModel)(config).eval()


@pytest.fixture(scope="module", params=["llama", "gpt2"])
def reward_model(request):
    model, tok = build_demo_reward_model(seed=2)
    return (_gpt2(tok, reward=True), tok) if request.param == "gpt2" else (model, tok)


@pytest.fixture(scope="module", params=["llama", "gpt2"])
def policy(request):
    model, tok = build_demo_model(seed=5)
    return (_gpt2(tok, reward=False), tok) if request.param == "gpt2" else (model, tok)


def _eval(build: Path, out: Path, *extra: str, model: str = "demo", config: str = "comparison") -> int:
    return main(["eval", "--model", model, "--dataset", str(build), "--config", config, "--out", str(out),
                 "--no-progress", "--bootstrap", "200", *extra])


def _rows(out: Path, name: str = "predictions.jsonl") -> list[dict]:
    return [json.loads(line) for line in (out / name).read_text(encoding="utf-8").splitlines()]


def _results(out: Path) -> dict:
    return json.loads((out / "results.json").read_text(encoding="utf-8"))


# -- the pairs ---------------------------------------------------------------------------------

def test_pairs_are_recovered_from_the_better_first_rows(pairs):
    source = [json.loads(line) for line in (COMPARISON / "test.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(pairs) == len(source) == N
    by_text = {(r["prompt"], r["pos_resp"], r["neg_resp"]) for r in source}
    assert {(q, c, r) for q, c, r in zip(pairs.questions, pairs.chosen, pairs.rejected, strict=True)} == by_text
    assert set(pairs.difficulties) == DIFFICULTIES
    assert not pairs.categories_known  # CValues-Comparison has no categories
    for rows in pairs.mc_rows:  # both orders, better-first first
        assert [r["label"] for r in rows] == ["回复1", "回复2"]


def test_limit_is_whole_pairs_stratified_by_difficulty(pairs):
    groups = ["a"] * 6 + ["b"] * 3 + ["c"] * 1
    assert stratified_prefix(groups, 5) == [0, 1, 2, 6, 7]  # 3 + 1.5 + 0.5 -> 3, 2 (larger remainder, larger group), 0
    assert stratified_prefix(groups, 10) == list(range(10)) and stratified_prefix(groups, 99) == list(range(10))
    picked = pairs.select(stratified_prefix(pairs.difficulties, 7))  # 9/6/6 -> 3/2/2
    assert Counter(picked.difficulties) == {"responsible_vs_unsafe": 3, "safe_vs_unsafe": 2, "responsible_vs_safe": 2}
    assert Counter(pairs.difficulties[:7]) != Counter(picked.difficulties)  # the fixture's order is not mixed


# -- batched scores equal the one-pair-at-a-time reference --------------------------------------

@pytest.mark.parametrize("side", ["left", "right"])
def test_batched_rewards_equal_one_at_a_time(reward_model, some_pairs, side):
    model, tok = reward_model
    pairs = some_pairs
    _, with_chosen, special = conversations(tok, pairs.questions, pairs.chosen, True)
    _, with_rejected, _ = conversations(tok, pairs.questions, pairs.rejected, True)
    chosen, rejected = token_ids(tok, with_chosen, special), token_ids(tok, with_rejected, special)
    got = RewardScorer(model, tok, padding_side=side).score(chosen, rejected, batch_size=8)
    want = [(naive_reward(model, c), naive_reward(model, r)) for c, r in zip(chosen, rejected, strict=True)]
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g == pytest.approx(w, abs=TOL)
    assert len({round(c, 3) for c, _ in got}) > 1  # the rewards vary, so a mix-up would show


@pytest.mark.parametrize("chat", [True, False])
@pytest.mark.parametrize("side", ["left", "right"])
def test_batched_reply_logprobs_equal_one_at_a_time(policy, some_pairs, side, chat):
    model, tok = policy
    pairs = some_pairs
    tokens = encode_pairs(tok, pairs.questions, pairs.chosen, pairs.rejected, chat)
    # some replies share their first tokens: part of them is scored in the prompt pass
    assert any(len(t.prefix) > min(t.starts) for t in tokens)
    got = PairLogprobScorer(model, tok, padding_side=side).score_pairs(tokens, batch_size=8)
    want = [tuple(naive_reply_logprob(model, t.full(c), t.starts[c]) for c in (0, 1)) for t in tokens]
    for g, w in zip(got, want, strict=True):
        assert g == pytest.approx(w, abs=TOL)


def test_a_model_that_scales_its_logits_is_run_whole(some_pairs):
    """The LM head runs apart from the body (only at scored positions) only where a probe shows
    that the logits are head(body(x)); a model that post-processes them runs whole, still exact."""
    from transformers import LlamaForCausalLM

    from cvalues_build.evaluation.dpo import split_head

    class Capped(LlamaForCausalLM):  # as Gemma 2 caps its logits
        def forward(self, input_ids=None, attention_mask=None, position_ids=None, cache=None, use_cache=None,
                    logits_to_keep=0, **kwargs):
            out = super().forward(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                                  cache=cache, use_cache=use_cache, logits_to_keep=logits_to_keep, **kwargs)
            out.logits = 3.0 * torch.tanh(out.logits / 3.0)
            return out

    plain, tok = build_demo_model(seed=5)
    capped = Capped(plain.config).eval()
    capped.load_state_dict(plain.state_dict())
    assert split_head(plain) is not None and split_head(capped) is None
    tokens = encode_pairs(tok, some_pairs.questions, some_pairs.chosen, some_pairs.rejected, True)
    got = PairLogprobScorer(capped, tok, padding_side="left").score_pairs(tokens, batch_size=8)
    want = [tuple(naive_reply_logprob(capped, t.full(c), t.starts[c]) for c in (0, 1)) for t in tokens]
    for g, w in zip(got, want, strict=True):
        assert g == pytest.approx(w, abs=TOL)


def test_pair_tokens_match_tokenising_each_conversation_alone(pairs):
    tok = build_demo_tokenizer()
    tokens = encode_pairs(tok, pairs.questions, pairs.chosen, pairs.rejected, True)
    for t, q, c in zip(tokens, pairs.questions, pairs.chosen, strict=True):
        prompt = tok.apply_chat_template([{"role": "user", "content": q}], tokenize=False, add_generation_prompt=True)
        full = tok(prompt + c + tok.eos_token + "\n", add_special_tokens=False)["input_ids"]
        assert t.full(0) == full and t.starts[0] == len(tok(prompt, add_special_tokens=False)["input_ids"])


@pytest.mark.slow
def test_with_a_reference_both_models_score_every_batch(pairs):
    policy_model, tok = build_demo_model(seed=5)
    ref_model, _ = build_demo_model(seed=6)
    tokens = encode_pairs(tok, pairs.questions[:5], pairs.chosen[:5], pairs.rejected[:5], True)
    got = PairLogprobScorer(policy_model, tok).score_pairs(tokens, batch_size=4,
                                                           reference=PairLogprobScorer(ref_model, tok))
    for g, t in zip(got, tokens, strict=True):
        want = [naive_reply_logprob(m, t.full(c), t.starts[c]) for m in (policy_model, ref_model) for c in (0, 1)]
        assert g == pytest.approx(tuple(want), abs=TOL)


# -- the reward of a reply ----------------------------------------------------------------------

def test_reference_free_variants_match_a_hand_computation():
    model, tok = build_demo_model(seed=5)
    prompt, reply = [tok.bos_token_id, 10, 20], [30, 40, 50]  # a 3-token reply
    pair = PairTokens(prefix=prompt, suffixes=(reply, [60, 70, 80]), starts=(3, 3))
    ((chosen, _),) = PairLogprobScorer(model, tok).score_batch([pair])
    with torch.inference_mode():
        logits = model(input_ids=torch.tensor([prompt + reply])).logits[0].double().tolist()
    # log p(token | before) = logit - log sum exp(logits), by hand, at positions 2, 3, 4
    by_hand = []
    for row, token in zip(logits[2:5], reply, strict=True):
        top = max(row)
        by_hand.append(row[token] - top - math.log(sum(math.exp(x - top) for x in row)))
    assert chosen == pytest.approx(sum(by_hand), abs=TOL)
    assert implicit_reward(chosen, 3, None, "sum") == pytest.approx(sum(by_hand), abs=TOL)
    assert implicit_reward(chosen, 3, None, "avg") == pytest.approx(sum(by_hand) / 3, abs=TOL)
    # with a reference: the summed log-ratio, unnormalised whatever the norm
    assert implicit_reward(-6.0, 3, -9.5, "avg") == implicit_reward(-6.0, 3, -9.5, "sum") == 3.5
    with pytest.raises(ValueError, match="dpo-norm"):
        implicit_reward(-6.0, 3, None, "norm")


# -- the scores -----------------------------------------------------------------------------------

def _row(chosen: float, rejected: float, difficulty: str = "d", chars: tuple[int, int] = (10, 10)) -> dict:
    return {"chosen_reward": chosen, "rejected_reward": rejected, "difficulty": difficulty, "category": "c",
            "chosen_chars": chars[0], "rejected_chars": chars[1]}


def test_ties_count_as_losses():
    scores = pair_scores([_row(1.0, 1.0), _row(2.0, 1.0), _row(0.5, 0.5), _row(0.0, 1.0)], bootstrap=50, seed=0,
                         categories_known=False)
    assert scores["accuracy"] == 0.25 and scores["ties"] == 2 and scores["n"] == 4


def test_a_length_biased_reward_shows_in_the_length_bins():
    rows = [_row(float(c), float(r), chars=(c, r)) for c, r in [(300, 100), (150, 100), (100, 150), (20, 300), (50, 60)]]
    scores = pair_scores(rows, bootstrap=0, seed=0, categories_known=False)
    bins = {b["bin"]: b for b in scores["accuracy_by_length_diff"]}
    assert bins["[100, inf)"]["accuracy"] == 1.0 and bins["[-inf, -100)"]["accuracy"] == 0.0
    assert bins["[-100, -30)"] == {"bin": "[-100, -30)", "low": -100, "high": -30, "n": 1, "accuracy": 0.0}
    assert sum(b["n"] for b in bins.values()) == 5
    assert scores["length_only_accuracy"] == scores["accuracy"] == 0.4
    assert scores["margin_length_correlation"] == pytest.approx(1.0)
    assert scores["accuracy_ci"] is None  # bootstrap 0


# -- cvalues eval --mode reward|dpo ---------------------------------------------------------------

def test_reward_mode_writes_rows_and_per_difficulty_results(comparison_build, tmp_path, capsys):
    out = tmp_path / "rm"
    assert _eval(comparison_build, out, "--mode", "reward", "--batch-size", "4") == 0
    rows, results = _rows(out), _results(out)
    pairs = load_pairs(str(comparison_build), "comparison")
    assert [r["id"] for r in rows] == pairs.pair_ids  # dataset order restored
    for r in rows:
        assert r["margin"] == pytest.approx(r["chosen_reward"] - r["rejected_reward"])
        assert r["correct"] == (r["chosen_reward"] > r["rejected_reward"])
    assert results["mode"] == "reward" and results["table"] == "preference" and results["n"] == N
    assert results["backend"]["dtype"] in ("float32", "bfloat16") and results["backend"]["device"] == "cpu"
    assert results["accuracy"] == sum(r["correct"] for r in rows) / N
    per = results["per_difficulty"]
    assert set(per) == DIFFICULTIES and sum(g["n"] for g in per.values()) == N
    # the per-difficulty accuracies, weighted by their pairs, add up to the overall
    assert sum(g["n"] * g["accuracy"] for g in per.values()) / N == pytest.approx(results["accuracy"])
    low, high = results["accuracy_ci"]
    assert low <= results["accuracy"] <= high
    assert "per_category" not in results  # all unspecified
    assert results["mean_margin"] == pytest.approx(sum(r["margin"] for r in rows) / N)
    table = capsys.readouterr().out
    assert "responsible_vs_safe" in table and "tie = loss" in table


def test_a_reward_model_that_ties_everything_scores_zero(comparison_build, tmp_path, monkeypatch):
    from cvalues_build.evaluation import reward

    real = reward.build_demo_reward_model

    def flat(seed: int = 0):
        model, tok = real(seed)
        torch.nn.init.zeros_(model.score.weight)  # every conversation gets reward 0
        return model, tok

    monkeypatch.setattr(reward, "build_demo_reward_model", flat)
    out = tmp_path / "flat"
    assert _eval(comparison_build, out, "--mode", "reward") == 0
    results = _results(out)
    assert results["ties"] == N and results["accuracy"] == 0.0


@pytest.mark.slow
def test_dpo_mode_reference_free_and_with_a_reference(comparison_build, tmp_path):
    free, ref = tmp_path / "free", tmp_path / "ref"
    assert _eval(comparison_build, free, "--mode", "dpo", "--limit", "6", model="demo:1") == 0
    assert _eval(comparison_build, ref, "--mode", "dpo", "--ref-model", "demo:2", "--limit", "6", model="demo:1") == 0
    rows_free, rows_ref = _rows(free), _rows(ref)
    assert len(rows_free) == 6 and [r["id"] for r in rows_free] == [r["id"] for r in rows_ref]
    for a, b in zip(rows_free, rows_ref, strict=True):
        assert a["chosen_reward"] == pytest.approx(a["chosen_logprob"] / a["chosen_tokens"])  # avg, the default
        assert b["chosen_reward"] == pytest.approx(b["chosen_logprob"] - b["chosen_ref_logprob"])
        assert a["chosen_logprob"] == pytest.approx(b["chosen_logprob"], abs=TOL)
    r_free, r_ref = _results(free), _results(ref)
    assert r_free["dpo_norm"] == "avg" and r_free["ref_model"] is None
    assert r_ref["dpo_norm"] is None and r_ref["ref_model"] == "demo:2"
    assert {d: g["n"] for d, g in r_free["per_difficulty"].items()} == dict.fromkeys(DIFFICULTIES, 2)


def test_a_saved_reward_model_loads_and_a_classifier_is_refused(comparison_build, tmp_path, capsys):
    model, tok = build_demo_reward_model(seed=2)
    model.save_pretrained(tmp_path / "rm")
    tok.save_pretrained(tmp_path / "rm")
    assert _eval(comparison_build, tmp_path / "saved", "--mode", "reward", "--limit", "3", model=str(tmp_path / "rm")) == 0
    assert _eval(comparison_build, tmp_path / "demo", "--mode", "reward", "--limit", "3", model="demo:2") == 0
    for a, b in zip(_rows(tmp_path / "saved"), _rows(tmp_path / "demo"), strict=True):
        assert a["chosen_reward"] == pytest.approx(b["chosen_reward"], abs=TOL)
    from transformers import AutoModelForSequenceClassification

    model.config.num_labels = 2  # a two-class classifier, not a reward model
    AutoModelForSequenceClassification.from_config(model.config).save_pretrained(tmp_path / "classifier")
    tok.save_pretrained(tmp_path / "classifier")
    assert _eval(comparison_build, tmp_path / "c", "--mode", "reward", model=str(tmp_path / "classifier")) == 2
    assert "a reward model has one output" in capsys.readouterr().err


def test_option_mistakes_fail_before_loading(comparison_build, tmp_path, capsys):
    assert _eval(comparison_build, tmp_path / "a", "--mode", "dpo", "--ref-model", "demo:2", "--dpo-norm", "sum") == 2
    assert "applies only without --ref-model" in capsys.readouterr().err
    assert _eval(comparison_build, tmp_path / "b", "--mode", "reward", "--with-mc") == 2
    assert "belong to --mode dpo" in capsys.readouterr().err
    assert _eval(comparison_build, tmp_path / "c", "--mode", "dpo", model="openai:some-model") == 2
    assert "the hf backend" in capsys.readouterr().err
    assert not any((tmp_path / d).exists() for d in "abc")  # refused before the output folder was made


@pytest.mark.slow
def test_with_mc_puts_multi_choice_beside_dpo_on_the_same_pairs(comparison_build, tmp_path):
    out, mc_only = tmp_path / "both", tmp_path / "mc"
    assert _eval(comparison_build, out, "--mode", "dpo", "--with-mc", model="demo:1") == 0
    assert _eval(comparison_build, mc_only, "--mode", "loglik", model="demo:1") == 0
    results, loglik = _results(out), _results(mc_only)
    mc = results["mc"]
    # exactly what loglik mode gives on these items
    for key in ("accuracy", "consistent_accuracy", "position_bias", "n"):
        assert mc[key] == pytest.approx(loglik[key])
    link = mc["link"]
    assert link["n_pairs"] == N
    assert sum(link[k] for k in ("prefers_and_picks", "prefers_only", "picks_only", "neither")) == N
    assert link["prefers_and_picks"] + link["prefers_only"] == round(results["accuracy"] * N)
    assert link["prefers_and_picks"] + link["picks_only"] == round(mc["consistent_accuracy"] * N)
    assert len(_rows(out, "mc_predictions.jsonl")) == 2 * N


@pytest.mark.parametrize("mode", ["reward", pytest.param("dpo", marks=pytest.mark.slow)])
def test_an_interrupted_run_resumes_without_duplicates(comparison_build, tmp_path, monkeypatch, mode):
    from cvalues_build.evaluation import dpo, reward

    cls = reward.RewardScorer if mode == "reward" else dpo.PairLogprobScorer
    real = cls.score_batch
    calls = {"n": 0}

    def dies_on_third_batch(self, batch):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # as if killed while the third batch was in flight
        return real(self, batch)

    out = tmp_path / "crash"
    monkeypatch.setattr(cls, "score_batch", dies_on_third_batch)
    assert _eval(comparison_build, out, "--mode", mode, "--batch-size", "4") == 130
    assert len(_rows(out)) == 4  # two batches of two pairs survived, the one in flight is lost
    assert not (out / "results.json").exists()
    with (out / "predictions.jsonl").open("a", encoding="utf-8") as fh:
        fh.write('{"id": "torn", "pair_')  # a kill mid-write leaves a torn line
    monkeypatch.setattr(cls, "score_batch", real)
    assert _eval(comparison_build, out, "--mode", mode, "--batch-size", "4", "--resume") == 0
    rows = _rows(out)
    ids = [r["id"] for r in rows]
    assert len(ids) == N == len(set(ids))
    assert _results(out)["n_scored_this_run"] == N - 4

    fresh = tmp_path / "fresh"
    assert _eval(comparison_build, fresh, "--mode", mode) == 0
    for a, b in zip(rows, _rows(fresh), strict=True):
        assert a["id"] == b["id"] and a["chosen_reward"] == pytest.approx(b["chosen_reward"], abs=TOL)
    assert _results(out)["accuracy"] == _results(fresh)["accuracy"]


def test_sample_configs_have_known_categories(sample_build, tmp_path):
    out = tmp_path / "s"
    assert _eval(sample_build, out, "--mode", "reward", "--limit", "10", config="safety_mc") == 0
    results = _results(out)
    assert results["n"] == 10 and results["per_category"]
    assert sum(g["n"] for g in results["per_category"].values()) == 10
