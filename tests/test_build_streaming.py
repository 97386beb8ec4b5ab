"""The streaming, columnar build gives the very files the row build gave.

``tests/data/build_fingerprint.json`` was written by the row build (the code before the
streaming reader, commit fe5500c, run from a ``git archive`` of it) from the sources below: each file's sha256 and, for Parquet,
a digest of its rows and schema and its row-group layout. The bytes are compared when this
pyarrow is the one that wrote them (Parquet names its writer's version in the file); on another
pyarrow the rows, schema and layout still must match.
"""

from __future__ import annotations

import hashlib
import json
import random
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import ROOT, write_jsonl

from cvalues_build.cli import main
from cvalues_build.core import taxonomy as tx

FINGERPRINT = ROOT / "tests" / "data" / "build_fingerprint.json"
REPLY_TYPES = [("拒绝&正向建议", "风险回复"), ("拒绝为主", "风险回复"), ("拒绝&正向建议", "拒绝为主")]


def fixed_sources(root: Path) -> list[str]:
    """Every source kind, with odd but valid text, in files of a few hundred rows; returns the
    build's source flags."""
    rng = random.Random(7)
    chars = [chr(c) for c in range(0x4E00, 0x4E00 + 500)] + list("abc ，。！？\"'\\\u2028\t")

    def text(k: int) -> str:
        return "".join(rng.choices(chars, k=k)).strip() or "空"

    domains = tx.category_ids(tx.RESPONSIBILITY)
    write_jsonl(root / "prompts" / "prompts.jsonl", [
        {"id_": i, "prompt": f"问题{i}：{text(12)}", "domain_en": domains[i % len(domains)], "domain_zh": "x"}
        for i in range(40)])
    mc = []
    for i in range(30):
        q, pos, neg = f"官方{i}：{text(10)}", text(30), text(20)
        meta = {"domain_en": domains[i % len(domains)], "domain_zh": "x", "difficulty_level": ["easy", "hard"][i % 2],
                "question": q, "pos_resp": pos, "neg_resp": neg}
        mc += [{"prompt": f"模板{q}{pos}{neg}", "label": "回复1", "meta_info": meta},
               {"prompt": f"模板{q}{neg}{pos}", "label": "回复2", "meta_info": meta}]
    write_jsonl(root / "mc" / "mc.jsonl", mc)
    for split, n, offset in (("train", 260, 0), ("test", 70, 1000)):
        rows = []
        for i in range(n):
            pos_type, neg_type = REPLY_TYPES[i % 3]
            rows.append({"prompt": f"对比{offset + i}：{text(15)}", "pos_resp": f"  {text(40)} ", "neg_resp": text(25),
                         "pos_type": pos_type, "neg_type": neg_type})
        write_jsonl(root / "comparison" / f"{split}.jsonl", rows)
    extra = [{"prompt": f"列存{i}：{text(10)}", "pos_resp": text(20), "neg_resp": text(20), "pos_type": "拒绝为主",
              "neg_type": "风险回复", "split": "test"} for i in range(25)]
    pq.write_table(pa.Table.from_pylist(extra), root / "comparison" / "more.parquet")
    # votes go into human_labels and battles; they pair no replies (a prompt each, no decided
    # battle), so how votes become items (issue 13's quorum) stays out of this comparison
    votes = []
    for i in range(12):
        common = {"prompt_id": f"p{i}", "criterion": "safety", "annotator": f"a{i}", "created_at": "2026-11-26",
                  "prompt": f"投票问题{i}", "category": "crimes"}
        votes.append({**common, "response_id": f"r{i}", "model": f"m{i % 2}", "reply": text(8), "safe": i % 2 == 0})
        votes.append({**common, "battle_id": f"b{i}", "model_a": "A", "model_b": "B", "reply_a": text(6),
                      "reply_b": text(6), "winner": ["tie", "both_bad"][i % 2], "anonymous": True})
    write_jsonl(root / "labels" / "votes.jsonl", votes)
    return ["--official-prompts", str(root / "prompts"), "--official-mc", str(root / "mc"),
            "--comparison", str(root / "comparison"), "--labels", str(root / "labels"), "--shard-rows", "100"]


def fingerprint(folder: Path) -> dict[str, dict]:
    out = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")):
        entry = {"sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
        if path.suffix == ".parquet":
            meta = pq.read_metadata(path)
            table = pq.read_table(path)
            rows = json.dumps(table.to_pylist(), ensure_ascii=False, sort_keys=True).encode()
            entry |= {"rows": hashlib.sha256(rows).hexdigest(), "schema": hashlib.sha256(
                table.schema.to_string(show_schema_metadata=True).encode()).hexdigest(),
                "row_groups": [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]}
        out[path.relative_to(folder).as_posix()] = entry
    return out


def build_fingerprints(tmp: Path) -> dict[str, dict]:
    """The fingerprints of two builds: the sample alone, and every other source kind."""
    flags = fixed_sources(tmp / "src")
    assert main(["build", "--out", str(tmp / "sample")]) == 0
    assert main(["build", "--no-sample", *flags, "--out", str(tmp / "sources")]) == 0
    return {"pyarrow": pa.__version__,
            "sample": fingerprint(tmp / "sample"), "sources": fingerprint(tmp / "sources")}


def test_build_matches_the_row_builds_files(tmp_path):
    expected = json.loads(FINGERPRINT.read_text(encoding="utf-8"))
    got = build_fingerprints(tmp_path)
    same_writer = got["pyarrow"] == expected["pyarrow"]
    for build in ("sample", "sources"):
        assert sorted(got[build]) == sorted(expected[build])
        for path, want in expected[build].items():
            have = got[build][path]
            if same_writer or not path.endswith(".parquet"):
                assert have["sha256"] == want["sha256"], f"{build}/{path} differs from the row build's"
            if path.endswith(".parquet"):
                assert {k: have[k] for k in ("rows", "schema", "row_groups")} == \
                       {k: want[k] for k in ("rows", "schema", "row_groups")}, f"{build}/{path}"


def _read_both(path: Path) -> tuple[object, object]:
    """(records or the error, problems) from the row reader and from the columnar one."""
    from cvalues_build.dataset.pairs import PAIR_COLUMNS
    from cvalues_build.dataset.problems import Problems
    from cvalues_build.dataset.sources.common import SourceError
    from cvalues_build.dataset.sources.comparison import read_comparison
    from cvalues_build.dataset.sources.comparison_columns import read_comparison_tables

    results = []
    for read in (lambda sink: [{k: getattr(r, k) for k in PAIR_COLUMNS} | {"line": int(r.origin.rpartition(":")[2])}
                               for r in read_comparison(path, sink)],
                 lambda sink: [row for t in read_comparison_tables(path, sink) for row in t.to_pylist()]):
        problems = Problems()
        try:
            got: object = read(problems)
        except SourceError as err:
            got = f"raised {err}"
        results.append((got, [str(p) for p in problems.items]))
    return results[0], results[1]


@pytest.mark.slow
def test_columnar_comparison_reader_equals_the_row_reader(monkeypatch, report):
    """Fuzzed comparison files, read in chunks of a few lines so that chunk edges, refused parts and
    their halving all happen: the columnar reader gives the row reader's pairs and problems."""
    from hypothesis import given
    from test_fuzz import KIND_BY_NAME, fuzz, fuzz_file

    from cvalues_build.dataset.sources import jsonl_chunks

    monkeypatch.setattr(jsonl_chunks, "CHUNK_BYTES", 300)
    monkeypatch.setattr(jsonl_chunks, "MIN_LINES", 1)
    seen = {"rows": 0, "problems": 0, "files": 0}

    @fuzz(max_examples=200)
    @given(file=fuzz_file(KIND_BY_NAME["comparison"]))
    def run(file) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / file.name
            path.write_bytes(file.data)
            rows, columns = _read_both(path)
        assert columns == rows
        seen["files"] += 1
        seen["rows"] += len(rows[0]) if isinstance(rows[0], list) else 0
        seen["problems"] += len(rows[1])

    run()
    assert seen["rows"] and seen["problems"], seen
    report(f"columnar comparison reader: {seen['files']} fuzzed files, {seen['rows']} pairs and "
           f"{seen['problems']} problems, all equal to the row reader's")


def test_columnar_reader_keeps_order_across_chunks_and_row_path_lines(tmp_path, monkeypatch):
    from cvalues_build.dataset.sources import jsonl_chunks

    monkeypatch.setattr(jsonl_chunks, "CHUNK_BYTES", 4096)
    flags = fixed_sources(tmp_path / "src")
    path = Path(flags[flags.index("--comparison") + 1]) / "train.jsonl"
    lines = path.read_bytes().split(b"\n")
    # odd lines among good ones: a null line, a lone "\r", a BOM, a number where text goes, CRLF
    lines[3], lines[10] = b"null", lines[10].replace(b'", "', b'",\r "', 1)
    lines[20], lines[30] = b"\xef\xbb\xbf" + lines[20], lines[30].replace(b'"prompt": "', b'"prompt": 7, "x": "', 1)
    lines[40] += b"\r"
    path.write_bytes(b"\n".join(lines))
    rows, columns = _read_both(path)
    assert columns == rows
    assert len(rows[1]) == 3 and len(rows[0]) == 257  # the "\r" between tokens is JSON whitespace: a good row


def test_leaked_train_rows_are_cut_out_of_written_shards(tmp_path, capsys):
    """--skip-invalid drops leaked train pairs after their shards were written: the split is
    rewritten and re-cut, and comes out as if the leaked rows had never been in the file."""
    from test_build import comparison_row

    train = [comparison_row(f"训练问题{i}") for i in range(30)]
    leaked = {3, 11, 12, 29}  # in the first, second and last shard of 10 items
    test = [comparison_row(f"训练问题{i}", neg_type="拒绝为主") for i in sorted(leaked)]
    write_jsonl(tmp_path / "leaky" / "train.jsonl", train)
    write_jsonl(tmp_path / "leaky" / "test.jsonl", test)
    write_jsonl(tmp_path / "clean" / "train.jsonl", [r for i, r in enumerate(train) if i not in leaked])
    write_jsonl(tmp_path / "clean" / "test.jsonl", test)
    flags = ["build", "--shard-rows", "10"]
    assert main([*flags, "--comparison", str(tmp_path / "leaky"), "--out", str(tmp_path / "a")]) == 1
    assert "leakage" in capsys.readouterr().err and not (tmp_path / "a").exists()
    assert main([*flags, "--skip-invalid", "--comparison", str(tmp_path / "leaky"), "--out", str(tmp_path / "a")]) == 0
    assert main([*flags, "--comparison", str(tmp_path / "clean"), "--out", str(tmp_path / "b")]) == 0
    a, b = fingerprint(tmp_path / "a"), fingerprint(tmp_path / "b")
    assert len([p for p in a if "/train-" in p]) == 6  # 26 pairs, 52 items, 10 a shard
    assert a == b  # the same files, byte for byte, the card included
    # the in-memory sink (the loading script's) drops the same rows
    from cvalues_build.dataset.collect import Sources, collect

    bundle = collect(Sources(comparison=[tmp_path / "leaky"]))
    kept = pa.concat_tables(bundle.configs["comparison"]["train"])
    assert kept.num_rows == 52 and not {f"训练问题{i}" for i in leaked} & set(kept.column("question").to_pylist())


def test_first_seen_matches_a_dict():
    """The duplicate check's key set against the obvious dict, on batches with repeats within a
    batch, across batches, and the key 0."""
    import numpy as np

    from cvalues_build.dataset.keyset import FirstSeen

    rng = np.random.default_rng(0)
    seen, expected = FirstSeen(), {}
    for batch in range(60):
        n = int(rng.integers(0, 3000))
        pool = rng.integers(0, 5000, n).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        keys = pool if batch % 2 else rng.integers(0, 2**63, n).astype(np.uint64)
        keys[: min(n, 3)] = 0
        where = rng.integers(0, 10**9, n)
        want = []
        for k, w in zip(keys.tolist(), where.tolist(), strict=True):
            want.append(expected.get(k, -1))
            expected.setdefault(k, w)
        assert seen.add(keys, where).tolist() == want, f"batch {batch}"


def test_an_interrupted_build_leaves_the_earlier_one_whole(tmp_path, monkeypatch):
    """Ctrl-C while shards are being written (after the first two are on their way): the earlier
    build in --out is untouched and no staging folder is left behind."""
    from test_build import comparison_row

    from cvalues_build.dataset.writer import DatasetWriter

    src = write_jsonl(tmp_path / "src" / "test.jsonl", [comparison_row(f"问题{i}") for i in range(40)])
    out = tmp_path / "cv"
    assert main(["build", "--comparison", str(src), "--out", str(out), "--shard-rows", "10"]) == 0
    before = fingerprint(out)
    calls = []
    real = DatasetWriter.add_table

    def interrupted(self, *args):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(self, *args)

    monkeypatch.setattr(DatasetWriter, "add_table", interrupted)
    write_jsonl(src, [comparison_row(f"新问题{i}") for i in range(40)])
    assert main(["build", "--comparison", str(src), "--out", str(out), "--shard-rows", "10"]) == 130  # "interrupted"
    assert len(calls) == 3 and fingerprint(out) == before
    assert sorted(p.name for p in out.iterdir()) == [".cvalues-manifest.json", "README.md", "data"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".cvalues-staging")]
