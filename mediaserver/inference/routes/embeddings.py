"""POST /v1/embeddings: OpenAI's request and response, for the knowledge
base's embedding models (MiniLM for English, e5 for other languages).

One extra field, `input_type` ("query" or "passage", the default), as NVIDIA's
and others' embedding APIs have it: e5 embeds a question and a passage
differently. `usage` counts words, not tokens: the models' tokenizers are
not all exposed."""

from __future__ import annotations

import base64
import time
from typing import Annotated, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from mediaserver.inference.engines import Embedding, Engines
from mediaserver.inference.errors import ApiError
from models.store import ModelError

MAX_INPUTS = 256  # texts in one request
MAX_CHARS = 8192  # one text; the models read its first 128 or 512 tokens

Text = Annotated[str, Field(min_length=1, max_length=MAX_CHARS)]


class EmbeddingRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")  # `user` and the like
    input: Text | Annotated[list[Text], Field(min_length=1, max_length=MAX_INPUTS)]
    model: str = ""
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(None, ge=1)
    input_type: Literal["query", "passage"] = "passage"


def router(engines: Engines) -> APIRouter:
    api = APIRouter()

    @api.post("/v1/embeddings")
    async def embeddings(request: EmbeddingRequest) -> dict[str, object]:
        started = time.perf_counter()
        served = engines.embedding_models()
        if not served:
            raise ApiError(404, "no embedding model is served here", code="model_not_found")
        model = request.model or served[0]
        if model not in served:
            raise ApiError(
                404,
                f"model {model!r} is not served here (embedding models: {', '.join(served)})",
                code="model_not_found",
                param="model",
            )
        texts = [request.input] if isinstance(request.input, str) else request.input
        try:
            vectors = await engines.embeddings(
                Embedding(model, texts, request.input_type == "query")
            )
        except ModelError as exc:
            raise ApiError(404, str(exc), code="model_not_found", param="model") from None
        if request.dimensions is not None and request.dimensions != vectors.shape[1]:
            raise ApiError(
                400,
                f"dimensions: {model} has {vectors.shape[1]}, not {request.dimensions}",
                param="dimensions",
            )
        words = sum(len(text.split()) for text in texts)
        engines.metrics.seconds.labels("embeddings").observe(time.perf_counter() - started)
        return {
            "object": "list",
            "data": [
                {
                    "object": "embedding",
                    "index": i,
                    "embedding": (
                        base64.b64encode(vector.astype("<f4").tobytes()).decode("ascii")
                        if request.encoding_format == "base64"
                        else vector.tolist()
                    ),
                }
                for i, vector in enumerate(vectors)
            ],
            "model": model,
            "usage": {"prompt_tokens": words, "total_tokens": words},
        }

    return api
