"""A fake OpenAI-compatible server on 127.0.0.1, for tests and benches. Nothing leaves loopback.

It serves ``GET /v1/models``, ``POST /v1/chat/completions`` (whole, or streamed as SSE events
``data: {...}`` ending with ``data: [DONE]``, with a usage chunk when the client sends
``stream_options.include_usage``) and ``POST /v1/completions`` (with ``echo`` and ``logprobs`` in
vLLM's form: ``choices[i].logprobs.tokens``, ``token_logprobs``, ``text_offset``, ``top_logprobs``).

**Replies come from a script**, so a test knows the exact output beforehand. ``script`` is a
function ``prompt -> Reply | str | None`` or a dict ``{prompt or substring: Reply | str}`` (an
exact key wins, then the longest key found in the prompt). The prompt is the last user message
of a chat request, or a completion's ``prompt``. ``default`` answers what the script does not
know; without one an unscripted prompt is a 400 naming it. One character is one token.

**Faults**: ``server.inject(kind, times=1, after=0, match=None, path=None)`` hits the next
``times`` requests (``None``: all) whose prompt contains ``match``, after letting ``after`` of them
through; ``Reply(fault=kind)`` hits every request answered by that entry. Kinds: ``429`` (with
``Retry-After``), ``500``, ``hang`` (answers 504 after ``hang_s``, or when the server stops),
``broken_stream`` (the body is cut mid-event), ``malformed_json``, ``html`` (an HTML page with a
script), ``huge`` (a 10 MB reply) and ``invalid_utf8``. ``latency_s`` delays every answer.

**Records**: ``server.requests`` holds every request (headers, body, prompt, fault, status);
``server.key_leaks(key)`` lists where a key appears other than the ``Authorization`` header.

In a test, take the ``fake_openai`` fixture (tests/conftest.py: a started server). From a script or a shell:
``python tests/fake_openai.py --port 8000 --script replies.json --latency-ms 200``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fake_openai_bodies as bodies
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

FAULT_KINDS = ("429", "500", "hang", "broken_stream", "malformed_json", "html", "huge", "invalid_utf8")
HUGE_BYTES = 10 * 1024 * 1024
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0


@dataclass
class Reply:
    """A scripted answer: the reply text, and for log-likelihood scoring each continuation's total
    log-prob (e.g. ``{"1": -0.1, "2": -2.3}``); ``fault`` fails every request it answers."""

    text: str = ""
    logprobs: dict[str, float] = field(default_factory=dict)
    fault: str | None = None


@dataclass
class Fault:
    kind: str
    times: int | None = 1
    after: int = 0
    match: str | None = None
    path: str | None = None
    retry_after: float = 1.0
    hang_s: float = 30.0
    size: int = HUGE_BYTES
    seen: int = 0
    fired: int = 0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {self.kind!r}; known: {', '.join(FAULT_KINDS)}")

    def claims(self, path: str, prompt: str) -> bool:
        """Whether this request gets the fault (counting it when it matches)."""
        if (self.path and self.path != path) or (self.match and self.match not in prompt):
            return False
        self.seen += 1
        if self.seen <= self.after or (self.times is not None and self.fired >= self.times):
            return False
        self.fired += 1
        return True


@dataclass
class Recorded:
    index: int
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: str
    json: Any
    prompt: str
    fault: str | None = None
    status: int | None = None


Script = Mapping[str, "Reply | str"] | Callable[[str], "Reply | str | None"]


def _prompt_of(path: str, body: Any) -> str:
    if not isinstance(body, dict):
        return ""
    if path.endswith("/chat/completions"):
        users = [m for m in body.get("messages") or [] if isinstance(m, dict) and m.get("role") == "user"]
        content = users[-1].get("content", "") if users else ""
        if isinstance(content, list):  # content parts: keep the text ones
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        return str(content)
    prompt = body.get("prompt", "")
    return "\n".join(map(str, prompt)) if isinstance(prompt, list) else str(prompt)


class FakeOpenAI:
    """The server; ``start()`` runs it in a daemon thread on a free loopback port."""

    def __init__(self, script: Script | None = None, *, default: Reply | str | None = None,
                 latency_s: float = 0.0, api_key: str | None = None, models: tuple[str, ...] | None = None):
        self.script: Script = script if script is not None else {}
        self.default = default
        self.latency_s = latency_s
        self.api_key = api_key
        self.models = models  # None: any model name is served
        self.faults: list[Fault] = []
        self._requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.url = ""
        self.app = self._build_app()

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def requests(self) -> list[Recorded]:
        with self._lock:
            return list(self._requests)

    def inject(self, kind: str, **options: Any) -> Fault:
        fault = Fault(kind, **options)
        with self._lock:
            self.faults.append(fault)
        return fault

    def reply_for(self, prompt: str) -> Reply | None:
        script = self.script
        if callable(script):
            got = script(prompt)
        else:
            got = script.get(prompt)
            if got is None:
                keys = [k for k in script if k in prompt]
                got = script[max(keys, key=len)] if keys else None
        got = self.default if got is None else got
        return Reply(got) if isinstance(got, str) else got

    def key_leaks(self, key: str) -> list[str]:
        """Every place a request carried ``key`` other than its ``Authorization`` header."""
        leaks = []
        for rec in self.requests:
            places = {f"header {k}": v for k, v in rec.headers.items() if k != "authorization"}
            places.update(path=rec.path, query=rec.query, body=rec.body)
            leaks += [f"request {rec.index} {rec.path}: {where}" for where, v in places.items() if key in v]
        return leaks

    # -- serving --------------------------------------------------------------------------------

    def _build_app(self) -> FastAPI:
        app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

        @app.get("/v1/models")
        async def models(request: Request) -> Response:
            return await self._serve(request, self._models)

        @app.post("/v1/chat/completions")
        async def chat(request: Request) -> Response:
            return await self._serve(request, self._chat)

        @app.post("/v1/completions")
        async def completions(request: Request) -> Response:
            return await self._serve(request, self._completions)

        return app

    async def _serve(self, request: Request, answer: Callable[[Reply, dict, str], Response]) -> Response:
        raw = await request.body()
        text = raw.decode("utf-8", errors="replace")
        try:
            body = json.loads(text) if raw else {}
        except json.JSONDecodeError:
            body = None
        path = request.url.path
        with self._lock:
            rec = Recorded(len(self._requests), request.method, path, request.url.query,
                           dict(request.headers), text, body, _prompt_of(path, body))
            self._requests.append(rec)
            fault = next((f for f in self.faults if f.claims(path, rec.prompt)), None)
        response = await self._respond(rec, body, fault, answer)
        rec.status = response.status_code
        return response

    async def _respond(self, rec: Recorded, body: Any, fault: Fault | None, answer: Callable) -> Response:
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        if self.api_key is not None and rec.headers.get("authorization") != f"Bearer {self.api_key}":
            return bodies.error(401, "Incorrect API key provided (fake server)", "invalid_request_error", "invalid_api_key")
        if body is None or not isinstance(body, dict):
            return bodies.error(400, "the request body is not a JSON object", "invalid_request_error")
        model = body.get("model", "fake")
        if rec.method == "POST" and self.models is not None and model not in self.models:
            return bodies.error(404, f"The model `{model}` does not exist.", "invalid_request_error", "model_not_found")
        reply = self.reply_for(rec.prompt) if rec.method == "POST" else Reply()
        if fault is None and reply is not None and reply.fault:
            fault = Fault(reply.fault)
        if fault is not None:
            rec.fault = fault.kind
            return await self._fault(fault, model, bool(body.get("stream")))
        if reply is None:
            return bodies.error(400, f"fake server: no scripted reply for prompt {rec.prompt[:200]!r}",
                                "invalid_request_error")
        return answer(reply, body, model)

    def _models(self, reply: Reply, body: dict, model: str) -> Response:
        return JSONResponse({"object": "list", "data": [
            {"id": m, "object": "model", "created": bodies.CREATED, "owned_by": "fake"} for m in self.models or ("fake",)]})

    def _chat(self, reply: Reply, body: dict, model: str) -> Response:
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        text = reply.text[:limit] if limit else reply.text
        finish = "length" if text != reply.text else "stop"
        prompt_tokens = sum(len(str(m.get("content", ""))) for m in body.get("messages") or [] if isinstance(m, dict))
        if not body.get("stream"):
            return JSONResponse(bodies.chat_body(model, text, finish, prompt_tokens))
        wants_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        events = bodies.chat_events(model, text, finish, prompt_tokens if wants_usage else None)
        return StreamingResponse(events, media_type="text/event-stream")

    def _completions(self, reply: Reply, body: dict, model: str) -> Response:
        if body.get("stream"):
            return bodies.error(400, "fake server: streamed completions are not served", "invalid_request_error")
        prompts = body.get("prompt", "")
        prompts = prompts if isinstance(prompts, list) else [prompts]
        max_tokens = body.get("max_tokens")
        max_tokens = 16 if max_tokens is None else int(max_tokens)  # OpenAI's default
        replies = [self.reply_for(prompt) for prompt in map(str, prompts)]
        if None in replies:
            unknown = str(prompts[replies.index(None)])
            return bodies.error(400, f"fake server: no scripted reply for prompt {unknown[:200]!r}",
                                "invalid_request_error")
        choices, generated = [], 0
        for i, (prompt, each) in enumerate(zip(map(str, prompts), replies, strict=True)):
            choice, n = bodies.completion_choice(i, prompt, each.text, each.logprobs, max_tokens,
                                                 bool(body.get("echo")), body.get("logprobs"))
            choices.append(choice)
            generated += n
        return JSONResponse(bodies.completions_body(model, choices, sum(len(str(p)) for p in prompts), generated))

    async def _fault(self, fault: Fault, model: str, stream: bool) -> Response:
        if fault.kind == "hang":
            deadline = time.monotonic() + fault.hang_s
            while time.monotonic() < deadline and not self._stopping.is_set():
                await asyncio.sleep(0.05)
            return bodies.error(504, "fake server: hung past the client's timeout", "timeout")
        return bodies.fault_response(fault.kind, model, stream, retry_after=fault.retry_after, size=fault.size)

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> FakeOpenAI:
        sock = listening_socket(0)
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off",
                                timeout_graceful_shutdown=2, timeout_keep_alive=30)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        name="fake-openai", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the fake OpenAI server did not start on {self.url}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT_S)

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def listening_socket(port: int) -> socket.socket:
    """A loopback socket already listening, so the server's URL works as soon as it is known
    (connections wait in the backlog until uvicorn accepts them). It is made with
    ``IPPROTO_TCP``: asyncio turns Nagle off (TCP_NODELAY) only on sockets that say so, and
    without that every answer on a kept-alive connection stalled ~40 ms on the client's delayed ACK."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", port))
    sock.listen(2048)
    return sock


def load_script(path: Path) -> dict[str, Reply]:
    """A JSON script file: ``{"prompt or substring": "reply" | {"text": ..., "logprobs": {...}}}``."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    return {k: Reply(v) if isinstance(v, str) else Reply(**v) for k, v in raw.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="A fake OpenAI-compatible server on 127.0.0.1 (tests and benches).")
    ap.add_argument("--port", type=int, default=0, help="0: a free port (printed)")
    ap.add_argument("--script", type=Path, help="JSON: prompt or substring -> reply text or {text, logprobs}")
    ap.add_argument("--default-reply", help="the reply to any prompt the script does not know")
    ap.add_argument("--latency-ms", type=float, default=0.0, help="delay before every answer")
    ap.add_argument("--api-key", help="refuse requests without 'Authorization: Bearer KEY'")
    args = ap.parse_args(argv)
    server = FakeOpenAI(load_script(args.script) if args.script else None, default=args.default_reply,
                        latency_s=args.latency_ms / 1000, api_key=args.api_key)
    sock = listening_socket(args.port)
    print(f"fake OpenAI server: http://127.0.0.1:{sock.getsockname()[1]}/v1", flush=True)
    uvicorn.Server(uvicorn.Config(server.app, log_level="warning", access_log=False, lifespan="off")).run(
        sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
