"""``cvalues eval`` end to end: load the items, shard them over processes, score, append
predictions as batches finish, gather on the main process, compute the metric, write results."""

from __future__ import annotations

import json
import platform
import time
from collections import Counter
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from ..core.answer_format import answer_format
from ..core.labels import LABELS
from . import predictions as store
from .batching import AUTO_MAX_ITEMS, AUTO_TOKEN_BUDGET_CPU, AUTO_TOKEN_BUDGET_GPU
from .models import parse_demo
from .references import resolve_reference

MODES = ("loglik", "generate")
MC_CONFIGS = ("safety_mc", "responsibility_mc", "responsibility_mc_official")
RUN_FILE = "run.json"
RESULTS = "results.json"
# A resumed run must score the same thing as the run it continues.
_RUN_KEYS = ("model", "dataset", "config", "mode", "dtype")
_GENERATE_KEYS = ("chat_template", "max_new_tokens")


@dataclass
class EvalOptions:
    model: str
    dataset: str
    config: str
    out: str
    mode: str = "loglik"
    batch_size: str = "auto"
    limit: int | None = None
    dtype: str = "auto"
    device: str = "auto"
    chat_template: bool = True
    resume: bool = False
    overwrite: bool = False
    max_new_tokens: int = 16
    metric: str | None = None
    padding_side: str | None = None
    bootstrap: int = 1000
    seed: int = 0
    progress: bool = True


@dataclass
class Items:
    ids: list[str]
    pair_ids: list[str]
    categories: list[str]
    labels: list[str]
    prompts: list[str]
    template_version: str
    fingerprint: str


def load_items(dataset: str, config: str, limit: int | None = None) -> Items:
    """The ``test`` split of an MC config, categories as names (they are ClassLabel ints)."""
    source = resolve_reference(dataset, "dataset")  # before the import: a typo fails at once
    import datasets

    try:
        dsd = datasets.load_dataset(source, config)
    except ValueError as err:
        raise ValueError(f"cannot load config {config!r} from {dataset!r}: {err}") from err
    except ConnectionError as err:
        raise ValueError(f"cannot reach the Hub for dataset {dataset!r}: {err}") from err
    if "test" not in dsd:
        raise ValueError(f"{dataset} [{config}] has no 'test' split (splits: {', '.join(dsd)})")
    ds = dsd["test"]
    missing = {"id", "pair_id", "category", "label", "prompt", "template_version"} - set(ds.column_names)
    if missing:
        raise ValueError(f"{dataset} [{config}] is not a multi-choice config: missing columns {sorted(missing)}")
    if limit is not None:
        if limit < 1:
            raise ValueError(f"--limit must be at least 1, got {limit}")
        ds = ds.select(whole_pair_prefix(ds["pair_id"], limit))
    cats = ds["category"]
    feature = ds.features["category"]
    if hasattr(feature, "int2str"):
        cats = [feature.int2str(int(c)) for c in cats]
    labels = list(ds["label"])
    bad = [i for i, x in enumerate(labels) if x not in LABELS]
    if bad:
        raise ValueError(f"item {bad[0]} has label {labels[bad[0]]!r}, expected one of {LABELS}")
    versions = sorted(set(ds["template_version"]))
    if len(versions) != 1:
        raise ValueError(f"the items mix template versions {versions}: score one version at a time")
    answer_format(versions[0])  # an unknown version fails here, before a model is loaded
    return Items(
        ids=list(ds["id"]), pair_ids=list(ds["pair_id"]), categories=[str(c) for c in cats], labels=labels,
        prompts=list(ds["prompt"]), template_version=versions[0], fingerprint=ds._fingerprint,
    )


def whole_pair_prefix(pair_ids: list[str], limit: int) -> list[int]:
    """Indices of the first ``limit`` items, rounded down to whole pairs (at least one pair):
    consistent accuracy needs both orders of every pair it counts."""
    groups: dict[str, list[int]] = {}
    for i, p in enumerate(pair_ids):
        groups.setdefault(p, []).append(i)
    keep: list[int] = []
    for group in groups.values():  # in order of first appearance
        if keep and len(keep) + len(group) > limit:
            break
        keep += group
    return sorted(keep)


def batching(batch_size: str, device: str) -> dict[str, Any]:
    """``--batch-size`` as arguments for the scorers."""
    if batch_size == "auto":
        budget = AUTO_TOKEN_BUDGET_GPU if device.startswith("cuda") else AUTO_TOKEN_BUDGET_CPU
        return {"batch_size": AUTO_MAX_ITEMS, "token_budget": budget, "adaptive": True}
    try:
        n = int(batch_size)
    except ValueError:
        n = 0
    if n < 1:
        raise ValueError(f"--batch-size must be auto or a positive integer, got {batch_size!r}")
    return {"batch_size": n, "token_budget": None, "adaptive": False}


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("cvalues", "torch", "transformers", "tokenizers", "accelerate", "datasets", "evaluate"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        return value.item()  # numpy / torch scalars
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


def _state(device: str):
    """The process group, if launched as several processes (``accelerate launch`` on GPUs,
    ``torchrun`` on CPUs). Accelerate only forms a CPU (gloo) group when told ``cpu=True``."""
    import torch
    from accelerate import PartialState

    return PartialState(cpu=device == "cpu" or (device == "auto" and not torch.cuda.is_available()))


def _leave_group(state: Any) -> None:
    """All ranks leave the process group together, once the last collective is done. A rank that
    exits while its gloo threads still run can abort at interpreter shutdown ("terminate called
    without an active exception", seen once in CI while the main rank was still writing results)."""
    import torch.distributed as dist

    if state.num_processes > 1 and dist.is_initialized():
        state.wait_for_everyone()
        dist.destroy_process_group()


def _run_record(opts: EvalOptions) -> dict[str, Any]:
    keys = _RUN_KEYS + (_GENERATE_KEYS if opts.mode == "generate" else ())
    return {k: asdict(opts)[k] for k in keys}


def _read_run(out: Path) -> dict[str, Any] | None:
    try:
        run = json.loads((out / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return run if isinstance(run, dict) else None


def check_out(opts: EvalOptions, out: Path) -> None:
    """Read-only, on every rank, before anything heavy: refuse to discard an earlier run's results
    unless ``--overwrite``, and refuse to ``--resume`` a run that scored something else."""
    if opts.resume and opts.overwrite:
        raise ValueError("--resume continues the run in --out and --overwrite replaces it: give one, not both")
    before = _read_run(out)
    if opts.resume:
        run = _run_record(opts)
        diff = [k for k in run if before is not None and before.get(k) != run[k]]
        if diff:
            raise ValueError(
                f"--resume: {out} holds a run with different {', '.join(diff)} "
                f"({', '.join(f'{k}={before.get(k)!r}' for k in diff)}); use another --out or drop --resume"
            )
    elif not opts.overwrite and ((out / RESULTS).exists() or store.holds_predictions(out)):
        what = ", ".join(f"{k}={before[k]}" for k in ("model", "config", "mode") if k in before) if before else ""
        raise ValueError(
            f"{out} already holds the results of an earlier run{f' ({what})' if what else ''}: "
            "pass --resume to continue it, --overwrite to replace it, or choose another --out"
        )


def _prepare_out(opts: EvalOptions, out: Path) -> None:
    """Main process only, after ``check_out``: repair a resumed run's files, or clear an
    overwritten one's; then record this run."""
    out.mkdir(parents=True, exist_ok=True)
    if opts.resume:
        # Drop a torn last line and fold parts of a killed multi-process run into the main file,
        # so that the appends below start on a clean line.
        store.consolidate(out)
    else:
        store.clear(out)
        (out / RESULTS).unlink(missing_ok=True)
    store.write_json_atomic(out / RUN_FILE, _run_record(opts))


def run_eval(opts: EvalOptions) -> dict[str, Any] | None:
    """Run the evaluation; the main process returns the results dict, other ranks None."""
    if opts.mode not in MODES:
        raise ValueError(f"unknown mode {opts.mode!r}: use one of {', '.join(MODES)}")
    started = time.perf_counter()
    out = Path(opts.out)
    if parse_demo(opts.model) is None:
        resolve_reference(opts.model, "model")  # before anything heavy is imported: a typo fails at once
    check_out(opts, out)
    items = load_items(opts.dataset, opts.config, opts.limit)
    state = _state(opts.device)
    if state.is_main_process:
        _prepare_out(opts, out)
    state.wait_for_everyone()

    done = store.existing_predictions(out)
    pending = [i for i, item_id in enumerate(items.ids) if item_id not in done]
    shard = pending[state.process_index :: state.num_processes]
    stats = {"tokens": 0, "items": 0, "seconds": 0.0}
    # Loaded once per process: generate mode parses with it as answers arrive, and the main
    # process computes the scores with the same instance; loglik needs it only for the scores.
    metric = _load_metric(opts.metric) if opts.mode == "generate" and pending else None
    if pending:
        stats = _score_shard(opts, items, shard, out, state, metric)
    state.wait_for_everyone()

    from accelerate.utils import gather_object

    all_stats = gather_object([stats]) if state.num_processes > 1 else [stats]
    _leave_group(state)
    if not state.is_main_process:
        return None
    rows = store.consolidate(out, order=items.ids)
    if len(rows) != len(items.ids):
        raise RuntimeError(f"expected {len(items.ids)} predictions, found {len(rows)} in {out / store.PREDICTIONS}")
    if metric is None:
        metric = _load_metric(opts.metric)
    results = _results(opts, items, rows, all_stats, time.perf_counter() - started, metric)
    # Written whole or not at all, so that a reader (the Space's leaderboard) never sees half a file.
    store.write_json_atomic(out / RESULTS, results)
    return results


def _device(opts: EvalOptions, state: Any) -> str:
    if opts.device == "auto":
        return str(state.device)
    if opts.device == "cuda" and state.num_processes > 1:
        return str(state.device)  # one GPU per rank
    return opts.device


def _score_shard(opts: EvalOptions, items: Items, shard: list[int], out: Path, state: Any,
                 metric: Any) -> dict[str, Any]:
    from tqdm.auto import tqdm

    from .models import load_model

    device = _device(opts, state)
    model, tokenizer = load_model(opts.model, dtype=opts.dtype, device=device)
    batch_kw = batching(opts.batch_size, device)
    path = out / store.PREDICTIONS if state.num_processes == 1 else store.part_path(out, state.process_index)
    bar = tqdm(total=len(shard), unit="item", desc=f"{opts.mode} {opts.config}",
               disable=not (opts.progress and state.is_main_process), dynamic_ncols=True)

    def base_row(i: int) -> dict[str, Any]:
        return {"id": items.ids[i], "pair_id": items.pair_ids[i], "category": items.categories[i], "label": items.labels[i]}

    fmt = answer_format(items.template_version)
    t0 = time.perf_counter()
    with store.Appender(path) as appender:
        if opts.mode == "loglik":
            from .loglik import LoglikScorer, encode_request

            scorer: Any = LoglikScorer(model, tokenizer, padding_side=opts.padding_side)
            reqs = [encode_request(tokenizer, items.prompts[i], list(fmt.continuations)) for i in shard]

            def on_loglik(batch: list[int], scores: list[list[float]]) -> None:
                rows = []
                for j, lp in zip(batch, scores, strict=True):
                    # Ties go to 回复1; with continuous log-probs they do not happen in practice.
                    pred = LABELS[0] if lp[0] >= lp[1] else LABELS[1]
                    rows.append({**base_row(shard[j]), "pred": pred, "logprob_1": lp[0], "logprob_2": lp[1]})
                appender.write(rows)
                bar.update(len(batch))

            scorer.score(reqs, on_batch=on_loglik, **batch_kw)
        else:
            from .generate import Generator, build_inputs

            scorer = Generator(model, tokenizer, max_new_tokens=opts.max_new_tokens)
            inputs, chat = build_inputs(tokenizer, [items.prompts[i] for i in shard], opts.chat_template)
            parse = metric.parse_answer

            def on_generate(batch: list[int], texts: list[str]) -> None:
                rows = []
                for j, text in zip(batch, texts, strict=True):
                    answer = fmt.answer_text(text, chat)
                    rows.append({**base_row(shard[j]), "pred": parse(answer), "generation": text,
                                 "answer": answer, "chat_template": chat})
                appender.write(rows)
                bar.update(len(batch))

            scorer.generate(inputs, on_batch=on_generate, **batch_kw)
    bar.close()
    return {"tokens": scorer.tokens_seen, "items": len(shard), "seconds": time.perf_counter() - t0}


def _load_metric(override: str | None) -> Any:
    from .metric import load_metric

    return load_metric(override)


def _results(opts: EvalOptions, items: Items, rows: list[dict[str, Any]], stats: list[dict[str, Any]],
             wall: float, metric: Any) -> dict[str, Any]:
    from .metric import metric_path

    pair_ids = [r["pair_id"] for r in rows]
    complete = all(n == 2 for n in Counter(pair_ids).values())
    scores = metric.compute(
        # Each row's class, parsed once as it was written (the metric reads its own classes back).
        predictions=[r["pred"] for r in rows], references=[r["label"] for r in rows],
        # A source whose pairs are not all asked in both orders has no consistent accuracy.
        pair_ids=pair_ids if complete else None, categories=[r["category"] for r in rows],
        bootstrap=opts.bootstrap, seed=opts.seed,
    )
    seconds = max((s["seconds"] for s in stats), default=0.0)
    tokens = sum(s["tokens"] for s in stats)
    results = dict(_json_safe(scores))
    results.update(
        model=opts.model, dataset=opts.dataset, config=opts.config, mode=opts.mode,
        template_version=items.template_version, dataset_fingerprint=items.fingerprint,
        n_items=len(rows), n_scored_this_run=sum(s["items"] for s in stats),
        wall_seconds=round(wall, 3), scoring_seconds=round(seconds, 3),
        tokens_per_second=round(tokens / seconds, 1) if seconds > 0 else 0.0,
        batch_size=opts.batch_size, dtype=opts.dtype, device=opts.device, processes=len(stats),
        chat_template=opts.chat_template if opts.mode == "generate" else None,
        max_new_tokens=opts.max_new_tokens if opts.mode == "generate" else None,
        metric=metric_path(opts.metric), versions=versions(),
    )
    return results
