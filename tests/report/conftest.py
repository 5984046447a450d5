"""Fixtures for the report tests: small invented stores (tests/report/stores.py)."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from crisiseval.report import ReportPaths, build_report
from crisiseval.store import Store

STORES_PY = Path(__file__).with_name("stores.py")


def load_stores() -> ModuleType:
    """tests/report/stores.py as a module (tests run with --import-mode=importlib)."""
    name = "crisiseval_test_report_stores"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, STORES_PY)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def stores() -> ModuleType:
    return load_stores()


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
