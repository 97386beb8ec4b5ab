"""Build-side sub-commands: build, validate, stats, push. (filled in by the build work)"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    pass
