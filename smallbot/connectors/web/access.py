"""Who may talk to the web API: the allowed-origins check and a per-client rate limit. Pure, no I/O.

The widget runs inside other people's pages, so its requests are cross-origin: the browser sends an
`Origin` header and only a listed origin gets CORS headers (and a WebSocket). Requests without `Origin`
(curl, server-to-server) are not browser cross-site requests and pass; the rate limit still applies.
See https://developer.mozilla.org/en-US/docs/Web/HTTP/CORS.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from typing import Callable, Iterable


class OriginPolicy:
    """`allowed` holds origins like "https://www.example.com"; "*" allows every origin.

    >>> OriginPolicy(["https://shop.example"]).allows("https://shop.example", "http://bot.local:8080")
    True
    """

    def __init__(self, allowed: Iterable[str]):
        self.allow_all = "*" in allowed
        self.allowed = frozenset(o.rstrip("/").lower() for o in allowed if o != "*")

    def allows(self, origin: str | None, own_origin: str) -> bool:
        """True for no Origin header, the server's own origin, or a listed one."""
        if origin is None:
            return True
        origin = origin.rstrip("/").lower()
        return self.allow_all or origin == own_origin.rstrip("/").lower() or origin in self.allowed


class RateLimiter:
    """A token bucket per client key: `per_minute` sustained, bursts up to `burst`.

    `check(key)` takes one token and returns 0.0, or the seconds until a token is free (the
    Retry-After). Buckets of idle clients are dropped beyond `capacity` keys, oldest first.

    >>> limiter = RateLimiter(per_minute=60, burst=2)
    >>> limiter.check("1.2.3.4"), limiter.check("1.2.3.4"), limiter.check("1.2.3.4") > 0
    (0.0, 0.0, True)
    """

    def __init__(
        self, per_minute: float, burst: int, *, capacity: int = 50_000, clock: Callable[[], float] = time.monotonic
    ):
        if per_minute <= 0 or burst < 1:
            raise ValueError("rate limit needs per_minute > 0 and burst >= 1")
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.capacity = capacity
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, updated)
        self._lock = threading.Lock()

    def check(self, key: str) -> float:
        now = self.clock()
        with self._lock:
            tokens, updated = self._buckets.pop(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - updated) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                wait = 0.0
            else:
                self._buckets[key] = (tokens, now)
                wait = (1.0 - tokens) / self.rate
            while len(self._buckets) > self.capacity:
                self._buckets.popitem(last=False)
        return wait


def retry_after_header(wait: float) -> str:
    """Retry-After takes whole seconds (RFC 9110 section 10.2.3); never 0 for a refused request."""
    return str(max(1, math.ceil(wait)))
