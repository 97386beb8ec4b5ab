"""The Space's settings, from the command line or (on a Space) from environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .campaigns import CampaignSettings
from .guard import GuardSettings
from .models import ModelSpec, demo_specs, load_models_file

# Spaces with persistent storage mount it at /data; elsewhere the database sits in the cwd.
_PERSISTENT = Path("/data")


def default_db_path() -> Path:
    if os.environ.get("CVALUES_DB"):
        return Path(os.environ["CVALUES_DB"])
    return (_PERSISTENT if _PERSISTENT.is_dir() and os.access(_PERSISTENT, os.W_OK) else Path(".")) / "cvalues_votes.sqlite3"


@dataclass
class SpaceConfig:
    models: list[ModelSpec] = field(default_factory=demo_specs)
    db_path: Path = field(default_factory=default_db_path)
    dataset_dir: Path | None = None
    results_dir: Path | None = None
    judged_dirs: list[Path] = field(default_factory=list)  # `cvalues judge` folders for the leaderboard
    rate_limit: int = 10  # votes + labels per session per minute
    bootstrap_rounds: int = 100
    seed: int = 0
    concurrency_limit: int = 2  # generations running at once (per event queue)
    device: str = "auto"  # where models load
    run_device: str | None = None  # where they generate, if elsewhere (ZeroGPU: load on cpu, run on cuda)
    sync_folder: Path | None = None  # append-only export files for the Hub mirror
    campaign: CampaignSettings = field(default_factory=CampaignSettings)  # runs to import, quorum, gold, trust
    guard: GuardSettings = field(default_factory=GuardSettings)  # client limits, queue, login, privacy
    title: str = "CValues Arena · 中文大模型价值观评测"

    def __post_init__(self) -> None:
        if self.rate_limit < 1:
            raise ValueError(f"rate limit must be at least 1 per minute, not {self.rate_limit}")
        if self.bootstrap_rounds < 0:
            raise ValueError(f"bootstrap rounds must be >= 0, not {self.bootstrap_rounds}")
        if self.concurrency_limit < 1:
            raise ValueError(f"concurrency limit must be >= 1, not {self.concurrency_limit}")


def _int_env(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or not value.strip():
        return default
    try:
        return int(value)
    except ValueError as err:
        raise ValueError(f"{name} must be an integer, not {value!r}") from err


def on_zero_gpu() -> bool:
    """Whether this is a ZeroGPU Space: Hugging Face sets SPACES_ZERO_GPU there (the ``spaces``
    package reads the same variable)."""
    return os.environ.get("SPACES_ZERO_GPU", "").strip().lower() in ("1", "true", "yes", "on")


def config_from_env(base: Path | None = None) -> SpaceConfig:
    """Settings for a deployed Space: ``CVALUES_MODELS`` (a models file; default ``models.yaml``
    next to the app, else the demo models), ``CVALUES_DB``, ``CVALUES_DATASET``, ``CVALUES_RESULTS``,
    ``CVALUES_RATE_LIMIT``, ``CVALUES_BOOTSTRAP``. On ZeroGPU models load on the CPU and run on
    "cuda" inside each GPU call."""
    base = base or Path.cwd()
    models_file = os.environ.get("CVALUES_MODELS") or next(
        (str(p) for p in (base / "models.yaml", base / "models.json") if p.is_file()), None)
    dataset = os.environ.get("CVALUES_DATASET") or (str(base / "dataset") if (base / "dataset").is_dir() else None)
    results = os.environ.get("CVALUES_RESULTS") or (str(base / "results") if (base / "results").is_dir() else None)
    db = default_db_path()
    return SpaceConfig(
        models=load_models_file(models_file) if models_file else demo_specs(),
        db_path=db,
        dataset_dir=Path(dataset) if dataset else None,
        results_dir=Path(results) if results else None,
        rate_limit=_int_env("CVALUES_RATE_LIMIT", 10),
        bootstrap_rounds=_int_env("CVALUES_BOOTSTRAP", 100),
        sync_folder=db.parent / "votes_sync",
        guard=GuardSettings.from_env(),
        device="cpu" if on_zero_gpu() else "auto",
        run_device="cuda" if on_zero_gpu() else None,
    )
