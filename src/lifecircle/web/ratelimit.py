"""Per-address rate limit of the public (no sign-in) endpoints: a token bucket per client address,
in memory, per server process.

Each address may send ``public_burst`` requests at once and then ``public_rate_per_minute`` a
minute (settings ``LIFECIRCLE_PUBLIC_BURST``, ``LIFECIRCLE_PUBLIC_RATE_PER_MINUTE``); beyond that
the answer is 429 with ``Retry-After`` (seconds until the next token). The address is the
connection's, or the one a trusted proxy names (:func:`lifecircle.web.deps.client_ip`). With
several processes each keeps its own buckets (the limit per address is then per process). The
table holds at most :data:`MAX_ADDRESSES` addresses: full buckets are forgotten first (they carry no
state), then the least recently seen. Nothing is logged: addresses are personal data.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict

from fastapi import Request

from lifecircle.i18n import t
from lifecircle.platform.errors import ThrottledError
from lifecircle.web.deps import client_ip

MAX_ADDRESSES = 100_000


class TokenBucket:
    """Token buckets per key: ``burst`` tokens, refilled at ``rate_per_s`` tokens a second."""

    def __init__(self, rate_per_s: float, burst: int, *, clock=time.monotonic, max_keys: int = MAX_ADDRESSES) -> None:
        self.rate, self.burst, self.clock, self.max_keys = float(rate_per_s), float(burst), clock, max_keys
        self._lock = threading.Lock()
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key → (tokens, at)

    def take(self, key: str) -> float:
        """Take one token for ``key``: ``0`` when allowed, else the seconds until one is available."""
        now = self.clock()
        with self._lock:
            tokens, at = self._buckets.pop(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                wait = 0.0
            else:
                self._buckets[key] = (tokens, now)
                wait = (1.0 - tokens) / self.rate if self.rate > 0 else math.inf
            if len(self._buckets) > self.max_keys:
                self._forget(now)
            return wait

    def _forget(self, now: float) -> None:
        full = [k for k, (tok, at) in self._buckets.items() if tok + (now - at) * self.rate >= self.burst]
        for k in full:
            del self._buckets[k]
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)  # the least recently seen


def _bucket(request: Request) -> TokenBucket:
    state = request.app.state
    b = getattr(state, "public_bucket", None)
    if b is None:
        s = state.settings
        b = state.public_bucket = TokenBucket(s.public_rate_per_minute / 60.0, s.public_burst)
    return b


async def public_rate_limit(request: Request) -> None:
    """The dependency of every public route: 429 with ``Retry-After`` past the address's limit."""
    wait = _bucket(request).take(client_ip(request))
    if wait > 0:
        secs = max(1, math.ceil(wait)) if math.isfinite(wait) else 60
        raise ThrottledError(
            t(f"请求过于频繁，请 {secs} 秒后重试", f"too many requests; retry in {secs} s"),
            secs,
        )
