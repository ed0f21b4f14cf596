"""Deleting an agent deletes its knowledge base with it (documents and
chunks, in the same transaction), on SQLite and PostgreSQL: an agent made
again under the same name starts with none, and other agents keep theirs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mediaserver.agents import Agent
from mediaserver.config import KnowledgeConfig
from tests.integration.test_documents_api import Setup, make

pytestmark = pytest.mark.integration


@pytest.fixture
def kb(store_url: str, tmp_path: Path) -> Iterator[Setup]:
    yield from make(store_url, tmp_path, KnowledgeConfig(max_upload_mb=1))


def test_deleting_an_agent_deletes_its_documents_and_chunks(kb: Setup) -> None:
    made = kb.client.post("/agents", headers=kb.admin, json={"name": "sales"})
    assert made.status_code == 201, made.text
    for name, text in (("prices.txt", b"Whitening costs 250 dollars."), ("park.md", b"Park free.")):
        assert kb.upload(name, text, agent="sales").status_code == 202
    assert kb.upload("faq.txt", b"We open at eight.").status_code == 202  # the default agent's
    kb.ingest_idle("sales")
    kb.ingest_idle("default")
    assert kb.documents.chunk_count("sales") == 2
    assert kb.index.load_now(Agent(name="sales")) is not None

    assert kb.client.delete("/agents/sales", headers=kb.admin).status_code == 204
    assert kb.documents.of_agent("sales") == []
    assert kb.documents.chunk_count("sales") == 0
    assert kb.index.load_now(Agent(name="sales")) is None
    # another agent's documents are untouched
    assert [d["name"] for d in kb.listed()] == ["faq.txt"]
    assert kb.documents.chunk_count("default") == 1

    # made again under the same name, the agent knows nothing of the old one's documents
    assert kb.client.post("/agents", headers=kb.admin, json={"name": "sales"}).status_code == 201
    assert kb.listed("sales") == []
    assert kb.index.load_now(Agent(name="sales")) is None


def test_deleting_no_agent_deletes_nothing(kb: Setup) -> None:
    assert kb.upload("faq.txt", b"We open at eight.").status_code == 202
    kb.ingest_idle("default")
    # "default" is the built-in agent, not a stored one: 404, and its documents stay
    assert kb.client.delete("/agents/default", headers=kb.admin).status_code == 404
    assert kb.client.delete("/agents/nobody", headers=kb.admin).status_code == 404
    assert kb.documents.chunk_count("default") == 1
