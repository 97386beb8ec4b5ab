"""The columns of the Space's human records, derived from the record dataclasses.

``HumanLabel`` and ``Battle`` (core/records.py) are the one definition of a label and a battle.
The vote store's tables, the votes export and the dataset's ``Features`` read their columns from
here, so a field added to a record reaches all three or fails a test.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from types import NoneType, UnionType

from .records import Battle, HumanLabel

# Column kinds and how each storage spells them. SQLite has no boolean: 0/1 integers.
ARROW_TYPES = {"string": "string", "bool": "bool_", "int8": "int8"}
SQL_TYPES = {"string": "TEXT", "bool": "INTEGER", "int8": "INTEGER"}
_KIND_OF_TYPE = {str: "string", bool: "bool"}


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # a key of ARROW_TYPES
    nullable: bool
    default: str | None = None  # a string field's default, for rows written before it existed


def columns(record: type) -> tuple[Column, ...]:
    """A record's dataset columns in field order: every field but ``origin``. A field's kind comes
    from its type, or from ``metadata["kind"]`` where the type alone is too wide (int -> int8)."""
    hints = typing.get_type_hints(record)
    out = []
    for f in dataclasses.fields(record):
        if f.name == "origin":
            continue
        hint = hints[f.name]
        args = typing.get_args(hint) if isinstance(hint, UnionType) else (hint,)
        base = [a for a in args if a is not NoneType]
        if len(base) != 1:
            raise TypeError(f"{record.__name__}.{f.name}: one type (optionally | None) per column, got {hint}")
        kind = f.metadata.get("kind") or _KIND_OF_TYPE.get(base[0])
        if kind not in ARROW_TYPES:
            raise TypeError(f"{record.__name__}.{f.name}: no column kind for {hint}; set metadata['kind']")
        default = f.default if isinstance(f.default, str) else None
        out.append(Column(f.name, kind, nullable=NoneType in args, default=default))
    return tuple(out)


LABEL_COLUMNS = columns(HumanLabel)
BATTLE_COLUMNS = columns(Battle)


def arrow_schema(cols: tuple[Column, ...]):
    """The Arrow schema of ``cols`` (pyarrow is imported only when asked for)."""
    import pyarrow as pa

    return pa.schema([pa.field(c.name, getattr(pa, ARROW_TYPES[c.kind])(), nullable=True) for c in cols])


def sql_columns(cols: tuple[Column, ...]) -> str:
    """``name TYPE [NOT NULL] [DEFAULT '…']`` lines for a CREATE TABLE."""
    lines = []
    for c in cols:
        spec = f"{c.name} {SQL_TYPES[c.kind]}"
        if not c.nullable:
            spec += " NOT NULL"
        if c.default is not None:
            spec += " DEFAULT '" + c.default.replace("'", "''") + "'"
        lines.append(spec)
    return ",\n    ".join(lines)
