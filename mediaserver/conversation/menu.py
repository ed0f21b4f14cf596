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

    def system_prompt(self, option: MenuOption) -> str | None:
        """The system prompt for a caller who chose `option` (None: the agent's own)."""
        if option.language == self.agent.language:
            return None
        name = option.label or option.language
        return f"{self.agent.system_prompt}\nThe caller chose {name}: reply in {name}."

    def pressed(self, digit: str) -> MenuOption | str:
        """A digit: the option chosen, or the text to play again."""
        if (option := self.option(digit)) is not None:
            return option
        return self.again(f"Sorry, {digit} is not an option.")

    def again(self, apology: str = "") -> MenuOption | str:
        """No digit in time, or a wrong one: the prompt to play again (after
        `apology`), or, out of tries, the first option."""
        if (option := self.retry()) is not None:
            return option
        return f"{apology} {self.agent.menu_text}".strip()
