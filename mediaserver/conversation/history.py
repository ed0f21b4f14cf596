"""The conversation as the LLM sees it, bounded by a token budget."""

from __future__ import annotations

from mediaserver.speech import Message


def estimate_tokens(text: str) -> int:
    """About four characters a token for English: close enough for a budget."""
    return len(text) // 4 + 1


class History:
    def __init__(self, system_prompt: str, budget_tokens: int) -> None:
        self.system_prompt = system_prompt
        self.budget_tokens = budget_tokens
        self.entries: list[Message] = []

    def restart(self, system_prompt: str) -> None:
        """A new system prompt and nothing said yet (the caller chose another language)."""
        self.system_prompt = system_prompt
        self.entries = []

    def add(self, role: str, content: str) -> None:
        self.entries.append({"role": role, "content": content})

    def remove(self, entry: Message) -> None:
        """Forget this very entry (a turn that was taken back)."""
        self.entries = [e for e in self.entries if e is not entry]

    def drop_last_user(self) -> None:
        """Forget the newest user entry (it is being merged into the next one)."""
        for i in range(len(self.entries) - 1, -1, -1):
            if self.entries[i]["role"] == "user":
                del self.entries[i]
                return

    def messages(self) -> list[Message]:
        """System prompt plus the newest entries that fit the budget."""
        budget = self.budget_tokens - estimate_tokens(self.system_prompt)
        kept: list[Message] = []
        for entry in reversed(self.entries):
            budget -= estimate_tokens(entry["content"])
            if budget < 0 and kept:
                break
            kept.append(dict(entry))
        while kept and kept[-1]["role"] != "user":  # start on a user turn
            kept.pop()
        return [{"role": "system", "content": self.system_prompt}, *reversed(kept)]
