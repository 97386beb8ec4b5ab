"""The output manifest (what a tool wrote, so that it replaces, uploads or removes exactly that) and
installing a staged output over a folder."""

from __future__ import annotations

import hashlib
import json
import os
import signal

import pytest

from cvalues_build.core import install as inst
from cvalues_build.core import manifest as mf
from cvalues_build.core.manifest import MANIFEST_NAME, STAGING_PREFIX, ManifestError


def _output(root, files=None):
    files = files or {"README.md": "# card\n", "data/a/test-0.parquet": "aaa", "data/b/train-0.parquet": "bb"}
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return mf.write_manifest(root, "dataset")


def test_write_and_read_back(tmp_path):
    written = _output(tmp_path)
    assert written.paths == ["README.md", "data/a/test-0.parquet", "data/b/train-0.parquet"]
    data = json.loads((tmp_path / MANIFEST_NAME).read_text(encoding="utf-8"))
    assert data["kind"] == "dataset" and data["files"][0] == {
        "path": "README.md", "size": 7, "sha256": hashlib.sha256(b"# card\n").hexdigest()}
    assert mf.read_manifest(tmp_path) == written
    assert mf.verify(tmp_path, written) == []
    assert mf.is_output_of(tmp_path, "dataset") and not mf.is_output_of(tmp_path, "space-bundle")


def test_same_files_give_the_same_bytes(tmp_path):
    _output(tmp_path / "one")
    _output(tmp_path / "two")
    assert (tmp_path / "one" / MANIFEST_NAME).read_bytes() == (tmp_path / "two" / MANIFEST_NAME).read_bytes()


def test_listed_files_only(tmp_path):
    (tmp_path / "keep.txt").write_text("user")
    (tmp_path / "out.bin").write_text("tool")
    written = mf.write_manifest(tmp_path, "space-bundle", ["out.bin"])
    assert written.paths == ["out.bin"]


@pytest.mark.parametrize("change", ["edit", "delete", "symlink file", "symlink folder", "folder for file", "grow"])
def test_verify_names_every_difference(tmp_path, change):
    m = _output(tmp_path)
    target = tmp_path / "data/a/test-0.parquet"
    if change == "edit":
        target.write_text("aab")  # same size, other hash
    elif change == "delete":
        target.unlink()
    elif change == "symlink file":
        (tmp_path / "elsewhere").write_text("aaa")
        target.unlink()
        target.symlink_to(tmp_path / "elsewhere")  # same content, still refused: never follow a link
    elif change == "symlink folder":
        (tmp_path / "data/a").rename(tmp_path / "moved")
        (tmp_path / "data/a").symlink_to(tmp_path / "moved", target_is_directory=True)
    elif change == "folder for file":
        target.unlink()
        target.mkdir()
    else:
        target.write_text("aaaa")
    [problem] = mf.verify(tmp_path, m)
    assert problem.startswith("data/a/")
    assert not mf.is_output_of(tmp_path, "dataset")


@pytest.mark.parametrize("bad_path", ["../escape", "/etc/passwd", "a/../../b", "", "a//b", ".", MANIFEST_NAME, "a\\b"])
def test_a_manifest_cannot_point_outside(tmp_path, bad_path):
    _output(tmp_path)
    data = json.loads((tmp_path / MANIFEST_NAME).read_text())
    data["files"][0]["path"] = bad_path
    (tmp_path / MANIFEST_NAME).write_text(json.dumps(data))
    with pytest.raises(ManifestError, match="not a valid manifest"):
        mf.read_manifest(tmp_path)
    assert not mf.is_output_of(tmp_path, "dataset")


@pytest.mark.parametrize("text", ["", "[]", "{}", '{"format": "cvalues-manifest", "version": 1, "kind": "dataset"}',
                                  '{"format": "other", "version": 1, "kind": "dataset", "files": []}'])
def test_malformed_manifests_prove_nothing(tmp_path, text):
    (tmp_path / MANIFEST_NAME).write_text(text)
    assert not mf.is_output_of(tmp_path, "dataset")


def test_writing_refuses_a_symlink(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x").symlink_to("/etc/hostname")
    with pytest.raises(ManifestError, match="symlink"):
        mf.write_manifest(tmp_path, "dataset")
    with pytest.raises(ManifestError, match="symlink"):
        mf.write_manifest(tmp_path, "dataset", ["data/x"])


def test_open_verified_reads_what_was_listed(tmp_path):
    m = _output(tmp_path)
    entry = m.files[1]
    with mf.open_verified(tmp_path, entry) as f:
        assert f.read() == b"aaa"
    (tmp_path / entry.path).write_text("aab")
    with pytest.raises(ManifestError, match="changed since it was written"):
        mf.open_verified(tmp_path, entry)
    (tmp_path / entry.path).unlink()
    (tmp_path / entry.path).symlink_to(tmp_path / "README.md")
    with pytest.raises(ManifestError, match="a symlink"):
        mf.open_verified(tmp_path, entry)


def test_remove_listed_keeps_everything_else(tmp_path):
    m = _output(tmp_path)
    (tmp_path / "data/b/notes.txt").write_text("mine")
    (tmp_path / ".git").mkdir()
    mf.remove_listed(tmp_path, m)
    left = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))
    # data/a emptied and went; data/b holds the user's file and stays
    assert left == [".git", "data", "data/b", "data/b/notes.txt"]


def test_remove_listed_removes_nothing_when_a_file_changed(tmp_path):
    m = _output(tmp_path)
    (tmp_path / "README.md").write_text("# edited by hand\n")
    with pytest.raises(ManifestError, match="README.md: changed"):
        mf.remove_listed(tmp_path, m)
    assert (tmp_path / "data/a/test-0.parquet").exists() and (tmp_path / MANIFEST_NAME).exists()


def test_existing_output_says_what_is_in_the_way(tmp_path):
    assert inst.existing_output(tmp_path / "new", "dataset") is None
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    assert inst.existing_output(tmp_path / "repo", "dataset") is None  # hidden entries only
    (tmp_path / "repo" / "README.md").write_text("# mine")
    (tmp_path / "repo" / "src").mkdir()
    with pytest.raises(ManifestError, match=r"holds README.md, src/.*choose an empty or new folder"):
        inst.existing_output(tmp_path / "repo", "dataset")
    m = _output(tmp_path / "built")
    assert inst.existing_output(tmp_path / "built", "dataset") == m
    with pytest.raises(ManifestError, match="not a 'space-bundle' one"):
        inst.existing_output(tmp_path / "built", "space-bundle")


def _staged(out, files):
    staging = inst.new_staging(out)
    _output(staging, files)
    return staging


def test_install_into_a_new_folder_and_over_an_earlier_output(tmp_path):
    out = tmp_path / "out"
    inst.install(_staged(out, {"README.md": "v1", "data/old/x.parquet": "1"}), out, "dataset")
    assert mf.is_output_of(out, "dataset")
    (out / "data" / "old" / "user.txt").write_text("mine")
    (out / "notes.md").write_text("mine too")
    inst.install(_staged(out, {"README.md": "v2", "data/new/x.parquet": "2"}), out, "dataset")
    assert mf.read_verified(out, "dataset").paths == ["README.md", "data/new/x.parquet"]
    assert (out / "README.md").read_text() == "v2"
    assert not (out / "data/old/x.parquet").exists()
    assert (out / "data/old/user.txt").read_text() == "mine" and (out / "notes.md").read_text() == "mine too"
    assert not [p for p in out.iterdir() if p.name.startswith(STAGING_PREFIX)]


def test_install_refuses_to_overwrite_an_unlisted_file(tmp_path):
    out = tmp_path / "out"
    inst.install(_staged(out, {"README.md": "v1"}), out, "dataset")
    (out / "data").mkdir()
    (out / "data" / "x.parquet").write_text("the user's")
    staging = _staged(out, {"README.md": "v2", "data/x.parquet": "ours"})
    with pytest.raises(ManifestError, match="data/x.parquet would be overwritten"):
        inst.install(staging, out, "dataset")
    assert (out / "data" / "x.parquet").read_text() == "the user's" and (out / "README.md").read_text() == "v1"


def test_install_writes_beside_hidden_entries(tmp_path):
    out = tmp_path / "repo"
    (out / ".git").mkdir(parents=True)
    inst.install(_staged(out, {"README.md": "card"}), out, "dataset")
    assert (out / ".git").is_dir() and mf.is_output_of(out, "dataset")


def test_an_interrupt_during_the_switch_waits_for_it_to_finish(tmp_path, monkeypatch):
    out = tmp_path / "out"
    inst.install(_staged(out, {"README.md": "v1", "data/a.parquet": "1"}), out, "dataset")
    staging = _staged(out, {"README.md": "v2", "data/a.parquet": "2", "data/b.parquet": "3"})
    real_replace = os.replace
    sent = []

    def replace_then_interrupt(src, dst):
        if not sent:
            sent.append(dst)
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C after the first file moved
        real_replace(src, dst)

    monkeypatch.setattr(inst.os, "replace", replace_then_interrupt)
    # Python's own Ctrl-C handler, whatever an earlier test in this process left installed
    # (in the full suite, one did: the interrupt then raised nothing).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            inst.install(staging, out, "dataset")
    finally:
        signal.signal(signal.SIGINT, previous)
    assert sent
    assert mf.read_verified(out, "dataset").paths == ["README.md", "data/a.parquet", "data/b.parquet"]
    assert (out / "README.md").read_text() == "v2"
