"""The ``cvalues`` command. Thin: it parses arguments and wires the modules that do the work.

Sub-commands come from three places: the build commands below, ``cvalues eval`` from
cvalues_build.evaluation, and plug-ins registered under the ``cvalues.commands`` entry-point group
(the Space registers ``space`` and ``votes`` there, so cvalues_build never imports it).
"""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import entry_points


def _builtin_registrars():
    from .dataset import commands
    from .evaluation import command as scoring_command
    from .evaluation import respond_command
    from .human import command as human_command
    from .judge import command as judge_command

    return [commands.register, scoring_command.register, respond_command.register, human_command.register,
            judge_command.register]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cvalues",
        description="CValues: build, publish and evaluate the Chinese values benchmark (arXiv 2307.09705).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for register in _builtin_registrars():
        register(sub)
    for ep in sorted(entry_points(group="cvalues.commands"), key=lambda e: e.name):
        ep.load()(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
