"""The knowledge base's embeddings over HTTP: OpenAI's /v1/embeddings as
`mediaserver inference` serves it, for processes whose models are remote
(`[models] backend = "remote"`: a cluster's media workers). No model is
loaded here.

Two paths: `embed` (blocking, for ingestion and the first load, which run in
worker threads) and `embed_async` (a call's query, on the event loop: a slow
service never holds a thread that other calls' searches wait for)."""

from __future__ import annotations

import logging
import threading
from typing import Any

import httpx
import numpy as np

from mediaserver.config_knowledge import KnowledgeConfig
from mediaserver.config_models import ModelsConfig
from models.store import ModelError

log = logging.getLogger(__name__)

PROBE = "dimension probe"


class EmbeddingFailed(Exception):
    """The service did not embed the texts (the message says why)."""


class RemoteEmbedder:
    """One embedding model of the service (the Embedder protocol, plus embed_async)."""

    def __init__(self, source: RemoteEmbedders, name: str, dim: int) -> None:
        self.source = source
        self.name = name
        self.dim = dim

    def embed(self, texts: list[str], query: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        response = self.source.client.post(self.source.url, json=self._body(texts, query))
        return self._vectors(response, len(texts))

    async def embed_async(self, texts: list[str], query: bool = False) -> np.ndarray:
        response = await self.source.async_client().post(
            self.source.url, json=self._body(texts, query)
        )
        return self._vectors(response, len(texts))

    def _body(self, texts: list[str], query: bool) -> dict[str, Any]:
        return {"model": self.name, "input": texts, "input_type": "query" if query else "passage"}

    def _vectors(self, response: httpx.Response, count: int) -> np.ndarray:
        vectors = parse_embeddings(response, count)
        if vectors.shape[1] != self.dim:
            raise EmbeddingFailed(f"{self.name}: {vectors.shape[1]} dimensions, not {self.dim}")
        return vectors


class RemoteEmbedders:
    """The EmbedderSource of a process without models of its own."""

    def __init__(self, knowledge: KnowledgeConfig, models: ModelsConfig) -> None:
        self.config = knowledge
        base = (models.embed_url or models.url or models.llm_url).rstrip("/")
        self.url = f"{base}/embeddings"
        self.models_url = f"{base}/models"
        headers = {"Authorization": f"Bearer {models.api_key}"} if models.api_key else {}
        self.timeout = httpx.Timeout(models.timeout_seconds)
        self.headers = headers
        self.client = httpx.Client(timeout=self.timeout, headers=headers)
        self._async: httpx.AsyncClient | None = None
        self._loaded: dict[str, RemoteEmbedder] = {}
        self._served: set[str] | None = None
        self._lock = threading.Lock()

    def name_for(self, language: str) -> str:
        """MiniLM for English; the other model if the service serves it (as
        the control process's local choice is: if it is installed)."""
        english, other = self.config.english_model, self.config.other_model
        if language.split("-", maxsplit=1)[0].lower() == "en" or not other or other == english:
            return english
        if other not in self._served_models():
            log.warning("%s is not served: %s is embedded by %s", other, language, english)
            return english
        return other

    def get(self, name: str) -> RemoteEmbedder:
        """The model, its dimension learned from one request (blocking)."""
        with self._lock:
            if (found := self._loaded.get(name)) is not None:
                return found
            try:
                response = self.client.post(self.url, json={"model": name, "input": [PROBE]})
            except httpx.HTTPError as exc:
                raise ModelError(f"embeddings at {self.url}: {exc}") from None
            try:
                dim = parse_embeddings(response, 1).shape[1]
            except EmbeddingFailed as exc:
                raise ModelError(str(exc)) from None
            embedder = self._loaded[name] = RemoteEmbedder(self, name, dim)
            return embedder

    def async_client(self) -> httpx.AsyncClient:
        """Made on first use, in the event loop that uses it."""
        if self._async is None:
            self._async = httpx.AsyncClient(timeout=self.timeout, headers=self.headers)
        return self._async

    def _served_models(self) -> set[str]:
        if self._served is None:
            try:
                response = self.client.get(self.models_url)
                response.raise_for_status()
                self._served = {str(m.get("id")) for m in response.json().get("data", [])}
            except (httpx.HTTPError, ValueError, AttributeError) as exc:
                log.warning("%s cannot be read (%s)", self.models_url, exc)
                return set()  # asked again next time
        return self._served

    async def aclose(self) -> None:
        self.client.close()
        if self._async is not None:
            await self._async.aclose()


def parse_embeddings(response: httpx.Response, count: int) -> np.ndarray:
    """OpenAI's embeddings response -> (count, dim) float32, L2-normalized."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != 200:
        error = body.get("error") if isinstance(body, dict) else None
        message = error.get("message") if isinstance(error, dict) else response.text[:200]
        raise EmbeddingFailed(f"embeddings: HTTP {response.status_code}: {message}")
    try:
        rows = sorted(body["data"], key=lambda item: int(item["index"]))
        vectors = np.array([row["embedding"] for row in rows], dtype=np.float32)
    except (TypeError, KeyError, ValueError) as exc:
        raise EmbeddingFailed(f"embeddings: a malformed response ({exc})") from None
    if vectors.ndim != 2 or len(vectors) != count:
        raise EmbeddingFailed(f"embeddings: {len(vectors)} vectors for {count} texts")
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.ascontiguousarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)
