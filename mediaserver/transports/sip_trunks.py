"""Registration trunks: each is a pjsua2 account that registers with the
carrier's registrar (its state kept as a TrunkStatus), and whose registrar's
addresses are trusted to send calls."""

from __future__ import annotations

import logging
import socket
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pjsua2 as pj

from mediaserver.config import TrunkConfig

if TYPE_CHECKING:
    from mediaserver.transports.sip import SipServer

log = logging.getLogger(__name__)


def register(server: SipServer, trunk: TrunkConfig) -> tuple[Registration, set[str] | None]:
    """On the pjsip thread: the trunk's account, registering, and its registrar's
    addresses (None: they could not be resolved)."""
    registration = Registration(server, trunk.name)
    acfg = pj.AccountConfig()
    acfg.idUri = f"sip:{trunk.username}@{trunk.host}"
    acfg.regConfig.registrarUri = trunk.registrar
    acfg.regConfig.timeoutSec = trunk.expires
    acfg.regConfig.retryIntervalSec = trunk.retry_seconds
    acfg.regConfig.firstRetryIntervalSec = trunk.retry_seconds
    acfg.sipConfig.authCreds.append(
        pj.AuthCredInfo("digest", "*", trunk.username, 0, trunk.password)
    )
    acfg.mediaConfig.transportConfig.port = server.config.rtp_port
    acfg.mediaConfig.transportConfig.boundAddress = server.host
    registration.create(acfg, True)
    host = trunk.registrar.split(":", 1)[1].split(";")[0].rsplit(":", 1)[0].strip("[]")
    try:
        return registration, {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
    except OSError:
        log.warning("trunk %s: cannot resolve %s", trunk.name, host)
        return registration, None


@dataclass(frozen=True, slots=True)
class TrunkStatus:
    registered: bool = False
    code: int = 0  # the registrar's last answer (0: none yet)
    reason: str = "not registered yet"
    expires: int = 0  # seconds left, as of `at`
    at: float = 0.0  # time.time() of the last answer


class Registration(pj.Account):  # type: ignore[misc]
    """A registration trunk's account: PJSIP re-registers before expiry and
    retries failures after retry_seconds (never a tight loop)."""

    def __init__(self, server: SipServer, name: str) -> None:
        super().__init__()
        self.server = server
        self.name = name

    def onRegState(self, prm: Any) -> None:
        try:
            info = self.getInfo()
            status = TrunkStatus(
                registered=bool(info.regIsActive) and 200 <= prm.code < 300,
                code=int(prm.code),
                reason=str(prm.reason),
                expires=int(info.regExpiresSec) if info.regIsActive else 0,
                at=time.time(),
            )
            self.server.trunks[self.name] = status
            level = logging.INFO if status.registered else logging.WARNING
            log.log(level, "trunk %s: %d %s", self.name, status.code, status.reason)
        except Exception:
            log.exception("registration state")

    def onIncomingCall(self, prm: Any) -> None:
        try:
            self.server._incoming(self, prm)
        except Exception:
            log.exception("incoming call failed")
