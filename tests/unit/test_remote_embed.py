"""What the remote embedder makes of the service's answers: vectors in index
order and normalized; errors and malformed bodies as EmbeddingFailed with
the reason (the call then answers without facts)."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from mediaserver.services.remote_embed import EmbeddingFailed, parse_embeddings


def answer(status: int, body: object) -> httpx.Response:
    return httpx.Response(status, json=body)


def test_vectors_come_back_in_index_order_normalized() -> None:
    body = {
        "object": "list",
        "data": [
            {"object": "embedding", "index": 1, "embedding": [0.0, 2.0]},
            {"object": "embedding", "index": 0, "embedding": [3.0, 4.0]},
        ],
    }
    vectors = parse_embeddings(answer(200, body), 2)
    assert vectors.dtype == np.float32 and vectors.flags.c_contiguous
    np.testing.assert_allclose(vectors, [[0.6, 0.8], [0.0, 1.0]])


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (503, {"error": {"message": "the embed model is saturated"}}, "HTTP 503: the embed model"),
        (404, {"detail": "Not Found"}, "HTTP 404"),
        (200, {"data": [{"embedding": [1.0]}]}, "malformed"),
        (200, {"data": [{"index": 0, "embedding": "AAAA"}]}, "malformed"),
        (200, {"data": []}, "0 vectors for 1 texts"),
        (200, ["not", "an", "object"], "malformed"),
    ],
)
def test_a_failure_says_why(status: int, body: object, reason: str) -> None:
    with pytest.raises(EmbeddingFailed, match=reason):
        parse_embeddings(answer(status, body), 1)


def test_a_body_that_is_not_json_is_a_failure() -> None:
    with pytest.raises(EmbeddingFailed, match="HTTP 502: bad gateway"):
        parse_embeddings(httpx.Response(502, text="bad gateway"), 1)
