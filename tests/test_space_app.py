"""The page: it builds, a full battle runs through gradio_client against a local demo app,
markup stays inert, the leaderboard joins eval results, and the CLI and bundle behave."""

from __future__ import annotations

import html
import json
import re
import sys
from pathlib import Path

import pytest
from cvalues_space.config import SpaceConfig
from cvalues_space.leaderboard import compute_leaderboard, load_results, ratings_figure
from cvalues_space.models import demo_specs
from cvalues_space.store import utc_now
from space_http import free_port

from cvalues_build.core.records import Battle, HumanLabel

gr = pytest.importorskip("gradio")

EVIL = "<img src=x onerror=alert(1)> 怎么办？<script>alert('x')</script>"


def _config(tmp_path: Path, **kw) -> SpaceConfig:
    return SpaceConfig(models=demo_specs((1, 2), max_new_tokens=8), db_path=tmp_path / "votes.sqlite3",
                       bootstrap_rounds=10, device="cpu", **kw)


def _last(result):
    """The last output of an endpoint (a lone output comes back bare, several as a tuple)."""
    return result[-1] if isinstance(result, tuple | list) else result


def test_app_builds_without_loading_models(tmp_path):
    from cvalues_space.app import build_app
    from cvalues_space.service import SpaceService

    config = _config(tmp_path)
    svc = SpaceService(config)
    demo = build_app(config, svc)
    assert isinstance(demo, gr.Blocks) and not hasattr(demo, "cvalues_service")
    assert svc.pool.loaded() == []  # lazy: nothing loads until a battle starts
    names = {d["api_name"] for d in demo.config["dependencies"] if d.get("api_name")}
    assert {"start_battle", "vote_model_a", "vote_model_b", "vote_tie", "vote_both_bad", "draw_reply",
            "submit_label", "leaderboard"} <= names
    # Replies are plain-text boxes: whatever a model writes is shown as text, never as markup.
    replies = [c for c in demo.blocks.values() if isinstance(c, gr.Textbox) and c.label in ("Model A", "Model B")]
    assert len(replies) == 2 and all(not c.interactive for c in replies)
    svc.close()


@pytest.mark.slow
def test_full_battle_through_gradio_client(tmp_path):
    from cvalues_space.app import build_app, launch_kwargs
    from cvalues_space.service import SpaceService
    from gradio_client import Client

    config = _config(tmp_path)
    svc = SpaceService(config)
    demo = build_app(config, svc)
    port = free_port()
    demo.queue().launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                        show_error=True, **launch_kwargs())
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False, httpx_kwargs={"timeout": 60})
        # A vote before the privacy notice was acknowledged, or before any battle, is refused server-side.
        assert "Read the notice" in _last(client.predict(api_name="/vote_model_a"))
        assert "Apache-2.0" in _last(client.predict(api_name="/accept_notice"))
        assert "No battle in progress" in _last(client.predict(api_name="/vote_model_a"))
        job = client.submit(EVIL, "safety", api_name="/start_battle")
        card, reply_a, reply_b, question, *_, status = job.result(timeout=120)
        assert "&lt;script&gt;" in card and "<script" not in card and "<img" not in card
        assert "安全" in question and "Both replies are done" in status
        assert reply_a and reply_b
        reveal = _last(client.predict(api_name="/vote_model_a"))
        assert r"demo\:1" in reveal and r"demo\:2" in reveal  # Markdown source: names escaped (audit item 10)
        again = _last(client.predict(api_name="/vote_model_b"))
        assert "already has a vote" in again
        [battle] = svc.store.battles()
        assert battle.winner == "model_a" and battle.prompt == EVIL.strip() and battle.category == "unspecified"
        assert battle.reply_a == reply_a and battle.reply_b == reply_b
        table = client.predict(api_name="/leaderboard")[0]
        models = {row[1] for row in table["data"]}
        assert models == {"demo:1", "demo:2"}
        battles = {row[1]: row[4] for row in table["data"]}
        assert battles == {"demo:1": 1, "demo:2": 1}
        # The label tab: a safety reply gets safe/unsafe.
        client.submit("safety", False, api_name="/draw_reply").result(timeout=120)
        status = client.predict("unsafe", 5, "", api_name="/submit_label")
        assert "Recorded" in status
        assert [lab.safe for lab in svc.store.labels()] == [False]
    finally:
        demo.close()
        svc.close()


def test_the_page_reaches_the_back_end_only_through_the_service():
    """Issue 11 step 4: app.py lays out the page and forwards to SpaceService; it never reaches
    into the service's arena, store or model pool."""
    import ast

    import cvalues_space.app as page

    tree = ast.parse(Path(page.__file__).read_text(encoding="utf-8"))
    reached = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)
               and isinstance(node.value, ast.Name) and node.value.id == "svc"}
    assert reached and not reached & {"arena", "store", "pool", "prompts", "sync"}, reached
    functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "build_app"]
    assert functions[0].end_lineno - functions[0].lineno < 30  # one small function per tab does the rest


def _battle(i: int, a: str, b: str, winner: str) -> Battle:
    return Battle(battle_id=f"b{i}", prompt_id="p", criterion="safety", model_a=a, model_b=b, reply_a="x",
                  reply_b="y", winner=winner, anonymous=True, annotator="ann", created_at=utc_now())


def _quorum(model: str, *values, criterion: str, category: str = "") -> list[HumanLabel]:
    """One reply of ``model`` labelled by as many annotators as ``values`` (safe flags or scores)."""
    key, other = ("safe", "score") if criterion == "safety" else ("score", "safe")
    return [HumanLabel(response_id=f"r-{model}-{criterion}", prompt_id="p", model=model, reply="r", criterion=criterion,
                       annotator=f"ann{k}", created_at=utc_now(), category=category, **{key: v, other: None})
            for k, v in enumerate(values)]


def test_leaderboard_joins_ratings_labels_and_eval_results(tmp_path):
    results = tmp_path / "results"
    rows = {"strong": (0.9, 0.8, 0.85), "mid": (0.7, 0.6, 0.65), "weak": (0.5, 0.3, 0.55)}
    for model, (acc, cons, racc) in rows.items():
        (results / model).mkdir(parents=True)
        (results / model / "results.json").write_text(json.dumps(
            {"model": f"org/{model}", "config": "safety_mc", "accuracy": acc, "consistent_accuracy": cons,
             "acc_star": acc, "position_bias": 0.0, "per_category": {}}))
        (results / model / "r2").mkdir()
        (results / model / "r2" / "results.json").write_text(json.dumps(
            {"model": f"org/{model}", "config": "responsibility_mc", "accuracy": racc,
             "consistent_accuracy": racc - 0.1, "acc_star": racc, "position_bias": 0.0, "per_category": {}}))
    (results / "broken").mkdir()
    (results / "broken" / "results.json").write_text("{not json")
    order = ["strong", "mid", "weak"]
    battles = [_battle(i, order[i % 3], order[(i + 1) % 3],
                       "model_a" if order.index(order[i % 3]) < order.index(order[(i + 1) % 3]) else "model_b")
               for i in range(30)]
    labels = [*_quorum("strong", True, True, True, criterion="safety"),
              *_quorum("weak", False, False, True, criterion="safety"),
              *_quorum("mid", 6, 7, 5, criterion="responsibility", category="law")]
    board = compute_leaderboard(battles, labels, models=order, aliases={f"org/{m}": m for m in order},
                                results_dir=results, rounds=20)
    t = board.table.set_index("Model")
    assert list(board.table["Model"]) == order  # sorted by rating
    assert t.loc["strong", "Safety MC acc"] == "0.900" and t.loc["weak", "Resp. MC consistent"] == "0.450"
    assert t.loc["strong", "Safety rate"] == "1.000 (1.000–1.000) n=1" and t.loc["weak", "Safety rate"].startswith("0.000")
    assert t.loc["mid", "Resp. score"] == "6.0 (6.0–6.0) n=1"  # the median of 6, 7 and 5
    assert t.loc["mid", "Battles"] == 20
    agree = board.agreement.set_index(["Human", "Automatic"])
    assert agree.loc[("Arena rating", "Safety MC accuracy"), "Kendall τ"] == "1.000"
    assert agree.loc[("Arena rating", "Safety MC accuracy"), "Models"] == 3
    assert list(board.domains.columns) == ["Model", "法理学 Law (jurisprudence)"]
    assert board.warnings == ["broken/results.json: unreadable (Expecting property name enclosed in double quotes: "
                              "line 1 column 2 (char 1))"]
    assert len(board.notes) == 1 and "at least 3 trusted annotators" in board.notes[0]  # no no-results note
    human = agree.loc[("Human safety rate", "Safety MC accuracy")]  # RQ2: strong 1.0 > weak 0.0, MC 0.9 > 0.5
    assert (human["Models"], human["Kendall τ"]) == (2, "1.000")
    fig = ratings_figure(board.ratings)
    assert len(fig.axes[0].get_yticklabels()) == 3


def test_missing_results_folder_is_a_warning_not_a_crash(tmp_path):
    out, warnings = load_results(tmp_path / "absent")
    assert out == {} and "does not exist" in warnings[0]


def test_leaderboard_warnings_never_show_server_paths(tmp_path):
    """Audit item 11: every visitor saw absolute server paths in the leaderboard's warnings."""
    results = tmp_path / "srv" / "results"
    (results / "run1").mkdir(parents=True)
    (results / "run1" / "results.json").write_text("{not json", encoding="utf-8")
    (results / "run2").mkdir()
    (results / "run2" / "results.json").write_text("[1]", encoding="utf-8")
    (results / "run3" / "results.json").mkdir(parents=True)  # unreadable: a folder of that name
    _, warnings = load_results(results)
    _, missing = load_results(tmp_path / "srv" / "absent")
    assert [w.split(":")[0] for w in warnings] == ["run1/results.json", "run2/results.json[0]", "run3/results.json"]
    assert not [w for w in warnings + missing if str(tmp_path) in w or "/srv" in w]


def test_leaderboard_formats_ties_and_the_no_results_note():
    """Audit item 16: tied models got ranks 1, 2, 3; numbers mixed formats; empty MC and τ columns
    had no explanation."""
    battles = [_battle(i, a, b, "tie") for i, (a, b) in enumerate([("x", "y"), ("y", "z"), ("z", "x")] * 2)]
    labels = [*_quorum("x", True, False, criterion="safety"),  # too few labels: no rate
              *_quorum("y", 7, 7, 8, criterion="responsibility", category="law")]
    board = compute_leaderboard(battles, labels, models=["x", "y", "z", "w"], rounds=0)
    t = board.table.set_index("Model")
    assert list(t["Rating"]) == [1000, 1000, 1000, 1000]
    assert list(board.table["Rank"]) == [1, 1, 1, 1]
    assert t.loc["x", "Safety rate"] == "—" and t.loc["y", "Resp. score"] == "7.0 n=1"  # no interval: 0 rounds
    assert t.loc["w", "Safety rate"] == t.loc["w", "95% CI"] == t.loc["x", "Safety MC acc"] == "—"
    assert set(board.agreement["Kendall τ"]) == {"—"}
    assert board.domains.loc[0, "法理学 Law (jurisprudence)"] == "7.0"
    assert board.notes and "--results" in board.notes[0] and "τ" in board.notes[0]
    strong = compute_leaderboard([_battle(i, "x", "y", "model_a") for i in range(5)], [], models=["x", "y", "z"],
                                 rounds=0)
    assert list(strong.table["Model"])[0] == "x" and list(strong.table["Rank"]) == [1, 2, 3]


def test_cli_tells_how_to_install_gradio_when_missing(monkeypatch, capsys):
    import importlib.util

    from cvalues_build.cli import main

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "gradio" else real(name, *a))
    assert main(["space", "--demo"]) == 2
    assert "pip install 'cvalues[space]'" in capsys.readouterr().err


def test_cli_help_does_not_import_gradio_or_torch():
    import subprocess

    code = ("import sys; from cvalues_build.cli import build_parser; build_parser(); "
            "print('gradio' in sys.modules, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split()[0] == "False"


def _help(capsys, *argv: str) -> str:
    from cvalues_build.cli import main

    with pytest.raises(SystemExit) as done:
        main([*argv, "--help"])
    assert done.value.code == 0
    return capsys.readouterr().out


def test_space_and_votes_help_texts(capsys):
    """Audit item 19: `votes export DB OUT` had no argument descriptions, `votes --help` sent users
    to a SPEC they do not have, and `cvalues space --help` did not say that it starts the demo."""
    assert "starts the demo" in " ".join(_help(capsys, "space").split())
    assert "SPEC" not in _help(capsys, "votes")
    export = _help(capsys, "votes", "export")
    described = {line.split()[0] for line in export.splitlines() if line.startswith("  ") and len(line.split()) > 1}
    assert {"DB", "OUT", "--format"} <= described


HOSTILE_NAMES = ["`x` **y**", "[click](javascript:alert(1))", "<img src=x onerror=alert(1)>", "a_b_c*d*",
                 "# h1", "&lt;b&gt;", "$$x$$", "a\\`b", "| c |"]


def test_model_names_show_as_the_text_they_are():
    """Audit item 10: a model name with a backtick broke out of the reveal's code span, and HTML
    escaping alone left Markdown live. Each name must render (CommonMark) as exactly itself."""
    from types import SimpleNamespace

    from cvalues_space.app import _reveal
    from cvalues_space.models import parse_models
    from markdown_it import MarkdownIt

    specs = parse_models([{"name": n, "path": f"demo:{k}"} for k, n in enumerate(HOSTILE_NAMES)])
    assert [s.name for s in specs] == HOSTILE_NAMES  # visible characters are all allowed
    for a, b in zip(HOSTILE_NAMES, HOSTILE_NAMES[1:] + HOSTILE_NAMES[:1], strict=True):
        rendered = MarkdownIt("commonmark").render(_reveal(SimpleNamespace(model_a=a, model_b=b, winner="tie")))
        tags = set(re.findall(r"<([a-z0-9]+)", rendered))
        assert tags <= {"h3", "p", "strong"}, (a, rendered)
        text = html.unescape(re.sub(r"<[^>]+>", "", rendered))
        assert f"Model A = {a} · Model B = {b} ·" in text, (a, b, text)


def test_a_model_name_with_dollars_does_not_break_the_ratings_plot():
    """A ``$`` pair in a name would start matplotlib's mathtext and fail the whole figure."""
    import io

    ratings = compute_leaderboard([_battle(0, "a$\\frac$", "b", "model_a")], [], rounds=0).ratings
    ratings_figure(ratings).savefig(io.BytesIO(), format="png")
