"""``cvalues eval`` (filled in by the scoring work)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    pass
