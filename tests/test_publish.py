"""`cvalues push` against a mocked HfApi: the only boundary faked is the Hub client itself."""

from __future__ import annotations

from unittest import mock

import pytest

from cvalues_build.cli import main


@pytest.fixture
def fake_api():
    with mock.patch("huggingface_hub.HfApi", autospec=True) as cls:
        api = cls.return_value
        api.upload_folder.return_value = mock.Mock(commit_url="https://hub.example/commit/1")
        yield cls, api


def test_push_creates_repo_and_uploads_every_file(sample_build, fake_api, capsys):
    cls, api = fake_api
    assert main(["push", str(sample_build), "--repo-id", "org/cvalues", "--private", "--token", "t0k"]) == 0
    cls.assert_called_once_with(token="t0k")
    api.create_repo.assert_called_once_with("org/cvalues", repo_type="dataset", private=True, exist_ok=True)
    api.create_branch.assert_not_called()
    kwargs = api.upload_folder.call_args.kwargs
    assert kwargs["repo_type"] == "dataset" and kwargs["repo_id"] == "org/cvalues"
    assert kwargs["folder_path"] == str(sample_build)
    assert "README.md" in kwargs["allow_patterns"]
    assert "data/safety_mc/test-00000-of-00001.parquet" in kwargs["allow_patterns"]
    assert "pushed: https://hub.example/commit/1" in capsys.readouterr().out


def test_push_to_a_revision_creates_the_branch(sample_build, fake_api):
    _, api = fake_api
    assert main(["push", str(sample_build), "--repo-id", "org/cvalues", "--revision", "v1"]) == 0
    api.create_branch.assert_called_once_with("org/cvalues", branch="v1", repo_type="dataset", exist_ok=True)
    assert api.upload_folder.call_args.kwargs["revision"] == "v1"


def test_dry_run_uploads_nothing(sample_build, fake_api, capsys):
    cls, _ = fake_api
    assert main(["push", str(sample_build), "--repo-id", "org/cvalues", "--dry-run"]) == 0
    cls.assert_not_called()
    out = capsys.readouterr().out
    assert "data/responsibility_mc/test-00000-of-00001.parquet" in out and "dry run" in out


def test_refuses_loading_script_at_root(sample_build, tmp_path, fake_api, capsys):
    import shutil

    folder = tmp_path / "cvalues"
    shutil.copytree(sample_build, folder)
    (folder / "cvalues.py").write_text("# a loading script")
    assert main(["push", str(folder), "--repo-id", "org/cvalues"]) == 1
    assert "datasets >= 4 refuses" in capsys.readouterr().err
    fake_api[0].assert_not_called()


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
