"""Fixtures for the report tests: small invented stores (tests/report/stores.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from crisiseval.report import ReportPaths, build_report
from crisiseval.store import Store


@pytest.fixture
def make_store(tmp_path: Path, stores: ModuleType) -> Iterator[Callable[..., Store]]:
    """``make_store(**options)``: a fresh store under tmp_path (closed after the test)."""
    opened: list[Store] = []

    def make(name: str = "run", **options: Any) -> Store:
        store: Store = stores.build_store(tmp_path / name, **options)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture(scope="session")
def hostile_report(stores: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> ReportPaths:
    """The report of the full invented store with HTML injections, built once per session
    (read-only for tests)."""
    root = tmp_path_factory.mktemp("hostile")
    with stores.build_store(root / "run") as store:
        paths: ReportPaths = build_report(store, root / "out", gallery_per_label=3, n_boot=200)
    return paths
