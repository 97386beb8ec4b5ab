"""Test support: a `cvalues space` server in its own process, and a client for its HTTP API.

The browser, load and crash tests all talk to the app as its users do: a real server process
started from the CLI, reached over loopback. The client speaks Gradio's queue API
(``POST /gradio_api/call/<api_name>`` with a ``session_hash``, then the event's SSE stream), so
each simulated visitor keeps its own server-side session, battle state and rate limit.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

API = "/gradio_api"
READY_TIMEOUT_S = 120.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SpaceServer:
    """``cvalues space --demo`` (or ``--models FILE``) on a free loopback port, its output kept in ``log``."""

    def __init__(self, db: Path, log: Path, *extra: str, models: Path | None = None):
        self.db, self.log, self.extra = db, log, extra
        self.model_args = ("--models", str(models)) if models else ("--demo",)
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def start(self) -> SpaceServer:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False",
               "PYTHONUNBUFFERED": "1"}
        cmd = [sys.executable, "-m", "cvalues_build.cli", "space", *self.model_args, "--host", "127.0.0.1",
               "--port", str(port), "--db", str(self.db), *self.extra]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env,
                                         cwd=self.db.parent)
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the Space exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                if httpx.get(f"{self.url}{API}/info", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise TimeoutError(f"the Space did not answer within {READY_TIMEOUT_S:.0f} s:\n{self.tail()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown hook, no checkpoint, no flush; what survives is what was committed."""
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-chars:] if self.log.exists() else ""

    def __enter__(self) -> SpaceServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class Outcome:
    """How an endpoint call ended: ``complete`` with the outputs, or ``error``."""

    event: str
    data: Any

    @property
    def last(self) -> Any:
        """The last output (the status or reveal text of the arena's endpoints)."""
        return self.data[-1] if isinstance(self.data, list) and self.data else self.data


async def call(client: httpx.AsyncClient, url: str, api_name: str, data: list[Any], session: str,
               headers: dict[str, str] | None = None) -> Outcome:
    """One queued call, read to its end. Transport errors propagate: the server may be dead.
    ``headers`` go with both requests (e.g. ``X-Forwarded-For``, to a server run with --trust-proxy)."""
    # json.dumps escapes non-ASCII, so data a client may send but UTF-8 cannot hold (a lone surrogate) still goes.
    body = json.dumps({"data": data, "session_hash": session})
    joined = await client.post(f"{url}{API}/call/{api_name}", content=body,
                               headers={"content-type": "application/json", **(headers or {})})
    if joined.status_code == 429:  # refused at the queue's door (abuse.QueueGate): its message is the outcome
        return Outcome("refused", joined.json().get("detail"))
    joined.raise_for_status()
    event_id = joined.json()["event_id"]
    event, outcome = "", None
    async with client.stream("GET", f"{url}{API}/call/{api_name}/{event_id}", headers=headers) as stream:
        async for line in stream.aiter_lines():
            if line.startswith("event:"):
                event = line.removeprefix("event:").strip()
            elif line.startswith("data:") and event in ("complete", "error"):
                payload = line.removeprefix("data:").strip()
                outcome = Outcome(event, json.loads(payload) if payload else None)
    if outcome is None:
        raise httpx.RemoteProtocolError(f"{api_name}: the stream ended without a result")
    return outcome
