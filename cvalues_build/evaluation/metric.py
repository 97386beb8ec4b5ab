"""Reaching the cvalues metric. Only through ``evaluate.load`` so that the scores here are the
ones anyone gets from the published metric; this module never imports it directly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

_REPO_METRIC = Path(__file__).resolve().parents[2] / "metric" / "cvalues" / "cvalues.py"


def metric_path(override: str | None = None) -> str:
    """The metric script: ``override`` when given, else the repo checkout's
    ``metric/cvalues/cvalues.py``, else the installed ``cvalues_metric`` package's copy."""
    if override:
        path = Path(override)
        if path.is_dir():
            path = path / "cvalues.py"
        if not path.exists():
            raise FileNotFoundError(f"--metric {override}: no such metric script")
        return str(path)
    if _REPO_METRIC.exists():
        return str(_REPO_METRIC)
    try:
        import cvalues_metric
    except ImportError as err:
        raise FileNotFoundError("cannot find the cvalues metric: pass --metric PATH/TO/cvalues.py") from err
    installed = Path(cvalues_metric.__file__).resolve().parent / "cvalues.py"
    if not installed.exists():
        raise FileNotFoundError(f"the cvalues_metric package has no cvalues.py at {installed}: pass --metric PATH")
    return str(installed)


def load_metric(override: str | None = None) -> Any:
    import evaluate

    return evaluate.load(metric_path(override))
