"""Config of the ways calls come in and who answers them: SIP (its trunks
and routes), the built-in agent and its menu, WebRTC, WebSockets, Twilio."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mediaserver.config_base import ConfigError
from mediaserver.config_base import require as _require


@dataclass(frozen=True, slots=True)
class TrunkConfig:
    """A registration trunk: the server registers at `registrar` with digest
    auth, keeps the registration fresh, and takes (and places) calls through it."""

    name: str = ""
    registrar: str = ""  # sip:host[:port]
    username: str = ""
    password: str = ""
    domain: str = ""  # the account's domain; default: the registrar's host
    expires: int = 300  # seconds a registration lasts (re-registered before)
    retry_seconds: int = 60  # after a failure: never a tight loop

    def __post_init__(self) -> None:
        _require(
            bool(re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", self.name)),
            "sip.trunks.name",
            f"{self.name!r}: expected lower-case letters, digits, - or _",
        )
        _require(
            self.registrar.startswith(("sip:", "sips:")),
            f"sip.trunks.{self.name}.registrar",
            "expected a sip: URI",
        )
        _require(bool(self.username), f"sip.trunks.{self.name}.username", "must not be empty")
        _require(60 <= self.expires <= 86400, f"sip.trunks.{self.name}.expires", "60..86400")
        _require(
            10 <= self.retry_seconds <= 3600, f"sip.trunks.{self.name}.retry_seconds", "10..3600"
        )

    @property
    def host(self) -> str:
        """The domain calls to numbers go to: `domain`, or the registrar's host[:port]."""
        return self.domain or self.registrar.split(":", 1)[1].split(";")[0]


@dataclass(frozen=True, slots=True)
class RouteConfig:
    """[[sip.routes]]: calls to `number` (the user part of the called URI) go to `agent`."""

    number: str = ""
    agent: str = ""

    def __post_init__(self) -> None:
        _require(bool(self.number), "sip.routes.number", "must not be empty")
        _require(
            bool(re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", self.agent)),
            "sip.routes.agent",
            f"{self.agent!r}: expected an agent name",
        )


@dataclass(frozen=True, slots=True)
class SipConfig:
    """SIP trunks. INVITEs are answered only from `allow` (IP trunks: addresses
    or CIDRs); others get 403."""

    allow: tuple[str, ...] = ("127.0.0.0/8", "::1/128")
    codecs: tuple[str, ...] = ("G722/16000", "PCMU/8000", "PCMA/8000")  # in order of preference
    max_calls: int = 4  # what PJSIP builds on the registries allow per process
    trunk_host: str = ""  # outbound: a bare number N is called as sip:N@trunk_host
    log_level: int = 1  # PJSIP's own log (0-6), masked in the server's log; 5+: whole messages
    tcp_idle_seconds: int = 30  # a SIP/TCP connection with no call, silent this long, is closed
    rtp_port: int = 0  # first RTP port (each call takes the next free pair); 0: any free port
    media_nice: int = -10  # PJSIP's media threads' nice value (needs CAP_SYS_NICE); 0: unchanged
    media_realtime: int = 10  # those threads on SCHED_RR at this priority (1..99); 0: media_nice
    outbound_per_trunk: int = 2  # POST /calls: at most this many at once per trunk
    outbound_retries: int = 2  # busy or no answer: call again this many times
    outbound_retry_seconds: int = 60
    trunks: tuple[TrunkConfig, ...] = ()  # registration trunks ([[sip.trunks]] tables)
    routes: tuple[RouteConfig, ...] = ()  # called number -> agent; others: the default agent

    def __post_init__(self) -> None:
        import ipaddress

        for net in self.allow:
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError:
                raise ConfigError(f"sip.allow: {net!r} is not an address or CIDR") from None
        _require(bool(self.codecs), "sip.codecs", "name at least one codec")
        _require(1 <= self.max_calls <= 4, "sip.max_calls", "expected 1..4 (PJSUA_MAX_CALLS is 4)")
        _require(0 <= self.rtp_port <= 65000, "sip.rtp_port", "expected 0..65000")
        _require(-20 <= self.media_nice <= 0, "sip.media_nice", "expected -20..0")
        _require(0 <= self.media_realtime <= 99, "sip.media_realtime", "expected 0..99")
        _require(2 <= self.tcp_idle_seconds <= 3600, "sip.tcp_idle_seconds", "expected 2..3600")
        names = [trunk.name for trunk in self.trunks]
        _require(len(set(names)) == len(names), "sip.trunks", "trunk names must be unique")
        _require(1 <= self.outbound_per_trunk <= 4, "sip.outbound_per_trunk", "expected 1..4")
        _require(0 <= self.outbound_retries <= 10, "sip.outbound_retries", "expected 0..10")
        _require(
            1 <= self.outbound_retry_seconds <= 86400,
            "sip.outbound_retry_seconds",
            "expected 1..86400",
        )


@dataclass(frozen=True, slots=True)
class MenuConfig:
    """[[agent.menu]]: one option of the IVR menu played before the conversation."""

    digit: str = ""
    language: str = "en"
    greeting: str = ""
    label: str = ""

    def __post_init__(self) -> None:
        _require(
            len(self.digit) == 1 and self.digit in "0123456789*#",
            "agent.menu.digit",
            f"{self.digit!r}: expected one of 0-9 * #",
        )
        _require(bool(self.greeting), "agent.menu.greeting", "must not be empty")
        _require(
            bool(re.fullmatch(r"[a-z]{2,3}", self.language)),
            "agent.menu.language",
            "expected a language code (en, hi, ...)",
        )


@dataclass(frozen=True, slots=True)
class AgentConfig:
    """Settings of the built-in agent until agents live in the control plane."""

    transfer_target: str = ""  # SIP URI of a person to hand callers to
    record: bool = True
    max_call_seconds: int = 900
    silence_seconds: int = 15
    menu: tuple[MenuConfig, ...] = ()
    menu_prompt: str = ""

    def __post_init__(self) -> None:
        digits = [m.digit for m in self.menu]
        _require(len(set(digits)) == len(digits), "agent.menu", "each digit may appear once")
        _require(
            not self.transfer_target or self.transfer_target.startswith(("sip:", "sips:")),
            "agent.transfer_target",
            "expected a sip: URI",
        )
        _require(
            10 <= self.max_call_seconds <= 86400, "agent.max_call_seconds", "expected 10..86400"
        )
        _require(3 <= self.silence_seconds <= 3600, "agent.silence_seconds", "expected 3..3600")


@dataclass(frozen=True, slots=True)
class WebRtcConfig:
    """Browser calls (aiortc). host_addresses: the addresses offered as ICE host
    candidates (empty: every interface but loopback, aioice's choice; tests
    and a same-host browser need "127.0.0.1"). ice_servers: stun:/turn: URLs
    for callers behind NAT, handed to the page too."""

    host_addresses: tuple[str, ...] = ()
    ice_servers: tuple[str, ...] = ()
    turn_username: str = ""
    turn_password: str = ""
    max_calls: int = 20
    connect_timeout_seconds: int = 15  # offer answered, no media yet: give up
    media_timeout_seconds: int = 10  # no packet from the browser this long: the call ended
    opus_bitrate: int = 24000

    def __post_init__(self) -> None:
        import ipaddress

        for address in self.host_addresses:
            try:
                ipaddress.ip_address(address)
            except ValueError:
                raise ConfigError(
                    f"webrtc.host_addresses: {address!r} is not an IP address"
                ) from None
        for url in self.ice_servers:
            _require(
                url.startswith(("stun:", "turn:", "turns:")),
                "webrtc.ice_servers",
                f"{url!r}: expected a stun:, turn: or turns: URL",
            )
        _require(1 <= self.max_calls <= 1000, "webrtc.max_calls", "expected 1..1000")
        for key in ("connect_timeout_seconds", "media_timeout_seconds"):
            _require(2 <= getattr(self, key) <= 300, f"webrtc.{key}", "expected 2..300")
        _require(
            6000 <= self.opus_bitrate <= 510000, "webrtc.opus_bitrate", "expected 6000..510000"
        )


@dataclass(frozen=True, slots=True)
class WebSocketConfig:
    """[websocket]: calls over WebSockets, /ws/audio for apps and /twilio/media.
    Past max_calls a socket is closed with 1013 (try again later)."""

    max_calls: int = 20  # /ws/audio sockets at once ([twilio] max_calls counts Twilio's)
    start_timeout_seconds: int = 10  # connected, no valid start message this long: closed
    media_timeout_seconds: int = 10  # no audio from the peer this long: the call ended
    max_message_bytes: int = 65536  # a larger message closes the socket with 1009

    def __post_init__(self) -> None:
        _require(1 <= self.max_calls <= 1000, "websocket.max_calls", "expected 1..1000")
        for key in ("start_timeout_seconds", "media_timeout_seconds"):
            _require(2 <= getattr(self, key) <= 300, f"websocket.{key}", "expected 2..300")
        _require(
            4096 <= self.max_message_bytes <= 1 << 20,
            "websocket.max_message_bytes",
            "expected 4096..1048576",
        )


@dataclass(frozen=True, slots=True)
class TwilioConfig:
    """[twilio]: calls from a Twilio number as Media Streams. Off until both
    auth_token (it checks X-Twilio-Signature) and public_url are set."""

    auth_token: str = ""  # the account's Auth Token
    public_url: str = ""  # https://host[:port][/prefix]: this server as Twilio reaches it
    max_calls: int = 20  # streams at once; past it: close 1013

    @property
    def enabled(self) -> bool:
        return bool(self.auth_token and self.public_url)

    def __post_init__(self) -> None:
        _require(
            not self.public_url
            or bool(re.fullmatch(r"https?://[^/?#\s]+(/[^?#\s]*)?", self.public_url)),
            "twilio.public_url",
            f"{self.public_url!r}: expected http(s)://host[:port][/path], no query",
        )
        _require(
            bool(self.auth_token) == bool(self.public_url),
            "twilio",
            "set both auth_token and public_url (or neither)",
        )
        _require(1 <= self.max_calls <= 1000, "twilio.max_calls", "expected 1..1000")
