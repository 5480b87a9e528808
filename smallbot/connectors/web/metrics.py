"""`GET /metrics` with prometheus_client: requests by route and status, replies by kind, reply latency,
refusals, feedback and open WebSockets.

Served from several worker processes, every scrape must show the totals of all of them (Prometheus reads a
counter that drops as a reset), so `smallbot serve` with more than one worker points
``PROMETHEUS_MULTIPROC_DIR`` at a fresh directory before any worker starts, and each worker then keeps its
values in memory-mapped files there that every scrape adds up (prometheus_client's multiprocess mode:
https://prometheus.github.io/client_python/multiprocess/). One process alone keeps them in a registry of its own.
"""

from __future__ import annotations

import os

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class WebMetrics:
    """The web connector's metrics; one per application.

    >>> metrics = WebMetrics(); metrics.request("/api/messages", 200)
    >>> "smallbot_http_requests_total" in metrics.render()
    True
    """

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, values

        self._directory = os.environ.get(MULTIPROC_ENV) or None
        if self._directory is not None and values.ValueClass.__name__ != "MmapedValue":
            # prometheus_client picks its value store when first imported; a process that imported it before
            # the variable was set would otherwise count in memory only
            values.ValueClass = values.MultiProcessValue()
        # multiprocess metrics live in the shared files, not in a registry; a lone process gets its own registry
        # (so several applications in one process, as in tests, never share counters)
        self._registry = None if self._directory is not None else CollectorRegistry(auto_describe=True)
        registry = self._registry
        self._requests = Counter(
            "smallbot_http_requests", "HTTP requests by route and status.", ("route", "status"), registry=registry
        )
        self._replies = Counter(
            "smallbot_replies", "Bot replies by kind (REST and WebSocket).", ("kind",), registry=registry
        )
        self._latency = Histogram(
            "smallbot_reply_seconds",
            "Time from a parsed message to its final reply.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._refused = Counter(
            "smallbot_refused",
            "Requests refused, by error code (bad_json, rate_limited, ...).",
            ("error",),
            registry=registry,
        )
        self._feedback = Counter("smallbot_feedback", "Thumbs up and down on replies.", ("score",), registry=registry)
        self._websockets = Gauge(
            "smallbot_websockets_open",
            "WebSocket connections open now.",
            registry=registry,
            multiprocess_mode="livesum",
        )

    def request(self, route: str, status: int) -> None:
        self._requests.labels(route, str(status)).inc()

    def reply(self, kind: str, seconds: float) -> None:
        self._replies.labels(kind).inc()
        self._latency.observe(seconds)

    def refuse(self, error: str) -> None:
        self._refused.labels(error).inc()

    def rate(self, score: int) -> None:
        self._feedback.labels("up" if score > 0 else "down").inc()

    def websocket(self, delta: int) -> None:
        self._websockets.inc(delta)

    def render(self) -> str:
        """Prometheus text format: this process's metrics, or every worker's added up in multiprocess mode."""
        from prometheus_client import CollectorRegistry, generate_latest
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = self._registry
        if registry is None:
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=self._directory)
        return generate_latest(registry).decode("utf-8")


def worker_exited(pid: int) -> None:
    """Drop a stopped worker's live gauges (its open WebSockets are closed); its counters stay in the totals."""
    directory = os.environ.get(MULTIPROC_ENV)
    if directory:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid, directory)
