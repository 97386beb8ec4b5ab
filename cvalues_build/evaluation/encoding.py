"""Text to the token ids the scorers run, many texts per tokenizer call.

A fast tokenizer encodes a list of texts in one call, in Rust and in parallel; one call per text
pays Python and call overhead every time, which dominates for prompts of a few hundred
characters. Every batched function here returns exactly what its one-text-at-a-time
counterpart returns (the tests hold them equal item by item).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

# How far back from the end of a context the append check looks. A continuation whose tokens
# merge with the context's last characters (BPE "复" + "1" -> "复1") changes the last few tokens;
# 64 characters is far more than any tokenizer's merges reach across a boundary.
BOUNDARY_CHARS = 64
# Texts per tokenizer call: bounds the encodings held at once, still large enough to amortise.
CALL_TEXTS = 2048


@dataclass
class Request:
    """One item's encoded choices.

    ``tokens`` is what the batched pass runs. In the single-pass case it is the shared sequence
    (every choice minus its last token) and ``last`` holds each choice's final token; otherwise
    ``tokens`` is the common prefix and ``suffixes`` the per-choice remainders. ``starts[c]`` is
    where choice c's continuation begins (tokens from there on are scored).
    """

    tokens: list[int]
    starts: list[int]
    last: list[int] | None = None
    suffixes: list[list[int]] | None = None
    full_lengths: list[int] = field(default_factory=list)

    @property
    def single_pass(self) -> bool:
        return self.last is not None


def common_prefix_len(seqs: Sequence[Sequence[int]]) -> int:
    first = seqs[0]
    n = min(len(s) for s in seqs)
    for s in seqs[1:]:
        # One slice comparison (in C) settles the usual case; the loop only finds where they part.
        if s[:n] != first[:n]:
            n = next(i for i in range(n) if s[i] != first[i])
    return n


def token_ids(tokenizer: Any, texts: Sequence[str], add_special_tokens: bool = True) -> list[list[int]]:
    """``[tokenizer(t)["input_ids"] for t in texts]`` in batched tokenizer calls."""
    out: list[list[int]] = []
    for start in range(0, len(texts), CALL_TEXTS):
        chunk = list(texts[start:start + CALL_TEXTS])
        out += [list(ids) for ids in tokenizer(chunk, add_special_tokens=add_special_tokens)["input_ids"]]
    return out


def _check_continuations(continuations: Sequence[str]) -> None:
    if len(continuations) < 2:
        raise ValueError("need at least two continuations to compare")


def request_from_ids(ctx: list[int], fulls: list[list[int]], continuations: Sequence[str]) -> Request:
    """The request for a context's tokens and each ``context + continuation``'s tokens: scored
    from the first token that differs from the context alone (tokenisers may merge across the
    boundary)."""
    starts = [common_prefix_len([ctx, f]) for f in fulls]
    for c, (s, f) in enumerate(zip(starts, fulls, strict=True)):
        if s == 0:
            raise ValueError("the context encodes to no tokens, so the first continuation token has nothing to condition on")
        if s >= len(f):
            raise ValueError(f"continuation {continuations[c]!r} adds no tokens after the context")
    lengths = {len(f) for f in fulls}
    shared = fulls[0][:-1]
    if len(lengths) == 1 and all(f[:-1] == shared for f in fulls):
        return Request(tokens=shared, starts=starts, last=[f[-1] for f in fulls], full_lengths=[len(f) for f in fulls])
    # Keep at least one token in every suffix, so each choice's last position is computed in its
    # own branch (a choice may be a prefix of another).
    cut = min(common_prefix_len(fulls), min(len(f) for f in fulls) - 1)
    return Request(tokens=fulls[0][:cut], starts=starts, suffixes=[f[cut:] for f in fulls],
                   full_lengths=[len(f) for f in fulls])


def encode_request(tokenizer: Any, context: str, continuations: Sequence[str], add_special_tokens: bool = True) -> Request:
    """Tokenise ``context + continuation`` as a whole and score from the first token that
    differs from the context alone. One item; ``encode_requests`` does many at once."""
    _check_continuations(continuations)
    ctx = tokenizer(context, add_special_tokens=add_special_tokens)["input_ids"]
    fulls = [tokenizer(context + c, add_special_tokens=add_special_tokens)["input_ids"] for c in continuations]
    return request_from_ids(ctx, fulls, continuations)


def encode_requests(tokenizer: Any, contexts: Sequence[str], continuations: Sequence[str],
                    add_special_tokens: bool = True) -> list[Request]:
    """``[encode_request(tokenizer, c, continuations) for c in contexts]``, with the contexts in
    batched tokenizer calls and each continuation's tokens appended where that is exact (see
    ``appended_tokens``); the other contexts are tokenised with their continuations, also batched."""
    _check_continuations(continuations)
    if not contexts:
        return []
    ctx_ids = token_ids(tokenizer, contexts, add_special_tokens)
    appended = appended_tokens(tokenizer, contexts, continuations, add_special_tokens)
    slow = [i for i, a in enumerate(appended) if a is None]
    k = len(continuations)
    slow_fulls = token_ids(tokenizer, [contexts[i] + c for i in slow for c in continuations], add_special_tokens)
    fulls_of = {i: slow_fulls[j * k:(j + 1) * k] for j, i in enumerate(slow)}
    reqs = []
    for i, (ctx, conts) in enumerate(zip(ctx_ids, appended, strict=True)):
        fulls = fulls_of[i] if conts is None else [ctx + cont for cont in conts]
        reqs.append(request_from_ids(ctx, fulls, continuations))
    return reqs


def appended_tokens(tokenizer: Any, contexts: Sequence[str], continuations: Sequence[str],
                    add_special_tokens: bool = True) -> list[list[list[int]] | None]:
    """Per context, the tokens each continuation adds when appended to it, or None where
    ``tokens(context + continuation)`` is not ``tokens(context) + those tokens``.

    Two checks. Once: the tokenizer adds its special tokens only before the text (a template
    that appends an end token would put the continuation after it). Per distinct context ending
    (its last ``BOUNDARY_CHARS`` characters; every cvalues prompt ends with the same question and
    answer prefix, so there are few): the ending's tokens followed by the continuation's equal
    the tokens of ending + continuation, so nothing merges across the boundary. The endings are
    tokenised together in one call."""
    if add_special_tokens:
        with_special = token_ids(tokenizer, [contexts[0]], True)[0]
        plain = token_ids(tokenizer, [contexts[0]], False)[0]
        if len(with_special) < len(plain) or with_special[len(with_special) - len(plain):] != plain:
            return [None] * len(contexts)
    endings = list(dict.fromkeys(c[-BOUNDARY_CHARS:] for c in contexts))
    k = len(continuations)
    ids = token_ids(tokenizer, endings + [e + c for e in endings for c in continuations], False)
    added: dict[str, list[list[int]] | None] = {}
    for j, ending in enumerate(endings):
        base = ids[j]
        conts = []
        for full in ids[len(endings) + j * k:len(endings) + (j + 1) * k]:
            if len(full) <= len(base) or full[:len(base)] != base:
                conts = None
                break
            conts.append(full[len(base):])
        added[ending] = conts
    return [added[c[-BOUNDARY_CHARS:]] for c in contexts]
