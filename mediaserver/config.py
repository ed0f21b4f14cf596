"""Configuration: one small frozen dataclass per subsystem, read from TOML.

Precedence: command-line flags, then the config file, then these defaults.
Every error names the offending key, e.g. "vad.end_ms: expected an int".
"""

from __future__ import annotations

import dataclasses
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mediaserver.config_base import ConfigError, require
from mediaserver.config_calls import (
    AgentConfig,
    MenuConfig,
    RouteConfig,
    SipConfig,
    TrunkConfig,
    TwilioConfig,
    WebRtcConfig,
    WebSocketConfig,
)
from mediaserver.config_knowledge import KnowledgeConfig
from mediaserver.config_models import InferenceConfig, ModelsConfig
from mediaserver.config_tools import ToolsConfig
from mediaserver.config_webhooks import AnalysisConfig, WebhooksConfig

__all__ = [
    "AgentConfig",
    "AnalysisConfig",
    "Config",
    "ConfigError",
    "InferenceConfig",
    "KnowledgeConfig",
    "MenuConfig",
    "ModelsConfig",
    "RouteConfig",
    "SipConfig",
    "ToolsConfig",
    "TrunkConfig",
    "TwilioConfig",
    "WebRtcConfig",
    "WebSocketConfig",
    "WebhooksConfig",
    "load",
]


@dataclass(frozen=True, slots=True)
class ServerConfig:
    host: str = "127.0.0.1"
    http_port: int = 8080
    sip_port: int = 5060
    data_dir: str = "data"
    log_format: str = "json"  # one JSON object per line, or "text"

    def __post_init__(self) -> None:
        _require(bool(self.host), "server.host", "must not be empty")
        _require(
            self.log_format in ("json", "text"), "server.log_format", 'expected "json" or "text"'
        )
        for key in ("http_port", "sip_port"):
            port = getattr(self, key)
            _require(0 <= port <= 65535, f"server.{key}", f"expected 0..65535, got {port}")


# Trailing silence after which the answer is prepared (transcribed, written,
# voiced) while the endpointer waits for end_ms; it is heard only then, and
# dropped if the caller goes on. Lower is sooner, at the cost of a wasted
# Whisper run per pause this long in mid-sentence (espeak-ng's callers pause
# up to 220 ms: 10 of 54 sentences pause 160 ms or more, none 240 ms).
SPECULATE_MS = 160
END_OF_TURN = ("off", "smart-turn")
CLASSIFIERS = ("webrtc", "silero")


@dataclass(frozen=True, slots=True)
class VadConfig:
    """Voice activity: webrtcvad frames behind a noise gate, then endpointing."""

    classifier: str = "webrtc"  # or "silero": a neural VAD for noisy lines (about 0.2 ms a window)
    mode: int = 2  # webrtcvad aggressiveness 0..3
    silero_threshold: float = 0.5  # P(speech) at or above this is speech
    start_ms: int = 100  # speech needed to declare an utterance started
    end_ms: int = 600  # silence that ends it
    speculate_ms: int = SPECULATE_MS  # silence that starts the answer (0: wait for end_ms)
    hangover_ms: int = 120  # audio kept after the last speech frame
    preroll_ms: int = 100  # audio kept before the first speech frame
    min_utterance_ms: int = 250  # shorter ones are reported as too short
    max_utterance_ms: int = 30000  # longer ones are cut
    gate_margin_db: float = 9.0  # speech must stand this far above the noise floor
    gate_floor_db: float = -50.0  # and above this absolute level (dBFS)
    # "smart-turn": after end_of_turn_after_ms of silence an end-of-turn model
    # judges the caller's audio; finished -> the utterance ends at once, else it
    # ends after end_of_turn_max_ms of silence (end_ms is not used then).
    end_of_turn: str = "off"
    end_of_turn_model: str = "smart-turn-v3.2"  # a registry name, or a directory
    end_of_turn_after_ms: int = 200
    end_of_turn_threshold: float = 0.5  # P(finished) at or above this ends the turn
    end_of_turn_max_ms: int = 2000
    end_of_turn_every_ms: int = 200  # asked again after this much more silence (0: once)

    def __post_init__(self) -> None:
        _require(0 <= self.mode <= 3, "vad.mode", f"expected 0..3, got {self.mode}")
        _require(
            self.classifier in CLASSIFIERS,
            "vad.classifier",
            f"expected one of {', '.join(CLASSIFIERS)}, got {self.classifier!r}",
        )
        _require(0.0 < self.silero_threshold < 1.0, "vad.silero_threshold", "expected 0..1")
        for key in ("start_ms", "end_ms", "min_utterance_ms", "max_utterance_ms"):
            value = getattr(self, key)
            _require(20 <= value <= 600_000, f"vad.{key}", f"expected 20..600000 ms, got {value}")
        for key in ("hangover_ms", "preroll_ms"):
            value = getattr(self, key)
            _require(0 <= value <= 2000, f"vad.{key}", f"expected 0..2000 ms, got {value}")
        _require(
            self.min_utterance_ms <= self.max_utterance_ms,
            "vad.min_utterance_ms",
            "must not exceed vad.max_utterance_ms",
        )
        _require(
            0 <= self.speculate_ms < self.end_ms,
            "vad.speculate_ms",
            f"expected 0 (off) up to below vad.end_ms ({self.end_ms}), got {self.speculate_ms}",
        )
        _require(0 <= self.gate_margin_db <= 60, "vad.gate_margin_db", "expected 0..60 dB")
        _require(
            self.end_of_turn in END_OF_TURN,
            "vad.end_of_turn",
            f"expected one of {', '.join(END_OF_TURN)}, got {self.end_of_turn!r}",
        )
        _require(
            20 <= self.end_of_turn_after_ms < self.end_of_turn_max_ms <= 600_000,
            "vad.end_of_turn_after_ms",
            "expected 20 ms up to below vad.end_of_turn_max_ms (at most 600000)",
        )
        _require(
            0.0 < self.end_of_turn_threshold < 1.0, "vad.end_of_turn_threshold", "expected 0..1"
        )
        _require(
            0 <= self.end_of_turn_every_ms <= 600_000,
            "vad.end_of_turn_every_ms",
            f"expected 0 (once) up to 600000 ms, got {self.end_of_turn_every_ms}",
        )
        _require(-120 <= self.gate_floor_db <= 0, "vad.gate_floor_db", "expected -120..0 dBFS")


@dataclass(frozen=True, slots=True)
class JitterConfig:
    min_delay_ms: int = 40
    max_delay_ms: int = 300
    capacity_ms: int = 1000

    def __post_init__(self) -> None:
        _require(
            20 <= self.min_delay_ms <= self.max_delay_ms <= self.capacity_ms <= 10_000,
            "jitter",
            "expected 20 <= min_delay_ms <= max_delay_ms <= capacity_ms <= 10000",
        )


@dataclass(frozen=True, slots=True)
class ApiConfig:
    """The control plane: where calls and agents are stored, and API limits."""

    store_url: str = ""  # default: sqlite:///<data_dir>/mediaserver.db; or postgresql://...
    rate_per_second: float = 20.0  # requests per API key, sustained
    rate_burst: int = 60  # and in a burst
    token_ttl_seconds: int = 600  # call tokens for the softphone page
    token_secret: str = ""  # signs call tokens; default: <data_dir>/call_token_secret (0600)
    # what a request may cost before it is authenticated and answered
    max_body_bytes: int = 16_384  # a request body (413 above); /agents and /webrtc/offer: 256 KiB
    request_timeout_seconds: int = 10  # a request's headers, then its body, must arrive within this
    keep_alive_seconds: int = 5  # an idle kept-alive connection is closed after this
    max_connections: int = 1000  # open connections and requests at once; more get 503
    auth_failures: int = 20  # wrong keys or tokens from one address in a window; then 429
    auth_failure_window_seconds: int = 60
    store_numbers: str = "full"  # phone numbers in stored call records: full | masked | hashed

    def __post_init__(self) -> None:
        _require(
            not self.store_url or self.store_url.startswith(("sqlite:", "postgresql", "postgres:")),
            "api.store_url",
            "expected sqlite:///PATH or postgresql://...",
        )
        _require(0 < self.rate_per_second <= 100_000, "api.rate_per_second", "expected > 0")
        _require(1 <= self.rate_burst <= 1_000_000, "api.rate_burst", "expected >= 1")
        _require(
            10 <= self.token_ttl_seconds <= 86400 * 30,
            "api.token_ttl_seconds",
            "expected 10..2592000",
        )
        _require(
            not self.token_secret or len(self.token_secret) >= 16,
            "api.token_secret",
            "use at least 16 characters",
        )
        _require(
            1024 <= self.max_body_bytes <= 16 * 1024 * 1024,
            "api.max_body_bytes",
            "expected 1024..16777216",
        )
        for key in ("request_timeout_seconds", "keep_alive_seconds"):
            _require(1 <= getattr(self, key) <= 600, f"api.{key}", "expected 1..600")
        _require(
            10 <= self.max_connections <= 100_000, "api.max_connections", "expected 10..100000"
        )
        _require(1 <= self.auth_failures <= 100_000, "api.auth_failures", "expected 1..100000")
        _require(
            1 <= self.auth_failure_window_seconds <= 86400,
            "api.auth_failure_window_seconds",
            "expected 1..86400",
        )
        _require(
            self.store_numbers in ("full", "masked", "hashed"),
            "api.store_numbers",
            'expected "full", "masked" or "hashed"',
        )


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    """`serve --workers N`: N media workers behind a Kamailio SIP edge on the
    public SIP port (0: one process, as before). Workers listen on loopback
    ports from `worker_port` on (0: any free ones, chosen at start)."""

    workers: int = 0
    worker_port: int = 0  # worker i takes SIP port worker_port + i, HTTP worker_port + 100 + i
    # where workers bind SIP and RTP (carriers send RTP here): default server.host,
    # or 127.0.0.1 when that is a wildcard
    media_address: str = ""
    calls_per_worker: int = 4  # PJSUA_MAX_CALLS of the registry builds
    drain_seconds: int = 30  # SIGTERM: calls in progress may finish this long
    pike_requests: int = 200  # requests from one address per 2 s before it is blocked
    invites_per_second: int = 30  # INVITEs from one address per second; more get 503
    tls_port: int = 0  # SIP over TLS at the edge (0: none); needs tls_cert and tls_key
    tls_cert: str = ""
    tls_key: str = ""

    def __post_init__(self) -> None:
        _require(0 <= self.workers <= 64, "cluster.workers", f"expected 0..64, got {self.workers}")
        _require(
            self.worker_port == 0 or 1024 <= self.worker_port <= 65000,
            "cluster.worker_port",
            "expected 0 (any free port) or 1024..65000",
        )
        _require(1 <= self.calls_per_worker <= 4, "cluster.calls_per_worker", "expected 1..4")
        if self.media_address:
            import ipaddress

            try:
                address = ipaddress.ip_address(self.media_address)
            except ValueError:
                raise ConfigError(
                    f"cluster.media_address: {self.media_address!r} is not an IP address"
                ) from None
            _require(
                not address.is_unspecified,
                "cluster.media_address",
                "must be an address RTP can reach, not a wildcard",
            )
        _require(1 <= self.drain_seconds <= 3600, "cluster.drain_seconds", "expected 1..3600")
        _require(10 <= self.pike_requests <= 100_000, "cluster.pike_requests", "10..100000")
        _require(1 <= self.invites_per_second <= 10_000, "cluster.invites_per_second", "1..10000")
        _require(0 <= self.tls_port <= 65535, "cluster.tls_port", "expected 0..65535")
        _require(
            not self.tls_port or (bool(self.tls_cert) and bool(self.tls_key)),
            "cluster.tls_port",
            "SIP over TLS needs cluster.tls_cert and cluster.tls_key (PEM files)",
        )


@dataclass(frozen=True, slots=True)
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    models: ModelsConfig = field(default_factory=ModelsConfig)
    sip: SipConfig = field(default_factory=SipConfig)
    agent: AgentConfig = field(default_factory=AgentConfig)
    vad: VadConfig = field(default_factory=VadConfig)
    jitter: JitterConfig = field(default_factory=JitterConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    webrtc: WebRtcConfig = field(default_factory=WebRtcConfig)
    websocket: WebSocketConfig = field(default_factory=WebSocketConfig)
    twilio: TwilioConfig = field(default_factory=TwilioConfig)
    inference: InferenceConfig = field(default_factory=InferenceConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    knowledge: KnowledgeConfig = field(default_factory=KnowledgeConfig)
    tools: ToolsConfig = field(default_factory=ToolsConfig)
    webhooks: WebhooksConfig = field(default_factory=WebhooksConfig)
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)

    @property
    def store_url(self) -> str:
        return (
            self.api.store_url or f"sqlite:///{Path(self.server.data_dir).resolve()}/mediaserver.db"
        )


_require = require


def load(path: Path | None = None, overrides: dict[str, dict[str, Any]] | None = None) -> Config:
    """Read `path` (TOML) if given, apply `overrides` ({section: {key: value}})."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such file") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    for section, values in (overrides or {}).items():
        data.setdefault(section, {})
        if isinstance(data[section], dict):
            data[section].update({k: v for k, v in values.items() if v is not None})
    config: Config = _build(Config, data, "")
    return config


def _build(cls: type[Any], data: object, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected a table")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in known:
            raise ConfigError(f"{prefix}{key}: unknown key (known: {', '.join(sorted(known))})")
    values: dict[str, Any] = {}
    for name, value in data.items():
        kind = hints[name]
        if isinstance(kind, type) and dataclasses.is_dataclass(kind):
            values[name] = _build(kind, value, f"{prefix}{name}.")
        else:
            values[name] = _coerce(value, kind, f"{prefix}{name}")
    try:
        return cls(**values)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{prefix.rstrip('.')}: {exc}") from None


def _coerce(value: object, kind: type, key: str) -> object:
    args = typing.get_args(kind)
    if typing.get_origin(kind) is tuple and args and dataclasses.is_dataclass(args[0]):
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list of tables ([[{key}]]), got {value!r}")
        item_type: type[Any] = typing.cast(type, args[0])
        return tuple(_build(item_type, item, f"{key}.") for item in value)
    if typing.get_origin(kind) is tuple:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{key}: expected a list of strings, got {value!r}")
        return tuple(value)
    if typing.get_origin(kind) is dict:
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise ConfigError(f"{key}: expected a table of strings, got {value!r}")
        return dict(value)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if type(value) is not kind:
        raise ConfigError(f"{key}: expected {kind.__name__}, got {type(value).__name__} {value!r}")
    return value
