"""``cvalues eval`` end to end: load the items, shard them over processes, score, append
predictions as batches finish, gather on the main process, compute the metric, write results."""

from __future__ import annotations

import os
import platform
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from . import predictions as store
from .backends import check_model, parse_batch_size, parse_model
from .items import MC_CONFIGS, Items, load_items, whole_pair_prefix
from .metric import LazyMetric
from .modes import RUN_KEYS_BY_MODE, SCORERS, ShardJob, generation_settings
from .pair_runner import PAIR_MODES, PAIR_RUN_KEYS

__all__ = ["MC_CONFIGS", "MODES", "EvalOptions", "Items", "load_items", "run_eval", "whole_pair_prefix"]

MODES = (*SCORERS, *PAIR_MODES)
RUN_FILE = store.RUN_FILE
RESULTS = "results.json"
# A resumed run must score the same thing as the run it continues.
_RUN_KEYS = ("model", "dataset", "config", "mode", "dtype")


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
    ref_model: str | None = None  # dpo mode (pair_runner)
    dpo_norm: str | None = None
    with_mc: bool = False
    backend_options: dict[str, Any] = field(default_factory=dict)  # a served model's (backends/flags.py)


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


@dataclass
class OneProcess:
    """The state of a run launched as a single process: the same attributes as accelerate's
    ``PartialState``, without importing accelerate (or torch) to learn that there is one process."""

    device: str = "auto"  # the backend resolves it
    num_processes: int = 1
    process_index: int = 0
    is_main_process: bool = True

    def wait_for_everyone(self) -> None:
        return None


def _launched_as_group() -> bool:
    """Whether a launcher (torchrun, accelerate launch, mpirun) started several processes."""
    for var in ("WORLD_SIZE", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE"):
        try:
            if int(os.environ.get(var) or 1) > 1:
                return True
        except ValueError:
            continue
    return False


def _state(device: str):
    """The process group, if launched as several processes (``accelerate launch`` on GPUs,
    ``torchrun`` on CPUs). Accelerate only forms a CPU (gloo) group when told ``cpu=True``."""
    if not _launched_as_group():
        return OneProcess()
    import torch
    from accelerate import PartialState

    return PartialState(cpu=device == "cpu" or (device == "auto" and not torch.cuda.is_available()))


def _leave_group(state: Any) -> None:
    """All ranks leave the process group together, once the last collective is done. A rank that
    exits while its gloo threads still run can abort at interpreter shutdown ("terminate called
    without an active exception", seen once in CI while the main rank was still writing results)."""
    if state.num_processes == 1:
        return
    import torch.distributed as dist

    if dist.is_initialized():
        state.wait_for_everyone()
        dist.destroy_process_group()


def _run_record(opts: EvalOptions) -> dict[str, Any]:
    keys = _RUN_KEYS + {**RUN_KEYS_BY_MODE, **PAIR_RUN_KEYS}.get(opts.mode, ())
    return {k: asdict(opts)[k] for k in keys}


def check_options(opts: EvalOptions) -> None:
    """Every option that can be checked without loading anything: a mistake fails at once, before
    torch, datasets or a model is imported."""
    if opts.mode not in SCORERS:
        raise ValueError(f"unknown mode {opts.mode!r}: use one of {', '.join(SCORERS)}")
    if opts.resume and opts.overwrite:
        raise ValueError("--resume continues the run in --out and --overwrite replaces it: give one, not both")
    parse_batch_size(opts.batch_size)
    if opts.mode == "generate":
        generation_settings(opts)  # refuses --max-new-tokens 0
    check_model(opts.model)  # a model path that does not exist fails here


def check_out(opts: EvalOptions, out: Path) -> None:
    """Read-only, on every rank, before anything heavy: refuse to discard an earlier run's results
    unless ``--overwrite``, and refuse to ``--resume`` a run that scored something else."""
    store.check_run_folder(out, _run_record(opts), resume=opts.resume, overwrite=opts.overwrite, results=RESULTS)


def _prepare_out(opts: EvalOptions, out: Path) -> None:
    """Main process only, after ``check_out``: repair a resumed run's files, or clear an
    overwritten one's; then record this run."""
    store.prepare_run_folder(out, _run_record(opts), resume=opts.resume, results=RESULTS)


def run_eval(opts: EvalOptions) -> dict[str, Any] | None:
    """Run the evaluation; the main process returns the results dict, other ranks None."""
    if opts.mode in PAIR_MODES:  # pairs, not items: their own loop and scores (pair_runner)
        from .pair_runner import run_pairs

        return run_pairs(opts)
    started = time.perf_counter()
    out = Path(opts.out)
    check_options(opts)
    check_out(opts, out)
    items = load_items(opts.dataset, opts.config, opts.limit)
    state = _state(opts.device)
    if state.is_main_process:
        _prepare_out(opts, out)
    state.wait_for_everyone()

    done = store.existing_predictions(out)
    pending = [i for i, item_id in enumerate(items.ids) if item_id not in done]
    shard = pending[state.process_index :: state.num_processes]
    stats: dict[str, Any] = {"tokens": 0, "items": 0, "seconds": 0.0}
    # One per process, loaded when first asked for: generate mode parses with it as answers
    # arrive and the main process computes the scores with it; loglik asks only for the scores.
    metric = LazyMetric(opts.metric)
    if pending:
        stats = _score_shard(opts, items, shard, out, state, metric)
    state.wait_for_everyone()
    if state.num_processes > 1:
        from accelerate.utils import gather_object

        all_stats = gather_object([stats])
    else:
        all_stats = [stats]
    _leave_group(state)
    if not state.is_main_process:
        return None
    rows = store.consolidate(out, order=items.ids)
    if len(rows) != len(items.ids):
        raise RuntimeError(f"expected {len(items.ids)} predictions, found {len(rows)} in {out / store.PREDICTIONS}")
    results = _results(opts, items, rows, all_stats, time.perf_counter() - started, metric())
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
                 metric: LazyMetric | None = None) -> dict[str, Any]:
    """This process's items through the mode's scorer, each batch appended as it finishes."""
    from tqdm.auto import tqdm

    path = out / store.PREDICTIONS if state.num_processes == 1 else store.part_path(out, state.process_index)
    bar = tqdm(total=len(shard), unit="item", desc=f"{opts.mode} {opts.config}",
               disable=not (opts.progress and state.is_main_process), dynamic_ncols=True)
    with store.Appender(path) as appender:
        def write(positions: list[int], rows: list[dict[str, Any]]) -> None:
            appender.write([{**_item_fields(items, shard[j]), **row} for j, row in zip(positions, rows, strict=True)])
            bar.update(len(rows))

        job = ShardJob(opts=opts, items=items, shard=shard, device=_device(opts, state),
                       metric=metric or LazyMetric(opts.metric), write=write)
        stats = SCORERS[opts.mode](job)
    bar.close()
    return {"tokens": 0, "seconds": 0.0, **stats, "items": len(shard)}


def _item_fields(items: Items, i: int) -> dict[str, Any]:
    return {"id": items.ids[i], "pair_id": items.pair_ids[i], "category": items.categories[i], "label": items.labels[i]}


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
    # What ran: the backend's own account when this run scored items, else the parsed name.
    backend = next((s["backend"] for s in stats if s.get("backend")), None)
    if backend is None:
        ref = parse_model(opts.model)
        backend = {"backend": ref.backend, "model": ref.target}
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
        backend=backend, generation=generation_settings(opts).record() if opts.mode == "generate" else None,
        metric=metric_path(opts.metric), versions=versions(),
    )
    return results
