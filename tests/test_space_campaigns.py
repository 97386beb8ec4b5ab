"""Campaigns in the Space (issue 13): model replies imported from `cvalues respond` runs, served to
a quorum of distinct annotators, mixed with gold items whose answer is known, and annotators who
fail gold left out of everything but the store. All through SpaceService, as the page calls it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cvalues_space.arena import VoteRefused
from cvalues_space.campaign_store import find_reply
from cvalues_space.campaigns import CampaignError, CampaignSettings
from cvalues_space.config import SpaceConfig
from cvalues_space.gold_pairs import GOLD_MODEL, gold_rows, is_gold_pair
from cvalues_space.guard import GuardSettings
from cvalues_space.models import demo_specs
from cvalues_space.service import CAMPAIGN_SOURCE, SpaceService
from cvalues_space.store import utc_now

from cvalues_build.core import taxonomy as tx
from cvalues_build.core.records import Battle, reply_id
from cvalues_build.dataset import sample_pairs, sample_prompts

pytest.importorskip("gradio")


def write_run(folder: Path, model: str, criterion: str, n: int, reply=lambda p, m: f"{m} 的回复：{p.prompt[:12]}") -> Path:
    """A `cvalues respond` run folder: replies.jsonl with the fields respond writes."""
    folder.mkdir(parents=True, exist_ok=True)
    prompts = [p for p in sample_prompts() if p.criterion == criterion][:n]
    with (folder / "replies.jsonl").open("w", encoding="utf-8") as out:
        for p in prompts:
            text = reply(p, model)
            out.write(json.dumps({
                "prompt_id": p.id, "prompt": p.prompt, "criterion": p.criterion, "category": p.category,
                "source": p.source, "model": model, "reply": text, "response_id": reply_id(p.id, model, text),
                "generation": {"max_new_tokens": 64, "do_sample": False}, "seed": None,
                "timing": {"batch_seconds": 0.1, "batch_replies": n, "finished_at": utc_now()},
            }, ensure_ascii=False) + "\n")
    return folder


def service(tmp_path: Path, runs: tuple[Path, ...] = (), **campaign) -> SpaceService:
    """A Space with these campaign settings; every simulated annotator shares this process's
    client address, so the rate limits are lifted out of the way."""
    settings = CampaignSettings(runs=runs, seed=0, **campaign)
    return SpaceService(SpaceConfig(models=demo_specs((1, 2), max_new_tokens=8), db_path=tmp_path / "votes.sqlite3",
                                    bootstrap_rounds=50, device="cpu", rate_limit=10_000, campaign=settings,
                                    guard=GuardSettings(client_rate_limit=10_000)))


def campaign_rows(svc: SpaceService, table: str) -> int:
    return svc.store._conn().execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def draw(svc: SpaceService, session: str, criterion: str = tx.SAFETY):
    """A campaign (or gold) task for ``session``, or None once the campaign has nothing for them
    (then the tab falls back to a fresh generation, which starts only when the page asks for it)."""
    task, _ = svc.draw_label(criterion, False, session)
    return task if task.prompt.source == CAMPAIGN_SOURCE else None


def test_reimporting_a_run_adds_nothing(tmp_path):
    run = write_run(tmp_path / "runs" / "demo1", "demo:1", tx.SAFETY, 6)
    svc = service(tmp_path, (run,))
    [first] = svc.campaign_imports
    assert (first.replies, first.added, first.empty) == (6, 6, 0)
    svc.close()
    copy = tmp_path / "copy" / "demo1"  # the same replies in another folder are the same replies
    copy.mkdir(parents=True)
    (copy / "replies.jsonl").write_bytes((run / "replies.jsonl").read_bytes())
    svc = service(tmp_path, (run, copy))
    assert [(r.replies, r.added) for r in svc.campaign_imports] == [(6, 0), (6, 0)]
    assert campaign_rows(svc, "campaign_replies") == 6
    gold = campaign_rows(svc, "gold_items")
    assert gold == 2 * sum(is_gold_pair(p.criterion, p.difficulty) for p in sample_pairs()) == 144
    svc.close()
    svc = service(tmp_path, (run,))
    assert campaign_rows(svc, "gold_items") == gold and svc.campaigns.progress()["replies"] == 6
    svc.close()


@pytest.mark.parametrize(("row", "tail", "message"), [
    ({"criterion": "fun"}, "\n", "field 'criterion'"),
    ({"reply": None}, "\n", "field 'reply'"),
    ({"category": "law"}, "\n", "'law' is not a safety category"),
    ({"response_id": "0" * 16}, "\n", "field 'response_id'"),
    ({"model": "demo\u202e1"}, "\n", "field 'model'"),
    ({}, "", None),  # a torn last line
])
def test_a_row_that_cannot_be_imported_names_file_line_and_field(tmp_path, row, tail, message):
    run = write_run(tmp_path / "run", "demo:1", tx.SAFETY, 3)
    path = run / "replies.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    if message is None:
        lines[-1], message = lines[-1][:30], "finish it with --resume"
    else:
        lines[1] = json.dumps({**json.loads(lines[1]), **row}, ensure_ascii=False)
    path.write_text("\n".join(lines) + tail, encoding="utf-8")
    with pytest.raises(CampaignError, match=message) as err:
        service(tmp_path, (run,))
    assert f"replies.jsonl:{3 if 'resume' in message else 2}" in str(err.value)
    (run / "replies.part-0.jsonl").write_text("", encoding="utf-8")
    with pytest.raises(CampaignError, match="unfinished run"):
        service(tmp_path, (tmp_path / "run",))


def test_assignment_reaches_quorum_evenly_and_never_repeats_a_reply(tmp_path, report):
    runs = (write_run(tmp_path / "a", "demo:1", tx.SAFETY, 6), write_run(tmp_path / "b", "demo:2", tx.SAFETY, 6))
    svc = service(tmp_path, runs, quorum=3, gold_rate=0.0)
    sessions = [f"annotator-{k}" for k in range(7)]
    seen: dict[str, list[str]] = {s: [] for s in sessions}
    spreads = []
    # Rounds: every annotator draws, then all of them label (draws in flight count toward quorum).
    for _ in range(20):
        tasks = [(s, draw(svc, s)) for s in sessions]
        tasks = [(s, t) for s, t in tasks if t is not None]
        if not tasks:
            break
        for s, task in tasks:
            seen[s].append(reply_id(task.prompt.id, task.model, task.reply))
            svc.submit_label(task.task_id, s, safe="safe", score=None, reason="")
        counts = {}
        for lab in svc.store.labels():
            counts[lab.response_id] = counts.get(lab.response_id, 0) + 1
        spreads.append(max(counts.values()) - min(counts.get(rid, 0) for rid in svc.campaigns._replies))
    counts = {}
    for lab in svc.store.labels():
        counts[lab.response_id] = counts.get(lab.response_id, 0) + 1
    report(f"campaigns: 12 replies, 7 annotators, quorum 3: labels per reply {sorted(counts.values())}; "
           f"spread (most - fewest labels) after each round {spreads}")
    assert set(counts) == set(svc.campaigns._replies) and set(counts.values()) == {3}  # quorum, no overshoot
    assert all(len(ids) == len(set(ids)) for ids in seen.values())  # never the same reply twice
    assert max(spreads) <= 1  # even: no reply gets a label before every other has as many, give or take one
    assert svc.campaigns.progress() == {"replies": 12, "at_quorum": 12, "gold_items": 0}  # gold rate 0: none loaded
    assert all(draw(svc, s) is None for s in sessions)  # nothing left: the tab falls back to generation
    svc.close()


def test_gold_items_are_mixed_in_and_look_like_any_other_draw(tmp_path):
    runs = (write_run(tmp_path / "a", "demo:1", tx.SAFETY, 40),)
    svc = service(tmp_path, runs, quorum=10, gold_rate=0.25)  # room for 200 draws in flight
    gold = svc.campaigns.gold()
    tasks = [draw(svc, f"s{k}") for k in range(200)]
    is_gold = [reply_id(t.prompt.id, t.model, t.reply) in gold for t in tasks]
    assert 0.15 < sum(is_gold) / len(tasks) < 0.35
    assert {t.model for t, g in zip(tasks, is_gold, strict=True) if g} == {GOLD_MODEL}
    # The same card fields, the same source line; the name is only in the server's task.
    assert {t.prompt.source for t in tasks} == {CAMPAIGN_SOURCE}
    assert all(tx.is_valid(t.prompt.criterion, t.prompt.category) and t.prompt.category != tx.UNSPECIFIED
               for t in tasks)
    svc.close()


def test_gold_rule_takes_known_answers_only():
    assert is_gold_pair(tx.SAFETY, "sample") and is_gold_pair(tx.SAFETY, "responsible_vs_unsafe")
    assert is_gold_pair(tx.RESPONSIBILITY, "easy") and is_gold_pair(tx.RESPONSIBILITY, "sample")
    assert not is_gold_pair(tx.RESPONSIBILITY, "hard")  # an expert-rejected reply may be mediocre, not harmful
    assert not any(is_gold_pair(c, d) for c in tx.CRITERIA for d in ("human_safe_vs_unsafe", "human_battle",
                                                                      "human_score_gap"))
    rows = list(gold_rows(sample_pairs()[:1] + [p for p in sample_pairs() if p.criterion == tx.RESPONSIBILITY][:1]))
    assert [(r.criterion, expected) for r, expected, _, _ in rows] == [
        (tx.SAFETY, "safe"), (tx.SAFETY, "unsafe"), (tx.RESPONSIBILITY, "high"), (tx.RESPONSIBILITY, "low")]
    assert all(r.reply_id == reply_id(r.prompt_id, GOLD_MODEL, r.reply) for r, *_ in rows)


def truth(rid: str, model: str) -> bool:
    """The simulated truth of a campaign reply: demo:1 is safe five times in six, demo:2 half the time."""
    return int(rid, 16) % 6 != 0 if model == "demo:1" else int(rid, 16) % 2 == 0


def label_until_done(svc: SpaceService, session: str, *, honest: bool) -> int:
    gold, n = svc.campaigns.gold(), 0
    while (task := draw(svc, session)) is not None:
        rid = reply_id(task.prompt.id, task.model, task.reply)
        right = gold[rid].expected == "safe" if rid in gold else truth(rid, task.model)
        svc.submit_label(task.task_id, session, safe="safe" if right == honest else "unsafe", score=None, reason="")
        n += 1
    return n


def test_an_annotator_who_fails_gold_is_left_out_but_kept(tmp_path, report):
    from cvalues_space.export import export_votes

    from cvalues_build.human import Params, evaluate, read_gold, read_labels

    runs = (write_run(tmp_path / "a", "demo:1", tx.SAFETY, 12), write_run(tmp_path / "b", "demo:2", tx.SAFETY, 12))
    svc = service(tmp_path, runs, quorum=3, gold_rate=0.4, gold_min=5)
    liar_labels = label_until_done(svc, "liar", honest=False)  # first, so their labels meet every reply
    honest = {s: label_until_done(svc, s, honest=True) for s in ("h1", "h2", "h3", "h4")}
    liar = svc.annotator("liar")
    assert svc.campaigns.untrusted() == {liar}
    stored = [lab for lab in svc.store.labels() if lab.annotator == liar]
    assert len(stored) == liar_labels >= 24  # every campaign reply, and the gold items, still in the store
    assert svc.campaigns.progress()["at_quorum"] == 24  # three trusted labels each, the liar's not counted
    for k, who in enumerate(("liar", "h1")):
        svc.store.add_battle(Battle(battle_id=f"b{k}", prompt_id="p", criterion=tx.SAFETY, model_a="demo:1",
                                    model_b="demo:2", reply_a="x", reply_b="y", winner="model_b", anonymous=True,
                                    annotator=svc.annotator(who), created_at=utc_now()))
    board = svc.leaderboard(force=True)
    rates = {m: float(cell.split()[0]) for m, cell in zip(board.table["Model"], board.table["Safety rate"], strict=True)}
    models = {rid: find_reply(svc.store, rid).model for rid in svc.campaigns._replies}
    expected = {m: sum(truth(rid, m) for rid in models if models[rid] == m) / 12 for m in ("demo:1", "demo:2")}
    assert rates == pytest.approx(expected, abs=1e-3)
    assert int(board.table["Battles"].sum()) == 2  # one battle, two sides: the liar's is left out
    [safety] = board.human.to_dict("records")
    assert safety["Labels left out"] == 24 and safety["Krippendorff α"] == "1.000"
    assert any("1 annotator(s) failed their gold items" in n for n in board.notes)
    svc.close()
    paths = export_votes(tmp_path / "votes.sqlite3", tmp_path / "export")
    exported = read_labels(tmp_path / "export")
    assert liar not in {lab.annotator for lab in exported} and len(exported) == sum(honest.values())
    assert liar not in {json.loads(line)["annotator"] for line in paths["battles"].read_text().splitlines()}
    gold = read_gold(paths["gold"])
    assert len(gold) == 144
    from_store = evaluate(read_labels(tmp_path / "votes.sqlite3"), gold, Params(bootstrap=0))
    assert from_store["counts"]["untrusted_annotators"] == 1 and from_store["counts"]["labels_left_out"] == 24
    from_export = evaluate(exported, gold, Params(bootstrap=0))
    assert {m: v["safety"]["overall"]["value"] for m, v in from_export["models"].items()} == pytest.approx(expected)
    report(f"gold: the liar labelled {liar_labels} replies ({liar_labels - 24} gold, all wrong) and was left out; "
           f"honest labels {honest}; safety rates {rates} equal the truth {expected}")


def test_the_untouched_label_form_is_refused(tmp_path):
    """The form's initial values (read from the built page) are what an untouched submit sends:
    the slider that started at 5 made an untouched responsibility label a 5/10."""
    from cvalues_space.app import build_app

    runs = (write_run(tmp_path / "a", "demo:1", tx.SAFETY, 2), write_run(tmp_path / "b", "demo:1", tx.RESPONSIBILITY, 2))
    svc = service(tmp_path, runs, gold_rate=0.0)
    demo = build_app(svc.config, svc)
    form = {c.elem_id: c for c in demo.blocks.values() if getattr(c, "elem_id", None) in ("cv-label-safe", "cv-label-score")}
    untouched = {"safe": form["cv-label-safe"].value, "score": form["cv-label-score"].value}
    for criterion, message in ((tx.SAFETY, "Choose safe or unsafe"), (tx.RESPONSIBILITY, "score from 1 to 10")):
        task = draw(svc, "visitor", criterion)
        with pytest.raises(VoteRefused, match=message):
            svc.submit_label(task.task_id, "visitor", reason="", **untouched)
    assert svc.store.labels() == []
    svc.close()


def test_cvalues_space_refuses_a_campaign_it_cannot_import(tmp_path, capsys):
    from cvalues_build.cli import main

    run = write_run(tmp_path / "run", "demo:1", tx.SAFETY, 2)
    (run / "replies.jsonl").write_text('{"prompt_id": "p"}\n', encoding="utf-8")
    assert main(["space", "--db", str(tmp_path / "votes.sqlite3"), "--campaign", str(run)]) == 2
    assert "replies.jsonl:1: field 'prompt'" in capsys.readouterr().err
    assert main(["space", "--db", str(tmp_path / "votes.sqlite3"), "--campaign", str(run), "--gold-rate", "1"]) == 2
    assert "--gold-rate must be at least 0 and below 1" in capsys.readouterr().err


def test_with_login_required_anonymous_labels_fill_no_quorum(tmp_path):
    """--require-login-for-data: anonymous labels are stored but count for nothing, so they must
    not fill a campaign reply's quorum either (else the campaign would stop serving replies that
    never reach a counted quorum). Signed-in annotators still get every reply, before and after
    a restart."""
    from cvalues_space.clients import Visitor

    runs = (write_run(tmp_path / "a", "demo:1", tx.SAFETY, 2),)
    settings = CampaignSettings(runs=runs, seed=0, quorum=2, gold_rate=0.0)
    config = SpaceConfig(models=demo_specs((1, 2), max_new_tokens=8), db_path=tmp_path / "votes.sqlite3",
                         bootstrap_rounds=50, device="cpu", rate_limit=10_000, campaign=settings,
                         guard=GuardSettings(client_rate_limit=10_000, require_login=True))
    svc = SpaceService(config)
    for k in range(3):
        while (task := draw(svc, f"anonymous-{k}")) is not None:
            svc.submit_label(task.task_id, f"anonymous-{k}", safe="safe", score=None, reason="")
    assert len(svc.store.labels()) == 6  # all stored
    assert svc.campaigns.progress()["at_quorum"] == 0
    svc.close()
    svc = SpaceService(config)  # the counts read back from the store agree
    assert svc.campaigns.progress()["at_quorum"] == 0
    people = [Visitor(session=f"s{k}", client="c", account=f"account-{k}") for k in range(2)]
    labelled = 0
    for person in people:
        while (task := draw(svc, person)) is not None:
            svc.submit_label(task.task_id, person, safe="safe", score=None, reason="")
            labelled += 1
    assert labelled == 4 and svc.campaigns.progress()["at_quorum"] == 2
    svc.close()
