"""The report in a real browser: headless Chromium renders report.html from disk.

The injected payloads would set ``document.title`` (and add an ``<img>`` element) if they ran;
our own script marks ``<html data-sortable="on">``, which proves that scripts do run in this
browser and that the page's Content-Security-Policy admits ours. A control page without escaping
shows the check would catch an executed payload. Skipped when Chromium is not installed
(``apt-get install -y chromium``).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from crisiseval.report import ReportPaths

CHROMIUM = Path("/usr/bin/chromium")

_ABSENT = "/usr/bin/chromium is absent (install it with `apt-get install -y chromium`)"


@pytest.fixture(autouse=True)
def _need_chromium() -> None:
    """Skip without Chromium, except in CI (CRISISEVAL_REQUIRE_CHROMIUM=1), where it must run."""
    if not CHROMIUM.exists():
        if os.environ.get("CRISISEVAL_REQUIRE_CHROMIUM") == "1":
            pytest.fail(_ABSENT + " but CRISISEVAL_REQUIRE_CHROMIUM=1", pytrace=False)
        pytest.skip(_ABSENT)


def dump_dom(page: Path, profile: Path) -> str:
    proc = subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--dump-dom",
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "<html" in proc.stdout, proc.stderr[-2000:]
    return proc.stdout


def title_of(dom: str) -> str:
    match = re.search(r"<title>(.*?)</title>", dom, re.DOTALL)
    assert match is not None
    return match.group(1)


def test_injected_markup_does_not_run_in_chromium(
    hostile_report: ReportPaths, tmp_path: Path
) -> None:
    dom = dump_dom(hostile_report.html, tmp_path / "profile")
    assert 'data-sortable="on"' in dom  # our script ran: JS is on and the CSP admits it
    assert "pwned" not in title_of(dom)
    assert title_of(dom).startswith("crisiseval report")
    assert not re.search(r"<img[^>]*\bsrc=\"x\"", dom)  # no element made by the injection
    assert not re.search(r"<[a-z]+[^>]*\sonerror=", dom)  # no element with the handler
    assert "help &lt;script&gt;document.title='pwned';alert(1)&lt;/script&gt;" in dom
    assert "Sure. &lt;script&gt;" in dom
    assert dom.count("<script") == 1


def test_csp_blocks_a_script_even_if_escaping_failed(
    hostile_report: ReportPaths, tmp_path: Path
) -> None:
    """Defence in depth: un-escape a payload by hand; the page's CSP still refuses to run it."""
    html = hostile_report.html.read_text(encoding="utf-8")
    escaped = "&lt;script&gt;document.title=&#39;pwned&#39;;alert(1)&lt;/script&gt;"
    assert escaped in html
    broken = tmp_path / "broken.html"
    broken.write_text(
        html.replace(escaped, "<script>document.title='pwned';</script>", 1), encoding="utf-8"
    )
    dom = dump_dom(broken, tmp_path / "profile")
    assert 'data-sortable="on"' in dom
    assert "pwned" not in title_of(dom)


def test_control_an_unescaped_page_would_be_caught(tmp_path: Path) -> None:
    page = tmp_path / "control.html"
    page.write_text(
        "<!DOCTYPE html><html><head><title>control</title></head><body>"
        "<script>document.title='pwned';</script></body></html>",
        encoding="utf-8",
    )
    assert title_of(dump_dom(page, tmp_path / "profile")) == "pwned"
