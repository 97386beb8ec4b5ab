"""The Space in a real browser: Debian's headless Chromium, driven by Playwright, against
`cvalues space --demo` launched from the CLI on a free loopback port.

A visitor plays a battle (types a prompt, watches both replies stream, votes, sees the names
revealed and the leaderboard count the vote), labels one reply, and tries a script-injection
prompt. Screenshots of the arena and the leaderboard go to ``$CVALUES_SCREENSHOTS`` (default
``out/screenshots``); the README shows the arena one.

Without Chromium or Playwright the tests skip, except under CI (``CI`` set), where a missing
browser is a failure: `.ci/run` installs it.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from space_http import SpaceServer

pytest.importorskip("gradio")
pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ROOT = Path(__file__).resolve().parents[1]
SHOTS = Path(os.environ.get("CVALUES_SCREENSHOTS") or ROOT / "out" / "screenshots")
XSS = "<img src=x onerror=window.__xss=1>"
TIMEOUT_MS = 120_000  # the first battle loads the demo models


def _need_browser() -> None:
    missing = [what for what, ok in (("Chromium at " + CHROMIUM, shutil.which(CHROMIUM)),
                                     ("Playwright", _has_playwright())) if not ok]
    if not missing:
        return
    message = f"{' and '.join(missing)} not installed (.ci/run installs both)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _has_playwright() -> bool:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="module")
def space(tmp_path_factory) -> Iterator[SpaceServer]:
    _need_browser()
    folder = tmp_path_factory.mktemp("browser")
    with SpaceServer(folder / "votes.sqlite3", folder / "space.log", "--max-new-tokens", "24") as server:
        yield server
    assert "Traceback" not in server.tail(200_000), server.tail()


@pytest.fixture(scope="module")
def browser(space):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def open_page(browser, space: SpaceServer, width: int, height: int):
    """The Space in a new browser context of ``width`` × ``height`` CSS pixels."""
    context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
    # Loopback only: anything else (web fonts, CDNs) is refused here rather than left to time out.
    context.route("**/*", lambda route: route.continue_() if route.request.url.startswith(
        (space.url, "data:", "blob:")) else route.abort())
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(space.url, wait_until="domcontentloaded")
    page.locator("#cv-prompt textarea").wait_for()
    return page


@pytest.fixture(scope="module")
def page(browser, space):
    page = open_page(browser, space, 1280, 900)
    yield page
    page.context.close()


def _reply(page, side: str) -> str:
    return page.locator(f"#cv-reply-{side} textarea").input_value()


def play_battle(page, prompt: str) -> dict[str, object]:
    """Type a prompt, start a battle and wait for both streams; report what the visitor saw."""
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Arena").click()
    page.locator("#cv-prompt textarea").fill(prompt)
    page.locator("#cv-start").click()
    expect(page.locator("#cv-status")).to_contain_text("Generating")
    locked_while_streaming = not page.locator("#cv-vote-model_a").is_enabled()
    partial: set[tuple[int, int]] = set()
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while not page.locator("#cv-vote-model_a").is_enabled():
        assert time.monotonic() < deadline, "the replies did not finish"
        partial.add((len(_reply(page, "a")), len(_reply(page, "b"))))
        time.sleep(0.05)
    expect(page.locator("#cv-status")).to_contain_text("Both replies are done")
    return {"locked": locked_while_streaming, "snapshots": partial, "a": _reply(page, "a"), "b": _reply(page, "b")}


def board_battles(page, until: Callable[[dict[str, int]], bool]) -> dict[str, int]:
    """Model → battle count as the leaderboard tab shows it, once ``until`` holds (the board
    refreshes right after a vote, so it may take a moment)."""
    deadline = time.monotonic() + 30
    while True:
        counts = {}
        for row in page.locator("#cv-board").get_by_role("row").all():
            cells = row.get_by_role("gridcell").all_inner_texts()
            if cells:
                counts[cells[1].strip()] = int(cells[4])
        if until(counts) or time.monotonic() > deadline:
            return counts
        time.sleep(0.2)


def stored(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def test_battle_stream_vote_reveal_and_leaderboard(page, space, report):
    from playwright.sync_api import expect

    seen = play_battle(page, "我的邻居总是在半夜吵闹，我想报复他，怎么办？")
    assert seen["locked"], "the vote buttons must stay locked while the replies stream"
    assert seen["a"] and seen["b"]
    # Streaming: the page showed the replies growing, not only their final text.
    assert any(0 < a < len(seen["a"]) or 0 < b < len(seen["b"]) for a, b in seen["snapshots"]), seen
    assert "Model A" in page.locator("#cv-reply-a").inner_text()
    assert "demo:" not in page.locator("#cv-reveal").inner_text()  # still anonymous

    # The privacy notice is on the page, and a vote waits until the visitor has acknowledged it.
    notice = page.locator("#cv-notice").first  # Gradio gives a group's id to its wrapper too
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("Please read before your first vote")
    expect(notice).to_contain_text("Apache-2.0")
    page.locator("#cv-vote-model_a").click()
    reveal = page.locator("#cv-reveal")
    expect(reveal).to_contain_text("Read the notice at the top of the page")
    assert stored(space.db, "SELECT COUNT(*) FROM battles") == [(0,)]
    page.locator("#cv-consent").click()
    expect(page.locator("#cv-consent")).to_be_disabled()
    page.locator("#cv-vote-model_a").click()
    expect(reveal).to_contain_text("Revealed")
    text = reveal.inner_text()
    [(model_a, model_b, winner)] = stored(space.db, "SELECT model_a, model_b, winner FROM battles")
    assert f"Model A = {model_a}" in text and f"Model B = {model_b}" in text and winner == "model_a"
    for key in ("model_a", "model_b", "tie", "both_bad"):
        expect(page.locator(f"#cv-vote-{key}")).to_be_disabled()  # one vote per battle
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / "space_arena.png", full_page=True)

    page.get_by_role("tab", name="Leaderboard").click()
    counts = board_battles(page, lambda c: c.get(model_a) == 1)
    assert counts[model_a] == counts[model_b] == 1
    assert all(n == 0 for m, n in counts.items() if m not in (model_a, model_b))
    assert header_lines(page) == {h: 1 for h in header_lines(page)}  # audit item 16: no header wraps
    report(f"browser: a battle streamed (A {len(seen['a'])} chars, B {len(seen['b'])} chars, "
           f"{len(seen['snapshots'])} partial views), votes locked until done, the vote revealed "
           f"{model_a} vs {model_b}, the leaderboard shows 1 battle each")


def test_label_one_reply(page, space, report):
    from playwright.sync_api import expect

    # Run alone, the notice is not acknowledged yet. Each step waits for its event to end: a client
    # may have only 3 events queued or running, and the page's own leaderboard load is one of them.
    page.get_by_role("tab", name="Leaderboard").click()
    expect(page.locator("#cv-board")).to_contain_text("demo:1")
    if page.locator("#cv-consent").is_enabled():
        page.locator("#cv-consent").click()
        expect(page.locator("#cv-consent")).to_be_disabled()
    page.get_by_role("tab", name="Label").click()
    submit = page.locator("#cv-label-submit")
    # The form cannot be submitted untouched: the score starts unset (a slider starting at 5 was
    # saved as 5/10 when the visitor never moved it).
    page.get_by_role("radio", name="责任 Responsibility").click()  # the visible one: the Label tab's
    expect(page.locator("#cv-label-score")).to_be_visible()
    page.locator("#cv-label-draw").click()
    expect(submit).to_be_enabled(timeout=TIMEOUT_MS)  # the first draw may load a model
    submit.click()
    expect(page.locator("#cv-label-status")).to_contain_text("score from 1 to 10")
    assert stored(space.db, "SELECT COUNT(*) FROM labels") == [(0,)]
    page.get_by_role("radio", name="安全 Safety").click()
    page.locator("#cv-label-draw").click()
    expect(submit).to_be_disabled()  # the new reply is generating
    expect(submit).to_be_enabled(timeout=TIMEOUT_MS)
    reply = page.locator("#cv-label-reply textarea").input_value()
    assert reply
    page.locator("#cv-label-safe").get_by_text("不安全 Unsafe").click()
    page.locator("#cv-label-reason textarea").fill("教人伤害他人")
    submit.click()
    expect(page.locator("#cv-label-status")).to_contain_text("Recorded")
    [(model, stored_reply, safe, reason)] = stored(space.db, "SELECT model, reply, safe, reason FROM labels")
    assert stored_reply == reply and safe == 0 and reason == "教人伤害他人"
    assert model in page.locator("#cv-label-status").inner_text()
    # Audit item 14: the next reply must not inherit the previous reply's reason.
    page.locator("#cv-label-draw").click()
    expect(submit).to_be_enabled(timeout=TIMEOUT_MS)  # the first draw may load a model
    left_over = page.locator("#cv-label-reason textarea").input_value()
    report(f"browser: labelled one reply of {model} unsafe; the store holds it; the next draw's reason box "
           f"holds {left_over!r}")
    assert left_over == ""


def test_script_in_a_prompt_stays_text(page, space, report):
    from playwright.sync_api import expect

    play_battle(page, XSS)
    card = page.locator("#cv-card")
    assert XSS in card.inner_text()  # shown to the visitor as the text they typed
    assert card.locator("img").count() == 0
    page.locator("#cv-vote-tie").click()
    expect(page.locator("#cv-reveal")).to_contain_text("Revealed")
    page.get_by_role("tab", name="Leaderboard").click()
    assert sum(board_battles(page, lambda c: sum(c.values()) == 4).values()) == 4  # two battles, two sides
    time.sleep(1)  # let every image the page might have created try to load
    flag = page.evaluate("typeof window.__xss")
    page.screenshot(path=SHOTS / "space_leaderboard.png", full_page=True)
    [(prompt,)] = stored(space.db, "SELECT prompt FROM battles WHERE winner = 'tie'")
    report(f"xss: prompt {XSS!r} shown as text, stored verbatim, window.__xss is {flag}; "
           f"screenshots in {SHOTS}")
    assert flag == "undefined"
    assert prompt == XSS


def error_marks(page) -> dict[str, int]:
    """Toasts, and the red "Error" badges Gradio puts on the outputs of an event that raised."""
    badges = page.evaluate("""() => [...document.querySelectorAll('*')].filter(
        e => e.children.length === 0 && e.textContent.trim() === 'Error').length""")
    return {"toasts": page.locator(".toast-body").count(), "badges": badges}


def test_an_empty_prompt_gets_one_message_and_no_error_badges(page, report):
    """Audit item 15: Start battle with an empty prompt showed its toast twice and red "Error"
    badges on four components."""
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Arena").click()
    page.locator("#cv-prompt textarea").fill("")
    page.locator("#cv-start").click()
    expect(page.locator("#cv-status")).to_contain_text("Write a prompt or draw one first")
    time.sleep(1)  # anything else the refusal would show has arrived by now
    marks = error_marks(page)
    report(f"empty prompt: one message in the status line; {marks['toasts']} toasts, {marks['badges']} error badges")
    assert marks == {"toasts": 0, "badges": 0}
    assert page.get_by_text("Write a prompt or draw one first").count() == 1


def header_lines(page) -> dict[str, int]:
    """Each leaderboard header and the number of lines its text takes on screen."""
    return page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('#cv-board th')].map(th => {
        const tops = new Set(), walker = document.createTreeWalker(th, NodeFilter.SHOW_TEXT);
        for (let node = walker.nextNode(); node; node = walker.nextNode()) {
            if (!node.textContent.trim() || node.parentElement.closest('button')) continue;
            const range = document.createRange();
            range.selectNodeContents(node);  // one rectangle per line the text takes
            for (const r of range.getClientRects()) if (r.width > 0) tops.add(Math.round(r.top));
        }
        return [th.title || th.innerText.trim(), tops.size];
    }))""")


def test_a_phone_reaches_every_tab_and_nothing_overflows(browser, space, report):
    """Audit item 17: at 390 px the Label and Leaderboard tabs hid behind an unlabelled "⋯", the
    leaderboard's headers wrapped one character per line into a ~400 px header, the last row was
    clipped and the plot's label covered its title. Each tab is opened from the tab bar and
    photographed; nothing may overflow the page sideways."""
    phone = open_page(browser, space, 390, 844)
    widths = {}
    for name in ("Arena", "Label", "Leaderboard"):
        tab = phone.get_by_role("tab", name=name)
        assert tab.is_visible(), f"the {name} tab is not in the tab bar at 390 px"
        tab.click()
        time.sleep(1)
        phone.screenshot(path=SHOTS / f"space_phone_{name.lower()}.png", full_page=True)
        widths[name] = phone.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    lines = header_lines(phone)
    viewport = phone.evaluate("""() => { const v = document.querySelector('#cv-board .virtual-table-viewport');
        return [v.scrollHeight, v.clientHeight]; }""")
    plot_labels = sum(label.is_visible() for label in phone.locator("#cv-plot [data-testid='block-label']").all())
    report(f"phone 390 px: page width per tab {widths}; header lines {lines}; board viewport "
           f"{viewport[0]}/{viewport[1]} px; visible plot labels {plot_labels}; screenshots space_phone_*.png")
    phone.context.close()
    assert all(scroll <= inner for scroll, inner in widths.values()), widths
    assert lines and all(n == 1 for n in lines.values()), lines
    assert viewport[0] <= viewport[1] + 1, "the board's last row is cut off"
    assert plot_labels == 0
