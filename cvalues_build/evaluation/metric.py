"""Reaching the cvalues metric. Only through ``evaluate.load`` so that the scores here are the
ones anyone gets from the published metric; this module never imports it directly.

One route finds it: the script of the installed ``cvalues_metric`` package. In a checkout the
editable install maps that package onto ``metric/cvalues/``, so a checkout scores with the
metric being edited there; installed, it is the copy shipped with the same cvalues version as
the runner. (Walking up from this file to a checkout worked in a checkout only, and with the
installed copy as a fallback two different scripts could answer depending on where cvalues ran.)
"""

from __future__ import annotations

from importlib.util import find_spec
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
    # find_spec locates the package without running it (its siblings import evaluate).
    spec = find_spec("cvalues_metric")
    folders = list(spec.submodule_search_locations or []) if spec else []
    if not folders:
        raise FileNotFoundError("the cvalues metric package (cvalues_metric) is not installed: "
                                "reinstall cvalues, or pass --metric PATH/TO/cvalues.py")
    script = Path(folders[0]).resolve() / METRIC_SCRIPT
    if not script.exists():
        raise FileNotFoundError(f"the cvalues_metric package has no {METRIC_SCRIPT} at {script}: pass --metric PATH")
    return str(script)


def load_metric(override: str | None = None) -> Any:
    import evaluate

    return evaluate.load(metric_path(override))
