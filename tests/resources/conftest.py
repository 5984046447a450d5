"""Fixtures for the resource-check tests: the shipped directory, and a third-party list of crisis
lines (``../shared/data/helplines/suicide-hotlines.json``; test data only, read at run time,
skipped when absent, failed when ``CRISISEVAL_REQUIRE_SHARED=1``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from crisiseval.resources import Directory

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DIR = Path(os.environ.get("CRISISEVAL_SHARED_DIR", REPO_ROOT.parent / "shared"))
HOTLINES_FILE = SHARED_DIR / "data" / "helplines" / "suicide-hotlines.json"


@pytest.fixture(scope="session")
def directory() -> Directory:
    """The shipped helpline directory."""
    return Directory.load()


@pytest.fixture(scope="session")
def hotlines_file() -> Path:
    """The third-party list of crisis lines (skips, or fails in CI, when absent)."""
    if not HOTLINES_FILE.is_file():
        msg = f"the third-party crisis-line list is not at {HOTLINES_FILE} (../shared is absent)"
        if os.environ.get("CRISISEVAL_REQUIRE_SHARED") == "1":
            pytest.fail(msg + " but CRISISEVAL_REQUIRE_SHARED=1", pytrace=False)
        pytest.skip(msg)
    return HOTLINES_FILE
