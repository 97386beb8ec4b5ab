"""What a ``--dataset`` or ``--model`` reference names: a local folder, or a Hub repo.

A reference that looks like a path must be an existing folder: it is never sent to the Hub, so a
typo fails at once with "no such ... folder" instead of after the Hub client's retries and a
traceback. Offline (``HF_HUB_OFFLINE``), a Hub id that is not in the local cache fails the same way.
Only the standard library is imported unless a Hub id has to be looked up in the cache.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

# ORG/NAME as the Hub spells repo ids (names may hold dots: Qwen/Qwen2.5-7B-Instruct).
_ORG_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")
_TRUE = {"1", "ON", "YES", "TRUE"}


def hub_offline() -> bool:
    """Read at call time (the Hub clients read it once, at import)."""
    return any(os.environ.get(var, "").upper() in _TRUE for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


def looks_local(ref: str) -> bool:
    """True when ``ref`` reads as a path rather than a Hub id: it has a ``/`` or a ``.`` and is not
    ``ORG/NAME``; or it is ``ORG/NAME`` where ``ORG`` is a folder here (``out/cvalue`` when ``out/``
    exists is a mistyped local path, not a Hub organisation)."""
    if ref.startswith(("~", "/")) or "\\" in ref:
        return True
    if _ORG_NAME.match(ref) and ".." not in ref:
        return Path(ref.split("/", 1)[0]).is_dir()
    return "/" in ref or "." in ref


def _in_hub_cache(repo_id: str, repo_type: str) -> bool:
    """Whether a Hub repo was downloaded before (hub cache layout ``{type}s--ORG--NAME``; the
    datasets library also keeps prepared datasets as ``ORG___NAME``)."""
    from huggingface_hub import constants

    folders = [Path(constants.HF_HUB_CACHE) / f"{repo_type}s--{repo_id.replace('/', '--')}"]
    if repo_type == "dataset":
        import datasets.config

        folders.append(Path(datasets.config.HF_DATASETS_CACHE) / repo_id.replace("/", "___"))
    return any(folder.is_dir() for folder in folders)


def resolve_reference(ref: str, what: str) -> str:
    """``ref`` as the loaders should get it: an existing local folder (``~`` expanded), or a Hub
    id. ``what`` is "dataset" or "model". Raises ``FileNotFoundError`` ("no such dataset folder:
    ...") for a path that does not exist, and offline for a Hub id that is not cached."""
    if not ref.strip():
        raise ValueError(f"--{what} is empty")
    local = Path(ref).expanduser()
    if local.is_dir():
        return str(local)
    if local.exists():
        raise FileNotFoundError(f"no such {what} folder: {ref} is a file; give the folder that holds it")
    if looks_local(ref):
        raise FileNotFoundError(
            f"no such {what} folder: {ref} (it reads as a path, so the Hub is not tried; a Hub repo is ORG/NAME)"
        )
    if hub_offline() and not _in_hub_cache(ref, what):
        raise FileNotFoundError(
            f"no such {what} folder: {ref} (HF_HUB_OFFLINE is set and {ref} is not in the local Hub cache)"
        )
    return ref
