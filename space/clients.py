"""Who is asking: the session, the client (a salted hash of its address) and an optional
Hugging Face account, for one request.

- **Session**: Gradio's ``session_hash``, one per page load. A visitor who reloads, or a script
  that invents a new hash per call, is a new session; so sessions alone cannot bound anyone.
- **Client**: the address the request came from, kept only as a salted hash (the store's salt,
  namespaced so that it never equals a session's hash): ``request.client.host``, or, with
  ``trust_proxy`` (a Space behind Hugging Face's proxy), the first ``X-Forwarded-For`` hop, the
  address the proxy saw. The raw address is never stored or logged. Trust the header only
  behind a proxy that sets it: a client talking to the server directly can write any value there.
- **Account**: the Hugging Face username of a visitor who logged in with ``gr.LoginButton``
  (OAuth), read from the signed session cookie as Gradio itself reads it; kept as a salted hash.

An annotator (the ``annotator`` column of labels and battles) is the account when there is one,
so a logged-in visitor is one annotator across page loads; else the session, as before.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

UNKNOWN_ADDRESS = "unknown"
FORWARDED_FOR = "x-forwarded-for"
_CLIENT, _ACCOUNT = "client\x1f", "hf-user\x1f"  # namespaces inside the one salted hash


def client_address(peer: str | None, headers: Mapping[str, str] | None, *, trust_proxy: bool) -> str:
    """The client's address: the first ``X-Forwarded-For`` hop when the proxy is trusted and
    sent one, else the connection's peer address."""
    if trust_proxy and headers:
        forwarded = headers.get(FORWARDED_FOR) or ""
        first = forwarded.split(",")[0].strip()
        if first:
            return first
    return (peer or "").strip() or UNKNOWN_ADDRESS


def scope_address(scope: Mapping[str, Any], *, trust_proxy: bool) -> str:
    """``client_address`` of a raw ASGI scope (for middleware, before any request object exists)."""
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or []}
    peer = scope.get("client")
    return client_address(peer[0] if peer else None, headers, trust_proxy=trust_proxy)


def logged_in_user(request: Any) -> str | None:
    """The Hugging Face username of a visitor logged in through ``gr.LoginButton``, else None.
    Reads the OAuth session as Gradio's own ``gr.OAuthProfile`` injection does (an expired login
    counts as logged out); without the session middleware (no login button) nobody is logged in."""
    raw = getattr(request, "request", request)
    scope = getattr(raw, "scope", None)
    if not isinstance(scope, Mapping) or "session" not in scope:
        return None
    info = scope["session"].get("oauth_info") or {}
    expires = info.get("expires_at")
    if expires is not None and expires < time.time():
        return None
    name = (info.get("userinfo") or {}).get("preferred_username")
    return name if isinstance(name, str) and name else None


@dataclass(frozen=True)
class Visitor:
    """One request's visitor, as hashes only. ``annotator`` is what their votes are stored under."""

    session: str  # the salted hash of the Gradio session
    client: str  # the salted hash of the client address
    account: str | None = None  # the salted hash of the Hugging Face username, when logged in

    @property
    def annotator(self) -> str:
        return self.account or self.session

    @property
    def logged_in(self) -> bool:
        return self.account is not None


class Visitors:
    """Builds a ``Visitor`` from a Gradio request with one salted hash function (the store's)."""

    def __init__(self, hash_text: Callable[[str], str], *, trust_proxy: bool = False):
        self._hash = hash_text
        self.trust_proxy = trust_proxy

    def client_key(self, address: str) -> str:
        return self._hash(_CLIENT + address)

    def account_key(self, username: str) -> str:
        return self._hash(_ACCOUNT + username)

    def of_scope(self, scope: Mapping[str, Any]) -> str:
        """The client key of a raw ASGI request."""
        return self.client_key(scope_address(scope, trust_proxy=self.trust_proxy))

    def of_request(self, request: Any) -> Visitor:
        """The visitor of a ``gr.Request`` (or anything with ``session_hash``, ``client`` and
        ``headers``). A request without a session (a direct call) is the session "anonymous"."""
        session = getattr(request, "session_hash", None) or "anonymous"
        peer = getattr(getattr(request, "client", None), "host", None)
        address = client_address(peer, getattr(request, "headers", None), trust_proxy=self.trust_proxy)
        user = logged_in_user(request)
        return Visitor(session=self._hash(session), client=self.client_key(address),
                       account=self.account_key(user) if user else None)

    def of_session(self, session: str | None) -> Visitor:
        """A visitor known only by a session id (service calls without a request, and tests):
        the session stands for the client too."""
        hashed = self._hash(session or "anonymous")
        return Visitor(session=hashed, client=hashed)
