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
HEADING_WORDS = 3  # a line this short, ending no statement: a heading ("Contact") or list item
WRAPPED_WORDS = 8  # a line at least this long not ending a sentence was wrapped: joined
MAX_UNIT_WORDS = UNIT_WORDS + HEADING_WORDS  # no unit is longer (index.py tells old chunks by it)

_SENTENCE_END = re.compile(r"[.!?;:]['\")\]]*$")
_STATEMENT_END = re.compile(r"[.!;]['\")\]]*$")
# a full stop that ends an abbreviation or an initial, not a sentence
_ABBREVIATION = re.compile(
    r"(?:\b(?:Dr|Mr|Mrs|Ms|Prof|St|No|Nr|vs|etc|approx|e\.g|i\.e)|\b[A-Z])\.$"
)


def units(text: str) -> list[str]:
    """Sentence-sized pieces of `text`, in order, each with the heading of its
    section, none over MAX_UNIT_WORDS words. Short lines in a row (a heading
    and a list of short items) are kept as one unit under the first; a
    heading with nothing under it (a title) is a unit alone: no word is lost."""
    out: list[str] = []
    heading, heading_used = "", True
    short: list[str] = []  # short lines not yet placed

    def add(sentence: str, overlap: int) -> None:
        nonlocal heading_used
        out.extend(_headed(heading, p) for p in chunks(sentence, UNIT_WORDS, overlap))
        heading_used = True

    def new_heading(line: str) -> None:
        nonlocal heading, heading_used
        if not heading_used:
            out.append(heading)
        heading, heading_used = line, False

    def place_short() -> None:
        if short:
            new_heading(short[0])
        if len(short) > 1:
            add(", ".join(short[1:]), 0)
        short.clear()

    for sentence in _sentences(text):
        if not sentence:  # a blank line: what is short before it is a group of its own
            place_short()
        elif len(sentence.split()) <= HEADING_WORDS and not _STATEMENT_END.search(sentence):
            short.append(sentence)
        else:
            place_short()
            add(sentence, UNIT_OVERLAP)
    place_short()
    if not heading_used:
        out.append(heading)
    return out


def _headed(heading: str, piece: str) -> str:
    if not heading:
        return piece
    return f"{heading} {piece}" if _SENTENCE_END.search(heading) else f"{heading}: {piece}"


def _sentences(text: str) -> list[str]:
    """Sentences and stand-alone lines (headings, list items, table rows);
    "" where a blank line was."""
    out: list[str] = []
    for block in _blocks(text):
        if not block:
            out.append("")
            continue
        for piece in re.split(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])", block):
            if out and out[-1] and _ABBREVIATION.search(out[-1]):
                out[-1] = f"{out[-1]} {piece}"
            else:
                out.append(piece)
    return out


def _blocks(text: str) -> list[str]:
    """Lines, a wrapped line joined to the next one, markdown marks stripped;
    "" for a blank line."""
    blocks: list[str] = []
    joining = False
    for raw in text.splitlines():
        line = re.sub(r"^\s*(?:#+|[-*+•]|\d+[.)])\s+", "", raw).strip()
        if not line:
            if blocks and blocks[-1]:
                blocks.append("")
            joining = False
        elif joining:
            blocks[-1] = f"{blocks[-1]} {line}"
        else:
            blocks.append(line)
        joining = (
            bool(line) and len(line.split()) >= WRAPPED_WORDS and not _SENTENCE_END.search(line)
        )
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
