"""Whisper over N callers' utterances: one after another against one batch.

    python -m bench.stt_batch [--json] [--sizes 1,2,4,8] [--rounds 3]

What the inference service's STT lane gains by decoding the utterances that
wait behind a running one together (models/stt.py transcribe_many): the
encoder and the beam search run once over a batch. Utterances are espeak-ng
questions, primed with the agent's vocabulary as a call does; medians over
the rounds, sequential and batched interleaved. On a 2-core CPU shared with
other work the figures are contended: read the ratio, not the times.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.latency import QUESTIONS, VOICES, caller
from mediaserver.agents import DEFAULT_AGENT
from mediaserver.config import ModelsConfig
from mediaserver.modelset import model_path
from models.stt import WhisperSTT


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--sizes", default="1,2,4,8")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    config = ModelsConfig()
    stt = WhisperSTT(
        model_path(config.stt, config),
        beam_size=config.stt_beam_size,
        window_seconds=config.stt_window_seconds,
    )
    stt.load()
    clips: list[np.ndarray] = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, question in enumerate(QUESTIONS):
            voice, speed = VOICES[i % len(VOICES)]
            clips.append(caller(question, voice, speed, Path(tmp)))
    prompt = DEFAULT_AGENT.stt_prompt
    stt.transcribe_many([(clips[0], prompt, "en")])  # warm
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        batch = [(clips[i % len(clips)], prompt, "en") for i in range(size)]
        one_by_one, together = [], []
        for _ in range(args.rounds):
            start = time.perf_counter()
            for audio, p, language in batch:
                stt.transcribe(audio, p, language)
            one_by_one.append(time.perf_counter() - start)
            start = time.perf_counter()
            stt.transcribe_many(batch)
            together.append(time.perf_counter() - start)
        seq, bat = statistics.median(one_by_one) * 1000, statistics.median(together) * 1000
        rows.append(
            {
                "utterances": size,
                "one_by_one_ms": round(seq),
                "batched_ms": round(bat),
                "per_utterance_batched_ms": round(bat / size),
                "speedup": round(seq / bat, 2),
            }
        )
    if args.json:
        print(json.dumps({"rows": rows}))
    else:
        print(f"{'N':>3} {'one by one':>11} {'batched':>9} {'per utt.':>9} {'speed-up':>9}")
        for r in rows:
            print(
                f"{r['utterances']:>3} {r['one_by_one_ms']:>9} ms {r['batched_ms']:>6} ms "
                f"{r['per_utterance_batched_ms']:>6} ms {r['speedup']:>8}x"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
