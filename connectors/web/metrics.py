"""Counters for `GET /metrics`, written in the Prometheus text format by hand (no extra dependency).

Format: https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format
"""

from __future__ import annotations

import threading
from collections import defaultdict

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class WebMetrics:
    """Requests by route and status, replies by kind, reply latency, open WebSockets, refusals.

    >>> metrics = WebMetrics(); metrics.request("/api/messages", 200)
    >>> "smallbot_http_requests_total" in metrics.render()
    True
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: defaultdict[tuple[str, int], int] = defaultdict(int)
        self.replies: defaultdict[str, int] = defaultdict(int)
        self.refused: defaultdict[str, int] = defaultdict(int)
        self.feedback: defaultdict[str, int] = defaultdict(int)
        self.bucket_counts = [0] * len(LATENCY_BUCKETS)
        self.latency_sum = 0.0
        self.latency_count = 0
        self.websockets = 0

    def request(self, route: str, status: int) -> None:
        with self._lock:
            self.requests[(route, status)] += 1

    def reply(self, kind: str, seconds: float) -> None:
        with self._lock:
            self.replies[kind] += 1
            self.latency_sum += seconds
            self.latency_count += 1
            for i, bound in enumerate(LATENCY_BUCKETS):
                if seconds <= bound:
                    self.bucket_counts[i] += 1

    def refuse(self, error: str) -> None:
        with self._lock:
            self.refused[error] += 1

    def rate(self, score: int) -> None:
        with self._lock:
            self.feedback["up" if score > 0 else "down"] += 1

    def websocket(self, delta: int) -> None:
        with self._lock:
            self.websockets += delta

    def render(self) -> str:
        with self._lock:
            lines = [
                "# HELP smallbot_http_requests_total HTTP requests by route and status.",
                "# TYPE smallbot_http_requests_total counter",
                *(f'smallbot_http_requests_total{{route="{_label(r)}",status="{s}"}} {n}'
                  for (r, s), n in sorted(self.requests.items())),
                "# HELP smallbot_replies_total Bot replies by kind (REST and WebSocket).",
                "# TYPE smallbot_replies_total counter",
                *(f'smallbot_replies_total{{kind="{_label(k)}"}} {n}' for k, n in sorted(self.replies.items())),
                "# HELP smallbot_reply_seconds Time from a parsed message to its final reply.",
                "# TYPE smallbot_reply_seconds histogram",
                *(f'smallbot_reply_seconds_bucket{{le="{b}"}} {n}' for b, n in zip(LATENCY_BUCKETS, self.bucket_counts)),
                f'smallbot_reply_seconds_bucket{{le="+Inf"}} {self.latency_count}',
                f"smallbot_reply_seconds_sum {self.latency_sum:.6f}",
                f"smallbot_reply_seconds_count {self.latency_count}",
                "# HELP smallbot_refused_total Requests refused, by error code (bad_json, rate_limited, ...).",
                "# TYPE smallbot_refused_total counter",
                *(f'smallbot_refused_total{{error="{_label(e)}"}} {n}' for e, n in sorted(self.refused.items())),
                "# HELP smallbot_feedback_total Thumbs up and down on replies.",
                "# TYPE smallbot_feedback_total counter",
                *(f'smallbot_feedback_total{{score="{s}"}} {n}' for s, n in sorted(self.feedback.items())),
                "# HELP smallbot_websockets_open WebSocket connections open now.",
                "# TYPE smallbot_websockets_open gauge",
                f"smallbot_websockets_open {self.websockets}",
            ]
        return "\n".join(lines) + "\n"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
