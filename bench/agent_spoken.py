"""bench.agent's spoken mode: questions said by espeak-ng and Piper voices,
through the same session and engine as a live call (`mediaserver talk`), on
the default models; the default agent interleaved call by call with today's
(the prompt and decoding before bench.agent), each on its own copy of the
models so that neither evicts the other's cached prompt."""

from __future__ import annotations

import asyncio
import subprocess
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from bench.agent import EVAL, grade_one, median, spread
from mediaserver.agents import DEFAULT_AGENT
from mediaserver.config import load
from mediaserver.harness import read_wav, talk
from mediaserver.services.factory import local_speech
from models import registry, store
from models.tts import PiperTTS
from native import resample

RATE = 16000
PIPER_VOICE = "piper-en_US-joe-medium"
ESPEAK_VOICE = ("en-us", 150)

# The default agent before bench.agent (for the voice-to-voice comparison).
TODAY_PROMPT = """\
You are Sam, the receptionist at Riverside Dental, answering the phone. \
Reply to the caller in one short spoken sentence.

Riverside Dental facts:
Address: 12 Mill Street, Riverside, next to the post office.
Hours: Monday to Friday 8 am to 6 pm; Saturday 9 am to 1 pm; closed Sunday.
Prices: check-up 60 dollars, cleaning 80 dollars.
Dentists: Dr. Patel and Dr. Moreno. New patients welcome.
Booking: ask for the caller's name and preferred day; a colleague will confirm by phone.
If you don't know, say so and offer a call back."""
TODAY = replace(DEFAULT_AGENT, system_prompt=TODAY_PROMPT, temperature=0.6, max_reply_tokens=100)


def espeak(text: str, directory: Path) -> np.ndarray:
    path = directory / "caller.wav"
    voice, speed = ESPEAK_VOICE
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(path), text], check=True)
    return read_wav(path, 60)


def piper(tts: PiperTTS, text: str) -> np.ndarray:
    voiced = np.concatenate(list(tts.synthesize(text)))
    return resample.resampler(tts.sample_rate, RATE).process(voiced).copy()


def run_spoken(n: int) -> dict[str, Any]:
    config = load(None)
    agents = {"default": DEFAULT_AGENT, "today": TODAY}
    stacks = {name: local_speech(config.models, agent.language) for name, agent in agents.items()}
    questions = [("answer", q) for q in spread(EVAL["answer"], n)]
    questions += [("refuse", q) for q in spread(EVAL["refuse"], n)]
    tts = PiperTTS(store.locate(registry.by_name(PIPER_VOICE)))
    tts.load()
    pad = np.zeros(RATE // 2, np.int16)
    graded: dict[str, list[dict[str, Any]]] = {name: [] for name in agents}
    try:
        for name, speech in stacks.items():
            speech.load(agents[name].system_prompt, agents[name].greeting)
        with tempfile.TemporaryDirectory() as tmp:
            for i, (category, item) in enumerate(questions):
                for voice in ("espeak-ng", "piper"):
                    said = (
                        espeak(item["q"], Path(tmp))
                        if voice == "espeak-ng"
                        else piper(tts, item["q"])
                    )
                    audio = np.concatenate([pad, said, pad])
                    order = list(agents) if i % 2 == 0 else list(reversed(agents))
                    for name in order:
                        result = asyncio.run(talk(audio, agents[name], stacks[name], config.vad))
                        turns = [t for t in result.turns if t.user_text]
                        answer = " ".join(t.agent_text for t in turns)
                        verdict = grade_one(category, item, answer)
                        v2v = [t.voice_to_voice_ms for t in turns if t.voice_to_voice_ms]
                        graded[name].append(
                            {
                                "category": category,
                                "voice": voice,
                                "q": item["q"],
                                "heard": " ".join(t.user_text for t in turns),
                                "a": answer,
                                "passed": verdict.passed,
                                "why": verdict.why,
                                "v2v_ms": v2v[0] if v2v else None,
                            }
                        )
    finally:
        for speech in stacks.values():
            speech.close()
    report: dict[str, Any] = {"voices": ["espeak-ng " + ESPEAK_VOICE[0], PIPER_VOICE], "agents": {}}
    for name, rows in graded.items():
        answers = [r for r in rows if r["category"] == "answer"]
        refusals = [r for r in rows if r["category"] == "refuse"]
        report["agents"][name] = {
            "calls": len(rows),
            "answer_accuracy": round(sum(r["passed"] for r in answers) / len(answers), 3),
            "refusal_rate": round(sum(r["passed"] for r in refusals) / len(refusals), 3),
            "v2v_p50_ms": median([r["v2v_ms"] for r in rows if r["v2v_ms"] is not None]),
        }
    report["v2v_p50_delta_ms"] = round(
        report["agents"]["default"]["v2v_p50_ms"] - report["agents"]["today"]["v2v_p50_ms"], 1
    )
    report["failures"] = [
        {"agent": name, **r} for name, rows in graded.items() for r in rows if not r["passed"]
    ]
    return report
