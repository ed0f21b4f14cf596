"""The closed set of events that flow through a call. Match on them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    """The caller started speaking at sample `position` of the inbound stream."""

    position: int


@dataclass(frozen=True, slots=True)
class SpeechEnded:
    """The caller's utterance spans samples [start, end) of the inbound stream.

    too_short: shorter than the minimum utterance (a click, a cough);
    forced: cut at the maximum utterance length while speech went on.
    """

    start: int
    end: int
    too_short: bool = False
    forced: bool = False


@dataclass(frozen=True, slots=True)
class Transcript:
    text: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class AgentText:
    text: str


@dataclass(frozen=True, slots=True)
class AgentClause:
    """One clause of the agent's reply, as its audio starts to play."""

    text: str


@dataclass(frozen=True, slots=True)
class Interrupted:
    """The caller spoke over the agent; `heard` is the part of the reply played."""

    heard: str


@dataclass(frozen=True, slots=True)
class AgentSpoke:
    """A reply of the agent stopped playing: to its end, or cut (`interrupted`,
    `text` = what the caller heard). started/ended are clock seconds of its
    first frame out and of its end; timings_ms are the turn's stages after the
    caller stopped speaking (empty for the greeting and fixed phrases)."""

    text: str
    started: float
    ended: float
    interrupted: bool = False
    timings_ms: tuple[tuple[str, float], ...] = ()
    chunks: tuple[int, ...] = ()  # the knowledge-base chunks the reply was given


@dataclass(frozen=True, slots=True)
class Dtmf:
    digit: str


@dataclass(frozen=True, slots=True)
class MenuChoice:
    """The caller picked an option of the agent's IVR menu (or got the default)."""

    digit: str
    language: str


@dataclass(frozen=True, slots=True)
class Transfer:
    """The agent hands the caller to a person at `target` (a SIP URI)."""

    target: str


@dataclass(frozen=True, slots=True)
class ToolCall:
    """The agent called a tool: `arguments` as JSON; status ok | error | timeout |
    refused | bad_arguments; `detail`: why it failed."""

    name: str
    arguments: str
    status: str
    latency_ms: float
    detail: str = ""


@dataclass(frozen=True, slots=True)
class SendDtmf:
    """The agent presses keys on the far end's keypad (another company's IVR)."""

    digits: str


@dataclass(frozen=True, slots=True)
class Hangup:
    reason: str


CallEvent = (
    SpeechStarted
    | SpeechEnded
    | Transcript
    | AgentText
    | AgentClause
    | AgentSpoke
    | Interrupted
    | Dtmf
    | MenuChoice
    | Transfer
    | ToolCall
    | SendDtmf
    | Hangup
)
