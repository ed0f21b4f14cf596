"""POST /v1/audio/speech: the text's audio, streamed clause by clause as it
is synthesized; its rate in X-Sample-Rate (and in the WAV header).

A request's first clause goes before other requests' later clauses: a
caller is waiting for it. A client that sends `X-Clause: next` (a later
clause of a reply it asks for one clause at a time) waits its turn instead."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from typing import Literal

from fastapi import APIRouter, Header
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from mediaserver import wav
from mediaserver.inference.engines import FIRST_CLAUSE, LATER_CLAUSE, Engines
from mediaserver.inference.errors import ApiError

CLAUSE_END = re.compile(r"(?<=[.!?;:])\s+")
MEDIA_TYPES = {"pcm": "audio/pcm", "wav": "audio/wav"}


class SpeechRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model: str = ""
    input: str = Field(min_length=1, max_length=4096)
    voice: str = ""  # one voice per service: the `tts` model's (any name is taken)
    response_format: Literal["pcm", "wav"] = "wav"


def clauses(text: str) -> list[str]:
    return [c for c in (c.strip() for c in CLAUSE_END.split(text)) if c]


def router(engines: Engines) -> APIRouter:
    api = APIRouter()

    @api.post("/v1/audio/speech")
    async def speech(
        request: SpeechRequest, x_clause: str | None = Header(None)
    ) -> StreamingResponse:
        model = engines.names[2]
        if request.model and request.model not in (model, "tts-1", "tts-1-hd"):
            raise ApiError(
                404, f"model {request.model!r} is not served here", code="model_not_found"
            )
        parts = clauses(request.input)
        if not parts:
            raise ApiError(400, "input: nothing to say", param="input")
        started = time.perf_counter()
        rate = engines.sample_rate
        first_priority = LATER_CLAUSE if x_clause == "next" else FIRST_CLAUSE
        # the first clause before the response starts: a refusal is still a 503
        first = await engines.synthesize(parts[0], first_priority)

        async def audio() -> AsyncIterator[bytes]:
            if request.response_format == "wav":
                yield wav.header(rate)
            yield first.astype("<i2").tobytes()
            for part in parts[1:]:
                pcm = await engines.synthesize(part, LATER_CLAUSE, admitted=True)
                yield pcm.astype("<i2").tobytes()
            engines.metrics.seconds.labels("speech").observe(time.perf_counter() - started)

        return StreamingResponse(
            audio(),
            media_type=MEDIA_TYPES[request.response_format],
            headers={"X-Sample-Rate": str(rate), "Cache-Control": "no-cache"},
        )

    return api
