"""The registration trunks' state in a cluster, as the SIP edge knows it: the
trunks register once, at the edge (the uac module), and the control process
asks Kamailio every few seconds. The same TrunkStatus as the one-process
server's, filled from two RPCs:

    uac.reg_dump                       one record per trunk (l_uuid = trunk name)
      flags & 4 (online), diff_expires -> registered: online and not expired
      timer_expires - at               -> expires (seconds granted, as of `at`)
      flags & 2 (a refresh under way)  -> the previous state holds until it expires
    htable.dump registrar_replies      the registrar's last answer per To URI
      "<code> <unix time> <reason>"    -> code, at, reason
    tried (flags & 16), neither online nor trying, and no answer other than a
    2xx                                -> 408 "the registrar did not answer"
                                          (as PJSIP says in one process)

A trunk the edge does not answer for is not registered, with the reason why."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

from mediaserver.cluster.edge_rpc import EdgeRpcError, call
from mediaserver.transports.sip import TrunkStatus

log = logging.getLogger(__name__)

POLL_SECONDS = 3.0
ONGOING, ONLINE, TRIED = 1 << 1, 1 << 2, 1 << 4  # the uac module's registration flags


def registrar_replies(dump: Any) -> dict[str, tuple[int, float, str]]:
    """htable.dump's slots -> To URI: (code, unix time, reason)."""
    out: dict[str, tuple[int, float, str]] = {}
    for entry in dump or ():
        for slot in entry.get("slot", ()):
            code, at, reason = [*str(slot.get("value", "")).split(" ", 2), "", ""][:3]
            if code.isdigit() and at.isdigit():
                out[str(slot.get("name"))] = (int(code), float(at), reason)
    return out


def trunk_states(
    names: tuple[str, ...],
    registrations: Any,
    replies: dict[str, tuple[int, float, str]],
    previous: dict[str, TrunkStatus],
    now: float,
) -> dict[str, TrunkStatus]:
    """Each trunk's state from uac.reg_dump's records and the registrars' answers."""
    by_name = {str(r.get("l_uuid")): r for r in registrations or ()}
    states: dict[str, TrunkStatus] = {}
    for name in names:
        record = by_name.get(name)
        if record is None:
            states[name] = TrunkStatus(reason="the SIP edge has no such registration")
            continue
        flags = int(record.get("flags", 0))
        before = previous.get(name, TrunkStatus())
        if flags & ONGOING and before.registered and before.at + before.expires > now:
            states[name] = before  # a refresh under way: still registered until it expires
            continue
        to_uri = f"sip:{record.get('r_username')}@{record.get('r_domain')}"
        code, at, reason = replies.get(to_uri, (0, 0.0, ""))
        registered = bool(flags & ONLINE) and int(record.get("diff_expires", 0)) > 0
        if flags & ONGOING and not code:
            reason = "registering"
        elif flags & TRIED and not registered and not flags & ONGOING and code // 100 in (0, 2):
            code, reason = 408, "the registrar did not answer"
        elif not code:
            reason = "not registered yet"
        states[name] = TrunkStatus(
            registered=registered,
            code=code,
            reason=reason,
            expires=max(0, int(record.get("timer_expires", 0)) - int(at)) if registered else 0,
            at=at,
        )
    return states


class EdgeTrunks:
    """The control process's view of the trunks, refreshed every POLL_SECONDS."""

    def __init__(self, names: tuple[str, ...], rpc_socket: Path) -> None:
        self.names = names
        self.rpc_socket = rpc_socket
        self.states: dict[str, TrunkStatus] = {name: TrunkStatus() for name in names}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.names:
            self._task = asyncio.create_task(self._poll_forever())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def ready(self) -> dict[str, bool]:
        """/readyz's checks, as the one-process server's: every trunk registered."""
        return {f"trunk {name}": state.registered for name, state in self.states.items()}

    async def _poll_forever(self) -> None:
        failing = False
        while True:
            try:
                await self.refresh()
                if failing:
                    log.info("edge: trunk state known again")
                failing = False
            except EdgeRpcError as exc:
                if not failing:
                    log.warning("edge: trunk state unknown: %s", exc)
                failing = True
                self.states = {
                    name: TrunkStatus(reason=f"the SIP edge does not answer: {exc}")
                    for name in self.names
                }
            await asyncio.sleep(POLL_SECONDS)

    async def refresh(self) -> None:
        registrations = await call(self.rpc_socket, "uac.reg_dump")
        replies = await call(self.rpc_socket, "htable.dump", "registrar_replies")
        states = trunk_states(
            self.names, registrations, registrar_replies(replies), self.states, time.time()
        )
        for name, state in states.items():
            if state.registered != self.states[name].registered or (
                state.code != self.states[name].code
            ):
                level = logging.INFO if state.registered else logging.WARNING
                log.log(level, "trunk %s: %d %s", name, state.code, state.reason)
        self.states = states
