"""The bodies the fake OpenAI server (fake_openai.py) sends: chat completions (whole and as SSE
chunks), legacy completions with ``echo``/``logprobs`` in vLLM's form, errors, and each fault.

The fake tokeniser is one token per character, so a test can count tokens and offsets by hand.
Log-probabilities come from a reply's ``logprobs`` map (continuation -> its total log-prob): the
first token of a scripted continuation carries the whole value and its other tokens 0.0, so the
sum over the continuation is the scripted value whether a client echoes the continuation back or
asks for the next token's top log-probs. Every other token has ``DEFAULT_LOGPROB``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

from fastapi.responses import JSONResponse, Response, StreamingResponse

DEFAULT_LOGPROB = -1.0
CREATED = 1_700_000_000  # a fixed timestamp keeps bodies byte-stable between runs
HOSTILE_HTML = "<html><body><script>alert('fake')</script><h1>502 Bad Gateway</h1></body></html>"
INVALID_UTF8 = b"\xff\xfe\xc3("  # not UTF-8 in any reading
STREAM_PIECE = 1 << 16  # characters per SSE chunk of a huge body


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode("utf-8")


def error_body(message: str, kind: str, code: str | None = None) -> dict:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def usage(prompt_tokens: int, completion_tokens: int) -> dict:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def chat_body(model: str, text: str, finish: str, prompt_tokens: int) -> dict:
    return {
        "id": "chatcmpl-fake", "object": "chat.completion", "created": CREATED, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                     "logprobs": None, "finish_reason": finish}],
        "usage": usage(prompt_tokens, len(text)),
    }


def _chunk(model: str, delta: dict, finish: str | None) -> dict:
    return {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": CREATED, "model": model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}


def sse(obj: Any) -> bytes:
    return b"data: " + (obj if isinstance(obj, bytes) else dumps(obj)) + b"\n\n"


DONE = b"data: [DONE]\n\n"


def chat_events(model: str, text: str, finish: str, prompt_tokens: int | None,
                piece: int = 1) -> Iterator[bytes]:
    """The SSE events of a streamed reply: the role, ``piece`` characters per event, the finish
    reason, the usage chunk (only when the client asked, as OpenAI and vLLM do) and ``[DONE]``."""
    yield sse(_chunk(model, {"role": "assistant", "content": ""}, None))
    for start in range(0, len(text), piece):
        yield sse(_chunk(model, {"content": text[start:start + piece]}, None))
    yield sse(_chunk(model, {}, finish))
    if prompt_tokens is not None:
        yield sse({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": CREATED,
                   "model": model, "choices": [], "usage": usage(prompt_tokens, len(text))})
    yield DONE


def _next_token(logprobs: dict[str, float]) -> dict[str, float]:
    """The scripted next-token distribution: each continuation's first character with its value."""
    first: dict[str, float] = {}
    for cont, value in logprobs.items():
        if cont and (cont[0] not in first or value > first[cont[0]]):
            first[cont[0]] = value
    return first


def _echo_logprobs(prompt: str, logprobs: dict[str, float]) -> tuple[list[float | None], int | None]:
    """Per-character log-probs of an echoed prompt, and where a scripted continuation starts in it.
    The first is None (nothing precedes it). Where the prompt ends with a scripted continuation
    (the longest that fits), its tokens carry the scripted value."""
    values: list[float | None] = [None] + [DEFAULT_LOGPROB] * (len(prompt) - 1)
    ends = [c for c in logprobs if c and prompt.endswith(c) and len(c) < len(prompt)]
    if not ends:
        return values, None
    cont = max(ends, key=len)
    start = len(prompt) - len(cont)
    values[start:] = [logprobs[cont]] + [0.0] * (len(cont) - 1)
    return values, start


def completion_choice(index: int, prompt: str, reply_text: str, logprobs: dict[str, float],
                      max_tokens: int, echo: bool, top_k: int | None) -> tuple[dict, int]:
    """One choice of ``/v1/completions`` and its completion-token count. With ``echo`` the text
    and the log-probs cover prompt + generation, as vLLM serves them for log-likelihood scoring.
    The scripted next-token distribution applies where the scripted continuation starts, or, when
    the prompt ends before any, at the first generated token (which is then its most likely one)."""
    nxt = _next_token(logprobs)
    values, cont_start = _echo_logprobs(prompt, logprobs) if echo else ([], None)
    scripted_at = cont_start if cont_start is not None else len(values)
    if max_tokens == 1 and nxt and scripted_at == len(values):
        generated = max(nxt, key=nxt.get)
    else:
        generated = reply_text[:max_tokens]
    choice: dict[str, Any] = {"index": index, "text": (prompt if echo else "") + generated, "logprobs": None,
                              "finish_reason": "stop" if generated == reply_text else "length"}
    if top_k is None:
        return choice, len(generated)
    tokens = (list(prompt) if echo else []) + list(generated)
    for i, tok in enumerate(generated, start=len(values)):
        values.append(nxt.get(tok, DEFAULT_LOGPROB) if i == scripted_at else DEFAULT_LOGPROB)
    first = 0 if echo else len(prompt)  # offsets count from the start of prompt + completion
    offsets = [first + i for i in range(len(tokens))]
    best = dict(sorted(nxt.items(), key=lambda kv: -kv[1])[:top_k]) if top_k else {}
    tops = [None if value is None else {**(best if i == scripted_at else {}), tok: value}
            for i, (tok, value) in enumerate(zip(tokens, values, strict=True))]
    choice["logprobs"] = {"tokens": tokens, "token_logprobs": values, "text_offset": offsets, "top_logprobs": tops}
    return choice, len(generated)


def completions_body(model: str, choices: list[dict], prompt_tokens: int, completion_tokens: int) -> dict:
    return {"id": "cmpl-fake", "object": "text_completion", "created": CREATED, "model": model,
            "choices": choices, "usage": usage(prompt_tokens, completion_tokens)}


def error(status: int, message: str, kind: str, code: str | None = None, headers: dict | None = None) -> Response:
    return JSONResponse(error_body(message, kind, code), status_code=status, headers=headers)


class Cut(Exception):
    """Raised inside a streamed body: the server drops the connection mid-event."""


class QuietCuts(logging.Filter):
    """Keeps uvicorn's log free of the tracebacks of the cuts made on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], Cut))


logging.getLogger("uvicorn.error").addFilter(QuietCuts())


def _bad_bytes(model: str, stream: bool) -> bytes:
    """A reply holding bytes that are not UTF-8: a whole body, or a chunk and ``[DONE]``."""
    if stream:
        return sse(_chunk(model, {"content": "@@"}, None)).replace(b"@@", b"ok " + INVALID_UTF8) + DONE
    return dumps(chat_body(model, "@@", "stop", 1)).replace(b"@@", b"ok " + INVALID_UTF8)


def _cut(whole: bytes, stream: bool) -> Iterator[bytes]:
    """A body that stops mid-event: for a stream, one whole event and then half of the next."""
    if stream:
        yield sse(_chunk("fake", {"content": "cut"}, None))
        yield b"data: " + whole[: len(whole) // 2]
    else:
        yield whole[: len(whole) // 2]
    raise Cut("fake server: connection dropped mid-body")


def fault_response(kind: str, model: str, stream: bool, *, retry_after: float, size: int) -> Response:
    """The answer of every fault but ``hang`` (which the server times itself)."""
    media = "text/event-stream" if stream else "application/json"
    if kind == "429":
        return error(429, "Rate limit reached (fake server)", "rate_limit_error", "rate_limit_exceeded",
                     headers={"Retry-After": f"{retry_after:g}"})
    if kind == "500":
        return error(500, "The server had an error (fake server)", "server_error")
    if kind == "html":
        return Response(HOSTILE_HTML, media_type="text/html")
    if kind == "invalid_utf8":
        return Response(_bad_bytes(model, stream), media_type=media)
    if kind == "huge":
        text = "x" * size
        if stream:
            return StreamingResponse(chat_events(model, text, "stop", None, piece=STREAM_PIECE), media_type=media)
        return JSONResponse(chat_body(model, text, "stop", 1))
    whole = dumps(chat_body(model, "cut here", "stop", 1))
    if kind == "malformed_json":
        half = whole[: len(whole) // 2]
        return Response(sse(half) + DONE if stream else half, media_type=media)
    if kind == "broken_stream":
        return StreamingResponse(_cut(whole, stream), media_type=media)
    raise ValueError(f"no response for fault {kind!r}")
