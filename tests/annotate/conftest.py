"""Fixtures of the annotation tests: a small invented store, a real uvicorn server on a free
loopback port (in a thread), and headless Chromium driven by Playwright.

Chromium tests skip when Playwright or /usr/bin/chromium is missing, except in CI
(``CRISISEVAL_REQUIRE_CHROMIUM=1``, set by ``.ci/run``), where they must run. The shared helpers
are in ``support.py``, loaded here by path as module ``annotate_support``.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_spec = importlib.util.spec_from_file_location(
    "annotate_support", Path(__file__).with_name("support.py")
)
assert _spec is not None and _spec.loader is not None
support = importlib.util.module_from_spec(_spec)
sys.modules["annotate_support"] = support
_spec.loader.exec_module(support)

from crisiseval.store import Store  # noqa: E402


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    support.build_store(tmp_path / "run")
    return tmp_path / "run"


@pytest.fixture
def item_ids(run_dir: Path) -> list[str]:
    with Store.open(run_dir, read_only=True) as store:
        return store.sample_items("small")


@pytest.fixture
def serve() -> Iterator[Any]:
    """``serve(run_dir, task, ...)`` starts a server (``support.start_server``); all stop at the
    end of the test."""
    started: list[Any] = []

    def _serve(*args: Any, **kwargs: Any) -> Any:
        s = support.start_server(*args, **kwargs)
        started.append(s)
        return s

    yield _serve
    for s in started:
        if s.thread.is_alive():
            s.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless system Chromium (Playwright). Skips without it, except in CI
    (CRISISEVAL_REQUIRE_CHROMIUM=1), where it fails instead.

    Module-scoped: Playwright's sync API keeps an event loop running in the main thread while
    it is open, and any later test that calls ``asyncio.run`` (every engine run) would fail;
    it is closed at the end of each module that uses it."""
    missing = support.chromium_missing()
    if missing is not None:
        if os.environ.get("CRISISEVAL_REQUIRE_CHROMIUM") == "1":
            pytest.fail(missing + " but CRISISEVAL_REQUIRE_CHROMIUM=1", pytrace=False)
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=str(support.CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page_for(browser: Any) -> Iterator[Any]:
    """``page_for()`` -> a page in a fresh browser context (its own cookies)."""
    contexts: list[Any] = []

    def _page() -> Any:
        context = browser.new_context()
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15000)
        return page

    yield _page
    for c in contexts:
        c.close()
