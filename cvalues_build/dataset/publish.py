"""Upload a built folder to the Hugging Face Hub as a dataset repo.

The token comes from the usual places (HF_TOKEN, ``huggingface-cli login``) unless one is given.
The folder is checked first: a loading script at its root would make datasets >= 4 refuse the
whole repo, so one is never uploaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class PublishError(RuntimeError):
    pass


@dataclass
class PushPlan:
    folder: Path
    repo_id: str
    files: list[tuple[str, int]]  # (path in repo, bytes)

    @property
    def total_bytes(self) -> int:
        return sum(size for _, size in self.files)


def plan_push(folder: str | Path, repo_id: str) -> PushPlan:
    """What would be uploaded; raises PublishError when the folder is not a publishable build."""
    root = Path(folder)
    if "/" not in repo_id or repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise PublishError(f"--repo-id must look like ORG/NAME, got {repo_id!r}")
    if not (root / "README.md").is_file() or not (root / "data").is_dir():
        raise PublishError(f"{root} is not a cvalues build (no README.md or data/); run `cvalues build --out {root}` first")
    scripts = sorted(p.name for p in root.glob("*.py"))
    if scripts:
        raise PublishError(f"{root} has a Python file at its root ({', '.join(scripts)}): datasets >= 4 refuses "
                           "repos with loading scripts; remove it, the Parquet files and README configs suffice")
    files = sorted((p.relative_to(root).as_posix(), p.stat().st_size) for p in root.rglob("*")
                   if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts))
    return PushPlan(root, repo_id, files)


def push(plan: PushPlan, *, private: bool = False, revision: str | None = None, token: str | None = None,
         commit_message: str = "Upload CValues dataset built with cvalues") -> str:
    """Create the repo if needed (and the branch, for --revision), then upload the folder.
    Returns the commit URL."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    api.create_repo(plan.repo_id, repo_type="dataset", private=private, exist_ok=True)
    if revision:
        api.create_branch(plan.repo_id, branch=revision, repo_type="dataset", exist_ok=True)
    info = api.upload_folder(
        folder_path=str(plan.folder), repo_id=plan.repo_id, repo_type="dataset", revision=revision,
        commit_message=commit_message, allow_patterns=[path for path, _ in plan.files],
    )
    return str(getattr(info, "commit_url", info))
