"""`cvalues space bundle`: the uploadable Space folder (audit item 18, and item 8's settings in
the bundle's app.py). The bundle is a manifest-listed output: it replaces only an earlier bundle,
a failure leaves nothing behind, and --push uploads exactly the listed files."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cvalues_space.bundle import DEMO_WARNING, KIND, bundle

from cvalues_build.cli import main
from cvalues_build.core.manifest import MANIFEST_NAME, read_verified

gr = pytest.importorskip("gradio")
# The versions the ZeroGPU docs list as supported (huggingface.co/docs/hub/spaces-zerogpu).
ZERO_GPU_TORCH = {"2.1.0", "2.1.1", "2.1.2", "2.2.0", "2.2.2", "2.4.0", "2.5.1", "2.6.0", "2.7.1", "2.8.0"}


def _models(tmp_path: Path) -> Path:
    models = tmp_path / "models.yaml"
    models.write_text("- {name: a, path: demo:1}\n- {name: b, path: demo:2}\n", encoding="utf-8")
    return models


def _tree(root: Path) -> dict[str, str]:
    """Every file under ``root`` (symlinks as their target) and its content hash."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            out[rel] = "-> " + os.readlink(path)
        elif path.is_file():
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def test_bundle_is_an_uploadable_zero_gpu_space(tmp_path):
    out = tmp_path / "space"
    assert main(["space", "bundle", str(out), "--models", str(_models(tmp_path))]) == 0
    front = yaml.safe_load((out / "README.md").read_text(encoding="utf-8").split("---")[1])
    assert front["sdk"] == "gradio" and front["app_file"] == "app.py" and front["sdk_version"] == gr.__version__
    assert front["suggested_hardware"] == "zero-a10g" and front["license"] == "apache-2.0"
    requirements = (out / "requirements.txt").read_text(encoding="utf-8").splitlines()
    assert not [r for r in requirements if r.split("=")[0].split(">")[0].strip() == "gradio"]  # pinned once, above
    [torch] = [r for r in requirements if r.startswith("torch")]
    assert torch.startswith("torch==") and torch.removeprefix("torch==") in ZERO_GPU_TORCH
    for path in ("app.py", "requirements.txt", "models.yaml", "cvalues_space/app.py", "cvalues_space/store.py",
                 "cvalues_build/core/records.py", "cvalues_build/core/taxonomy.py"):
        assert (out / path).is_file(), path
    assert not list(out.rglob("__pycache__"))
    listed = read_verified(out, KIND).paths
    assert set(listed) == {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} - {MANIFEST_NAME}
    assert main(["space", "bundle", str(out)]) == 2  # an earlier bundle: replaced only with --overwrite
    assert main(["space", "bundle", str(out), "--overwrite"]) == 0
    assert "models.yaml" not in read_verified(out, KIND).paths  # the new bundle's files, and only those


def test_overwrite_never_removes_a_folder_that_is_not_a_bundle(tmp_path, capsys):
    """Audit item 18: `cvalues space bundle OUT --overwrite` deleted a project's .git and src/."""
    project = tmp_path / "project"
    (project / ".git").mkdir(parents=True)
    (project / ".git" / "config").write_text("[core]\n", encoding="utf-8")
    (project / "src").mkdir()
    (project / "src" / "main.py").write_text("print('mine')\n", encoding="utf-8")
    (project / "README.md").write_text("# mine\n", encoding="utf-8")
    before = _tree(project)
    assert main(["space", "bundle", str(project), "--overwrite"]) == 2
    assert "not an earlier space-bundle output" in capsys.readouterr().err
    assert _tree(project) == before
    # A bundle written into a Space repo's clone (hidden entries only) keeps them, and a later
    # --overwrite replaces the bundle's own files and nothing else.
    clone = tmp_path / "clone"
    (clone / ".git").mkdir(parents=True)
    (clone / ".git" / "HEAD").write_text("ref: refs/heads/main\n", encoding="utf-8")
    assert main(["space", "bundle", str(clone)]) == 0
    (clone / "notes.txt").write_text("kept\n", encoding="utf-8")
    assert main(["space", "bundle", str(clone), "--overwrite", "--models", str(_models(tmp_path))]) == 0
    assert (clone / ".git" / "HEAD").is_file() and (clone / "notes.txt").read_text() == "kept\n"
    assert (clone / "models.yaml").is_file()


def test_a_failed_bundle_leaves_nothing_behind(tmp_path, capsys):
    """Audit item 18: `--models nope.yaml` failed after the folder had been created and filled."""
    out = tmp_path / "space"
    assert main(["space", "bundle", str(out), "--models", str(tmp_path / "nope.yaml")]) == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("- {name: a, path: demo:1}\n", encoding="utf-8")  # one model: the arena needs two
    assert main(["space", "bundle", str(out), "--models", str(bad)]) == 2
    assert main(["space", "bundle", str(out), "--dataset", str(tmp_path / "nowhere")]) == 2
    assert "nope.yaml" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]  # no OUT, no staging folder


def test_results_ships_only_results_json(tmp_path):
    """Audit item 18: `--results DIR` copied a .env found beside the results."""
    results = tmp_path / "results"
    (results / "m1").mkdir(parents=True)
    (results / "m1" / "results.json").write_text(json.dumps({"model": "a", "config": "safety_mc"}), encoding="utf-8")
    (results / "m1" / "run.json").write_text("{}", encoding="utf-8")
    (results / ".env").write_text("HF_TOKEN=hf_secret\n", encoding="utf-8")
    (results / "id_rsa").write_text("-----BEGIN KEY-----\n", encoding="utf-8")
    outside = tmp_path / "outside"
    (outside / "results.json").parent.mkdir()
    (outside / "results.json").write_text("{}", encoding="utf-8")
    (results / "linked").symlink_to(outside, target_is_directory=True)  # never entered
    out = bundle(tmp_path / "space", results_dir=results)
    assert sorted(p.relative_to(out).as_posix() for p in (out / "results").rglob("*") if p.is_file()) == [
        "results/m1/results.json"]
    (results / "m2").mkdir()
    (results / "m2" / "results.json").symlink_to(Path("/etc/hostname"))
    with pytest.raises(ValueError, match="symlink"):
        bundle(tmp_path / "space2", results_dir=results)
    assert not (tmp_path / "space2").exists()


def test_dataset_ships_the_prompt_configs(tmp_path, sample_build):
    """Audit item 18: without --dataset a deployed Space could only draw the 72 sample prompts."""
    from cvalues_space.config import config_from_env
    from cvalues_space.prompts import load_dataset_prompts

    out = bundle(tmp_path / "space", dataset_dir=sample_build)
    shipped = sorted(p.relative_to(out / "dataset").as_posix() for p in (out / "dataset").rglob("*") if p.is_file())
    assert "README.md" in shipped and all(p.startswith(("data/safety_prompts/", "data/responsibility_prompts/"))
                                          for p in shipped if p != "README.md")
    assert load_dataset_prompts(out / "dataset") == load_dataset_prompts(sample_build)
    assert config_from_env(base=out).dataset_dir == out / "dataset"


def test_a_bundle_without_models_says_loudly_that_it_ships_demo_models(tmp_path, capsys):
    assert main(["space", "bundle", str(tmp_path / "space")]) == 0
    err = capsys.readouterr().err
    assert DEMO_WARNING in err and "WARNING" in err and "random weights" in err
    assert main(["space", "bundle", str(tmp_path / "real"), "--models", str(_models(tmp_path))]) == 0
    assert "WARNING" not in capsys.readouterr().err


class _FakeHub:
    """Stands in for HfApi: records the commit instead of uploading."""

    commits: list[dict[str, bytes]] = []

    def __init__(self, *args, **kwargs):
        pass

    def create_repo(self, *args, **kwargs):
        return None

    def create_commit(self, *, operations, **kwargs):
        _FakeHub.commits.append({op.path_in_repo: op.path_or_fileobj.read() for op in operations})
        return "https://huggingface.co/spaces/org/x/commit/1"


def test_push_uploads_exactly_the_listed_files(tmp_path, monkeypatch, capsys):
    """Audit items 2 and 18: push took every file in the folder, followed symlinks and passed
    paths to upload_folder as glob patterns."""
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "HfApi", _FakeHub)
    _FakeHub.commits = []
    out = bundle(tmp_path / "space", models_file=_models(tmp_path))
    (out / ".env").write_text("HF_TOKEN=hf_secret\n", encoding="utf-8")
    (out / "*").write_text("a file named star\n", encoding="utf-8")
    (out / "secrets.json").write_text("{}", encoding="utf-8")
    (out / "cvalues_space" / "shadow").symlink_to(Path("/etc/hostname"))
    assert main(["space", "bundle", str(out), "--overwrite", "--models", str(_models(tmp_path)),
                 "--push", "org/x"]) == 0
    [uploaded] = _FakeHub.commits
    manifest = read_verified(out, KIND)
    assert sorted(uploaded) == manifest.paths
    assert all(hashlib.sha256(uploaded[e.path]).hexdigest() == e.sha256 for e in manifest.files)
    # A listed file changed, or swapped for a symlink, after bundling: nothing is uploaded.
    (out / "app.py").unlink()
    (out / "app.py").symlink_to(out / "secrets.json")
    from cvalues_space.bundle import push

    with pytest.raises(RuntimeError, match="app.py"):
        push(out, "org/x")
    assert len(_FakeHub.commits) == 1


@pytest.mark.slow
def test_bundled_app_imports_standalone_with_the_launch_settings(tmp_path):
    """The bundle's app.py builds the page from the copied packages alone (no installed cvalues),
    with the same launch settings as `cvalues space` (audit item 8); on ZeroGPU (SPACES_ZERO_GPU)
    it loads every model at import time, on the CPU, for the GPU call to move."""
    out = bundle(tmp_path / "space")
    code = ("import sys, os, json; sys.path.insert(0, os.getcwd()); import app, cvalues_space; "
            "kw = app.launch_kwargs(); pool = app.service.pool; "
            "print(json.dumps([type(app.demo).__name__, cvalues_space.__file__, kw['max_file_size'], "
            "[str(m) for m in kw['app_kwargs']['middleware']], app.demo.delete_cache, pool.loaded(), "
            "pool.device, pool.run_device]))")
    env = {"CVALUES_DB": str(tmp_path / "v.sqlite3"), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin",
           "GRADIO_ANALYTICS_ENABLED": "False", "HOME": str(tmp_path), "SPACES_ZERO_GPU": "true"}
    # The bundle's own folder comes first on sys.path, so its copies win over the editable install.
    proc = subprocess.run([sys.executable, "-s", "-c", code], cwd=out, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    kind, location, max_file, middleware, cache, loaded, device, run_device = json.loads(proc.stdout.splitlines()[-1])
    assert kind == "Blocks" and location.startswith(str(out))
    from cvalues_space.limits import MAX_FILE_BYTES, UPLOAD_CACHE

    assert max_file == MAX_FILE_BYTES and "BodyLimit" in middleware[0] and cache == list(UPLOAD_CACHE)
    assert loaded == ["demo:1", "demo:2", "demo:3"] and (device, run_device) == ("cpu", "cuda")
