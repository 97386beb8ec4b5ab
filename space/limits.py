"""What one request may bring to the Space, bounded before anything parses it.

The page has no file inputs and its largest legitimate body is a 2000-character prompt (about
24 KB even with every character JSON-escaped), so:

- every request body is capped at ``MAX_BODY_BYTES``: a declared ``Content-Length`` over the cap is
  refused before a byte is read, and a streamed (chunked) body is cut off as soon as it passes the
  cap. Without this, FastAPI reads and parses the whole body (20 MB in the audit) before the
  prompt's character cap can refuse it;
- an uploaded file is capped at ``MAX_FILE_BYTES`` (Gradio's ``max_file_size``, checked while the
  multipart stream is parsed), and ``UPLOAD_CACHE`` has Gradio delete uploads an hour old, every
  hour (``delete_cache``), so nothing uploaded is kept or served for long.
"""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException

MAX_BODY_BYTES = 64 * 1024
MAX_FILE_BYTES = 16 * 1024
UPLOAD_CACHE = (3600, 3600)  # (every N seconds, delete uploads older than M seconds)
TOO_LARGE = (f"请求过大。Request body too large: this Space accepts at most {MAX_BODY_BYTES} bytes "
             "per request (a prompt is at most 2000 characters).")


class BodyLimit:
    """ASGI middleware refusing request bodies over ``max_bytes`` with 413, unread."""

    def __init__(self, app: Any, max_bytes: int = MAX_BODY_BYTES):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await _refuse(send)
            return
        seen = 0

        async def bounded() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # Raised where the route reads its body: FastAPI re-raises an HTTPException
                    # and Starlette turns it into the 413 response.
                    raise HTTPException(413, TOO_LARGE)
            return message

        await self.app(scope, bounded, send)


async def _refuse(send: Any) -> None:
    body = TOO_LARGE.encode("utf-8")
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
