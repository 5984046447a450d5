"""``crisiseval run`` end to end: the example experiment files, a full run on the loopback mock
server (and a second run that sends nothing), resumption after ``kill -9``, and a tiny run with
real inference on the embedded model."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from crisiseval.cli import main
from crisiseval.config import load_study, parse_study
from crisiseval.pipeline import StudyContext, demo_inputs, run_study
from crisiseval.store import Store, store_path
from crisiseval.taxonomy import LABELS, load_rubric
from crisiseval.testing.mockserver import MockServer, messages_digest

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
PAPER_TEST_SET = "processed/sampled_dataset_n_2046_nPerD168_seed0.json"
FAST = {"backoff_base_s": 0.01, "backoff_max_s": 0.05, "max_retries": 1}


def _cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str):
    """``crisiseval ARGS`` in-process through ``main()``: (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["crisiseval", *args])
    monkeypatch.setenv("COLUMNS", "1000")  # no wrapping of long lines (paths) by rich
    with pytest.raises(SystemExit) as exc:
        main()
    captured = capsys.readouterr()
    code = exc.value.code
    return (0 if code is None else code), captured.out, captured.err


def _sample_file(path: Path, n: int) -> Path:
    """A sample file in the study's released layout with ``n`` demo inputs."""
    records = [{"inputs": t, "label": lab} for t, lab in demo_inputs(per_label=1)[:n]]
    path.write_text(json.dumps(records), encoding="utf-8")
    return path


def _mock_study(srv: MockServer, sample: dict[str, Any], **limits: Any) -> dict[str, Any]:
    lim = {**FAST, "concurrency": 4, **limits}
    model = {"base_url": srv.base_url, "model": "mock-a", "limits": lim}
    return {
        "name": "e2e",
        "models": {"a": model, "b": {**model, "model": "mock-b"}},
        "prices": {"mock-a": {"input_per_m": 1.0, "output_per_m": 2.0}},
        "sample": sample,
        "classify": {"models": ["a"], "runs": 3},
        "respond": {
            "runs": 1,
            "respondents": [
                {"name": "a-plain", "model": "a"},
                {"name": "a-safe", "model": "a", "system_prompt": "Ask if they are safe."},
            ],
        },
        "judge": {"judges": ["b"], "runs": 2},
    }


def _write_yaml(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------- example files
def test_example_study_files_load_and_their_references_resolve() -> None:
    study = load_study(EXAMPLES / "study.yaml")
    mock = load_study(EXAMPLES / "mock-study.yaml")
    for cfg in (study, mock):
        # Every stage's model reference names a defined model (the loader checks it too).
        assert cfg.classify and cfg.respond and cfg.judge
        used = [*cfg.classify.models, *cfg.judge.judges]
        used += [r.model for r in cfg.respond.respondents]
        assert set(used) <= set(cfg.models)
        assert cfg.classify.runs == cfg.respond.runs == cfg.judge.runs == 3
        assert cfg.classify.models == ["gpt-4o-mini"] and cfg.judge.judges == ["gpt-4o-mini"]
        assert len(cfg.respond.respondents) == 5
        # Every model has a price (by model id or name), so the dry run gives a cost bound.
        for name in cfg.models:
            m = cfg.models[name]
            assert (m.price or cfg.prices.get(m.model) or cfg.prices.get(name)) is not None, name
    # The real study: keys from the environment, never in the file.
    assert {m.api_key_env for m in study.models.values()} == {
        "OPENAI_API_KEY",
        "DEEPSEEK_API_KEY",
        "XAI_API_KEY",
        "TOGETHER_API_KEY",
    }
    ids = {m.model for m in study.models.values()}
    assert {"gpt-4o-mini", "gpt-5-nano", "deepseek-chat"} <= ids
    assert any("grok" in i for i in ids) and any("Llama-4-Scout" in i for i in ids)
    # The mock study: the same models on the local mock server, no keys, the demo sample.
    assert set(mock.models) == set(study.models)
    for m in mock.models.values():
        assert m.base_url == "http://127.0.0.1:8000/v1" and m.api_key_env is None
    assert mock.sample and mock.sample.builtin == "demo"


def test_example_study_points_at_the_paper_data(study_dir: Path) -> None:
    """Relative paths resolve against the YAML's folder: examples/../../shared/..."""
    study = load_study(EXAMPLES / "study.yaml")
    assert study.sample and study.sample.from_file
    assert Path(study.sample.from_file).resolve() == (study_dir / PAPER_TEST_SET).resolve()
    assert Path(study.sample.from_file).is_file()
    assert study.judge and study.judge.rubric
    assert (
        Path(study.judge.rubric).resolve() == (study_dir / "llm_evaluator/protocol.csv").resolve()
    )
    # The paper's rubric loads (the run loads it the same way, before anything is written).
    assert set(load_rubric(study.judge.rubric).levels) == set(LABELS)


def test_example_demo_yaml_is_the_package_demo() -> None:
    packaged = REPO / "src" / "crisiseval" / "demo" / "demo.yaml"
    assert (EXAMPLES / "demo.yaml").read_bytes() == packaged.read_bytes()


def test_mock_study_dry_run_estimates_the_whole_study(tmp_path: Path) -> None:
    cfg = load_study(EXAMPLES / "mock-study.yaml")
    ctx = StudyContext.open(cfg, tmp_path / "run", progress=False)
    try:
        result = run_study(ctx, dry_run=True, log=lambda _line: None)
    finally:
        ctx.store.close()
    est = result.estimate
    assert est is not None
    n = len(demo_inputs())
    # classify 3 + respond 5 x 3 + judge 5 x 3 answers x 3 judge runs, per input
    assert est.calls == n * (3 + 5 * 3 + 5 * 3 * 3)
    assert est.cost_usd_max is not None and est.cost_usd_max > 0
    assert est.per_model["gpt-4o-mini"]["calls"] == n * (3 + 3 + 45)
    with Store.open(tmp_path / "run") as store:
        assert store.counts()["cells"] == 0  # a dry run sends and records no call


def test_study_dry_run_on_the_paper_test_set(
    study_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    for var in ("OPENAI_API_KEY", "DEEPSEEK_API_KEY", "XAI_API_KEY", "TOGETHER_API_KEY"):
        monkeypatch.setenv(var, "sk-test-not-a-key")
    run_dir = tmp_path / "run"
    code, out, err = _cli(
        monkeypatch,
        capsys,
        "run",
        str(EXAMPLES / "study.yaml"),
        "--run-dir",
        str(run_dir),
        "--dry-run",
    )
    assert code == 0, err
    with Store.open(run_dir) as store:
        n = len(store.sample_items("test-n2046"))
        assert store.counts()["cells"] == 0
    assert n > 2000
    assert f"total: {n * 63} calls" in " ".join(out.split())


# ---------------------------------------------------------------------------- mock server e2e
def test_run_on_mock_server_then_again_sends_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    with MockServer() as srv:
        study = _write_yaml(tmp_path / "study.yaml", _mock_study(srv, {"builtin": "demo"}))
        run_dir = tmp_path / "run"
        code, out, err = _cli(monkeypatch, capsys, "run", str(study), "--run-dir", str(run_dir))
        assert code == 0, err
        n_items = len(demo_inputs())
        first = len(srv.requests())
        # classify 3 runs + 2 respondents + 2 answers x 2 judge runs, per item
        assert first == n_items * (3 + 2 + 2 * 2)
        with Store.open(run_dir) as store:
            cells = store.cells_frame()
            assert len(cells) == first and set(cells["status"]) == {"done"}
            assert (cells["attempts"] == 1).all()
            counts = store.counts()
            assert counts["items"] == n_items and counts["responses"] == 2 * n_items
            labels = store.labels_frame()
            assert (labels[labels["rater"] == "majority:a"]["status"] == "ok").sum() == n_items
            assert counts["judgments"] == 4 * n_items
            judgments = store.judgments_frame()
            assert judgments["score"].between(1, 5).all()
            # Cost is accounted where a price is known (model a), and only there.
            cells = store.cells_frame()
            priced = cells.groupby("model")["cost_usd"].sum(min_count=1)
            assert priced["a"] > 0 and pd.isna(priced["b"])
        assert f"results: {run_dir / 'crisiseval.sqlite'}" in out

        code, out, err = _cli(monkeypatch, capsys, "run", str(study), "--run-dir", str(run_dir))
        assert code == 0, err
        assert len(srv.requests()) == first  # everything was cached
        flat = " ".join(out.split())
        for stage, total in (("classify", 3), ("respond", 2), ("judge", 4)):
            n = total * n_items
            assert f"{stage}: {n} cells; {n} cached; 0 done" in flat


# ---------------------------------------------------------------------------- kill -9, resume
def _done_keys(db: Path) -> set[str]:
    if not db.exists():
        return set()
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            rows = conn.execute("SELECT key FROM cells WHERE status = 'done'").fetchall()
        finally:
            conn.close()
    except sqlite3.OperationalError:  # the schema is not there yet
        return set()
    return {r[0] for r in rows}


def _crisiseval(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as fh:
        return subprocess.Popen(
            [sys.executable, "-m", "crisiseval.cli", *args], stdout=fh, stderr=subprocess.STDOUT
        )


@pytest.mark.slow
def test_run_killed_mid_way_resumes_without_duplicate_calls(tmp_path: Path) -> None:
    sample = _sample_file(tmp_path / "sample.json", 6)
    with MockServer(latency=0.05) as srv:
        study = _write_yaml(
            tmp_path / "study.yaml",
            _mock_study(srv, {"from_file": str(sample)}, concurrency=2),
        )
        run_dir = tmp_path / "run"
        db = store_path(run_dir)
        log = tmp_path / "crisiseval.log"
        args = ["run", str(study), "--run-dir", str(run_dir)]

        proc = _crisiseval(args, log)
        deadline = time.monotonic() + 120
        while len(_done_keys(db)) < 8:
            if proc.poll() is not None:
                pytest.fail(f"the run ended before it was killed:\n{log.read_text()}")
            if time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"no progress:\n{log.read_text()}")
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        assert proc.returncode == -signal.SIGKILL
        # Let the server finish (and log) whatever the killed process had in flight.
        deadline = time.monotonic() + 10
        while srv.state.in_flight and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)
        done_before = _done_keys(db)
        n_before = len(srv.requests())

        proc = _crisiseval(args, log)
        assert proc.wait(120) == 0, log.read_text()
        resumed = Counter(r["digest"] for r in srv.requests()[n_before:])

    with Store.open(run_dir) as store:
        rows = [(r["key"], r["status"], r["attempts"], r["request"]) for r in store.cells.rows()]
        counts = store.counts()
    assert len(rows) == 6 * (3 + 2 + 2 * 2)
    assert counts["judgments"] == 6 * 2 * 2 and counts["responses"] == 6 * 2
    assert 8 <= len(done_before) < len(rows)
    # Every cell is done, by exactly one call (the killed process's unfinished calls left no mark).
    assert {r[1] for r in rows} == {"done"}
    assert {r[2] for r in rows} == {1}
    # The resumed run sent exactly the cells that were not done at the kill: per message digest
    # (the runs of one classification share their messages), as many calls as such cells.
    expected: Counter[str] = Counter()
    for key, _status, _attempts, request in rows:
        if key not in done_before:
            expected[messages_digest(json.loads(request)["messages"])] += 1
    assert resumed == expected
    # In particular no cell whose every copy was done before the kill was requested again.
    done_only = {
        messages_digest(json.loads(r[3])["messages"]) for r in rows if r[0] in done_before
    } - set(expected)
    assert done_only and not (done_only & set(resumed))


# ---------------------------------------------------------------------------- embedded model
@pytest.mark.slow
def test_tiny_study_on_the_embedded_model(tmp_path: Path) -> None:
    """Real llama.cpp inference, as few calls as possible: 3 items x (classify 1 + respond 1 +
    judge 1) = at most 9 calls (no re-asks). SmolLM2-135M is a plumbing model: the test checks
    that every stage ran and recorded its results, not what the model said."""
    pytest.importorskip("llama_cpp")
    from crisiseval.engine import embedded_gguf_path
    from crisiseval.errors import ConfigError

    try:
        if not embedded_gguf_path().is_file():
            pytest.skip("the embedded model file is missing")
    except ConfigError as exc:
        pytest.skip(str(exc))
    sample = _sample_file(tmp_path / "sample.json", 3)
    cfg = parse_study(
        {
            "name": "embedded-e2e",
            "models": {
                "smol": {
                    "provider": "llama_cpp",
                    "n_ctx": 2048,
                    "n_threads": 1,  # robust on a busy 2-core machine
                    "params": {"temperature": 0.0, "max_tokens": 96},
                    "limits": {"reasks": 0, "max_retries": 0},
                    # label and score only: the plumbing is the point, not the explanations
                    "explanation_chars": 0,
                }
            },
            "sample": {"from_file": str(sample)},
            "classify": {"models": ["smol"], "runs": 1},
            "respond": {"runs": 1, "respondents": [{"name": "smol", "model": "smol"}]},
            "judge": {"judges": ["smol"], "runs": 1},
        }
    )
    ctx = StudyContext.open(cfg, tmp_path / "run", progress=False)
    try:
        result = run_study(ctx, log=lambda _line: None)
        store = ctx.store
        cells = store.cells_frame()
        assert len(cells) <= 9
        assert set(cells["status"]) <= {"done", "unparsed"}, cells[["role", "error_kind"]]
        assert set(cells["role"]) >= {"classify", "respond"}
        counts = store.counts()
        assert counts["labels"] >= 3 + 3  # 3 runs and 3 majorities
        assert counts["responses"] == 3
        responses = store.responses_frame()
        assert (responses["status"] == "ok").all() and responses["text"].str.len().gt(0).all()
        labelled = len(store.item_labels("majority:smol"))
        # The label is grammar-constrained, so at least one classification parses (an
        # explanation cut off at max_tokens can leave an item unlabelled, and so unjudged).
        assert labelled >= 1
        # Judged: every answer to a labelled item, once (done or unparsed, never failed).
        assert counts["judgments"] == labelled
        judgments = store.judgments_frame()
        assert set(judgments["status"]) <= {"ok", "unparsed"}
        ok = judgments[judgments["status"] == "ok"]
        assert ok["score"].between(1, 5).all()
        assert any(line.startswith("judge:") for line in result.lines)
    finally:
        ctx.store.close()
