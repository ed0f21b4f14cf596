"""Text to the pieces a knowledge base embeds.

`units` (what ingest stores): about a sentence each, so that a question's
best match says whether the documents cover it at all (a 60-word chunk's
similarity blurs the one fact asked for into its neighbours': covered and
uncovered questions scored alike). Each sentence carries the heading of its
section (a short line: "Opening hours: Saturday: 9 am to 1 pm."), so it
still says what it is about alone; a line a PDF wrapped is joined to the
next; a long sentence is cut into overlapping windows.

`chunks`: overlapping windows of about `words` words, cut at sentence ends
where one is near (how documents were stored before units)."""

from __future__ import annotations

import re

WORDS = 60  # chunks(): a few sentences
OVERLAP = 15
UNIT_WORDS = 25  # units(): longer sentences are cut into windows of about this many words
UNIT_OVERLAP = 5
HEADING_WORDS = 3  # a piece this short (a heading, "Contact") is read with the next one
WRAPPED_WORDS = 8  # a line at least this long not ending a sentence was wrapped: joined
MAX_UNIT_WORDS = UNIT_WORDS + HEADING_WORDS  # no unit is longer (index.py tells old chunks by it)

_SENTENCE_END = re.compile(r"[.!?;:]['\")\]]*$")
_STATEMENT_END = re.compile(r"[.!;]['\")\]]*$")
# a full stop that ends an abbreviation or an initial, not a sentence
_ABBREVIATION = re.compile(r"(?:\b(?:Dr|Mr|Mrs|Ms|Prof|St|No|Nr|vs|etc|approx|e\.g|i\.e)|\b[A-Z])\.$")


def units(text: str) -> list[str]:
    """Sentence-sized pieces of `text`, in order, each with the heading of its
    section, none over MAX_UNIT_WORDS words. Short lines in a row (a heading
    and a list of short items) are kept as one unit, never dropped."""
    out: list[str] = []
    heading = ""
    short: list[str] = []  # short lines not yet placed

    def place_short() -> None:
        nonlocal heading
        if len(short) == 1:
            heading = short[0]
        elif short:
            heading = short[0]
            out.extend(_headed(heading, p) for p in chunks(", ".join(short[1:]), UNIT_WORDS, 0))
        short.clear()

    for sentence in _sentences(text):
        if len(sentence.split()) <= HEADING_WORDS and not _STATEMENT_END.search(sentence):
            short.append(sentence)
            continue
        place_short()
        out.extend(_headed(heading, piece) for piece in chunks(sentence, UNIT_WORDS, UNIT_OVERLAP))
    if len(short) == 1:  # a last line alone
        out.append(_headed(heading, short[0]))
    else:
        place_short()
    return out


def _headed(heading: str, piece: str) -> str:
    if not heading:
        return piece
    return f"{heading} {piece}" if _SENTENCE_END.search(heading) else f"{heading}: {piece}"


def _sentences(text: str) -> list[str]:
    """Sentences and stand-alone lines (headings, list items, table rows)."""
    out: list[str] = []
    for block in _blocks(text):
        pieces = re.split(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])", block)
        for piece in pieces:
            if out and out[-1] and _ABBREVIATION.search(out[-1]) and not out[-1].endswith(":"):
                out[-1] = f"{out[-1]} {piece}"
            else:
                out.append(piece)
    return [s for s in out if s]


def _blocks(text: str) -> list[str]:
    """Lines, with a wrapped line joined to the next one; markdown marks stripped."""
    blocks: list[str] = []
    joining = False
    for raw in text.splitlines():
        line = re.sub(r"^\s*(?:#+|[-*+•]|\d+[.)])\s+", "", raw).strip()
        if not line:
            joining = False
            continue
        if joining:
            blocks[-1] = f"{blocks[-1]} {line}"
        else:
            blocks.append(line)
        joining = len(line.split()) >= WRAPPED_WORDS and not _SENTENCE_END.search(line)
    return blocks


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
        if _SENTENCE_END.search(tokens[i - 1]):
            return i
    return end
