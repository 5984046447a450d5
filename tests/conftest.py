"""Shared fixtures.

Tests that read the study's released data (``../shared/data/between-help-and-harm``) use the
``study_dir`` fixture: they skip with a clear reason when ``../shared`` is absent (a user's own
clone), and fail instead when ``CRISISEVAL_REQUIRE_SHARED=1`` (set by ``.ci/run``), so they never
silently skip in CI.
"""

from __future__ import annotations

import os
from pathlib import Path

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
