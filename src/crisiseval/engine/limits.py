"""Call limits: token buckets for requests/tokens per minute, and retry back-off."""

from __future__ import annotations

import asyncio
import collections
import random
import time


class TokenBucket:
    """A bucket refilled at ``per_minute / 60`` units a second, holding at most ``burst`` units.

    ``acquire(n)`` waits until ``n`` units are available and takes them; ``adjust(delta)`` corrects
    an estimate afterwards (e.g. the real token count of a call), and may drive the level negative,
    which delays later callers.
    """

    def __init__(self, per_minute: float, burst: float | None = None) -> None:
        self.rate = per_minute / 60.0
        # Five seconds' worth by default: smooth, while letting a small burst through.
        self.capacity = max(1.0, burst if burst is not None else per_minute / 12.0)
        self.level = self.capacity
        self.stamp = time.monotonic()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = time.monotonic()
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    async def acquire(self, amount: float = 1.0) -> None:
        amount = min(amount, self.capacity)  # a single huge request must still pass eventually
        async with self._lock:
            while True:
                self._refill()
                if self.level >= amount:
                    self.level -= amount
                    return
                await asyncio.sleep((amount - self.level) / self.rate)

    def adjust(self, delta: float) -> None:
        self._refill()
        self.level -= delta


def backoff_delay(
    attempt: int, *, base: float, cap: float, retry_after: float | None, rng: random.Random
) -> float:
    """Delay before retry number ``attempt`` (1-based): exponential with jitter.

    A server's ``Retry-After`` wins when it asks for longer (plus a little jitter so that many
    waiting calls do not return at the same instant).
    """
    step: float = min(cap, base * 2.0 ** (attempt - 1))
    delay = step * (0.5 + rng.random() / 2)  # "equal jitter": between half and the full step
    if retry_after is not None:
        delay = max(delay, retry_after + rng.random() * 0.1)
    return delay


class AdaptiveLimit:
    """How many calls may be in flight to one endpoint now: additive increase while calls
    succeed, multiplicative decrease when the server pushes back (429, timeouts, 503).

    It starts at the configured maximum (``limits.concurrency``) and never leaves
    ``[minimum, maximum]``. A push-back halves the limit once per round of calls: a call that
    was sent before the last decrease cannot cause another (its signal predates the cut), so a
    burst of 429s from one overload is one halving, not many. Each success adds ``1/limit``, so
    the limit grows by about one per round of successful calls.
    """

    def __init__(self, maximum: int, minimum: int = 1, *, adaptive: bool = True) -> None:
        self.maximum = maximum
        self.minimum = max(1, min(minimum, maximum))
        self.adaptive = adaptive
        self.limit = float(maximum)
        self.in_flight = 0
        self.decreases = 0
        self._cut_at = 0.0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    @property
    def current(self) -> int:
        return max(self.minimum, int(self.limit + 1e-9))

    async def acquire(self) -> float:
        """Wait for a slot; returns the time the call starts (for :meth:`push_back`)."""
        while self.in_flight >= self.current:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            try:
                await fut
            finally:
                if not fut.done():
                    fut.cancel()
        self.in_flight += 1
        return time.monotonic()

    def release(self) -> None:
        """Free a slot (synchronous: safe in a cancelled call's cleanup)."""
        self.in_flight -= 1
        self._wake()

    def _wake(self) -> None:
        free = self.current - self.in_flight
        while free > 0 and self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                free -= 1

    def success(self) -> None:
        if self.adaptive and self.limit < self.maximum:
            self.limit = min(float(self.maximum), self.limit + 1.0 / max(1.0, self.limit))
            self._wake()

    def push_back(self, started: float) -> bool:
        """The server refused a call started at ``started``; returns whether the limit fell."""
        if not self.adaptive or started < self._cut_at:
            return False
        new = max(float(self.minimum), self.limit / 2.0)
        if new >= self.limit:
            return False
        self.limit = new
        self.decreases += 1
        self._cut_at = time.monotonic()
        return True
