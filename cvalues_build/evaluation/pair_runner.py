"""``cvalues eval --mode reward|dpo``: preference pairs through a reward model or a DPO policy.

The output folder works as in the other modes (``runner.check_out`` / ``_prepare_out``: refuse to
discard a run, ``--resume`` one that scored the same thing, ``run.json``): one row per pair is
appended to ``predictions.jsonl`` as each batch finishes, and ``results.json`` is written whole
at the end. With ``--with-mc`` (dpo) the same model first answers the multi-choice question on
the same pairs, through loglik mode's own scorer, into ``mc_predictions.jsonl``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import predictions as store

if TYPE_CHECKING:
    from .preference import Pairs

# Nothing heavy at import: the runner imports this module to know the modes; numpy, torch and
# the scorers load when a pair mode runs.
PAIR_MODES = ("reward", "dpo")
# Options a resumed run must share with the run it continues (beyond model, data, mode, dtype).
PAIR_RUN_KEYS: dict[str, tuple[str, ...]] = {"reward": ("chat_template",),
                                             "dpo": ("chat_template", "ref_model", "dpo_norm")}


def check_pair_options(opts: Any) -> None:
    """What can be refused before anything is loaded."""
    from .backends import parse_batch_size
    from .dpo import DPO_NORMS

    if opts.mode == "reward" and (opts.ref_model or opts.dpo_norm or opts.with_mc):
        raise ValueError("--ref-model, --dpo-norm and --with-mc belong to --mode dpo, not reward")
    if opts.ref_model and opts.dpo_norm:
        raise ValueError("--dpo-norm applies only without --ref-model: with a reference the reward is "
                         "the summed log-ratio, which needs no length normalisation")
    if opts.dpo_norm is not None and opts.dpo_norm not in DPO_NORMS:
        raise ValueError(f"unknown --dpo-norm {opts.dpo_norm!r}: use one of {', '.join(DPO_NORMS)}")
    parse_batch_size(opts.batch_size)
    for name in (opts.model, opts.ref_model):
        _source(name)  # a path that does not exist fails here


def _source(name: str | None) -> str | None:
    """What ``load_model`` gets for ``--model`` / ``--ref-model``: these modes need the weights in
    this process, so only the hf backend's names (demo, a folder, a Hub id, hf:...) are taken."""
    from .backends import parse_model
    from .models import parse_demo
    from .references import resolve_reference

    if name is None:
        return None
    ref = parse_model(name)
    if ref.backend != "hf":
        raise ValueError(f"model {name!r}: reward and dpo modes run a transformers model in this process "
                         f"(the hf backend), not the {ref.backend!r} backend")
    return ref.target if parse_demo(ref.target) is not None else resolve_reference(ref.target, "model")


def run_pairs(opts: Any) -> dict[str, Any]:
    """Score the pairs; return (and write) the results. One process: a launcher's group is refused."""
    from .preference import load_pairs
    from .runner import RESULTS, _launched_as_group, _prepare_out, check_out

    started = time.perf_counter()
    out = Path(opts.out)
    check_pair_options(opts)
    if _launched_as_group():
        raise ValueError(f"--mode {opts.mode} runs in one process: launch it without torchrun/accelerate")
    check_out(opts, out)
    pairs = load_pairs(opts.dataset, opts.config, opts.limit)
    _prepare_out(opts, out)
    if not opts.resume:
        (out / MC_PREDICTIONS).unlink(missing_ok=True)
    done = store.existing_predictions(out)
    pending = [k for k, pid in enumerate(pairs.pair_ids) if pid not in done]
    mc = _score_mc(opts, pairs, out) if opts.with_mc else None
    stats = _score(opts, pairs, pending, out) if pending else {"tokens": 0, "seconds": 0.0}
    rows = store.consolidate(out, order=pairs.pair_ids)
    if len(rows) != len(pairs):
        raise RuntimeError(f"expected {len(pairs)} pair predictions, found {len(rows)} in {out / store.PREDICTIONS}")
    results = _results(opts, pairs, rows, {**stats, "pairs": len(pending)}, time.perf_counter() - started)
    if mc is not None:
        from .pair_metrics import mc_link

        mc["link"] = mc_link([r["pair_id"] for r in rows], [r["correct"] for r in rows], mc.pop("rows"))
        results["mc"] = mc
    store.write_json_atomic(out / RESULTS, results)
    return results


def _row(pairs: Pairs, k: int, chosen_reward: float, rejected_reward: float, **extra: Any) -> dict[str, Any]:
    from .pair_metrics import is_correct

    pid = pairs.pair_ids[k]
    return {"id": pid, "pair_id": pid, "difficulty": pairs.difficulties[k], "category": pairs.categories[k],
            "chosen_reward": chosen_reward, "rejected_reward": rejected_reward,
            "margin": chosen_reward - rejected_reward, "correct": is_correct(chosen_reward, rejected_reward),
            "chosen_chars": len(pairs.chosen[k]), "rejected_chars": len(pairs.rejected[k]), **extra}


def _score(opts: Any, pairs: Pairs, pending: list[int], out: Path) -> dict[str, Any]:
    """The pending pairs through the model, each finished batch appended before the next runs."""
    from tqdm.auto import tqdm

    from .backends.hf import batching
    from .models import resolve_device

    batch_kw = batching(opts.batch_size, resolve_device(opts.device))
    sub = pairs.select(pending)
    bar = tqdm(total=len(pending), unit="pair", desc=f"{opts.mode} {opts.config}", disable=not opts.progress,
               dynamic_ncols=True)
    with store.Appender(out / store.PREDICTIONS) as appender:
        def write(rows: list[dict[str, Any]]) -> None:
            appender.write(rows)
            bar.update(len(rows))

        score = _score_reward if opts.mode == "reward" else _score_dpo
        stats = score(opts, sub, write, batch_kw)
    bar.close()
    return stats


def _score_reward(opts: Any, pairs: Pairs, write: Any, batch_kw: dict[str, Any]) -> dict[str, Any]:
    from .encoding import token_ids
    from .preference import conversations, uses_chat_template
    from .reward import RewardScorer, load_reward_model

    model, tokenizer = load_reward_model(_source(opts.model), dtype=opts.dtype, device=opts.device)
    chat = uses_chat_template(tokenizer, opts.chat_template)
    _, with_chosen, special = conversations(tokenizer, pairs.questions, pairs.chosen, chat)
    _, with_rejected, _ = conversations(tokenizer, pairs.questions, pairs.rejected, chat)
    ids = token_ids(tokenizer, with_chosen + with_rejected, special)
    n = len(pairs)
    scorer = RewardScorer(model, tokenizer, padding_side=opts.padding_side)
    started = time.perf_counter()

    def on_batch(batch: list[int], rewards: list[tuple[float, float]]) -> None:
        write([_row(pairs, k, c, r) for k, (c, r) in zip(batch, rewards, strict=True)])

    scorer.score(ids[:n], ids[n:], on_batch=on_batch, **batch_kw)
    return {"tokens": scorer.tokens_seen, "seconds": time.perf_counter() - started, "chat_template": chat,
            "backend": _describe(model, opts.model)}


def _score_dpo(opts: Any, pairs: Pairs, write: Any, batch_kw: dict[str, Any]) -> dict[str, Any]:
    from .dpo import DEFAULT_DPO_NORM, PairLogprobScorer, encode_pairs, implicit_reward
    from .models import load_model
    from .preference import uses_chat_template

    policy, tokenizer = load_model(_source(opts.model), dtype=opts.dtype, device=opts.device)
    reference = None
    if opts.ref_model:
        ref_model, ref_tokenizer = load_model(_source(opts.ref_model), dtype=opts.dtype, device=opts.device)
        if ref_tokenizer.get_vocab() != tokenizer.get_vocab():
            raise ValueError(f"--ref-model {opts.ref_model} has another tokenizer than {opts.model}: "
                             "the log-ratio needs both models to score the same tokens")
        reference = PairLogprobScorer(ref_model, tokenizer, padding_side=opts.padding_side)
    norm = opts.dpo_norm or DEFAULT_DPO_NORM
    chat = uses_chat_template(tokenizer, opts.chat_template)
    tokens = encode_pairs(tokenizer, pairs.questions, pairs.chosen, pairs.rejected, chat)
    scorer = PairLogprobScorer(policy, tokenizer, padding_side=opts.padding_side)
    started = time.perf_counter()

    def on_batch(batch: list[int], scores: list[tuple[float, ...]]) -> None:
        rows = []
        for k, lp in zip(batch, scores, strict=True):
            n_tokens = (tokens[k].reply_tokens(0), tokens[k].reply_tokens(1))
            ref = (lp[2], lp[3]) if reference is not None else (None, None)
            rewards = [implicit_reward(lp[c], n_tokens[c], ref[c], norm) for c in (0, 1)]
            extra = {"chosen_logprob": lp[0], "rejected_logprob": lp[1],
                     "chosen_tokens": n_tokens[0], "rejected_tokens": n_tokens[1]}
            if reference is not None:
                extra.update(chosen_ref_logprob=lp[2], rejected_ref_logprob=lp[3])
            rows.append(_row(pairs, k, rewards[0], rewards[1], **extra))
        write(rows)

    scorer.score_pairs(tokens, reference=reference, on_batch=on_batch, **batch_kw)
    seen = scorer.tokens_seen + (reference.tokens_seen if reference is not None else 0)
    return {"tokens": seen, "seconds": time.perf_counter() - started, "chat_template": chat,
            "backend": _describe(policy, opts.model)}


def _describe(model: Any, name: str) -> dict[str, str]:
    """What ran, as the hf backend describes itself in the other modes: the dtype --dtype auto chose."""
    weights = next(model.parameters())
    return {"backend": "hf", "model": name, "dtype": str(weights.dtype).removeprefix("torch."),
            "device": str(weights.device)}


def reward_name(opts: Any) -> str:
    """What a pair's reward is, in words, for ``results.json``."""
    from .dpo import DEFAULT_DPO_NORM

    if opts.mode == "reward":
        return "reward model score"
    if opts.ref_model:
        return "sum log π(reply|prompt) − log π_ref(reply|prompt)"
    norm = opts.dpo_norm or DEFAULT_DPO_NORM
    return "mean log π(reply|prompt) per reply token" if norm == "avg" else "sum log π(reply|prompt)"


def _results(opts: Any, pairs: Pairs, rows: list[dict[str, Any]], stats: dict[str, Any], wall: float) -> dict[str, Any]:
    from .dpo import DEFAULT_DPO_NORM
    from .pair_metrics import pair_scores
    from .runner import versions

    results = pair_scores(rows, bootstrap=opts.bootstrap, seed=opts.seed, categories_known=pairs.categories_known)
    seconds = stats["seconds"]
    results.update(
        model=opts.model, dataset=opts.dataset, config=opts.config, mode=opts.mode, table="preference",
        reward=reward_name(opts), ref_model=opts.ref_model if opts.mode == "dpo" else None,
        dpo_norm=(opts.dpo_norm or DEFAULT_DPO_NORM) if opts.mode == "dpo" and not opts.ref_model else None,
        template_version=pairs.template_version, dataset_fingerprint=pairs.fingerprint,
        n_items=len(rows), n_pairs=len(rows), n_scored_this_run=stats["pairs"],
        wall_seconds=round(wall, 3), scoring_seconds=round(seconds, 3),
        tokens_per_second=round(stats["tokens"] / seconds, 1) if seconds > 0 else 0.0,
        batch_size=opts.batch_size, dtype=opts.dtype, device=opts.device, processes=1,
        chat_template=stats.get("chat_template", opts.chat_template), bootstrap=opts.bootstrap, seed=opts.seed,
        backend=stats.get("backend") or {"backend": "hf", "model": opts.model},  # nothing scored this run
        versions=versions(),
    )
    return results


MC_PREDICTIONS = "mc_predictions.jsonl"
MC_KEYS = ("accuracy", "accuracy_ci", "consistent_accuracy", "position_bias", "n", "per_category", "n_items",
           "template_version", "backend")


def _score_mc(opts: Any, pairs: Pairs, out: Path) -> dict[str, Any]:
    """Loglik mode on the two MC items of every pair, through its own scorer (``modes.SCORERS``)
    and its results, so the figures are exactly what ``--mode loglik`` gives on these items. It
    runs before the DPO pass: its backend loads and frees its own copy of the model."""
    from dataclasses import replace

    from .items import Items
    from .metric import LazyMetric
    from .models import resolve_device
    from .modes import SCORERS, ShardJob
    from .runner import _results as mc_results

    path = out / MC_PREDICTIONS
    rows = store.read_jsonl(path)
    store.write_atomic(path, rows)  # drop a torn last line before appending
    flat = [(k, row) for k in range(len(pairs)) for row in pairs.mc_rows[k]]
    items = Items(ids=[r["id"] for _, r in flat], pair_ids=[pairs.pair_ids[k] for k, _ in flat],
                  categories=[pairs.categories[k] for k, _ in flat], labels=[r["label"] for _, r in flat],
                  prompts=[r["prompt"] for _, r in flat], template_version=pairs.template_version,
                  fingerprint=pairs.fingerprint)
    done = {r["id"] for r in rows}
    shard = [i for i, item_id in enumerate(items.ids) if item_id not in done]
    mc_opts = replace(opts, mode="loglik")
    metric = LazyMetric(opts.metric)
    stats: dict[str, Any] = {"tokens": 0, "seconds": 0.0}
    if shard:
        with store.Appender(path) as appender:
            def write(positions: list[int], new: list[dict[str, Any]]) -> None:
                appender.write([{"id": items.ids[shard[j]], "pair_id": items.pair_ids[shard[j]],
                                 "category": items.categories[shard[j]], "label": items.labels[shard[j]], **row}
                                for j, row in zip(positions, new, strict=True)])

            job = ShardJob(opts=mc_opts, items=items, shard=shard, device=resolve_device(opts.device),
                           metric=metric, write=write)
            stats = SCORERS["loglik"](job)
    found = {r["id"]: r for r in store.read_jsonl(path)}
    ordered = [found[i] for i in items.ids]
    full = mc_results(mc_opts, items, ordered, [{**stats, "items": len(shard)}], 0.0, metric())
    return {**{k: full[k] for k in MC_KEYS if k in full}, "rows": ordered}
