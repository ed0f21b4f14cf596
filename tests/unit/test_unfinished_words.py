"""Words Whisper did not end as a sentence ("I'd like a cleaning," / "...",
no mark at all): with TurnConfig.unfinished_wait_ms the answer waits that
long, bounded, for a caller who goes on; a finished sentence is answered as
soon as the endpointer agrees (turn engine on virtual time, fake models)."""

import pytest

from mediaserver.conversation.engine import TurnConfig
from mediaserver.conversation.turn_taking import TurnTaking
from tests.fake_speech import FakeSpeech, Line, agent_audio_at, simulate
from tests.unit.test_conversation import GREETING_END

WAIT = TurnConfig(unfinished_wait_ms=800)
ENDPOINTER_S = 0.6
UNFINISHED = "I would like a cleaning on Monday,"  # no word left hanging: only the comma says it


@pytest.mark.parametrize(
    ("text", "wait_ms"),
    [
        ("I would like a cleaning on Monday,", 800),
        ("I would like a cleaning on Monday...", 800),
        ("I would like a cleaning on Monday -", 800),
        ("I would like a cleaning on Monday", 800),
        ("Could you tell me if", 1000),  # a word left hanging: the longer wait
        ("What time do you open on Saturday?", 0),
        ("I need to cancel my appointment.", 0),
        ('He said "yes."', 0),
        ("Thanks!", 0),
        ("", 0),
    ],
)
def test_how_long_an_answer_waits(text: str, wait_ms: int) -> None:
    assert TurnTaking(WAIT, 16000).answer_wait_ms(text) == wait_ms


def test_off_by_default_and_when_zero() -> None:
    assert TurnTaking(TurnConfig(), 16000).answer_wait_ms(UNFINISHED) == 0
    assert TurnTaking(TurnConfig(), 16000).answer_wait_ms("Could you tell me if") == 1000


def answered(text: str, config: TurnConfig) -> tuple[float, float]:
    """(seconds of agent audio before end + endpointer + wait, after it)."""
    line = Line(GREETING_END + 0.5, 1.5, text)
    result = simulate(FakeSpeech(answers=["Monday at nine works."], lines=[line]), 8, config=config)
    (turn,) = result.engine.turns
    assert turn.user_text == text
    released = line.at + line.seconds + ENDPOINTER_S + WAIT.unfinished_wait_ms / 1000
    return agent_audio_at(result, line.at, released), agent_audio_at(result, released, 8)


def test_an_answer_to_an_unfinished_sentence_is_held_for_the_wait_then_played() -> None:
    before, after = answered(UNFINISHED, WAIT)
    assert before == 0  # held through the endpointer's 600 ms and the 800 ms more
    assert after > 0  # bounded: played once the wait is over


def test_an_answer_to_a_finished_sentence_is_not_held() -> None:
    before, _ = answered("I would like a cleaning on Monday.", WAIT)
    assert before > 0  # played within the time an unfinished one waits


def test_without_the_wait_the_unfinished_sentence_is_answered_at_once() -> None:
    before, _ = answered(UNFINISHED, TurnConfig())
    assert before > 0


def paused(config: TurnConfig) -> tuple[str, float]:
    """A caller pausing 0.9 s after a comma: the turn's words and the agent's
    audio heard before the caller finished."""
    first = Line(GREETING_END + 0.5, 1.5, UNFINISHED)
    rest = Line(first.at + first.seconds + 0.9, 1.2, "or Tuesday, in the morning.")
    speech = FakeSpeech(answers=["Tuesday at nine works."], lines=[first, rest])
    result = simulate(speech, 14, config=config)
    return result.engine.turns[0].user_text, agent_audio_at(result, first.at, rest.at)


def test_a_caller_who_goes_on_within_the_wait_is_answered_for_the_whole_sentence() -> None:
    text, spoken = paused(WAIT)
    assert text == f"{UNFINISHED} or Tuesday, in the morning."
    assert spoken == 0
    cut_text, cut_spoken = paused(TurnConfig())  # today's default: cut off in the pause
    assert cut_text == UNFINISHED
    assert cut_spoken > 0
