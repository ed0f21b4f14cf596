"""The turn engine on virtual time with fake models: no sleeping, no flakes."""

import numpy as np
import pytest

from mediaserver.agents import Agent, MenuOption
from mediaserver.config import VadConfig
from mediaserver.conversation.clauses import ClauseSplitter
from mediaserver.conversation.engine import TurnConfig
from mediaserver.conversation.history import History
from mediaserver.events import (
    AgentClause,
    AgentSpoke,
    AgentText,
    Hangup,
    Interrupted,
    MenuChoice,
    Transfer,
)
from mediaserver.session import Session
from tests.fake_speech import RATE, WORD_SECONDS, FakeSpeech, Line, agent_audio_at, simulate

GREETING_WORDS = len(Agent().greeting.split())
GREETING_END = 0.05 + GREETING_WORDS * WORD_SECONDS + 0.1  # after TTS time, with a frame to spare


def test_the_greeting_is_spoken_first() -> None:
    result = simulate(FakeSpeech(), seconds=5)
    first = np.flatnonzero(result.out)[0] / RATE
    assert first <= 0.1
    assert agent_audio_at(result, 0, 5) == pytest.approx(GREETING_WORDS * WORD_SECONDS, abs=0.03)
    assert result.engine.history.entries[0] == {"role": "assistant", "content": Agent().greeting}


def test_a_question_is_answered_with_timed_stages() -> None:
    speech = FakeSpeech(
        answers=["We open at nine on Monday."],
        lines=[Line(GREETING_END + 0.5, 1.5, "When do you open?")],
    )
    result = simulate(speech, seconds=14)
    (turn,) = result.engine.turns
    assert turn.user_text == "When do you open?"
    assert turn.agent_text == "We open at nine on Monday."
    assert not turn.interrupted
    t = turn.timings_ms
    assert t["speech_end"] == 0
    # transcription starts after 160 ms of trailing silence and takes 200 ms;
    # the answer waits for the endpointer (600 ms) before it is heard
    assert t["stt_done"] == pytest.approx(160 + 200, abs=45)
    assert t["first_token"] == pytest.approx(t["stt_done"] + 150, abs=5)
    assert t["first_tts_audio"] > t["first_token"]
    assert turn.voice_to_voice_ms == pytest.approx(t["first_tts_audio"], abs=25)
    assert speech.prompts[0][0]["role"] == "system"
    assert speech.prompts[0][-1] == {"role": "user", "content": "When do you open?"}
    assert speech.stt_prompts == [Agent().stt_prompt]  # Whisper hears the agent's vocabulary


def test_without_speculation_transcription_waits_for_the_endpointer() -> None:
    speech = FakeSpeech(answers=["Nine."], lines=[Line(GREETING_END + 0.5, 1.5, "When?")])
    result = simulate(speech, seconds=10, config=TurnConfig(speculate_after_ms=0))
    assert result.engine.turns[0].timings_ms["stt_done"] == pytest.approx(600 + 200, abs=45)


def test_speculation_is_dropped_when_the_caller_goes_on_after_a_pause() -> None:
    line = Line(GREETING_END + 0.5, 2.5, "I would like to book a cleaning", pause=(1.0, 0.45))
    speech = FakeSpeech(answers=["For when?"], lines=[line])
    result = simulate(speech, seconds=12)
    (turn,) = result.engine.turns
    assert turn.user_text == "I would like to book a cleaning"
    assert (
        speech.transcribed[0] != speech.transcribed[-1]
    )  # the partial was transcribed, then dropped
    assert [m for m in result.engine.history.entries if m["role"] == "user"] == [
        {"role": "user", "content": "I would like to book a cleaning"}
    ]
    assert agent_audio_at(result, line.at, line.at + line.seconds) == 0


def test_a_speculative_answer_is_not_heard_before_the_endpointer_confirms() -> None:
    line = Line(GREETING_END + 0.5, 1.0, "Hi")
    speech = FakeSpeech(
        stt_seconds=0.05,
        first_token_seconds=0.05,
        tts_seconds=0.01,
        answers=["Hello."],
        lines=[line],
    )
    result = simulate(speech, seconds=8)
    end = line.at + line.seconds
    assert agent_audio_at(result, end, end + 0.6) == 0
    assert agent_audio_at(result, end + 0.6, end + 1.0) > 0.2
    assert result.engine.turns[0].voice_to_voice_ms == pytest.approx(620, abs=30)


def test_the_first_clause_plays_before_the_llm_is_done() -> None:
    answer = "Sure, I can help with that booking, just tell me the day you would like, please."
    speech = FakeSpeech(
        token_seconds=0.2, answers=[answer], lines=[Line(GREETING_END + 0.5, 1.0, "Book me in")]
    )
    result = simulate(speech, seconds=20)
    (turn,) = result.engine.turns
    llm_done = turn.timings_ms["first_token"] + 0.2 * 1000 * (len(answer.split()) - 1)
    assert turn.voice_to_voice_ms is not None and turn.voice_to_voice_ms < llm_done - 1000
    assert turn.agent_text == answer
    # each clause is announced as it starts to play: the first before the LLM is done
    kinds = [type(e).__name__ for e in result.events]
    reply_done = kinds.index("AgentText", kinds.index("AgentText") + 1)  # after the greeting's
    clauses = [(i, e.text) for i, e in enumerate(result.events) if isinstance(e, AgentClause)]
    answer_clauses = [(i, text) for i, text in clauses if i > kinds.index("AgentSpoke")]
    assert " ".join(text for _, text in answer_clauses) == answer
    assert len(answer_clauses) >= 2 and answer_clauses[0][0] < reply_done


def speech_greeting(result: object) -> str:
    return str(result.engine.agent.greeting)  # type: ignore[attr-defined]


def test_speaking_over_the_agent_cuts_it_and_history_keeps_what_was_heard() -> None:
    answer = "Our address is twelve Mill Street, next to the post office, and parking is free."
    question = Line(GREETING_END + 0.5, 1.0, "Where are you?")
    barge = Line(0, 2.0, "Actually what about Saturday?")
    speech = FakeSpeech(answers=[answer, "Saturday we open at nine."], lines=[question, barge])
    # the caller barges in one second into the reply
    first_audio = question.at + question.seconds + 0.6 + 0.2 + 0.15 + 0.05
    barge.at = round(first_audio + 1.0, 2)
    result = simulate(speech, seconds=20)
    first, second = result.engine.turns
    assert first.interrupted
    heard = first.agent_text
    assert heard and answer.startswith(heard) and heard != answer
    assert (
        agent_audio_at(result, barge.at + 0.3, barge.at + barge.seconds) == 0
    )  # cut within 300 ms
    assert any(isinstance(e, Interrupted) and e.heard == heard for e in result.events)
    cut = next(i for i, e in enumerate(result.events) if isinstance(e, Interrupted))
    greeting_done = next(i for i, e in enumerate(result.events) if isinstance(e, AgentSpoke))
    announced = " ".join(
        e.text for e in result.events[greeting_done:cut] if isinstance(e, AgentClause)
    )
    assert announced.startswith(heard) and announced != answer  # only clauses that played
    assistant = [e["content"] for e in result.engine.history.entries if e["role"] == "assistant"]
    assert assistant[1] == heard
    assert second.user_text == "Actually what about Saturday?"
    assert second.agent_text == "Saturday we open at nine."
    # what the call record gets: greeting, the cut reply (heard part), the second reply
    spoken = [e for e in result.events if isinstance(e, AgentSpoke)]
    assert [(e.text, e.interrupted) for e in spoken] == [
        (speech_greeting(result), False),
        (heard, True),
        ("Saturday we open at nine.", False),
    ]
    cut = spoken[1]
    call_start = spoken[0].started  # the greeting goes out at once
    assert cut.started - call_start < barge.at
    assert 0 < cut.ended - call_start - barge.at <= 0.4  # cut soon after the caller started
    assert dict(cut.timings_ms)["first_audio_out"] == first.voice_to_voice_ms


def test_a_reply_cut_by_the_hang_up_is_recorded_as_far_as_it_was_heard() -> None:
    answer = "Our address is twelve Mill Street, next to the post office, and parking is free."
    question = Line(GREETING_END + 0.5, 1.0, "Where are you?")
    speech = FakeSpeech(answers=[answer], lines=[question])
    first_audio = question.at + question.seconds + 0.6 + 0.2 + 0.15 + 0.05
    result = simulate(speech, seconds=first_audio + 1.5)  # the caller hangs up mid-reply
    (turn,) = result.engine.turns
    spoken = [e for e in result.events if isinstance(e, AgentSpoke)]
    cut = spoken[-1]
    assert cut.interrupted and cut.text and answer.startswith(cut.text) and cut.text != answer
    assert turn.interrupted and turn.agent_text == cut.text


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("Okay.", 0.4), ("Mm-hmm", 0.5), ("", 0.15), ("Okay. Okay.", 0.5), ("Yeah, uh huh.", 0.6)],
)
def test_a_backchannel_or_a_cough_does_not_cut_the_agent(text: str, seconds: float) -> None:
    answer = "We are open from eight to six on weekdays and from nine to one on Saturday mornings."
    question = Line(GREETING_END + 0.5, 1.0, "When are you open?")
    speech = FakeSpeech(answers=[answer], lines=[question, Line(question.at + 3.5, seconds, text)])
    result = simulate(speech, seconds=25)
    (turn,) = result.engine.turns
    assert not turn.interrupted
    assert turn.agent_text == answer
    total = (GREETING_WORDS + len(answer.split())) * WORD_SECONDS
    assert agent_audio_at(result, 0, 25) == pytest.approx(total, abs=0.05)  # nothing lost
    assert not any(isinstance(e, Interrupted) for e in result.events)


def test_a_backchannel_then_a_question_cuts_the_agent() -> None:
    answer = "We are open from eight to six on weekdays and from nine to one on Saturday mornings."
    question = Line(GREETING_END + 0.5, 1.0, "When are you open?")
    follow_up = Line(question.at + 3.5, 0.6, "Okay, and Sunday?")
    speech = FakeSpeech(answers=[answer, "Closed on Sunday."], lines=[question, follow_up])
    result = simulate(speech, seconds=20)
    assert result.engine.turns[0].interrupted
    assert result.engine.turns[1].user_text == "Okay, and Sunday?"


def test_long_speech_over_the_agent_interrupts_before_it_ends() -> None:
    answer = "We are open from eight to six on weekdays and from nine to one on Saturday mornings."
    question = Line(GREETING_END + 0.5, 1.0, "When are you open?")
    long_talk = Line(question.at + 3.5, 4.0, "No no listen I need an emergency appointment today")
    speech = FakeSpeech(answers=[answer, "Let me help."], lines=[question, long_talk])
    result = simulate(speech, seconds=20, config=TurnConfig(interrupt_after_ms=800))
    interrupts = [i for i, e in enumerate(result.events) if isinstance(e, Interrupted)]
    assert interrupts
    assert result.engine.turns[0].interrupted


def test_silence_or_noise_transcribed_as_nothing_gets_a_reprompt() -> None:
    speech = FakeSpeech(lines=[Line(GREETING_END + 0.5, 1.0, "")])
    result = simulate(speech, seconds=10)
    (turn,) = result.engine.turns
    assert turn.reprompt and turn.agent_text == Agent().reprompt
    assert speech.prompts == []  # the LLM was not asked


@pytest.mark.parametrize("failure", ["fail_llm", "stall_llm"])
def test_a_failing_or_stalled_llm_gives_the_fallback_phrase_and_the_call_goes_on(
    failure: str,
) -> None:
    lines = [
        Line(GREETING_END + 0.5, 1.0, "Hello?"),
        Line(GREETING_END + 16, 1.0, "Are you there?"),
    ]
    speech = FakeSpeech(lines=lines, **{failure: True})
    config = TurnConfig(first_token_timeout_s=2.0)
    result = simulate(speech, seconds=30, config=config)
    assert [t.agent_text for t in result.engine.turns] == [Agent().fallback, Agent().fallback]


def test_models_out_of_reach_give_the_fallback_phrase_not_a_re_prompt(
    caplog: pytest.LogCaptureFixture,
) -> None:
    lines = [Line(GREETING_END + 0.5, 1.0, "Hello?")]
    speech = FakeSpeech(lines=lines, fail_stt=True)
    result = simulate(speech, seconds=10)
    (turn,) = result.engine.turns
    assert turn.agent_text == Agent().fallback and not turn.reprompt
    failures = [r for r in caplog.records if "transcription failed" in r.getMessage()]
    assert len(failures) == 1 and failures[0].exc_info is None  # one line, no stack
    assert "Unavailable" in failures[0].getMessage()


def test_a_clause_voiced_at_another_rate_is_never_played_the_fallback_is() -> None:
    answer = "We open at nine."
    lines = [Line(GREETING_END + 0.5, 1.0, "When do you open?")]
    speech = FakeSpeech(answers=[answer], lines=lines, wrong_rate=frozenset({answer}))
    result = simulate(speech, seconds=10)
    (turn,) = result.engine.turns
    assert turn.agent_text == Agent().fallback
    assert agent_audio_at(result, GREETING_END, 10) == pytest.approx(
        len(Agent().fallback.split()) * WORD_SECONDS, abs=0.03
    )


def test_max_turns_says_goodbye_and_hangs_up() -> None:
    lines = [Line(GREETING_END + 0.5 + 4 * i, 1.0, f"Question {i}") for i in range(3)]
    speech = FakeSpeech(answers=["Yes."] * 3, lines=lines)
    result = simulate(speech, seconds=30, agent=Agent(max_turns=2))
    assert [t.agent_text for t in result.engine.turns] == ["Yes.", "Yes.", Agent().goodbye]
    assert isinstance(result.events[-1], Hangup)
    assert result.engine.ended.is_set()


def test_the_caller_going_on_before_the_agent_speaks_is_answered_as_one_utterance() -> None:
    first = Line(GREETING_END + 0.5, 1.0, "I would like to book")
    second = Line(first.at + 1.0 + 0.65, 1.0, "a cleaning on Friday")  # pause just past end_ms
    speech = FakeSpeech(
        stt_seconds=0.5,
        first_token_seconds=1.5,
        answers=["First.", "Friday works."],
        lines=[first, second],
    )
    result = simulate(speech, seconds=15)
    (turn,) = result.engine.turns
    assert turn.user_text == "I would like to book a cleaning on Friday"
    assert speech.prompts[-1][-1]["content"] == "I would like to book a cleaning on Friday"


def test_history_is_bounded_by_tokens_and_starts_on_a_user_turn() -> None:
    history = History("system " * 10, budget_tokens=60)
    for i in range(20):
        history.add("user", f"question number {i} " * 3)
        history.add("assistant", f"answer number {i} " * 3)
    messages = history.messages()
    assert messages[0]["role"] == "system"
    assert messages[1]["role"] == "user"
    assert messages[-1]["content"].startswith("answer number 19")
    assert sum(len(m["content"]) // 4 + 1 for m in messages) <= 60 + 20


@pytest.mark.parametrize(
    ("pieces", "clauses"),
    [
        (["Hello", " there.", " How are", " you?"], ["Hello there.", "How are you?"]),
        (
            ["Dr. Patel is in", " at 3.5 past", " nine. Ok"],
            ["Dr. Patel is in at 3.5 past nine.", "Ok"],
        ),
        (
            ["Sure, I can book that for you, just tell me the day"],
            ["Sure, I can book that for you,", "just tell me the day"],
        ),
        (["We open at 8, close at 6."], ["We open at 8,", "close at 6."]),
        (["Yes, we do, and happily."], ["Yes, we do, and happily."]),
        (["Wow!!", " Great"], ["Wow!!", "Great"]),
    ],
)
def test_clause_splitter(pieces: list[str], clauses: list[str]) -> None:
    splitter = ClauseSplitter(first_max_words=0)
    out = [c for p in pieces for c in splitter.feed(p)]
    if rest := splitter.flush():
        out.append(rest)
    assert out == clauses


def test_a_first_clause_without_punctuation_is_cut_after_a_few_whole_words() -> None:
    splitter = ClauseSplitter(first_max_words=6)
    assert splitter.feed("Saturday we open at nine") == []  # "nine" may go on ("nineteen")
    assert splitter.feed(" am and close") == ["Saturday we open at nine am"]
    assert splitter.feed(" at one pm, see you") == []  # later clauses wait for punctuation
    assert splitter.flush() == "and close at one pm, see you"
    short = ClauseSplitter(first_max_words=6)
    assert short.feed("Yes, of course. ") == ["Yes, of course."]


def test_a_silent_caller_is_asked_once_then_the_call_ends() -> None:
    agent = Agent(silence_seconds=5)
    result = simulate(FakeSpeech(), seconds=40, agent=agent)
    spoken = [e.text for e in result.events if isinstance(e, AgentText)]
    assert spoken == [agent.greeting, agent.still_there, agent.goodbye]
    assert result.events[-1] == Hangup("silence")
    assert result.engine.ended.is_set()
    assistant = [e["content"] for e in result.engine.history.entries if e["role"] == "assistant"]
    assert assistant == [agent.greeting]  # prompts of the call itself stay out of the LLM's view


def test_answering_the_still_there_prompt_keeps_the_call_going() -> None:
    agent = Agent(silence_seconds=5)
    greeting_end = GREETING_END
    prompt_end = greeting_end + 5 + 0.05 + len(agent.still_there.split()) * WORD_SECONDS
    speech = FakeSpeech(answers=["Great."], lines=[Line(prompt_end + 0.5, 1.0, "Yes I am here")])
    result = simulate(speech, seconds=prompt_end + 4, agent=agent)
    assert not any(isinstance(e, Hangup) for e in result.events)
    assert result.engine.turns[-1].agent_text == "Great."


def test_the_call_ends_at_its_maximum_length() -> None:
    agent = Agent(max_call_seconds=8, silence_seconds=60)
    result = simulate(FakeSpeech(), seconds=20, agent=agent)
    assert result.events[-1] == Hangup("max_duration")


def test_inbound_audio_ring_keeps_the_last_seconds_by_position() -> None:
    from mediaserver.frames import AudioFrame, InboundAudio

    ring = InboundAudio(16000, 1.0)
    stream = np.arange(16000 * 3, dtype=np.int64) % 30000
    for pos in range(0, stream.size, 320):
        ring.append(AudioFrame(stream[pos : pos + 320].astype(np.int16), 16000, pos))
    assert np.array_equal(ring.slice(40000, 48000), stream[40000:48000])
    assert np.array_equal(ring.slice(30000, 48000), stream[32000:48000])  # older is gone
    assert np.array_equal(ring.slice(47000, 49000), stream[47000:48000])  # newer is not there yet
    assert ring.slice(10, 20).size == 0


def test_asking_for_a_person_is_transferred_after_the_agent_says_so() -> None:
    agent = Agent(transfer_target="sip:frontdesk@127.0.0.1")
    speech = FakeSpeech(lines=[Line(GREETING_END + 0.5, 1.5, "Can I speak to a person please?")])
    result = simulate(speech, seconds=12, agent=agent)
    spoken = [e.text for e in result.events if isinstance(e, AgentText)]
    assert spoken[-1] == agent.transfer_phrase
    assert result.events[-1] == Transfer("sip:frontdesk@127.0.0.1")
    assert speech.prompts == []  # no LLM needed


def test_three_turns_not_understood_in_a_row_hand_over_to_a_person() -> None:
    agent = Agent(transfer_target="sip:frontdesk@127.0.0.1")
    lines = [Line(GREETING_END + 0.5 + 4 * i, 1.0, "") for i in range(3)]
    result = simulate(FakeSpeech(lines=lines), seconds=20, agent=agent)
    assert [t.reprompt for t in result.engine.turns] == [True, True, False]
    assert isinstance(result.events[-1], Transfer)


def test_without_a_transfer_target_the_caller_is_told_how_and_the_call_ends() -> None:
    agent = Agent()
    speech = FakeSpeech(lines=[Line(GREETING_END + 0.5, 1.5, "I want to talk to a human")])
    result = simulate(speech, seconds=20, agent=agent)
    assert result.engine.turns[-1].agent_text == agent.no_transfer
    assert result.events[-1] == Hangup("no_transfer_target")


MENU = (
    MenuOption("1", "en", "Hello, Riverside Dental. How can I help?", "English"),
    MenuOption("2", "hi", "Namaste, Riverside Dental.", "Hindi"),
)
PROMPT = "For English, press 1. For Hindi, press 2."
MENU_PROMPT_SECONDS = 0.05 + len(PROMPT.split()) * WORD_SECONDS


def spoken_texts(result: object) -> list[str]:
    return [e.text for e in result.events if isinstance(e, AgentSpoke)]  # type: ignore[attr-defined]


def test_a_menu_digit_picks_the_language_and_greeting_before_the_conversation() -> None:
    pressed = MENU_PROMPT_SECONDS + 0.5
    question = Line(pressed + 4.0, 1.0, "Kya aap Saturday ko khule hain?")
    speech = FakeSpeech(answers=["Haan, nau baje se."], lines=[question])
    agent = Agent(menu=MENU, menu_timeout_seconds=4.0)
    result = simulate(speech, seconds=12, agent=agent, digits={pressed: "2"})
    assert spoken_texts(result)[:2] == [
        "For English, press 1. For Hindi, press 2.",
        MENU[1].greeting,
    ]
    assert MenuChoice("2", "hi") in result.events
    assert speech.languages == ["hi"]  # the caller is transcribed in the language chosen
    assert speech.stt_prompts == [None]  # without the agent's English vocabulary
    assert "reply in Hindi" in speech.prompts[0][0]["content"]
    (turn,) = result.engine.turns
    assert turn.agent_text == "Haan, nau baje se."


def test_speech_during_the_menu_is_not_a_turn_and_no_digit_means_the_first_option() -> None:
    talk = Line(0.5, 1.0, "hello?")  # over the prompt: ignored, the menu wants a digit
    speech = FakeSpeech(answers=[], lines=[talk])
    agent = Agent(menu=MENU, menu_timeout_seconds=1.0, menu_retries=1)
    result = simulate(speech, seconds=10, agent=agent)
    assert spoken_texts(result)[:3] == [PROMPT, PROMPT, MENU[0].greeting]  # one retry
    assert MenuChoice("1", "en") in result.events
    assert result.engine.turns == [] and speech.transcribed == []


def test_a_wrong_digit_says_so_and_plays_the_menu_again() -> None:
    agent = Agent(menu=MENU, menu_timeout_seconds=3.0)
    pressed = MENU_PROMPT_SECONDS + 0.3
    result = simulate(FakeSpeech(), seconds=8, agent=agent, digits={pressed: "7"})
    texts = spoken_texts(result)
    assert texts[1].startswith("Sorry, 7 is not an option. For English, press 1.")
    assert not any(isinstance(e, MenuChoice) for e in result.events)


@pytest.mark.parametrize("ms", [0, 300])
def test_the_vad_config_decides_when_an_answer_is_prepared(ms: int) -> None:
    session = Session(Agent(), FakeSpeech(), VadConfig(speculate_ms=ms))
    assert session.engine.config.speculate_after_ms == ms
