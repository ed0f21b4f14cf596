"""Prometheus metrics of one server, in a registry of its own (no globals)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

STAGE_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.active_calls = Gauge(
            "mediaserver_active_calls", "Calls in progress", ["transport"], registry=r
        )
        self.calls_ended = Counter(
            "mediaserver_calls_ended", "Calls ended, by reason", ["transport", "reason"], registry=r
        )
        self.voice_to_voice = Histogram(
            "mediaserver_voice_to_voice_seconds",
            "End of caller speech to the agent's first audio out",
            registry=r,
            buckets=STAGE_BUCKETS,
        )
        self.stage = Histogram(
            "mediaserver_turn_stage_seconds",
            "Each turn stage, measured from the end of the caller's speech",
            ["stage"],
            registry=r,
            buckets=STAGE_BUCKETS,
        )
        self.model_seconds = Histogram(
            "mediaserver_model_seconds",
            "Time spent in a model call (stt: transcription; llm: first token; tts: synthesis)",
            ["model"],
            registry=r,
            buckets=STAGE_BUCKETS,
        )
        self.jitter_frames = Counter(
            "mediaserver_jitter_frames",
            "Inbound frames by jitter-buffer outcome (lost, late, concealed, dropped)",
            ["transport", "outcome"],
            registry=r,
        )
        self.sip_responses = Counter(
            "mediaserver_sip_final_responses",
            "Final SIP status codes of calls",
            ["code"],
            registry=r,
        )
        self.outbound_queue = Gauge(
            "mediaserver_outbound_queue_depth", "Outbound calls waiting for a trunk", registry=r
        )
        self.store_write_drops = Counter(
            "mediaserver_store_writes_dropped", "Call-record writes dropped", registry=r
        )
