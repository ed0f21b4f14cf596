"""The IVR menu played before the conversation: a digit picks an option
(its language and greeting); no digit in time, or a wrong one, plays the
prompt again, and after the agent's retries the first option is taken."""

from __future__ import annotations

from mediaserver.agents import Agent, MenuOption
from mediaserver.clock import now


class IvrMenu:
    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.tries = 0
        self.deadline: float | None = None  # the prompt has played: a digit is due by then

    def option(self, digit: str) -> MenuOption | None:
        """The option this digit picks (None: not an option)."""
        return next((o for o in self.agent.menu if o.digit == digit), None)

    def prompt_played(self) -> None:
        if self.deadline is None:
            self.deadline = now() + self.agent.menu_timeout_seconds

    def timed_out(self) -> bool:
        return self.deadline is not None and now() >= self.deadline

    def retry(self) -> MenuOption | None:
        """One more try: None means play the prompt again; else the option to take."""
        self.tries += 1
        self.deadline = None
        if self.tries > self.agent.menu_retries:
            return self.agent.menu[0]
        return None
