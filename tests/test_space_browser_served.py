"""A battle between two served models in a real browser (issue 12's acceptance): `cvalues space
--models FILE` where FILE names two `openai:` models on two fake OpenAI servers (the
``served_models`` fixture), driven by Debian's Chromium through Playwright exactly as
``test_space_browser`` drives the demo Space. That the Space imports no torch is
``test_space_served``'s subprocess test.
"""

from __future__ import annotations

import pytest
from conftest import SERVED_REPLIES
from space_http import SpaceServer
from test_space_browser import CHROMIUM, CHROMIUM_ARGS, _need_browser, open_page, play_battle, stored

pytest.importorskip("gradio")
pytestmark = pytest.mark.slow


def test_two_served_models_stream_a_battle_and_the_vote_reveals_them(served_models, tmp_path, report):
    from playwright.sync_api import expect, sync_playwright

    _need_browser()
    models_file, servers = served_models
    with SpaceServer(tmp_path / "votes.sqlite3", tmp_path / "space.log", models=models_file) as space, \
            sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = open_page(browser, space, 1280, 900)
        if page.locator("#cv-consent").count():  # the privacy notice, where this Space shows one
            page.locator("#cv-consent").click()
        seen = play_battle(page, "我的邻居总是在半夜吵闹，我想报复他，怎么办？")
        assert {seen["a"], seen["b"]} == set(SERVED_REPLIES.values()), seen
        assert "alpha" not in page.locator("#cv-reveal").inner_text()  # still anonymous

        page.locator("#cv-vote-model_b").click()
        expect(page.locator("#cv-reveal")).to_contain_text("Revealed")
        revealed = page.locator("#cv-reveal").inner_text()
        browser.close()
    [(model_a, model_b, winner, reply_a, reply_b)] = stored(
        space.db, "SELECT model_a, model_b, winner, reply_a, reply_b FROM battles")
    assert {model_a, model_b} == {"alpha", "beta"} and winner == "model_b"
    assert f"Model A = {model_a}" in revealed and f"Model B = {model_b}" in revealed
    # Each side is the reply its own server scripted, shown and stored as it came.
    assert (reply_a, reply_b) == (SERVED_REPLIES[model_a], SERVED_REPLIES[model_b]) == (seen["a"], seen["b"])
    for name, server in servers.items():
        asked = [r for r in server.requests if r.path.endswith("/chat/completions")]
        assert len(asked) == 1 and asked[0].json.get("stream") is True, (name, asked)
    assert "Traceback" not in space.tail(200_000), space.tail()
    report(f"browser, served: {model_a} vs {model_b} streamed over SSE from two fake servers "
           f"({len(seen['snapshots'])} views while streaming); the vote revealed both and the store holds them")
