"""Names and other untrusted text on the page: what may be in them, and how they are written into
Markdown so that they show as the text they are.

A model name comes from the models file and is shown in Markdown (the reveal, the label status)
and in the ratings plot. In Markdown, escaping HTML is not enough: a backtick or a newline ends a
code span and a ``*`` or ``[`` starts markup. So names are checked when the models file is read
(``hidden_character``), and every ASCII punctuation character is backslash-escaped on the way out
(``md_text``), which CommonMark (and Gradio's renderer) turns back into the literal character.
"""

from __future__ import annotations

import re
import unicodedata

# Control characters (Cc: newline, tab, escape), format characters (Cf: bidi overrides and
# isolates, zero-width joiners), line and paragraph separators, surrogates, private-use and
# unassigned code points: none of them belongs in a name a visitor reads.
_HIDDEN = {"Cc": "a control character", "Cf": "an invisible format or bidi character",
           "Zl": "a line separator", "Zp": "a paragraph separator", "Cs": "a lone surrogate",
           "Co": "a private-use character", "Cn": "an unassigned code point"}
_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")


def hidden_character(text: str) -> str | None:
    """What is wrong with ``text`` as a name shown to visitors ("U+202E, an invisible format or
    bidi character"), or None when every character is one a reader sees."""
    for ch in text:
        kind = _HIDDEN.get(unicodedata.category(ch))
        if kind:
            return f"U+{ord(ch):04X}, {kind}"
    return None


def md_text(text: str) -> str:
    """``text`` as Markdown that renders to exactly ``text``: every ASCII punctuation character is
    backslash-escaped (``<`` and ``&`` included, so no HTML or entity survives either)."""
    return _PUNCTUATION.sub(r"\\\1", text)


def mathtext_literal(text: str) -> str:
    """``text`` for a matplotlib label: a ``$`` pair would start mathtext, and a name like
    ``a$\\frac$`` would fail the whole figure."""
    return text.replace("$", r"\$")
