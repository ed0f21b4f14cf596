"""Call policy: how long a call may last, a caller who went quiet, a caller
we keep failing to understand, and the hand-over to a person; and what the
agent says on the policy's account (the engine speaks it)."""

from __future__ import annotations

import re
from typing import Any

from mediaserver.agents import Agent
from mediaserver.clock import now
from mediaserver.conversation.reply import Reply
from mediaserver.conversation.turns import Turn
from mediaserver.events import CallEvent, Hangup, SendDtmf, Transfer
from mediaserver.tools.spec import DTMF_DIGITS

WANTS_PERSON = re.compile(
    r"\b(human|operator|representative|real person|receptionist|"
    r"(talk|speak|speaking|talking)\s+(to|with)\s+(a|an|some|the)?\s*"
    r"(person|someone|somebody|staff|colleague|people|dentist|doctor)|"
    r"(transfer|connect|put)\s+me\s+(through|to))\b"
)
NOT_UNDERSTOOD_LIMIT = 3  # re-prompts in a row before handing over to a person


def wants_person(text: str) -> bool:
    return WANTS_PERSON.search(text.lower()) is not None


class CallPolicy:
    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.user_turns = 0
        self.hangup_reason: str | None = None  # say the current reply, then hang up
        self.transfer_after_reply = False
        self._started_at: float | None = None
        self._heard_at: float | None = None  # the caller's last speech, or the agent's last word
        self._asked_still_there = False
        self._reprompts = 0  # in a row

    def check(self, caller_active: bool, agent_busy: bool) -> str | None:
        """Once a tick. "still_there": ask whether the caller is there; a hang-up
        reason ("max_duration", "silence"): say goodbye; None: nothing to do."""
        t = now()
        if self._started_at is None:
            self._started_at = self._heard_at = t
        if caller_active or agent_busy:
            self._heard_at = t
            if caller_active:
                self._asked_still_there = False
            return None
        if self.hangup_reason is not None:
            return None
        if t - self._started_at >= self.agent.max_call_seconds:
            return "max_duration"
        if self._heard_at is not None and t - self._heard_at >= self.agent.silence_seconds:
            if self._asked_still_there:
                return "silence"
            self._asked_still_there = True
            return "still_there"
        return None

    def limits(self, caller_active: bool, agent_busy: bool) -> Reply | None:
        """Max call length, and a caller who went quiet: ask once, then say goodbye."""
        match self.check(caller_active, agent_busy):
            case None:
                return None
            case "still_there":
                return Reply(None, self.agent.still_there, in_history=False)
            case reason:
                return self.goodbye(reason, None)

    def hand_over(self, turn: Turn) -> Reply:
        """The caller wants a person (or we keep failing them): transfer, or say how."""
        if not self.agent.transfer_target:
            return self.goodbye("no_transfer_target", turn, self.agent.no_transfer)
        self.transfer_after_reply = True
        return Reply(turn, self.agent.transfer_phrase, in_history=False)

    def goodbye(self, reason: str, turn: Turn | None, text: str | None = None) -> Reply:
        """Say `text` (the agent's goodbye by default), then hang up with `reason`."""
        self.hangup_reason = reason
        return Reply(turn, text or self.agent.goodbye, in_history=False)

    def heard(self) -> None:
        """The agent just finished speaking: the silence clock starts again."""
        self._heard_at = now()

    def not_understood(self) -> bool:
        """Another utterance with no words; True: hand the caller over."""
        self._reprompts += 1
        return self._reprompts >= NOT_UNDERSTOOD_LIMIT

    def understood(self) -> None:
        self._reprompts = 0

    def count_turn(self) -> bool:
        """One more caller turn; True: past the agent's limit."""
        self.user_turns += 1
        return self.user_turns > self.agent.max_turns

    def uncount_turn(self) -> None:
        self.user_turns -= 1

    def builtin(self, name: str, arguments: dict[str, Any]) -> tuple[str | None, SendDtmf | None]:
        """A built-in tool the LLM called: (what the agent says, the keys to press)."""
        match name:
            case "transfer_call" if self.agent.transfer_target:
                self.transfer_after_reply = True
                return self.agent.transfer_phrase, None
            case "transfer_call":
                self.hangup_reason = "no_transfer_target"
                return self.agent.no_transfer, None
            case "end_call":
                self.hangup_reason = "agent"
                return self.agent.goodbye, None
            case "send_dtmf" if DTMF_DIGITS.match(digits := str(arguments.get("digits", ""))):
                return None, SendDtmf(digits)
        return self.agent.tool_apology, None

    def after_reply(self) -> CallEvent | None:
        """The reply has played: the transfer or hang-up it announced, if any."""
        if self.transfer_after_reply:
            self.transfer_after_reply = False
            return Transfer(self.agent.transfer_target)
        if self.hangup_reason is not None:
            return Hangup(self.hangup_reason)
        return None
