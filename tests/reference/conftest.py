"""Fixtures for the reference tests: the converter script as a module, and the study's published
results tables (``../shared/data/study-results``; skipped when absent, failed in CI)."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DIR = Path(os.environ.get("CRISISEVAL_SHARED_DIR", REPO_ROOT.parent / "shared"))
RESULTS_DIR = SHARED_DIR / "data" / "study-results"


@pytest.fixture(scope="session")
def converter() -> ModuleType:
    """scripts/make_reference.py, loaded by path (it is a script, not a package module)."""
    name = "crisiseval_make_reference"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "scripts/make_reference.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="session")
def results_dir() -> Path:
    """The study's published results tables (skips, or fails in CI, when absent)."""
    if not (RESULTS_DIR / "evaluation_summary.csv").is_file():
        msg = f"the study's results tables are not at {RESULTS_DIR} (../shared is absent)"
        if os.environ.get("CRISISEVAL_REQUIRE_SHARED") == "1":
            pytest.fail(msg + " but CRISISEVAL_REQUIRE_SHARED=1", pytrace=False)
        pytest.skip(msg)
    return RESULTS_DIR
