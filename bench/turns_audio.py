"""The generated callers of bench.turns: finished turns, turns with a pause or
a filler mid-sentence, noisy turns (babble from mixed voices, line hiss at
10-20 dB SNR), and sounds over the agent (coughs, noise bursts, "mm-hm",
real interruptions). espeak-ng and Piper voices at several speeds, through
a PCMU phone line (8 kHz round trip) or wideband. Seeded: the same set on
every run."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.stt_accuracy import phone_line
from mediaserver.harness import read_wav
from models import registry, store
from models.tts import PiperTTS
from native import resample

RATE = 16000
LEAD_S = 1.0  # before the caller speaks (noise, if any, already there)
TAIL_S = 3.0  # after: longer than any endpointer's cap

FINISHED = [
    ("What time do you open on Saturday?", {"time", "open", "saturday"}),
    ("I need to cancel my appointment on Thursday.", {"cancel", "appointment", "thursday"}),
    ("How much does a cleaning cost?", {"much", "cleaning", "cost"}),
    ("Can I book a check-up for next Tuesday morning?", {"book", "tuesday", "morning"}),
    ("Is Doctor Patel available this week?", {"doctor", "patel", "week"}),
    ("I have a terrible toothache since yesterday.", {"toothache", "yesterday"}),
    ("Does Doctor Moreno work on Friday?", {"doctor", "moreno", "friday"}),
    ("Can you move my check-up to Monday afternoon?", {"move", "monday", "afternoon"}),
    ("Where can I park my car?", {"park", "car"}),
    ("Could someone call me back tomorrow?", {"call", "back", "tomorrow"}),
]
# the caller stops mid-sentence, then goes on
PAUSED = [
    ("I would like to book a cleaning for", "next Tuesday morning, please."),
    ("My daughter needs a check-up and", "she can only come after school."),
    ("Could you tell me if", "Doctor Patel works on Fridays?"),
    ("I need to move my appointment to", "some time next week."),
    ("The pain started on the left side and", "now it hurts when I eat."),
    ("Is it possible to", "pay for the cleaning by card?"),
    ("My number is five five five and", "my name is Maria Lopez."),
    ("I was wondering whether", "you take new patients."),
    ("We are looking for a dentist who", "can see two children together."),
    ("Can I come in on Monday or", "is Tuesday better for you?"),
]
FILLERS = ["um", "uh", "er"]
BABBLE = [
    "The weather was nice yesterday and we went for a walk in the park.",
    "Please remember to buy milk and bread on the way home tonight.",
    "The meeting has been moved to the afternoon because of the traffic.",
    "She said the train would be late again so we took the bus instead.",
    "Our neighbours are painting their house a bright shade of yellow.",
]
# said over the agent: (text or None for a sound, what it is)
OVER_AGENT_WORDS = [
    ("mm-hm", "backchannel"),
    ("okay", "backchannel"),
    ("yeah", "backchannel"),
    ("Wait, I need Friday instead.", "interruption"),
    ("No, that is not what I asked.", "interruption"),
    ("Sorry, can you repeat the price?", "interruption"),
    ("Actually, cancel that appointment.", "interruption"),
]
ESPEAK = [("en-us", 150), ("en-gb", 175), ("en-us+f3", 135), ("en", 190)]
PIPER_SPEEDS = [0.9, 1.0, 1.15]
PIPER_VOICE = "piper-en_US-joe-medium"


@dataclass
class Clip:
    kind: str  # finished | paused | noisy | over-agent
    label: str  # what is said, and how
    audio: np.ndarray  # 16 kHz int16, LEAD_S before the voice, TAIL_S after
    voice_end: int  # sample where the caller's voice really stops
    pause: tuple[int, int] | None = None  # the mid-sentence pause [start, end)
    keys: set[str] = field(default_factory=set)
    channel: str = "wideband"
    truth: str = ""  # over-agent: backchannel | noise | interruption


class Voices:
    """espeak-ng and Piper, each voice as 16 kHz int16 with its edges trimmed."""

    def __init__(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self._piper: dict[float, PiperTTS] = {}

    def espeak(self, text: str, voice: str, speed: int) -> np.ndarray:
        path = Path(self._tmp.name) / "s.wav"
        subprocess.run(
            ["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(path), text], check=True
        )
        return trim(read_wav(path, 60))

    def piper(self, text: str, speed: float) -> np.ndarray:
        if speed not in self._piper:
            self._piper[speed] = PiperTTS(store.locate(registry.by_name(PIPER_VOICE)), speed=speed)
        tts = self._piper[speed]
        voiced = np.concatenate(list(tts.synthesize(text)))
        return trim(resample.resampler(tts.sample_rate, RATE).process(voiced).copy())

    def say(self, text: str, i: int) -> tuple[np.ndarray, str]:
        """Voice number i of seven (four espeak-ng, three Piper)."""
        if i % 7 < 4:
            voice, speed = ESPEAK[i % 7]
            return self.espeak(text, voice, speed), f"espeak {voice} {speed}"
        scale = PIPER_SPEEDS[i % 7 - 4]
        return self.piper(text, scale), f"piper x{scale}"

    def close(self) -> None:
        self._tmp.cleanup()


def trim(audio: np.ndarray, threshold_db: float = -45.0) -> np.ndarray:
    """The audio between its first and last 10 ms above threshold_db."""
    blocks = audio[: audio.size // 160 * 160].reshape(-1, 160).astype(np.float64)
    level = 10 * np.log10(np.mean(blocks**2, axis=1) / 32768.0**2 + 1e-12)
    loud = np.flatnonzero(level > threshold_db)
    if loud.size == 0:
        return audio
    return audio[loud[0] * 160 : (loud[-1] + 1) * 160].copy()


def place(voice: np.ndarray) -> np.ndarray:
    lead, tail = np.zeros(int(LEAD_S * RATE), np.int16), np.zeros(int(TAIL_S * RATE), np.int16)
    return np.concatenate([lead, voice, tail])


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x.astype(np.float64) ** 2)) + 1e-9)


def add_noise(audio: np.ndarray, voice: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """audio + noise scaled so the voice stands snr_db above it."""
    noise = np.resize(noise, audio.size).astype(np.float64)
    gain = rms(voice) / rms(noise) / 10 ** (snr_db / 20)
    return np.clip(audio + noise * gain, -32768, 32767).astype(np.int16)


def hiss(size: int, rng: np.random.Generator) -> np.ndarray:
    """Line hiss: white noise, a little high-passed."""
    white = rng.normal(0, 3000, size)
    return white - 0.6 * np.concatenate([[0.0], white[:-1]])


def babble(voices: Voices) -> np.ndarray:
    """Five voices talking at once, none of them to the agent."""
    parts = [voices.espeak(text, *ESPEAK[i % 4]) for i, text in enumerate(BABBLE)]
    longest = max(p.size for p in parts)
    mixed = sum(np.pad(p.astype(np.float64), (0, longest - p.size), mode="wrap") for p in parts)
    return np.asarray(mixed)


def cough(rng: np.random.Generator) -> np.ndarray:
    """Two bursts of shaped noise, 150-250 ms each: a cough."""
    bursts = []
    for _ in range(2):
        n = int(rng.uniform(0.15, 0.25) * RATE)
        envelope = np.exp(-np.linspace(0, 5, n)) * np.minimum(1, np.linspace(0, 20, n))
        body = np.convolve(rng.normal(0, 9000, n), np.ones(6) / 6, mode="same")
        bursts += [body * envelope, np.zeros(int(0.08 * RATE))]
    return np.concatenate(bursts)


def channel(audio: np.ndarray, i: int) -> tuple[np.ndarray, str]:
    if i % 2:
        return phone_line(audio, RATE)[: audio.size], "pcmu-8k"
    return audio, "wideband"


def caller_turns(seed: int = 19) -> Iterator[Clip]:
    """60 turns: 20 finished, 20 paused mid-sentence (half with a filler), 20 noisy."""
    rng = np.random.default_rng(seed)
    voices = Voices()
    try:
        noises = {"babble": babble(voices), "hiss": hiss(RATE * 10, rng)}
        for i in range(20):
            text, keys = FINISHED[i % len(FINISHED)]
            voice, how = voices.say(text, i)
            audio, line = channel(place(voice), i)
            end = int(LEAD_S * RATE) + voice.size
            yield Clip("finished", f"{text} ({how})", audio, end, keys=keys, channel=line)
        for i in range(20):
            first, second = PAUSED[i % len(PAUSED)]
            filler = FILLERS[i % 3] if i % 2 else ""
            a, how = voices.say(f"{first}, {filler}" if filler else first, i + 1)
            b, _ = voices.say(second, i + 1)
            gap = np.zeros(int(rng.uniform(0.4, 0.9) * RATE), np.int16)
            lead = int(LEAD_S * RATE)
            audio, line = channel(place(np.concatenate([a, gap, b])), i)
            pause = (lead + a.size, lead + a.size + gap.size)
            said = f"{first}, {filler} ... {second}" if filler else f"{first} ... {second}"
            label = f"{said} ({how}, {gap.size * 1000 // RATE} ms)"
            yield Clip("paused", label, audio, pause[1] + b.size, pause, channel=line)
        for i in range(20):
            text, keys = FINISHED[(i + 3) % len(FINISHED)]
            voice, how = voices.say(text, i + 2)
            snr = float(rng.uniform(10, 20))
            kind = "babble" if i % 2 else "hiss"
            clean = place(voice)
            noisy = add_noise(clean, voice, noises[kind], snr)
            audio, line = channel(noisy, i // 2)
            end = int(LEAD_S * RATE) + voice.size
            label = f"{text} ({how}, {kind} {snr:.0f} dB)"
            yield Clip("noisy", label, audio, end, keys=keys, channel=line)
    finally:
        voices.close()


def over_agent(seed: int = 20) -> Iterator[Clip]:
    """Sounds the caller makes while the agent speaks: 4 coughs, 4 noise
    bursts (babble, hiss), 6 backchannels, 8 real interruptions."""
    rng = np.random.default_rng(seed)
    voices = Voices()
    try:
        noises = {"babble": babble(voices), "hiss": hiss(RATE * 10, rng)}
        for _ in range(4):
            sound = cough(rng)
            yield Clip("over-agent", "cough", place(sound.astype(np.int16)), 0, truth="noise")
        for i in range(4):
            kind = "babble" if i % 2 else "hiss"
            n = int(rng.uniform(0.3, 0.7) * RATE)
            burst = np.resize(noises[kind], n) * (0.25 / rms(noises[kind]) * 3000)
            audio = place(np.clip(burst, -32768, 32767).astype(np.int16))
            yield Clip("over-agent", f"{kind} burst {n * 1000 // RATE} ms", audio, 0, truth="noise")
        words = [w for w in OVER_AGENT_WORDS if w[1] == "backchannel"] * 2
        words += [w for w in OVER_AGENT_WORDS if w[1] == "interruption"] * 2
        for i, (text, truth) in enumerate(words):
            voice, how = voices.say(text, i)
            yield Clip("over-agent", f"{text} ({how})", place(voice), 0, truth=truth)
    finally:
        voices.close()
