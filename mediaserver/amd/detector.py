"""The answering-machine detector: fed the callee's 20 ms frames from the
answer on, with their VAD verdicts; decides human / machine / unknown.

A person answers with a short "hello?" and waits; a voicemail greeting
talks on ("Hi, you've reached Sam, I can't take your call..."), often
ends in a beep, and says words people don't. So:

- a beep (a steady 400-2,000 Hz tone of 150 ms or more): machine;
- a transcript of the first speech with a greeting's or a carrier's words: machine;
- speech going on for long_greeting_s: machine;
- a first utterance shorter than that, then silence_after_s of silence:
  human, once its transcript (if one was asked for) has no machine words;
- nothing said for no_speech_s, or no verdict by deadline_s: unknown.

After a machine verdict it goes on listening and says when the message may
start: when the beep has ended, or the greeting has been silent for
greeting_end_s. Time is counted in frames, so it runs the same offline.
Per frame: one webrtcvad verdict (given) and a Goertzel tone detector
(~15 us a frame compiled).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mediaserver.amd.phrases import says_carrier, says_machine
from mediaserver.frames import AudioFrame
from native import tone

Verdict = Literal["human", "machine", "unknown"]


@dataclass(frozen=True, slots=True)
class AmdConfig:
    silence_after_s: float = 0.8  # the silence that ends a first utterance
    long_greeting_s: float = 2.2  # speech that long is a recorded greeting
    no_speech_s: float = 3.0  # nothing said this long: unknown
    deadline_s: float = 4.0  # a verdict by then at the latest
    transcript_wait_s: float = 1.2  # how long a short utterance waits for its transcript
    greeting_end_s: float = 1.5  # a machine's silence that ends its greeting (no beep)
    after_beep_s: float = 0.2  # quiet after the beep before speaking
    max_greeting_s: float = 40.0  # the message starts by then, beep or not
    onset_frames: int = 3  # voiced frames out of the last 5 that start speech


@dataclass(frozen=True, slots=True)
class AmdDecision:
    """The verdict, `at_s` seconds after the answer; `reason` says what decided
    (beep, words, long greeting, short greeting, silence, deadline)."""

    verdict: Verdict
    at_s: float
    reason: str
    beep: bool = False
    carrier: bool = False  # a network announcement, not a mailbox

    def as_dict(self) -> dict[str, object]:
        return {
            "verdict": self.verdict,
            "at_s": self.at_s,
            "reason": self.reason,
            "beep": self.beep,
            "carrier": self.carrier,
        }


class AmdDetector:
    def __init__(self, rate: int, config: AmdConfig | None = None) -> None:
        self.rate = rate
        self.config = config or AmdConfig()
        self.tones = tone.detector(rate)
        self.decision: AmdDecision | None = None
        self.frames = 0
        self._frame_s = 0.0
        self._recent: list[bool] = []
        self.onset_s: float | None = None  # the first speech
        self.onset_position = 0
        self._last_voiced_s = 0.0
        self._last_voiced_position = 0
        self._tentative_s: float | None = None  # a short first utterance ended then
        self.transcript_span: tuple[int, int] | None = None  # asked for, by stream position
        self.transcript: str | None = None
        self.carrier = False
        self._beep_end_s: float | None = None
        self._position = 0

    @property
    def now_s(self) -> float:
        return round(self.frames * self._frame_s, 3)

    @property
    def beep(self) -> bool:
        return self.tones.tones > 0 or self.tones.tone_ms >= 150

    def feed(self, frame: AudioFrame, voiced: bool) -> AmdDecision | None:
        """One frame of the callee's audio; the decision, on the frame it is made."""
        if frame.rate != self.rate:
            raise ValueError(f"frame: expected {self.rate} Hz, got {frame.rate}")
        self._frame_s = frame.samples.shape[0] / self.rate
        self.frames += 1
        self._position = frame.end
        if self.tones.process(frame.samples):
            self._beep_end_s = self.now_s
        voiced = voiced and self.tones.tone_ms == 0  # a tone is not speech
        self._follow(voiced, frame)
        if self.decision is None:
            self.decision = self._decide()
            return self.decision
        return None

    def heard(self, text: str) -> AmdDecision | None:
        """The transcript asked for (transcript_span) has come; a decision it makes."""
        self.transcript = text
        self.carrier = says_carrier(text)
        if self.decision is None and says_machine(text):
            self.decision = self._verdict("machine", "words")
            return self.decision
        return None

    @property
    def ready_for_message(self) -> bool:
        """After a machine verdict: the beep has ended, or the greeting has gone quiet."""
        c, t = self.config, self.now_s
        if self.decision is None or self.decision.verdict != "machine":
            return False
        if self.tones.tone_ms:
            return False
        if self._beep_end_s is not None and self._last_voiced_s <= self._beep_end_s:
            return t - self._beep_end_s >= c.after_beep_s
        quiet = t - max(self._last_voiced_s, self._beep_end_s or 0.0)
        return quiet >= c.greeting_end_s or t >= c.max_greeting_s

    def _follow(self, voiced: bool, frame: AudioFrame) -> None:
        self._recent.append(voiced)
        del self._recent[:-5]
        if voiced:
            self._last_voiced_s = self.now_s
            self._last_voiced_position = frame.end
        if self.onset_s is None and sum(self._recent) >= self.config.onset_frames:
            back = len(self._recent) - self._recent.index(True)
            self.onset_s = round(self.now_s - back * self._frame_s, 3)
            self.onset_position = max(0, frame.end - back * frame.samples.shape[0])

    def _decide(self) -> AmdDecision | None:
        c, t = self.config, self.now_s
        if self.beep:
            return self._verdict("machine", "beep")
        if self.onset_s is None:
            return self._verdict("unknown", "silence") if t >= c.no_speech_s else None
        if self._last_voiced_s - self.onset_s >= c.long_greeting_s:
            self._ask_transcript()  # a carrier's announcement is hung up on
            return self._verdict("machine", "long greeting")
        if t - self._last_voiced_s < c.silence_after_s:
            self._tentative_s = None  # still speaking (or again)
            return self._verdict("unknown", "deadline") if t >= c.deadline_s else None
        if self._tentative_s is None:
            self._tentative_s = t
            self._ask_transcript()
        if self.transcript is not None or t - self._tentative_s >= c.transcript_wait_s:
            return self._verdict("human", "short greeting")
        return None

    def _ask_transcript(self) -> None:
        if self.transcript_span is None:
            rate = self.rate
            start = max(0, self.onset_position - rate // 5)
            self.transcript_span = (start, min(self._position, start + 4 * rate))

    def _verdict(self, verdict: Verdict, reason: str) -> AmdDecision:
        return AmdDecision(verdict, self.now_s, reason, self.beep, self.carrier)
