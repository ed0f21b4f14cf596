"""Agents: who answers, how they sound, which models they use."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from mediaserver.config import AgentConfig, ModelsConfig
from mediaserver.tools.spec import BUILTINS, Tool

if TYPE_CHECKING:
    from mediaserver.store import Store

RECEPTIONIST_INSTRUCTIONS = """\
You are Sam, the receptionist at Riverside Dental, a dental practice, answering the phone. \
Answer the caller in one short spoken sentence, using only the facts below.
If the facts do not say, tell the caller you don't know and offer a call back: \
never guess a price, a time, a name or a number.
Only talk about Riverside Dental: politely decline anything else."""

# The practice's FAQ (bench/data/riverside_dental.md), as the prompt holds it:
# one fact a line, each day's hours on its own (bench.agent grades the answers).
RECEPTIONIST_FACTS = """\
Facts:
- Address: 12 Mill Street, Riverside, next to the post office.
- Parking: free, behind the building. Bus: line 4 stops on Mill Street.
- Ground floor, wheelchair accessible.
- Monday to Friday: open 8 am to 6 pm.
- Saturday: open 9 am to 1 pm.
- Sunday and public holidays: closed.
- Phone: 555-0142. Emergencies out of hours: 555-0199.
- Dentists: Dr. Patel and Dr. Moreno.
- Dr. Patel: general dentistry, Monday to Friday.
- Dr. Moreno: children's dentistry and braces, Tuesday, Thursday and Saturday.
- Anna, the hygienist, does the cleanings.
- We speak English and Spanish.
- Check-up: 60 dollars. Children's check-up (under 12): 30 dollars.
- Cleaning: 80 dollars. X-ray: 30 dollars. Filling: 120 dollars.
- Tooth extraction: 150 dollars. Whitening: 250 dollars.
- Implants: we don't do them; we refer patients to Riverside Hospital.
- New patients are welcome: arrive 10 minutes early, bring an ID and your insurance card.
- Insurance accepted: Delta Dental, Aetna and Cigna.
- Payment: card or cash. No cheques.
- Booking: ask for the caller's name and preferred day; a colleague will confirm by phone.
- Cancelling: at least 24 hours before; a late cancellation costs 25 dollars.
- Toothache: call before 10 am for a same-day emergency appointment."""

RECEPTIONIST_PROMPT = f"{RECEPTIONIST_INSTRUCTIONS}\n\n{RECEPTIONIST_FACTS}"

# What Whisper hears before each utterance: the names and words callers will
# use, so that it writes "Doctor Patel" and "book a check-up" rather than
# sounds alike (key-word recall +5 to +10 points, bench.stt_accuracy).
RECEPTIONIST_VOCABULARY = (
    "A caller talks to the receptionist of Riverside Dental, with Doctor Patel and "
    "Doctor Moreno: booking a check-up or a cleaning."
)


@dataclass(frozen=True, slots=True)
class MenuOption:
    """One choice of an IVR menu played before the conversation."""

    digit: str
    language: str  # what the caller speaks from then on (STT, and the LLM's replies)
    greeting: str
    label: str = ""  # how the prompt names it ("English"); default: the language code


@dataclass(frozen=True, slots=True)
class Agent:
    name: str = "default"
    system_prompt: str = RECEPTIONIST_PROMPT
    greeting: str = "Hello, Riverside Dental, this is Sam. How can I help you today?"
    stt_prompt: str = RECEPTIONIST_VOCABULARY  # in `language`; "": none
    language: str = "en"
    voice: str = "piper-en_US-joe-medium"
    stt_model: str = "whisper-tiny.en"
    llm_model: str = "qwen2.5-coder-0.5b-instruct-q4_0"
    max_turns: int = 40
    max_call_seconds: int = 900
    record: bool = True  # a stereo WAV of every call under <data_dir>/recordings
    silence_seconds: int = 15  # caller silent this long: "are you still there?", then goodbye
    max_reply_tokens: int = 100
    temperature: float = 0.0  # greedy: answers read from the facts, not varied (bench.agent)
    history_tokens: int = 1200
    reprompt: str = "Sorry, I didn't catch that. Could you say it again?"
    fallback: str = (
        "Sorry, I'm having trouble answering right now. Could you try again in a moment?"
    )
    goodbye: str = "Thank you for calling Riverside Dental. Goodbye!"
    still_there: str = "Are you still there?"
    transfer_target: str = ""  # a SIP URI: callers who ask for a person are sent there
    transfer_phrase: str = "Of course, let me put you through to a colleague."
    no_transfer: str = (
        "I'm sorry, nobody can take your call right now. Please call again during opening "
        "hours, and we will be glad to help. Goodbye."
    )

    tools: tuple[Tool, ...] = ()  # what the LLM may call (HTTP tools and built-ins)
    tool_filler: str = "One moment, let me check."  # a tool slower than ~700 ms
    tool_apology: str = (
        "Sorry, I couldn't do that just now. Is there anything else I can help with?"
    )

    menu: tuple[MenuOption, ...] = ()  # an IVR menu before the conversation (digits)
    menu_prompt: str = ""  # default: "For English, press 1. ..."
    menu_timeout_seconds: float = 6.0  # after the prompt, per try
    menu_retries: int = 2  # no or a wrong digit: play it again; then the first option

    @property
    def menu_text(self) -> str:
        return self.menu_prompt or " ".join(
            f"For {option.label or option.language}, press {option.digit}." for option in self.menu
        )

    def deterministic(self) -> Agent:
        """The same agent at temperature 0 (with the models' fixed seed): for tests."""
        return replace(self, temperature=0.0)


DEFAULT_AGENT = Agent()


def configured(agent: Agent, settings: AgentConfig, models: ModelsConfig | None = None) -> Agent:
    """`agent` with what the config's [agent] table sets, on the [models] it names."""
    if models is not None:
        agent = replace(agent, stt_model=models.stt, llm_model=models.llm, voice=models.tts)
    return replace(
        agent,
        transfer_target=settings.transfer_target,
        record=settings.record,
        max_call_seconds=settings.max_call_seconds,
        silence_seconds=settings.silence_seconds,
        menu=tuple(MenuOption(m.digit, m.language, m.greeting, m.label) for m in settings.menu),
        menu_prompt=settings.menu_prompt,
    )


def from_spec(name: str, spec: dict[str, Any], base: Agent = DEFAULT_AGENT) -> Agent:
    """The agent a stored spec (api/agents.py AgentSpec) describes."""
    tools = spec.get("tools", ["transfer"])
    system_prompt = spec.get("system_prompt", base.system_prompt)
    stt_prompt = spec.get("stt_prompt")
    if stt_prompt is None:  # the vocabulary goes with the prompt it was written for
        stt_prompt = base.stt_prompt if system_prompt == base.system_prompt else ""
    return replace(
        base,
        name=name,
        system_prompt=system_prompt,
        greeting=spec.get("greeting", base.greeting),
        stt_prompt=stt_prompt,
        language=(spec.get("languages") or [base.language])[0],
        voice=spec.get("tts_voice") or base.voice,  # None: the server's models
        stt_model=spec.get("stt_model") or base.stt_model,
        llm_model=spec.get("llm_model") or base.llm_model,
        transfer_target=spec.get("transfer_target", "") if _transfers(tools) else "",
        max_call_seconds=spec.get("max_call_seconds", base.max_call_seconds),
        record=spec.get("record", base.record),
        silence_seconds=spec.get("silence_seconds", base.silence_seconds),
        max_turns=spec.get("max_turns", base.max_turns),
        menu=tuple(
            MenuOption(o["digit"], o["language"], o["greeting"], o.get("label", ""))
            for o in spec.get("ivr_menu", [])
        ),
        tools=tuple(_tool(t) for t in tools if isinstance(t, dict)),
    )


def _transfers(tools: list[Any]) -> bool:
    return any(
        t == "transfer" or (isinstance(t, dict) and t.get("name") == "transfer_call") for t in tools
    )


def _tool(spec: dict[str, Any]) -> Tool:
    """A stored tool (api/agents.py ToolSpec): a built-in by name, or an HTTP tool."""
    if not spec.get("url") and spec["name"] in BUILTINS:
        return Tool.of_builtin(spec["name"])
    return Tool(
        name=spec["name"],
        description=spec.get("description", ""),
        parameters=spec.get("parameters") or {"type": "object", "properties": {}},
        url=spec["url"],
        method=spec.get("method", "POST"),
        headers=tuple((spec.get("headers") or {}).items()),
        timeout_seconds=float(spec.get("timeout_seconds", 5.0)),
    )


PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def with_variables(agent: Agent, variables: dict[str, str] | None) -> Agent:
    """`agent` with each {name} in its greeting and prompt filled from
    `variables` (a campaign lead's columns); unknown names and any other
    braces stay as they are (str.format would choke on a JSON example)."""
    if not variables:
        return agent

    def fill(text: str) -> str:
        return PLACEHOLDER.sub(lambda m: variables.get(m.group(1), m.group(0)), text)

    return replace(agent, greeting=fill(agent.greeting), system_prompt=fill(agent.system_prompt))


class AgentBook:
    """Agents by name: those in the store, and the built-in one (version 0)
    while the store holds no agent of its name."""

    def __init__(self, builtin: Agent, store: Store | None = None) -> None:
        self.builtin = builtin
        self.store = store

    def get(self, name: str) -> tuple[Agent, int] | None:
        """(agent, version) for a new call, or None if there is no such agent."""
        row = self.store.get_agent(name) if self.store is not None else None
        if row is not None:
            return from_spec(name, row["spec"], self.builtin), int(row["version"])
        if name == self.builtin.name:
            return self.builtin, 0
        return None

    def names(self) -> list[str]:
        stored = [row["name"] for row in self.store.list_agents()] if self.store else []
        return sorted({self.builtin.name, *stored})
