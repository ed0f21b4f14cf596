"""POST /v1/audio/transcriptions: a WAV of 16-bit PCM in, text out."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from mediaserver import wav
from mediaserver.inference import forms
from mediaserver.inference.engines import Engines
from mediaserver.inference.errors import ApiError
from models.stt import RATE
from native import resample

MAX_BYTES = 25 * 1024 * 1024  # OpenAI's limit too
FORMATS = ("json", "verbose_json", "text")


def router(engines: Engines) -> APIRouter:
    api = APIRouter()

    @api.post("/v1/audio/transcriptions", response_model=None)
    async def transcriptions(request: Request) -> dict[str, object] | PlainTextResponse:
        started = time.perf_counter()
        if int(request.headers.get("content-length") or 0) > MAX_BYTES:
            raise ApiError(413, f"the request is larger than {MAX_BYTES} bytes")
        body = await request.body()
        if len(body) > MAX_BYTES:
            raise ApiError(413, f"the request is larger than {MAX_BYTES} bytes")
        fields = forms.parse(body, request.headers.get("content-type", ""))
        if "file" not in fields:
            raise ApiError(400, "file: the audio (a 16-bit PCM WAV) is missing", param="file")
        model = forms.text(fields, "model", "") or ""
        if model and model not in (engines.names[0], "whisper-1"):
            raise ApiError(404, f"model {model!r} is not served here", code="model_not_found")
        response_format = forms.text(fields, "response_format", "json")
        if response_format not in FORMATS:
            raise ApiError(
                400,
                f"response_format: expected one of {', '.join(FORMATS)}",
                param="response_format",
            )
        try:
            pcm, rate = wav.decode(fields["file"])
        except wav.WavError as exc:
            raise ApiError(400, f"file: {exc}", param="file") from None
        if rate != RATE:
            pcm = resample.resampler(rate, RATE).process(pcm).copy()
        result = await engines.transcribe(
            pcm, forms.text(fields, "prompt") or None, forms.text(fields, "language") or None
        )
        engines.metrics.seconds.labels("transcriptions").observe(time.perf_counter() - started)
        if response_format == "verbose_json":
            return {
                "task": "transcribe",
                "language": result.language,
                "duration": round(result.seconds, 3),
                "text": result.text,
                "segments": [],
            }
        if response_format == "text":
            return PlainTextResponse(result.text)
        return {"text": result.text}

    return api
