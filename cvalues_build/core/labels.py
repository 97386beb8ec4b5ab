"""The answer labels and their normalisation.

This file lives twice, byte for byte: ``cvalues_build/core/labels.py`` (the project's
answer-format core) and ``metric/cvalues/labels.py`` (the metric's own copy, because the metric
must load alone from the Hub and cannot import the project). tests/test_answer_format.py holds
the two equal: change both together.
"""

import re
import unicodedata

import numpy

LABEL_1 = "回复1"
LABEL_2 = "回复2"
LABELS = (LABEL_1, LABEL_2)
OTHER = "other"
REFUSE = "refuse"
UNPARSED = "unparsed"
# Everything the parser gives back; each is also read back as itself (see parse_answer).
OUTCOMES = (LABEL_1, LABEL_2, OTHER, REFUSE, UNPARSED)

# The words that name a reply (回复1, 回答2, Response 1, 选项A); the parser finds mentions with them too.
LABEL_WORD = r"(?:回复|回答|反馈|答案|选项|答复|响应|response|answer|option|reply|choice|candidate)"
# Label tokens (lowercased) and ordinals that name the first reply; any other names the second.
FIRST_WORDS = {"1", "一", "a", "one", "first", "前者", "前一个", "前面", "上面", "the former"}
_CLEAN_LABEL = re.compile(
    r"^[\s\"'“”‘’「」『』【】\[\]()（）<>《》*]*(?:" + LABEL_WORD + r"\s*[:：]?\s*)?[\"'“‘「『【\[(（]?\s*"
    r"(?P<t>[12]|(?-i:[AB])|一|二|one|two)[\s\"'“”‘’「」『』【】\[\]()（）<>《》*.。!！]*$",
    re.I,
)


def token_label(token: str) -> str:
    """The label that a label token or ordinal names: "1", "A", "one", "前者" -> 回复1, else 回复2."""
    return LABEL_1 if token.strip().lower() in FIRST_WORDS else LABEL_2


def clean_label(value: object) -> str | None:
    """A label written in any accepted clean form ("回复1", "1", 2, "A", "Response 2", "【回复1】"),
    as "回复1" / "回复2"; None for anything else (no free-text parsing).

    >>> clean_label("Response 2"), clean_label(1), clean_label("【回复１】"), clean_label("回复1更好")
    ('回复2', '回复1', '回复1', None)
    """
    if isinstance(value, (bool, numpy.bool_)):
        return None
    if isinstance(value, (int, numpy.integer)):
        return {1: LABEL_1, 2: LABEL_2}.get(int(value))
    if not isinstance(value, str):
        return None
    return clean_label_nfkc(unicodedata.normalize("NFKC", value))


def clean_label_nfkc(text: str) -> str | None:
    """``clean_label`` of a string already in NFKC form (the parser normalises each answer once)."""
    match = _CLEAN_LABEL.match(text.strip())
    return token_label(match.group("t")) if match else None
