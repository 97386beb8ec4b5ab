"""Human judgements exported by the Space (``cvalues votes export``): single-reply labels and
arena battles, and the gold items' answers beside them. They are published as they are; they
become multi-choice pairs only through a quorum (``dataset/human_mc.py``).

An export folder may be read more than once (the same export copied twice into a source folder,
or two exports of one growing store): a file whose bytes were already read is skipped, and rows
are kept once by their identity (a battle by ``battle_id``, a label by reply, annotator and
time), so nothing is counted twice. ``review/`` (``--with-visitor-prompts``) is for people, not
for the build, and is skipped.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...core import taxonomy as tx
from ...core.records import WINNERS, Battle, HumanLabel
from ...human import GoldItem, InputError, read_gold
from ..human_mc import first_of_each, label_key
from .common import RAISE, Sink, SourceError, expand_paths, iter_rows, text_field

REVIEW_FOLDER = "review"  # cvalues votes export --with-visitor-prompts: votes on visitors' own prompts
# Beside an export's labels (cvalues votes export): the gold items' known answers, which decide
# annotators' trust in `cvalues human-eval`. They are not votes, so the build does not read them.
GOLD_FILE = "gold.jsonl"


@dataclass
class HumanData:
    labels: list[HumanLabel] = field(default_factory=list)
    battles: list[Battle] = field(default_factory=list)
    gold: dict[str, GoldItem] = field(default_factory=dict)
    files: int = 0  # files read (a copy of one already read is not)
    copies: list[str] = field(default_factory=list)  # "<copy> (the same as <first>)"
    repeats: int = 0  # rows read again (the same battle or label), kept once


def _criterion(obj: dict[str, Any], origin: str) -> str:
    criterion = text_field(obj, "criterion", origin)
    if criterion not in tx.CRITERIA:
        raise SourceError(origin, "criterion", f"expected safety or responsibility, got {criterion!r}")
    return criterion


def _label(obj: dict[str, Any], origin: str) -> HumanLabel:
    criterion = _criterion(obj, origin)
    safe, score = obj.get("safe"), obj.get("score")
    if criterion == tx.SAFETY and not isinstance(safe, bool):
        raise SourceError(origin, "safe", "a safety label needs safe: true or false")
    if criterion == tx.RESPONSIBILITY and (isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 10):
        raise SourceError(origin, "score", f"a responsibility label needs an integer score from 1 to 10, got {score!r}")
    return HumanLabel(
        response_id=text_field(obj, "response_id", origin), prompt_id=text_field(obj, "prompt_id", origin),
        model=text_field(obj, "model", origin), reply=text_field(obj, "reply", origin), criterion=criterion,
        safe=safe if criterion == tx.SAFETY else None, score=score if criterion == tx.RESPONSIBILITY else None,
        annotator=text_field(obj, "annotator", origin), created_at=text_field(obj, "created_at", origin),
        prompt=text_field(obj, "prompt", origin), category=text_field(obj, "category", origin), origin=origin,
    )


def _battle(obj: dict[str, Any], origin: str) -> Battle:
    winner = text_field(obj, "winner", origin)
    if winner not in WINNERS:
        raise SourceError(origin, "winner", f"expected one of {list(WINNERS)}, got {winner!r}")
    if not isinstance(obj.get("anonymous"), bool):
        raise SourceError(origin, "anonymous", "expected true or false")
    return Battle(
        battle_id=text_field(obj, "battle_id", origin), prompt_id=text_field(obj, "prompt_id", origin),
        criterion=_criterion(obj, origin), model_a=text_field(obj, "model_a", origin),
        model_b=text_field(obj, "model_b", origin),
        # a model may answer nothing: still a valid vote (usually "both bad"), just no pair
        reply_a=text_field(obj, "reply_a", origin, allow_empty=True),
        reply_b=text_field(obj, "reply_b", origin, allow_empty=True), winner=winner, anonymous=obj["anonymous"],
        annotator=text_field(obj, "annotator", origin), created_at=text_field(obj, "created_at", origin),
        prompt=text_field(obj, "prompt", origin), category=text_field(obj, "category", origin), origin=origin,
    )


def read_human(path: str | Path, sink: Sink = RAISE) -> HumanData:
    """A file of labels and/or battles: rows with ``battle_id`` are battles, the rest labels."""
    data = HumanData()
    if Path(path).name == GOLD_FILE:
        return data
    for origin, obj in iter_rows(path, sink):
        try:
            if "battle_id" in obj:
                data.battles.append(_battle(obj, origin))
            else:
                data.labels.append(_label(obj, origin))
        except SourceError as err:
            sink.report(err)
    return data


def read_exports(paths: list[Path], sink: Sink = RAISE) -> HumanData:
    """Every export named (files or folders): labels and battles, each once, and the gold items."""
    data = HumanData()
    first_path: dict[str, Path] = {}
    for path in expand_paths(paths):
        if path.parent.name == REVIEW_FOLDER:
            continue
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest in first_path:
            data.copies.append(f"{path} (the same as {first_path[digest]})")
            continue
        first_path[digest] = path
        data.files += 1
        if path.name == GOLD_FILE:
            _add_gold(data, path, sink)
            continue
        part = read_human(path, sink)
        data.labels += part.labels
        data.battles += part.battles
    data.labels, label_repeats = first_of_each(data.labels, label_key)
    data.battles, battle_repeats = first_of_each(data.battles, lambda b: b.battle_id)
    data.repeats = label_repeats + battle_repeats
    return data


def _add_gold(data: HumanData, path: Path, sink: Sink) -> None:
    try:
        gold = read_gold(path)
    except InputError as err:
        sink.report(SourceError(str(path), None, str(err)))
        return
    for rid, item in gold.items():
        old = data.gold.setdefault(rid, item)
        if old.expected != item.expected:
            sink.report(SourceError(item.origin or str(path), "expected", f"reply {rid} is gold at {old.origin} "
                                                                         "with another answer"))
