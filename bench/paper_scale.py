"""The study's full shape as a benchmark: classify 3 runs, 5 respondents x 3 runs, 3 judge runs per
answer, on the study's 2,046-item test set, against a zero-latency loopback mock server (its own
process, so this process's CPU is the harness's).

Prints the harness's wall time, CPU seconds per call, peak RSS and store size, then the time to
resume the finished run (which must send 0 calls): in this process, then in a new one, as a
user's second ``crisiseval run`` would (its start-up, imports included, timed apart).
``--json`` prints them as one object.

    python bench/paper_scale.py                      # the full shape (~129,000 calls)
    python bench/paper_scale.py --fraction 0.1       # a tenth of the items, same shape
    python bench/paper_scale.py --json

The items are the study's test set when ../shared/data/between-help-and-harm is present (or
``--items FILE``), else synthetic items of the same count and a similar length.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import socket
import subprocess
import sys
import tempfile
import time
from argparse import SUPPRESS
from pathlib import Path
from typing import Any

from crisiseval.config import parse_study
from crisiseval.pipeline import StudyContext, run_study

REPO = Path(__file__).resolve().parents[1]
STUDY = REPO.parent / "shared" / "data" / "between-help-and-harm" / "processed"
TEST_SET = "sampled_dataset_n_2046_nPerD168_seed0.json"


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


def items(path: Path | None, n: int, fraction: float, workdir: Path) -> tuple[Path, int]:
    """An items file (the study's format) with ``fraction`` of the items."""
    if path is None and (STUDY / TEST_SET).is_file():
        path = STUDY / TEST_SET
    if path is not None:
        records: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    else:
        rng = random.Random(0)
        words = [
            "i",
            "feel",
            "tired",
            "of",
            "everything",
            "and",
            "nobody",
            "listens",
            "when",
            "i",
            "try",
            "to",
            "talk",
        ]
        records = [
            {
                "inputs": [
                    " ".join(rng.choice(words) for _ in range(rng.randint(6, 30))) + f" #{i}"
                    for _ in range(rng.randint(1, 4))
                ],
                "label": "no_crisis",
            }
            for i in range(n)
        ]
    keep = records[: max(1, round(len(records) * fraction))]
    out = workdir / "items.json"
    out.write_text(json.dumps(keep), encoding="utf-8")
    return out, len(keep)


def config(base_url: str, items_file: Path, concurrency: int) -> dict[str, Any]:
    model = {
        "base_url": base_url,
        "limits": {"concurrency": concurrency, "max_retries": 2, "backoff_base_s": 0.05},
        "params": {"max_tokens": 512},
    }
    respondents = ["gpt-4o-mini", "gpt-5-nano", "deepseek-chat", "grok-3-mini", "llama-4-scout"]
    models = {name: {**model, "model": name} for name in [*respondents, "judge"]}
    return {
        "name": "paper-scale",
        "models": models,
        "sample": {"name": "test", "from_file": str(items_file)},
        "classify": {"models": ["judge"], "runs": 3},
        "respond": {
            "runs": 3,
            "respondents": [{"name": r, "model": r} for r in respondents],
        },
        "judge": {"judges": ["judge"], "runs": 3},
    }


def store_mb(run: Path) -> float:
    return sum(p.stat().st_size for p in run.glob("crisiseval.sqlite*")) / 1e6


def cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def resume_child(run: str, base_url: str, items_file: str) -> None:
    """In a new process, as a user's second ``crisiseval run`` would: resume the finished run and
    print the seconds of the resume itself (the parent times the whole process)."""
    cfg = parse_study(config(base_url, Path(items_file), 64))
    ctx = StudyContext.open(cfg, Path(run), progress=False)
    t0 = time.perf_counter()
    again = run_study(ctx, log=lambda _line: None)
    resume = time.perf_counter() - t0
    ctx.store.close()
    sent = sum(s.done + s.unparsed + s.failed for s in again.summaries)
    print(json.dumps({"resume_s": resume, "calls": sent}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--fraction", type=float, default=1.0, help="share of the items (0-1]")
    p.add_argument("--items", type=Path, help="an items file in the study's JSON format")
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--workdir", type=Path, help="where the run store goes (default: a temp dir)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--resume-child", nargs=3, metavar=("RUN", "BASE_URL", "ITEMS"), help=SUPPRESS)
    args = p.parse_args()
    if args.resume_child:
        resume_child(*args.resume_child)
        return
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="crisiseval-paper-scale-"))
    workdir.mkdir(parents=True, exist_ok=True)
    items_file, n_items = items(args.items, 2046, args.fraction, workdir)
    port = free_port()
    server = subprocess.Popen(
        # --unique-text: every answer differs, as sampled answers do, so that every judge call
        # is its own cell (identical answers would share judge cells through the cache).
        [
            sys.executable,
            "-m",
            "crisiseval.testing.mockserver",
            "--port",
            str(port),
            "--unique-text",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(port)
        cfg = parse_study(config(f"http://127.0.0.1:{port}/v1", items_file, args.concurrency))
        run = workdir / "run"
        ctx = StudyContext.open(cfg, run, progress=False)
        cpu0, t0 = cpu_s(), time.perf_counter()
        result = run_study(ctx, log=lambda _line: None)
        wall = time.perf_counter() - t0
        cpu = cpu_s() - cpu0
        calls = sum(s.done + s.unparsed + s.failed for s in result.summaries)
        failed = sum(s.failed for s in result.summaries)
        ctx.store.close()
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        size = store_mb(run)
        ctx = StudyContext.open(cfg, run, progress=False)
        t1 = time.perf_counter()
        again = run_study(ctx, log=lambda _line: None)
        resume = time.perf_counter() - t1
        ctx.store.close()
        resent = sum(s.done + s.unparsed + s.failed for s in again.summaries)
        # And as a user resumes: a new process (imports, first renders and connections).
        t2 = time.perf_counter()
        child = subprocess.run(
            [
                sys.executable,
                __file__,
                "--resume-child",
                str(run),
                cfg.models["judge"].base_url or "",
                str(items_file),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        process_wall = time.perf_counter() - t2
        fresh = json.loads(child.stdout.strip().splitlines()[-1])
        resent += int(fresh["calls"])
    finally:
        server.terminate()
        server.wait(10)
    out = {
        "items": n_items,
        "calls": calls,
        "failed": failed,
        "wall_s": round(wall, 1),
        "cpu_s_per_call": round(cpu / max(1, calls), 5),
        "peak_rss_mb": round(peak_mb, 1),
        "store_mb": round(size, 1),
        "resume_s": round(resume, 2),
        "resume_calls": resent,
        "resume_new_process_s": round(float(fresh["resume_s"]), 2),
        "resume_new_process_wall_s": round(process_wall, 2),
    }
    if args.json:
        print(json.dumps(out))
        return
    print(f"items {n_items}, calls {calls} ({failed} failed), concurrency {args.concurrency}")
    print(f"run:    {out['wall_s']} s wall, {1000 * out['cpu_s_per_call']:.2f} ms CPU per call")
    print(f"memory: peak RSS {out['peak_rss_mb']} MB")
    print(f"store:  {out['store_mb']} MB ({1000 * size / max(1, calls):.2f} kB per cell)")
    print(
        f"resume: {out['resume_s']} s; in a new process {out['resume_new_process_s']} s "
        f"({out['resume_new_process_wall_s']} s with start-up); {resent} calls sent"
    )
    if os.environ.get("CRISISEVAL_BENCH_KEEP") is None and args.workdir is None:
        for f in sorted(workdir.rglob("*"), reverse=True):
            f.unlink() if f.is_file() else f.rmdir()
        workdir.rmdir()


if __name__ == "__main__":
    main()
