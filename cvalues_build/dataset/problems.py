"""Collecting problems instead of stopping at the first: a build reports every bad row at once,
then either fails (the default) or drops those rows and counts them (``--skip-invalid``)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from .sources.common import SourceError


class BuildError(RuntimeError):
    """Raised when a build finds problems and was not asked to skip them."""

    def __init__(self, problems: list[SourceError], shown: int = 20):
        self.problems = problems
        lines = [str(p) for p in problems[:shown]]
        if len(problems) > shown:
            lines.append(f"... and {len(problems) - shown} more")
        super().__init__(f"{len(problems)} invalid row(s):\n" + "\n".join(lines))


@dataclass
class Problems:
    items: list[SourceError] = field(default_factory=list)

    def report(self, err: SourceError) -> None:
        self.items.append(err)

    def __len__(self) -> int:
        return len(self.items)

    def counts(self) -> Counter:
        """Problems per reason, for the --skip-invalid summary."""
        return Counter(p.reason.split(":")[0] for p in self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise BuildError(self.items)
