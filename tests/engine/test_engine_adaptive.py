"""Adaptive rate control and replicas over real HTTP: against a server that answers 429 above N
requests in flight, the engine's limit converges near N and every call completes; a model with
several base URLs spreads its calls over the replicas and keeps one cache identity."""

from __future__ import annotations

import asyncio
import statistics

import pytest

from crisiseval.engine.limits import AdaptiveLimit
from crisiseval.errors import ConfigError
from crisiseval.testing.mockserver import MockServer

N = 8


def _run(h, store, srv: MockServer, *, adaptive: bool, calls: int = 300) -> tuple[int, list[int]]:
    model = h.model(
        srv,
        h.limits(concurrency=64, max_retries=30, adaptive=adaptive, backoff_base_s=0.02),
    )
    engine = h.engine(store, {"m": model})
    summary = engine.run_sync(h.specs(calls, prefix=f"adaptive-{adaptive}"), h.Out)
    assert summary.failed == 0 and summary.done == calls
    throttled = srv.state.throttled
    return throttled, list(srv.state.arrivals)


@pytest.mark.slow
def test_the_limit_converges_near_what_the_server_takes(h, store) -> None:
    with MockServer(latency=0.04, throttle_above=N) as srv:
        throttled, arrivals = _run(h, store, srv, adaptive=True)
    # After the first push-backs, requests arrive with about N in flight (not 64).
    settled = arrivals[len(arrivals) // 2 :]
    assert statistics.median(settled) <= 2 * N
    assert statistics.median(settled) >= N / 4
    with MockServer(latency=0.04, throttle_above=N) as srv:
        fixed, _ = _run(h, store, srv, adaptive=False)
    # A fixed concurrency of 64 keeps hammering: far more 429s for the same calls.
    assert throttled * 2 < fixed, (throttled, fixed)


def test_the_server_does_not_see_429s_before_it_is_full(h, store) -> None:
    with MockServer(latency=0.01, throttle_above=100) as srv:
        throttled, _ = _run(h, store, srv, adaptive=True, calls=100)
    assert throttled == 0


async def test_adaptive_limit_halves_once_per_round_and_grows_back() -> None:
    lim = AdaptiveLimit(16)
    starts = [await lim.acquire() for _ in range(16)]
    for _ in range(16):
        lim.release()
    assert lim.push_back(starts[0]) and lim.current == 8
    # The other calls of the same round were sent before the cut: no further halving.
    assert not any(lim.push_back(t) for t in starts[1:]) and lim.current == 8
    later = await lim.acquire()
    lim.release()
    assert lim.push_back(later) and lim.current == 4
    # About one more slot per round of successes: 4 -> 8 takes some 4 + 5 + 6 + 7 successes.
    n = 0
    while lim.current < 8:
        lim.success()
        n += 1
    assert 15 <= n <= 30
    for _ in range(1000):
        lim.success()
    assert lim.current == 16  # never past the configured concurrency
    fixed = AdaptiveLimit(16, adaptive=False)
    assert not fixed.push_back(0.0) and fixed.current == 16


async def test_a_full_limit_makes_callers_wait() -> None:
    lim = AdaptiveLimit(2)
    await lim.acquire()
    await lim.acquire()
    waiter = asyncio.ensure_future(lim.acquire())
    await asyncio.sleep(0.01)
    assert not waiter.done()
    lim.release()
    await asyncio.wait_for(waiter, 1)
    assert lim.in_flight == 2


def test_replicas_share_the_calls_and_one_cache_identity(h, store) -> None:
    with MockServer(latency=0.02) as a, MockServer(latency=0.02) as b:
        model = h.model(a, h.limits(concurrency=8), base_urls=[b.base_url])
        engine = h.engine(store, {"m": model})
        summary = engine.run_sync(h.specs(80, prefix="replica"), h.Out)
        assert summary.done == 80
        served_a, served_b = len(a.requests()), len(b.requests())
    assert served_a + served_b == 80 and min(served_a, served_b) >= 20
    endpoints = {row["endpoint"] for row in store.cells.rows()}
    assert endpoints == {f"openai:{a.base_url}:mock"}  # the replicas do not change the identity


def test_an_unreachable_replica_fails_before_any_call(h, store) -> None:
    with MockServer() as a:
        model = h.model(a, base_urls=["http://127.0.0.1:9/v1"])
        engine = h.engine(store, {"m": model})
        with pytest.raises(ConfigError, match=r"cannot reach base_url http://127\.0\.0\.1:9/v1"):
            engine.preflight(["m"])


def test_the_progress_line_shows_the_backed_off_limit(h, store) -> None:
    import io

    from rich.console import Console

    from crisiseval.engine import Engine

    out = io.StringIO()
    with MockServer(latency=0.05, throttle_above=2) as srv:
        model = h.model(srv, h.limits(concurrency=16, max_retries=30))
        engine = Engine(store, {"m": model}, progress="lines", console=Console(file=out, width=200))
        summary = engine.run_sync(h.specs(40, prefix="flight"), h.Out)
    assert summary.failed == 0
    assert "in flight m <= " in out.getvalue()
