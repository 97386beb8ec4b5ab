"""``cvalues space`` and ``cvalues votes`` (filled in by the Space work)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    pass


def register_votes(sub: argparse._SubParsersAction) -> None:
    pass
