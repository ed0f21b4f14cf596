"""Text to overlapping chunks of about `words` words, cut at sentence ends
where one is near, so a fact is not split across two chunks more than it must."""

from __future__ import annotations

import re

WORDS = 60  # a few sentences: longer chunks blur the one fact asked for (MiniLM reads 128 tokens)
OVERLAP = 15


def chunks(text: str, words: int = WORDS, overlap: int = OVERLAP) -> list[str]:
    """Chunks of at most `words` words; each repeats the last `overlap` or so of the one before."""
    if not 0 <= overlap < words:
        raise ValueError(f"overlap {overlap} must be at least 0 and under words {words}")
    tokens = text.split()
    out: list[str] = []
    start = 0
    while start < len(tokens):
        end = min(start + words, len(tokens))
        if end < len(tokens):
            end = _sentence_end(tokens, start + words // 2, end)
        out.append(" ".join(tokens[start:end]))
        if end >= len(tokens):
            break
        start = max(end - overlap, start + 1)
    return out


def _sentence_end(tokens: list[str], earliest: int, end: int) -> int:
    """The last sentence end in tokens[earliest:end], else `end`."""
    for i in range(end, earliest, -1):
        if re.search(r"[.!?;:]['\")\]]*$", tokens[i - 1]):
            return i
    return end
