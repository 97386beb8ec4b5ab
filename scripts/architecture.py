"""The project's import arrows, read from the code: which part imports which.

``python scripts/architecture.py`` prints the Mermaid diagram that docs/architecture.md shows;
tests/test_architecture.py checks that the page holds exactly this diagram and that every arrow
is one the layout allows.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The parts of the project: (name, folder, the module name its files import as)
PARTS = (
    ("core", "cvalues_build/core", "cvalues_build.core"),
    ("dataset", "cvalues_build/dataset", "cvalues_build.dataset"),
    ("evaluation", "cvalues_build/evaluation", "cvalues_build.evaluation"),
    ("human", "cvalues_build/human", "cvalues_build.human"),
    ("judge", "cvalues_build/judge", "cvalues_build.judge"),
    ("cli", "cvalues_build/cli.py", "cvalues_build.cli"),
    ("space", "space", "cvalues_space"),
    ("metric", "metric/cvalues", "cvalues_metric"),
    ("dataset_script", "dataset_script", "dataset_script"),
)


def part_of_module(name: str) -> str | None:
    """The part a dotted module name belongs to (longest prefix wins)."""
    best = None
    for part, _, module in PARTS:
        if (name == module or name.startswith(module + ".")) and (best is None or len(module) > len(best[1])):
            best = (part, module)
    return best[0] if best else None


def _files(folder: str) -> list[Path]:
    path = ROOT / folder
    if path.suffix == ".py":
        return [path] if path.exists() else []
    return sorted(path.rglob("*.py")) if path.exists() else []


def _imported(path: Path, module: str) -> set[str]:
    """Every module a file imports, at any depth (function-level imports count: they run too)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                names.add(".".join(base + ([node.module] if node.module else [])))
            else:
                names.add(node.module or "")
    return names


def imports_of(path: Path, folder: str, module: str) -> set[str]:
    """The modules one file of a part imports, resolved to absolute names."""
    base = ROOT / folder
    own = module if base.suffix == ".py" else ".".join([module, *path.relative_to(base).with_suffix("").parts])
    return _imported(path, own.removesuffix(".__init__"))


def arrows() -> set[tuple[str, str]]:
    """(importer, imported) pairs between different parts."""
    found = set()
    for part, folder, module in PARTS:
        for path in _files(folder):
            for name in imports_of(path, folder, module):
                target = part_of_module(name)
                if target and target != part:
                    found.add((part, target))
    return found


def mermaid(edges: set[tuple[str, str]]) -> str:
    lines = ["```mermaid", "flowchart TD"]
    lines += [f"    {a} --> {b}" for a, b in sorted(edges)]
    lines.append("```")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(mermaid(arrows()) + "\n")
