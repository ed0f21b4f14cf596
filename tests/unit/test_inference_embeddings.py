"""The inference service's embeddings lane with a stand-in model held in its
real thread: a full embeddings queue answers 503 "overloaded" at once, yet
/healthz stays 200 (a call goes on without retrieval: servers must not
refuse calls for it); no embedding model: 404."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from mediaserver.config import InferenceConfig, KnowledgeConfig
from mediaserver.inference.app import create_app
from mediaserver.inference.engines import Embedding, Engines
from mediaserver.inference.metrics import ServiceMetrics
from mediaserver.modelset import ModelSet


class HeldEmbedder:
    name, dim = "minilm-l6-v2-int8", 4

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()

    def embed(self, texts: list[str], query: bool = False) -> np.ndarray:
        self.started.set()
        self.release.wait(10)
        return np.full((len(texts), self.dim), 0.5, dtype=np.float32)


class StandInEmbedders:
    def __init__(self, embedder: HeldEmbedder | None) -> None:
        self.config = KnowledgeConfig(other_model="")
        self.embedder = embedder

    def installed(self, name: str) -> bool:
        return self.embedder is not None

    def get(self, name: str) -> HeldEmbedder:
        assert self.embedder is not None
        return self.embedder


class SpeechModels:
    """Stand-in speech models: not asked here."""

    def transcribe_many(self, jobs: list[Any]) -> list[Any]:
        raise AssertionError("not asked")


def engines(embedder: HeldEmbedder | None) -> Engines:
    unused: Any = SpeechModels()
    return Engines(
        ModelSet(unused, unused, unused),
        ("stt", "llm", "tts"),
        InferenceConfig(embed_queue=1),
        ServiceMetrics(),
        StandInEmbedders(embedder),  # type: ignore[arg-type]
    )


@pytest.fixture
def held() -> Iterator[tuple[Engines, HeldEmbedder]]:
    embedder = HeldEmbedder()
    service = engines(embedder)
    yield service, embedder
    embedder.release.set()
    service.close()


def test_a_full_embeddings_queue_is_refused_but_calls_are_not(
    held: tuple[Engines, HeldEmbedder],
) -> None:
    service, embedder = held
    running = service.embed.submit(Embedding("minilm-l6-v2-int8", ["a"], False))
    assert embedder.started.wait(5)
    waiting = service.embed.submit(Embedding("minilm-l6-v2-int8", ["b"], False))
    assert service.embed.saturated
    client = TestClient(create_app(service))
    refused = client.post("/v1/embeddings", json={"input": "c"})
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "1"
    assert refused.json()["error"]["code"] == "overloaded"
    health = client.get("/healthz")
    assert health.status_code == 200, health.text
    assert health.json()["waiting"]["embed"] == 1
    embedder.release.set()
    assert running.result(5).shape == waiting.result(5).shape == (1, 4)
    answered = client.post("/v1/embeddings", json={"input": ["d", "e"]})
    assert answered.status_code == 200
    assert [d["index"] for d in answered.json()["data"]] == [0, 1]


def test_no_embedding_model_is_a_404() -> None:
    service = engines(None)
    try:
        response = TestClient(create_app(service)).post("/v1/embeddings", json={"input": "x"})
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "model_not_found"
    finally:
        service.close()
