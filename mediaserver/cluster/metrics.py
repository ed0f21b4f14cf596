"""/metrics of a cluster: the control process's own metrics and every
worker's, each sample labelled worker="control" | "w1" | ...

Per-worker targets behind one scrape, not prometheus_client's multiprocess
mode: each worker keeps its own registry in its own memory, so a killed
worker leaves no stale mmap files or live-sum gauges behind (multiprocess
mode needs mark_process_dead and an env var set before any import), and one
scrape of the control process still covers the whole box."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample


class ClusterMetrics(Collector):
    def __init__(self, own: CollectorRegistry, workers: Callable[[], dict[str, str]]) -> None:
        self.own = own
        self.workers = workers  # worker name -> its /metrics text

    def collect(self) -> Iterator[Metric]:
        families: dict[str, Metric] = {}

        def add(family: Metric, worker: str) -> None:
            merged = families.get(family.name)
            if merged is None:
                merged = families[family.name] = Metric(
                    family.name, family.documentation, family.type, family.unit
                )
            for s in family.samples:
                labels = {**s.labels, "worker": worker}
                merged.samples.append(Sample(s.name, labels, s.value, s.timestamp, s.exemplar))

        for family in self.own.collect():
            add(family, "control")
        for worker, text in self.workers().items():
            for family in text_string_to_metric_families(text):
                add(family, worker)
        yield from families.values()


def cluster_registry(
    own: CollectorRegistry, workers: Callable[[], dict[str, str]]
) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ClusterMetrics(own, workers))
    return registry
