"""The analysis commands (crisiseval.cli.analysis) on a tiny typer app, and through cli.main."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from types import ModuleType

import pytest
import typer
from typer.testing import CliRunner, Result

from crisiseval.cli import analysis as analysis_cli
from crisiseval.errors import CrisisEvalError, StoreError
from crisiseval.sections import NoDataError


def make_app() -> typer.Typer:
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)

    @app.callback()
    def _main() -> None:
        """Tiny app for the tests."""

    analysis_cli.register(app)
    return app


APP = make_app()
runner = CliRunner()


def invoke(*args: str) -> Result:
    return runner.invoke(APP, list(args))


def assert_clear_error(result: Result, kind: type[Exception], pattern: str) -> None:
    assert result.exit_code != 0
    assert isinstance(result.exception, kind), result.exception
    message = str(result.exception)
    assert "\n" not in message
    assert re.search(pattern, message), message


@pytest.fixture
def run_dir(tmp_path: Path, stores: ModuleType) -> Path:
    stores.build_store(tmp_path / "run", hostile=False).close()
    return tmp_path / "run"


@pytest.fixture
def labels_only(tmp_path: Path, stores: ModuleType) -> Path:
    stores.build_store(
        tmp_path / "labels", responses=False, judgments=False, bad_cells=False, hostile=False
    ).close()
    return tmp_path / "labels"


def test_register_adds_the_commands() -> None:
    assert set(analysis_cli.COMMANDS) == {
        "import-study",
        "agreement",
        "scores",
        "judge-validity",
        "report",
    }
    command = typer.main.get_command(APP)
    assert isinstance(command, typer.core.TyperGroup)
    assert set(analysis_cli.COMMANDS) <= set(command.commands)
    help_text = invoke("agreement", "--help").output
    assert "--run-dir" in help_text and "-d" in help_text


def test_agreement(run_dir: Path) -> None:
    result = invoke("agreement", "-d", str(run_dir))
    assert result.exit_code == 0, result.output
    out = result.output
    for title in (
        "Agreement within rater groups",
        "Pairwise agreement",
        "Classifiers vs the human experts",
        "Most-confused label pairs",
    ):
        assert title in out
    assert "Fleiss' kappa" in out and "Krippendorff's alpha" in out
    assert not re.search(r"\bnan\b", out, re.IGNORECASE)
    dropped = invoke("agreement", "--run-dir", str(run_dir), "--invalid", "drop", "--top", "2")
    assert dropped.exit_code == 0, dropped.output
    assert "left out of each comparison" in dropped.output


def test_scores(run_dir: Path) -> None:
    result = invoke("scores", "-d", str(run_dir), "--boot", "100")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Scores per respondent (judge judge-x)" in out
    assert "Scores per respondent x label" in out
    assert "bootstrap 95% CI" in out and "harmful 95% CI" in out
    assert "judge: judge-x (scored every answer: 23 of 23, from both respondents)" in out
    assert "human:H1" in out
    assert "1 unparsed and 1 failed judgments by judge-x" in out
    assert not re.search(r"\bnan\b", out, re.IGNORECASE)
    other = invoke("scores", "-d", str(run_dir), "--judge", "judge-y", "--boot", "0")
    assert other.exit_code == 0, other.output
    assert "(judge judge-y)" in other.output


def test_scores_unknown_judge(run_dir: Path) -> None:
    result = invoke("scores", "-d", str(run_dir), "--judge", "nobody")
    assert_clear_error(result, CrisisEvalError, r"no judgments by judge nobody \(judges: ")


def test_judge_validity(run_dir: Path) -> None:
    result = invoke("judge-validity", "-d", str(run_dir))
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Judges vs human scorers" in out and "Human scorers vs each other" in out
    assert "human mean" in out and "jury:judge-x+judge-y" in out
    for column in ("MAE", "RMSE", "within 1", "QWK"):
        assert column in out


def test_report_command(run_dir: Path, labels_only: Path) -> None:
    result = invoke("report", "-d", str(run_dir), "--per-label", "2", "--boot", "0")
    assert result.exit_code == 0, result.output
    html = run_dir / "report" / "report.html"
    assert html.exists() and (run_dir / "report" / "report.md").exists()
    assert str(html) in result.output.replace("\n", "")
    assert "CSV files" in result.output and "PNG/SVG files" in result.output
    out = run_dir.parent / "elsewhere"
    again = invoke("report", "-d", str(labels_only), "-o", str(out))
    assert again.exit_code == 0, again.output
    assert (out / "report.html").exists()


def test_commands_without_judgments_fail_clearly(labels_only: Path) -> None:
    for command in ("scores", "judge-validity"):
        result = invoke(command, "-d", str(labels_only))
        assert_clear_error(result, NoDataError, r"^no judgments in the run store \(run `")
    assert invoke("agreement", "-d", str(labels_only)).exit_code == 0


def test_commands_without_labels_fail_clearly(tmp_path: Path, stores: ModuleType) -> None:
    stores.build_store(tmp_path / "j", labels=False, bad_cells=False, hostile=False).close()
    result = invoke("agreement", "-d", str(tmp_path / "j"))
    assert_clear_error(result, NoDataError, r"^no crisis labels in the run store")


def test_empty_store_and_missing_store(tmp_path: Path) -> None:
    from crisiseval.store import Store

    Store.open(tmp_path / "empty").close()
    result = invoke("report", "-d", str(tmp_path / "empty"))
    assert_clear_error(result, NoDataError, "nothing to report")
    result = invoke("agreement", "-d", str(tmp_path / "nowhere"))
    assert_clear_error(result, StoreError, "no run store here")
    assert not (tmp_path / "nowhere").exists()


def test_cli_main_prints_one_line_and_exits_2(
    labels_only: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Through crisiseval.cli.main (with this tiny app standing in for the real one)."""
    from crisiseval import cli

    monkeypatch.setattr(cli, "app", APP)
    monkeypatch.setattr(sys, "argv", ["crisiseval", "scores", "-d", str(labels_only)])
    with pytest.raises(SystemExit) as info:
        cli.main()
    assert info.value.code == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1
    assert lines[0].startswith("error: no judgments in the run store")


@pytest.mark.shared
def test_import_study_then_agreement_in_the_same_folder(
    study_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    imported = invoke("import-study", str(study_dir))
    assert imported.exit_code == 0, imported.output
    assert (tmp_path / "crisiseval.sqlite").exists()
    assert re.search(r"\bitems\s+\W*\s*2217\b", imported.output)
    assert "sample:validation" in imported.output and "judgment status:unparsed" in imported.output
    result = invoke("agreement")
    assert result.exit_code == 0, result.output
    humans = next(line for line in result.output.splitlines() if " humans " in line)
    assert "0.549" in humans and "206" in humans
    assert "0.645" in result.output  # gpt-4o-mini vs the four experts
    scores = invoke("scores", "--boot", "0")
    assert scores.exit_code == 0, scores.output
    assert "(judge gpt-4o-mini)" in scores.output
