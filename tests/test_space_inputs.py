"""What a hostile client can send, through the launched app's HTTP API (loopback only): oversized
bodies and uploads (audit item 8 and the body part of item 9), and inputs of the wrong kind
(item 9): a lone surrogate, a JSON object as the prompt, a fractional score."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import httpx
import pytest
from cvalues_space.config import SpaceConfig
from cvalues_space.limits import MAX_BODY_BYTES, MAX_FILE_BYTES
from cvalues_space.models import demo_specs
from space_http import API, free_port

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
    small = httpx.post(f"{url}{path}", json={"data": ["你好", "safety", None], "session_hash": "small"}, timeout=60)
    assert small.status_code == 200  # ordinary requests pass
    assert svc.store.counts()["battles"] == 0
