"""The server against an OpenAI-compatible LLM server that is not ours:
llama-cpp-python's own `llama_cpp.server` (its [server] extras: sse-starlette,
starlette-context, pydantic-settings) answers the calls' replies, our
inference service the transcriptions and the voice; told the LLM's place
(`[models] llm_url`), the service loads no LLM of its own."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mediaserver.agents import Agent
from mediaserver.config import ModelsConfig
from mediaserver.harness import read_wav, write_wav
from mediaserver.services.remote import RemoteSpeech
from models import registry, store
from tests.inference_service import Service, start_service, stop_service
from tests.server import free_port, start_server, stop_server
from tests.speech import speak

pytestmark = pytest.mark.integration
LLM = ModelsConfig().llm


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    pytest.importorskip("sse_starlette", reason="llama_cpp.server needs its [server] extras")
    gguf = store.locate(registry.by_name(LLM)) / "model.gguf"
    port = free_port()
    log = tmp_path_factory.mktemp("llama") / "llama.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "llama_cpp.server", "--model", str(gguf)),
                *("--model_alias", LLM, "--port", str(port), "--n_ctx", "2048"),
                *("--n_threads", "2"),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            try:
                if httpx.get(f"{url}/models", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.3)
        # as the local adapter does at start-up: the agent's prompt read once,
        # so that llama.cpp reuses it (a cold 2-core box takes seconds over it)
        warm = [
            {"role": "system", "content": Agent().system_prompt},
            {"role": "user", "content": "Hi"},
        ]
        httpx.post(f"{url}/chat/completions", json={"messages": warm, "max_tokens": 1}, timeout=120)
        yield url
    finally:
        proc.terminate()
        proc.wait(20)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, llama_server: str) -> Iterator[Service]:
    where = f'[models]\nllm_url = "{llama_server}"\n'  # as a cluster's inference role reads it
    svc = start_service(tmp_path_factory.mktemp("inference"), where)
    yield svc
    stop_service(svc)


def test_the_service_leaves_the_llm_to_the_server_named(service: Service) -> None:
    served = [m["id"] for m in httpx.get(f"{service.url}/models", timeout=10).json()["data"]]
    assert ModelsConfig().stt in served and ModelsConfig().tts in served
    assert LLM not in served
    asked = httpx.post(
        f"{service.url}/chat/completions",
        json={"messages": [{"role": "user", "content": "Hi"}]},
        timeout=10,
    )
    assert asked.status_code == 404
    assert "llm_url" in asked.json()["error"]["message"]
    assert "loading models (whisper-tiny.en, " + LLM + " at http" in service.log.read_text()


def test_the_remote_adapter_streams_and_cancels_against_llama_cpp_server(llama_server: str) -> None:
    async def main() -> tuple[str, str]:
        config = ModelsConfig(backend="remote", url=llama_server, timeout_seconds=30)
        async with httpx.AsyncClient(timeout=30) as client:
            speech = RemoteSpeech(config, client)
            ask = [{"role": "user", "content": "Say hello in three words."}]
            whole = "".join([p async for p in speech.reply(ask, 16, 0.0)])
            counting = speech.reply([{"role": "user", "content": "Count to 300."}], 600, 0.0)
            first = await anext(counting)
            await counting.aclose()  # the slot is freed: the next reply is not held up
            again = "".join([p async for p in speech.reply(ask, 16, 0.0)])
            return whole, first + again

    whole, rest = asyncio.run(main())
    assert whole.strip() and whole in rest


def test_a_call_answered_by_llama_cpp_server(
    llama_server: str, service: Service, tmp_path: Path
) -> None:
    config = (
        f'[models]\nbackend = "remote"\nurl = "{service.url}"\nllm_url = "{llama_server}"\n'
        "timeout_seconds = 20\n"
    )
    server = start_server(tmp_path, config)
    try:
        speak("What time do you open on Saturday?", tmp_path / "q.wav")
        write_wav(tmp_path / "q16.wav", read_wav(tmp_path / "q.wav", 30))
        since = server.mark()
        out = subprocess.run(
            [
                *(sys.executable, "-m", "tests.sip_caller", "--to", server.uri),
                *("--play", str(tmp_path / "q16.wav"), "--play-at", "5.5", "--seconds", "22"),
            ],
            capture_output=True,
            text=True,
            timeout=90,
            check=True,
        )
        result = json.loads(out.stdout.strip().splitlines()[-1])
        server.wait_for(r"Transcript\(text='[^']*[Ss]aturday", since=since)
        answer = server.wait_for(r"AgentText\(text='([^']*(9|nine|Saturday)[^']*)'", since=since)
    finally:
        stop_server(server)
    assert result["connected"], result
    assert "fallback" not in server.log.read_text()[since:], answer.group(1)
