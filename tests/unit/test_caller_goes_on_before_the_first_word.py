"""A caller who pauses past the endpointer and goes on before the agent's
first word is heard is not cut off: the answer under way is dropped unheard
and the whole sentence answered (turn engine on virtual time, fake models).
bench.turns counts a cut-off only when the agent's first word comes first."""

from mediaserver.conversation.engine import TurnConfig
from tests.fake_speech import FakeSpeech, Line, agent_audio_at, simulate
from tests.unit.test_conversation import GREETING_END

FIRST = "I need to cancel my appointment."  # looks finished: nothing holds the answer
REST = "on Thursday afternoon."
PAUSE_S = 0.75  # past the endpointer's 600 ms


def paused(speech: FakeSpeech) -> tuple[list[str], float]:
    """The turns' words, and the agent's audio heard before the caller finished."""
    first = Line(GREETING_END + 0.5, 1.5, FIRST)
    rest = Line(first.at + first.seconds + PAUSE_S, 1.2, REST)
    speech.answers = ["Which appointment?", "Your Thursday appointment is cancelled."]
    speech.lines = [first, rest]
    result = simulate(speech, 14, config=TurnConfig())
    turns = [t.user_text for t in result.engine.turns]
    return turns, agent_audio_at(result, first.at, rest.at + rest.seconds)


def test_a_caller_back_before_the_first_word_is_answered_for_the_whole_sentence() -> None:
    # the first clause is ready 160 ms + STT + first token + TTS after the voice stopped
    slow = FakeSpeech(stt_seconds=0.3, first_token_seconds=0.4, tts_seconds=0.1)
    turns, heard = paused(slow)
    assert turns == [f"{FIRST} {REST}"]
    assert heard == 0


def test_a_caller_back_after_the_first_word_was_cut_off() -> None:
    fast = FakeSpeech(stt_seconds=0.05, first_token_seconds=0.05, tts_seconds=0.01)
    turns, heard = paused(fast)
    assert turns[0] == FIRST
    assert heard > 0
