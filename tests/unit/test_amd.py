"""Answering-machine detection: the detector on generated answers (offline,
frame by frame), the per-call gate on virtual time with a fake conversation
and a fake Speech port, the voicemail policy."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from mediaserver.amd.detector import AmdConfig, AmdDetector
from mediaserver.amd.gate import AmdGate
from mediaserver.amd.offline import detect
from mediaserver.amd.phrases import says_carrier, says_machine
from mediaserver.amd.policy import AmdPolicy, AmdPolicyError
from mediaserver.frames import AudioFrame
from mediaserver.harness import read_wav
from mediaserver.speech import Message, Unavailable
from tests.speech import speak
from tests.virtual_time import run_virtual

RATE = 16000
FRAME = 320
GREETING = (
    "Hi, you have reached John Smith. I can't take your call right now. "
    "Please leave a message after the tone."
)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), np.int16)


def beep(hz: float = 1000.0, seconds: float = 0.4) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (8000 * np.sin(2 * np.pi * hz * t)).astype(np.int16)


@pytest.fixture(scope="module")
def voice(tmp_path_factory: pytest.TempPathFactory) -> object:
    folder = tmp_path_factory.mktemp("voice")
    said: dict[str, np.ndarray] = {}

    def say(text: str) -> np.ndarray:
        if text not in said:
            path = folder / f"{len(said)}.wav"
            speak(text, path)
            said[text] = read_wav(path, 60)
        return said[text]

    return say


@pytest.mark.parametrize("words", ["Hello?", "Yes, speaking.", "Maria Lopez.", "Hi, who is this?"])
def test_a_person_saying_a_few_words_then_waiting_is_human(voice: object, words: str) -> None:
    clip = np.concatenate([silence(0.5), voice(words), silence(5)])  # type: ignore[operator]
    result = detect(clip, RATE, transcribe=lambda audio: words, latency=0.4)
    assert result.decision is not None
    assert (result.decision.verdict, result.decision.reason) == ("human", "short greeting")
    assert result.decision.at_s <= 3.5 and result.transcript == words


def test_a_long_greeting_is_a_machine_and_the_message_waits_for_the_beep(voice: object) -> None:
    greeting = voice(GREETING)  # type: ignore[operator]
    clip = np.concatenate([silence(0.3), greeting, silence(0.6), beep(), silence(4)])
    result = detect(clip, RATE)
    assert result.decision is not None
    assert (result.decision.verdict, result.decision.reason) == ("machine", "long greeting")
    assert result.decision.at_s <= 3.0
    beep_end = (0.3 * RATE + greeting.size + 0.6 * RATE) / RATE + 0.4
    assert result.ready_s is not None and beep_end <= result.ready_s <= beep_end + 0.4


def test_without_a_beep_the_message_starts_once_the_greeting_is_quiet(voice: object) -> None:
    greeting = voice(GREETING)  # type: ignore[operator]
    clip = np.concatenate([silence(0.3), greeting, silence(4)])
    result = detect(clip, RATE)
    end = 0.3 + greeting.size / RATE
    assert result.ready_s is not None and end + 1.0 <= result.ready_s <= end + 2.0


def test_a_short_greeting_is_told_by_its_words(voice: object) -> None:
    clip = np.concatenate([silence(0.3), voice("Leave a message."), silence(5)])  # type: ignore[operator]
    by_timing = detect(clip, RATE)
    assert by_timing.decision is not None and by_timing.decision.verdict == "human"
    heard = detect(clip, RATE, transcribe=lambda audio: "Leave a message.", latency=0.5)
    assert heard.decision is not None
    assert (heard.decision.verdict, heard.decision.reason) == ("machine", "words")


def test_a_short_greeting_ending_in_a_beep_is_a_machine(voice: object) -> None:
    clip = np.concatenate(
        [silence(0.3), voice("Leave a message."), silence(0.3), beep(850, 0.3), silence(4)]  # type: ignore[operator]
    )
    result = detect(clip, RATE, transcribe=lambda audio: "", latency=0.8)
    assert result.decision is not None
    assert (result.decision.verdict, result.decision.beep) == ("machine", True)


def test_a_carriers_announcement_is_a_machine_marked_carrier(voice: object) -> None:
    said = "The number you have called is not in service. Please check the number."
    clip = np.concatenate([silence(0.3), voice(said), silence(3)])  # type: ignore[operator]
    result = detect(clip, RATE, transcribe=lambda audio: said, latency=0.5)
    assert result.decision is not None and result.decision.verdict == "machine"
    assert result.carrier


def test_silence_is_unknown_after_three_seconds() -> None:
    result = detect(silence(6), RATE)
    assert result.decision is not None
    assert (result.decision.verdict, result.decision.reason, result.decision.at_s) == (
        "unknown",
        "silence",
        3.0,
    )


def test_a_beep_alone_is_a_machine_ready_at_once() -> None:
    result = detect(np.concatenate([silence(0.5), beep(1400, 0.5), silence(2)]), RATE)
    assert result.decision is not None and result.decision.reason == "beep"
    assert result.ready_s is not None and 1.0 <= result.ready_s <= 1.4


def test_the_detector_refuses_frames_at_another_rate() -> None:
    with pytest.raises(ValueError, match="expected 16000 Hz"):
        AmdDetector(RATE).feed(AudioFrame.silence(8000), False)


@pytest.mark.parametrize(
    ("text", "machine", "carrier"),
    [
        ("Hello?", False, False),
        ("Yes, speaking.", False, False),
        ("Hi, you've reached Sam. Leave a message.", True, False),
        ("I'm not available right now", True, False),
        ("Please record your message after the tone.", True, False),
        ("The number you have called is not in service", True, True),
        ("Who's calling? I can call you back.", True, False),
        ("We're sorry, your call cannot be completed as dialed.", True, True),
        ("Please leave a method after the meeting.", True, False),
    ],
)
def test_phrases(text: str, machine: bool, carrier: bool) -> None:
    assert says_machine(text) is machine and says_carrier(text) is carrier


def test_the_policy_fills_variables_and_refuses_what_it_cannot_say() -> None:
    policy = AmdPolicy.of(
        "message", "Hi {name}, call us on {phone}.", {"name": "Ann", "phone": "5"}
    )
    assert policy.message == "Hi Ann, call us on 5."
    assert AmdPolicy.of().on_machine == "hangup"
    with pytest.raises(AmdPolicyError, match="needs a voicemail_message"):
        AmdPolicy.of("message", "  ")
    with pytest.raises(AmdPolicyError, match=r"uses \{name\}: no such variable"):
        AmdPolicy.of("message", "Hi {name}")
    with pytest.raises(AmdPolicyError, match="on_machine"):
        AmdPolicy.of("voicemail", "x")


# -- the gate, on virtual time ----------------------------------------------


@dataclass
class FakeConversation:
    started_at: int | None = None
    message: tuple[int, str, str] | None = None
    received: list[int] = field(default_factory=list)
    frames: int = 0

    def voiced(self, frame: AudioFrame) -> bool:
        self.frames += 1
        return bool(np.abs(frame.samples.astype(np.int32)).mean() > 1000)

    def start(self) -> None:
        self.started_at = self.frames

    def receive(self, inbound: AudioFrame) -> None:
        self.received.append(int(np.abs(inbound.samples.astype(np.int32)).max()))

    def leave_message(self, text: str, reason: str) -> None:
        self.message = (self.frames, text, reason)


@dataclass
class FakeStt:
    text: str = ""
    seconds: float = 0.3
    fail: bool = False
    asked: int = 0

    async def transcribe(
        self, audio: AudioFrame, language: str | None = None, prompt: str | None = None
    ) -> str:
        self.asked += 1
        await asyncio.sleep(self.seconds)
        if self.fail:
            raise Unavailable("the models are down")
        return self.text

    def reply(
        self, messages: list[Message], max_tokens: int, temperature: float
    ) -> AsyncIterator[str]:
        raise NotImplementedError

    async def synthesize(self, text: str, *, first: bool = False) -> AudioFrame:
        raise NotImplementedError


def talk(seconds: float) -> np.ndarray:
    """Loud noise for the fake VAD: speech."""
    return np.random.default_rng(1).integers(-8000, 8000, int(seconds * RATE)).astype(np.int16)


def run_gate(clip: np.ndarray, gate: AmdGate) -> None:
    async def drive() -> None:
        for start in range(0, clip.size - FRAME + 1, FRAME):
            gate.receive(AudioFrame(clip[start : start + FRAME], RATE, start))
            await asyncio.sleep(0.02)
        await gate.close()

    run_virtual(drive())


def test_a_person_gets_the_greeting_at_once_and_their_frames_after_it() -> None:
    conversation, decisions, actions = FakeConversation(), [], []
    gate = AmdGate(
        AmdPolicy.of("message", "Hi, call us back."),
        conversation,
        FakeStt("Hello?"),
        RATE,
        on_decision=decisions.append,
        on_action=lambda action, beep: actions.append(action),
    )
    run_gate(np.concatenate([silence(0.4), talk(0.5), silence(4)]), gate)
    assert [d.verdict for d in decisions] == ["human"] and actions == ["converse"]
    assert conversation.started_at is not None and conversation.message is None
    assert 1.5 <= conversation.started_at * 0.02 <= 2.5
    assert len(conversation.received) > 50  # the conversation hears the rest


@pytest.mark.parametrize("stt", [FakeStt(fail=True), FakeStt(seconds=10.0), None])
def test_without_a_transcript_a_short_answer_is_still_a_person(stt: FakeStt | None) -> None:
    conversation, decisions = FakeConversation(), []
    gate = AmdGate(AmdPolicy.of(), conversation, stt, RATE, on_decision=decisions.append)
    run_gate(np.concatenate([silence(0.4), talk(0.5), silence(5)]), gate)
    assert [d.verdict for d in decisions] == ["human"] and conversation.started_at is not None


def test_a_machine_gets_the_message_after_the_beep_with_its_variables() -> None:
    conversation, actions, hung_up = FakeConversation(), [], []
    gate = AmdGate(
        AmdPolicy.of("message", "Hi {name}, this is the clinic.", {"name": "Ann"}),
        conversation,
        FakeStt("Hi, you've reached Ann, leave a message"),
        RATE,
        on_action=lambda action, beep: actions.append(action),
        hang_up=hung_up.append,
    )
    clip = np.concatenate([silence(0.3), talk(4.0), silence(0.5), beep(), silence(3)])
    run_gate(clip, gate)
    assert actions == ["message"] and conversation.started_at is None and not hung_up
    assert conversation.message is not None
    at, text, reason = conversation.message
    assert (text, reason) == ("Hi Ann, this is the clinic.", "voicemail")
    assert 5.2 <= at * 0.02 <= 5.6  # the beep ends at 5.2 s
    assert conversation.received and max(conversation.received) == 0  # the machine is not heard


def test_a_machine_is_hung_up_on_when_the_policy_says_so() -> None:
    conversation, actions, hung_up = FakeConversation(), [], []
    gate = AmdGate(
        AmdPolicy.of("hangup"),
        conversation,
        FakeStt(),
        RATE,
        on_action=lambda action, beep: actions.append(action),
        hang_up=hung_up.append,
    )
    run_gate(np.concatenate([silence(0.3), talk(4.0), silence(2)]), gate)
    assert actions == ["hangup"] and hung_up == ["machine"]
    assert conversation.started_at is None and conversation.message is None


def test_a_carriers_announcement_gets_no_message() -> None:
    conversation, actions = FakeConversation(), []
    stt = FakeStt("The number you have called is not in service.")
    hung_up: list[str] = []
    gate = AmdGate(
        AmdPolicy.of("message", "Call us back."),
        conversation,
        stt,
        RATE,
        on_action=lambda action, beep: actions.append(action),
        hang_up=hung_up.append,
    )
    run_gate(np.concatenate([silence(0.3), talk(4.0), silence(3)]), gate)
    assert actions == ["hangup"] and hung_up == ["carrier"]
    assert conversation.message is None and stt.asked == 1


def test_detection_tuning_is_a_small_frozen_config() -> None:
    config = AmdConfig(long_greeting_s=3.0)
    with pytest.raises(AttributeError):
        config.long_greeting_s = 1.0  # type: ignore[misc]
    assert Path(__file__).name == "test_amd.py"
