"""Prometheus metrics of one server replica (its own registry, so several apps can live in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["ServiceMetrics"]


class ServiceMetrics:
    """Requests, scored calls, batch sizes, queue depth and latency, exported as Prometheus text."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("bbt_requests", "HTTP requests by route and status", ["route", "status"],
                                registry=self.registry)
        self.calls = Counter("bbt_calls", "candidates scored and charged (API calls)", ["endpoint"],
                             registry=self.registry)
        self.batch_requests = Histogram("bbt_batch_requests", "requests merged into one evaluator call",
                                        buckets=(1, 2, 3, 4, 6, 8, 12, 16, 32, 64), registry=self.registry)
        self.batch_candidates = Histogram("bbt_batch_candidates", "candidates in one evaluator call",
                                          buckets=(1, 5, 10, 20, 40, 80, 160, 320, 640), registry=self.registry)
        self.queue_depth = Gauge("bbt_queue_depth", "evaluate requests waiting for the model", registry=self.registry)
        self.latency = Histogram("bbt_request_seconds", "request latency by route", ["route"],
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
                                 registry=self.registry)

    def on_batch(self, n_requests: int, n_candidates: int) -> None:
        self.batch_requests.observe(n_requests)
        self.batch_candidates.observe(n_candidates)

    def render(self) -> bytes:
        return generate_latest(self.registry)
