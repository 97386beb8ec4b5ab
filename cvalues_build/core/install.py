"""Moving a finished output into its folder without losing anything there.

The slow work happens in a staging folder on the same file system; ``install`` then checks the
target again and switches with a few renames, during which Ctrl-C and SIGTERM wait, so an
interrupted run never leaves a half output. The target may be new, hold hidden entries only (a
``.git``), or be an earlier output of the same kind, proved by its manifest (``core.manifest``):
then only the files that manifest lists are replaced or removed, and nothing else is touched.

Standard library only: the dataset build and the Space's bundle both use it.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .manifest import (
    MANIFEST_NAME,
    STAGING_PREFIX,
    Manifest,
    ManifestError,
    prune_empty,
    read_manifest,
    read_verified,
)


def existing_output(out: str | Path, kind: str) -> Manifest | None:
    """What a new output of ``kind`` may replace in ``out``: None when ``out`` is missing or holds
    only hidden entries (a ``.git``, say) and no manifest; the verified manifest when it is an
    earlier output of ``kind``. Anything else raises ManifestError naming what is in the way."""
    out = Path(out)
    if not os.path.lexists(out):
        return None
    if not out.is_dir():
        raise ManifestError(f"{out} exists and is not a folder; choose an empty or new folder")
    if os.path.lexists(out / MANIFEST_NAME):
        try:
            return read_verified(out, kind)
        except ManifestError as err:
            raise ManifestError(f"refusing to replace {out}: {err}. Nothing was changed; "
                                "choose an empty or new folder, or restore the changed files") from err
    visible = sorted(p.name + ("/" if p.is_dir() else "") for p in out.iterdir() if not p.name.startswith("."))
    if visible:
        shown = ", ".join(visible[:6]) + (f" and {len(visible) - 6} more" if len(visible) > 6 else "")
        raise ManifestError(f"refusing to write into {out}: it holds {shown}, and it is not an earlier {kind} "
                            f"output (it has no {MANIFEST_NAME} listing those files). Nothing was changed; "
                            "choose an empty or new folder")
    return None


def new_staging(out: str | Path) -> Path:
    """A fresh staging folder on the same file system as ``out``: inside it when it exists (its
    parent may not be writable), beside it otherwise."""
    out = Path(out)
    if out.is_dir():
        return Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=out))
    out.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{out.name}-", dir=out.parent))


def _in_the_way(out: Path, new: Manifest, replaceable: set[str]) -> list[str]:
    """New paths that would overwrite, or write through, something not in ``replaceable``."""
    blocked = []
    for path in new.paths:
        parts = path.split("/")
        for i in range(len(parts)):
            rel = "/".join(parts[:i + 1])
            full = out / rel
            if not os.path.lexists(full) or rel in replaceable:
                continue
            if i == len(parts) - 1 or full.is_symlink() or not full.is_dir():
                blocked.append(rel)
                break
    return sorted(set(blocked))


@contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block ends, then deliver them: the switch is a few
    renames, and stopping halfway would leave half an output. Only the main thread may do this."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {sig: signal.signal(sig, lambda s, _frame: caught.append(s)) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for sig in caught:
            signal.raise_signal(sig)


def install(staging: str | Path, out: str | Path, kind: str) -> Manifest:
    """Move the output finished in ``staging`` (a ``new_staging`` folder holding its manifest)
    into ``out``: a new folder, one with hidden entries only, or an earlier output of ``kind``,
    whose listed files are replaced and the rest of which is left alone. ManifestError, with
    nothing changed, when anything else is in the way."""
    staging, out = Path(staging), Path(out)
    new = read_manifest(staging)
    old = existing_output(out, kind)
    if not os.path.lexists(out):
        os.replace(staging, out)
        return new
    old_paths = set(old.paths) if old else set()
    blocked = _in_the_way(out, new, old_paths)
    if blocked:
        raise ManifestError(f"refusing to write into {out}: {', '.join(blocked[:6])} would be overwritten and "
                            f"{'is' if len(blocked) == 1 else 'are'} not from an earlier {kind} output. "
                            "Nothing was changed; choose an empty or new folder")
    gone = sorted(old_paths - set(new.paths))
    with _signals_deferred():
        for path in gone:
            (out / path).unlink()
        for path in new.paths:
            (out / path).parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / path, out / path)
        os.replace(staging / MANIFEST_NAME, out / MANIFEST_NAME)
        prune_empty(out, gone)
    shutil.rmtree(staging)
    return new
