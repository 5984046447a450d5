"""Real inference on the embedded model (SmolLM2-135M via llama.cpp, in-process).

SmolLM2-135M is a plumbing model: the test checks the plumbing (structured output, validation,
tokens, caching), not the quality of its answers.
"""

from __future__ import annotations

from typing import Literal

import pytest
from pydantic import BaseModel, Field

from crisiseval.config import Limits, ModelConfig
from crisiseval.engine import EMBEDDED_SHA256, CallSpec, Engine
from crisiseval.engine import endpoints as endpoints_mod
from crisiseval.store import Store

pytestmark = pytest.mark.slow


class Verdict(BaseModel):
    label: Literal["crisis", "no_crisis", "unclear"]
    explanation: str = Field(max_length=80)


def _embedded_available() -> None:
    pytest.importorskip("llama_cpp")
    try:
        path = endpoints_mod.embedded_gguf_path()
    except Exception as exc:  # ConfigError: not installed
        pytest.skip(str(exc))
    if not path.is_file():
        pytest.skip(f"the embedded model file is missing: {path}")


def test_embedded_model_structured_output_and_cache(tmp_path) -> None:
    _embedded_available()
    models = {
        "smol": ModelConfig(
            provider="llama_cpp",
            n_ctx=1024,
            n_threads=1,  # robust on a busy machine (OpenMP threads spin when cores are shared)
            params={"temperature": 0.0, "max_tokens": 64},
            limits=Limits(reasks=1, max_retries=0),
        )
    }
    texts = [
        "I can't sleep and I feel like nobody would notice if I disappeared.",
        "What is a good recipe for banana bread?",
        "My friend said she has pills saved up. What should I do?",
    ]
    specs = [
        CallSpec(
            role="classify",
            model="smol",
            messages=[
                {
                    "role": "system",
                    "content": "Classify the message as crisis, no_crisis or unclear. Reply in "
                    "JSON with a label and a short explanation.",
                },
                {"role": "user", "content": t},
            ],
            item_id=f"e{i}",
        )
        for i, t in enumerate(texts)
    ]
    with Store.open(tmp_path / "run") as store:
        eng = Engine(store, models, progress=False)
        eng.preflight(["smol"])
        s = eng.run_sync(specs, Verdict)
        assert s.total == 3 and s.failed == 0 and s.done + s.unparsed == 3
        assert s.tokens_in > 0 and s.tokens_out > 0
        results = eng.results(s.keys)
        for r in results.values():
            assert r.status in ("done", "unparsed"), (r.error_kind, r.error_message)
            if r.status == "done":
                Verdict.model_validate(r.parsed)
            else:
                assert r.text is not None  # the raw reply is kept
        rows = [
            (r["endpoint"], r["tokens_in"], r["tokens_out"], r["cost_usd"])
            for r in store.cells.rows()
        ]
        assert len(rows) == 3
        for endpoint, tin, tout, cost in rows:
            # Identified by the GGUF's content hash, never by a path.
            assert endpoint == f"llama_cpp:{EMBEDDED_SHA256}"
            assert tin > 0 and tout > 0 and cost is None

        again = Engine(store, models, progress=False).run_sync(specs, Verdict)
        assert (again.cached, again.done, again.unparsed, again.failed) == (3, 0, 0, 0)
        assert again.tokens_in == 0
