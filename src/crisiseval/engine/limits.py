"""Call limits: token buckets for requests/tokens per minute, and retry back-off."""

from __future__ import annotations

import asyncio
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
