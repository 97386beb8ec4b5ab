"""`cvalues push` against a mocked HfApi: the only boundary faked is the Hub client itself."""

from __future__ import annotations

import shutil
from pathlib import Path
from unittest import mock

import pytest

from cvalues_build.cli import main
from cvalues_build.core.manifest import read_manifest


@pytest.fixture
def fake_api():
    """The mocked client; ``uploaded`` gets {path in repo: bytes} of each commit, read while the
    call runs (the handles are closed afterwards)."""
    with mock.patch("huggingface_hub.HfApi", autospec=True) as cls:
        api = cls.return_value
        api.uploaded = []

        def create_commit(**kwargs):
            api.uploaded.append({op.path_in_repo: op.path_or_fileobj.read() for op in kwargs["operations"]})
            return mock.Mock(commit_url="https://hub.example/commit/1")

        api.create_commit.side_effect = create_commit
        yield cls, api


def _build_files(folder: Path) -> dict[str, bytes]:
    return {e.path: (folder / e.path).read_bytes() for e in read_manifest(folder).files}


def test_push_creates_repo_and_uploads_every_file(sample_build, fake_api, capsys):
    cls, api = fake_api
    assert main(["push", str(sample_build), "--repo-id", "org/cvalues", "--private", "--token", "t0k"]) == 0
    cls.assert_called_once_with(token="t0k")
    api.create_repo.assert_called_once_with("org/cvalues", repo_type="dataset", private=True, exist_ok=True)
    api.create_branch.assert_not_called()
    api.upload_folder.assert_not_called()
    kwargs = api.create_commit.call_args.kwargs
    assert kwargs["repo_type"] == "dataset" and kwargs["repo_id"] == "org/cvalues" and kwargs["revision"] is None
    [uploaded] = api.uploaded
    assert "README.md" in uploaded and "data/safety_mc/test-00000-of-00001.parquet" in uploaded
    assert uploaded == _build_files(sample_build)
    assert "pushed: https://hub.example/commit/1" in capsys.readouterr().out


def test_push_to_a_revision_creates_the_branch(sample_build, fake_api):
    _, api = fake_api
    assert main(["push", str(sample_build), "--repo-id", "org/cvalues", "--revision", "v1"]) == 0
    api.create_branch.assert_called_once_with("org/cvalues", branch="v1", repo_type="dataset", exist_ok=True)
    assert api.create_commit.call_args.kwargs["revision"] == "v1"


@pytest.fixture
def littered_build(sample_build, tmp_path):
    """The audit's folder (item 2): a build with secrets, a vote store copy, a symlink out of the
    folder, and files whose names are glob patterns, beside the files the build wrote."""
    folder = tmp_path / "cvalues"
    shutil.copytree(sample_build, folder)
    (folder / "secrets.json").write_text('{"token": "hf_secret"}')
    (folder / "id_rsa").write_text("-----BEGIN OPENSSH PRIVATE KEY-----")
    (folder / "votes.db").write_bytes(b"SQLite format 3\x00salt")
    (folder / ".env").write_text("HF_TOKEN=hf_secret")
    (folder / "*").write_text("a star")
    (folder / "[ab]").write_text("a class")
    (folder / "a").write_text("matched by [ab]")
    (folder / "data" / "x").symlink_to("/etc/shadow")
    (folder / "data" / "safety_mc" / "*.parquet").write_text("not ours")
    return folder


def test_item2_dry_run_lists_exactly_the_manifest(littered_build, fake_api, capsys):
    assert main(["push", str(littered_build), "--repo-id", "org/cvalues", "--dry-run"]) == 0
    out = capsys.readouterr().out
    listed = [line.split()[-1] for line in out.splitlines() if line.startswith("  ")]
    assert listed == [e.path for e in read_manifest(littered_build).files]
    fake_api[0].assert_not_called()


def test_item2_push_uploads_exactly_the_manifest(littered_build, fake_api):
    _, api = fake_api
    assert main(["push", str(littered_build), "--repo-id", "org/cvalues"]) == 0
    api.upload_folder.assert_not_called()
    [uploaded] = api.uploaded
    assert uploaded == _build_files(littered_build)
    assert not {"secrets.json", "id_rsa", "votes.db", ".env", "*", "[ab]", "a", "data/x"} & set(uploaded)


@pytest.mark.parametrize("tamper", ["edit", "symlink"])
def test_item2_a_changed_or_linked_file_stops_the_push(littered_build, fake_api, capsys, tamper):
    shard = littered_build / "data" / "safety_mc" / "test-00000-of-00001.parquet"
    shard.unlink()
    if tamper == "edit":
        shard.write_bytes(b"PAR1 tampered")
    else:
        shard.symlink_to("/etc/shadow")
    assert main(["push", str(littered_build), "--repo-id", "org/cvalues"]) == 1
    err = capsys.readouterr().err
    assert "data/safety_mc/test-00000-of-00001.parquet: " + ("changed" if tamper == "edit" else "a symlink") in err
    fake_api[1].create_commit.assert_not_called()


def test_item2_a_file_changed_after_the_plan_is_not_uploaded(littered_build, fake_api):
    from cvalues_build.dataset.publish import PublishError, plan_push, push

    plan = plan_push(littered_build, "org/cvalues")
    (littered_build / "README.md").write_text("swapped after the check")
    with pytest.raises(PublishError, match="nothing uploaded: .*README.md: changed"):
        push(plan)
    fake_api[1].create_commit.assert_not_called()


def test_dry_run_uploads_nothing(sample_build, fake_api, capsys):
    cls, _ = fake_api
    assert main(["push", str(sample_build), "--repo-id", "org/cvalues", "--dry-run"]) == 0
    cls.assert_not_called()
    out = capsys.readouterr().out
    assert "data/responsibility_mc/test-00000-of-00001.parquet" in out and "dry run" in out


def test_a_loading_script_beside_the_build_is_never_uploaded(sample_build, tmp_path, fake_api):
    folder = tmp_path / "cvalues"
    shutil.copytree(sample_build, folder)
    (folder / "cvalues.py").write_text("# a loading script: datasets >= 4 would refuse the repo")
    assert main(["push", str(folder), "--repo-id", "org/cvalues"]) == 0
    assert "cvalues.py" not in fake_api[1].uploaded[0]


@pytest.mark.parametrize("repo_id", ["cvalues", "a/b/c", "/x"])
def test_bad_repo_id(sample_build, fake_api, repo_id, capsys):
    assert main(["push", str(sample_build), "--repo-id", repo_id]) == 1
    assert "ORG/NAME" in capsys.readouterr().err


def test_not_a_build(tmp_path, capsys):
    assert main(["push", str(tmp_path), "--repo-id", "org/x"]) == 1
    assert "not a cvalues build" in capsys.readouterr().err


def test_hub_failure_is_reported(sample_build, fake_api, capsys):
    _, api = fake_api
    api.create_repo.side_effect = PermissionError("401 Unauthorized")
    assert main(["push", str(sample_build), "--repo-id", "org/cvalues"]) == 1
    assert "push failed: PermissionError: 401 Unauthorized" in capsys.readouterr().err
