"""A whole study on ``provider: anthropic`` from the command line: ``crisiseval run`` (the judge's
calls as a message batch, the others one at a time) against the loopback fake of Anthropic's
API, then ``status`` and ``report``; and a setting the Messages API would refuse is one line
before anything is written."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from crisiseval.cli import main
from crisiseval.store import Store
from crisiseval.testing.anthropicserver import AnthropicServer

KEY_ENV = "CRISISEVAL_ANTHROPIC_CLI_KEY"
KEY = "sk-ant-cli-test-secret-0000"
FAST = {"backoff_base_s": 0.01, "backoff_max_s": 0.05, "max_retries": 1}


@pytest.fixture
def asrv(monkeypatch: pytest.MonkeyPatch) -> Iterator[AnthropicServer]:
    monkeypatch.setenv(KEY_ENV, KEY)
    with AnthropicServer(api_key=KEY) as server:
        yield server


def _cli(monkeypatch: pytest.MonkeyPatch, capsys: Any, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["crisiseval", *args])
    monkeypatch.setenv("COLUMNS", "1000")
    with pytest.raises(SystemExit) as exc:
        main()
    captured = capsys.readouterr()
    code = exc.value.code
    return (0 if code is None else int(code)), captured.out, captured.err


def _study(srv: AnthropicServer, **claude: Any) -> dict[str, Any]:
    model = {
        "provider": "anthropic",
        "base_url": srv.base_url,
        "model": "claude-fake",
        "api_key_env": KEY_ENV,
        "params": {"temperature": 0, "max_tokens": 400},
        "limits": dict(FAST),
        "price": {"input_per_m": 1.0, "output_per_m": 5.0},
    }
    return {
        "name": "anthropic-cli",
        "models": {"claude": {**model, **claude}, "claude-batch": {**model, "batch": True}},
        "sample": {"builtin": "demo"},
        "classify": {"models": ["claude"], "runs": 1},
        "respond": {"runs": 1, "respondents": [{"name": "claude", "model": "claude"}]},
        "judge": {"judges": ["claude-batch"], "runs": 1},
    }


def test_a_study_runs_on_anthropic_with_the_judge_in_a_message_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any, asrv: AnthropicServer
) -> None:
    study = tmp_path / "study.yaml"
    data = _study(asrv)
    data["models"]["claude-batch"]["batch_poll_s"] = 0.02
    study.write_text(yaml.safe_dump(data), encoding="utf-8")
    run_dir = tmp_path / "run"
    code, out, err = _cli(monkeypatch, capsys, "run", str(study), "--run-dir", str(run_dir))
    assert code == 0, err

    # 35 demo inputs: classify and respond one call each, the 35 judge calls in one batch.
    assert len(asrv.requests()) == 70
    (bid,) = asrv.created()
    assert len(asrv.custom_ids(bid)) == 35
    with Store.open(run_dir, create=False) as store:
        rows = store.cells.rows()
        assert len(rows) == 105 and {r["status"] for r in rows} == {"done"}
        assert {r["batch_id"] for r in rows if r["role"] == "judge"} == {bid}
        assert [b.state for b in store.cells.batches()] == ["completed"]

    code, out, err = _cli(monkeypatch, capsys, "status", "--run-dir", str(run_dir))
    assert code == 0, err
    assert "judge" in out and "105" in out

    report = tmp_path / "report"
    code, _out, err = _cli(
        monkeypatch, capsys, "-q", "report", "-d", str(run_dir), "-o", str(report), "--boot", "0"
    )
    assert code == 0, err
    html = (report / "report.html").read_text(encoding="utf-8")
    assert "claude" in html

    # The key reached the fake (every request carried it) and nothing else.
    assert all(e["auth"] for e in asrv.log())
    for f in [*run_dir.glob("crisiseval.sqlite*"), *report.rglob("*")]:
        if f.is_file():
            assert KEY.encode() not in f.read_bytes(), f
    assert KEY not in out + err

    # A second run sends nothing: every cell is in the store, the batch collected.
    n = len(asrv.log())
    code, _out, err = _cli(monkeypatch, capsys, "run", str(study), "--run-dir", str(run_dir))
    assert code == 0, err
    assert len(asrv.requests()) == 70 and asrv.created() == [bid]
    assert len(asrv.log()) == n


@pytest.mark.parametrize(
    ("claude", "expected"),
    [
        ({"params": {"temperature": 1.5}}, "params.temperature: the Messages API takes 0 to 1"),
        ({"params": {"frequency_penalty": 0.2}}, "params.frequency_penalty: not a parameter"),
        ({"base_url": "https://api.anthropic.com/v1"}, "ends with /v1"),
        ({"structured_output": "json_schema"}, "asked for JSON in the prompt"),
    ],
)
def test_a_setting_the_messages_api_refuses_is_one_line_and_writes_nothing(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: Any,
    asrv: AnthropicServer,
    claude: dict[str, Any],
    expected: str,
) -> None:
    data = _study(asrv, **claude)
    study = tmp_path / "study.yaml"
    study.write_text(yaml.safe_dump(data), encoding="utf-8")
    run_dir = tmp_path / "run"
    code, _out, err = _cli(monkeypatch, capsys, "run", str(study), "--run-dir", str(run_dir))
    assert code == 2
    line = err.strip()
    assert line.startswith("error: ") and "\n" not in line and expected in line, line
    assert str(study) in line
    assert not run_dir.exists()
    assert asrv.log() == []
