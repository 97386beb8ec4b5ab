"""Length-sorted batching and the OOM back-off of ``--batch-size auto`` (a fake OOM: CPUs have none)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cvalues_build.evaluation.batching import OutOfMemory, is_oom, plan_batches, run_with_backoff


@settings(max_examples=60, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 500), min_size=0, max_size=60),
    max_items=st.one_of(st.none(), st.integers(1, 16)),
    budget=st.one_of(st.none(), st.integers(1, 4000)),
)
def test_plan_covers_each_item_once_longest_first_within_limits(lengths, max_items, budget):
    batches = plan_batches(lengths, max_items, budget)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(lengths)))
    assert [lengths[i] for i in flat] == sorted(lengths, reverse=True)
    for b in batches:
        if max_items is not None:
            assert len(b) <= max_items
        if budget is not None and len(b) > 1:
            assert max(lengths[i] for i in b) * len(b) <= budget


class FakeOOM(RuntimeError):
    pass


def test_is_oom_recognises_allocator_errors():
    assert is_oom(RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert is_oom(type("OutOfMemoryError", (RuntimeError,), {})("boom"))
    assert not is_oom(ValueError("out of range"))


def _device_with_capacity(capacity: int, lengths: list[int], log: list[list[int]]):
    """A run_batch that fails like a GPU when a batch's padded tokens exceed ``capacity``."""

    def run(batch: list[int]) -> None:
        if max(lengths[i] for i in batch) * len(batch) > capacity:
            raise RuntimeError("CUDA out of memory (fake)")
        log.append(batch)

    return run


def test_backoff_halves_until_it_fits_and_scores_each_item_once():
    lengths = [100 - i for i in range(40)]
    done: list[list[int]] = []
    budgets = []
    run_with_backoff(lengths, _device_with_capacity(700, lengths, done), max_items=256, token_budget=1 << 16,
                     adaptive=True, on_oom=lambda n, b: budgets.append(b))
    flat = [i for b in done for i in b]
    assert sorted(flat) == list(range(40))  # nothing lost, nothing twice
    assert budgets and budgets == sorted(budgets, reverse=True)
    assert all(max(lengths[i] for i in b) * len(b) <= 700 for b in done)
    # halving stops at the first size that fits: the largest batch is more than half the capacity
    assert max(max(lengths[i] for i in b) * len(b) for b in done) > 700 // 2


def test_backoff_keeps_finished_batches():
    # The first batches fit, a later (shorter-per-item, bigger) one does not: finished ones stay done.
    lengths = [500] * 2 + [10] * 100
    done: list[list[int]] = []
    calls = {"n": 0}

    def run(batch):
        calls["n"] += 1
        if len(batch) > 20:
            raise RuntimeError("out of memory")
        done.append(batch)

    run_with_backoff(lengths, run, max_items=64, token_budget=1000, adaptive=True)
    assert sorted(i for b in done for i in b) == list(range(102))


def test_fixed_batch_size_oom_is_a_clear_error():
    lengths = [10] * 8
    with pytest.raises(OutOfMemory, match="--batch-size 8"):
        run_with_backoff(lengths, _device_with_capacity(20, lengths, []), max_items=8, token_budget=None,
                         adaptive=False)


def test_single_item_oom_gives_up():
    lengths = [50, 50]
    with pytest.raises(OutOfMemory, match="single item"):
        run_with_backoff(lengths, _device_with_capacity(10, lengths, []), max_items=2, token_budget=None,
                         adaptive=True)


def test_other_errors_propagate():
    def run(batch):
        raise FakeOOM("not memory")

    with pytest.raises(FakeOOM):
        run_with_backoff([1, 2], run, max_items=2, token_budget=None, adaptive=True)


def test_scorer_backs_off_on_injected_oom_with_unchanged_results(monkeypatch):
    torch = pytest.importorskip("torch")
    from cvalues_build.evaluation.demo_model import build_demo_model
    from cvalues_build.evaluation.loglik import LoglikScorer, encode_request

    model, tok = build_demo_model(seed=2)
    reqs = [encode_request(tok, "问题：" + "好" * (5 + 3 * i) + "\n答案：回复", ["1", "2"]) for i in range(12)]
    want = LoglikScorer(model, tok).score(reqs, batch_size=1)

    scorer = LoglikScorer(model, tok)
    real = scorer.score_batch
    sizes = []

    def flaky(batch):
        sizes.append(len(batch))
        if len(batch) > 3:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (injected)")
        return real(batch)

    monkeypatch.setattr(scorer, "score_batch", flaky)
    got = scorer.score(reqs, batch_size=256, token_budget=1 << 16, adaptive=True)
    # 12 fails, then 6 fails, then batches of 3 cover the 12 items exactly once
    assert sizes == [12, 6, 3, 3, 3, 3]
    for g, w in zip(got, want, strict=True):
        assert g == pytest.approx(w, abs=1e-4)
