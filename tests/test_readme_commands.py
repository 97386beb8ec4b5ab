"""The README's two commands are what CI and the fresh-machine check run."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SPEC = importlib.util.spec_from_file_location("readme_commands", ROOT / "scripts" / "readme_commands.py")
readme_commands = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(readme_commands)


def test_the_readme_has_a_setup_command_and_a_test_command():
    setup, tests = readme_commands.readme_commands((ROOT / "README.md").read_text(encoding="utf-8"))
    # torch's CPU build goes in before the extras, or pip pulls CUDA wheels (see the README).
    assert setup.index("pip install torch==2.13.0") < setup.index('pip install -e ".[models,space,test]"')
    assert "cvalues build" in setup and "cvalues eval" in setup
    assert "pytest" in tests


def test_ci_runs_exactly_the_readme_test_command_and_the_fresh_check():
    _, tests = readme_commands.readme_commands((ROOT / "README.md").read_text(encoding="utf-8"))
    lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()]
    assert tests in lines
    assert "bash scripts/fresh_check.sh" in lines


@pytest.mark.parametrize(("text", "message"), [
    ("# x\n\nno section here\n", "no '## The two commands' section"),
    ("## The two commands\n\n```bash\nmake\n```\n\n## Next\n\n```bash\nmake test\n```\n", "found 1"),
])
def test_a_readme_without_its_two_commands_fails_the_check(tmp_path, text, message):
    with pytest.raises(ValueError, match=message):
        readme_commands.readme_commands(text)
    readme = tmp_path / "README.md"
    readme.write_text(text, encoding="utf-8")
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "readme_commands.py"), str(readme)],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and message.split()[0] in proc.stderr and proc.stdout == ""
