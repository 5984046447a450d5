"""Untrusted text in the report's CSV and Markdown files is written inert."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from crisiseval.report.build import _csv
from crisiseval.sections import Table


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


def test_markdown_text_can_form_no_link_image_code_or_list() -> None:
    from crisiseval.report.markdown import md_text

    out = md_text("![pixel](https://example.invalid/p.png) [link](x) `code` *em*\n- item\n2. two")
    assert "![" not in out and "](" not in out.replace("\\](", "")
    assert "\\`code\\`" in out and "\\*em\\*" in out
    assert "\n\\- item" in out and "\n2\\. two" in out
    assert md_text("<b>") == "&lt;b&gt;"
