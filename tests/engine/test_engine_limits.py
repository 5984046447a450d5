"""Call limits seen from the server: concurrency and requests per minute."""

from __future__ import annotations

import random
import time

import pytest

from crisiseval.engine.limits import TokenBucket, backoff_delay
from crisiseval.testing.mockserver import MockServer


@pytest.mark.parametrize("concurrency", [1, 3])
def test_concurrency_limit_is_respected(store, h, concurrency) -> None:
    with MockServer(latency=0.15) as srv:
        model = h.model(srv, limits=h.limits(concurrency=concurrency))
        s = h.engine(store, {"m": model}).run_sync(h.specs(4 * concurrency), h.Out)
        peak = srv.max_in_flight
        reqs = srv.requests()
    assert s.done == 4 * concurrency and len(reqs) == 4 * concurrency
    assert peak <= concurrency
    if concurrency > 1:
        assert peak >= 2, "the calls should overlap"


def test_concurrency_is_per_model(store, h) -> None:
    with MockServer(latency=0.15) as srv:
        models = {
            "a": h.model(srv, limits=h.limits(concurrency=2)),
            "b": h.model(srv, limits=h.limits(concurrency=1)),
        }
        specs = h.specs(6, model="a", prefix="a") + h.specs(3, model="b", prefix="b")
        s = h.engine(store, models).run_sync(specs, h.Out)
        peak = srv.max_in_flight
    assert s.done == 9
    assert peak <= 3


def test_rpm_limit_spaces_requests(srv, store, h) -> None:
    rpm = 120.0  # 2 requests a second, after a burst of rpm / 12 = 10
    rate, burst = rpm / 60.0, rpm / 12.0
    n = 14
    model = h.model(srv, limits=h.limits(concurrency=8, rpm=rpm))
    s = h.engine(store, {"m": model}).run_sync(h.specs(n), h.Out)
    assert s.done == n
    ts = sorted(r["t"] for r in srv.requests())
    assert len(ts) == n
    # Token-bucket law on the server's clock: any run of k consecutive requests spans at least
    # (k - burst) / rate seconds (one request of slack for scheduling jitter).
    for i in range(n):
        for j in range(i + 1, n):
            k = j - i + 1
            assert k <= burst + rate * (ts[j] - ts[i]) + 1, (i, j, ts[j] - ts[i])
    # The requests beyond the burst took at least (n - burst) / rate seconds in all (again with a
    # request of slack): the limit really throttled, it did not just let everything through.
    assert ts[-1] - ts[0] >= (n - burst - 1) / rate


async def test_token_bucket_waits_for_refill() -> None:
    bucket = TokenBucket(per_minute=600, burst=2)  # 10 a second
    t0 = time.monotonic()
    for _ in range(4):
        await bucket.acquire(1)
    # two from the burst, two refilled at 0.1 s each
    assert time.monotonic() - t0 >= 0.15
    bucket.adjust(5)
    assert bucket.level < 0


def test_backoff_delay_grows_caps_and_honours_retry_after() -> None:
    rng = random.Random(0)
    d = [backoff_delay(a, base=1.0, cap=8.0, retry_after=None, rng=rng) for a in range(1, 7)]
    for attempt, delay in enumerate(d, start=1):
        step = min(8.0, 2.0 ** (attempt - 1))
        assert step / 2 <= delay <= step
    ra = backoff_delay(1, base=0.01, cap=1.0, retry_after=3.0, rng=rng)
    assert 3.0 <= ra <= 3.1
