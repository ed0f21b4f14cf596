"""The inference service's Prometheus metrics, in a registry of its own."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "inference_requests",
            "Requests by endpoint and status",
            ["endpoint", "status"],
            registry=r,
        )
        self.rejected = Counter(
            "inference_rejected",
            "Requests refused because a model's queue was full",
            ["model"],
            registry=r,
        )
        self.waiting = Gauge(
            "inference_queue_depth", "Requests waiting per model", ["model"], registry=r
        )
        self.stt_batch = Histogram(
            "inference_stt_batch_size",
            "Transcriptions decoded together",
            buckets=(1, 2, 3, 4, 6, 8, 12, 16, 32, 64),
            registry=r,
        )
        self.llm_tokens = Counter("inference_llm_tokens", "Tokens the LLM generated", registry=r)
        self.llm_cancelled = Counter(
            "inference_llm_cancelled",
            "Completions stopped because the client went away",
            registry=r,
        )
        self.llm_paused = Counter(
            "inference_llm_paused",
            "Replies paused so that another call's reply could say its first words",
            registry=r,
        )
        self.cores_waits = Gauge(
            "inference_cores_waits",
            "Model steps that waited for the cores (a token, a clause, a batch), in all",
            registry=r,
        )
        self.cores_waited = Gauge(
            "inference_cores_waited_seconds",
            "How long model steps waited for the cores, in all",
            registry=r,
        )
        self.tts_cached = Counter("inference_tts_cached", "Clauses said from the cache", registry=r)
        self.seconds = Histogram(
            "inference_request_seconds",
            "Time to a whole answer (a stream: to its end)",
            ["endpoint"],
            registry=r,
        )

    def watch(self, lanes: Iterable[Any], cores: Any) -> None:
        """Queue depth read from each lane, and the cores' waits, when scraped."""
        for lane in lanes:
            self.waiting.labels(lane.name).set_function(_depth(lane))
        self.cores_waits.set_function(lambda: float(cores.waits))
        self.cores_waited.set_function(lambda: float(cores.waited_s))


def _depth(lane: Any) -> Callable[[], float]:
    return lambda: float(lane.waiting)
