"""The LLM judge on the leaderboard (issue 12 step 2): `cvalues space --judged judged/M` puts the
judge's safety rate and responsibility score beside the human columns, and an agreement table
(κ and accuracy per scenario, ρ and MAE per domain) against the store's quorum human labels."""

from __future__ import annotations

import json

import pytest
from scipy.stats import spearmanr
from sklearn.metrics import cohen_kappa_score

from cvalues_build.core import taxonomy as tx
from cvalues_build.core.records import HumanLabel

pytest.importorskip("gradio")

JUDGE = "judge:fake@zh-v1"
PEOPLE = ("h1", "h2", "h3")
SCENARIOS = ("dangerous_topics", "crimes")
# (reply, scenario, the people's safe label, the judge's): two disagreements in crimes, none in dangerous_topics.
SAFETY = [("s0", "dangerous_topics", True, True), ("s1", "dangerous_topics", False, False),
          ("s2", "dangerous_topics", True, True), ("s3", "dangerous_topics", False, False),
          ("s4", "crimes", True, True), ("s5", "crimes", True, False), ("s6", "crimes", False, False),
          ("s7", "crimes", False, True), ("s8", "crimes", True, True)]
# (reply, the people's score, the judge's) in one domain
SCORES = [("r0", 2, 3), ("r1", 5, 4), ("r2", 7, 8), ("r3", 9, 6), ("r4", 4, 5)]
DOMAIN = "psychology"


def _label(rid: str, criterion: str, category: str, annotator: str, *, safe=None, score=None) -> HumanLabel:
    # The judge names the model as `cvalues respond --model` did, the store by its arena name.
    model = "demo:1" if annotator == JUDGE else "demo"
    return HumanLabel(response_id=rid, prompt_id=f"p-{rid}", model=model, reply=f"reply {rid}",
                      criterion=criterion, safe=safe, score=score, annotator=annotator,
                      created_at="2026-11-26T00:00:00+00:00", prompt=f"prompt {rid}", category=category)


def _labels(who: str, judge: bool) -> list[HumanLabel]:
    return ([_label(r, tx.SAFETY, c, who, safe=j if judge else h) for r, c, h, j in SAFETY]
            + [_label(r, tx.RESPONSIBILITY, DOMAIN, who, score=j if judge else h) for r, h, j in SCORES])


@pytest.fixture
def board_inputs(tmp_path):
    """A judged folder as `cvalues judge` writes it, and a vote store whose three people agree on
    every reply (so each reply is at quorum 3)."""
    from cvalues_space.store import VoteStore

    judged = tmp_path / "judged" / "demo"
    judged.mkdir(parents=True)
    (judged / "labels.jsonl").write_text(
        "".join(json.dumps(lab.to_row(), ensure_ascii=False) + "\n" for lab in _labels(JUDGE, judge=True)),
        encoding="utf-8")
    store = VoteStore(tmp_path / "votes.sqlite3")
    try:
        for who in PEOPLE:
            for lab in _labels(who, judge=False):
                store.add_label(lab)
        labels = store.labels()
    finally:
        store.close()
    return judged, labels


def _board(labels, judged, **kw):
    from cvalues_space.leaderboard import compute_leaderboard

    return compute_leaderboard([], labels, models=["demo"], aliases={"demo:1": "demo"}, judged=judged,
                               rounds=20, **kw)


def test_the_board_shows_the_judges_rates_and_its_agreement_with_people(board_inputs):
    judged, labels = board_inputs
    board = _board(labels, [judged])
    [row] = board.table.to_dict("records")
    judge_safe = sum(j for *_, j in SAFETY)
    # The judge's table is the human-eval table at quorum 1: 6 of 9 safe, over all 9 replies.
    assert row["Judge safety rate"].startswith(f"{judge_safe / len(SAFETY):.3f}")
    assert row["Judge safety rate"].endswith(f"n={len(SAFETY)}")
    assert row["Judge resp. score"].startswith(f"{sum(j for *_, j in SCORES) / len(SCORES):.1f}")  # mean score
    assert row["Safety rate"].startswith(f"{sum(h for _, _, h, _ in SAFETY) / len(SAFETY):.3f}")  # the people's

    table = board.judge.set_index(["Criterion", "Scenario / domain"])
    for scenario in SCENARIOS:
        rows = [(h, j) for _, c, h, j in SAFETY if c == scenario]
        cell = table.loc[(tx.SAFETY, tx.label(scenario))]
        expected = cohen_kappa_score([h for h, _ in rows], [j for _, j in rows])
        assert float(cell["κ"]) == pytest.approx(expected, abs=5e-4) and cell["Replies"] == len(rows)
        assert float(cell["Accuracy"]) == pytest.approx(sum(h == j for h, j in rows) / len(rows), abs=5e-4)
    assert float(table.loc[(tx.SAFETY, tx.label("dangerous_topics"))]["κ"]) == 1.0
    assert float(table.loc[(tx.SAFETY, "overall")]["κ"]) == pytest.approx(
        cohen_kappa_score([h for *_, h, _ in SAFETY], [j for *_, j in SAFETY]), abs=5e-4)
    domain = table.loc[(tx.RESPONSIBILITY, tx.label(DOMAIN))]
    assert float(domain["Spearman ρ"]) == pytest.approx(
        spearmanr([h for _, h, _ in SCORES], [j for *_, j in SCORES]).statistic, abs=5e-4)
    assert float(domain["MAE"]) == pytest.approx(sum(abs(h - j) for _, h, j in SCORES) / len(SCORES), abs=5e-4)
    assert set(board.judge["Judge"]) == {JUDGE}


def test_people_below_quorum_give_the_judge_nothing_to_agree_with(board_inputs):
    from cvalues_build.human import Params

    judged, labels = board_inputs
    board = _board(labels, [judged], rule=Params(quorum=4, bootstrap=20))
    assert set(board.judge["Replies"]) == {0}  # three people never reach a quorum of four
    assert board.table.loc[0, "Judge safety rate"] != "—"  # the judge's own table needs no people


def test_without_judged_folders_the_board_is_unchanged_and_a_bad_folder_is_a_warning(board_inputs, tmp_path):
    judged, labels = board_inputs
    plain = _board(labels, ())
    assert not any(c.startswith("Judge") for c in plain.table.columns) and plain.judge.empty
    empty = tmp_path / "empty"
    empty.mkdir()
    board = _board(labels, [empty, judged])
    assert board.table.loc[0, "Judge safety rate"] != "—"
    [warning] = [w for w in board.warnings if "judged folder" in w]
    assert "empty" in warning and str(tmp_path) not in warning  # visitors never see the server's paths


def test_one_judges_runs_in_several_folders_join(board_inputs, tmp_path):
    judged, labels = board_inputs
    rows = (judged / "labels.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    safety, responsibility = tmp_path / "j-safety", tmp_path / "j-resp"
    for folder, part in ((safety, rows[:len(SAFETY)]), (responsibility, rows[len(SAFETY):])):
        folder.mkdir()
        (folder / "labels.jsonl").write_text("".join(part), encoding="utf-8")
    joined, whole = _board(labels, [safety, responsibility]), _board(labels, [judged])
    assert joined.table.equals(whole.table) and joined.judge.equals(whole.judge) and not joined.warnings
