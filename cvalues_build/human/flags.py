"""The trust flags every command that reads human labels shares: ``--quorum``, ``--gold-min`` and
``--gold-threshold``, with the defaults of the quorum and gold rules (``quorum.DEFAULT_QUORUM``,
``gold.GOLD_MIN``, ``gold.GOLD_THRESHOLD``) and one check of each value. ``cvalues human-eval``,
``cvalues judge --agreement``, ``cvalues space`` and ``cvalues votes export`` all add them here."""

from __future__ import annotations

import argparse

from .gold import GOLD_MIN, GOLD_THRESHOLD
from .quorum import DEFAULT_QUORUM


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def share(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, not {value}")
    return value


def add_trust_arguments(group: argparse._ActionsContainer, *, quorum_help: str | None) -> None:
    """``--gold-min`` and ``--gold-threshold``, and ``--quorum`` unless ``quorum_help`` is None
    (``quorum_help`` says what needs the quorum; the default is appended)."""
    if quorum_help is not None:
        group.add_argument("--quorum", type=positive, default=DEFAULT_QUORUM, metavar="K",
                           help=f"{quorum_help} (default {DEFAULT_QUORUM})")
    group.add_argument("--gold-min", type=positive, default=GOLD_MIN, metavar="N",
                       help=f"gold answers before an annotator's accuracy can make them untrusted (default {GOLD_MIN})")
    group.add_argument("--gold-threshold", type=share, default=GOLD_THRESHOLD, metavar="X",
                       help=f"gold accuracy below which an annotator is untrusted, and their labels and votes "
                            f"count for nothing (default {GOLD_THRESHOLD})")
