"""Pair -> two multi-choice items, one with the better reply first and one with it second.

Templates are versioned data (``core.answer_format``): every item records the ``template_version`` it was rendered
with, so a score always names the exact wording the model saw.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from string import Template

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..core import taxonomy as tx
from ..core.answer_format import DEFAULT_VERSION, OFFICIAL_VERSION, answer_format
from ..core.labels import LABELS
from ..core.records import MCItem, PairRecord


def _pieces(template: Template) -> list[str | tuple[str]]:
    """The template as literal strings and ``(name,)`` placeholders, for rendering whole columns."""
    out: list[str | tuple[str]] = []
    pos = 0
    for m in template.pattern.finditer(template.template):
        out.append(template.template[pos:m.start()])
        name = m.group("named") or m.group("braced")
        out.append((name,) if name else "$")
        pos = m.end()
    out.append(template.template[pos:])
    return [p for p in out if p != ""]


def render_columns(criterion: pa.Array, columns: dict[str, pa.Array], version: str = DEFAULT_VERSION) -> pa.Array:
    """``render`` over whole Arrow columns: one C++ string join instead of a Python call per
    item. Rows take their own criterion's template; when the templates share their placeholder
    order (ours do), only the literal pieces differ per row and a single join serves them all."""
    fmt = answer_format(version)
    shapes = {crit: _pieces(fmt.template(crit)) for crit in tx.CRITERIA}
    names = {crit: [p for p in pieces if isinstance(p, tuple)] for crit, pieces in shapes.items()}
    first = shapes[tx.CRITERIA[0]]
    same_shape = all(len(p) == len(first) and [isinstance(x, tuple) for x in p] == [isinstance(x, tuple) for x in first]
                     for p in shapes.values()) and len({tuple(n) for n in names.values()}) == 1
    if not same_shape:
        rendered = None
        for crit, pieces in shapes.items():
            text = pc.binary_join_element_wise(*[columns[p[0]] if isinstance(p, tuple) else p for p in pieces], "")
            rendered = text if rendered is None else pc.if_else(pc.equal(criterion, crit), text, rendered)
        return rendered
    parts = []
    for i, piece in enumerate(first):
        if isinstance(piece, tuple):
            parts.append(columns[piece[0]])
            continue
        literals = {shapes[c][i] for c in tx.CRITERIA}
        if len(literals) == 1:
            parts.append(piece)
        else:  # pick each row's literal: short strings, so this costs little
            choice = None
            for crit in tx.CRITERIA:
                lit = pa.scalar(shapes[crit][i])
                choice = lit if choice is None else pc.if_else(pc.equal(criterion, crit), lit, choice)
            parts.append(choice)
    return pc.binary_join_element_wise(*parts, "")


# The columns of an item table, in MCItem's field order.
ITEM_COLUMNS = [f.name for f in dataclasses.fields(MCItem) if f.name != "origin"]


def _ids(pair_ids: Sequence[str], position: int, template_version: str) -> list[str]:
    """``content_id(pair_id, position, template_version)`` for many pairs, inlined: the same
    bytes are hashed, without a Python call per item."""
    suffix = f"\x1f{position}\x1f{template_version}".encode()
    return [hashlib.sha256(pid.encode() + suffix).hexdigest()[:16] for pid in pair_ids]


def items_table(pairs: Sequence[PairRecord], version: str = DEFAULT_VERSION,
                official_prompts: Sequence[tuple[str, str]] | None = None) -> pa.Table:
    """Every pair asked in both orders, as one Arrow table: rows 2k and 2k+1 are pair k with the
    better reply first (label 回复1) and second (回复2). ``official_prompts`` (better-first,
    better-second per pair) keeps a source's own rendered text instead of one of our templates.

    Columnar on purpose: a 145k-pair build spends its time here. Each text is encoded to Arrow
    once and then laid out with ``take`` (a memcpy), and prompts are rendered by whole-column
    string joins, instead of building an object per item."""
    n = len(pairs)
    template_version = OFFICIAL_VERSION if official_prompts is not None else version
    per_pair = np.repeat(np.arange(n), 2)  # row 2k and 2k+1 both come from pair k

    def twice(values: list[str]) -> pa.Array:
        return pa.array(values, pa.string()).take(per_pair)

    # replies: index k is pair k's better reply, n + k its worse one
    replies = pa.concat_arrays([pa.array([p.better for p in pairs], pa.string()),
                                pa.array([p.worse for p in pairs], pa.string())])
    better_first = np.empty(2 * n, dtype=np.int64)
    better_first[0::2], better_first[1::2] = np.arange(n), np.arange(n, 2 * n)
    worse_first = np.where(better_first < n, better_first + n, better_first - n)
    pair_ids = [p.pair_id for p in pairs]
    ids = [None] * (2 * n)
    ids[0::2], ids[1::2] = _ids(pair_ids, 1, template_version), _ids(pair_ids, 2, template_version)
    columns = {
        "id": pa.array(ids, pa.string()),
        "pair_id": twice(pair_ids),
        "criterion": twice([p.criterion for p in pairs]),
        "category": twice([p.category for p in pairs]),
        "question": twice([p.question for p in pairs]),
        "reply_1": replies.take(better_first),
        "reply_2": replies.take(worse_first),
        "label": pa.array(list(LABELS) * n, pa.string()),
        "better_position": pa.array([1, 2] * n, pa.int8()),
        "difficulty": twice([p.difficulty for p in pairs]),
        "source": twice([p.source for p in pairs]),
        "template_version": pa.array([template_version] * (2 * n), pa.string()),
    }
    if official_prompts is not None:
        columns["prompt"] = pa.array([text for texts in official_prompts for text in texts], pa.string())
    else:
        columns["prompt"] = render_columns(columns["criterion"], columns, version)
    return pa.table({name: columns[name] for name in ITEM_COLUMNS})

