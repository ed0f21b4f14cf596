"""What a turn records (texts, whether it was cut, when each stage ended),
and a turn begun speculatively."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from mediaserver.events import Transcript

STAGES = (
    "speech_end",
    "stt_done",
    "retrieved",  # the knowledge base searched (agents with documents)
    "first_token",
    "first_tts_audio",
    "first_audio_out",
)


@dataclass(slots=True)
class Turn:
    """One caller utterance and the agent's answer. Times are loop seconds."""

    user_text: str = ""
    agent_text: str = ""
    interrupted: bool = False
    reprompt: bool = False
    chunks: tuple[int, ...] = ()  # the knowledge-base chunks the answer was given
    times: dict[str, float] = field(default_factory=dict)

    def mark(self, stage: str, at: float) -> None:
        self.times.setdefault(stage, at)

    @property
    def timings_ms(self) -> dict[str, float]:
        """Each stage in ms after the end of the caller's speech."""
        start = self.times.get("speech_end")
        if start is None:
            return {}
        return {s: round(1000 * (self.times[s] - start), 1) for s in STAGES if s in self.times}

    @property
    def voice_to_voice_ms(self) -> float | None:
        """First agent audio out minus end of caller speech."""
        return self.timings_ms.get("first_audio_out")

    def as_dict(self) -> dict[str, object]:
        return {
            "user_text": self.user_text,
            "agent_text": self.agent_text,
            "interrupted": self.interrupted,
            "timings_ms": self.timings_ms,
            "voice_to_voice_ms": self.voice_to_voice_ms,
            "chunks": list(self.chunks),
        }


@dataclass(slots=True)
class Speculation:
    """A turn begun during the caller's trailing silence. Confirmed by the
    endpointer's SpeechEnded, or cancelled when the caller speaks again."""

    start: int
    task: asyncio.Task[None] | None = None
    confirmed: bool = False
    cancelled: bool = False
    turn: Turn | None = None
    user_entry: dict[str, str] | None = None
    transcript: Transcript | None = None
    decided: asyncio.Event = field(default_factory=asyncio.Event)  # confirmed or cancelled
