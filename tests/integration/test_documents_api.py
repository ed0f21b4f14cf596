"""/agents/{name}/documents against real stores (SQLite and PostgreSQL) with
the real embedding model: upload, list with status, replace, delete, the
roles, and every kind of bad document refused with its 4xx and nothing stored."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mediaserver.agents import Agent, AgentBook
from mediaserver.app import ControlPlane, control_plane, create_http_app
from mediaserver.config import ApiConfig, Config, KnowledgeConfig, ServerConfig
from mediaserver.conversation.knowledge import NOT_COVERED_FACTS, Facts
from mediaserver.knowledge.index import KnowledgeIndex
from mediaserver.knowledge.ingest import Ingest
from mediaserver.knowledge.wiring import knowledge_base
from mediaserver.store.documents import Documents
from tests.unit.test_knowledge import docx_bytes, pdf_bytes

pytestmark = pytest.mark.integration

FACTS = (
    "Riverside Dental answers questions about its services. "
    "Parking is free in the yard behind the clinic, entered from Mill Lane. "
    "Teeth whitening costs 250 dollars and takes one hour. "
    "Dr. Patel speaks English, Hindi and Gujarati. "
)


class Setup:
    def __init__(self, client: TestClient, plane: ControlPlane, ingest: Ingest) -> None:
        self.client = client
        self.plane = plane
        self.ingest = ingest
        self.index: KnowledgeIndex = ingest.index
        self.documents = Documents(plane.store)
        self.admin = {"Authorization": f"Bearer {plane.store.create_key('admin')}"}
        self.viewer = {"Authorization": f"Bearer {plane.store.create_key('viewer')}"}

    def upload(
        self, name: str, data: bytes, agent: str = "default", headers: dict[str, str] | None = None
    ) -> Any:
        return self.client.post(
            f"/agents/{agent}/documents",
            files={"file": (name, data, "application/octet-stream")},
            headers=headers or self.admin,
        )

    def listed(self, agent: str = "default") -> list[dict[str, Any]]:
        response = self.client.get(f"/agents/{agent}/documents", headers=self.viewer)
        assert response.status_code == 200, response.text
        return list(response.json())

    def settled(self, document_id: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            row = self.client.get(
                f"/agents/default/documents/{document_id}", headers=self.viewer
            ).json()
            if row["status"] != "processing":
                return dict(row)
            time.sleep(0.1)
        raise AssertionError("the document stayed processing")

    def ingest_idle(self, agent: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while any(d["status"] == "processing" for d in self.documents.of_agent(agent)):
            assert time.monotonic() < deadline, "documents stayed processing"
            time.sleep(0.1)

    def nothing_stored(self) -> None:
        assert self.listed() == []
        assert self.documents.chunk_count("default") == 0


def make(store_url: str, tmp_path: Path, knowledge: KnowledgeConfig) -> Iterator[Setup]:
    config = Config(
        server=ServerConfig(data_dir=str(tmp_path / "data")),
        api=ApiConfig(store_url=store_url),
        knowledge=knowledge,
    )
    plane = control_plane(config)
    book = AgentBook(Agent(), plane.store)
    ingest, index = asyncio.run(knowledge_base(config, plane.store, book))
    app = create_http_app(config, plane, lambda: {"models": True}, knowledge=(ingest, book))
    with TestClient(app) as client:
        yield Setup(client, plane, ingest)
    index.close()
    plane.close()


@pytest.fixture
def kb(store_url: str, tmp_path: Path) -> Iterator[Setup]:
    yield from make(store_url, tmp_path, KnowledgeConfig(max_upload_mb=1))


def test_a_pdf_becomes_ready_and_is_found(kb: Setup) -> None:
    response = kb.upload("clinic.pdf", pdf_bytes(FACTS * 3))
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "processing"
    done = kb.settled(response.json()["id"])
    assert (done["status"], done["reason"], done["name"]) == ("ready", "", "clinic.pdf")
    assert done["chunk_count"] >= 1
    (listed,) = kb.listed()
    assert listed["status"] == "ready" and "reason" in listed
    knowledge = kb.index.load_now(Agent())
    assert knowledge is not None
    (best, *_) = knowledge.search_now("where can I park my car")
    assert "Parking is free" in best.text and best.document == "clinic.pdf"


def test_a_question_no_document_covers_gets_the_not_covered_line(kb: Setup) -> None:
    done = kb.settled(kb.upload("clinic.txt", FACTS.encode()).json()["id"])
    assert done["status"] == "ready", done

    async def ask(*questions: str) -> list[Facts]:
        retrieval = await kb.index.for_call(Agent())
        assert retrieval is not None
        try:
            return [await retrieval.facts(q) for q in questions]
        finally:
            retrieval.close()

    parking, france = asyncio.run(ask("Where can I park my car?", "What is the capital of France?"))
    assert parking.chunk_ids and "Parking is free" in parking.messages[0]["content"]
    assert france == NOT_COVERED_FACTS  # real MiniLM: nothing near, at the default threshold


def test_every_format_is_accepted(kb: Setup) -> None:
    files = {
        "a.docx": docx_bytes(["Whitening costs 250 dollars."]),
        "b.txt": b"Parking is free.",
        "c.md": b"# Hours\n\nOpen on Saturday mornings.",
        "d.html": b"<p>Dr. Patel speaks Hindi.</p>",
    }
    ids = []
    for name, data in files.items():
        response = kb.upload(name, data)
        assert response.status_code == 202, (name, response.text)
        ids.append(response.json()["id"])
    assert [kb.settled(i)["status"] for i in ids] == ["ready"] * 4


@pytest.mark.parametrize(
    ("name", "data", "status", "reason"),
    [
        ("empty.txt", b"", 422, "empty"),
        ("broken.pdf", b"%PDF-1.7\n1 0 obj garbage", 422, "PDF cannot be read"),
        ("fake.pdf", b"just text", 422, "not a PDF"),
        ("broken.docx", b"PK\x03\x04garbage", 422, "DOCX"),
        ("latin1.txt", b"caf\xe9", 422, "not UTF-8"),
        ("photo.jpg", b"\xff\xd8\xff\xe0", 415, "unsupported type"),
        ("program.exe", b"MZ\x90\x00", 415, "unsupported type"),
        ("big.txt", b"word " * 216_000, 413, "1 MB limit"),  # over 1 MB, under the form cap
        ("huge.txt", b"word " * 400_000, 413, "1 MB limit"),  # refused on Content-Length
    ],
)
def test_a_bad_document_is_refused_and_nothing_is_stored(
    kb: Setup, name: str, data: bytes, status: int, reason: str
) -> None:
    response = kb.upload(name, data)
    assert response.status_code == status, response.text
    assert reason in response.json()["detail"]
    kb.nothing_stored()


def test_an_encrypted_pdf_is_refused(kb: Setup) -> None:
    response = kb.upload("secret.pdf", pdf_bytes(FACTS, password="pw"))
    assert response.status_code == 422 and "encrypted" in response.json()["detail"]
    kb.nothing_stored()


def test_malformed_requests_are_refused(kb: Setup) -> None:
    url = "/agents/default/documents"
    no_file = kb.client.post(url, files={"other": ("a.txt", b"x")}, headers=kb.admin)
    assert no_file.status_code == 422 and "field 'file'" in no_file.json()["detail"]
    as_json = kb.client.post(url, json={"file": "x"}, headers=kb.admin)
    assert as_json.status_code == 415
    as_form = kb.client.post(url, data={"file": "x"}, headers=kb.admin)
    assert as_form.status_code == 415
    nobody = kb.upload("a.txt", b"text", agent="nobody")
    assert nobody.status_code == 404
    assert kb.client.get("/agents/nobody/documents", headers=kb.viewer).status_code == 404
    bad_id = kb.client.delete(f"{url}/not-an-id", headers=kb.admin)
    assert bad_id.status_code == 422
    kb.nothing_stored()


def test_viewers_list_and_admins_change(kb: Setup) -> None:
    assert kb.upload("a.txt", b"Parking is free.", headers=kb.viewer).status_code == 403
    assert kb.client.get("/agents/default/documents").status_code == 401
    anonymous = kb.client.post("/agents/default/documents", files={"file": ("a.txt", b"x")})
    assert anonymous.status_code == 401
    document = kb.upload("a.txt", b"Parking is free.").json()
    kb.settled(document["id"])
    url = f"/agents/default/documents/{document['id']}"
    assert kb.client.delete(url, headers=kb.viewer).status_code == 403
    assert len(kb.listed()) == 1


def test_uploading_the_same_name_replaces_it(kb: Setup) -> None:
    first = kb.upload("faq.txt", b"Whitening costs 250 dollars.").json()
    kb.settled(first["id"])
    second = kb.upload("faq.txt", b"Whitening now costs 300 dollars.").json()
    assert kb.settled(second["id"])["status"] == "ready"
    (listed,) = kb.listed()
    assert listed["id"] == second["id"]
    knowledge = kb.index.load_now(Agent())
    assert knowledge is not None
    assert knowledge.chunks.texts == ["Whitening now costs 300 dollars."]


def test_delete_removes_the_document_and_its_chunks(kb: Setup) -> None:
    document = kb.upload("faq.txt", b"Whitening costs 250 dollars.").json()
    kb.settled(document["id"])
    assert kb.index.load_now(Agent()) is not None
    url = f"/agents/default/documents/{document['id']}"
    assert kb.client.delete(url, headers=kb.admin).status_code == 204
    kb.nothing_stored()
    assert kb.index.load_now(Agent()) is None
    assert kb.client.delete(url, headers=kb.admin).status_code == 404


def test_a_document_that_cannot_be_embedded_fails_with_the_reason(
    store_url: str, tmp_path: Path
) -> None:
    for kb in make(store_url, tmp_path, KnowledgeConfig(english_model="no-such-model")):
        document = kb.upload("faq.txt", b"Whitening costs 250 dollars.").json()
        failed = kb.settled(document["id"])
        assert failed["status"] == "failed"
        assert "unknown model 'no-such-model'" in failed["reason"]
        assert kb.documents.chunk_count("default") == 0


def test_an_agent_not_in_english_gets_the_multilingual_model(kb: Setup) -> None:
    from models import registry
    from models.store import ModelError, locate

    try:
        locate(registry.by_name("multilingual-e5-small-q4"))
    except ModelError:
        pytest.skip("python -m models install multilingual-e5-small-q4 (not a default model)")
    kb.plane.store.put_agent("kunde", {"languages": ["de"]})
    kb.upload("preise.txt", b"Eine Zahnreinigung kostet 80 Euro.", agent="kunde")
    german = "Kostenlose Parkplätze gibt es im Hof hinter der Praxis."
    response = kb.upload("parken.txt", german.encode(), agent="kunde")
    assert response.status_code == 202, response.text
    kb.ingest_idle("kunde")
    row = kb.documents.get("kunde", response.json()["id"])
    assert row is not None and row["status"] == "ready", row
    assert row["embedder"] == "multilingual-e5-small-q4"
    knowledge = kb.index.load_now(Agent(name="kunde", language="de"))
    assert knowledge is not None
    (best, *_) = knowledge.search_now("Wo kann ich parken?")
    assert best.document == "parken.txt"
