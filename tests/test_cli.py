"""The command line: bad input gives one ``error: ...`` line on stderr, exit status 2 and nothing
half-written (no run store for a bad experiment file); ``status``, ``--dry-run``, ``--version``."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from crisiseval import __version__
from crisiseval.cli import main
from crisiseval.store import SCHEMA_VERSION, STORE_FILENAME, Store
from crisiseval.taxonomy import LABELS, load_rubric
from crisiseval.testing.mockserver import MockServer

FAST = {"backoff_base_s": 0.01, "backoff_max_s": 0.05, "max_retries": 1}


@pytest.fixture(scope="module")
def srv() -> Iterator[MockServer]:
    with MockServer() as server:
        yield server


def _cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str):
    """``crisiseval ARGS`` in-process through ``main()``: (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["crisiseval", *args])
    monkeypatch.setenv("COLUMNS", "1000")  # no wrapping by rich
    with pytest.raises(SystemExit) as exc:
        main()
    captured = capsys.readouterr()
    code = exc.value.code
    return (0 if code is None else code), captured.out, captured.err


def _study(srv: MockServer, **over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "cli",
        "models": {
            "m": {"base_url": srv.base_url, "model": "mock", "limits": {**FAST}},
        },
        "sample": {"builtin": "demo"},
        "classify": {"models": ["m"], "runs": 1},
        "respond": {"runs": 1, "respondents": [{"name": "r", "model": "m"}]},
        "judge": {"judges": ["m"], "runs": 1},
    }
    data.update(over)
    return data


def _write(path: Path, data: Any) -> Path:
    text = data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return path


def _free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Bad:
    """Runs ``crisiseval run`` on a bad experiment and checks the failure's shape."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, srv) -> None:
        self.tmp_path = tmp_path
        self.monkeypatch = monkeypatch
        self.capsys = capsys
        self.srv = srv

    def run(self, data: Any, *extra: str) -> str:
        study = _write(self.tmp_path / "study.yaml", data)
        run_dir = self.tmp_path / "run"
        n = len(self.srv.requests())
        code, out, err = _cli(
            self.monkeypatch, self.capsys, "run", str(study), "--run-dir", str(run_dir), *extra
        )
        assert code == 2, (out, err)
        line = err.strip()
        assert line.startswith("error: "), err
        assert "\n" not in line and "Traceback" not in err, err
        # Nothing half-written: no run directory, no store, and no model was called.
        assert not run_dir.exists(), sorted(p.name for p in run_dir.iterdir())
        assert len(self.srv.requests()) == n
        return line


@pytest.fixture
def bad(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, srv) -> Bad:
    return Bad(tmp_path, monkeypatch, capsys, srv)


# ---------------------------------------------------------------------------- bad experiment files
def test_typo_in_a_key(bad: Bad) -> None:
    data = _study(bad.srv)
    data["clasify"] = data.pop("classify")
    line = bad.run(data)
    assert "clasify" in line and "unknown key" in line and "study.yaml" in line


def test_typo_in_a_nested_key(bad: Bad) -> None:
    data = _study(bad.srv)
    data["models"]["m"]["limits"]["max_retry"] = 3
    line = bad.run(data)
    assert "models.m.limits.max_retry" in line and "unknown key" in line


def test_invalid_yaml(bad: Bad) -> None:
    line = bad.run("name: x\nmodels: [unclosed\n")
    assert "invalid YAML" in line and "line" in line


def test_unknown_model_reference(bad: Bad) -> None:
    data = _study(bad.srv, judge={"judges": ["gpt-judge"], "runs": 1})
    line = bad.run(data)
    assert "judge.judges" in line and "'gpt-judge'" in line and "m" in line


def test_missing_gguf_file(bad: Bad) -> None:
    data = _study(bad.srv)
    data["models"]["local"] = {"provider": "llama_cpp", "gguf": "models/nope.gguf"}
    data["respond"]["respondents"].append({"name": "local", "model": "local"})
    line = bad.run(data)
    assert "gguf file not found" in line and "nope.gguf" in line and "'local'" in line


def test_missing_api_key_variable(bad: Bad, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CRISISEVAL_TEST_NO_SUCH_KEY", raising=False)
    data = _study(bad.srv)
    data["models"]["m"]["api_key_env"] = "CRISISEVAL_TEST_NO_SUCH_KEY"
    line = bad.run(data)
    assert "CRISISEVAL_TEST_NO_SUCH_KEY" in line and "not set" in line


def test_unreachable_base_url(bad: Bad) -> None:
    data = _study(bad.srv)
    dead = f"http://127.0.0.1:{_free_port()}/v1"
    data["models"]["dead"] = {"base_url": dead, "model": "x", "limits": {**FAST}}
    data["judge"] = {"judges": ["dead"], "runs": 1}
    line = bad.run(data)
    assert "cannot reach base_url" in line and dead in line and "'dead'" in line


def _protocol_rows() -> list[list[str]]:
    rubric = load_rubric()
    header = ["label"] + [f"({lvl}) {rubric.scale[lvl]}" for lvl in range(1, 6)]
    return [header] + [[lab] + [rubric.text(lab, lvl) for lvl in range(1, 6)] for lab in LABELS]


def _csv(path: Path, rows: list[list[str]]) -> Path:
    import csv

    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    return path


def test_rubric_missing_a_label(bad: Bad) -> None:
    rows = [r for r in _protocol_rows() if r[0] != "violent_thoughts"]
    rubric = _csv(bad.tmp_path / "rubric.csv", rows)
    line = bad.run(_study(bad.srv, judge={"judges": ["m"], "rubric": str(rubric)}))
    assert "rubric.csv" in line and "violent_thoughts" in line and "missing" in line


def test_rubric_missing_a_level(bad: Bad) -> None:
    rows = [r[:5] for r in _protocol_rows()]  # no (5) column
    rubric = _csv(bad.tmp_path / "rubric.csv", rows)
    line = bad.run(_study(bad.srv, judge={"judges": ["m"], "rubric": str(rubric)}))
    assert "rubric.csv" in line and "level(s) 5" in line


def test_rubric_yaml_missing_a_level(bad: Bad) -> None:
    rubric = load_rubric()
    levels = {lab: dict(rubric.for_label(lab)) for lab in LABELS}
    del levels["self_harm"][3]
    path = _write(bad.tmp_path / "rubric.yaml", {"levels": levels})
    line = bad.run(_study(bad.srv, judge={"judges": ["m"], "rubric": str(path)}))
    assert "rubric.yaml" in line and "self_harm" in line and "3" in line


def test_rubric_with_an_unknown_label(bad: Bad) -> None:
    rows = _protocol_rows()
    rows.append(["sadness"] + ["some text"] * 5)
    rubric = _csv(bad.tmp_path / "rubric.csv", rows)
    line = bad.run(_study(bad.srv, judge={"judges": ["m"], "rubric": str(rubric)}))
    assert "rubric.csv" in line and "'sadness'" in line


def test_missing_rubric_file(bad: Bad) -> None:
    line = bad.run(_study(bad.srv, judge={"judges": ["m"], "rubric": "no/such/rubric.csv"}))
    assert "rubric.csv" in line and "no such file" in line


def test_empty_sample_file(bad: Bad) -> None:
    sample = _write(bad.tmp_path / "sample.json", "[]")
    line = bad.run(_study(bad.srv, sample={"from_file": str(sample)}))
    assert "sample.json" in line and "empty" in line


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ([{"text": "hello", "label": "no_crisis"}], "no field 'inputs'"),
        ({"inputs": ["hello"]}, "sample.json"),
        ([{"inputs": ["I feel fine."], "label": "sadness"}], "'sadness'"),
        ("not json at all", "sample.json"),
    ],
    ids=["no-inputs-field", "not-a-list", "unknown-label", "not-json"],
)
def test_sample_file_in_the_wrong_schema(bad: Bad, content: Any, expected: str) -> None:
    text = content if isinstance(content, str) else json.dumps(content)
    sample = _write(bad.tmp_path / "sample.json", text)
    line = bad.run(_study(bad.srv, sample={"from_file": str(sample)}))
    assert "sample.json" in line and expected in line


def test_missing_sample_file(bad: Bad) -> None:
    line = bad.run(_study(bad.srv, sample={"from_file": "data/absent.json"}))
    assert "absent.json" in line


def test_missing_experiment_file(tmp_path: Path, monkeypatch, capsys) -> None:
    code, _out, err = _cli(
        monkeypatch, capsys, "run", str(tmp_path / "nope.yaml"), "--run-dir", str(tmp_path / "r")
    )
    assert code == 2 and err.strip().startswith("error: ") and "nope.yaml" in err
    assert not (tmp_path / "r").exists()


def test_a_bad_experiment_leaves_an_existing_store_untouched(
    tmp_path: Path, monkeypatch, capsys, srv
) -> None:
    run_dir = tmp_path / "run"
    study = _write(tmp_path / "study.yaml", _study(srv))
    code, _out, err = _cli(monkeypatch, capsys, "run", str(study), "--run-dir", str(run_dir))
    assert code == 0, err
    with Store.open(run_dir) as store:
        before = store.counts()
    data = _study(srv)
    data["models"]["m"]["api_key_env"] = "CRISISEVAL_TEST_NO_SUCH_KEY"
    monkeypatch.delenv("CRISISEVAL_TEST_NO_SUCH_KEY", raising=False)
    _write(study, data)
    code, _out, err = _cli(monkeypatch, capsys, "run", str(study), "--run-dir", str(run_dir))
    assert code == 2 and "CRISISEVAL_TEST_NO_SUCH_KEY" in err
    with Store.open(run_dir) as store:
        assert store.counts() == before


# ---------------------------------------------------------------------------- other commands
def test_status_on_an_empty_directory(tmp_path: Path, monkeypatch, capsys) -> None:
    code, _out, err = _cli(monkeypatch, capsys, "status", "--run-dir", str(tmp_path))
    assert code == 2
    line = err.strip()
    assert line.startswith("error: ") and "\n" not in line
    assert "no run store here" in line and str(tmp_path) in line
    assert not (tmp_path / STORE_FILENAME).exists()


def test_status_after_a_run(tmp_path: Path, monkeypatch, capsys, srv) -> None:
    study = _write(tmp_path / "study.yaml", _study(srv))
    run_dir = tmp_path / "run"
    assert _cli(monkeypatch, capsys, "run", str(study), "--run-dir", str(run_dir))[0] == 0
    code, out, _err = _cli(monkeypatch, capsys, "status", "--run-dir", str(run_dir))
    assert code == 0
    assert "items: 35" in out and f"(schema v{SCHEMA_VERSION})" in out
    for role in ("classify", "respond", "judge"):
        assert role in out


def test_results_path_is_one_line_even_when_long(tmp_path: Path, monkeypatch, capsys, srv) -> None:
    study = _write(tmp_path / "study.yaml", _study(srv, sample={"builtin": "demo"}))
    run_dir = tmp_path / "[brackets]" / ("a-long-run-directory-name-" * 4)
    monkeypatch.setattr(sys, "argv", ["crisiseval", "run", str(study), "--run-dir", str(run_dir)])
    monkeypatch.delenv("COLUMNS", raising=False)  # rich's default width (80) when not a terminal
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code in (0, None)
    out = capsys.readouterr().out
    assert f"results: {run_dir / STORE_FILENAME}\n" in out
    with Store.open(run_dir, create=False) as store:
        assert store.counts()["items"] == 35


def test_dry_run_prints_an_estimate_and_sends_nothing(
    tmp_path: Path, monkeypatch, capsys, srv
) -> None:
    data = _study(srv, prices={"mock": {"input_per_m": 1.0, "output_per_m": 2.0}})
    study = _write(tmp_path / "study.yaml", data)
    n = len(srv.requests())
    run_dir = tmp_path / "run"
    code, out, err = _cli(
        monkeypatch, capsys, "run", str(study), "--run-dir", str(run_dir), "--dry-run"
    )
    assert code == 0, err
    assert len(srv.requests()) == n
    assert "Dry run" in out and "nothing was sent" in out
    # 35 demo inputs x (classify 1 + respond 1 + judge 1)
    assert "total: 105 calls" in out and "$" in out
    with Store.open(run_dir) as store:
        assert store.counts()["cells"] == 0
    # `estimate` is the same.
    code, out2, _err = _cli(monkeypatch, capsys, "estimate", str(study), "--run-dir", str(run_dir))
    assert code == 0 and "total: 105 calls" in out2
    assert len(srv.requests()) == n


def test_dry_run_needs_no_reachable_endpoint(tmp_path: Path, monkeypatch, capsys, srv) -> None:
    data = _study(srv)
    data["models"]["m"]["base_url"] = f"http://127.0.0.1:{_free_port()}/v1"
    study = _write(tmp_path / "study.yaml", data)
    code, out, err = _cli(
        monkeypatch, capsys, "run", str(study), "--run-dir", str(tmp_path / "r"), "--dry-run"
    )
    assert code == 0, err
    assert "no price" in out and "unknown (a model has no price)" in out


def test_dry_run_needs_no_api_key(tmp_path: Path, monkeypatch, capsys, srv) -> None:
    data = _study(srv)
    data["models"]["m"]["api_key_env"] = "CRISISEVAL_TEST_UNSET_KEY"
    monkeypatch.delenv("CRISISEVAL_TEST_UNSET_KEY", raising=False)
    study = _write(tmp_path / "study.yaml", data)
    code, out, err = _cli(
        monkeypatch, capsys, "run", str(study), "--run-dir", str(tmp_path / "r"), "--dry-run"
    )
    assert code == 0, err
    assert "Dry run" in out
    # ...but a real run still refuses, before any call.
    code, out, err = _cli(monkeypatch, capsys, "run", str(study), "--run-dir", str(tmp_path / "r"))
    assert code == 2 and "CRISISEVAL_TEST_UNSET_KEY" in err


def test_version(monkeypatch, capsys) -> None:
    code, out, err = _cli(monkeypatch, capsys, "--version")
    assert code == 0 and out.strip() == f"crisiseval {__version__}" and not err


@pytest.mark.slow
def test_errors_and_version_through_the_real_entry_point(tmp_path: Path) -> None:
    """The installed behaviour: a subprocess, no traceback, status 2, one line on stderr."""
    study = _write(tmp_path / "study.yaml", "name: x\nmodles: {}\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "crisiseval.cli",
            "run",
            str(study),
            "--run-dir",
            str(tmp_path / "r"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "1000"},
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "modles" in lines[0]
    assert not (tmp_path / "r").exists()
    proc = subprocess.run(
        [sys.executable, "-m", "crisiseval.cli", "--version"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0 and proc.stdout.strip() == f"crisiseval {__version__}"
