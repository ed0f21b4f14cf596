"""Knowing when the caller is done: today's endpointer against each option.

    python -m bench.turns [--json] [--no-models | --stages-ms MS] [--peer pipecat]

60 generated caller turns (bench/turns_audio.py: espeak-ng and Piper voices,
several speeds, PCMU phone line and wideband): 20 finished, 20 with a
400-900 ms pause mid-sentence (half of them after "um"/"uh"/"er"), 20 with
babble or line hiss at 10-20 dB SNR. Each is played offline, frame by frame,
on a virtual clock, through the real VAD (webrtcvad or Silero), noise gate,
endpointer and Smart Turn model; the model's verdict takes effect as many
frames later as its run took (its CPU time: on a free core; the wall time on
a shared machine is printed beside it).

- false_cutoff_rate: turns of the paused third where the caller hears the
  agent before they go on (the goal: at most 5 %). A turn committed in the
  pause is answered for the whole sentence if the caller is heard back
  before the agent's first word (the engine drops the answer unheard and
  merges the two utterances): that word comes once the turn is committed,
  plus any hold (TurnTaking.answer_wait_ms: words left hanging, or, with
  unfinished_wait_ms, not ended as a sentence, in Whisper's words for the
  utterance), and once the first clause is ready (speculate_ms + stages
  after the voice stopped; a peer's at its commit + stages). So faster
  models cut off more; with --no-models every commit in a pause not held
  past the caller's return is a cut-off. false_cutoff_all: over all 60.
- early_commit_rate: turns of the paused third committed before the caller
  finished and not held until they went on (the first word aside): the
  commits a faster box would turn into cut-offs.
- late_commit_rate: turns committed (plus any such hold) more than 1 s after
  the voice stopped.
- commit_p50/p95_ms: voice end -> commit, finished and noisy turns.
- v2v_p50/p95_ms: voice to voice on those turns, the commit time combined
  with the model stages measured on this machine (STT, LLM first clause,
  TTS first clause, real models, 3 turns): the answer starts speculatively
  after speculate_ms of silence and plays once the turn is committed, so
  v2v = max(commit, speculate_ms + stages). With --no-models the stages
  count 0 and v2v = commit; --stages-ms gives them (measured elsewhere, e.g.
  by bench.latency on a GPU box). A shared, loaded machine inflates them.
- keyword_recall_noisy: key words Whisper (the default STT) finds in the
  noisy third's utterances as each VAD cut them.

--peer pipecat: the same clips through Pipecat 1.14.0's Silero VAD and
Smart Turn v3 analyzer in its own virtualenv (bench/turns_pipecat.py says
how), one more row; it does not speculate, so its v2v = commit + stages.

Then sounds over the agent (coughs, noise bursts, "mm-hm", real
interruptions), through the real session and turn engine on virtual time
with the real STT: wrong_cut (a cough or backchannel cancelled the reply)
and wrong_resume (a real interruption was talked over).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from bench.stt_accuracy import words
from bench.turns_audio import RATE, Clip, caller_turns, over_agent
from bench.turns_barge_in import barge_in
from bench.turns_endpoint import FRAME, Outcome, Remembered, endpoint
from bench.turns_stages import measure_stages
from mediaserver.agents import DEFAULT_AGENT
from mediaserver.config import VadConfig
from mediaserver.conversation.turn_taking import TurnConfig, TurnTaking
from mediaserver.events import SpeechEnded
from models import registry, store
from models.stt import WhisperSTT
from models.turn import SmartTurn

LATE_MS = 1000

NO_WAIT = TurnConfig(dangling_wait_ms=0)
WAIT = TurnConfig()  # the default: answers to words left hanging wait
UNFINISHED = TurnConfig(unfinished_wait_ms=600)  # and to words not ended as a sentence
UNFINISHED_1S = TurnConfig(unfinished_wait_ms=1000)
LANDED = VadConfig(end_of_turn="smart-turn", end_of_turn_every_ms=0)  # asked once
TUNED = VadConfig(end_of_turn="smart-turn")  # asked every 200 ms of silence
ST_08 = dataclasses.replace(TUNED, end_of_turn_threshold=0.8)
# (name, VAD, what the turn engine waits on: words left hanging, not ended as a sentence)
CONFIGS: list[tuple[str, VadConfig, TurnConfig]] = [
    ("webrtc endpointer + dangling wait (today)", VadConfig(), WAIT),
    ("webrtc endpointer, no wait", VadConfig(), NO_WAIT),
    ("webrtc + dangling + unfinished 0.6 s", VadConfig(), UNFINISHED),
    ("webrtc + dangling + unfinished 1 s", VadConfig(), UNFINISHED_1S),
    ("webrtc + smart-turn as landed", LANDED, NO_WAIT),
    ("webrtc + smart-turn tuned + wait", TUNED, WAIT),
    ("webrtc + smart-turn p>=0.8 + wait", ST_08, WAIT),
    ("webrtc + smart-turn p>=0.8 + unfinished 0.6 s", ST_08, UNFINISHED),
    ("webrtc + smart-turn p>=0.8 + unfinished 1 s", ST_08, UNFINISHED_1S),
    (
        "webrtc + smart-turn cap 1.2 s + wait",
        dataclasses.replace(TUNED, end_of_turn_max_ms=1200),
        WAIT,
    ),
    ("silero endpointer", VadConfig(classifier="silero"), NO_WAIT),
    ("silero + smart-turn tuned + wait", dataclasses.replace(TUNED, classifier="silero"), WAIT),
]


def percentile(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 1) if values else float("nan")


def whisper() -> WhisperSTT:
    stt = WhisperSTT(
        store.locate(registry.by_name("whisper-tiny.en")),
        language="en",
        beam_size=5,
        window_seconds=10,
    )
    stt.load()
    return stt


class Heard:
    """Whisper's words for a stretch of a clip, each stretch transcribed once."""

    def __init__(self, stt: WhisperSTT) -> None:
        self.stt = stt
        self._cache: dict[tuple[int, int, int], str] = {}

    def text(self, clip: Clip, start: int, end: int) -> str:
        key = (id(clip), start, end)
        if key not in self._cache:
            audio = clip.audio[start:end]
            self._cache[key] = self.stt.transcribe(audio, DEFAULT_AGENT.stt_prompt).text
        return self._cache[key]


def score(
    name: str, vad: VadConfig, turns: TurnConfig, clips: list[Clip], *,
    model: Remembered, stages_ms: float, heard: Heard, outcomes: list[Outcome] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """One configuration over every clip. An early commit the turn engine holds
    (words left hanging, or not ended as a sentence: TurnTaking.answer_wait_ms)
    is no cut-off when the caller goes on within the wait (the engine merges
    the two), and an answer held so is that much later.
    `outcomes`: a peer's commits, clip by clip (it does not speculate)."""
    runs = len(model.wall_s)
    turn_taking = TurnTaking(turns, RATE)
    hangover = vad.hangover_ms * RATE // 1000
    cut: dict[str, int] = {"paused": 0, "all": 0, "early": 0}
    answer_ms: list[float] = []
    late = found = said = 0
    # the first clause is ready `ready` after the voice stops: our answer starts
    # speculatively after speculate_ms of silence, a peer's at its commit
    ready = (vad.speculate_ms if outcomes is None else 0) + stages_ms
    for i, clip in enumerate(clips):
        outcome = outcomes[i] if outcomes is not None else endpoint(clip, vad, model)
        cut_off = early = False
        for decided, event in outcome.commits:
            if decided >= clip.voice_end - FRAME:
                continue
            # the voice that came back after this utterance (it may be a frame or
            # two before the commit: the endpointer hears a start 100 ms late),
            # and when the endpointer heard it (the engine holds the agent then)
            j = next((j for j, s in enumerate(outcome.starts) if s > event.end - hangover), None)
            back, back_heard = (
                (outcome.starts[j], outcome.heard[j]) if j is not None else (10**9,) * 2
            )
            wait = turn_taking.answer_wait_ms(heard.text(clip, event.start, event.end))
            early |= not (max(back - decided, 0) * 1000 / RATE <= wait)
            # the agent's first word: once committed (plus any hold) and ready; a
            # caller back before it is answered for the whole sentence (merged)
            voice_stop = event.end - hangover
            first_word = max(decided + wait * RATE // 1000, voice_stop + int(ready * RATE / 1000))
            cut_off |= first_word < back_heard
        cut["early"] += early and clip.kind == "paused"
        cut["all"] += cut_off
        cut["paused"] += cut_off and clip.kind == "paused"
        after = [c for c in outcome.commits if c[0] >= clip.voice_end - FRAME]
        delay = (after[0][0] - clip.voice_end) * 1000 / RATE if after else 1e9
        if after:
            event = after[0][1]
            delay += turn_taking.answer_wait_ms(heard.text(clip, event.start, event.end))
        late += delay > LATE_MS
        if clip.kind != "paused":
            answer_ms.append(min(delay, clip.audio.size * 1000 / RATE))
        if clip.kind == "noisy":
            words_heard: set[str] = set()
            for _, event in outcome.commits:
                words_heard |= words(heard.text(clip, event.start, event.end))
            found += len(clip.keys & words_heard)
            said += len(clip.keys)
    if outcomes is None:  # the answer is under way after speculate_ms of silence
        v2v = [max(c, vad.speculate_ms + stages_ms) for c in answer_ms]
    else:
        v2v = [c + stages_ms for c in answer_ms]
    paused = sum(c.kind == "paused" for c in clips)
    return {
        "config": name,
        "false_cutoff_rate": round(cut["paused"] / paused, 3),
        "early_commit_rate": round(cut["early"] / paused, 3),
        "late_commit_rate": round(late / len(clips), 3),
        "v2v_p50_ms": percentile(v2v, 50),
        "v2v_p95_ms": percentile(v2v, 95),
        "false_cutoff_all": round(cut["all"] / len(clips), 3),
        "commit_p50_ms": percentile(answer_ms, 50),
        "commit_p95_ms": percentile(answer_ms, 95),
        "keyword_recall_noisy": round(found / said, 3) if said else None,
        "model_runs": len(model.wall_s) - runs,  # new windows (others were heard before)
    }


PEER_PYTHON = "/tmp/pipecat-peer/bin/python"
PEER_NAME = "pipecat 1.14.0 (silero + smart-turn v3.2)"


def pipecat_outcomes(clips: list[Clip], python: str) -> list[Outcome]:
    """The clips through Pipecat's VAD and Smart Turn (bench/turns_pipecat.py,
    in the peer's own virtualenv)."""
    with tempfile.TemporaryDirectory() as tmp:
        given, taken = Path(tmp) / "clips.npz", Path(tmp) / "commits.json"
        np.savez(given, *[clip.audio for clip in clips])  # arr_0, arr_1, ...
        root = Path(__file__).resolve().parent.parent
        subprocess.run(
            [python, "-m", "bench.turns_pipecat", str(given), str(taken)],
            check=True, cwd=root, env={**os.environ, "PYTHONPATH": str(root)},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        results = json.loads(taken.read_text())
    return [
        Outcome([(d, SpeechEnded(s, e)) for d, s, e in r["commits"]], r["starts"], r["heard"])
        for r in results
    ]


def run(
    with_models: bool, stages_given: float | None = None, peer: str | None = None
) -> dict[str, Any]:
    clips = list(caller_turns())
    smart_turn = SmartTurn(store.locate(registry.by_name("smart-turn-v3.2")))
    smart_turn.load()
    model = Remembered(smart_turn)
    stages: dict[str, float] = {}
    if stages_given is not None:
        stages = {"given": stages_given}
    elif with_models:
        stages = measure_stages()
    stages_ms = float(sum(stages.values()))
    stt = whisper()
    heard = Heard(stt)
    rows = [
        score(name, vad, turns, clips, model=model, stages_ms=stages_ms, heard=heard)
        for name, vad, turns in CONFIGS
    ]
    if peer is not None:
        outcomes = pipecat_outcomes(clips, peer)
        peer_vad = VadConfig(classifier="silero", speculate_ms=0)
        rows.append(score(PEER_NAME, peer_vad, NO_WAIT, clips, model=model,
                          stages_ms=stages_ms, heard=heard, outcomes=outcomes))  # fmt: skip
    sounds = list(over_agent())
    barge = {
        name: barge_in(vad, sounds, stt)
        for name, vad in (("webrtc", VadConfig()), ("silero", VadConfig(classifier="silero")))
    }
    return {
        "rows": rows,
        "stages_ms": stages,
        "v2v": "max(commit, speculate_ms + stages)"
        + (" (stages given)" if stages_given is not None else " (stages measured here)")
        if stages
        else "commit only (--no-models)",
        "turns": len(clips),
        "smart_turn_ms_per_decision": {
            "wall_p50": percentile([s * 1000 for s in model.wall_s], 50),
            "cpu_p50": percentile([s * 1000 for s in model.cpu_s], 50),
            "cpu_p95": percentile([s * 1000 for s in model.cpu_s], 95),
            "runs": len(model.cpu_s),
        },
        "over_agent": barge,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.turns")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--no-models", action="store_true", help="v2v = commit (no STT/LLM/TTS)")
    parser.add_argument(
        "--stages-ms", type=float, help="STT + LLM first clause + TTS, measured elsewhere"
    )
    parser.add_argument(
        "--peer", choices=["pipecat"], help=f"also Pipecat's VAD and Smart Turn ({PEER_PYTHON})"
    )
    parser.add_argument("--peer-python", default=PEER_PYTHON)
    args = parser.parse_args(argv)
    result = run(not args.no_models, args.stages_ms, args.peer_python if args.peer else None)
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    print(f"{result['turns']} turns; v2v = {result['v2v']}; stages {result['stages_ms']}")
    base = result["rows"][0]
    for r in result["rows"]:
        gain = base["v2v_p50_ms"] - r["v2v_p50_ms"]
        print(
            f"{r['config']:32} cut-off {r['false_cutoff_rate']:6.1%}"
            f" (all {r['false_cutoff_all']:5.1%}, early commits {r['early_commit_rate']:5.1%})"
            f"  late {r['late_commit_rate']:5.1%}  commit p50/p95 {r['commit_p50_ms']:6.0f}/"
            f"{r['commit_p95_ms']:6.0f}  v2v p50/p95 {r['v2v_p50_ms']:6.0f}/{r['v2v_p95_ms']:6.0f}"
            f" ({gain:+.0f} ms vs today)  recall noisy {r['keyword_recall_noisy']}"
        )
    print(f"Smart Turn per decision (ms, this machine): {result['smart_turn_ms_per_decision']}")
    for name, b in result["over_agent"].items():
        print(
            f"over the agent, {name}: wrong cut {b['wrong_cut_rate']:.1%} of {b['sounds']} "
            f"coughs/bursts/backchannels, wrong resume {b['wrong_resume_rate']:.1%} of "
            f"{b['interruptions']} interruptions"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
