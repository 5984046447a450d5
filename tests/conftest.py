"""Shared fixtures.

Tests that read the study's released data (``../shared/data/between-help-and-harm``) use the
``study_dir`` fixture: they skip with a clear reason when ``../shared`` is absent (a user's own
clone), and fail instead when ``CRISISEVAL_REQUIRE_SHARED=1`` (set by ``.ci/run``), so they never
silently skip in CI.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = Path(os.environ.get("CRISISEVAL_SHARED_DIR", REPO_ROOT.parent / "shared"))
STUDY_DIR = SHARED_DIR / "data" / "between-help-and-harm"


@pytest.fixture(scope="session")
def study_dir() -> Path:
    """The study's released data directory (skips, or fails in CI, when absent)."""
    if not STUDY_DIR.is_dir():
        msg = f"the study's released data is not at {STUDY_DIR} (../shared is absent)"
        if os.environ.get("CRISISEVAL_REQUIRE_SHARED") == "1":
            pytest.fail(msg + " but CRISISEVAL_REQUIRE_SHARED=1", pytrace=False)
        pytest.skip(msg)
    return STUDY_DIR


@pytest.fixture(scope="session")
def stores() -> ModuleType:
    """tests/report/stores.py (small invented stores) as a module: loaded by path, since tests
    run with --import-mode=importlib. Used by the report and analysis-command tests."""
    name = "crisiseval_test_report_stores"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "tests/report/stores.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]
