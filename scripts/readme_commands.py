"""Print the README's two commands, NUL-separated: the fenced ``bash`` blocks under the heading
"## The two commands", in order. scripts/fresh_check.sh runs what this prints, so the check always
follows the README as it is written, never a copy of it.

    python3 scripts/readme_commands.py README.md
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

HEADING = "## The two commands"
FENCE = re.compile(r"^```bash\n(.*?)^```", re.S | re.M)


def readme_commands(text: str) -> list[str]:
    """The commands of the "two commands" section; a missing section or count is an error, so a
    README edit cannot silently turn the check into a no-op."""
    start = text.find(HEADING + "\n")
    if start < 0:
        raise ValueError(f"no {HEADING!r} section in the README")
    following = text.find("\n## ", start + len(HEADING))
    section = text[start: following if following >= 0 else len(text)]
    commands = [block.strip() for block in FENCE.findall(section)]
    if len(commands) != 2:
        raise ValueError(f"expected 2 bash blocks under {HEADING!r}, found {len(commands)}")
    return commands


def main(argv: list[str]) -> int:
    path = Path(argv[1] if len(argv) > 1 else "README.md")
    try:
        commands = readme_commands(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        print(f"error: {path}: {err}", file=sys.stderr)
        return 2
    sys.stdout.write("\0".join(commands))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
