"""The folders are the architecture: the import arrows between the parts are read from the code
(scripts/architecture.py), every one must be an arrow the layout allows, and
docs/architecture.md must show exactly the diagram the code gives."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("architecture", ROOT / "scripts" / "architecture.py")
architecture = importlib.util.module_from_spec(_spec)
sys.modules["architecture"] = architecture
_spec.loader.exec_module(architecture)

# What each part may import. The core imports no other part; the metric stands alone on the Hub;
# nothing imports the Space, the loading script or the CLI.
ALLOWED = {
    "core": set(),
    "metric": set(),
    "dataset": {"core", "human"},  # the votes' quorum pairs use the human package's quorum and trust rules
    "evaluation": {"core", "metric"},
    "human": {"core"},
    "judge": {"core", "evaluation", "human"},
    "cli": {"core", "dataset", "evaluation", "human", "judge"},
    "space": {"core", "dataset", "evaluation", "human", "judge"},
    "dataset_script": {"core", "dataset"},
}


def test_every_arrow_is_allowed():
    found = architecture.arrows()
    assert found, "no arrows found: the parser reads nothing"
    wrong = sorted((a, b) for a, b in found if b not in ALLOWED[a])
    assert not wrong, f"arrows the layout does not allow: {wrong}"


def test_the_space_uses_only_the_public_names_of_dataset_and_evaluation():
    """The Space reads the dataset's sample and runs models through the packages' public API,
    never an importer module or a scorer's internals."""
    reached = set()
    for path in architecture._files("space"):
        for name in architecture.imports_of(path, "space", "cvalues_space"):
            if name.startswith(("cvalues_build.dataset", "cvalues_build.evaluation")):
                reached.add(name)
    assert reached <= {"cvalues_build.dataset", "cvalues_build.evaluation.backends",
                       "cvalues_build.evaluation.respond"}, reached  # respond's replies.jsonl reader (campaigns)


def test_the_page_shows_the_diagram_of_the_code():
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    assert architecture.mermaid(architecture.arrows()) in page, (
        "docs/architecture.md is out of date: paste the output of `python scripts/architecture.py`"
    )


def test_the_parser_sees_relative_and_function_level_imports(tmp_path, monkeypatch):
    pkg = tmp_path / "cvalues_build" / "core"
    pkg.mkdir(parents=True)
    (pkg / "x.py").write_text("def f():\n    from ..dataset import y\n", encoding="utf-8")
    monkeypatch.setattr(architecture, "ROOT", tmp_path)
    assert ("core", "dataset") in architecture.arrows()
