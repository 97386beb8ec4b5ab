"""One definition of a label and a battle: the record dataclasses. The store's tables, the votes
export and the dataset's Features all carry exactly their columns, with matching types."""

from __future__ import annotations

import dataclasses
import sqlite3

import pyarrow.parquet as pq
import pytest

from cvalues_build.core.records import Battle, HumanLabel
from cvalues_build.core.schema import (
    BATTLE_COLUMNS,
    LABEL_COLUMNS,
    SQL_TYPES,
    Column,
    arrow_schema,
    columns,
    sql_columns,
)
from cvalues_build.dataset.features import battle_features, human_label_features

KINDS = {"labels": (HumanLabel, LABEL_COLUMNS, human_label_features),
         "battles": (Battle, BATTLE_COLUMNS, battle_features)}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_columns_are_the_records_fields(kind):
    record, cols, features = KINDS[kind]
    names = [f.name for f in dataclasses.fields(record) if f.name != "origin"]
    assert [c.name for c in cols] == names
    assert list(features()) == names
    assert arrow_schema(cols).names == names


def test_column_kinds_follow_the_types():
    by_name = {c.name: c for c in LABEL_COLUMNS}
    assert by_name["safe"] == Column("safe", "bool", nullable=True)
    assert by_name["score"] == Column("score", "int8", nullable=True)
    assert by_name["prompt"].default == "" and not by_name["reply"].nullable
    assert {c.name: c.kind for c in BATTLE_COLUMNS}["anonymous"] == "bool"


def test_a_field_without_a_column_kind_is_refused():
    @dataclasses.dataclass
    class Odd:
        when: float

    with pytest.raises(TypeError, match="Odd.when"):
        columns(Odd)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_store_tables_hold_the_record_columns(tmp_path, kind):
    pytest.importorskip("gradio")
    from cvalues_space.store import VoteStore

    store = VoteStore(tmp_path / "votes.sqlite3")
    store.close()
    con = sqlite3.connect(tmp_path / "votes.sqlite3")
    info = {row[1]: (row[2], bool(row[3])) for row in con.execute(f"PRAGMA table_info({kind})")}
    con.close()
    for col in KINDS[kind][1]:
        assert col.name in info, col.name
        sql_type, not_null = info[col.name]
        assert sql_type == SQL_TYPES[col.kind] and not_null == (not col.nullable), col


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_export_writes_the_record_schema(tmp_path, kind):
    from cvalues_space.export import write_rows

    path = tmp_path / f"{kind}.parquet"
    write_rows([], path, "parquet", kind)
    assert pq.read_schema(path).remove_metadata() == arrow_schema(KINDS[kind][1])


def test_sql_columns_spell_defaults_and_nulls():
    text = sql_columns(LABEL_COLUMNS)
    assert "safe INTEGER,\n" in text and "response_id TEXT NOT NULL" in text
    assert "category TEXT NOT NULL DEFAULT ''" in text
