"""An agent's tools on a call: each reply gets a ToolRound with the agent's
tools and phrases; a built-in's effect is decided by the call policy, and no
tool is called before the caller's turn is no longer speculative."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mediaserver.agents import Agent
from mediaserver.conversation.history import History
from mediaserver.conversation.policy import CallPolicy
from mediaserver.conversation.reply import Reply
from mediaserver.conversation.tool_round import ToolPhrases, ToolRound
from mediaserver.conversation.turn_taking import TurnTaking
from mediaserver.events import CallEvent
from mediaserver.speech import Speech
from mediaserver.tools.spec import Tool, ToolRunner


class AgentTools:
    def __init__(
        self,
        agent: Agent,
        speech: Speech,
        runner: ToolRunner,
        *,
        policy: CallPolicy,
        listening: TurnTaking,
        history: History,
        on_event: Callable[[CallEvent], None],
    ) -> None:
        self.agent = agent
        self.speech = speech
        self.runner = runner
        self.policy = policy
        self.listening = listening
        self.history = history
        self.on_event = on_event

    def round(self, reply: Reply) -> ToolRound:
        """The tool round for one reply."""
        return ToolRound(
            self.speech,
            self.agent.tools,
            self.runner,
            self.act,
            self.on_event,
            phrases=ToolPhrases(self.agent.tool_filler, self.agent.tool_apology),
            confirmed=lambda: self.listening.confirmed(reply.turn),
            record=lambda message: self.history.add(message["role"], message["content"]),
        )

    def act(self, tool: Tool, arguments: dict[str, Any]) -> str | None:
        """A built-in the LLM called: what the agent says (None: nothing)."""
        text, event = self.policy.builtin(tool.name, arguments)
        if event is not None:
            self.on_event(event)
        return text
