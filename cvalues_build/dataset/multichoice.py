"""Pair -> two multi-choice items, one with the better reply first and one with it second.

Templates are versioned data (``core.answer_format``): every item records the ``template_version`` it was rendered
with, so a score always names the exact wording the model saw.
"""

from __future__ import annotations

import dataclasses
from string import Template

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..core import taxonomy as tx
from ..core.answer_format import DEFAULT_VERSION, OFFICIAL_VERSION, answer_format
from ..core.labels import LABELS
from ..core.records import MCItem
from .columns import hex_column, id_digests


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


def _repeat(value: str, n: int) -> pa.Array:
    """``value`` n times, built as ``pa.array`` builds it (no validity buffer: the card's byte
    counts follow the buffers)."""
    return pa.array(np.full(n, value, dtype=object), pa.string())


def items_table(pairs: pa.Table, version: str = DEFAULT_VERSION, official_prompts: pa.Array | None = None) -> pa.Table:
    """Every pair of a pair table (``pairs.py``) asked in both orders, as one Arrow table: rows 2k
    and 2k+1 are pair k with the better reply first (label 回复1) and second (回复2).
    ``official_prompts`` (better-first then better-second text, two per pair) keeps a source's own
    rendered text instead of one of our templates.

    Columnar on purpose: a 145k-pair build spends its time here. Each text is laid out with
    ``take`` (a memcpy), prompts are rendered by whole-column string joins, and the ids are hashed
    from the pair_id column, instead of building an object per item."""
    n = pairs.num_rows
    template_version = OFFICIAL_VERSION if official_prompts is not None else version
    per_pair = pa.array(np.repeat(np.arange(n), 2))  # row 2k and 2k+1 both come from pair k
    column = {name: pairs.column(name).combine_chunks() for name in
              ("pair_id", "criterion", "category", "question", "better", "worse", "difficulty", "source")}
    # replies: index k is pair k's better reply, n + k its worse one
    replies = pa.concat_arrays([column["better"], column["worse"]])
    better_first = np.empty(2 * n, dtype=np.int64)
    better_first[0::2], better_first[1::2] = np.arange(n), np.arange(n, 2 * n)
    worse_first = np.where(better_first < n, better_first + n, better_first - n)
    digests = np.empty((2 * n, 8), dtype=np.uint8)
    for position in (1, 2):
        digests[position - 1::2] = id_digests(column["pair_id"], str(position), template_version)
    columns = {
        "id": hex_column(digests),
        **{name: column[name].take(per_pair) for name in ("pair_id", "criterion", "category", "question",
                                                          "difficulty", "source")},
        "reply_1": replies.take(pa.array(better_first)),
        "reply_2": replies.take(pa.array(worse_first)),
        "label": pa.array(np.tile(np.array(LABELS, dtype=object), n), pa.string()),
        "better_position": pa.array(np.tile(np.array([1, 2], dtype=np.int8), n)),
        "template_version": _repeat(template_version, 2 * n),
    }
    if official_prompts is not None:
        columns["prompt"] = official_prompts
    else:
        columns["prompt"] = render_columns(columns["criterion"], columns, version)
    return pa.table({name: columns[name] for name in ITEM_COLUMNS})
