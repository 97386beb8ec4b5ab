"""Reaching the cvalues metric. Only through ``evaluate.load`` so that the scores here are the
ones anyone gets from the published metric; this module never imports it directly.

One route finds it: the script of the installed ``cvalues_metric`` package. In a checkout the
editable install maps that package onto ``metric/cvalues/``, so a checkout scores with the
metric being edited there; installed, it is the copy shipped with the same cvalues version as
the runner. (Walking up from this file to a checkout worked in a checkout only, and with the
installed copy as a fallback two different scripts could answer depending on where cvalues ran.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

METRIC_SCRIPT = "cvalues.py"


def metric_path(override: str | None = None) -> str:
    """The metric script: ``override`` (a script, or a folder holding ``cvalues.py``) when given,
    else the installed ``cvalues_metric`` package's ``cvalues.py``."""
    if override:
        path = Path(override)
        if path.is_dir():
            path = path / METRIC_SCRIPT
        if not path.exists():
            raise FileNotFoundError(f"--metric {override}: no such metric script")
        return str(path)
    try:
        import cvalues_metric  # its __init__ is empty: the metric itself is loaded by evaluate below
    except ImportError as err:
        raise FileNotFoundError("the cvalues metric package (cvalues_metric) is not installed: "
                                "reinstall cvalues, or pass --metric PATH/TO/cvalues.py") from err
    script = Path(cvalues_metric.__file__).resolve().parent / METRIC_SCRIPT
    if not script.exists():
        raise FileNotFoundError(f"the cvalues_metric package has no {METRIC_SCRIPT} at {script}: pass --metric PATH")
    return str(script)


def load_metric(override: str | None = None) -> Any:
    import evaluate

    return evaluate.load(metric_path(override))


class LazyMetric:
    """The run's metric, loaded on first use and then kept: generate mode parses answers with it
    as they arrive, and the scores are computed by the same instance."""

    def __init__(self, override: str | None = None):
        self.override = override
        self._metric: Any = None

    def __call__(self) -> Any:
        if self._metric is None:
            self._metric = load_metric(self.override)
        return self._metric
