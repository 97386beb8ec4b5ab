"""The identity filter: a battle in which either reply names a model or its maker.

An anonymous battle is only anonymous while neither reply says who wrote it ("我是通义千问",
"As an AI developed by OpenAI"). A voter who recognises a model votes for a name, not for a reply,
so such battles are stored, as every vote is, but left out of the ratings and of the dataset, as
public arena operators do.

The word list is configurable (``cvalues space --identity-words FILE``, one word a line, ``#``
starts a comment). Latin-script words match ignoring case, but not inside a longer word ("Meta"
matches "Meta AI" and "meta-analysis", not "metadata"; "Qwen" matches "Qwen2.5"); Chinese words
match anywhere in the text. A false match only drops a battle from the ratings; a missed one lets
a name through, so the rule leans to matching.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

# Models and their makers that Chinese and English assistants name when asked who they are.
DEFAULT_WORDS: tuple[str, ...] = (
    "ChatGPT", "GPT-3", "GPT-3.5", "GPT-4", "GPT4", "GPT-4o", "OpenAI",
    "通义千问", "通义", "千问", "Qwen", "阿里云", "阿里巴巴", "Alibaba",
    "文心一言", "文心大模型", "ERNIE", "百度公司", "Baidu",
    "ChatGLM", "GLM-4", "智谱", "Zhipu",
    "Baichuan", "百川",
    "Llama", "Meta",
    "Claude", "Anthropic",
    "Gemini", "Bard", "Google DeepMind",
    "DeepSeek", "深度求索",
    "Kimi", "月之暗面", "Moonshot AI",
    "讯飞星火", "科大讯飞", "混元", "Hunyuan", "豆包", "Doubao", "字节跳动",
    "InternLM", "书生·浦语", "零一万物", "MiniMax", "Mistral",
)


def _pattern(word: str) -> str:
    escaped = re.escape(word)
    if word.isascii():  # not inside a longer word ("Meta" is not "metadata"), but "Qwen2.5" is Qwen
        return rf"(?<![A-Za-z0-9]){escaped}(?![A-Za-z])"
    return escaped


class IdentityFilter:
    """Finds the listed model and maker names in a text."""

    def __init__(self, words: Iterable[str] = DEFAULT_WORDS):
        self.words = tuple(dict.fromkeys(w.strip() for w in words if w and w.strip()))
        if not self.words:
            raise ValueError("the identity word list is empty; give at least one word (or leave the option out)")
        # Longest first, so that "通义千问" is reported rather than its prefix "通义".
        ordered = sorted(self.words, key=len, reverse=True)
        self._regex = re.compile("|".join(_pattern(w) for w in ordered), re.IGNORECASE)

    def names(self, text: str) -> list[str]:
        """The listed words ``text`` contains, as listed, in order of first appearance."""
        lookup = {w.casefold(): w for w in self.words}
        found = [lookup.get(m.group(0).casefold(), m.group(0)) for m in self._regex.finditer(text or "")]
        return list(dict.fromkeys(found))

    def battle_names(self, reply_a: str, reply_b: str) -> list[str]:
        """The names either reply of a battle gives away (empty: the battle stays anonymous)."""
        return list(dict.fromkeys(self.names(reply_a) + self.names(reply_b)))

    @classmethod
    def from_file(cls, path: str | Path) -> IdentityFilter:
        """A list from a text file: one word a line; blank lines and ``#`` comments are skipped."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise ValueError(f"--identity-words {path}: cannot read it as UTF-8 text: {err}") from err
        words = [line.split("#", 1)[0].strip() for line in text.splitlines()]
        return cls(w for w in words if w)
