"""Run one batch of cells against a mock server (a subprocess of the crash tests).

Usage: python _crash_batch.py RUN_DIR BASE_URL N CONCURRENCY

Prints the run summary line when the batch completes; a SIGINT ends it like Ctrl-C would.
"""

from __future__ import annotations

import sys

from pydantic import BaseModel, Field

from crisiseval.config import Limits, ModelConfig
from crisiseval.engine import CallSpec, Engine
from crisiseval.store import Store


class Out(BaseModel):
    label: str
    score: int = Field(ge=1, le=5)


def specs(n: int) -> list[CallSpec]:
    return [
        CallSpec(
            role="crash",
            model="m",
            messages=[{"role": "user", "content": f"crash item {i:04d}"}],
            item_id=f"crash-{i}",
        )
        for i in range(n)
    ]


def main(argv: list[str]) -> int:
    run_dir, base_url, n, concurrency = argv[0], argv[1], int(argv[2]), int(argv[3])
    limits = Limits(concurrency=concurrency, backoff_base_s=0.01, max_retries=2)
    models = {"m": ModelConfig(base_url=base_url, model="mock", limits=limits)}
    with Store.open(run_dir) as store:
        summary = Engine(store, models, progress=False).run_sync(specs(n), Out)
    print(summary.line(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
