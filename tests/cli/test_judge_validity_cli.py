"""`crisiseval judge-validity`: the divergence tables, -j, --top, --boot, --json; and the report
section with hostile text escaped."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import pytest

from crisiseval.testing.cli import invoke


@pytest.fixture
def run_dir(tmp_path: Path, stores: ModuleType) -> Path:
    stores.build_store(tmp_path / "run", hostile=False).close()
    return tmp_path / "run"


def test_judge_validity_prints_where_the_judge_diverges(run_dir: Path) -> None:
    result = invoke("judge-validity", "-d", str(run_dir), "--boot", "200", "--top", "2")
    assert result.code == 0, result.err
    out = result.out
    for title in (
        "Signed bias against human mean, by category",
        "Signed bias against human mean, by the human score",
        "Largest divergences: judge-x vs human mean",
        "Judge panel vs single judges, against human mean",
    ):
        assert title in out
    assert "judge-x - human mean: " in out  # one sentence per judge
    assert "panel (median)" in out


def test_judge_validity_json_and_options(run_dir: Path) -> None:
    result = invoke(
        "judge-validity", "-d", str(run_dir), "--json", "--top", "3", "--boot", "0",
    )  # fmt: skip
    assert result.code == 0, result.err
    document = json.loads(result.out)
    tables = document["tables"]
    assert len(tables["validity_divergences"]) == 3
    gaps = [abs(r["difference"]) for r in tables["validity_divergences"]]
    assert gaps == sorted(gaps, reverse=True) and gaps[0] > 0
    assert any(line.startswith("judge-y - human mean") for line in document["summary"])
    assert tables["validity_bias_by_category"][0]["ci_low"] is None  # --boot 0: no interval
    rows = tables["validity_panel"]
    assert [r["rater"] for r in rows][-2:] == ["panel (mean)", "panel (median)"]
    assert "input" in tables["validity_divergences"][0]
    chosen = invoke("judge-validity", "-d", str(run_dir), "-j", "judge-y", "--boot", "0")
    assert "Largest divergences: judge-y vs human mean" in chosen.out
    unknown = invoke("judge-validity", "-d", str(run_dir), "-j", "nobody")
    assert unknown.code == 2 and "no judgments by judge nobody" in unknown.err


def test_the_report_escapes_the_divergence_text(tmp_path: Path, stores: ModuleType) -> None:
    stores.build_store(tmp_path / "hostile").close()
    result = invoke("report", "-d", str(tmp_path / "hostile"), "--boot", "0")
    assert result.code == 0, result.err
    html = (tmp_path / "hostile" / "report" / "report.html").read_text(encoding="utf-8")
    start = html.index('id="t-validity_divergences"')
    table = html[start : html.index("</table>", start)]
    assert "&lt;script&gt;" in table and "<script" not in table
    assert "<img" not in table
    csv = (tmp_path / "hostile" / "report" / "tables" / "validity_divergences.csv").read_text()
    assert stores.INJECT_SCRIPT in csv  # the CSV keeps the text as it is
