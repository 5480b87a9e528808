"""Who may talk to the web API: the allowed-origins check and a per-client rate limit.

The limit is kept in this process (`RateLimiter`, pure, no I/O) unless the bot's store shares buckets between
replicas (`SharedBuckets`, the PostgreSQL store): then `SharedRateLimiter` asks the store, so a client spread
over several replicas by a load balancer gets the limit once, not once per replica.

The widget runs inside other people's pages, so its requests are cross-origin: the browser sends an
`Origin` header and only a listed origin gets CORS headers (and a WebSocket). Requests without `Origin`
(curl, server-to-server) are not browser cross-site requests and pass; the rate limit still applies.
See https://developer.mozilla.org/en-US/docs/Web/HTTP/CORS.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import threading
import time
from collections import OrderedDict
from typing import Callable, Iterable, Protocol, runtime_checkable

from smallbot.errors import StoreError

log = logging.getLogger(__name__)


class ClientAddress:
    """The address a client's rate limit is kept under. Behind a load balancer every request comes from the
    balancer, so one busy client would use up everyone's limit: from a listed proxy (`trusted`: addresses or
    networks such as "10.0.0.0/8"), the client is the nearest untrusted address in X-Forwarded-For, read from
    the right (each proxy appends the address it saw; what a client wrote itself stays on the left). From
    anyone else the header is ignored, so it cannot be used to dodge the limit.

    >>> ClientAddress(["10.0.0.0/8"]).of("10.0.0.2", "198.51.100.7, 10.0.0.9")
    '198.51.100.7'
    >>> ClientAddress([]).of("192.0.2.1", "198.51.100.7")
    '192.0.2.1'
    """

    def __init__(self, trusted: Iterable[str]):
        self.trusted = tuple(ipaddress.ip_network(t, strict=False) for t in trusted)

    def _is_trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.trusted)

    def of(self, peer: str | None, forwarded_for: str | None) -> str:
        peer = peer or "unknown"
        if not self.trusted or not forwarded_for or not self._is_trusted(peer):
            return peer
        hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
        for hop in reversed(hops):
            if not self._is_trusted(hop):
                return hop
        return hops[0] if hops else peer


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

    async def acheck(self, key: str) -> float:
        """`check` for the event loop (no I/O: it returns at once)."""
        return self.check(key)


@runtime_checkable
class SharedBuckets(Protocol):
    """What a store offers when every replica must count a client's requests together."""

    async def arate_limit(self, client: str, per_minute: float, burst: int) -> float: ...


class SharedRateLimiter:
    """The same token bucket kept in a shared store: `acheck(key)` returns 0.0 or the seconds to wait.

    When the store cannot be asked (the database is down or slow to answer), this process's own bucket decides,
    so the API keeps its limit, per replica, instead of refusing everyone or letting everyone through.
    """

    def __init__(self, shared: SharedBuckets, per_minute: float, burst: int, fallback: RateLimiter):
        self.shared = shared
        self.per_minute = per_minute
        self.burst = burst
        self.fallback = fallback
        self._warned = False

    async def acheck(self, key: str) -> float:
        try:
            wait = await self.shared.arate_limit(key, self.per_minute, self.burst)
        except StoreError as exc:
            if not self._warned:
                log.warning("shared rate limit unavailable (%s): each replica limits on its own until it is back", exc)
                self._warned = True
            return self.fallback.check(key)
        self._warned = False
        return wait


def rate_limiter(store: object, per_minute: float, burst: int) -> RateLimiter | SharedRateLimiter:
    """The shared limiter when `store` (the bot's connector state) offers shared buckets, else this process's."""
    local = RateLimiter(per_minute, burst)
    if isinstance(store, SharedBuckets):
        return SharedRateLimiter(store, per_minute, burst, local)
    return local


def retry_after_header(wait: float) -> str:
    """Retry-After takes whole seconds (RFC 9110 section 10.2.3); never 0 for a refused request."""
    return str(max(1, math.ceil(wait)))
