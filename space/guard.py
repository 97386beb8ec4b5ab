"""The settings that keep one visitor from taking over the Space, from the command line
(``cvalues space --trust-proxy ...``) or, on a Space, from the environment.

On Hugging Face Spaces (``SPACE_ID`` set) requests arrive through Hugging Face's proxy, so the
client address is read from ``X-Forwarded-For`` by default, and the login button appears when the
Space has OAuth (``hf_oauth: true`` in its README makes Hugging Face set ``OAUTH_CLIENT_ID``).
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

from .abuse import CLIENT_RATE_LIMIT, PER_CLIENT_PENDING, QUEUE_SIZE
from .identity import IdentityFilter


@dataclass(frozen=True)
class GuardSettings:
    trust_proxy: bool = False  # the client is the first X-Forwarded-For hop (behind a proxy that sets it)
    client_rate_limit: int = CLIENT_RATE_LIMIT  # battles, and votes + labels, per client address per minute
    queue_size: int = QUEUE_SIZE  # events waiting in the queue, every visitor together
    per_client_pending: int = PER_CLIENT_PENDING  # events one client may have queued or running
    login: bool = False  # show "Sign in with Hugging Face" (gr.LoginButton)
    require_login: bool = False  # only logged-in annotators' votes and labels count (all are stored)
    identity_words: Path | None = None  # the identity filter's word list (default: identity.DEFAULT_WORDS)
    public_votes: bool = False  # create the Hub mirror of the votes public (default private)

    def __post_init__(self) -> None:
        for name in ("client_rate_limit", "queue_size", "per_client_pending"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be a whole number, 1 or more, not {value!r}")

    @property
    def show_login(self) -> bool:
        return self.login or self.require_login

    def identity_filter(self) -> IdentityFilter:
        return IdentityFilter.from_file(self.identity_words) if self.identity_words else IdentityFilter()

    @classmethod
    def from_env(cls) -> GuardSettings:
        """``CVALUES_TRUST_PROXY``, ``CVALUES_CLIENT_RATE_LIMIT``, ``CVALUES_QUEUE_SIZE``,
        ``CVALUES_REQUIRE_LOGIN_FOR_DATA``, ``CVALUES_IDENTITY_WORDS``, ``CVALUES_PUBLIC_VOTES``."""
        on_space = bool(os.environ.get("SPACE_ID"))
        words = os.environ.get("CVALUES_IDENTITY_WORDS")
        return cls(trust_proxy=_flag("CVALUES_TRUST_PROXY", on_space),
                   client_rate_limit=_count("CVALUES_CLIENT_RATE_LIMIT", CLIENT_RATE_LIMIT),
                   queue_size=_count("CVALUES_QUEUE_SIZE", QUEUE_SIZE),
                   login=bool(os.environ.get("OAUTH_CLIENT_ID")),
                   require_login=_flag("CVALUES_REQUIRE_LOGIN_FOR_DATA", False),
                   identity_words=Path(words) if words else None,
                   public_votes=_flag("CVALUES_PUBLIC_VOTES", False))


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    return default if not value else value in ("1", "true", "yes", "on")


def _count(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    try:
        return int(value) if value else default
    except ValueError as err:
        raise ValueError(f"{name} must be a whole number, not {value!r}") from err


def add_flags(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("abuse and privacy", "what one visitor may take, and what is counted and published")
    g.add_argument("--trust-proxy", action="store_true",
                   help="read the client address from the first X-Forwarded-For hop (as on Hugging Face Spaces); "
                        "only behind a proxy that sets that header")
    g.add_argument("--client-rate-limit", type=int, default=CLIENT_RATE_LIMIT, metavar="N",
                   help=f"battles, and votes + labels, per client address per minute (default {CLIENT_RATE_LIMIT})")
    g.add_argument("--queue-size", type=int, default=QUEUE_SIZE, metavar="N",
                   help=f"requests waiting in the queue, all visitors together (default {QUEUE_SIZE})")
    g.add_argument("--login", action="store_true", help="show 'Sign in with Hugging Face' (gr.LoginButton)")
    g.add_argument("--require-login-for-data", action="store_true",
                   help="only logged-in annotators' votes and labels count toward the ratings, aggregates and "
                        "dataset pairs (anonymous ones are still stored); implies --login")
    g.add_argument("--identity-words", type=Path, metavar="FILE",
                   help="word list of model and maker names (one a line) whose battles are left out of the "
                        "ratings and the dataset (default: a built-in list)")
    g.add_argument("--public-votes", action="store_true",
                   help="create the Hub mirror of the votes ($CVALUES_VOTES_REPO) public (default private)")


def from_args(args: argparse.Namespace) -> GuardSettings:
    return GuardSettings(trust_proxy=args.trust_proxy, client_rate_limit=args.client_rate_limit,
                         queue_size=args.queue_size, login=args.login, require_login=args.require_login_for_data,
                         identity_words=args.identity_words, public_votes=args.public_votes)
