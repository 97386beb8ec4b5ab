"""What a tool wrote into an output folder, so that it can later replace, upload or remove
exactly that and nothing else.

A manifest is a hidden JSON file in the folder (``.cvalues-manifest.json``): the ``kind`` of
output ("dataset", "space-bundle") and every file written, as a relative path, its size and its
sha256. A folder is *provably* an earlier output of a kind when its manifest names that kind and
every listed file is still there, a regular file (no symlink, no symlinked folder on the way) with
the recorded size and hash. Only then may a tool replace it, and even then it removes only the
listed files: whatever a user put beside them stays.

``core.install`` uses it to move a finished output into such a folder.

Standard library only: the dataset build and the Space's bundle both use it.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

MANIFEST_NAME = ".cvalues-manifest.json"
STAGING_PREFIX = ".cvalues-staging-"
FORMAT = "cvalues-manifest"
FORMAT_VERSION = 1
_CHUNK = 1 << 20


class ManifestError(RuntimeError):
    """A manifest that is missing, unreadable, of another kind, or that its files no longer match."""


@dataclass(frozen=True)
class Entry:
    path: str  # relative, POSIX separators
    size: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    kind: str
    files: tuple[Entry, ...]

    @property
    def paths(self) -> list[str]:
        return [e.path for e in self.files]


def _digest(f: BinaryIO) -> tuple[str, int]:
    """(sha256, size) of what ``f`` reads from where it stands to its end."""
    digest, size = hashlib.sha256(), 0
    while chunk := f.read(_CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def sha256_of(path: str | Path) -> str:
    with open(path, "rb") as f:
        return _digest(f)[0]


def check_relative(path: str) -> str:
    """``path`` if it is a plain relative POSIX path inside a folder (no "..", no absolute path,
    no empty part, not the manifest itself); ManifestError otherwise."""
    parts = PurePosixPath(path).parts
    if (not path or "\\" in path or "\x00" in path or path.startswith("/") or not parts
            or any(p in ("", ".", "..") for p in path.split("/")) or path == MANIFEST_NAME):
        raise ManifestError(f"not a relative path inside the folder: {path!r}")
    return path


def _no_link_on_the_way(root: Path, path: str) -> str | None:
    """Why ``root/path`` is not a plain file reached through plain folders, or None."""
    current = root
    parts = path.split("/")
    for i, part in enumerate(parts):
        current = current / part
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            return "missing"
        except OSError as err:
            return f"unreadable ({err.strerror or err})"
        if stat.S_ISLNK(st.st_mode):
            return "a symlink" if i == len(parts) - 1 else f"reached through the symlink {'/'.join(parts[:i + 1])}"
        last = i == len(parts) - 1
        if last and not stat.S_ISREG(st.st_mode):
            return "not a regular file"
        if not last and not stat.S_ISDIR(st.st_mode):
            return f"{'/'.join(parts[:i + 1])} is not a folder"
    return None


def entry_for(root: str | Path, path: str, hashed: Entry | None = None) -> Entry:
    """The entry of ``root/path``: refused unless it is a regular file reached without a symlink.
    ``hashed`` is one the caller computed as it wrote the file (say in a worker thread), taken
    when the size still agrees."""
    root = Path(root)
    check_relative(path)
    why = _no_link_on_the_way(root, path)
    if why:
        raise ManifestError(f"{root / path}: {why}")
    full = root / path
    size = full.stat().st_size
    if hashed is not None and hashed.path == path and hashed.size == size:
        return hashed
    return Entry(path, size, sha256_of(full))


def files_under(root: str | Path) -> Iterator[str]:
    """Every regular file below ``root`` (relative, sorted), the manifest and staging folders
    aside; a symlink anywhere is refused rather than followed."""
    root = Path(root)
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        for name in sorted(dirnames):
            if (here / name).is_symlink():
                raise ManifestError(f"{here / name}: a symlink; outputs hold plain files only")
        dirnames[:] = sorted(d for d in dirnames if not (here == root and d.startswith(STAGING_PREFIX)))
        for name in sorted(filenames):
            rel = (here / name).relative_to(root).as_posix()
            if rel != MANIFEST_NAME:
                yield rel


def write_manifest(root: str | Path, kind: str, paths: Iterable[str] | None = None,
                   hashed: Mapping[str, Entry] | None = None) -> Manifest:
    """Hash the files (every file under ``root`` when ``paths`` is None; ``hashed`` holds entries
    already computed) and save the manifest in ``root``. The JSON has no timestamp, so two
    identical outputs have identical manifests."""
    root = Path(root)
    chosen = sorted(set(files_under(root) if paths is None else paths))
    manifest = Manifest(kind, tuple(entry_for(root, p, (hashed or {}).get(p)) for p in chosen))
    data = {"format": FORMAT, "version": FORMAT_VERSION, "kind": kind,
            "files": [{"path": e.path, "size": e.size, "sha256": e.sha256} for e in manifest.files]}
    text = json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
    tmp = root / (MANIFEST_NAME + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, root / MANIFEST_NAME)
    return manifest


def read_manifest(root: str | Path) -> Manifest:
    """The manifest saved in ``root``; ManifestError when it is missing or malformed."""
    path = Path(root) / MANIFEST_NAME
    if path.is_symlink() or not path.is_file():
        raise ManifestError(f"{root} has no {MANIFEST_NAME}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT or data.get("version") != FORMAT_VERSION:
            raise ValueError("unknown format")
        entries = tuple(Entry(check_relative(f["path"]), int(f["size"]), str(f["sha256"])) for f in data["files"])
        kind = str(data["kind"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError, ManifestError) as err:
        raise ManifestError(f"{path} is not a valid manifest ({err})") from err
    if len({e.path for e in entries}) != len(entries):
        raise ManifestError(f"{path} lists a file twice")
    return Manifest(kind, entries)


def verify(root: str | Path, manifest: Manifest) -> list[str]:
    """Every way ``root`` differs from ``manifest`` ("data/x.parquet: changed since it was
    written"); empty when every listed file is there, plain, and has its size and hash."""
    root = Path(root)
    problems = []
    for e in manifest.files:
        why = _no_link_on_the_way(root, e.path)
        if why is None and ((root / e.path).stat().st_size != e.size or sha256_of(root / e.path) != e.sha256):
            why = "changed since it was written"
        if why:
            problems.append(f"{e.path}: {why}")
    return problems


def read_verified(root: str | Path, kind: str) -> Manifest:
    """The manifest of ``root`` if the folder is provably an earlier output of ``kind``;
    ManifestError saying why not otherwise."""
    manifest = read_manifest(root)
    if manifest.kind != kind:
        raise ManifestError(f"{root} is a {manifest.kind!r} output, not a {kind!r} one")
    problems = verify(root, manifest)
    if problems:
        raise ManifestError(f"{root} no longer matches its manifest: " + "; ".join(problems[:5])
                            + (f"; and {len(problems) - 5} more" if len(problems) > 5 else ""))
    return manifest


def is_output_of(root: str | Path, kind: str) -> bool:
    """Whether ``root`` is provably an earlier output of ``kind`` (see the module's docstring)."""
    try:
        read_verified(root, kind)
    except ManifestError:
        return False
    return True


def open_verified(root: str | Path, entry: Entry) -> BinaryIO:
    """``root/entry.path`` opened for reading, after checking that no symlink is on the way and
    that what this very handle reads has the listed size and hash (so what is then uploaded from
    it is what was checked); ManifestError otherwise. The caller closes it."""
    root = Path(root)
    why = _no_link_on_the_way(root, check_relative(entry.path))
    if why:
        raise ManifestError(f"{root / entry.path}: {why}")
    fd = os.open(root / entry.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    f = os.fdopen(fd, "rb")
    if not stat.S_ISREG(os.fstat(fd).st_mode) or _digest(f) != (entry.sha256, entry.size):
        f.close()
        raise ManifestError(f"{root / entry.path}: changed since it was written")
    f.seek(0)
    return f


def remove_listed(root: str | Path, manifest: Manifest) -> None:
    """Remove exactly the files ``manifest`` lists, then the manifest, then the folders that held
    them if that left them empty (never ``root`` itself). Nothing is removed unless every listed
    file still matches: a changed file stops it with ManifestError."""
    root = Path(root)
    problems = verify(root, manifest)
    if problems:
        raise ManifestError(f"{root}: not removing anything, the folder no longer matches its manifest: "
                            + "; ".join(problems[:5]))
    for e in manifest.files:
        (root / e.path).unlink()
    if (root / MANIFEST_NAME).is_file() and not (root / MANIFEST_NAME).is_symlink():
        (root / MANIFEST_NAME).unlink()
    prune_empty(root, manifest.paths)


def prune_empty(root: Path, paths: Iterable[str]) -> None:
    folders = {PurePosixPath(p).parents[i] for p in paths for i in range(len(PurePosixPath(p).parents) - 1)}
    for folder in sorted(folders, key=lambda f: len(f.parts), reverse=True):  # deepest first
        full = root / folder
        if full.is_dir() and not full.is_symlink() and not any(full.iterdir()):
            full.rmdir()

