"""What embedding a caller's words costs on a cluster's worker (over the
inference service's /v1/embeddings) against the one process (MiniLM in
process), measured in the same run, interleaved query by query.

    python -m bench.remote_embed [--json] [--queries 60] [--url http://127.0.0.1:8081/v1]

Without --url a `mediaserver inference` is started on a free loopback port
(it loads all its models first). The remote figure is the async client a
worker's search uses (services/remote_embed.py), HTTP included."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from mediaserver.config import Config, KnowledgeConfig, ModelsConfig
from mediaserver.knowledge.embed import Embedders
from mediaserver.services.remote_embed import RemoteEmbedders

QUESTIONS = [
    "Where can I park my car?",
    "How much does teeth whitening cost?",
    "Do you take my insurance?",
    "What do I do in an emergency on the weekend?",
    "Is there a fee if I cancel?",
]


def start_service(directory: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = directory / "inference.toml"
    config.write_text('[server]\nlog_format = "text"\n')
    command = [sys.executable, "-m", "mediaserver", "inference", "--config", str(config)]
    with (directory / "inference.log").open("wb") as log:
        proc = subprocess.Popen(
            [*command, "--port", str(port)], stdout=log, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit((directory / "inference.log").read_text()[-3000:])
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc, f"http://127.0.0.1:{port}/v1"
        except httpx.TransportError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("the inference service did not start")


async def measure(url: str, queries: int) -> dict[str, Any]:
    knowledge = KnowledgeConfig()
    local = Embedders(knowledge, Config().models).get(knowledge.english_model)
    remote_source = RemoteEmbedders(knowledge, ModelsConfig(backend="remote", url=url))
    remote = remote_source.get(knowledge.english_model)
    await remote.embed_async(["warm up"], query=True)
    local_ms, remote_ms = [], []
    try:
        for n in range(queries):
            text = f"{QUESTIONS[n % len(QUESTIONS)]} ({n})"
            t0 = time.perf_counter()
            mine = local.embed([text], query=True)
            t1 = time.perf_counter()
            theirs = await remote.embed_async([text], query=True)
            t2 = time.perf_counter()
            local_ms.append(1000 * (t1 - t0))
            remote_ms.append(1000 * (t2 - t1))
            assert np.allclose(mine, theirs, atol=1e-4), text
    finally:
        await remote_source.aclose()
    local_median, remote_median = statistics.median(local_ms), statistics.median(remote_ms)
    return {
        "queries": queries,
        "local_ms": summary(local_ms),
        "remote_ms": summary(remote_ms),
        "remote_over_local": round(remote_median / local_median, 2),
        "added_ms_median": round(remote_median - local_median, 3),
    }


def summary(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 3),
        "p95": round(float(np.percentile(values, 95)), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--queries", type=int, default=60)
    parser.add_argument("--url", help="a running service's base URL (default: start one)")
    args = parser.parse_args()
    proc = None
    with tempfile.TemporaryDirectory() as tmp:
        url = args.url
        if url is None:
            proc, url = start_service(Path(tmp))
        try:
            result = asyncio.run(measure(url, args.queries))
        finally:
            if proc is not None:
                os.kill(proc.pid, signal.SIGTERM)
                proc.wait(timeout=30)
    result["load_average_1m"] = round(os.getloadavg()[0], 2)
    if args.json:
        print(json.dumps(result))
        return
    print(f"{result['queries']} queries, MiniLM int8 (load average {result['load_average_1m']})")
    for key, label in (("local_ms", "in process"), ("remote_ms", "via /v1/embeddings")):
        figures = result[key]
        print(f"  {label:<20} median {figures['median']:7.2f} ms   p95 {figures['p95']:7.2f} ms")
    print(
        f"  remote / local: {result['remote_over_local']}x "
        f"(+{result['added_ms_median']} ms at the median)"
    )


if __name__ == "__main__":
    main()
