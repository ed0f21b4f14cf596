"""What the caller's words say about the turn: words left hanging (the answer
waits for a caller who pauses mid-sentence; turn engine on virtual time, fake
models), and the hums and thanks that are only backchannels."""

import pytest

from mediaserver.conversation.engine import TurnConfig
from mediaserver.conversation.turn_taking import TurnTaking
from mediaserver.events import AgentSpoke, Interrupted
from tests.fake_speech import FakeSpeech, Line, agent_audio_at, simulate
from tests.unit.test_conversation import GREETING_END

FIRST = "I would like to book a cleaning for"


@pytest.mark.parametrize(
    ("text", "dangles"),
    [
        ("I would like to book a cleaning for", True),
        ("My daughter needs a check-up and, uh...", True),
        ("Could you tell me if", True),
        ("What time do you open on Saturday?", False),
        ("Where can I park my car?", False),
        ("", False),
    ],
)
def test_words_left_hanging(text: str, dangles: bool) -> None:
    assert TurnTaking(TurnConfig(), 16000).dangles(text) is dangles
    assert not TurnTaking(TurnConfig(dangling_wait_ms=0), 16000).dangles(text)


def paused_caller(pause: float) -> tuple[FakeSpeech, Line, Line]:
    first = Line(GREETING_END + 0.5, 1.5, FIRST)
    rest = Line(first.at + first.seconds + pause, 1.2, "next Tuesday morning please")
    return FakeSpeech(answers=["Tuesday at nine works."], lines=[first, rest]), first, rest


def test_a_caller_who_pauses_after_a_dangling_word_is_answered_for_the_whole_sentence() -> None:
    speech, first, rest = paused_caller(pause=0.9)  # longer than the endpointer's 600 ms
    result = simulate(speech, seconds=14)
    (turn,) = result.engine.turns
    assert turn.user_text == f"{FIRST} next Tuesday morning please"
    assert not turn.interrupted
    assert not any(isinstance(e, Interrupted) for e in result.events)
    assert agent_audio_at(result, first.at, rest.at + rest.seconds) == 0  # silent in the pause


def test_without_the_wait_the_same_caller_is_cut_off() -> None:
    speech, first, rest = paused_caller(pause=0.9)
    result = simulate(speech, seconds=14, config=TurnConfig(dangling_wait_ms=0))
    assert result.engine.turns[0].user_text == FIRST
    assert agent_audio_at(result, first.at, rest.at) > 0  # the agent spoke into the pause


def test_words_left_hanging_are_answered_once_the_wait_is_over() -> None:
    first = Line(GREETING_END + 0.5, 1.5, FIRST)
    speech = FakeSpeech(answers=["For when?"], lines=[first])
    result = simulate(speech, seconds=8)
    (turn,) = result.engine.turns
    assert turn.agent_text == "For when?"
    end = first.at + first.seconds
    assert agent_audio_at(result, end, end + 0.6 + 1.0) == 0  # endpointer, then the wait
    assert agent_audio_at(result, end + 0.6 + 1.0, 8) > 0
    (spoke,) = [e for e in result.events if isinstance(e, AgentSpoke)][1:]
    assert not spoke.interrupted


@pytest.mark.parametrize(
    "text", ["Mmmmm.", "M-M-H-M.", "Hmm.", "Mhm", "Thank you.", "Thanks, okay.", "mm-hm"]
)
def test_hums_and_thanks_are_backchannels(text: str) -> None:
    # what Whisper wrote for "mm-hm" (espeak-ng) and for a cough, in bench.turns
    assert TurnTaking(TurnConfig(), 16000).is_backchannel(text)


@pytest.mark.parametrize("text", ["Thank you, and what about Sunday?", "Hmm, my mother", "Him."])
def test_words_beyond_a_hum_or_thanks_are_not(text: str) -> None:
    assert not TurnTaking(TurnConfig(), 16000).is_backchannel(text)
