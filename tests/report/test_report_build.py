"""build_report on small invented stores: files, escaping, self-containment, partial stores.

Most tests read one report built per session (``hostile_report``: the full invented store with
HTML/script injections in an input, a response, an explanation and model names).
"""

from __future__ import annotations

import base64
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest

from crisiseval import __version__
from crisiseval.errors import CrisisEvalError
from crisiseval.report import ReportPaths, build_report, collect_sections
from crisiseval.report.html import SCRIPT, content_security_policy, environment
from crisiseval.sections import NoDataError
from crisiseval.sections.gallery import gallery_section
from crisiseval.store import JudgmentRecord, LabelRecord, ResponseRecord, Store

StoreFactory = Callable[..., Store]

# an external reference: src/href/url()/@import pointing at a network location
EXTERNAL = re.compile(
    r"""(?:\b(?:src|href|action|poster|data)\s*=\s*["']?\s*(?:https?:)?//)"""
    r"""|(?:url\(\s*["']?\s*(?:https?:)?//)|(?:@import)""",
    re.IGNORECASE,
)


def _html(paths: ReportPaths) -> str:
    return paths.html.read_text(encoding="utf-8")


def test_html_injection_is_escaped(hostile_report: ReportPaths) -> None:
    html = _html(hostile_report)
    # the payloads are shown, escaped: in the input, the response, the explanation and names
    assert "&lt;script&gt;document.title=&#39;pwned&#39;;alert(1)&lt;/script&gt;" in html
    assert "&#34;&gt;&lt;img src=x onerror=&#34;document.title=&#39;pwned2&#39;" in html
    assert "<script>alert" not in html
    assert "<script>document" not in html
    assert "<img src=x" not in html
    assert 'onerror="' not in html
    assert html.count("<script") == 1  # ours only
    gallery = html[html.index('<section id="gallery">') :]
    assert "help &lt;script&gt;" in gallery  # the input
    assert "Sure. &lt;script&gt;" in gallery  # the response
    assert "Bad answer &lt;script&gt;" in gallery  # the judge's explanation
    assert "resp-b&#34;&gt;&lt;img" in gallery  # the respondent's name


def test_markdown_escapes_dataset_text(hostile_report: ReportPaths) -> None:
    md = hostile_report.markdown.read_text(encoding="utf-8")
    assert "&lt;script&gt;document.title" in md
    assert "<script" not in md
    assert "<img" not in md


def test_report_is_self_contained(hostile_report: ReportPaths) -> None:
    html = _html(hostile_report)
    assert not EXTERNAL.findall(html)
    assert "<link" not in html
    assert "http://" not in html and "https://" not in html
    # the CSP forbids every network fetch; only our script (by hash) may run
    assert "default-src &#39;none&#39;" in html
    assert content_security_policy().count("sha256-") == 1


def test_figures_are_files_and_embedded(hostile_report: ReportPaths) -> None:
    html = _html(hostile_report)
    pngs = [p for p in hostile_report.figures if p.suffix == ".png"]
    svgs = [p for p in hostile_report.figures if p.suffix == ".svg"]
    assert len(pngs) == len(svgs) >= 8
    assert {p.stem for p in pngs} == {p.stem for p in svgs}
    names = {p.stem for p in pngs}
    for expected in (
        "agreement_pairwise_kappa",
        "agreement_classifiers_vs_humans",
        "confusion_humans",
        "score_bins_by_respondent",
        "score_bins_by_respondent_label",
        "harmful_rates",
        "judge_validity",
    ):
        assert expected in names
    embedded = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(embedded) == len(pngs)
    on_disk = {p.read_bytes() for p in pngs}
    for b64 in embedded:
        data = base64.b64decode(b64)
        assert data.startswith(b"\x89PNG")
        assert data in on_disk
    for svg in svgs:
        text = svg.read_text(encoding="utf-8")
        assert "<svg" in text[:600]
        assert "<script" not in text  # figure text is drawn as paths


def test_tables_written_as_csv_and_markdown(hostile_report: ReportPaths) -> None:
    names = {p.stem for p in hostile_report.tables}
    assert {
        "run_contents",
        "agreement_groups",
        "agreement_pairwise",
        "agreement_classifiers_vs_humans",
        "agreement_confusions",
        "scores_by_respondent",
        "scores_by_respondent_label",
        "scores_by_judge",
        "validity_judges_vs_humans",
        "validity_humans",
        "failure_gallery",
    } <= names
    tables = hostile_report.out_dir / "tables"
    scores = pd.read_csv(tables / "scores_by_respondent.csv")
    assert scores["respondent"].iloc[0] == "resp-a"
    assert scores["n_unparsed"].sum() == 1 and scores["n_failed"].sum() == 1
    assert scores["n"].sum() == 23  # 24 responses, one failed
    groups = pd.read_csv(tables / "agreement_groups.csv").set_index("group")
    assert groups.loc["humans", "raters"] == 3 and groups.loc["humans", "n_items"] == 6
    md = hostile_report.markdown.read_text(encoding="utf-8")
    assert "## Agreement on crisis labels" in md
    assert "| respondent | N | inputs | mean |" in md
    html = _html(hostile_report)
    assert f"{float(groups['fleiss_kappa'].loc['humans']):.3f}" in html


def test_unparsed_and_failed_records_are_counted(hostile_report: ReportPaths) -> None:
    html = _html(hostile_report)
    # issue 10: the counts moved from the header to the appendix; the header points there
    appendix = html[html.index('<section id="appendix">') :]
    assert "cells: 1 unparsed (classify), 2 failed (judge)" in appendix
    assert "judgments: 1 failed (model), 1 unparsed (model)" in appendix
    assert "responses: 1 failed (resp-a)" in appendix
    assert "labels: 1 unparsed (model_run)" in appendix
    assert 'href="#problems"' in html[: html.index("<main>")]
    contents = pd.read_csv(hostile_report.out_dir / "tables" / "run_contents.csv")
    cells = contents[contents["record"] == "cells"].set_index(["group", "status"])["n"]
    assert cells[("judge", "failed")] == 2 and cells[("classify", "unparsed")] == 1
    md = hostile_report.markdown.read_text(encoding="utf-8")
    assert "cells: 1 unparsed (classify), 2 failed (judge)" in md
    assert "1 unparsed and 1 failed judgments by judge-x" in html


def test_header_has_counts_date_version_and_no_secrets(
    hostile_report: ReportPaths, stores: ModuleType
) -> None:
    for path in (hostile_report.html, hostile_report.markdown, *hostile_report.tables):
        text = path.read_text(encoding="utf-8")
        assert stores.SECRET not in text
        assert "api.example.com" not in text
    html = _html(hostile_report)
    assert f"crisiseval {__version__}" in html
    assert re.search(r"Generated \d{4}-\d\d-\d\d \d\d:\d\d UTC", html)
    for n, name in ((6, "items"), (36, "labels"), (24, "responses"), (4, "cells")):
        assert f'<span class="n">{n}</span> {name}' in html


def test_gallery_has_content_warning(hostile_report: ReportPaths) -> None:
    html = _html(hostile_report)
    gallery = html[html.index('<section id="gallery">') :]
    assert "<details" in gallery and "Content warning" in gallery and "suicide" in gallery
    assert gallery.index("Content warning") < gallery.index('<article class="case">')
    csv = pd.read_csv(hostile_report.out_dir / "tables" / "failure_gallery.csv")
    assert csv.groupby("label").size().max() <= 3


def test_gallery_per_label(make_store: StoreFactory) -> None:
    store = make_store()
    section = gallery_section(
        store.judgments_frame(),
        store.responses_frame(),
        store.items_frame(),
        judge="judge-x",
        per_label=1,
    )
    assert len(section.gallery) == 5  # five labels were judged
    assert [e.rank for e in section.gallery] == [1] * 5
    assert section.gallery[0].label == "suicidal_ideation"  # taxonomy order


def test_labels_only_store_gets_agreement_only(make_store: StoreFactory, tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "figures").mkdir(parents=True)
    (out / "figures" / "old_figure.png").write_bytes(b"stale")
    (out / "notes.txt").write_text("user file")
    store = make_store(responses=False, judgments=False, bad_cells=False, hostile=False)
    paths = build_report(store, out)
    html = _html(paths)
    assert 'id="agreement"' in html
    assert 'id="scores"' not in html and 'id="gallery"' not in html
    assert "Appropriateness scores: no judgments in the store" in html
    assert not any(p.stem.startswith("score") for p in paths.figures)
    assert {p.stem for p in paths.tables} >= {"agreement_groups", "agreement_pairwise"}
    # a rebuild replaces the previous report's figures, and leaves other files alone
    assert not (out / "figures" / "old_figure.png").exists()
    assert (out / "notes.txt").exists()
    assert set((out / "figures").iterdir()) == set(paths.figures)


def test_judgments_only_store_skips_agreement(make_store: StoreFactory) -> None:
    store = make_store(labels=False, bad_cells=False)
    sections, skipped = collect_sections(store, n_boot=0)
    assert [s.key for s in sections] == ["verdict", "scores", "judge_validity", "gallery"]
    assert skipped[0] == ("Agreement on crisis labels", "no crisis labels in the store")
    # the store does not record the experiment's respondents: no pair to compare
    assert [name for name, _ in skipped] == [
        "Agreement on crisis labels",
        "Classifier comparison",
        "Comparison",
        "Probes",
        "Conversations",
    ]


def test_only_unusable_judgments_skip_scores_with_the_reason(make_store: StoreFactory) -> None:
    store = make_store(bad_cells=False)
    judged = store.judgments_frame()
    store.upsert_judgments(  # every judgment of judge-x failed
        JudgmentRecord(
            response_id=r.response_id,
            judge=r.judge,
            judge_kind=r.judge_kind,
            run_index=r.judge_run,
            label=r.label,
            status="failed",
            origin=r.origin,
        )
        for r in judged[judged["judge"] == "judge-x"].itertuples()
    )
    sections, skipped = collect_sections(store, judge="judge-x", n_boot=0)
    reasons = dict(skipped)
    assert "judge judge-x has no valid score" in reasons["Appropriateness scores"]
    assert "agreement" in [s.key for s in sections]


def test_empty_store_is_a_clear_error(tmp_path: Path) -> None:
    with (
        Store.open(tmp_path / "empty") as store,
        pytest.raises(NoDataError, match="nothing to report") as info,
    ):
        build_report(store, tmp_path / "out")
    assert issubclass(NoDataError, CrisisEvalError)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "out" / "report.html").exists()


def test_template_environment_autoescapes() -> None:
    env = environment()
    assert env.autoescape is True
    assert env.from_string("{{ x }}").render(x="<b>") == "&lt;b&gt;"
    assert "</script" not in SCRIPT


def test_one_classifier_with_only_unusable_outputs(tmp_path: Path) -> None:
    """A demo-like store: one classifier whose every output is unusable, one judge whose every
    judgment is unparsed. The report still builds, without library warnings or NaN."""
    with Store.open(tmp_path / "run") as store:
        ids = store.add_items([([f"input {i}"], "demo", None) for i in range(4)], origin="demo")
        store.upsert_labels(
            LabelRecord(
                rater="tiny",
                rater_kind="model_run",
                run_index=run,
                item_id=iid,
                status="unparsed",
                origin="classify",
            )
            for run in (0, 1, 2)
            for iid in ids
        )
        store.upsert_responses(
            ResponseRecord(
                response_id=f"r{i}",
                item_id=iid,
                respondent="tiny",
                run_index=1,
                text="hello",
                status="ok",
                origin="respond",
            )
            for i, iid in enumerate(ids)
        )
        store.upsert_judgments(
            JudgmentRecord(
                response_id=f"r{i}",
                judge="tiny",
                judge_kind="model",
                run_index=0,
                status="unparsed",
                origin="judge",
            )
            for i in range(len(ids))
        )
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            sections, skipped = collect_sections(store, n_boot=0)
        reasons = dict(skipped)
        assert "judge tiny has no valid score (unparsed: 4)" in reasons["Appropriateness scores"]
        assert "the store has one: tiny" in reasons["Judge validity"]
        agreement = next(s for s in sections if s.key == "agreement")
        assert any("undefined (all labels in one category)" in n for n in agreement.notes)
        groups = agreement.tables[0]
        assert groups.rows[0][3] == "n/a"  # Fleiss' kappa, shown as n/a
