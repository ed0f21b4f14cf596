"""Turn-taking: following the caller's utterance frame by frame (speech
heard, trailing silence, where the voice really stopped), when to begin an
answer speculatively, when speech over the agent interrupts it, which
words are only a backchannel ("okay", "mm-hmm"), and which words leave a
sentence hanging ("I would like to book a cleaning for ...")."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mediaserver.config import SPECULATE_MS
from mediaserver.conversation.turns import Speculation, Turn
from mediaserver.events import SpeechStarted
from mediaserver.frames import AudioFrame

BACKCHANNELS = frozenset(
    {
        "okay",
        "ok",
        "yeah",
        "yes",
        "yep",
        "right",
        "sure",
        "uh huh",
        "mm hmm",
        "mhm",
        "hmm",
        "got it",
        "i see",
        "alright",
        "all right",
        "cool",
        "great",
        "mm",
        "thank you",  # said over the agent, and what Whisper writes for a cough or a hiss
        "thanks",
    }
)
# how Whisper ends a sentence it heard finished ("...?" / "." / "!"), closing quotes after
SENTENCE_END = re.compile(r"(?<![.,])[.?!][\"')\]]*$")
HUM = re.compile(r"[mh]+")  # "mm", "hmm", "mhm", "mmhmm", Whisper's "M-M-H-M"

# A sentence ending on one of these is most likely going on after a pause
# (a question may end on "for" or "to": its answer then waits dangling_wait_ms).
DANGLING = frozenset(
    {"and", "or", "but", "because", "if", "whether", "the", "a", "an", "my", "your", "our",
     "to", "for", "of", "with", "at", "um", "uh", "er", "erm"}
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class TurnConfig:
    interrupt_after_ms: int = 800  # speech over the agent this long interrupts at once
    # Start transcribing and answering after this much trailing silence, before
    # the endpointer is sure the caller is done; the answer waits for its word.
    speculate_after_ms: int = SPECULATE_MS  # 0: never
    stt_timeout_s: float = 10.0
    first_token_timeout_s: float = 10.0
    tts_timeout_s: float = 10.0
    backchannels: frozenset[str] = field(default=BACKCHANNELS)
    # An answer to words left hanging waits this long for the caller to go on (0: never).
    dangling_wait_ms: int = 1000
    dangling: frozenset[str] = field(default=DANGLING)
    # An answer to words Whisper did not end as a sentence (no "." "?" "!", or a
    # comma, "..." or a dash) waits this long for the caller to go on (0: never).
    unfinished_wait_ms: int = 0


def normalize(text: str) -> str:
    return re.sub(r"[^a-z' ]+", " ", text.lower()).strip()


class TurnTaking:
    def __init__(self, config: TurnConfig, rate: int) -> None:
        self.config = config
        self.rate = rate
        self.in_speech = False
        self.voiced_ms = 0  # speech heard since the caller started (over the agent)
        self.silence_ms = 0  # trailing silence in the current utterance
        self.utterance_start = 0
        self.last_voiced_end = 0  # where the caller's speech really stopped (no hangover)
        self.speculation: Speculation | None = None

    def started(self, event: SpeechStarted) -> None:
        self.in_speech = True
        self.voiced_ms = self.silence_ms = 0
        self.utterance_start = event.position

    def ended(self) -> None:
        self.in_speech = False

    def follow(self, frame: AudioFrame, voiced: bool) -> bool:
        """One frame inside an utterance. True: the trailing silence has just
        become long enough to begin answering speculatively."""
        ms = frame.samples.size * 1000 // self.rate
        if voiced:
            self.voiced_ms += ms
            self.silence_ms = 0
            self.last_voiced_end = frame.end
            return False
        self.silence_ms += ms
        after = self.config.speculate_after_ms
        return bool(after) and self.silence_ms >= after > self.silence_ms - ms

    async def confirmed(self, turn: Turn | None) -> bool:
        """Wait until `turn` is no longer speculative; False: it was taken back
        (the caller went on), and no tool may be called."""
        spec = self.speculation
        if spec is None or spec.turn is not turn:
            return True
        await spec.decided.wait()
        return not spec.cancelled

    def take_back(self) -> Speculation | None:
        """The caller went on: the speculative turn (if any) is cancelled."""
        spec, self.speculation = self.speculation, None
        if spec is not None:
            spec.cancelled = True
            spec.decided.set()
            if spec.task is not None:
                spec.task.cancel()
        return spec

    def confirm(self) -> Speculation | None:
        """The endpointer agrees the caller is done: the speculative turn stands."""
        spec, self.speculation = self.speculation, None
        if spec is not None:
            spec.confirmed = True
            spec.decided.set()
        return spec

    def should_interrupt(self) -> bool:
        """Speech over the agent has gone on long enough to take the floor."""
        return self.voiced_ms >= self.config.interrupt_after_ms

    def voice_end(self, start: int, end: int) -> int:
        """Where the utterance [start, end) really stopped (the endpointer's end
        includes its hangover)."""
        last = self.last_voiced_end if self.last_voiced_end > start else end
        return min(last, end)

    def is_backchannel(self, text: str) -> bool:
        """Only backchannels ("okay", "yeah yeah", "right, sure"): the caller is listening."""
        words = normalize(text).split()
        while words:
            for n in (2, 1):  # the longest phrase first ("uh huh")
                if len(words) >= n and " ".join(words[:n]) in self.config.backchannels:
                    words = words[n:]
                    break
                if n == 1 and HUM.fullmatch(words[0]):
                    words = words[1:]
                    break
            else:
                return False
        return True

    def dangles(self, text: str) -> bool:
        """The words stop mid-sentence ("... a cleaning for", "... and, um")."""
        words = normalize(text).split()
        return (
            bool(self.config.dangling_wait_ms) and bool(words) and words[-1] in self.config.dangling
        )

    def unfinished(self, text: str) -> bool:
        """Whisper did not end the words as a sentence: no mark, a comma, "..."
        or a dash ("I'd like to book a cleaning", "... on Monday, ")."""
        return bool(normalize(text)) and not SENTENCE_END.search(text.strip())

    def answer_wait_ms(self, text: str) -> int:
        """How long an answer to `text` waits for the caller to go on (0: plays
        at once): words left hanging, then words not ended as a sentence."""
        if self.dangles(text):
            return self.config.dangling_wait_ms
        if self.config.unfinished_wait_ms and self.unfinished(text):
            return self.config.unfinished_wait_ms
        return 0
