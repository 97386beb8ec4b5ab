"""The ``openai`` backend: any OpenAI-compatible server (vLLM, SGLang, TGI, llama.cpp, a hosted
API), named ``openai:MODEL`` with ``base_url=`` (``--base-url``; default ``$OPENAI_BASE_URL``,
else OpenAI's own).

- ``generate``: ``/v1/chat/completions`` (or ``/v1/completions`` without a chat template), up to
  ``concurrency`` requests in flight, longest prompts first. Each reply is handed to ``on_batch``
  as soon as it arrives (whatever finished while the last batch was being written goes in the
  next), so a killed run has paid only for the requests in flight.
- ``stream``: the same chat request as server-sent events, piece by piece (the arena).
- ``loglik``: ``/v1/completions`` with ``echo`` and ``logprobs`` (vLLM's scoring form); a server
  without it raises ``LoglikUnsupported`` and ``supports_loglik`` is False.

Transport: the official ``openai`` SDK over its aiohttp transport (``DefaultAioHttpClient``),
in one event loop on a thread of its own. The SDK brings the request building, the auth header
and the retries (exponential backoff with jitter on 408/409/429/5xx, timeouts and connection
errors, ``Retry-After`` honoured, at most ``max_retries``); its default httpx pool spends CPU
per queued request and does not keep up at 64 in flight (bench/api_bench.py). Requests go
through ``client.post`` with the raw response streamed, and bodies are checked by
``openai_wire`` (size cap, strict UTF-8, JSON shape), because the SDK's typed parsing returns an
HTML page as a string and raises non-API errors on invalid UTF-8 or JSON.

The API key comes only from the environment variable ``api_key_env`` names (default
``OPENAI_API_KEY``) and lives only in the SDK's client: ``describe`` and every error name the
variable, never its value, and error text is scrubbed of it.
"""

from __future__ import annotations

import os
import queue
from collections.abc import Callable, Coroutine, Iterator, Sequence
from typing import Any

from . import openai_wire as wire
from .aio import EventLoopThread, map_concurrently
from .base import Backend, BackendError, GenerationSettings, LoglikUnsupported, Progress

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_KEY_ENV = "OPENAI_API_KEY"
PLACEHOLDER_KEY = "EMPTY"  # a server started without --api-key takes any key; the SDK needs one
DEFAULT_CONCURRENCY = 8
DEFAULT_TIMEOUT_S = 300.0
DEFAULT_MAX_RETRIES = 5
_UNSUPPORTED_STATUS = (404, 405, 501)  # no /v1/completions at all
CHAT, COMPLETIONS = "/chat/completions", "/completions"

try:  # the SDK's HTTP library: httpx2 from openai 3, httpx before
    import httpx2 as _http
except ImportError:  # pragma: no cover - older SDKs
    import httpx as _http  # type: ignore[no-redef]


def _retries(response: Any) -> int:
    """How many times the SDK retried the request: it says so in a header of the request it sent."""
    count = response.request.headers.get("x-stainless-retry-count", "0")
    return int(count) if count.isdigit() else 0


def _positive(name: str, value: Any, kind: type) -> Any:
    try:
        number = kind(value)
    except (TypeError, ValueError):
        number = 0
    if isinstance(value, bool) or number <= 0:
        raise BackendError(f"{name} must be a positive number, got {value!r}")
    return number


class OpenAIBackend(Backend):
    kind = "openai"

    @classmethod
    def check(cls, target: str) -> None:
        if any(ch.isspace() or not ch.isprintable() for ch in target):
            raise BackendError(f"served model name {target!r} holds a space or control character")

    def __init__(self, target: str, *, base_url: str | None = None, api_key_env: str | None = None,
                 concurrency: int = DEFAULT_CONCURRENCY, request_timeout: float = DEFAULT_TIMEOUT_S,
                 max_retries: int = DEFAULT_MAX_RETRIES):
        super().__init__(target)
        self.concurrency = _positive("concurrency", concurrency, int)
        self.request_timeout = _positive("request timeout", request_timeout, float)
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise BackendError(f"max_retries must be a whole number >= 0, got {max_retries!r}")
        self.max_retries = max_retries
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        self.server = wire.public_url(self.base_url)
        if not self.server.startswith(("http://", "https://")):
            raise BackendError(f"model {target!r}: base URL {self.server!r} must start with http:// or https://")
        self.api_key_env = api_key_env or DEFAULT_KEY_ENV
        key = os.environ.get(self.api_key_env, "").strip()
        if not key and api_key_env:
            raise BackendError(f"model {target!r}: the environment variable {api_key_env} (--api-key-env) is not set")
        self._secret = key or None
        self._usage = {"prompt_tokens": 0, "completion_tokens": 0, "requests": 0, "retries": 0}
        self._loglik_ok: bool | None = None
        self._loop = EventLoopThread(f"openai-{target}")
        self._client = self._loop.run(self._open_client(key or PLACEHOLDER_KEY))

    async def _open_client(self, key: str) -> Any:
        import openai

        return openai.AsyncOpenAI(base_url=self.base_url, api_key=key, max_retries=self.max_retries,
                                  timeout=self.request_timeout,
                                  http_client=openai.DefaultAioHttpClient(timeout=self.request_timeout))

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "base_url": self.server, "api_key_env": self.api_key_env,
                "concurrency": self.concurrency, "request_timeout": self.request_timeout,
                "max_retries": self.max_retries, "usage": self.usage()}

    def usage(self) -> dict[str, int]:
        u = self._usage
        return {"tokens": u["prompt_tokens"] + u["completion_tokens"], **u}

    @property
    def supports_loglik(self) -> bool:  # type: ignore[override]
        """Whether the server scores prompts (asked once, with one tiny request)."""
        if self._loglik_ok is None:
            try:
                self.loglik(["1+1="], ["2"])
            except LoglikUnsupported:
                self._loglik_ok = False
        return bool(self._loglik_ok)

    # -- requests --------------------------------------------------------------------------------

    async def _send(self, path: str, body: dict[str, Any]) -> Any:
        """The raw response to one POST, its body not yet read; the SDK has retried it as needed
        (and raised for a status that stays an error). ``client.post`` is the SDK's documented
        route for any request: it skips the typed ``create`` methods' parameter transform, a third
        of the client's CPU per request, since the body here is built by ``openai_wire`` anyway."""
        return await self._client.post(path, cast_to=_http.Response, body=body, stream=True)

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """One request, its body read capped and checked, its usage counted."""
        response = await self._send(path, body)
        try:
            obj = await self._read_body(response)
        finally:
            await response.aclose()
        self._count(wire.usage_of(obj), _retries(response))
        return obj

    @staticmethod
    async def _read_body(response: Any) -> dict[str, Any]:
        """A whole reply body as its JSON object, read no further than ``MAX_BODY_BYTES``."""
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > wire.MAX_BODY_BYTES:
            raise wire.ReplyRefused(f"the reply declares {int(declared):,} bytes: refused as no reply")
        raw = bytearray()
        async for chunk in response.aiter_bytes():
            raw += chunk
            if len(raw) > wire.MAX_BODY_BYTES:
                raise wire.ReplyRefused(f"the reply passed {wire.MAX_BODY_BYTES // (1024 * 1024)} MB: refused as no reply")
        return wire.read_json(bytes(raw), response.headers.get("content-type", ""))

    def _count(self, usage: tuple[int, int], retries: int = 0) -> None:
        self._usage["prompt_tokens"] += usage[0]
        self._usage["completion_tokens"] += usage[1]
        self._usage["requests"] += 1
        self._usage["retries"] += retries

    def _explain(self, err: BaseException) -> str:
        """What went wrong, in words, naming the key's variable when the server refused the key."""
        import openai

        if isinstance(err, wire.ReplyRefused):
            text = str(err)
        elif isinstance(err, openai.APITimeoutError):
            text = f"no answer within {self.request_timeout:g} s, after {self.max_retries} retries"
        elif isinstance(err, openai.APIConnectionError):
            cause = err.__cause__ or err
            text = f"cannot reach the server ({type(cause).__name__}: {cause}), after {self.max_retries} retries"
        elif isinstance(err, openai.APIStatusError):
            body = err.body if isinstance(err.body, dict) else {"error": {"message": err.message}}
            text = f"HTTP {err.status_code}: {wire.error_message(body if 'error' in body else {'error': body})}"
            if err.status_code in (401, 403):
                text += f" (the key comes from ${self.api_key_env}{'' if self._secret else ', which is not set'})"
            elif err.status_code in (408, 409, 429) or err.status_code >= 500:
                text += f", after {self.max_retries} retries"
        else:  # the connection broke while the body was read
            text = f"the connection broke while the reply was read ({type(err).__name__}: {err})"
        if self._secret:
            text = text.replace(self._secret, "***")
        return text

    def _failure(self, err: BaseException, what: str) -> BackendError:
        if isinstance(err, BackendError) and not isinstance(err, wire.ReplyRefused):
            return err  # already names the model
        return BackendError(f"model {self.target!r} at {self.server}: {what}: {self._explain(err)}")

    # -- the interface ---------------------------------------------------------------------------

    def generate(self, prompts: Sequence[str], settings: GenerationSettings,
                 on_batch: Progress[str] | None = None) -> list[str]:
        chat = settings.chat_template

        async def request(i: int) -> str:
            if chat:
                obj = await self._post(CHAT, wire.chat_body(self.target, prompts[i], settings))
                return wire.chat_text(obj)
            obj = await self._post(COMPLETIONS, wire.completion_body(self.target, prompts[i], settings))
            return wire.completion_text(obj)

        order = sorted(range(len(prompts)), key=lambda i: (-len(prompts[i]), i))
        return self._map(len(prompts), order, request, on_batch, "prompt")

    def _map(self, n: int, order: Sequence[int], request: Callable[[int], Coroutine[Any, Any, Any]],
             on_batch: Progress[Any] | None, what: str) -> list[Any]:
        results, failure = map_concurrently(self._loop, order, request, n=n, concurrency=self.concurrency,
                                            on_batch=on_batch)
        if failure is not None:
            raise self._failure(failure[1], f"{what} {failure[0] + 1} of {n}")
        return results

    def loglik(self, contexts: Sequence[str], continuations: Sequence[str],
               on_batch: Progress[list[float]] | None = None) -> list[list[float]]:
        async def request(i: int) -> list[float]:
            prompts = [contexts[i] + c for c in continuations]
            try:
                obj = await self._post(COMPLETIONS, wire.loglik_body(self.target, prompts))
                scores = wire.loglik_scores(obj, prompts, [len(contexts[i])] * len(prompts))
            except Exception as err:
                if self._loglik_ok is None and self._unsupported(err):
                    self._loglik_ok = False
                    raise LoglikUnsupported(
                        f"model {self.target!r} at {self.server} gives no prompt log-probabilities (/v1/completions "
                        f"with echo and logprobs: {self._explain(err)}), which loglik mode needs: use --mode generate"
                    ) from None
                raise
            self._loglik_ok = True
            return scores

        order = sorted(range(len(contexts)), key=lambda i: (-len(contexts[i]), i))
        return self._map(len(contexts), order, request, on_batch, "item")

    @staticmethod
    def _unsupported(err: BaseException) -> bool:
        import openai

        if isinstance(err, wire.ReplyRefused):
            return "log-probabilities" in str(err) or "did not echo" in str(err)
        if isinstance(err, openai.APIStatusError):
            said = str(err.message).lower()
            return err.status_code in _UNSUPPORTED_STATUS or (
                err.status_code in (400, 422) and any(w in said for w in ("echo", "logprob", "completions")))
        return False

    def stream(self, prompt: str, settings: GenerationSettings) -> Iterator[str]:
        pieces: queue.SimpleQueue = queue.SimpleQueue()
        future = self._loop.submit(self._stream_into(prompt, settings, pieces))
        try:
            while True:
                kind, value = pieces.get()
                if kind == "piece":
                    yield value
                elif kind == "end":
                    return
                else:
                    raise value
        finally:
            future.cancel()  # the reader stopped early (a closed page): stop reading the server

    async def _stream_into(self, prompt: str, settings: GenerationSettings, pieces: queue.SimpleQueue) -> None:
        try:
            if settings.chat_template:
                path, body = CHAT, wire.chat_body(self.target, prompt, settings, stream=True)
            else:
                path, body = COMPLETIONS, {**wire.completion_body(self.target, prompt, settings), "stream": True,
                                           "stream_options": {"include_usage": True}}
            response = await self._send(path, body)
            try:
                await self._read_stream(response, pieces)
            finally:
                await response.aclose()
            pieces.put(("end", None))
        except Exception as err:  # noqa: BLE001 - raised to the reader after the pieces so far
            pieces.put(("error", self._failure(err, "streamed reply")))

    async def _read_stream(self, response: Any, pieces: queue.SimpleQueue) -> None:
        content_type = response.headers.get("content-type", "")
        if "text/event-stream" not in content_type:  # not a stream: a whole reply, or an error page
            obj = await self._read_body(response)
            pieces.put(("piece", wire.reply_text(obj)))
            self._count(wire.usage_of(obj), _retries(response))
            return
        reader, finished, usage = wire.SSEReader(), False, (0, 0)
        async for chunk in response.aiter_bytes():
            for data in reader.feed(chunk):
                if data.strip() == "[DONE]":
                    self._count(usage, _retries(response))
                    return
                piece, end, got = wire.stream_delta(data)
                finished, usage = finished or end, got or usage
                if piece:
                    pieces.put(("piece", piece))
        if reader.pending() or not finished:
            raise wire.ReplyRefused("the stream was cut off before the reply finished")
        self._count(usage, _retries(response))

    def close(self) -> None:
        if self._loop.loop.is_closed():
            return
        try:
            self._loop.run(self._client.close())
        finally:
            self._loop.stop()
