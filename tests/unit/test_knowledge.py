"""The knowledge base's logic: chunking, parsing each format (and refusing bad
files), facts within a token budget, searches reused by text, and the turn
engine searching on the speculative transcript."""

from __future__ import annotations

import asyncio
import io
import itertools
from collections.abc import Sequence

import numpy as np
import pytest

from mediaserver.agents import Agent
from mediaserver.config_knowledge import KnowledgeConfig
from mediaserver.conversation.knowledge import (
    NOT_COVERED,
    NOT_COVERED_FACTS,
    Fact,
    Facts,
    Retrieval,
    facts_for_prompt,
)
from mediaserver.events import AgentSpoke
from mediaserver.knowledge.chunk import chunks
from mediaserver.knowledge.index import KnowledgeIndex, top_facts
from mediaserver.knowledge.parse import DocumentError, content_type, parse
from mediaserver.store.documents import AgentChunks
from tests.fake_speech import FakeSpeech, Line, simulate

GREETING_END = 0.05 + len(Agent().greeting.split()) * 0.06 + 0.1


# -- chunking ---------------------------------------------------------------------
def test_chunks_overlap_and_cover_every_word() -> None:
    words = [f"w{i}" for i in range(1000)]
    pieces = chunks(" ".join(words), words=100, overlap=20)
    assert all(len(p.split()) <= 100 for p in pieces)
    seen = [w for p in pieces for w in p.split()]
    assert set(seen) == set(words)
    for before, after in itertools.pairwise(pieces):
        assert before.split()[-20:] == after.split()[:20]  # the overlap


def test_chunks_end_at_a_sentence_when_one_is_near() -> None:
    sentence = "The clinic opens at eight in the morning on weekdays."  # 10 words
    pieces = chunks(" ".join([sentence] * 30), words=45, overlap=5)
    assert all(p.endswith(".") for p in pieces)
    assert all(len(p.split()) <= 45 for p in pieces)


def test_short_text_is_one_chunk_and_bad_sizes_are_refused() -> None:
    assert chunks("Parking is free.") == ["Parking is free."]
    assert chunks("   ") == []
    with pytest.raises(ValueError, match="overlap"):
        chunks("a b c", words=10, overlap=10)


# -- parsing ----------------------------------------------------------------------
def pdf_bytes(text: str, password: str | None = None) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.multi_cell(0, 8, text)
    data = bytes(pdf.output())
    if password is None:
        return data
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(password)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def docx_bytes(paragraphs: list[str]) -> bytes:
    import docx

    document = docx.Document()
    for text in paragraphs:
        document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def test_each_format_gives_its_text() -> None:
    assert "Parking is free" in parse("pdf", pdf_bytes("Parking is free behind the clinic."))
    assert parse("docx", docx_bytes(["First.", "Second."])) == "First.\n\nSecond."
    assert parse("txt", "Caf\u00e9 hours: 9 to 5.\n".encode()) == "Caf\u00e9 hours: 9 to 5."
    assert (
        parse("md", b"# Prices\n\n* cleaning: 80 dollars") == "# Prices\n\n* cleaning: 80 dollars"
    )
    assert parse("txt", "Hello".encode("utf-16")) == "Hello"
    html = (
        b"<html><head><title>x</title><style>p{}</style></head><body>"
        b"<p>Open &amp; friendly</p><script>evil()</script><p>Free parking</p></body></html>"
    )
    assert parse("html", html) == "Open & friendly\n\nFree parking"


@pytest.mark.parametrize(
    ("kind", "data", "reason"),
    [
        ("txt", b"", "empty"),
        ("pdf", b"", "empty"),
        ("pdf", b"%PDF-1.4\nnot really a pdf at all", "PDF cannot be read"),
        ("pdf", b"hello, I am text", "not a PDF"),
        ("docx", b"PK\x03\x04 broken zip", "DOCX file cannot be read"),
        ("docx", b"plain text", "DOCX file cannot be read"),
        ("txt", b"\xff\xfe\xff\xd8 \x00\x01", "not UTF-8"),
        ("txt", b"caf\xe9 latin-1", "not UTF-8"),
        ("txt", b"\x00\x01\x02binary", "binary"),
        ("txt", b"  \n\n \t ", "no text"),
        ("html", b"<html><script>only()</script></html>", "no text"),
    ],
)
def test_bad_files_are_refused_with_the_reason(kind: str, data: bytes, reason: str) -> None:
    with pytest.raises(DocumentError, match=reason):
        parse(kind, data)


def test_an_encrypted_or_textless_pdf_is_refused() -> None:
    with pytest.raises(DocumentError, match="encrypted"):
        parse("pdf", pdf_bytes("Secret prices.", password="pw"))
    with pytest.raises(DocumentError, match="no text"):
        parse("pdf", pdf_bytes(""))


def test_the_type_comes_from_the_name() -> None:
    assert [content_type(n) for n in ("a.PDF", "b.docx", "c.md", "d.htm", "e.txt")] == [
        "pdf",
        "docx",
        "md",
        "html",
        "txt",
    ]
    for name in ("photo.jpg", "noext", "archive.zip", "old.doc"):
        with pytest.raises(DocumentError, match="unsupported type"):
            content_type(name)


# -- facts and search ---------------------------------------------------------------
def fact(chunk_id: int, document: str, words: int) -> Fact:
    return Fact(chunk_id, document, " ".join(["word"] * words), 1.0 - chunk_id / 100)


def test_facts_fit_the_budget_one_message_per_document() -> None:
    found = [fact(1, "prices.pdf", 40), fact(2, "hours.md", 40), fact(3, "prices.pdf", 40)]
    facts = facts_for_prompt(found, budget_tokens=200)
    assert facts.chunk_ids == (1, 2, 3)
    assert [m["content"].split(":")[0] for m in facts.messages] == [
        "Facts from prices.pdf",
        "Facts from hours.md",
    ]
    assert all(m["role"] == "system" for m in facts.messages)
    small = facts_for_prompt(found, budget_tokens=120)
    assert small.chunk_ids == (1, 2)  # the third does not fit
    assert facts_for_prompt(found, budget_tokens=10).messages == ()


def test_top_facts_are_the_nearest_above_the_floor() -> None:
    vectors = np.eye(4, dtype=np.float32)
    chunks_ = AgentChunks(np.array([10, 11, 12, 13]), ["a", "b", "c", "d"], ["x.txt"] * 4, vectors)
    query = np.array([0.8, 0.6, 0.0, 0.0], dtype=np.float32)
    assert [f.chunk_id for f in top_facts(chunks_, query, 3, 0.1)] == [10, 11]
    assert [f.chunk_id for f in top_facts(chunks_, query, 1, 0.1)] == [10]
    empty = AgentChunks(np.zeros(0, np.int64), [], [], np.zeros((0, 4), np.float32))
    assert top_facts(empty, query, 3, 0.1) == []


class FakeKnowledge:
    def __init__(self, seconds: float = 0.01) -> None:
        self.seconds = seconds
        self.searched: list[str] = []

    async def search(self, text: str) -> Sequence[Fact]:
        self.searched.append(text)
        await asyncio.sleep(self.seconds)
        return [Fact(7, "faq.md", f"About {text}: yes.", 0.9)]


def test_a_search_is_made_once_per_text_and_a_slow_one_is_skipped() -> None:
    async def main() -> None:
        knowledge = FakeKnowledge()
        retrieval = Retrieval(knowledge)
        first = asyncio.create_task(retrieval.facts("Do you do  implants?"))
        await asyncio.sleep(0)
        first.cancel()  # a speculation taken back mid-search
        again = await retrieval.facts("do you do implants?")
        assert again.chunk_ids == (7,)
        assert knowledge.searched == ["do you do implants?"]
        slow = Retrieval(FakeKnowledge(seconds=5), timeout_s=0.05)
        assert (await slow.facts("anything")).chunk_ids == ()
        slow.close()

    asyncio.run(main())


def test_a_search_pushed_out_of_memory_still_answers_who_awaits_it() -> None:
    async def main() -> None:
        retrieval = Retrieval(FakeKnowledge(seconds=0.05), remembered=1)
        first = asyncio.create_task(retrieval.facts("first question"))
        await asyncio.sleep(0)
        second = await retrieval.facts("second question")  # pushes the first one out
        assert second.chunk_ids == (7,)
        assert (await first).chunk_ids == (7,)

    asyncio.run(main())


def test_the_engine_searches_the_speculative_transcript_and_records_the_chunks() -> None:
    knowledge = FakeKnowledge(seconds=0.02)
    speech = FakeSpeech(
        answers=["Yes, we do implants."],
        lines=[Line(GREETING_END + 0.5, 1.5, "Do you do implants?")],
    )
    result = simulate(speech, seconds=12, retrieval=Retrieval(knowledge))
    (turn,) = result.engine.turns
    assert knowledge.searched == ["do you do implants?"]
    prompt = speech.prompts[0]
    assert prompt[-2] == {
        "role": "system",
        "content": "Facts from faq.md: About do you do implants?: yes.",
    }
    assert prompt[-1] == {"role": "user", "content": "Do you do implants?"}
    t = turn.timings_ms
    # searched right after the speculative transcription, before the endpointer's word
    assert t["stt_done"] < t["retrieved"] < 600
    spoke = [e for e in result.events if isinstance(e, AgentSpoke) and e.chunks]
    assert [e.chunks for e in spoke] == [(7,)]
    assert turn.chunks == (7,)


def test_without_knowledge_the_prompt_has_no_facts() -> None:
    speech = FakeSpeech(answers=["Yes."], lines=[Line(GREETING_END + 0.5, 1.5, "Implants?")])
    result = simulate(speech, seconds=10)
    assert [m["role"] for m in speech.prompts[0]].count("system") == 1
    assert result.engine.turns[0].chunks == ()


def test_on_a_later_turn_the_facts_come_after_the_history_before_the_question() -> None:
    first = Line(GREETING_END + 0.5, 1.5, "Do you do implants?")
    second = Line(GREETING_END + 6.0, 1.5, "Where can I park?")
    speech = FakeSpeech(answers=["Yes.", "Behind the clinic."], lines=[first, second])
    simulate(speech, seconds=16, retrieval=Retrieval(FakeKnowledge()))
    roles = [(m["role"], m["content"][:10]) for m in speech.prompts[1]]
    assert roles == [
        ("system", "You are Sa"),
        ("user", "Do you do "),
        ("assistant", "Yes."),
        ("system", "Facts from"),
        ("user", "Where can "),
    ]


# -- questions the documents do not cover ------------------------------------------
def test_the_not_covered_line_replaces_facts_exactly_when_none_reaches_the_threshold() -> None:
    found = [Fact(1, "faq.md", "Parking is free.", 0.3), Fact(2, "faq.md", "Open 8 to 6.", 0.1)]
    facts = facts_for_prompt(found, budget_tokens=200, covered_score=0.25)
    assert facts.chunk_ids == (1, 2)
    assert NOT_COVERED not in [m["content"] for m in facts.messages]
    assert facts_for_prompt(found, 200, covered_score=0.3).chunk_ids == (1, 2)  # reached
    assert facts_for_prompt(found, 200, covered_score=0.31) == NOT_COVERED_FACTS
    assert facts_for_prompt([], 200, covered_score=0.2) == NOT_COVERED_FACTS
    assert NOT_COVERED_FACTS.after == ({"role": "system", "content": NOT_COVERED},)
    assert NOT_COVERED_FACTS.messages == ()
    assert NOT_COVERED_FACTS.chunk_ids == ()
    # -1: never (no facts found is then no message at all)
    assert facts_for_prompt([], 200, covered_score=-1.0).messages == ()


class ScoredKnowledge:
    def __init__(self, score: float) -> None:
        self.score = score

    async def search(self, text: str) -> Sequence[Fact]:
        return [Fact(7, "faq.md", "Parking is free behind the clinic.", self.score)]


@pytest.mark.parametrize(("score", "covered"), [(0.2, False), (0.6, True)])
def test_the_engine_tells_the_agent_when_its_documents_do_not_cover_the_question(
    score: float, covered: bool
) -> None:
    speech = FakeSpeech(
        answers=["I don't know, shall someone call you back?"],
        lines=[Line(GREETING_END + 0.5, 1.5, "Do you sell car insurance?")],
    )
    retrieval = Retrieval(ScoredKnowledge(score), covered_score=0.4)
    result = simulate(speech, seconds=12, retrieval=retrieval)
    prompt = speech.prompts[0]
    contents = [m["content"] for m in prompt]
    question = {"role": "user", "content": "Do you sell car insurance?"}
    if covered:
        assert prompt[-1] == question
        assert prompt[-2]["content"].startswith("Facts from faq.md")  # before the words
        assert NOT_COVERED not in contents
        assert result.engine.turns[0].chunks == (7,)
    else:
        assert prompt[-2] == question
        assert prompt[-1] == {"role": "system", "content": NOT_COVERED}  # after the words
        assert not any(c.startswith("Facts from") for c in contents)
        assert result.engine.turns[0].chunks == ()


class StandInDocuments:
    """The store's documents of one agent: `texts`, embedded by StandInEmbedder."""

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts

    def signature(self, agent: str) -> tuple[int, str]:
        return (len(self.texts), "2026-01-01")

    def load(self, agent: str, embedder: str, dim: int) -> AgentChunks:
        vectors = StandInEmbedder().embed(self.texts)
        ids = np.arange(1, len(self.texts) + 1)
        return AgentChunks(ids, self.texts, ["faq.md"] * len(self.texts), vectors)


class StandInEmbedder:
    """A word's vector: one axis per known word (unknown words: none)."""

    name = "stand-in"
    dim = 3
    words = ("parking", "hours", "insurance")

    def embed(self, texts: list[str], query: bool = False) -> np.ndarray:
        vectors = np.array(
            [[float(w in t.lower()) for w in self.words] for t in texts], dtype=np.float32
        )
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms == 0, 1, norms)


class StandInEmbedders:
    def name_for(self, language: str) -> str:
        return "stand-in"

    def get(self, name: str) -> StandInEmbedder:
        return StandInEmbedder()


def index_of(texts: list[str], config: KnowledgeConfig) -> KnowledgeIndex:
    return KnowledgeIndex(StandInDocuments(texts), StandInEmbedders(), config)  # type: ignore[arg-type]


@pytest.mark.parametrize("covered_score", [0.5, -1.0])
def test_an_agent_with_documents_gets_the_line_from_the_config_threshold(
    covered_score: float,
) -> None:
    async def main() -> None:
        config = KnowledgeConfig(covered_score=covered_score)
        index = index_of(["Parking is behind the clinic.", "Opening hours: 8 to 6."], config)
        retrieval = await index.for_call(Agent())
        assert retrieval is not None
        assert (await retrieval.facts("Where is parking?")).chunk_ids == (1,)
        uncovered = await retrieval.facts("Do you sell insurance?")
        if covered_score == -1.0:  # never: no facts found, no line either
            assert uncovered.messages == ()
        else:
            assert uncovered == NOT_COVERED_FACTS
        index.close()

    asyncio.run(main())


def test_an_agent_without_documents_is_unaffected() -> None:
    async def main() -> None:
        index = index_of([], KnowledgeConfig(covered_score=0.9))
        assert await index.for_call(Agent()) is None  # no retrieval: no facts, no line
        index.close()

    asyncio.run(main())
    speech = FakeSpeech(answers=["Yes."], lines=[Line(GREETING_END + 0.5, 1.5, "Insurance?")])
    simulate(speech, seconds=10)
    assert NOT_COVERED not in [m["content"] for m in speech.prompts[0]]
    assert [m["role"] for m in speech.prompts[0]].count("system") == 1


def test_the_threshold_is_checked() -> None:
    with pytest.raises(ValueError, match="covered_score"):
        KnowledgeConfig(covered_score=1.5)


@pytest.mark.parametrize(
    ("said", "told_not_covered"),
    [
        ("Thank you so much, bye!", False),
        ("Okay, great. Have a nice day.", False),
        ("No, that's all.", False),
        ("Do you sell car insurance?", True),
        ("Thanks. Do you sell car insurance?", True),
        ("I need car insurance.", True),
    ],
)
def test_courtesy_alone_gets_no_i_do_not_know_line(said: str, told_not_covered: bool) -> None:
    async def facts() -> Facts:
        return await Retrieval(ScoredKnowledge(0.1), covered_score=0.4).facts(said)

    got = asyncio.run(facts())
    assert (got == NOT_COVERED_FACTS) is told_not_covered
    assert not got.messages  # no fact either way: none reached the threshold
