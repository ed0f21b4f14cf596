"""POST /v1/embeddings of a real `mediaserver inference` with the real MiniLM
model: OpenAI's shape, batches, base64, bad requests in OpenAI's error
shape, a full queue refused at once; the remote embedder (what a cluster's
worker searches with) against it; and a call on a cluster's worker whose
agent's document fact reaches the prompt."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest

from mediaserver.agents import Agent
from mediaserver.config import Config, KnowledgeConfig, ModelsConfig
from mediaserver.knowledge.embed import Embedders
from mediaserver.knowledge.index import KnowledgeIndex
from mediaserver.services.remote_embed import RemoteEmbedders
from mediaserver.store import Store
from mediaserver.store.documents import Documents
from models.embed import Embedder
from tests.cluster import start_cluster, stop_cluster
from tests.inference_service import Service, start_service, stop_service
from tests.integration.test_sip import caller, question_wav

pytestmark = pytest.mark.integration

MINILM = "minilm-l6-v2-int8"
PARKING = (
    "Parking for patients is free in the yard behind the clinic, entered from Mill Lane. "
    "There are twelve spaces and two of them are for disabled drivers."
)
INSURANCE = "We accept all major dental insurance plans and send the claim for you."
HOURS = "The clinic opens at eight in the morning and closes at six on weekdays."


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    svc = start_service(tmp_path_factory.mktemp("inference"), "[inference]\nembed_queue = 1\n")
    yield svc
    stop_service(svc)


@pytest.fixture(scope="module")
def local() -> Embedder:
    return Embedders(KnowledgeConfig(), Config().models).get(MINILM)


def embed(service: Service, body: object) -> httpx.Response:
    return httpx.post(f"{service.url}/embeddings", json=body, timeout=60)


def test_one_text_and_a_batch_are_embedded_by_minilm(service: Service, local: Embedder) -> None:
    one = embed(service, {"input": PARKING, "model": MINILM})
    assert one.status_code == 200, one.text
    body = one.json()
    assert body["object"] == "list" and body["model"] == MINILM
    assert body["usage"]["prompt_tokens"] == len(PARKING.split()) == body["usage"]["total_tokens"]
    (item,) = body["data"]
    assert item["object"] == "embedding" and item["index"] == 0
    vector = np.array(item["embedding"], dtype=np.float32)
    assert vector.shape == (384,) and abs(np.linalg.norm(vector) - 1) < 1e-4

    texts = [PARKING, INSURANCE, HOURS]
    batch = embed(service, {"input": texts}).json()  # no model: the English one
    assert batch["model"] == MINILM
    assert [d["index"] for d in batch["data"]] == [0, 1, 2]
    vectors = np.array([d["embedding"] for d in batch["data"]], dtype=np.float32)
    assert vectors.shape == (3, 384)
    # the same model as the local one the control process ingests with
    np.testing.assert_allclose(vectors, local.embed(texts), atol=1e-4)
    np.testing.assert_allclose(vectors[0], vector, atol=1e-4)

    question = embed(service, {"input": "Where can I park my car?", "input_type": "query"}).json()
    scores = vectors @ np.array(question["data"][0]["embedding"], dtype=np.float32)
    assert int(np.argmax(scores)) == 0, scores


def test_base64_is_the_little_endian_float32_vector(service: Service) -> None:
    plain = embed(service, {"input": [HOURS]}).json()["data"][0]["embedding"]
    packed = embed(service, {"input": [HOURS], "encoding_format": "base64"}).json()
    vector = np.frombuffer(base64.b64decode(packed["data"][0]["embedding"]), dtype="<f4")
    np.testing.assert_allclose(vector, plain, atol=1e-6)


def test_the_models_list_names_the_embedding_model(service: Service) -> None:
    listed = httpx.get(f"{service.url}/models", timeout=10).json()
    assert MINILM in [m["id"] for m in listed["data"]]


def test_bad_requests_get_openai_shaped_errors(service: Service) -> None:
    cases = {
        "no input": ({"model": MINILM}, 400),
        "empty list": ({"input": []}, 400),
        "empty text": ({"input": ["fine", ""]}, 400),
        "token ids": ({"input": [101, 2054, 102]}, 400),
        "not text": ({"input": {"text": "x"}}, 400),
        "too many": ({"input": ["a"] * 257}, 400),
        "unknown model": ({"input": "x", "model": "text-embedding-3-small"}, 404),
        "wrong dimensions": ({"input": "x", "dimensions": 1536}, 400),
        "bad format": ({"input": "x", "encoding_format": "int8"}, 400),
    }
    for name, (body, status) in cases.items():
        response = embed(service, body)
        assert response.status_code == status, (name, response.text)
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"} and error["message"], name
    not_json = httpx.post(
        f"{service.url}/embeddings",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert not_json.status_code == 400
    unknown = embed(service, {"input": "x", "model": "gpt-9"}).json()["error"]
    assert unknown["code"] == "model_not_found" and MINILM in unknown["message"]


def test_a_full_queue_is_refused_at_once_with_503(service: Service) -> None:
    long_text = " ".join([PARKING] * 6)  # cut at 128 tokens: each text is a full window
    body = {"input": [f"{i} {long_text}" for i in range(256)]}
    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(lambda _: embed(service, body), range(6)))
    statuses = sorted(r.status_code for r in responses)
    # one running and one waiting (embed_queue = 1) are answered; the rest were refused
    assert statuses.count(200) >= 2 and 503 in statuses, statuses
    refused = next(r for r in responses if r.status_code == 503)
    assert refused.json()["error"]["code"] == "overloaded"
    assert refused.headers["Retry-After"] == "1"
    assert embed(service, {"input": "after"}).status_code == 200


def test_the_remote_embedder_searches_an_agent_index_via_the_service(
    service: Service, local: Embedder, tmp_path: Path
) -> None:
    models = ModelsConfig(backend="remote", url=service.url)
    remote = RemoteEmbedders(KnowledgeConfig(), models)
    assert remote.name_for("en-US") == MINILM
    embedder = remote.get(MINILM)
    assert embedder.dim == 384
    texts = [PARKING, INSURANCE, HOURS]
    np.testing.assert_allclose(embedder.embed(texts), local.embed(texts), atol=1e-4)
    # what a worker does: the chunks from the shared store, the query embedded remotely
    store = Store.open(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        documents = Documents(store)
        row = documents.add("default", "clinic.txt", "txt", 100)
        assert documents.ready(row["id"], MINILM, texts, local.embed(texts))
        index = KnowledgeIndex(documents, remote, KnowledgeConfig())
        knowledge = index.load_now(Agent())
        assert knowledge is not None

        async def search() -> list[str]:
            found = await knowledge.search("Where can I park my car?")
            await remote.aclose()
            return [fact.text for fact in found]

        found = asyncio.run(search())
        assert found[0] == PARKING, found
        index.close()
    finally:
        store.close()
    unknown = RemoteEmbedders(KnowledgeConfig(), models)
    with pytest.raises(Exception, match="not served here"):
        unknown.get("no-such-model")


def test_a_worker_call_is_answered_with_its_agent_document(
    service: Service, tmp_path: Path
) -> None:
    models = f'[models]\nbackend = "remote"\nurl = "{service.url}"\n'
    knowledge = "[knowledge]\ntimeout_ms = 5000\n"  # a loaded test machine is slow, not wrong
    srv = start_cluster(
        tmp_path,
        1,
        agent_extra=models + knowledge,
        env={
            "MEDIASERVER_FAKE_SPEECH_HEARD": "Where can I park my car?",
            "MEDIASERVER_FAKE_SPEECH_FACTS": "1",  # it answers with the facts it was given
        },
    )
    try:
        auth = {"Authorization": f"Bearer {srv.key}"}
        base = f"http://127.0.0.1:{srv.http_port}"
        text = f"{PARKING}\n\n{INSURANCE}\n\n{HOURS}\n".encode()
        response = httpx.post(
            f"{base}/agents/default/documents",
            files={"file": ("clinic.txt", text, "text/plain")},
            headers=auth,
            timeout=30,
        )
        assert response.status_code == 202, response.text
        document = response.json()
        deadline = time.monotonic() + 60
        while document["status"] == "processing" and time.monotonic() < deadline:
            time.sleep(0.2)
            document = httpx.get(
                f"{base}/agents/default/documents/{document['id']}", headers=auth
            ).json()
        assert document["status"] == "ready", document

        question = question_wav(tmp_path, "Where can I park my car?")
        result = caller(
            "--to", srv.uri, "--play", str(question), "--play-at", "5.5", "--seconds", "12"
        )
        assert result["connected"], result
        record = srv.newest_call()
        assert record["worker"] == "w1"
        turns = record["turns"]
        assert isinstance(turns, list)
        answered = [t for t in turns if t["speaker"] == "agent" and t["chunks"]]
        assert answered, (turns, srv.tail())
        # the fake LLM said the facts its prompt held: retrieval on the worker put them
        # there (the turn keeps what the caller heard before hanging up: the first words)
        assert "Facts from clinic.txt: Parking for patients is free" in answered[0]["text"]
    finally:
        assert stop_cluster(srv) == 0
