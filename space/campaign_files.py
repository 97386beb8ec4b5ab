"""Reading a campaign: the ``replies.jsonl`` that ``cvalues respond --out RUN`` writes, through
respond's own reader (``replies_file``, ``read_reply_rows``: file:line errors, a torn last line).

A row needs ``prompt_id``, ``prompt``, ``criterion``, ``category``, ``model`` and ``reply``; other
fields (``source``, ``generation``, ``seed``, ``timing``) are the run's record and are not kept.
A ``response_id``, when present, must be ``core.records.reply_id(prompt_id, model, reply)``: a
row whose id says otherwise was edited, or written by another formula, and its labels would not
meet it. A row that cannot be used is an error naming ``file:line`` and the field, and nothing
of that file is imported. Empty replies are counted and left out: there is nothing to label.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cvalues_build.core import taxonomy as tx
from cvalues_build.core.records import reply_id
from cvalues_build.evaluation.respond import read_reply_rows, replies_file

from .markup import hidden_character
from .store import StoredReply

_TEXT_FIELDS = ("prompt_id", "prompt", "criterion", "category", "model")


class CampaignError(ValueError):
    """A campaign that cannot be imported; the message names the file (and line, and field)."""


@dataclass(frozen=True)
class CampaignFile:
    path: Path
    name: str  # the run folder's name
    rows: int
    replies: list[StoredReply]
    empty: int


def replies_path(run: str | Path) -> Path:
    """The ``replies.jsonl`` of a finished run folder (or the file itself, when named)."""
    try:
        path = replies_file(run)
    except FileNotFoundError as err:
        raise CampaignError(str(err)) from err
    parts = sorted(path.parent.glob(f"{path.stem}.part-*.jsonl"))
    if parts:
        raise CampaignError(f"{path.parent}: {parts[0].name} is the part of an unfinished run; finish it with "
                            "`cvalues respond ... --resume` first")
    return path


def _reply(obj: dict[str, Any], where: str) -> StoredReply:
    for name in (*_TEXT_FIELDS, "reply"):
        value = obj.get(name)
        if not isinstance(value, str) or (name != "reply" and not value.strip()):
            raise CampaignError(f"{where}: field {name!r}: expected {'a' if name == 'reply' else 'a non-empty'} "
                                f"string, got {value!r}")
    criterion, category, model = obj["criterion"], obj["category"], obj["model"]
    if criterion not in tx.CRITERIA:
        raise CampaignError(f"{where}: field 'criterion': expected safety or responsibility, got {criterion!r}")
    if not tx.is_valid(criterion, category):
        raise CampaignError(f"{where}: field 'category': {category!r} is not a {criterion} category")
    problem = hidden_character(model)
    if problem:
        raise CampaignError(f"{where}: field 'model': the name holds {problem}")
    rid = reply_id(obj["prompt_id"], model, obj["reply"])
    given = obj.get("response_id")
    if given is not None and given != rid:
        raise CampaignError(f"{where}: field 'response_id': {given!r} is not the reply's id {rid!r} "
                            "(reply_id(prompt_id, model, reply)); was the row edited?")
    return StoredReply(rid, obj["prompt_id"], obj["prompt"], criterion, category, model, obj["reply"])


def read_campaign(run: str | Path) -> CampaignFile:
    """Every row of a run's ``replies.jsonl``, checked; empty replies are counted, not kept."""
    path = replies_path(run)
    replies: list[StoredReply] = []
    rows = empty = 0
    try:
        for where, obj in read_reply_rows(path):
            reply = _reply(obj, where)
            rows += 1
            if reply.reply.strip():
                replies.append(reply)
            else:
                empty += 1
    except CampaignError:
        raise
    except ValueError as err:  # a line that is not a JSON object
        raise CampaignError(str(err)) from err
    if not rows:
        raise CampaignError(f"{path}: no replies in this file")
    return CampaignFile(path, path.parent.name, rows, replies, empty)
