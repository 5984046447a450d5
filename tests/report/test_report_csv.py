"""CSV tables: dataset text that a spreadsheet would evaluate is written inert."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from crisiseval.report.build import _csv
from crisiseval.report.model import Table


def test_formula_like_text_is_defused_numbers_are_not(tmp_path: Path) -> None:
    data = pd.DataFrame(
        {
            "text": ['=HYPERLINK("x")', "+1+1", "@SUM(A1)", "-2+3", "plain"],
            "kappa": [-0.355, 0.5, 1.0, -1.0, 0.0],
        }
    )
    table = Table(name="t", title="t", data=data, display=data, numeric=(False, True))
    path = _csv(table, tmp_path)
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    assert [r["text"] for r in rows] == [
        '\'=HYPERLINK("x")',
        "'+1+1",
        "'@SUM(A1)",
        "'-2+3",
        "plain",
    ]
    assert [float(r["kappa"]) for r in rows] == [-0.355, 0.5, 1.0, -1.0, 0.0]
