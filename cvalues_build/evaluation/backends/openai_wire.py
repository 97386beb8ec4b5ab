"""The OpenAI-compatible wire format, as the ``openai`` backend speaks it: request bodies from
``GenerationSettings``, and replies read defensively.

A reply is read as bytes and checked before anything is taken from it. A body that is not JSON
(an HTML error page from a proxy), over ``MAX_BODY_BYTES`` (a 10 MB answer to a 512-token
request), not UTF-8, or not the shape the API documents is refused with a ``ReplyRefused`` that
says what came back; its text is never interpreted (a ``<script>`` in a reply is just characters).
Pure functions: no HTTP client here.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from .base import BackendError, GenerationSettings

# Far above any real reply (512 tokens are a few KB; a loglik echo with log-probs some 100 KB),
# far below what would hurt the process.
MAX_BODY_BYTES = 8 * 1024 * 1024
PREVIEW_CHARS = 80


class ReplyRefused(BackendError):
    """The server answered, but with something that is not a usable reply."""


def public_url(url: str) -> str:
    """``url`` without user:password, query or fragment: what may be printed and recorded."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def preview(raw: bytes) -> str:
    """The start of a body, as an inert Python literal (never markup, never a terminal escape)."""
    text = raw[: PREVIEW_CHARS * 4].decode("utf-8", errors="replace")
    return ascii(text[:PREVIEW_CHARS] + ("…" if len(text) > PREVIEW_CHARS else ""))


def sampling_fields(settings: GenerationSettings) -> dict[str, Any]:
    """The request's sampling fields: temperature 0 for greedy (a server's default is often 1.0),
    else the knobs that were set; the seed whenever one was given. ``top_k`` and
    ``repetition_penalty`` are not in OpenAI's API: they are sent only when set (vLLM, SGLang and
    TGI read them; a hosted API may refuse them with a clear 400)."""
    knobs = settings.sampling() if settings.do_sample else {"temperature": 0.0}
    fields: dict[str, Any] = {"max_tokens": settings.max_new_tokens, **knobs}
    if settings.repetition_penalty is not None:
        fields["repetition_penalty"] = settings.repetition_penalty
    if settings.seed is not None:
        fields["seed"] = settings.seed
    return fields


def chat_body(model: str, prompt: str, settings: GenerationSettings, *, stream: bool = False) -> dict[str, Any]:
    body = {"model": model, "messages": [{"role": "user", "content": prompt}], **sampling_fields(settings)}
    if stream:
        body.update(stream=True, stream_options={"include_usage": True})
    return body


def completion_body(model: str, prompt: str | list[str], settings: GenerationSettings) -> dict[str, Any]:
    return {"model": model, "prompt": prompt, **sampling_fields(settings)}


def loglik_body(model: str, prompts: list[str]) -> dict[str, Any]:
    """vLLM's scoring form: the prompt echoed with each token's log-probability. One generated
    token (``max_tokens=0`` is refused by some servers); it lies past the prompt and is not counted."""
    return {"model": model, "prompt": prompts, "echo": True, "logprobs": 1, "max_tokens": 1, "temperature": 0.0}


def read_json(raw: bytes, content_type: str) -> dict[str, Any]:
    """The JSON object of a whole reply body, or ``ReplyRefused`` saying what the body was."""
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind and "json" not in kind:
        raise ReplyRefused(f"the server answered {kind} instead of JSON ({len(raw)} bytes, starting {preview(raw)})")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ReplyRefused(f"the reply is not valid UTF-8 (byte {raw[err.start]:#04x} at position {err.start})") from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as err:
        raise ReplyRefused(f"the reply is not valid JSON ({err.msg} at position {err.pos}; it starts {preview(raw)})") from None
    if not isinstance(obj, dict):
        raise ReplyRefused(f"the reply is JSON but not an object (it starts {preview(raw)})")
    if isinstance(obj.get("error"), Mapping):
        raise ReplyRefused(f"the server reported an error: {error_message(obj)}")
    return obj


def error_message(obj: Mapping[str, Any]) -> str:
    err = obj.get("error")
    message = err.get("message") if isinstance(err, Mapping) else err
    return ascii(str(message)[:300]) if message is not None else "(no message)"


def _choices(obj: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    choices = obj.get("choices")
    if not isinstance(choices, list) or not choices or not all(isinstance(c, Mapping) for c in choices):
        raise ReplyRefused("the reply has no 'choices' list")
    return sorted(choices, key=lambda c: c.get("index") if isinstance(c.get("index"), int) else 0)


def _text(value: Any, where: str) -> str:
    if value is None:
        return ""  # no content (a refusal field, a tool call): an empty reply
    if not isinstance(value, str):
        raise ReplyRefused(f"the reply's {where} is {type(value).__name__}, not text")
    return value


def chat_text(obj: Mapping[str, Any]) -> str:
    message = _choices(obj)[0].get("message")
    if not isinstance(message, Mapping):
        raise ReplyRefused("the reply's first choice has no 'message'")
    return _text(message.get("content"), "message content")


def completion_text(obj: Mapping[str, Any]) -> str:
    return _text(_choices(obj)[0].get("text"), "text")


def reply_text(obj: Mapping[str, Any]) -> str:
    """The text of a whole chat or completion reply, whichever it is."""
    return chat_text(obj) if "message" in _choices(obj)[0] else completion_text(obj)


def usage_of(obj: Mapping[str, Any]) -> tuple[int, int]:
    """(prompt tokens, completion tokens) as the server counted them; zeros when it did not say."""
    usage = obj.get("usage")
    if not isinstance(usage, Mapping):
        return 0, 0
    counts = [usage.get("prompt_tokens"), usage.get("completion_tokens")]
    return tuple(c if isinstance(c, int) and not isinstance(c, bool) and c >= 0 else 0 for c in counts)  # type: ignore[return-value]


def continuation_logprob(choice: Mapping[str, Any], prompt: str, start: int) -> float:
    """The summed log-probability of ``prompt[start:]`` in an echoed completion choice: every
    token that overlaps those characters (a token across the boundary counts: it carries the
    continuation's first characters). Generated tokens, past the prompt, are left out."""
    logprobs = choice.get("logprobs")
    if not isinstance(logprobs, Mapping):
        raise ReplyRefused("the completion has no log-probabilities (the server ignored echo/logprobs)")
    tokens, values, offsets = (logprobs.get(k) for k in ("tokens", "token_logprobs", "text_offset"))
    if not (isinstance(tokens, list) and isinstance(values, list) and isinstance(offsets, list)
            and len(tokens) == len(values) == len(offsets)):
        raise ReplyRefused("the completion's logprobs lack matching tokens, token_logprobs and text_offset lists")
    text = _text(choice.get("text"), "text")
    shift = 0 if text.startswith(prompt) else max(text.find(prompt), 0)  # a BOS echoed before the prompt
    begin, end = shift + start, shift + len(prompt)
    total, counted = 0.0, 0
    for token, value, offset in zip(tokens, values, offsets, strict=True):
        if not isinstance(offset, int) or not isinstance(token, str):
            raise ReplyRefused("the completion's text_offset or tokens hold something other than numbers and text")
        if offset < end and offset + max(len(token), 1) > begin:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ReplyRefused(f"no log-probability for the continuation token {token!r} at {offset}")
            total += float(value)
            counted += 1
    if not counted:
        raise ReplyRefused("the echoed prompt does not reach the continuation (the server did not echo the prompt)")
    return total


def loglik_scores(obj: Mapping[str, Any], prompts: Sequence[str], starts: Sequence[int]) -> list[float]:
    choices = _choices(obj)
    if len(choices) != len(prompts):
        raise ReplyRefused(f"{len(prompts)} prompts were sent but {len(choices)} choices came back")
    return [continuation_logprob(c, p, s) for c, p, s in zip(choices, prompts, starts, strict=True)]


class SSEReader:
    """Server-sent events from byte chunks: ``feed(chunk)`` yields each complete event's data
    (the ``data:`` lines joined), decoded strictly as UTF-8 and capped at ``MAX_BODY_BYTES`` in all."""

    def __init__(self, limit: int = MAX_BODY_BYTES):
        self.limit, self.read = limit, 0
        self._buffer = b""
        self._data: list[bytes] = []

    def feed(self, chunk: bytes) -> Iterator[str]:
        self.read += len(chunk)
        if self.read > self.limit:
            raise ReplyRefused(f"the stream passed {self.limit // (1024 * 1024)} MB: refused as no reply")
        self._buffer += chunk
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            line = line.removesuffix(b"\r")
            if not line:
                if self._data:
                    yield _decode(b"\n".join(self._data))
                    self._data = []
            elif line.startswith(b"data:"):
                self._data.append(line[5:].removeprefix(b" "))
            # comments (":...") and event/id/retry fields carry nothing a reply needs

    def pending(self) -> bool:
        """Whether the stream stopped inside an event (a cut connection)."""
        return bool(self._buffer.strip() or self._data)


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ReplyRefused(f"a streamed event is not valid UTF-8 (byte {data[err.start]:#04x})") from None


def stream_delta(data: str) -> tuple[str, bool, tuple[int, int] | None]:
    """One chat-completion chunk: (text piece, whether the reply finished, usage if given)."""
    try:
        obj = json.loads(data)
    except json.JSONDecodeError as err:
        raise ReplyRefused(f"a streamed event is not valid JSON ({err.msg}; it starts {ascii(data[:PREVIEW_CHARS])})") from None
    if not isinstance(obj, dict):
        raise ReplyRefused("a streamed event is JSON but not an object")
    if obj.get("error") is not None:
        raise ReplyRefused(f"the server reported an error mid-stream: {error_message(obj)}")
    usage = usage_of(obj) if isinstance(obj.get("usage"), Mapping) else None
    choices = obj.get("choices") or []
    if not isinstance(choices, list) or not all(isinstance(c, Mapping) for c in choices):
        raise ReplyRefused("a streamed event's 'choices' is not a list of objects")
    if not choices:
        return "", False, usage
    delta = choices[0].get("delta")  # a chat chunk; a completion chunk has "text"
    piece = _text(delta.get("content") if isinstance(delta, Mapping) else choices[0].get("text"), "streamed text")
    return piece, choices[0].get("finish_reason") is not None, usage
