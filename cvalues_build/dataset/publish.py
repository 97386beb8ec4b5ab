"""Upload a built folder to the Hugging Face Hub as a dataset repo.

Exactly the files the build's manifest lists are uploaded, each by its own path (one
``CommitOperationAdd`` per file, never a glob pattern, so a file named ``*`` or ``[ab]`` is just
a name), read through a handle whose content was checked against the manifest's hash, and never
through a symlink. Whatever else lies in the folder (a ``.env``, keys, a copy of the vote store,
a loading script, which datasets >= 4 would refuse) stays local. The token comes from the usual places (HF_TOKEN, ``huggingface-cli login``) unless
one is given.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from ..core.manifest import Manifest, ManifestError, open_verified, read_verified


class PublishError(RuntimeError):
    pass


@dataclass
class PushPlan:
    folder: Path
    repo_id: str
    manifest: Manifest

    @property
    def files(self) -> list[tuple[str, int]]:
        """(path in repo, bytes) of every file to upload."""
        return [(e.path, e.size) for e in self.manifest.files]

    @property
    def total_bytes(self) -> int:
        return sum(size for _, size in self.files)


def plan_push(folder: str | Path, repo_id: str, kind: str = "dataset") -> PushPlan:
    """What would be uploaded; raises PublishError when the folder is not a build whose every
    listed file still has its hash."""
    root = Path(folder)
    if "/" not in repo_id or repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise PublishError(f"--repo-id must look like ORG/NAME, got {repo_id!r}")
    try:
        manifest = read_verified(root, kind)
    except ManifestError as err:
        raise PublishError(f"{root} is not a cvalues build that can be pushed as it is: {err}. "
                           f"Run `cvalues build --out {root}` first") from err
    return PushPlan(root, repo_id, manifest)


def upload_listed(api, folder: Path, manifest: Manifest, *, repo_id: str, repo_type: str,
                  revision: str | None, commit_message: str):
    """One commit holding exactly ``manifest``'s files, each opened and hash-checked by
    ``open_verified``; returns the Hub's commit info."""
    from huggingface_hub import CommitOperationAdd

    with ExitStack() as handles:
        try:
            operations = [CommitOperationAdd(path_in_repo=e.path,
                                             path_or_fileobj=handles.enter_context(open_verified(folder, e)))
                          for e in manifest.files]
        except ManifestError as err:
            raise PublishError(f"nothing uploaded: {err}") from err
        return api.create_commit(repo_id=repo_id, repo_type=repo_type, operations=operations,
                                 commit_message=commit_message, revision=revision)


def push(plan: PushPlan, *, private: bool = False, revision: str | None = None, token: str | None = None,
         commit_message: str = "Upload CValues dataset built with cvalues") -> str:
    """Create the repo if needed (and the branch, for --revision), then upload the listed files.
    Returns the commit URL."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    api.create_repo(plan.repo_id, repo_type="dataset", private=private, exist_ok=True)
    if revision:
        api.create_branch(plan.repo_id, branch=revision, repo_type="dataset", exist_ok=True)
    info = upload_listed(api, plan.folder, plan.manifest, repo_id=plan.repo_id, repo_type="dataset",
                         revision=revision, commit_message=commit_message)
    return str(getattr(info, "commit_url", info))
