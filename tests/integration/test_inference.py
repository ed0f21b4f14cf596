"""`mediaserver inference` as a real process with the small models: OpenAI's
endpoints, errors in OpenAI's shape, a cancelled stream that frees the LLM,
a full queue refused at once, and the remote adapter against it."""

from __future__ import annotations

import asyncio
import json
import threading
import wave
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from mediaserver import wav
from mediaserver.config import ModelsConfig
from mediaserver.frames import AudioFrame
from mediaserver.services.remote import RemoteSpeech
from tests.inference_service import Service, start_service, stop_service
from tests.speech import speak

QUESTION = "What are your opening hours on Saturday?"
LONG = [{"role": "user", "content": "Count from 1 to 500, separated by commas."}]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    svc = start_service(tmp_path_factory.mktemp("inference"), "[inference]\nllm_queue = 1\n")
    yield svc
    stop_service(svc)


@pytest.fixture(scope="module")
def question(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("speech") / "question.wav"
    speak(QUESTION, path)  # espeak-ng writes 22050 Hz: the service resamples
    return path.read_bytes()


def post(service: Service, path: str, **kwargs: object) -> httpx.Response:
    return httpx.post(f"{service.url}{path}", timeout=60, **kwargs)  # type: ignore[arg-type]


def test_a_wav_is_transcribed_in_json_and_verbose_json(service: Service, question: bytes) -> None:
    files = {"file": ("q.wav", question, "audio/wav")}
    plain = post(service, "/audio/transcriptions", files=files)
    assert plain.status_code == 200, plain.text
    assert "hours" in plain.json()["text"].lower()
    data = {"response_format": "verbose_json", "language": "en", "prompt": "Opening hours."}
    verbose = post(service, "/audio/transcriptions", files=files, data=data).json()
    assert verbose["language"] == "en" and 1.5 < verbose["duration"] < 5


def test_bad_requests_get_openai_shaped_errors(service: Service) -> None:
    eight_bit = b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x40\x1f\x00\x00"
    eight_bit += b"\x40\x1f\x00\x00\x01\x00\x08\x00data\x00\x00\x00\x00"
    cases = [
        post(service, "/audio/transcriptions", files={"file": ("a.wav", eight_bit)}),
        post(service, "/audio/transcriptions", data={"prompt": "no file"}),
        post(service, "/chat/completions", json={"messages": []}),
        post(service, "/chat/completions", json={"model": "gpt-9", "messages": LONG}),
        post(service, "/audio/speech", json={"input": "Hi", "response_format": "mp3"}),
    ]
    assert [r.status_code for r in cases] == [400, 400, 400, 404, 400]
    for response in cases:
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"} and error["message"]
    assert "16-bit PCM" in cases[0].json()["error"]["message"]


def sse(response: httpx.Response) -> list[dict[str, object] | str]:
    events: list[dict[str, object] | str] = []
    for line in response.iter_lines():
        if line.startswith("data: "):
            payload = line.removeprefix("data: ")
            events.append(payload if payload == "[DONE]" else json.loads(payload))
    return events


def test_a_streamed_completion_is_openai_chunks_and_says_what_the_whole_one_says(
    service: Service,
) -> None:
    ask = {"messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 12}
    body = {**ask, "temperature": 0.0, "stream": True}
    with httpx.stream("POST", f"{service.url}/chat/completions", json=body, timeout=60) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        events = sse(r)
    assert events[-1] == "[DONE]"
    chunks = [e for e in events if isinstance(e, dict)]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    deltas = [c["choices"][0]["delta"] for c in chunks]  # type: ignore[index]
    assert deltas[0]["role"] == "assistant"
    assert chunks[-1]["choices"][0]["finish_reason"] in ("stop", "length")  # type: ignore[index]
    streamed = "".join(d.get("content", "") for d in deltas)
    whole = post(service, "/chat/completions", json={**ask, "temperature": 0.0}).json()
    assert whole["object"] == "chat.completion"
    assert whole["choices"][0]["message"]["content"] == streamed and streamed


def test_speech_states_its_rate_in_a_header_and_the_wav(service: Service) -> None:
    text = {"input": "Hello there. How can I help you today?"}
    as_wav = post(service, "/audio/speech", json={**text, "response_format": "wav"})
    as_pcm = post(service, "/audio/speech", json={**text, "response_format": "pcm"})
    assert as_wav.status_code == as_pcm.status_code == 200
    pcm, rate = wav.decode(as_wav.content)
    assert as_wav.headers["x-sample-rate"] == as_pcm.headers["x-sample-rate"] == str(rate)
    assert as_pcm.headers["content-type"] == "audio/pcm"
    assert len(as_pcm.content) == 2 * pcm.size and pcm.size > rate  # both clauses, > 1 s


def test_models_health_and_metrics(service: Service) -> None:
    ids = [m["id"] for m in httpx.get(f"{service.url}/models").json()["data"]]
    assert ids[:3] == [ModelsConfig().stt, ModelsConfig().llm, ModelsConfig().tts]
    assert "minilm-l6-v2-int8" in ids[3:]  # /v1/embeddings (test_embeddings.py)
    health = httpx.get(f"{service.root}/healthz").json()
    assert health["status"] == "ok" and set(health["waiting"]) == {"stt", "llm", "tts", "embed"}
    metrics = httpx.get(f"{service.root}/metrics").text
    assert "inference_queue_depth" in metrics
    assert "\ninference_cores_waits " in metrics
    assert "\ninference_cores_waited_seconds " in metrics


def test_a_cancelled_stream_frees_the_llm_for_the_next_request(service: Service) -> None:
    tokens_before = service.metric("inference_llm_tokens_total")
    cancelled_before = service.metric("inference_llm_cancelled_total")
    body = {"messages": LONG, "max_tokens": 1000, "temperature": 0.0, "stream": True}
    with httpx.stream("POST", f"{service.url}/chat/completions", json=body, timeout=60) as r:
        lines = r.iter_lines()
        for _ in range(5):
            next(lines)
    # closed after a few tokens: the next request runs at once
    short = {"messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 5}
    assert post(service, "/chat/completions", json=short).status_code == 200
    generated = service.metric("inference_llm_tokens_total") - tokens_before
    assert service.metric("inference_llm_cancelled_total") == cancelled_before + 1
    assert generated < 100  # not the 1000 the cancelled one could have had


def test_a_client_gone_before_a_whole_completion_frees_the_llm_too(service: Service) -> None:
    tokens_before = service.metric("inference_llm_tokens_total")
    cancelled_before = service.metric("inference_llm_cancelled_total")
    body = {"messages": LONG, "max_tokens": 1000, "temperature": 0.0}
    with pytest.raises(httpx.ReadTimeout):  # the client gives up and closes
        httpx.post(f"{service.url}/chat/completions", json=body, timeout=1.0)
    short = {"messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 5}
    assert post(service, "/chat/completions", json=short).status_code == 200
    assert service.metric("inference_llm_cancelled_total") == cancelled_before + 1
    assert service.metric("inference_llm_tokens_total") - tokens_before < 200


def test_a_full_queue_is_refused_at_once_with_retry_after(service: Service) -> None:
    body = {"messages": LONG, "max_tokens": 1000, "temperature": 0.0, "stream": True}
    results: list[int] = []
    with httpx.stream("POST", f"{service.url}/chat/completions", json=body, timeout=60) as r:
        lines = r.iter_lines()  # kept: dropping it closes the stream
        next(lines)  # the first is generating
        short = {"messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 3}
        waiting = threading.Thread(
            target=lambda: results.append(
                post(service, "/chat/completions", json=short).status_code
            )
        )
        waiting.start()  # the second waits: llm_queue = 1
        for _ in range(100):
            health = httpx.get(f"{service.root}/healthz")
            if health.status_code == 503:
                break
            threading.Event().wait(0.05)
        assert health.json()["saturated"] == ["llm"]
        refused = post(service, "/chat/completions", json=short)
    waiting.join(60)
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
    assert refused.json()["error"]["code"] == "overloaded"
    assert results == [200]  # the one waiting was served once the stream closed


def test_the_remote_adapter_against_the_service(service: Service, question: bytes) -> None:
    pcm, rate = wav.decode(question)

    async def main() -> tuple[str, str, AudioFrame]:
        config = ModelsConfig(backend="remote", url=service.url, timeout_seconds=30)
        async with httpx.AsyncClient(timeout=30) as client:
            speech = RemoteSpeech(config, client)
            heard = await speech.transcribe(AudioFrame(pcm, rate), "en")
            pieces = speech.reply([{"role": "user", "content": "Say hello."}], 12, 0.0)
            said = "".join([p async for p in pieces])
            return heard, said, await speech.synthesize("Hello there.", first=True)

    heard, said, voice = asyncio.run(main())
    assert "hours" in heard.lower() and said
    assert voice.rate == 16000 and voice.samples.size > 8000


def write_wav(path: Path, pcm: np.ndarray, rate: int) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.astype("<i2").tobytes())


def test_tools_reach_the_model_through_the_remote_adapter(service: Service) -> None:
    """OpenAI `tools` and `tool` messages pass through the service to llama.cpp,
    whose GGUF template renders them: the real model writes the call."""
    lookup = {
        "type": "function",
        "function": {
            "name": "lookup_order",
            "description": "Look up the status of a customer's order by its number.",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string"}},
                "required": ["order_id"],
            },
        },
    }
    asked = [
        {"role": "system", "content": "You are the assistant at Acme Shop, on the phone."},
        {"role": "user", "content": "Hi, can you look up order 1234 for me?"},
    ]

    async def main() -> tuple[str, str]:
        config = ModelsConfig(backend="remote", url=service.url, timeout_seconds=60)
        async with httpx.AsyncClient(timeout=60) as client:
            speech = RemoteSpeech(config, client)
            call = "".join([p async for p in speech.reply(asked, 40, 0.0, tools=[lookup])])
            answered = [
                *asked,
                {"role": "assistant", "content": f"<tool_call>\n{call.strip()}\n</tool_call>"},
                {"role": "tool", "content": '{"status": "shipped"}'},
            ]
            after = "".join([p async for p in speech.reply(answered, 20, 0.0, tools=[lookup])])
            return call, after

    call, after = asyncio.run(main())
    written = json.loads(call.strip().removeprefix("<tool_call>").split("</tool_call>")[0])
    assert written == {"name": "lookup_order", "arguments": {"order_id": "1234"}}
    assert after  # a `tool` message is a message the service takes
