"""Engine throughput: crisiseval's engine (store on) against bare loops and against inspect_ai.

Every contender sends the same kind of chat call (two messages, a JSON-schema response format,
the reply validated as a pydantic model) to the same loopback mock server (a separate process,
fixed latency per reply), N calls with C in flight, in one run; the script prints calls/s and
CPU ms per call of each and the ratios of the engine to each:

(a)  crisiseval's Engine with its store: content-addressed keys, pending rows, group-committed
     results in a SQLite WAL store, structured-output validation; it speaks HTTP through the openai
     SDK's generic ``client.post("/chat/completions", cast_to=bytes)`` over the SDK's aiohttp
     transport (``openai.DefaultAioHttpClient``) and reads the reply with ``json.loads``.
(b)  the typical hand-written loop: ``openai.AsyncOpenAI().chat.completions.create`` (default
     httpx transport), one task per call, all created up front, gated by a semaphore.
(c)  the stronger bare loop: the same ``chat.completions.create`` from a pool of C worker tasks
     pulling from a queue (C tasks, not N).
(c2) the pool of (c) on the engine's own transport: generic POST + ``DefaultAioHttpClient`` +
     ``json.loads`` + pydantic validation, and nothing else (no store, keys, retries or
     deadline). a/c2 is the engine's own overhead over the leanest loop on the same transport.
(d)  inspect_ai: ``inspect_ai.eval`` of a Task whose dataset is the prompts, solver
     ``generate()`` with the same response schema, no scorer, model ``openai-api/mock/mock``
     (Inspect's OpenAI-compatible provider, pointed at the mock server through
     ``MOCK_BASE_URL``/``MOCK_API_KEY``), ``max_connections`` and ``max_samples`` C, no retries,
     logging to a temporary directory (Inspect's default logging). It runs in a child process
     (a real run has only one of the harnesses loaded: Inspect's ~160,000 objects in this process
     would make every full garbage collection of (a) slower); only the eval call is timed, after
     a warm-up eval in the same child, and the time includes Inspect's task start-up and log
     writing. ``--inspect-n`` runs (d) on fewer samples to save time (printed beside its rate):
     compare rates, not times. Skipped when inspect_ai (the ``inspect`` extra) is not installed.

Every path is warmed up (imports, connection pools) before the rounds; ``--rounds R`` runs all of
them R times, alternating, and prints the medians of the rates and of the per-round ratios. CPU
per call is this process's (or the child's) CPU time, all threads, over the calls; the mock server
is another process and is not counted.
``--json`` prints one JSON object (rates, CPU per call, ratios, per-round figures) on stdout and
the per-round lines on stderr.

    python bench/engine_throughput.py            # N=3000, C=128, latency 100 ms
    python bench/engine_throughput.py --n 500 --concurrency 32 --latency 0.05
    python bench/engine_throughput.py --rounds 3 --json
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai
from pydantic import BaseModel

from crisiseval.config import Limits, ModelConfig
from crisiseval.engine import CallSpec, Engine
from crisiseval.store import Store

Msgs = list[list[dict[str, str]]]

LABELS = {
    "a": "engine + store",
    "b": "gather + semaphore, create()",
    "c": "worker pool, create()",
    "c2": "worker pool, engine transport",
    "d": "inspect_ai eval",
}


class Verdict(BaseModel):
    label: str
    explanation: str


SCHEMA = Verdict.model_json_schema()
RESPONSE_FORMAT = {
    "type": "json_schema",
    "json_schema": {"name": "output", "schema": SCHEMA, "strict": False},
}


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


def prompts(n: int, tag: str) -> Msgs:
    return [
        [
            {"role": "system", "content": "Classify the message. Reply in JSON."},
            {"role": "user", "content": f"[{tag}] message number {i}: I feel tired of everything."},
        ]
        for i in range(n)
    ]


def timed(fn: Callable[[], Any]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (this process, all threads) of ``fn()``."""
    c0, t0 = time.process_time(), time.perf_counter()
    fn()
    return time.perf_counter() - t0, time.process_time() - c0


# ---------------------------------------------------------------------------- (b), (c): create()
async def bare(base_url: str, msgs: Msgs, concurrency: int) -> None:
    """(b) One task per call, all created up front, gated by a semaphore."""
    client = openai.AsyncOpenAI(api_key="unused", base_url=base_url, max_retries=0, timeout=60)
    sem = asyncio.Semaphore(concurrency)

    async def one(m: list[dict[str, str]]) -> None:
        async with sem:
            r = await client.chat.completions.create(
                model="mock",
                messages=m,  # type: ignore[arg-type]
                response_format=RESPONSE_FORMAT,  # type: ignore[arg-type]
            )
            Verdict.model_validate_json(r.choices[0].message.content or "")

    await asyncio.gather(*(one(m) for m in msgs))
    await client.close()


async def _workers(msgs: Msgs, concurrency: int, call: Callable[[Any], Any]) -> None:
    queue: asyncio.Queue[list[dict[str, str]]] = asyncio.Queue()
    for m in msgs:
        queue.put_nowait(m)

    async def worker() -> None:
        while True:
            try:
                m = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            await call(m)

    await asyncio.gather(*(worker() for _ in range(min(concurrency, len(msgs)))))


async def pool(base_url: str, msgs: Msgs, concurrency: int) -> None:
    """(c) The same calls from a pool of ``concurrency`` worker tasks pulling from a queue."""
    client = openai.AsyncOpenAI(api_key="unused", base_url=base_url, max_retries=0, timeout=60)

    async def call(m: list[dict[str, str]]) -> None:
        r = await client.chat.completions.create(
            model="mock",
            messages=m,  # type: ignore[arg-type]
            response_format=RESPONSE_FORMAT,  # type: ignore[arg-type]
        )
        Verdict.model_validate_json(r.choices[0].message.content or "")

    await _workers(msgs, concurrency, call)
    await client.close()


# ---------------------------------------------------------------------------- (c2) engine transport
async def pool_raw(base_url: str, msgs: Msgs, concurrency: int) -> None:
    """(c2) The worker pool of (c) on the engine's transport: the SDK's generic POST over its
    aiohttp client, the body read with ``json.loads``, the content validated by pydantic."""
    client = openai.AsyncOpenAI(
        api_key="unused",
        base_url=base_url,
        max_retries=0,
        timeout=60,
        http_client=openai.DefaultAioHttpClient(),
    )

    async def call(m: list[dict[str, str]]) -> None:
        body = {"model": "mock", "messages": m, "response_format": RESPONSE_FORMAT}
        raw = await client.post("/chat/completions", cast_to=bytes, body=body)
        data = json.loads(raw)
        Verdict.model_validate_json(data["choices"][0]["message"]["content"] or "")

    await _workers(msgs, concurrency, call)
    await client.close()


# ---------------------------------------------------------------------------- (a) the engine
def engine_run(base_url: str, msgs: Msgs, concurrency: int, store_dir: Path) -> None:
    store = Store.open(store_dir)
    models = {
        "mock": ModelConfig(base_url=base_url, model="mock", limits=Limits(concurrency=concurrency))
    }
    engine = Engine(store, models, progress=False)
    specs = [CallSpec(role="bench", model="mock", messages=m) for m in msgs]
    summary = engine.run_sync(specs, Verdict)
    done = sum(n for _role, _model, status, n, *_ in store.cells.totals() if status == "done")
    store.close()
    if summary.done != len(msgs) or done != len(msgs):
        raise RuntimeError(f"engine finished {summary.done}/{len(msgs)} ({summary.line()})")


# ---------------------------------------------------------------------------- (d) inspect_ai
def inspect_available() -> bool:
    """Whether inspect_ai is installed (not imported here: (d) runs in a child process)."""
    return importlib.util.find_spec("inspect_ai") is not None


def inspect_run(base_url: str, msgs: Msgs, concurrency: int, log_dir: Path) -> None:
    """(d) ``inspect_ai.eval`` of the prompts through Inspect's OpenAI-compatible provider."""
    from inspect_ai import Task
    from inspect_ai import eval as inspect_eval
    from inspect_ai.dataset import Sample
    from inspect_ai.model import (
        ChatMessageSystem,
        ChatMessageUser,
        GenerateConfig,
        ResponseSchema,
    )
    from inspect_ai.solver import generate
    from inspect_ai.util import json_schema

    os.environ["MOCK_BASE_URL"] = base_url
    os.environ["MOCK_API_KEY"] = "unused"
    samples = [
        Sample(
            input=[
                ChatMessageSystem(content=m[0]["content"]),
                ChatMessageUser(content=m[1]["content"]),
            ]
        )
        for m in msgs
    ]
    task = Task(
        dataset=samples,
        solver=generate(),
        config=GenerateConfig(
            response_schema=ResponseSchema(name="output", json_schema=json_schema(Verdict))
        ),
    )
    logs = inspect_eval(
        task,
        model="openai-api/mock/mock",
        max_connections=concurrency,
        max_samples=concurrency,
        max_retries=0,
        log_dir=str(log_dir),
        display="none",
    )
    log = logs[0]
    n_done = log.results.completed_samples if log.results else 0
    if log.status != "success" or n_done != len(msgs):
        raise RuntimeError(f"inspect_ai: status {log.status}, {n_done}/{len(msgs)} ({log.error})")


def inspect_child(base_url: str, n: int, concurrency: int, tag: str) -> None:
    """In the child process: a warm-up eval, then the timed one; prints its wall and CPU s."""
    with tempfile.TemporaryDirectory() as tmp:
        inspect_run(base_url, prompts(min(n, 20), f"warm-{tag}"), concurrency, Path(tmp))
    msgs = prompts(n, tag)
    with tempfile.TemporaryDirectory() as tmp:
        wall, cpu = timed(lambda: inspect_run(base_url, msgs, concurrency, Path(tmp)))
    print(json.dumps({"wall_s": wall, "cpu_s": cpu}))


def inspect_in_child(base_url: str, n: int, concurrency: int, tag: str) -> tuple[float, float]:
    """Wall and CPU seconds of (d), run in a child process: Inspect's modules and objects (about
    160,000 more for the garbage collector to walk) stay out of the process that times the
    others, as they would be in a real run of either."""
    child = [
        "--inspect-child",
        base_url,
        "--tag",
        tag,
        "--n",
        str(n),
        "--concurrency",
        str(concurrency),
    ]
    out = subprocess.run(
        [sys.executable, __file__, *child],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"(d) inspect_ai failed:\n{out.stderr[-4000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return float(result["wall_s"]), float(result["cpu_s"])


# ---------------------------------------------------------------------------- the rounds
def one_round(
    r: int, base_url: str, n: int, inspect_n: int, concurrency: int
) -> dict[str, dict[str, float]]:
    """Wall s, calls/s and CPU ms per call of each contender, run in turn on fresh prompts."""
    out: dict[str, dict[str, float]] = {}

    def record(key: str, calls: int, wall: float, cpu: float, **extra: float) -> None:
        out[key] = {
            "calls": calls,
            "wall_s": wall,
            "rate": calls / wall,
            "cpu_ms_per_call": 1000 * cpu / calls,
            **extra,
        }

    with tempfile.TemporaryDirectory() as tmp:
        msgs = prompts(n, f"a{r}")
        wall, cpu = timed(lambda: engine_run(base_url, msgs, concurrency, Path(tmp)))
        size = os.path.getsize(Path(tmp) / "crisiseval.sqlite")
        record("a", n, wall, cpu, store_mb=size / 1e6)
    for key, fn in (("b", bare), ("c", pool), ("c2", pool_raw)):
        msgs = prompts(n, f"{key}{r}")
        wall, cpu = timed(lambda fn=fn, msgs=msgs: asyncio.run(fn(base_url, msgs, concurrency)))
        record(key, n, wall, cpu)
    if inspect_n:
        wall, cpu = inspect_in_child(base_url, inspect_n, concurrency, f"d{r}")
        record("d", inspect_n, wall, cpu)
    return out


def ratios_of(figures: dict[str, dict[str, float]]) -> dict[str, float]:
    a = figures["a"]["rate"]
    return {f"a/{k}": a / v["rate"] for k, v in figures.items() if k != "a"}


def describe(figures: dict[str, dict[str, float]], ratios: dict[str, float]) -> list[str]:
    lines = []
    for key, f in figures.items():
        extra = f"  store {f['store_mb']:.1f} MB" if "store_mb" in f else ""
        label = f"{LABELS[key]} (N={int(f['calls'])})"
        lines.append(
            f"  ({key}){' ' * (3 - len(key))}{label:<42}"
            f"{f['rate']:8.1f} calls/s  {f['cpu_ms_per_call']:6.2f} ms CPU/call  "
            f"{f['wall_s']:6.2f} s{extra}"
        )
    lines.append("  " + ", ".join(f"{k} = {v:.3f}" for k, v in ratios.items()))
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--n", type=int, default=3000, help="calls per contender (default 3000)")
    p.add_argument("--concurrency", type=int, default=128, help="calls in flight (default 128)")
    p.add_argument("--latency", type=float, default=0.1, help="server latency, s (default 0.1)")
    p.add_argument(
        "--inspect-n",
        type=int,
        default=None,
        help="samples for (d) inspect_ai (default: --n; 0 skips it)",
    )
    p.add_argument("--rounds", type=int, default=1, help="run all contenders this many times")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--inspect-child", metavar="BASE_URL", help=argparse.SUPPRESS)
    p.add_argument("--tag", default="d", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.inspect_child:
        inspect_child(args.inspect_child, args.n, args.concurrency, args.tag)
        return
    say = (lambda s: print(s, file=sys.stderr, flush=True)) if args.json else print
    inspect_n = args.n if args.inspect_n is None else args.inspect_n
    if inspect_n and not inspect_available():
        say("(d) skipped: inspect_ai is not installed (pip install 'crisiseval[inspect]')")
        inspect_n = 0

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
        # Warm-up of every path (imports, connection pools) outside the rounds; (d) warms up in
        # its own process.
        one_round(-1, base_url, 50, 0, args.concurrency)
        rounds: list[dict[str, dict[str, float]]] = []
        round_ratios: list[dict[str, float]] = []
        for r in range(args.rounds):
            figures = one_round(r, base_url, args.n, inspect_n, args.concurrency)
            rounds.append(figures)
            round_ratios.append(ratios_of(figures))
            say(
                f"round {r + 1}/{args.rounds}: N={args.n} concurrency={args.concurrency} "
                f"latency={args.latency * 1000:.0f}ms"
            )
            for line in describe(figures, round_ratios[-1]):
                say(line)
    finally:
        server.terminate()
        server.wait(10)

    keys = list(rounds[0])
    rates = {k: statistics.median(f[k]["rate"] for f in rounds) for k in keys}
    cpu = {k: statistics.median(f[k]["cpu_ms_per_call"] for f in rounds) for k in keys}
    ratios = {k: statistics.median(rr[k] for rr in round_ratios) for k in round_ratios[0]}
    if args.rounds > 1:
        say(f"median over {args.rounds} rounds (ratios: median of the per-round ratios)")
        for k in keys:
            say(
                f"  ({k}){' ' * (3 - len(k))}{LABELS[k]:<42}{rates[k]:8.1f} calls/s  "
                f"{cpu[k]:6.2f} ms CPU/call"
            )
        say("  " + ", ".join(f"{k} = {v:.3f}" for k, v in ratios.items()))
    if args.json:
        print(
            json.dumps(
                {
                    "n": args.n,
                    "inspect_n": inspect_n,
                    "concurrency": args.concurrency,
                    "latency_s": args.latency,
                    "rounds": args.rounds,
                    "rates": {k: round(v, 1) for k, v in rates.items()},
                    "cpu_ms_per_call": {k: round(v, 3) for k, v in cpu.items()},
                    "ratios": {k: round(v, 3) for k, v in ratios.items()},
                    "per_round": [
                        {
                            "rates": {k: round(v["rate"], 1) for k, v in f.items()},
                            "ratios": {k: round(v, 3) for k, v in rr.items()},
                        }
                        for f, rr in zip(rounds, round_ratios, strict=True)
                    ],
                }
            )
        )


if __name__ == "__main__":
    main()
