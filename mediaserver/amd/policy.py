"""What an outbound call asks of answering-machine detection (POST /calls
"amd", a campaign's lead): on a machine, leave `voicemail_message` with its
{variables} filled, or hang up."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

OnMachine = Literal["message", "hangup"]
ON_MACHINE: tuple[OnMachine, ...] = ("message", "hangup")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]{0,63})\}")


class AmdPolicyError(ValueError):
    """The policy cannot be used; the message says why."""


@dataclass(frozen=True, slots=True)
class AmdPolicy:
    on_machine: OnMachine = "hangup"
    voicemail_message: str = ""
    variables: tuple[tuple[str, str], ...] = ()  # {name} -> value in the message

    @classmethod
    def of(
        cls,
        on_machine: str = "hangup",
        voicemail_message: str = "",
        variables: Mapping[str, str] | None = None,
    ) -> AmdPolicy:
        """A checked policy: a message to leave when on_machine is "message",
        every {placeholder} in it given a value."""
        if on_machine not in ON_MACHINE:
            raise AmdPolicyError(f"on_machine: expected one of {ON_MACHINE}, got {on_machine!r}")
        given = dict(variables or {})
        if on_machine == "message" and not voicemail_message.strip():
            raise AmdPolicyError('on_machine "message" needs a voicemail_message')
        missing = sorted(set(_PLACEHOLDER.findall(voicemail_message)) - set(given))
        if missing:
            raise AmdPolicyError(f"voicemail_message uses {{{missing[0]}}}: no such variable")
        return cls(on_machine, voicemail_message, tuple(sorted(given.items())))

    @property
    def message(self) -> str:
        """The voicemail message with its variables filled."""
        values = dict(self.variables)
        return _PLACEHOLDER.sub(
            lambda m: values.get(m.group(1), m.group(0)), self.voicemail_message
        ).strip()

    def as_dict(self) -> dict[str, object]:
        return {
            "on_machine": self.on_machine,
            "voicemail_message": self.voicemail_message,
            "variables": dict(self.variables),
        }
