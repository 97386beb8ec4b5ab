"""What the Space says when it will not take a request: the message is shown to the visitor.

Its own module so that the arena and the per-visitor limits (``abuse.py``) can both raise them
without importing each other; ``from .arena import VoteRefused`` keeps working.
"""

from __future__ import annotations


class VoteRefused(Exception):
    """A vote, label or battle the server will not take; the message is shown to the visitor."""


class RateLimited(VoteRefused):
    """Over a rate limit; the message says how long to wait."""
