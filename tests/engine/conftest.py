"""Fixtures for the engine tests: a mock OpenAI-compatible server on 127.0.0.1, a run store and
small builders (the tests import nothing from here: pytest runs with --import-mode=importlib, so
the helpers are handed out as the ``h`` fixture)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, Field

from crisiseval.config import Limits, ModelConfig
from crisiseval.engine import CallSpec, Engine
from crisiseval.store import Store
from crisiseval.testing.mockserver import MockServer


class Out(BaseModel):
    """A small structured output: a free label and a 1..5 score."""

    label: str
    score: int = Field(ge=1, le=5)


class Helpers:
    Out = Out

    @staticmethod
    def limits(**kw: Any) -> Limits:
        """Limits with a tiny back-off so that retry tests stay fast."""
        base: dict[str, Any] = {"concurrency": 4, "backoff_base_s": 0.01, "backoff_max_s": 0.05}
        base.update(kw)
        return Limits(**base)

    def model(self, srv: MockServer, limits: Limits | None = None, **kw: Any) -> ModelConfig:
        return ModelConfig(
            base_url=srv.base_url, model="mock", limits=limits or self.limits(), **kw
        )

    @staticmethod
    def specs(
        n: int, *, model: str = "m", role: str = "t", prefix: str = "item", run_index: int = 0
    ) -> list[CallSpec]:
        return [
            CallSpec(
                role=role,
                model=model,
                messages=[{"role": "user", "content": f"{prefix} {i:04d}"}],
                item_id=f"{prefix}-{i}",
                run_index=run_index,
            )
            for i in range(n)
        ]

    @staticmethod
    def engine(store: Store, models: dict[str, ModelConfig], **kw: Any) -> Engine:
        return Engine(store, models, progress=False, **kw)

    @staticmethod
    def rows(store: Store) -> list[dict[str, Any]]:
        return store.cells.rows()

    @staticmethod
    def free_port() -> int:
        """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])


@pytest.fixture
def h() -> Helpers:
    return Helpers()


@pytest.fixture
def srv() -> Iterator[MockServer]:
    with MockServer() as server:
        yield server


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    st = Store.open(tmp_path / "run")
    try:
        yield st
    finally:
        st.close()
