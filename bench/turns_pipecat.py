"""The Pipecat peer of bench.turns, run by the peer's own interpreter:

    /tmp/pipecat-peer/bin/python -m bench.turns_pipecat CLIPS.npz OUT.json

(a virtualenv with `pip install "pipecat-ai[silero,local-smart-turn-v3]==1.14.0"`;
imports only numpy and pipecat). Each clip goes 20 ms at a time through
Pipecat's SileroVADAnalyzer (its defaults: confidence 0.7, start 0.2 s,
stop 0.2 s) and LocalSmartTurnAnalyzerV3 (the same Smart Turn v3.2 model;
stop_secs 3 s, 500 ms before speech), wired as its
TurnAnalyzerUserTurnStopStrategy wires them: asked when the VAD reports a
stop, or complete after stop_secs of silence. The wait for the STT's final
transcript is left out. The clock is the clips' own (time.monotonic patched),
and a verdict counts as many frames later as the model's CPU time."""

from __future__ import annotations

import importlib
import json
import sys
import time
import types
from typing import Any

import numpy as np

RATE = 16000
FRAME = RATE // 50


def run_clip(audio: np.ndarray) -> dict[str, Any]:
    # the peer's own packages, absent from the server's environment
    base_smart_turn = importlib.import_module("pipecat.audio.turn.smart_turn.base_smart_turn")
    EndOfTurnState = base_smart_turn.EndOfTurnState
    local = importlib.import_module("pipecat.audio.turn.smart_turn.local_smart_turn_v3")
    SileroVADAnalyzer = importlib.import_module("pipecat.audio.vad.silero").SileroVADAnalyzer
    VADState = importlib.import_module("pipecat.audio.vad.vad_analyzer").VADState

    clock = [1000.0]
    base_smart_turn.time = types.SimpleNamespace(  # type: ignore[attr-defined]
        monotonic=lambda: clock[0], perf_counter=time.perf_counter
    )
    vad = SileroVADAnalyzer(sample_rate=RATE)
    vad.set_sample_rate(RATE)
    turn = local.LocalSmartTurnAnalyzerV3(sample_rate=RATE)
    turn.set_sample_rate(RATE)
    speaking = False
    commits: list[list[int]] = []
    starts: list[int] = []
    heard: list[int] = []  # where each start was heard
    speech_start = 0
    for pos in range(0, audio.size - FRAME + 1, FRAME):
        clock[0] += FRAME / RATE
        end = pos + FRAME
        buffer = audio[pos:end].tobytes()
        state = vad._run_analyzer(buffer)  # what analyze_audio runs on its executor
        now_speaking = state == VADState.SPEAKING
        if now_speaking and not speaking:
            speaking = True
            turn.update_vad_start_secs(vad.params.start_secs)
            speech_start = max(0, end - int((vad.params.start_secs + 0.5) * RATE))
            starts.append(end - int(vad.params.start_secs * RATE))
            heard.append(end)
        if turn.append_audio(buffer, speaking) == EndOfTurnState.COMPLETE:
            commits.append([end, speech_start, end])  # stop_secs of silence
            continue
        if speaking and state == VADState.QUIET:
            speaking = False
            cpu = time.thread_time()
            verdict = turn._process_speech_segment(turn._audio_buffer)[0]
            late = int((time.thread_time() - cpu) * RATE)
            if verdict == EndOfTurnState.COMPLETE:
                turn._clear(verdict)
                commits.append([end + late, speech_start, end])
    return {"commits": commits, "starts": starts, "heard": heard}


def main(argv: list[str]) -> int:
    clips = np.load(argv[0])
    out = [run_clip(clips[f"arr_{i}"]) for i in range(len(clips.files))]
    with open(argv[1], "w") as f:
        json.dump(out, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
