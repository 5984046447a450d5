"""Engine throughput: crisiseval's engine (store on) vs two bare openai.AsyncOpenAI loops.

All send the same N chat calls with concurrency C to the same loopback mock server (a separate
process, fixed latency per reply), in one run, and the script prints calls/s of each and the
ratios: (b) gather + a semaphore (one task per call, all created up front) and (c) a pool of C
worker tasks pulling from a queue (the stronger baseline: C tasks, not N). The engine does
everything it does in real runs: content-addressed keys, pending rows, group-committed results in
a SQLite WAL store, structured-output validation.

    python bench/engine_throughput.py            # N=3000, C=128, latency 100 ms
    python bench/engine_throughput.py --n 500 --concurrency 32 --latency 0.05
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import openai
from pydantic import BaseModel

from crisiseval.config import Limits, ModelConfig
from crisiseval.engine import CallSpec, Engine
from crisiseval.store import Store


class Verdict(BaseModel):
    label: str
    explanation: str


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("mock server did not start")


def prompts(n: int, tag: str) -> list[list[dict[str, str]]]:
    return [
        [
            {"role": "system", "content": "Classify the message. Reply in JSON."},
            {"role": "user", "content": f"[{tag}] message number {i}: I feel tired of everything."},
        ]
        for i in range(n)
    ]


async def bare(base_url: str, msgs: list[list[dict[str, str]]], concurrency: int) -> float:
    client = openai.AsyncOpenAI(api_key="unused", base_url=base_url, max_retries=0, timeout=60)
    sem = asyncio.Semaphore(concurrency)
    schema = Verdict.model_json_schema()

    async def one(m: list[dict[str, str]]) -> None:
        async with sem:
            r = await client.chat.completions.create(
                model="mock",
                messages=m,  # type: ignore[arg-type]
                response_format={
                    "type": "json_schema",
                    "json_schema": {"name": "output", "schema": schema, "strict": False},
                },
            )
            Verdict.model_validate_json(r.choices[0].message.content or "")

    t0 = time.perf_counter()
    await asyncio.gather(*(one(m) for m in msgs))
    dt = time.perf_counter() - t0
    await client.close()
    return dt


async def pool(base_url: str, msgs: list[list[dict[str, str]]], concurrency: int) -> float:
    """The same calls from a pool of ``concurrency`` worker tasks pulling from a queue."""
    client = openai.AsyncOpenAI(api_key="unused", base_url=base_url, max_retries=0, timeout=60)
    schema = Verdict.model_json_schema()
    queue: asyncio.Queue[list[dict[str, str]]] = asyncio.Queue()
    for m in msgs:
        queue.put_nowait(m)

    async def worker() -> None:
        while True:
            try:
                m = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            r = await client.chat.completions.create(
                model="mock",
                messages=m,  # type: ignore[arg-type]
                response_format={
                    "type": "json_schema",
                    "json_schema": {"name": "output", "schema": schema, "strict": False},
                },
            )
            Verdict.model_validate_json(r.choices[0].message.content or "")

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(min(concurrency, len(msgs)))))
    dt = time.perf_counter() - t0
    await client.close()
    return dt


def engine_run(
    base_url: str, msgs: list[list[dict[str, str]]], concurrency: int, store_dir: Path
) -> tuple[float, int]:
    store = Store.open(store_dir)
    models = {
        "mock": ModelConfig(base_url=base_url, model="mock", limits=Limits(concurrency=concurrency))
    }
    engine = Engine(store, models, progress=False)
    specs = [CallSpec(role="bench", model="mock", messages=m) for m in msgs]
    t0 = time.perf_counter()
    summary = engine.run_sync(specs, Verdict)
    dt = time.perf_counter() - t0
    done = sum(n for _role, _model, status, n, *_ in store.cells.totals() if status == "done")
    store.close()
    if summary.done != len(msgs) or done != len(msgs):
        raise RuntimeError(f"engine finished {summary.done}/{len(msgs)} ({summary.line()})")
    return dt, done


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--n", type=int, default=3000)
    p.add_argument("--concurrency", type=int, default=128)
    p.add_argument("--latency", type=float, default=0.1)
    p.add_argument("--rounds", type=int, default=1, help="alternate a/b this many times")
    args = p.parse_args()

    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "crisiseval.testing.mockserver",
            "--port",
            str(port),
            "--latency",
            str(args.latency),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(port)
        base_url = f"http://127.0.0.1:{port}/v1"
        # Warm-up (imports, connection pools) outside the measurement.
        asyncio.run(bare(base_url, prompts(50, "warm"), args.concurrency))
        ratios: list[float] = []
        pool_ratios: list[float] = []
        for r in range(args.rounds):
            with tempfile.TemporaryDirectory() as tmp:
                t_engine, _ = engine_run(
                    base_url, prompts(args.n, f"e{r}"), args.concurrency, Path(tmp)
                )
                size = os.path.getsize(Path(tmp) / "crisiseval.sqlite")
            t_bare = asyncio.run(bare(base_url, prompts(args.n, f"b{r}"), args.concurrency))
            t_pool = asyncio.run(pool(base_url, prompts(args.n, f"p{r}"), args.concurrency))
            a, b, c = args.n / t_engine, args.n / t_bare, args.n / t_pool
            ratios.append(a / b)
            pool_ratios.append(a / c)
            print(
                f"round {r + 1}: N={args.n} concurrency={args.concurrency} "
                f"latency={args.latency * 1000:.0f}ms | (a) engine+store {a:7.1f} calls/s "
                f"({t_engine:.2f}s, store {size / 1e6:.1f} MB) | (b) gather+semaphore {b:7.1f} "
                f"calls/s | (c) worker pool {c:7.1f} calls/s | a/b = {a / b:.3f}, "
                f"a/c = {a / c:.3f}"
            )
        if args.rounds > 1:
            ratios.sort()
            pool_ratios.sort()
            mid = args.rounds // 2
            print(
                f"median over {args.rounds} rounds: a/b = {ratios[mid]:.3f}, "
                f"a/c = {pool_ratios[mid]:.3f}"
            )
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
