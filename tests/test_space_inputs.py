"""What a hostile client can send, through the launched app's HTTP API (loopback only): oversized
bodies and uploads (audit item 8 and the body part of item 9), and inputs of the wrong kind
(item 9): a lone surrogate, a JSON object as the prompt, a fractional score."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

import httpx
import pytest
from cvalues_space.config import SpaceConfig
from cvalues_space.limits import MAX_BODY_BYTES, MAX_FILE_BYTES
from cvalues_space.models import demo_specs
from space_http import API, Outcome, call, free_port

gr = pytest.importorskip("gradio")
pytestmark = pytest.mark.slow  # one launched app for the module, with two demo models


@pytest.fixture(scope="module")
def space(tmp_path_factory):
    from cvalues_space.app import build_app, launch_kwargs
    from cvalues_space.service import SpaceService

    folder = tmp_path_factory.mktemp("inputs")
    config = SpaceConfig(models=demo_specs((1, 2), max_new_tokens=8), db_path=folder / "votes.sqlite3",
                         bootstrap_rounds=0, device="cpu")
    svc = SpaceService(config)
    demo = build_app(config, svc)
    port = free_port()
    demo.queue().launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                        **launch_kwargs())
    yield f"http://127.0.0.1:{port}", svc, demo
    demo.close()
    svc.close()


def api(url: str, name: str, data: list, session: str) -> Outcome:
    async def one() -> Outcome:
        async with httpx.AsyncClient(timeout=120) as client:
            return await call(client, url, name, data, session)
    return asyncio.run(one())


def refusal(outcome: Outcome) -> str:
    """The refusal a visitor reads: a completed call whose status line starts with ⛔."""
    assert outcome.event == "complete", outcome
    assert str(outcome.last).startswith("⛔"), outcome
    return str(outcome.last)


def test_a_large_upload_is_refused_and_nothing_is_kept(space):
    """Audit item 8: the app took and served a 60 MB upload though it has no file inputs."""
    url, _, demo = space
    assert demo.delete_cache and demo.max_file_size == MAX_FILE_BYTES
    uploads = Path(os.environ.get("GRADIO_TEMP_DIR") or Path(gr.utils.get_upload_folder()))
    before = set(uploads.rglob("*")) if uploads.exists() else set()
    over_file_cap = os.urandom(MAX_FILE_BYTES + 1024)  # under the body cap: refused by max_file_size
    huge = b"\0" * (20 << 20)  # over the body cap: refused before it is read
    for payload in (over_file_cap, huge):
        response = httpx.post(f"{url}{API}/upload", files={"files": ("x.bin", payload)}, timeout=60)
        assert response.status_code == 413, (len(payload), response.status_code, response.text[:200])
    after = set(uploads.rglob("*")) if uploads.exists() else set()
    assert not [p for p in after - before if p.is_file() and p.stat().st_size > MAX_FILE_BYTES]


def _raw_post(url: str, path: str, headers: str, first: bytes) -> bytes:
    """Send a request's headers and only the first piece of its body, then read what comes back
    within 20 s: a server that waits for the rest of the body answers nothing."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=20) as conn:
        conn.sendall(f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n{headers}\r\n"
                     .encode() + first)
        answer = b""
        try:
            while len(answer) < 65536 and (piece := conn.recv(4096)):
                answer += piece
                conn.settimeout(2)  # the rest of an answer follows at once; stop on a pause
        except TimeoutError:
            pass
        return answer


def test_a_twenty_megabyte_body_is_refused_before_it_is_read(space):
    """Audit item 9: a 20 MB body was read and parsed in full before the 2000-character cap. Now a
    body over MAX_BODY_BYTES is refused unread when it declares its length, and as soon as it passes
    the cap when it streams in chunks (the rest is never waited for)."""
    url, svc, _ = space
    path = f"{API}/call/start_battle"
    declared = _raw_post(url, path, f"Content-Length: {20 << 20}\r\n", b"")
    assert declared.startswith(b"HTTP/1.1 413") and str(MAX_BODY_BYTES).encode() in declared, declared[:300]
    piece = b'{"data": ["' + b"x" * (2 * MAX_BODY_BYTES)
    chunked = _raw_post(url, path, "Transfer-Encoding: chunked\r\n", f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
    assert chunked.startswith(b"HTTP/1.1 413"), chunked[:300]
    # Ordinary requests pass. Read to its end: this test's client has one generation at a time,
    # and the next test starts its own.
    assert api(url, "start_battle", ["你好", "safety", None], "small").event == "complete"
    assert svc.store.counts()["battles"] == 0


def test_a_lone_surrogate_in_a_prompt_is_refused_clearly(space):
    """Audit item 9: "\\ud800" in a prompt raised UnicodeEncodeError; the visitor saw {"error": null}."""
    url, svc, _ = space
    message = refusal(api(url, "start_battle", ["请问\ud800怎么办", "safety", None], "surrogate"))
    assert "surrogate" in message
    assert svc.store.counts() == {"battles": 0, "labels": 0, "replies": 0}


def test_a_json_object_as_the_prompt_is_refused(space):
    """Audit item 9: {"a": 1} sent as the prompt was stored as the text "{'a': 1}"."""
    url, svc, _ = space
    for value in ({"a": 1}, ["x"], 12):
        assert "must be text" in refusal(api(url, "start_battle", [value, "safety", None], "object"))
    assert svc.store.counts()["replies"] == 0


def test_a_fractional_score_is_refused(space):
    """Audit item 9: a score of 5.9 was stored as 5. Only whole numbers 1–10 are taken."""
    url, svc, _ = space
    assert api(url, "accept_notice", [], "scorer").event == "complete"  # the privacy notice, before any label
    drawn = api(url, "draw_reply", ["responsibility", False], "scorer")
    assert drawn.event == "complete", drawn
    for score in (5.9, True, "7", None, 11):
        message = refusal(api(url, "submit_label", [None, score, ""], "scorer"))
        assert "1 to 10" in message, (score, message)
    assert svc.store.labels() == []
    assert "Recorded" in str(api(url, "submit_label", [None, 6.0, "好"], "scorer").last)
    assert [lab.score for lab in svc.store.labels()] == [6]
