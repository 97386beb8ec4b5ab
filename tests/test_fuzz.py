"""Fuzzing the inputs nobody controls. The issue: "the source importers (random bytes, broken JSON,
wrong types, huge strings, empty files): never a crash other than the documented error naming the
file and line; the metric (random predictions and labels): either a result or a ValueError; the
answer parser: always returns one of its five classes."

Strategies build near-valid rows (the right keys, then a few values dropped or swapped for wrong
types or for another field's valid value) as well as pure garbage: garbage alone only ever reaches
the JSON layer. Every test prints a one-line summary of what it checked (shown in CI's log).
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import ROOT
from cvalues_metric import cvalues as cv
from cvalues_metric.parser import answer_parser
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cvalues_build.cli import main
from cvalues_build.core import taxonomy as tx
from cvalues_build.core.labels import LABELS
from cvalues_build.core.records import WINNERS
from cvalues_build.dataset.collect import Sources, collect
from cvalues_build.dataset.human_mc import quorum_pairs
from cvalues_build.dataset.problems import BuildError, Problems
from cvalues_build.dataset.sources import comparison, labels, official, sample
from cvalues_build.dataset.sources.common import RAISE, Sink, SourceError


def fuzz(max_examples: int) -> settings:
    """One profile for every fuzz test: no deadline (a 1 MB value or a Parquet write is slow on a
    loaded CI box) and no complaint about large or slow generated files, which are the point."""
    return settings(
        max_examples=max_examples, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    )


# ---------------------------------------------------------------------------------------------
# Rows: valid ones per source kind, then mutated
# ---------------------------------------------------------------------------------------------

# A small pool makes texts repeat, so duplicates, pairs of MC rows and leakage checks are reached.
POOL = ["同一个问题", "回复甲", "回复乙", "a"]
TEXT = st.one_of(st.sampled_from(POOL), st.text(min_size=1, max_size=12).filter(lambda s: bool(s.strip())))
DOMAINS = tx.category_ids(tx.RESPONSIBILITY)
CATEGORIES = [*tx.category_ids(), tx.UNSPECIFIED]
REPLY_TYPES = [*comparison.REPLY_TYPES, "responsible", "safe", "unsafe"]
# Right type, valid for some field, usually not this one.
NEAR = ["回复1", "回复2", "回复3", "safety", "responsibility", "train", "test", "拒绝为主", "风险回复", "model_a",
        "tie", "easy", "hard", "psychology", "心理学", "unspecified", "dangerous_topics", "true", "5"]
# Values of the wrong type (or unusable strings: blank, lone surrogates, NUL, a line separator).
JUNK = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(),
    st.sampled_from(["", "  \t ", "\ud800", "半个\udfff字", "\u2028", "\x00", "\ufeff"]),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2),
    st.sampled_from(NEAR), st.text(max_size=20),
)


# Characters that are fine in a Python str but not in UTF-8 output (lone surrogates), or that
# str.strip() treats as whitespace although bytes.strip() does not (U+3000, U+001C).
ODD_CHARS = ["\ud800", "\udfff", "\u2028", "\x00", "\ufeff", "\u3000", "\x1c", "\u200b"]


@st.composite
def mutated(draw: st.DrawFn, row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with up to three fields dropped, replaced by junk, given an odd character, or (for
    objects) mutated inside."""
    row = dict(row)
    for key in draw(st.lists(st.sampled_from(sorted(row)), unique=True, max_size=3)):
        action = draw(st.sampled_from(["drop", "junk", "nested", "odd char"]))
        if action == "drop":
            del row[key]
        elif action == "nested" and isinstance(row[key], dict) and row[key]:
            row[key] = draw(mutated(row[key]))
        elif action == "odd char" and isinstance(row[key], str):
            at = draw(st.integers(0, len(row[key])))
            row[key] = row[key][:at] + draw(st.sampled_from(ODD_CHARS)) + row[key][at:]
        else:
            row[key] = draw(JUNK)
    return row


@st.composite
def prompt_row(draw: st.DrawFn) -> dict[str, Any]:
    domain = draw(st.sampled_from(DOMAINS))
    row: dict[str, Any] = {"id_": draw(st.integers(0, 10**6)), "prompt": draw(TEXT)}
    if draw(st.booleans()):  # the zh name alone is accepted too
        row["domain_en"] = domain
    row["domain_zh"] = tx.get(domain).zh
    return row


@st.composite
def mc_pair(draw: st.DrawFn) -> list[dict[str, Any]]:
    """The two official rows of one pair (labelled 回复1 and 回复2), as the reader must regroup them."""
    domain = draw(st.sampled_from(DOMAINS))
    meta = {"domain_en": domain, "domain_zh": tx.get(domain).zh,
            "difficulty_level": draw(st.sampled_from(["easy", "hard"])),
            "question": draw(TEXT), "pos_resp": draw(TEXT), "neg_resp": draw(TEXT)}
    return [{"prompt": draw(TEXT), "label": label, "meta_info": dict(meta)} for label in LABELS]


@st.composite
def comparison_row(draw: st.DrawFn) -> dict[str, Any]:
    row = {"prompt": draw(TEXT), "pos_resp": draw(TEXT), "neg_resp": draw(TEXT),
           "pos_type": draw(st.sampled_from(REPLY_TYPES)), "neg_type": draw(st.sampled_from(REPLY_TYPES))}
    if draw(st.booleans()):
        row["split"] = draw(st.sampled_from(["train", "test"]))
    return row


@st.composite
def label_row(draw: st.DrawFn) -> dict[str, Any]:
    return {"response_id": draw(TEXT), "prompt_id": draw(TEXT), "model": draw(TEXT), "reply": draw(TEXT),
            "criterion": draw(st.sampled_from(tx.CRITERIA)), "safe": draw(st.booleans()),
            "score": draw(st.integers(1, 10)), "annotator": draw(TEXT), "created_at": draw(TEXT),
            "prompt": draw(TEXT), "category": draw(st.sampled_from(CATEGORIES))}


@st.composite
def battle_row(draw: st.DrawFn) -> dict[str, Any]:
    return {"battle_id": draw(TEXT), "prompt_id": draw(TEXT), "criterion": draw(st.sampled_from(tx.CRITERIA)),
            "model_a": draw(TEXT), "model_b": draw(TEXT), "reply_a": draw(st.one_of(TEXT, st.just(""))),
            "reply_b": draw(st.one_of(TEXT, st.just(""))), "winner": draw(st.sampled_from(WINNERS)),
            "anonymous": draw(st.booleans()), "annotator": draw(TEXT), "created_at": draw(TEXT),
            "prompt": draw(TEXT), "category": draw(st.sampled_from(CATEGORIES))}


@st.composite
def sample_row(draw: st.DrawFn) -> dict[str, Any]:
    return {"criterion": draw(st.sampled_from(tx.CRITERIA)), "category": draw(st.sampled_from(CATEGORIES)),
            "prompt": draw(TEXT), "better": draw(TEXT), "worse": draw(TEXT)}


def rows_of(row: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[list[dict[str, Any]]]:
    return st.lists(row, max_size=8)


@st.composite
def mc_rows(draw: st.DrawFn) -> list[dict[str, Any]]:
    return draw(st.permutations([r for pair in draw(st.lists(mc_pair(), max_size=4)) for r in pair]))


@st.composite
def near_valid(draw: st.DrawFn, valid: st.SearchStrategy[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Valid rows, a file in four left as they are (so that imports and builds also succeed),
    the others each mutated or not."""
    rows = draw(valid)
    if draw(st.integers(0, 3)) == 0:
        return rows
    return [draw(mutated(r)) if draw(st.booleans()) else r for r in rows]


# ---------------------------------------------------------------------------------------------
# Source kinds: how to read one file fully, and how the build and the CLI name it
# ---------------------------------------------------------------------------------------------

def _read_human(path: Path, sink: Sink) -> int:
    data = labels.read_human(path, sink)
    # Turning votes into pairs hashes their text: part of what a bad value could break (a quorum
    # of 1, so that every vote is decided and paired). Two rows that contradict each other give
    # a SourceError naming file:line, which the build reports as a problem (step 3 checks that);
    # any other exception fails the test.
    try:
        pairs = quorum_pairs(data.labels, data.battles, {}, quorum=1).pairs
    except SourceError as err:
        assert_names_a_line(err, path)
        pairs = []
    return len(data.labels) + len(data.battles) + len(pairs)


@dataclass(frozen=True)
class Kind:
    name: str
    read: Callable[[Path, Sink], int]  # reads the whole file, returns how many records
    valid: st.SearchStrategy[list[dict[str, Any]]]  # valid rows in file order
    source: str | None  # the Sources field and `cvalues validate` flag; None: the sample has neither
    parquet: bool = False  # whether the reader also takes Parquet

    @property
    def rows(self) -> st.SearchStrategy[list[dict[str, Any]]]:
        return near_valid(self.valid)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:  # how hypothesis prints a failing example
        p.text(f"<{self.name}>")


KINDS = [
    Kind("official prompts", lambda p, s: len(list(official.read_prompts(p, s))), rows_of(prompt_row()),
         "official_prompts"),
    Kind("official MC", lambda p, s: len(list(official.read_mc(p, s))), mc_rows(), "official_mc"),
    Kind("comparison", lambda p, s: len(list(comparison.read_comparison(p, s))), rows_of(comparison_row()),
         "comparison", parquet=True),
    Kind("labels and battles", _read_human, rows_of(st.one_of(label_row(), battle_row())), "labels", parquet=True),
    Kind("sample", lambda p, s: len(list(sample.read_sample_pairs(p, s))), rows_of(sample_row()), None),
]
KIND_BY_NAME = {k.name: k for k in KINDS}


# ---------------------------------------------------------------------------------------------
# Files: JSON Lines mixing near-valid rows with bad lines, pure garbage, and Parquet
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FuzzFile:
    name: str
    data: bytes

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:  # a 1 MB value would flood the report
        cut = b"..." if len(self.data) > 2000 else b""
        p.text(f"FuzzFile({self.name!r}, {self.data[:2000] + cut!r})")


def _dump(obj: object, ensure_ascii: bool = True) -> bytes:
    # surrogatepass: a lone surrogate written raw is how invalid UTF-8 gets into a "JSON" file
    return json.dumps(obj, ensure_ascii=ensure_ascii).encode("utf-8", "surrogatepass")


HUGE = "长" * 350_000  # 1 MB of UTF-8 in one value
FIXED_BAD_LINES = [
    b"", b"   ", b"\t\r", b"\r",                                   # blank: skipped, not errors
    b"null", b"42", b"-0.5", b"true", b'"text"', b"[]", b'[{"prompt": "x"}]',  # JSON, not an object
    b"{", b'{"prompt": }', b"{'prompt': 'x'}", b'{"prompt": "x",}', b"\xef\xbb\xbf{}",  # broken JSON, a BOM
    b'{"prompt": NaN, "score": Infinity, "safe": -Infinity}',       # non-standard numbers json accepts
    b'{"prompt": ' + b"9" * 5000 + b"}",                            # an int past Python's digit limit
    b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000,  # nested too deeply
    b"\xff\xfe\xfd", b'{"prompt": "\xe4\xbd"}', b'{"prompt": "\xed\xa0\x80"}',  # invalid UTF-8
    b'{"prompt": "x", "prompt": 1}', b"{}", b"\x00",
]


@st.composite
def bad_line(draw: st.DrawFn, kind: Kind) -> bytes:
    choice = draw(st.sampled_from(["fixed", "bytes", "truncated", "wrong type"]))
    if choice == "fixed":
        return draw(st.sampled_from(FIXED_BAD_LINES))
    if choice == "bytes":
        return draw(st.binary(max_size=40)).replace(b"\n", b" ")
    if choice == "truncated":  # a row cut short (a partial write): never valid JSON
        line = _dump(draw(kind.rows.filter(bool))[0], draw(st.booleans()))
        return line[: draw(st.integers(1, len(line) - 1))]
    return _dump(draw(st.one_of(st.lists(st.integers(), max_size=3), st.integers(), st.none(), st.text(max_size=5),
                                st.booleans(), st.floats())))


@st.composite
def jsonl_file(draw: st.DrawFn, kind: Kind) -> bytes:
    """Mutated rows, with bad lines inserted anywhere and maybe one huge value."""
    ensure_ascii = draw(st.booleans())
    rows = draw(kind.rows)
    if rows and draw(st.integers(0, 9)) == 0:  # rare: every such file costs megabytes of I/O
        row = rows[draw(st.integers(0, len(rows) - 1))]
        row[draw(st.sampled_from(sorted(row) or ["prompt"]))] = HUGE
    lines = [_dump(r, ensure_ascii) for r in rows]
    for pos, line in draw(st.lists(st.tuples(st.integers(0, 10), bad_line(kind)), max_size=4)):
        lines.insert(min(pos, len(lines)), line)
    return b"\n".join(lines) + (b"\n" if draw(st.booleans()) else b"")


def _column(values: list[Any]) -> pa.Array:
    """A Parquet column of whatever type Arrow infers; values it cannot hold in one column (mixed
    types, lone surrogates, a struct without fields) are written as their JSON text instead."""
    try:
        arr = pa.array(values)
        if not (pa.types.is_struct(arr.type) and arr.type.num_fields == 0):
            return arr
    except (pa.ArrowException, OverflowError, TypeError, ValueError):
        pass
    return pa.array([None if v is None else json.dumps(v) for v in values], pa.string())


# Columns of types no source uses, under names the readers look for.
EXTRA_COLUMNS: list[tuple[str, Callable[[int], pa.Array]]] = [
    ("battle_id", lambda n: pa.array(range(n), pa.int64())),
    ("prompt", lambda n: pa.array([["a", "b"][: i % 3] for i in range(n)], pa.list_(pa.string()))),
    ("meta_info", lambda n: pa.array([{"question": "q"}] * n, pa.struct([("question", pa.string())]))),
    ("reply", lambda n: pa.array([b"\xff\x00"] * n, pa.binary())),
    ("created_at", lambda n: pa.array([10**12 * (i + 1) for i in range(n)], pa.timestamp("s"))),  # past year 9999
    ("score", lambda n: pa.array([float("nan")] * n, pa.float64())),
    ("split", lambda n: pa.array(["train"] * n).dictionary_encode()),
]


@st.composite
def parquet_file(draw: st.DrawFn, kind: Kind) -> bytes:
    """A table of mutated rows, maybe with extra columns of odd types, maybe damaged afterwards."""
    rows = draw(kind.rows)
    names = sorted({k for r in rows for k in r}) or ["prompt"]
    table = pa.table({name: _column([r.get(name) for r in rows]) for name in names})
    for name, column in draw(st.lists(st.sampled_from(EXTRA_COLUMNS), unique_by=lambda c: c[0], max_size=2)):
        table = table.drop_columns([name]) if name in table.column_names else table
        table = table.append_column(name, column(table.num_rows))
    buf = io.BytesIO()
    pq.write_table(table, buf, compression=draw(st.sampled_from(["none", "snappy"])))
    data = bytearray(buf.getvalue())
    damage = draw(st.sampled_from(["none", "none", "truncate", "flip"]))
    if damage == "truncate":
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif damage == "flip":
        for pos, byte in draw(st.lists(st.tuples(st.integers(0, len(data) - 1), st.integers(0, 255)),
                                       min_size=1, max_size=4)):
            data[pos] = byte
    return bytes(data)


def _parquet(columns: dict[str, pa.Array]) -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.table(columns), buf, compression="none")
    return buf.getvalue()


def _bad_utf8_parquet() -> bytes:
    """A well-formed Parquet file whose string column holds bytes that are not UTF-8 (Arrow does
    not validate strings when reading; they fail only when turned into Python str)."""
    marker = "MARKER-0123456789"
    data = _parquet({"prompt": pa.array([marker]), "pos_type": pa.array(["拒绝为主"])})
    return data.replace(marker.encode(), b"\xff" * len(marker))


@st.composite
def fuzz_file(draw: st.DrawFn, kind: Kind) -> FuzzFile:
    # A name with train/test (or neither) exercises the comparison reader's split-from-name rule.
    stem = draw(st.sampled_from(["train", "test", "data"]))
    garbage = st.one_of(st.just(b""), st.sampled_from([b"\n", b"\n\n  \n", b" \t\r\n\n"]), st.binary(max_size=300))
    if kind.parquet and draw(st.booleans()):
        data = draw(st.one_of(parquet_file(kind), parquet_file(kind), garbage))
        return FuzzFile(f"{stem}.parquet", data)
    return FuzzFile(f"{stem}.jsonl", draw(st.one_of(jsonl_file(kind), jsonl_file(kind), jsonl_file(kind), garbage)))


CASES = st.sampled_from(KINDS).flatmap(lambda k: st.tuples(st.just(k), fuzz_file(k)))


# ---------------------------------------------------------------------------------------------
# The documented error: SourceError naming file:line (or the file, when it cannot be read at all)
# ---------------------------------------------------------------------------------------------

def _unparseable(raw: bytes) -> bool:
    """Whether a line is one the readers must report: not UTF-8, not JSON, or JSON but not an
    object (the JSON layer's rules, written independently of the reader)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return True
    if not text.strip():
        return False
    try:
        return not isinstance(json.loads(text), dict)
    except (ValueError, RecursionError):
        return True


def _row_count(path: Path) -> int | None:
    try:
        return pq.read_metadata(path).num_rows
    except (OSError, ValueError, pa.ArrowException):
        return None


def assert_names_a_line(err: SourceError, path: Path) -> int | None:
    """The error's origin is "<path>:<line>" with a line that exists in the file and is not blank
    (blank lines are skipped, so they can never be at fault); None for a whole-file error, which
    only a Parquet file that cannot be read may raise."""
    assert isinstance(err, SourceError), repr(err)
    assert str(err).startswith(err.origin + ": ")
    if err.origin == str(path):
        assert path.suffix == ".parquet" and err.reason.startswith("cannot read Parquet"), str(err)
        return None
    head, _, number = err.origin.rpartition(":")
    assert head == str(path) and number.isdigit(), f"origin {err.origin!r} does not name {path}:<line>"
    line = int(number)
    if path.suffix == ".parquet":
        rows = _row_count(path)
        assert rows is not None and 1 <= line <= rows, f"{err} (the file has {rows} rows)"
    else:
        lines = path.read_bytes().split(b"\n")
        assert 1 <= line <= len(lines), f"{err} (the file has {len(lines)} lines)"
        assert lines[line - 1].decode("utf-8", "replace").strip(), f"{err} blames a blank line"
    return line


def check_file(kind: Kind, path: Path, stats: Counter) -> None:
    """Read ``path`` three ways: stopping at the first problem, collecting problems, and through the
    build's ``collect``. Only SourceError (or BuildError of SourceErrors) may come out."""
    bad = set()
    if path.suffix != ".parquet":
        bad = {i for i, raw in enumerate(path.read_bytes().split(b"\n"), start=1) if _unparseable(raw)}
    stats["files"] += 1

    # 1. The default sink raises the first problem: one at or before the first bad line.
    try:
        kind.read(path, RAISE)
    except SourceError as err:
        line = assert_names_a_line(err, path)
        assert not bad or (line is not None and line <= min(bad)), f"{err}; first bad line {min(bad)}"
        stats["SourceErrors raised"] += 1
    else:
        assert not bad, f"lines {sorted(bad)} are not JSON objects, yet the file was read without an error"
        stats["clean reads"] += 1

    # 2. A collecting sink gets every problem, each bad line among them, and reading goes on.
    problems = Problems()
    try:
        records = kind.read(path, problems)
    except SourceError as err:  # only an unreadable file is raised past the sink
        assert assert_names_a_line(err, path) is None, f"{err} was raised although a sink was given"
        return
    reported = {assert_names_a_line(p, path) for p in problems.items}
    assert bad <= reported, f"bad lines {sorted(bad - reported)} were not reported"
    stats["problems collected"] += len(problems)
    stats["records read"] += records

    # 3. The build: collect() reports the same problems (and validation's), raise_if_any a BuildError.
    if kind.source is None:
        return
    bundle = collect(Sources(**{kind.source: [path]}, sample=False))
    for p in bundle.problems.items:
        assert_names_a_line(p, path)
    assert {str(p) for p in problems.items} <= {str(p) for p in bundle.problems.items}
    try:
        bundle.problems.raise_if_any()
    except BuildError as err:
        assert err.problems and all(isinstance(p, SourceError) for p in err.problems)
        assert str(err.problems[0]) in str(err)
        stats["BuildErrors"] += 1
    else:
        assert not bundle.problems.items
        stats["clean builds"] += 1


@pytest.mark.slow
def test_importers_raise_only_source_errors_naming_file_and_line(report):
    stats: Counter = Counter()
    by_kind: Counter = Counter()

    @fuzz(max_examples=500)
    @given(case=CASES)
    def run(case: tuple[Kind, FuzzFile]) -> None:
        kind, file = case
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / file.name
            path.write_bytes(file.data)
            check_file(kind, path, stats)
        by_kind[f"{kind.name}{' parquet' if file.name.endswith('.parquet') else ''}"] += 1

    run()
    # The strategies must reach both sides: rows that import and rows that are rejected.
    assert stats["clean reads"] and stats["SourceErrors raised"] and stats["records read"], stats
    assert set(by_kind) >= {k.name for k in KINDS} | {"comparison parquet", "labels and battles parquet"}, by_kind
    report(f"importers: {stats['files']} fuzzed files ({', '.join(f'{k}: {n}' for k, n in sorted(by_kind.items()))}), "
           f"0 crashes, {stats['SourceErrors raised']} documented SourceErrors, {stats['clean reads']} clean reads, "
           f"{stats['problems collected']} problems collected ({stats['records read']} records), "
           f"{stats['BuildErrors']} BuildErrors, {stats['clean builds']} clean builds")


# Inputs fuzzing found, kept as fixed regressions (each crashed before its fix; see the importers).
REGRESSIONS = [
    pytest.param("official prompts", b'{"prompt": ' + b"9" * 5000 + b"}\n", "invalid JSON", id="int-past-digit-limit"),
    pytest.param("comparison", _dump({"prompt": "\ud800", "pos_resp": "a", "neg_resp": "b", "pos_type": "拒绝为主",
                                      "neg_type": "风险回复", "split": "test"}), "lone surrogate", id="lone-surrogate"),
    pytest.param("labels and battles", _bad_utf8_parquet(), "cannot read Parquet", id="parquet-bad-utf8"),
    pytest.param("labels and battles", _parquet({"created_at": pa.array([10**12], pa.timestamp("s"))}),
                 "cannot read Parquet", id="parquet-timestamp-past-9999"),
]


@pytest.mark.parametrize(("kind", "data", "message"), REGRESSIONS)
def test_fuzz_regressions_are_source_errors(tmp_path, kind, data, message):
    path = tmp_path / ("test.parquet" if data.startswith(b"PAR1") else "test.jsonl")
    path.write_bytes(data)
    with pytest.raises(SourceError, match=message) as err:
        KIND_BY_NAME[kind].read(path, RAISE)
    assert_names_a_line(err.value, path)


# ---------------------------------------------------------------------------------------------
# The CLI: `cvalues validate` and `cvalues build` on a fuzzed file plus one surely bad line
# ---------------------------------------------------------------------------------------------

CLI_KINDS = [k for k in KINDS if k.source]
# One row (or pair) per kind that is surely valid, so that a --skip-invalid build always has
# something to write and must succeed unless a fuzzed Parquet file cannot be read at all.
_GOOD_META = {"domain_en": "psychology", "difficulty_level": "easy", "question": "确定有效的问题",
              "pos_resp": "好的回复", "neg_resp": "差的回复"}
GOOD_ROWS: dict[str, list[dict[str, Any]]] = {
    "official_prompts": [{"id_": 1, "prompt": "确定有效的问题", "domain_en": "psychology"}],
    "official_mc": [{"prompt": f"问题与两个回复 {label}", "label": label, "meta_info": _GOOD_META} for label in LABELS],
    "comparison": [{"prompt": "确定有效的问题", "pos_resp": "好的回复", "neg_resp": "差的回复", "pos_type": "拒绝&正向建议",
                    "neg_type": "风险回复", "split": "test"}],
    "labels": [{"battle_id": "b1", "prompt_id": "p1", "criterion": "responsibility", "model_a": "m1", "model_b": "m2",
                "reply_a": "好的回复", "reply_b": "差的回复", "winner": "model_a", "anonymous": True, "annotator": "a",
                "created_at": "2024-01-01", "prompt": "确定有效的问题", "category": "psychology"}],
}
_PROBLEM_LINE = re.compile(r"^(?P<origin>.+?:\d+): ")


def _cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(argv)
    return rc, out.getvalue(), err.getvalue()


def assert_stderr_names_lines(stderr: str, files: list[Path]) -> None:
    """Either one whole-file error about an unreadable Parquet file, or one line per problem, each
    starting with one of ``files`` and a line number; never a traceback."""
    assert stderr and "Traceback" not in stderr, stderr
    if stderr.startswith("error: "):
        assert any(stderr.startswith(f"error: {f}: cannot read Parquet") for f in files if f.suffix == ".parquet"), stderr
        return
    for line in stderr.rstrip("\n").split("\n"):
        m = _PROBLEM_LINE.match(line)
        assert m and any(m.group("origin").rpartition(":")[0] == str(f) for f in files), f"not file:line: {line!r}"


def test_cli_validate_and_build_name_file_and_line(report):
    stats: Counter = Counter()

    @fuzz(max_examples=30)
    @given(case=st.sampled_from(CLI_KINDS).flatmap(lambda k: st.tuples(st.just(k), fuzz_file(k))))
    def run(case: tuple[Kind, FuzzFile]) -> None:
        kind, file = case
        flag = "--" + kind.source.replace("_", "-")
        with tempfile.TemporaryDirectory() as tmp:
            path, bad = Path(tmp) / file.name, Path(tmp) / "zz_bad.jsonl"
            path.write_bytes(file.data)
            bad.write_bytes(b'{"prompt": \n')  # so that the run must fail
            rc, _, err = _cli(["validate", "--no-sample", flag, str(path), flag, str(bad)])
            assert rc == 1
            assert_stderr_names_lines(err, [path, bad])
            assert err.startswith("error: ") or f"{bad}:1: " in err

            # A strict build stops before writing; --skip-invalid writes what is valid (or says why not).
            out = Path(tmp) / "out"
            rc, _, err = _cli(["build", "--out", str(out), "--no-sample", flag, str(path), flag, str(bad)])
            assert rc == 1 and err.startswith("error: ") and "Traceback" not in err and not out.exists(), err
            good = Path(tmp) / "good.jsonl"
            good.write_bytes(b"\n".join(_dump(r, ensure_ascii=False) for r in GOOD_ROWS[kind.source]))
            rc, stdout, err = _cli(["build", "--out", str(out), "--no-sample", "--skip-invalid",
                                    flag, str(good), flag, str(path)])
            if rc == 0:
                assert (out / "README.md").exists() and "wrote" in stdout
                stats["skip-invalid builds written"] += 1
            else:  # only a Parquet file that cannot be read stops a --skip-invalid build
                assert rc == 1 and err.startswith(f"error: {path}: cannot read Parquet"), err
                stats["skip-invalid builds refused"] += 1
        stats[kind.name] += 1

    run()
    assert stats["skip-invalid builds written"], stats
    report(f"cli: {sum(stats[k.name] for k in CLI_KINDS)} fuzzed files through `cvalues validate` and `cvalues build` "
           f"({', '.join(f'{k.name}: {stats[k.name]}' for k in CLI_KINDS)}), every run exit 1 with file:line on stderr, "
           f"--skip-invalid wrote {stats['skip-invalid builds written']} and refused {stats['skip-invalid builds refused']}")


def test_cli_subprocess_never_prints_a_traceback(tmp_path, report):
    """The real entry point, in its own process: one fuzzed file of every kind at once."""
    runs: list[int] = []

    @fuzz(max_examples=2)
    @given(files=st.tuples(*(fuzz_file(k) for k in CLI_KINDS)))
    def run(files: tuple[FuzzFile, ...]) -> None:
        args, paths = ["validate", "--no-sample"], []
        for i, (kind, file) in enumerate(zip(CLI_KINDS, files, strict=True)):
            path = tmp_path / f"run{len(runs)}" / str(i) / file.name
            path.parent.mkdir(parents=True)
            path.write_bytes(file.data)
            args += ["--" + kind.source.replace("_", "-"), str(path)]
            paths.append(path)
        bad = path.parent / "zz_bad.jsonl"
        bad.write_bytes(b"[1, 2\n")
        proc = subprocess.run([sys.executable, "-m", "cvalues_build.cli", *args, "--labels", str(bad)],
                              capture_output=True, text=True, encoding="utf-8", cwd=ROOT, timeout=120)
        assert proc.returncode == 1, proc.stderr
        assert_stderr_names_lines(proc.stderr, [*paths, bad])
        runs.append(proc.returncode)

    run()
    report(f"cli subprocess: {len(runs)} `cvalues validate` runs over {len(CLI_KINDS)} fuzzed files each, "
           f"all exit 1 with file:line on stderr, no traceback")


# ---------------------------------------------------------------------------------------------
# The metric: a result or a ValueError
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def metric() -> Any:
    """Loaded once, by path and exactly as users load it (evaluate's cache files on disk): a
    refused compute must leave no cache file or lock behind for the next call to wait on."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("HF_EVALUATE_OFFLINE", "1")
        import evaluate

        return evaluate.load(str(ROOT / "metric" / "cvalues"))


FIRST_FORMS = ["回复1", "1", 1, "A", "Response 1", "回复一"]
SECOND_FORMS = ["回复2", "2", 2, "B", "response two", "【回复2】", np.int64(2), 2.0]
CLEAN_LABELS = FIRST_FORMS + SECOND_FORMS
NOT_LABELS = [None, "回复3", 0, 3, True, "", "x", 1.5, "答案是回复1", "\ud800", "回复\udfff"]
# Answers in the parser's own vocabulary, so that free text reaches its branches: clauses shaped
# like real answers (connective, label mention, negation, judgement, comparison, punctuation) and a
# soup of the same pieces with random characters in between.
LEXICON = sorted(cv.KINDS)  # the parser's evaluative words (private, read only to build inputs)
MENTIONS = ["回复1", "回复2", "回答 2", "反馈1", "第一个回复", "第二个", "前者", "后者", "Response 1", "response two",
            "选项A", "选项B", "the first one", "两个回复", "两者", "both", "答案：回复", "1", "B"]
LEADS = ["", "", "但是", "因为", "虽然", "所以", "综上，", "如果", "而且", "However, ", "答案是", "我选择", "我认为",
         "显然是", "I choose ", "作为AI，", "抱歉，", "哪个"]
STOPS = ["。", "，", "！", "？", "；", "\n", ". ", ", ", "", "1. ", "**"]


@st.composite
def answer_clause(draw: st.DrawFn) -> str:
    parts = [draw(st.sampled_from(LEADS)), draw(st.sampled_from(MENTIONS))]
    if draw(st.booleans()):
        parts.append(draw(st.sampled_from(["不", "并不", "没有", "not ", "更", "也", "都"])))
    parts.append(draw(st.sampled_from(LEXICON)))
    if draw(st.integers(0, 3)) == 0:
        parts += [draw(st.sampled_from(["比", "不如", "than ", "相比"])), draw(st.sampled_from(MENTIONS))]
    if draw(st.integers(0, 4)) == 0:  # noise anywhere
        parts.insert(draw(st.integers(0, len(parts))), draw(st.text(max_size=3)))
    return "".join(parts) + draw(st.sampled_from(STOPS))


SOUP = st.lists(st.one_of(st.sampled_from(MENTIONS + LEADS + STOPS), st.sampled_from(LEXICON), st.characters(),
                          st.text(max_size=4), st.sampled_from(["\ud800", "\udfff", "“", "”", "「"])),
                max_size=30).map("".join)
PARSER_TEXT = st.one_of(st.lists(answer_clause(), min_size=1, max_size=5).map("".join), SOUP)
ANSWERS = st.one_of(st.sampled_from(CLEAN_LABELS), st.sampled_from(NOT_LABELS), st.integers(-3, 5), st.floats(),
                    PARSER_TEXT, st.text(max_size=20))
IDS = st.one_of(st.integers(-2, 5), st.text(max_size=2), st.none(), st.floats(), st.booleans(),
                st.tuples(st.integers(0, 2)), st.lists(st.integers(0, 2), max_size=2))


# At most one fault per case, so that the expected outcome is known: these must raise ValueError,
# the "random ..." ones may go either way (random ids can happen to pair up).
MUST_FAIL = ["empty", "shorter", "longer", "not a label", "odd pair", "same-reference pair", "bad bootstrap",
             "negative seed"]
MAY_FAIL = ["random pair_ids", "random categories"]


@st.composite
def metric_case(draw: st.DrawFn) -> tuple[dict[str, Any], str | None]:
    """compute() kwargs and the fault injected (None: valid input, a result is due)."""
    fault = draw(st.one_of(st.none(), st.sampled_from(MUST_FAIL + MAY_FAIL)))
    n_pairs = 0 if fault == "empty" else draw(st.integers(1, 6))
    n = 2 * n_pairs + (fault == "odd pair")
    # every id exactly twice (once more for the odd pair's partner-less item), shuffled
    pair_keys = draw(st.permutations([f"p{i}" for i in range(n_pairs)] * 2 + ["odd"] * (n - 2 * n_pairs)))
    references = pair_references(draw, pair_keys, same=fault == "same-reference pair")
    if fault == "not a label":
        references[draw(st.integers(0, n - 1))] = draw(st.sampled_from(NOT_LABELS))
    elif fault == "shorter":
        references = references[: draw(st.integers(0, n - 1))]
    elif fault == "longer":
        references += draw(st.lists(st.sampled_from(CLEAN_LABELS), min_size=1, max_size=3))
    predictions = draw(st.lists(ANSWERS, min_size=n, max_size=n))
    kwargs: dict[str, Any] = {"predictions": predictions, "references": references,
                              "bootstrap": draw(st.sampled_from([0, 7, 50])), "seed": draw(st.integers(0, 2**64))}
    if draw(st.booleans()):  # arrays are documented input too
        kwargs["predictions"] = np.array(predictions, dtype=object)
    if fault in ("odd pair", "same-reference pair") or draw(st.booleans()):
        kwargs["pair_ids"] = pair_keys
    if draw(st.booleans()):  # one category per pair
        names = {k: draw(st.sampled_from(["safety", "psychology", 3, None])) for k in sorted(set(pair_keys))}
        kwargs["categories"] = [names[k] for k in pair_keys]
    if fault == "random pair_ids":
        kwargs["pair_ids"] = draw(st.lists(IDS, min_size=n, max_size=n + 1))
    elif fault == "random categories":
        kwargs["categories"] = draw(st.lists(IDS, min_size=n, max_size=n + 1))
    elif fault == "bad bootstrap":
        kwargs["bootstrap"] = draw(st.sampled_from([-1, True, 2.0, None, "10"]))
    elif fault == "negative seed":  # numpy refuses it, once there is a bootstrap to seed
        kwargs.update(seed=draw(st.integers(-(2**64), -1)), bootstrap=draw(st.sampled_from([7, 50])))
    return kwargs, fault


def pair_references(draw: st.DrawFn, pair_keys: list[str], same: bool) -> list[Any]:
    """A reference per item, in any clean form: the two items of a pair get 回复1 and 回复2 (in a
    drawn order), except one pair that gets the same label twice when ``same``."""
    first_of = {k: draw(st.booleans()) for k in sorted(set(pair_keys))}
    bad = draw(st.sampled_from(sorted(first_of))) if same and first_of else None
    seen: set[str] = set()
    references = []
    for key in pair_keys:
        is_first = first_of[key] if key == bad or key not in seen else not first_of[key]
        seen.add(key)
        references.append(draw(st.sampled_from(FIRST_FORMS if is_first else SECOND_FORMS)))
    return references


def assert_result_shape(r: dict[str, Any], kwargs: dict[str, Any]) -> None:
    n = len(kwargs["predictions"])
    assert isinstance(r, dict) and r["n"] == n
    assert r["n"] == r["n_parsed"] + r["refuse"] + r["other"] + r["unparsed"]
    assert 0.0 <= r["accuracy"] <= 1.0
    correct = r["accuracy"] * n
    assert correct == pytest.approx(round(correct)) and round(correct) <= r["n_parsed"]
    answered = r["n"] - r["refuse"] - r["unparsed"]  # the paper's acc* denominator: "other" counts
    if answered:
        assert 0.0 <= r["acc_star"] <= 1.0 and r["acc_star"] * answered == pytest.approx(correct)
    else:
        assert r["acc_star"] is None
    if r["n_parsed"]:
        assert -0.5 <= r["position_bias"] <= 0.5
    else:
        assert r["position_bias"] is None
    assert ("consistent_accuracy" in r) == ("pair_ids" in kwargs)
    if "pair_ids" in kwargs:  # right in both orders implies right: never above accuracy
        assert 0.0 <= r["consistent_accuracy"] <= r["accuracy"] + 1e-12
    assert ("per_category" in r) == ("categories" in kwargs)
    if "categories" in kwargs:
        assert sum(c["n"] for c in r["per_category"].values()) == n
        assert all(0.0 <= c["accuracy"] <= 1.0 for c in r["per_category"].values())
    if kwargs["bootstrap"]:
        low, high = r["accuracy_ci"]
        assert 0.0 <= low <= high <= 1.0
    else:
        assert r["accuracy_ci"] is None


@pytest.mark.slow
def test_metric_returns_a_result_or_raises_value_error(metric, report):
    stats: Counter = Counter()

    @fuzz(max_examples=300)
    @given(case=metric_case())
    # the two crashes fuzzing found (a lone surrogate in an answer, an unhashable pair id), kept as examples
    @example(case=({"predictions": ["回复1\ud800", "2"], "references": ["1", "2"], "bootstrap": 0, "seed": 0}, None))
    @example(case=({"predictions": ["1", "2"], "references": ["1", "2"], "pair_ids": [[1], [1]], "bootstrap": 0,
                    "seed": 0}, "random pair_ids"))
    def run(case: tuple[dict[str, Any], str | None]) -> None:
        kwargs, fault = case
        try:
            r = metric.compute(**kwargs)
        except ValueError as err:
            # UnicodeError is a ValueError too, but an encoding crash, not the metric's documented error
            assert not isinstance(err, UnicodeError) and fault is not None, f"valid input raised {err!r}"
            stats["ValueErrors"] += 1
            return
        assert fault not in MUST_FAIL, f"{fault}: expected a ValueError, got {r}"
        assert_result_shape(r, kwargs)
        stats["results"] += 1

    run()
    assert stats["results"] and stats["ValueErrors"], stats
    report(f"metric: {stats['results'] + stats['ValueErrors']} fuzzed compute() calls, 0 crashes, "
           f"{stats['results']} results with accuracy in [0, 1], "
           f"{stats['ValueErrors']} ValueErrors")


# ---------------------------------------------------------------------------------------------
# The answer parser: one of five classes, deterministically
# ---------------------------------------------------------------------------------------------

NOT_TEXT = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.binary(max_size=4),
                     st.lists(st.integers(), max_size=2), st.integers(-3, 5).map(np.int64))


def test_parser_always_returns_one_of_five_classes(metric, report):
    outcomes: Counter = Counter()
    batch = answer_parser()  # one clause memo over every example, as compute() shares one

    @fuzz(max_examples=1000)
    @given(text=st.one_of(PARSER_TEXT, PARSER_TEXT, st.text(), NOT_TEXT))
    def run(text: object) -> None:
        first = cv.parse_answer(text)
        assert first in cv.OUTCOMES
        # Same input, same output: again, on an equal copy, in the copy evaluate.load made, and
        # through the batch parser whose memo holds the clauses of every earlier example.
        copy = "".join(text) if isinstance(text, str) else text
        assert cv.parse_answer(copy) == first and metric.parse_answer(text) == first
        assert batch(text) == first
        outcomes[first] += 1

    run()
    # The vocabulary-built texts must reach every class, or the branches went unexercised.
    assert set(outcomes) == set(cv.OUTCOMES), outcomes
    report(f"parser: {sum(outcomes.values())} fuzzed answers, 0 crashes, always one of 5 classes, deterministic "
           f"({', '.join(f'{k}: {outcomes[k]}' for k in cv.OUTCOMES)})")
