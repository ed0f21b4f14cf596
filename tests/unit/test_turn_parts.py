"""The turn engine's parts on their own, on virtual time: turn-taking,
the IVR menu and the call policy."""

from __future__ import annotations

import asyncio

import numpy as np

from mediaserver.agents import Agent, MenuOption
from mediaserver.conversation.menu import IvrMenu
from mediaserver.conversation.policy import CallPolicy, wants_person
from mediaserver.conversation.turn_taking import TurnConfig, TurnTaking
from mediaserver.events import Hangup, SpeechStarted, Transfer
from mediaserver.frames import AudioFrame
from tests.virtual_time import run_virtual

RATE = 16000


def frame(tick: int) -> AudioFrame:
    return AudioFrame(np.zeros(320, np.int16), RATE, tick * 320)


def test_turn_taking_speculates_once_at_the_silence_threshold() -> None:
    listening = TurnTaking(TurnConfig(speculate_after_ms=100), RATE)
    listening.started(SpeechStarted(0))
    fired = [listening.follow(frame(t), voiced=t < 10) for t in range(20)]
    assert [i for i, f in enumerate(fired) if f] == [14]  # the 5th silent frame: 100 ms
    assert listening.voiced_ms == 200 and listening.silence_ms == 200
    assert listening.voice_end(0, 20 * 320) == 10 * 320  # before the endpointer's hangover


def test_turn_taking_speech_resets_the_silence_and_interrupts_after_its_limit() -> None:
    listening = TurnTaking(TurnConfig(speculate_after_ms=100, interrupt_after_ms=200), RATE)
    listening.started(SpeechStarted(0))
    for t in range(4):
        listening.follow(frame(t), voiced=False)
    assert not listening.follow(frame(4), voiced=True)
    assert listening.silence_ms == 0 and not listening.should_interrupt()
    for t in range(5, 14):
        listening.follow(frame(t), voiced=True)
    assert listening.should_interrupt()


def test_backchannels_are_only_backchannels() -> None:
    listening = TurnTaking(TurnConfig(), RATE)
    assert listening.is_backchannel("Uh huh, okay.")
    assert listening.is_backchannel("yeah yeah")
    assert not listening.is_backchannel("okay so what about Tuesday")


MENU = (MenuOption("1", "en", "Hello."), MenuOption("2", "de", "Hallo."))


def test_menu_picks_by_digit_and_falls_back_to_the_first_option() -> None:
    async def main() -> None:
        menu = IvrMenu(Agent(menu=MENU, menu_retries=1, menu_timeout_seconds=6.0))
        assert menu.option("2") is MENU[1] and menu.option("9") is None
        assert not menu.timed_out()  # no deadline before the prompt has played
        menu.prompt_played()
        await asyncio.sleep(5.9)
        assert not menu.timed_out()
        await asyncio.sleep(0.2)
        assert menu.timed_out()
        assert menu.retry() is None  # play it again
        assert not menu.timed_out()
        assert menu.retry() is MENU[0]  # out of tries

    run_virtual(main())


def test_policy_asks_once_then_hangs_up_on_silence() -> None:
    async def main() -> list[str | None]:
        policy = CallPolicy(Agent(silence_seconds=15))
        seen = []
        for _ in range(40):
            seen.append(policy.check(caller_active=False, agent_busy=False))
            await asyncio.sleep(1.0)
        return [s for s in seen if s]

    assert run_virtual(main())[:2] == ["still_there", "silence"]


def test_policy_hands_over_after_three_turns_not_understood() -> None:
    policy = CallPolicy(Agent())
    assert not policy.not_understood() and not policy.not_understood()
    policy.understood()
    assert [policy.not_understood() for _ in range(3)] == [False, False, True]


def test_policy_announces_transfer_or_hangup_after_the_reply() -> None:
    policy = CallPolicy(Agent(transfer_target="sip:desk@example.org", max_turns=1))
    assert policy.after_reply() is None
    policy.transfer_after_reply = True
    assert policy.after_reply() == Transfer("sip:desk@example.org")
    assert policy.after_reply() is None
    assert not policy.count_turn() and policy.count_turn()
    policy.hangup_reason = "max_turns"
    assert policy.after_reply() == Hangup("max_turns")
    assert wants_person("Can I talk to a real person?") and not wants_person("a cleaning")
