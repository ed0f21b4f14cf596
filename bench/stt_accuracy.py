"""Key-word recall of the bundled Whisper models on phone-band and wideband audio.

    python -m bench.stt_accuracy [--json] [--channels]

Synthetic callers say sentences a receptionist hears: espeak-ng (a formant
synthesizer, three voices and speeds: harsh on Whisper, harsher through a
phone line) and Piper (a neural voice, three speeds: nearer a person). Each
clip is sent through an 8 kHz G.711 phone line (as a SIP call delivers it)
and through a wideband path (as WebRTC does), then transcribed, by each
model with greedy and beam search, in Whisper's 30 s window and in a 10 s
one, without and with the default agent's vocabulary as Whisper's prompt.
Recall = key words found / key words said.

The second half of the sentences was written after the vocabulary, to see
whether it helps with words it was not written for.

--channels: only the two models as a call runs them (beam 5, 10 s window, the
vocabulary), per channel with both callers together, and the CPU seconds of
each transcription: what picks the model for a phone line and for wideband.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from mediaserver.agents import DEFAULT_AGENT
from mediaserver.harness import read_wav
from models import registry, store
from models.stt import RATE, WhisperSTT
from models.tts import PiperTTS
from native import g711, resample

SENTENCES = [
    ("What time do you open on Saturday?", {"time", "open", "saturday"}),
    ("I need to cancel my appointment on Thursday.", {"cancel", "appointment", "thursday"}),
    ("How much does a cleaning cost?", {"much", "cleaning", "cost"}),
    (
        "My name is Maria Lopez and my number is five five five.",
        {"name", "maria", "number", "five"},
    ),
    ("Can I book a check-up for next Tuesday morning?", {"book", "tuesday", "morning"}),
    ("Is Doctor Patel available this week?", {"doctor", "patel", "week"}),
    ("I have a terrible toothache since yesterday.", {"toothache", "yesterday"}),
    ("Does Doctor Moreno work on Friday?", {"doctor", "moreno", "friday"}),
    ("I want to book a cleaning for my daughter.", {"book", "cleaning", "daughter"}),
    ("Can you move my check-up to Monday afternoon?", {"move", "monday", "afternoon"}),
    ("Where can I park my car?", {"park", "car"}),
    ("Is there a fee if I cancel?", {"fee", "cancel"}),
    ("I am a new patient and I have a broken tooth.", {"new", "patient", "broken", "tooth"}),
    ("Could someone call me back tomorrow?", {"call", "back", "tomorrow"}),
]
# (model, beam, window seconds, with the agent's vocabulary)
CONFIGURATIONS = [
    ("whisper-tiny.en", 1, 30, False),
    ("whisper-tiny.en", 5, 30, False),
    ("whisper-tiny.en", 1, 10, False),
    ("whisper-tiny.en", 5, 10, False),
    ("whisper-tiny.en", 1, 10, True),
    ("whisper-tiny.en", 5, 10, True),  # the default
    ("whisper-tiny.en", 5, 30, True),
    ("whisper-base", 5, 30, False),
    ("whisper-base", 5, 10, False),
    ("whisper-base", 5, 10, True),
]
ESPEAK_VOICES = [("en-us", 150), ("en-gb", 170), ("en-us+f3", 140)]
PIPER_SPEEDS = [0.9, 1.0, 1.15]
PIPER_VOICE = "piper-en_US-joe-medium"


def phone_line(samples: np.ndarray, rate: int) -> np.ndarray:
    """rate -> 8 kHz -> mu-law -> back -> 16 kHz, 20 ms at a time."""
    narrow = resample.resampler(rate, 8000).process(samples).copy()
    enc, dec, up = g711.encoder("ulaw"), g711.decoder("ulaw"), resample.resampler(8000, 16000)
    frames = [
        up.process(dec.decode(enc.encode(narrow[i : i + 160]))).copy()
        for i in range(0, narrow.size - 159, 160)
    ]
    return np.concatenate(frames)


DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def words(text: str) -> set[str]:
    """The words of a transcript; a number counts as its digits' words
    ("555" says "five": Whisper writes numbers as digits)."""
    text = re.sub(r"\d", lambda m: f" {DIGITS[int(m.group())]} ", text.lower())
    return set(re.findall(r"[a-z]+", text.replace("-", " ")))


Clip = tuple[set[str], np.ndarray, np.ndarray]  # key words, wideband, phone line


def espeak_clips() -> list[Clip]:
    clips = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.wav"
        for text, keys in SENTENCES:
            for voice, speed in ESPEAK_VOICES:
                subprocess.run(
                    ["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(path), text], check=True
                )
                wide = read_wav(path, 60)  # at RATE
                clips.append((keys, wide, phone_line(wide, RATE)))
    return clips


def piper_clips() -> list[Clip]:
    clips = []
    silence = np.zeros(RATE // 5, np.int16)
    for speed in PIPER_SPEEDS:
        tts = PiperTTS(store.locate(registry.by_name(PIPER_VOICE)), speed=speed)
        for text, keys in SENTENCES:
            voiced = np.concatenate(list(tts.synthesize(text)))
            # a resampler per clip: its filter must not carry the last clip's tail
            to_wide = resample.resampler(tts.sample_rate, RATE).process(voiced)
            wide = np.concatenate([silence, to_wide, silence])
            clips.append((keys, wide, phone_line(wide, RATE)))
    return clips


AS_A_CALL_RUNS = [("whisper-tiny.en", 5, 10, True), ("whisper-base", 5, 10, True)]


def run(channels_only: bool = False) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    callers = {"espeak-ng": espeak_clips(), "piper": piper_clips()}
    if channels_only:
        callers = {"espeak-ng+piper": callers["espeak-ng"] + callers["piper"]}
    for name, beam, window, primed in AS_A_CALL_RUNS if channels_only else CONFIGURATIONS:
        prompt = DEFAULT_AGENT.stt_prompt if primed else None
        stt = WhisperSTT(
            store.locate(registry.by_name(name)),
            language="en",
            beam_size=beam,
            window_seconds=window,
        )
        stt.load()
        for caller, clips in callers.items():
            for channel in ("phone-8k-g711", "wideband-16k"):
                found = said = 0
                seconds = cpu = 0.0
                for keys, wide, phone in clips:
                    start, start_cpu = time.perf_counter(), time.process_time()
                    audio = phone if channel.startswith("phone") else wide
                    heard = words(stt.transcribe(audio, prompt).text)
                    seconds += time.perf_counter() - start
                    cpu += time.process_time() - start_cpu
                    found += len(keys & heard)
                    said += len(keys)
                rows.append(
                    {
                        "model": name,
                        "beam": beam,
                        "window_s": window,
                        "vocabulary": primed,
                        "caller": caller,
                        "channel": channel,
                        "keyword_recall": round(found / said, 3),
                        "found": found,
                        "said": said,
                        "seconds_per_utterance": round(seconds / len(clips), 3),
                        "cpu_seconds_per_utterance": round(cpu / len(clips), 3),
                    }
                )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.stt_accuracy")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--channels", action="store_true", help="the two models per channel")
    args = parser.parse_args(argv)
    rows = run(args.channels)
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        for r in rows:
            print(
                f"{r['model']:16} beam {r['beam']} window {r['window_s']:2} s "
                f"{'vocabulary' if r['vocabulary'] else 'no prompt ':10} "
                f"{r['caller']:15} {r['channel']:14} "
                f"recall {r['keyword_recall']:.3f} "
                f"({r['found']}/{r['said']})  {r['seconds_per_utterance']} s/utterance "
                f"({r['cpu_seconds_per_utterance']} s CPU)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
