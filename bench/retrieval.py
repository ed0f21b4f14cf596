"""What a knowledge base costs a call.

    python -m bench.retrieval [--json] [--chunks 300] [--queries 60] [--calls 6]
                              [--speech fixed|real]

1. Per query, against a knowledge base of `--chunks` chunks in a real SQLite
   store: embedding the caller's words (MiniLM int8 on onnxruntime, one
   thread) and the brute-force search (numpy, float32), median and p95.
2. Voice to voice through the offline harness (real VAD and endpointer on
   espeak-ng callers, the real search): the same callers with and without
   the knowledge base, interleaved call by call, and the median of the
   paired differences. The search runs on the speculative transcript, during
   the endpointer's wait. With --speech fixed (the default) the models are
   stand-ins with fixed delays (STT 200 ms, first token 150 ms, TTS 50 ms),
   so the difference is the search's own cost on the critical path; with
   --speech real, the bundled models, where the LLM also reads the facts
   (a loaded machine makes their times swing by seconds).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np

from mediaserver.agents import DEFAULT_AGENT, Agent
from mediaserver.config import Config, KnowledgeConfig, load
from mediaserver.conversation.knowledge import Retrieval
from mediaserver.frames import AudioFrame
from mediaserver.harness import read_wav, talk
from mediaserver.knowledge.chunk import chunks
from mediaserver.knowledge.embed import Embedders
from mediaserver.knowledge.index import AgentKnowledge, KnowledgeIndex, top_facts
from mediaserver.speech import Speech
from mediaserver.store import Store
from mediaserver.store.documents import Documents

TOPICS = [
    ("Parking", "Parking is free in the yard behind the clinic, entered from Mill Lane."),
    ("Whitening", "Teeth whitening costs 250 dollars and takes about one hour."),
    ("Implants", "A single implant costs 2400 dollars including the crown."),
    ("Children", "Children under twelve are seen by Dr. Moreno on Wednesday afternoons."),
    ("Insurance", "We accept all major dental insurance plans and file the claim for you."),
    ("Emergencies", "For a dental emergency on a weekend, call the on-call line at 555 0199."),
    ("Languages", "Dr. Patel speaks English, Hindi and Gujarati."),
    ("Payment", "Payment by card or cash is taken at the front desk after the visit."),
    ("Cancellations", "Please cancel at least 24 hours ahead or a 30 dollar fee applies."),
    ("Braces", "Clear aligners start at 3500 dollars; a consultation is free."),
]
FILLER = (
    "Our team has served the Riverside community for twenty years. "
    "We keep our instruments sterilized to hospital standards. "
    "Appointments can be moved by phone during opening hours. "
)
QUESTIONS = [
    "Where can I park my car?",
    "How much does teeth whitening cost?",
    "What does an implant cost?",
    "Do you see children?",
    "Do you take my insurance?",
    "What do I do in an emergency on the weekend?",
    "Does the doctor speak Hindi?",
    "Can I pay by card?",
    "Is there a fee if I cancel?",
    "How much are braces?",
]


def knowledge_base(size: int, directory: Path) -> tuple[AgentKnowledge, float]:
    """About `size` chunks of one agent in a new SQLite store; (its knowledge, load seconds)."""
    store = Store.open(f"sqlite:///{directory / 'bench.db'}")
    documents = Documents(store)
    embedders = Embedders(KnowledgeConfig(), Config().models)
    embedder = embedders.get(KnowledgeConfig().english_model)
    made = 0
    number = 0
    while made < size:
        number += 1
        paragraphs = [
            f"{title} ({number}). {fact} {FILLER}" for title, fact in TOPICS
        ]  # each section of a handbook, one of many similar ones
        texts = chunks("\n\n".join(paragraphs))[: size - made]
        row = documents.add("bench", f"handbook-{number}.pdf", "pdf", 1000)
        documents.ready(row["id"], embedder.name, texts, embedder.embed(texts))
        made += len(texts)
    index = KnowledgeIndex(documents, embedders, KnowledgeConfig())
    started = time.perf_counter()
    knowledge = index.load_now(Agent(name="bench"))
    loaded = time.perf_counter() - started
    assert knowledge is not None
    return knowledge, loaded


def per_query(knowledge: AgentKnowledge, queries: int) -> dict[str, Any]:
    embed_ms, search_ms = [], []
    config = knowledge.config
    for n in range(queries):
        text = QUESTIONS[n % len(QUESTIONS)] + ("" if n < len(QUESTIONS) else f" ({n})")
        t0 = time.perf_counter()
        vector = knowledge.embedder.embed([text], query=True)[0]
        t1 = time.perf_counter()
        found = top_facts(knowledge.chunks, vector, config.top_k, config.min_score)
        t2 = time.perf_counter()
        embed_ms.append(1000 * (t1 - t0))
        search_ms.append(1000 * (t2 - t1))
        assert found, text
    total = [a + b for a, b in zip(embed_ms, search_ms, strict=True)]
    return {
        "embed_ms": summary(embed_ms),
        "search_ms": summary(search_ms),
        "total_ms": summary(total),
    }


def summary(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 3),
        "p95": round(float(np.percentile(values, 95)), 3),
    }


def caller(text: str, directory: Path) -> np.ndarray:
    path = directory / "caller.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(path), text], check=True)
    pad = np.zeros(8000, np.int16)
    return np.concatenate([pad, read_wav(path, 60), pad])


class FixedSpeech:
    """Models with fixed delays: the caller's question heard, a short answer."""

    def __init__(self) -> None:
        self.question = ""

    async def transcribe(
        self, frame: AudioFrame, language: str | None = None, prompt: str | None = None
    ) -> str:
        await asyncio.sleep(0.2)
        return self.question

    async def reply(
        self,
        messages: list[dict[str, str]],
        max_tokens: int,
        temperature: float,
        *,
        tools: list[dict[str, Any]] | None = None,
    ) -> AsyncIterator[str]:
        await asyncio.sleep(0.15)
        for word in ("Let", " me", " check", " that."):
            yield word
            await asyncio.sleep(0.03)

    async def synthesize(self, text: str, *, first: bool = False) -> AudioFrame:
        await asyncio.sleep(0.05)
        return AudioFrame(np.full(len(text.split()) * 4000, 500, np.int16), 16000)


async def voice_to_voice(
    knowledge: AgentKnowledge, calls: int, directory: Path, real: bool
) -> dict[str, Any]:
    config = load(None)
    agent = DEFAULT_AGENT.deterministic()
    fixed = FixedSpeech()
    speech: Speech = fixed
    if real:
        from mediaserver.services.factory import local_speech

        local = local_speech(config.models, agent.language)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, local.load, agent.system_prompt, agent.greeting)
        speech = local
    pairs: list[dict[str, Any]] = []
    for n in range(calls):
        audio = caller(QUESTIONS[n % len(QUESTIONS)], directory)
        fixed.question = QUESTIONS[n % len(QUESTIONS)]
        one: dict[str, Any] = {"question": QUESTIONS[n % len(QUESTIONS)]}
        order = ("without", "with") if n % 2 == 0 else ("with", "without")
        for variant in order:
            knowledge_config = knowledge.config
            retrieval = (
                Retrieval(
                    knowledge,
                    budget_tokens=knowledge_config.facts_tokens,
                    timeout_s=knowledge_config.timeout_ms / 1000,
                )
                if variant == "with"
                else None
            )
            result = await talk(audio, agent, speech, config.vad, retrieval=retrieval)
            turn = result.turns[0] if result.turns else None
            one[variant] = turn.voice_to_voice_ms if turn is not None else None
            if turn is not None and variant == "with":
                t = turn.timings_ms
                one["search_past_stt_ms"] = round(t.get("retrieved", 0) - t["stt_done"], 1)
                one["chunks"] = list(turn.chunks)
                one["answer"] = turn.agent_text
        pairs.append(one)
    done = [p for p in pairs if p["with"] is not None and p["without"] is not None]
    differences = [p["with"] - p["without"] for p in done]
    return {
        "calls": pairs,
        "v2v_without_median_ms": _median([p["without"] for p in done]),
        "v2v_with_median_ms": _median([p["with"] for p in done]),
        "v2v_added_median_ms": _median(differences),
        "search_on_the_path_median_ms": _median([p["search_past_stt_ms"] for p in done]),
    }


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--chunks", type=int, default=300)
    parser.add_argument("--queries", type=int, default=60)
    parser.add_argument("--calls", type=int, default=6, help="callers, each with and without")
    parser.add_argument("--speech", choices=("fixed", "real"), default="fixed")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        knowledge, loaded = knowledge_base(args.chunks, Path(tmp))
        result: dict[str, Any] = {
            "chunks": len(knowledge.chunks.ids),
            "index_load_ms": round(1000 * loaded, 1),
            **per_query(knowledge, args.queries),
        }
        if args.calls:
            result["voice_to_voice"] = asyncio.run(
                voice_to_voice(knowledge, args.calls, Path(tmp), args.speech == "real")
            )
            result["voice_to_voice"]["speech"] = args.speech
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"knowledge base: {result['chunks']} chunks, loaded in {result['index_load_ms']} ms")
    for key in ("embed_ms", "search_ms", "total_ms"):
        print(f"  {key:10} median {result[key]['median']:8.3f}  p95 {result[key]['p95']:8.3f}")
    if (v2v := result.get("voice_to_voice")) is not None:
        print(
            f"voice to voice ({v2v['speech']} speech), {len(v2v['calls'])} paired calls: "
            f"without {v2v['v2v_without_median_ms']} ms, with {v2v['v2v_with_median_ms']} ms, "
            f"added {v2v['v2v_added_median_ms']} ms "
            f"(search past the transcription: {v2v['search_on_the_path_median_ms']} ms)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
