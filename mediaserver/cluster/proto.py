"""The messages between the supervisor and its children, over one pipe per
child (pickled frozen dataclasses; a child only ever sees these types).

    supervisor                      child
    Initialize  ------------------>
                <------------------  Ready          (or Failed), within a timeout
    Ping        ------------------>
                <------------------  Pong           (every second; a silent child is killed)
    Drain       ------------------>                 (SIGTERM: take no new calls)
    Shutdown    ------------------>                 (calls end, the child exits)
"""

from __future__ import annotations

from dataclasses import dataclass

from mediaserver.config import Config


@dataclass(frozen=True, slots=True)
class WorkerAddress:
    """Where a media worker listens: SIP for the edge, HTTP for the control process."""

    worker: str  # "w1", "w2", ...: also the store's calls.worker
    host: str  # SIP and RTP are bound here (RTP flows between caller and worker)
    sip_port: int
    http_port: int  # always on 127.0.0.1


@dataclass(frozen=True, slots=True)
class Initialize:
    config: Config
    role: str  # "control" | "worker" | "inference"
    secret: str  # the workers' HTTP asks for it (control -> worker requests only)
    workers: tuple[WorkerAddress, ...]  # every worker (the control reaches them all)
    me: WorkerAddress | None = None  # the worker this child is


@dataclass(frozen=True, slots=True)
class Ready:
    pid: int


@dataclass(frozen=True, slots=True)
class Failed:
    reason: str


@dataclass(frozen=True, slots=True)
class Ping:
    sent: float  # time.monotonic() of the supervisor


@dataclass(frozen=True, slots=True)
class Pong:
    sent: float  # the Ping's
    calls: int  # calls in progress (a worker's; the control's: 0)


@dataclass(frozen=True, slots=True)
class Drain:
    pass


@dataclass(frozen=True, slots=True)
class Shutdown:
    pass


ToChild = Initialize | Ping | Drain | Shutdown
FromChild = Ready | Failed | Pong
