"""Length-sorted batching under a token budget, and the OOM back-off that ``--batch-size auto``
relies on. Pure Python: no torch import, so the logic is unit-testable without a model."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

# ``--batch-size auto`` starts here and halves on every OOM. On GPU the budget is in padded
# tokens per forward pass; the longest batches come first, so if the first fits the rest do too.
AUTO_TOKEN_BUDGET_GPU = 1 << 16
AUTO_TOKEN_BUDGET_CPU = 1 << 13
AUTO_MAX_ITEMS = 256


class OutOfMemory(RuntimeError):
    """Raised when even a one-item batch does not fit."""


def plan_batches(lengths: Sequence[int], max_items: int | None, token_budget: int | None) -> list[list[int]]:
    """Indices into ``lengths`` grouped into batches: longest first (so an OOM shows at once and
    padding is minimal), each batch at most ``max_items`` long and at most ``token_budget``
    padded tokens (``max length x items``). A single item longer than the budget gets its own batch."""
    if max_items is not None and max_items < 1:
        raise ValueError(f"batch size must be at least 1, got {max_items}")
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        # Sorted longest first, so the batch's padded width is the length of its first item.
        width = lengths[current[0]] if current else lengths[i]
        full = max_items is not None and len(current) >= max_items
        over = token_budget is not None and current and width * (len(current) + 1) > token_budget
        if current and (full or over):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


def is_oom(err: BaseException) -> bool:
    """True for CUDA / MPS / CPU allocator out-of-memory errors."""
    name = type(err).__name__
    return name == "OutOfMemoryError" or (isinstance(err, RuntimeError) and "out of memory" in str(err).lower())


def run_with_backoff(
    lengths: Sequence[int],
    run_batch: Callable[[list[int]], Any],
    *,
    max_items: int | None,
    token_budget: int | None,
    adaptive: bool,
    on_oom: Callable[[int | None, int | None], None] | None = None,
) -> None:
    """Run ``run_batch`` over the planned batches. With ``adaptive`` (``--batch-size auto``), an
    OOM halves the budget and the items not yet done are re-planned; a batch is never half-done,
    so nothing is scored twice. Without it, an OOM is re-raised with a hint."""
    pending = list(range(len(lengths)))
    while pending:
        sub = [lengths[i] for i in pending]
        batches = [[pending[j] for j in b] for b in plan_batches(sub, max_items, token_budget)]
        done: set[int] = set()
        current: list[int] = []
        try:
            for current in batches:
                run_batch(current)
                done.update(current)
        except Exception as err:
            if not is_oom(err):
                raise
            if not adaptive:
                raise OutOfMemory(f"out of memory with --batch-size {max_items}: try a smaller one or auto") from err
            failed = len(current)
            if failed <= 1:
                raise OutOfMemory("out of memory on a single item: the model or the item is too large") from err
            width = max(lengths[i] for i in current)
            # Halve both limits from what actually failed, so a loose budget shrinks fast too.
            token_budget = max(1, min(token_budget or failed * width, failed * width) // 2)
            max_items = max(1, min(max_items or failed, failed) // 2)
            if on_oom is not None:
                on_oom(max_items, token_budget)
            _empty_cache()
        pending = [i for i in pending if i not in done]


def map_in_order(
    inputs: Sequence[T],
    lengths: Sequence[int],
    batch_fn: Callable[[list[T]], list[R]],
    *,
    max_items: int | None,
    token_budget: int | None,
    adaptive: bool,
    on_batch: Callable[[list[int], list[R]], None] | None = None,
) -> list[R | None]:
    """``batch_fn`` over length-sorted batches (see ``run_with_backoff``), with the results put
    back in input order. ``on_batch(indices, results)`` sees each batch as it finishes, so callers
    can persist work before the next batch runs."""
    results: list[R | None] = [None] * len(inputs)

    def run(batch: list[int]) -> None:
        outputs = batch_fn([inputs[i] for i in batch])
        for i, out in zip(batch, outputs, strict=True):
            results[i] = out
        if on_batch is not None:
            on_batch(batch, outputs)

    run_with_backoff(lengths, run, max_items=max_items, token_budget=token_budget, adaptive=adaptive)
    return results


def _empty_cache() -> None:
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
