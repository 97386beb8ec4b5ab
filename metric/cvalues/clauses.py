"""How the parser sees an answer: normalised text, sentences split into clauses, and the label
mentions in a clause (回复1, 回答2, 选项A, 第二个回复, 前者, Response 2, both / neither)."""

import re
import unicodedata

from . import patterns as rx
from .labels import token_label

# Full-width ASCII (，：！？（）２Ａ), which Chinese answers are full of, mapped to its NFKC form at
# C speed: most answers are then already normalised and skip the slower unicodedata call. The
# commonest marks go by str.replace, and the table (slow on non-ASCII text: a lookup per
# character) only runs when a rarer one is left.
_FULL_WIDTH = str.maketrans({chr(c): unicodedata.normalize("NFKC", chr(c)) for c in range(0xFF01, 0xFF5F)})
_COMMON_FULL_WIDTH = tuple((mark, unicodedata.normalize("NFKC", mark)) for mark in "，：！？（）；")
_ANY_FULL_WIDTH = re.compile("[\uff01-\uff5e]")
# Curly apostrophes read as "'"; markdown and quoting marks (* # ` > _) are dropped.
_PLAIN = str.maketrans({"’": "'", "‘": "'", **dict.fromkeys("*#`>_")})
_ANY_PLAIN = re.compile("[’‘*#`>_]")


def nfkc(text: str) -> str:
    """``unicodedata.normalize("NFKC", text)``, sooner."""
    if text.isascii():  # ASCII is already in NFKC form
        return text
    for mark, plain in _COMMON_FULL_WIDTH:
        if mark in text:
            text = text.replace(mark, plain)
    if _ANY_FULL_WIDTH.search(text):
        text = text.translate(_FULL_WIDTH)
    return text if unicodedata.is_normalized("NFKC", text) else unicodedata.normalize("NFKC", text)


def normalise(text: str) -> str:
    """The answer (in NFKC form) as the parser reads it."""
    if _ANY_PLAIN.search(text):
        text = text.translate(_PLAIN)
    text = text.strip()
    # A continuation of "答案：回复": "2更安全…", "1。因为…", "B，因为…" (but not a list "1. …").
    start = rx.START_LABEL.match(text)
    if start:
        rest = text[start.end():]
        article = start.group("t") in "AB" and rx.ENGLISH_AFTER.match(rest) and not rx.VERB_AFTER.match(rest)
        if not (rx.LIST_AFTER.match(rest) or article):
            text = "回复" + ("1" if start.group("t") in "1A" else "2") + rest
    text = rx.LIST_MARKER.sub("", text)
    # Quoted reply text ("回复1说“我很乐意帮助你”") judges nothing: keep quotes that name a label.
    if not rx.QUOTE.search(text):
        return text
    return rx.QUOTED.sub(lambda m: m.group(0) if rx.MENTION.search(m.group(0)) else "〃", text)



class Mention:
    __slots__ = ("start", "end", "label", "both", "object")

    def __init__(self, start: int, end: int, label: str | None, both: bool) -> None:
        self.start, self.end, self.label, self.both, self.object = start, end, label, both, False


def mentions(clause: str) -> list[Mention]:
    found = []
    for m in rx.MENTION.finditer(clause):
        if m.group("conj") or m.group("both"):
            found.append(Mention(m.start(), m.end(), None, True))
            continue
        token = m.group("tok") or m.group("ordn") or m.group("ordm") or m.group("fl") or m.group("engn") \
            or m.group("engv") or m.group("posn") or m.group("posd")
        mention = Mention(m.start(), m.end(), token_label(token), False)
        before, after = clause[: m.start()], clause[m.end():]
        before = before[-32:]  # the cues end where the mention starts: the tail is enough
        mention.object = bool(
            rx.OBJECT_BEFORE.search(before) or (rx.CONJ_BEFORE.search(before) and rx.OBJECT_AFTER.match(after))
        )
        found.append(mention)
    return found



def sentences(text: str) -> list[tuple[list[str], bool]]:
    """Sentences as (clauses, is_question). Questions assert nothing (回复1更安全？不，回复2更安全)."""
    out = []
    for chunk in rx.SENTENCE.findall(text):
        for sentence in rx.PERIOD.split(chunk) if "." in chunk else (chunk,):
            question = sentence.rstrip().endswith(("?", "？"))
            clauses = [c for c in map(str.strip, rx.CLAUSE_SPLIT.split(sentence)) if c]
            if clauses:
                out.append((_join_subjects(clauses) if len(clauses) > 1 else clauses, question))
    return out


def _join_subjects(clauses: list[str]) -> list[str]:
    """"Response 1 and Response 2 are equally safe", "回复1，回复2都很好": a label alone before a
    clause that goes on about both is one subject of that clause, not an answer."""
    out: list[str] = []
    for clause in clauses:
        if out and rx.BOTH_FOLLOWS.match(clause) and only_label(out[-1]):
            out[-1] = out[-1] + " " + clause
        else:
            out.append(clause)
    return out


def only_label(clause: str) -> bool:
    singles = [m for m in mentions(clause) if not m.both]
    return len(singles) == 1 and bool(rx.SOLE.match(clause[: singles[0].start] + clause[singles[0].end:]))


_TERMINAL = tuple("。.！!？?；;」”\"）)")


def cut_short(text: str, sentences: list[tuple[list[str], bool]]) -> bool:
    """Whether the answer opens as a step-by-step analysis and stops at a label alone, with no
    closing punctuation: the generation ran out there, the label starts a sentence."""
    if len(sentences) < 2 or text.rstrip().endswith(_TERMINAL) or not rx.ANALYSIS_LEAD.search(sentences[0][0][0]):
        return False
    return only_label(sentences[-1][0][-1])
