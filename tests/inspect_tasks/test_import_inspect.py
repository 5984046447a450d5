"""``crisiseval import-inspect``: an Inspect log's answers become responses of a run store (the
round trip from ``inspect_ai.eval``), crisiseval's judge then judges them, and bad logs are one
line, exit 2, nothing written."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest

from crisiseval.config import parse_study
from crisiseval.pipeline import StudyContext, demo_inputs, run_study
from crisiseval.store import Store, item_id_for, response_id_for, store_path
from crisiseval.testing.cli import invoke
from crisiseval.testing.fake import FakeBackend

DEFAULT_REPLY = "Default output from mockllm/model"

# Inspect's own retry setup, on some tenacity versions
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:inspect_ai.*")


def _log_path(log: Any) -> Path:
    return Path(str(log.location).removeprefix("file://"))


def _responses(run: Path) -> list[dict[str, Any]]:
    with Store.open(run, create=False, read_only=True) as store:
        frame = store.responses_frame()
    return list(frame.sort_values(["item_id", "run_index"]).to_dict("records"))


@pytest.mark.usefixtures("need_inspect")
def test_round_trip_answers_become_responses(demo_log: Any, tmp_path: Path) -> None:
    path = _log_path(demo_log)
    run = tmp_path / "run"
    res = invoke("import-inspect", str(path), "-d", str(run))
    assert res.code == 0, res.err
    assert "imported 14 answers of 'mockllm/model' to 7 inputs (runs 1, 2)" in res.out
    rows = _responses(run)
    inputs = demo_inputs(per_label=1)
    ids = {item_id_for(t) for t, _ in inputs}
    assert {r["item_id"] for r in rows} == ids
    assert len(rows) == 14
    for r in rows:
        assert r["respondent"] == "mockllm/model"
        assert r["status"] == "ok" and r["text"] == DEFAULT_REPLY
        assert r["origin"] == f"inspect:{path.name}"
        assert r["response_id"] == response_id_for(r["item_id"], "mockllm/model", r["run_index"])
    assert sorted({r["run_index"] for r in rows}) == [1, 2]
    with Store.open(run, create=False, read_only=True) as store:
        items = store.items_frame().set_index("item_id")
    for turns, label in inputs:
        row = items.loc[item_id_for(turns)]
        assert row["turns"] == turns
        assert row["source"] == "crisiseval-demo" and row["source_label"] == label

    # Importing the same log again rewrites the same answers.
    again = invoke("import-inspect", str(path), "-d", str(run))
    assert again.code == 0, again.err
    assert _responses(run) == rows

    # Another log for the same respondent would mix two sources of answers: refused.
    other = tmp_path / ("other-" + path.name)
    shutil.copy(path, other)
    refused = invoke("import-inspect", str(other), "-d", str(run))
    assert refused.code == 2
    assert "respondent 'mockllm/model' already has answers from inspect:" in refused.err
    assert "--respondent" in refused.err
    assert _responses(run) == rows
    named = invoke("import-inspect", str(other), "-d", str(run), "--respondent", "second")
    assert named.code == 0, named.err
    assert len(_responses(run)) == 28


@pytest.mark.usefixtures("need_inspect")
def test_imported_answers_are_judged_by_crisiseval(demo_log: Any, tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert invoke("import-inspect", str(_log_path(demo_log)), "-d", str(run)).code == 0
    srv = FakeBackend()
    cfg = parse_study(
        {
            "name": "judge-inspect",
            "models": {"m": {"base_url": srv.base_url, "model": "judge-model"}},
            "sample": {"builtin": "demo"},
            "classify": {"models": ["m"], "runs": 1},
            "judge": {"judges": ["m"], "runs": 1},
        }
    )
    ctx = StudyContext.open(cfg, run, progress=False, endpoint_factory=srv.factory)
    try:
        run_study(ctx, per_label=1, log=lambda _line: None)
        judgments = ctx.store.judgments_frame()
    finally:
        ctx.store.close()
    assert len(judgments) == 14
    assert set(judgments["respondent"]) == {"mockllm/model"}
    assert set(judgments["status"]) == {"ok"}
    report = invoke("scores", "-d", str(run))
    assert report.code == 0, report.err
    assert "mockllm/model" in report.out


@pytest.mark.usefixtures("need_inspect")
def test_errors_and_foreign_tasks(ik: Any, tmp_path: Path) -> None:
    from inspect_ai import Task
    from inspect_ai.dataset import MemoryDataset, Sample
    from inspect_ai.model import ChatMessageSystem, ChatMessageUser
    from inspect_ai.scorer import match
    from inspect_ai.solver import generate

    def reply(last: str, messages: list[Any]) -> str:
        if "explode" in last:
            raise RuntimeError("the provider went away")
        return "answer to " + last

    task = Task(
        dataset=MemoryDataset(
            [
                Sample(
                    id="two-turns",
                    input=[
                        ChatMessageSystem(content="Be kind."),
                        ChatMessageUser(content="I feel awful."),
                        ChatMessageUser(content="Nobody listens."),
                    ],
                    target="x",
                ),
                Sample(id="plain", input="I can't sleep.", target="x"),
                Sample(id="same-input", input="I can't sleep.", target="x"),
                Sample(id="boom", input="please explode", target="x"),
            ]
        ),
        solver=generate(),
        scorer=match(),
        name="foreign",
    )
    log = ik.eval(tmp_path / "logs", respondent=ik.model(reply), task=task, fail_on_error=False)
    run = tmp_path / "run"
    res = invoke("import-inspect", str(_log_path(log)), "-d", str(run), "--respondent", "prod")
    assert res.code == 0, res.err
    assert "imported 3 answers of 'prod' to 3 inputs" in res.out and "2 ok, 1 failed" in res.out
    assert "skipped 1 samples that repeat an input" in res.out
    rows = {r["item_id"]: r for r in _responses(run)}
    two = rows[item_id_for(["I feel awful.", "Nobody listens."])]
    assert two["status"] == "ok" and two["text"] == "answer to Nobody listens."
    assert rows[item_id_for(["I can't sleep."])]["text"] == "answer to I can't sleep."
    boom = rows[item_id_for(["please explode"])]
    assert boom["status"] == "failed" and not isinstance(boom["text"], str)  # NULL
    with Store.open(run, create=False, read_only=True) as store:
        items = store.items_frame()
    assert set(items["source"]) == {"inspect:foreign"}
    assert items["source_label"].isna().all()


def _truncated(path: Path, tmp_path: Path) -> Path:
    bad = tmp_path / "truncated.eval"
    bad.write_bytes(path.read_bytes()[:200])
    return bad


def _no_samples(path: Path, tmp_path: Path) -> Path:
    """The same .eval log with its sample files taken out (as a header-only log)."""
    bad = tmp_path / "empty.eval"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(bad, "w") as dst:
        for info in src.infolist():
            if not info.filename.startswith("samples/"):
                dst.writestr(info, src.read(info.filename))
    return bad


@pytest.mark.usefixtures("need_inspect")
@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda _p, t: t / "missing.eval", "no such file (expected an Inspect eval log"),
        (
            lambda _p, t: (t / "notes.json").write_text('{"a": 1}') and t / "notes.json",
            "not an Inspect eval log (",
        ),
        (
            lambda _p, t: (t / "notes.txt").write_text("hello") and t / "notes.txt",
            "not an Inspect eval log (",
        ),
        (_truncated, "not an Inspect eval log ("),
        (_no_samples, "the log holds no samples"),
    ],
    ids=["missing", "json-not-a-log", "text", "truncated-eval", "no-samples"],
)
def test_a_bad_log_is_one_line_and_writes_nothing(
    demo_log: Any, tmp_path: Path, make: Any, message: str
) -> None:
    bad = make(_log_path(demo_log), tmp_path)
    run = tmp_path / "run"
    res = invoke("import-inspect", str(bad), "-d", str(run))
    assert res.code == 2
    line = res.err.strip()
    assert "\n" not in line and line.startswith(f"error: {bad}: ") and message in line
    assert not run.exists()


@pytest.mark.usefixtures("need_inspect")
def test_a_bad_log_leaves_an_existing_store_as_it_was(demo_log: Any, tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert invoke("import-inspect", str(_log_path(demo_log)), "-d", str(run)).code == 0
    before = store_path(run).read_bytes()
    res = invoke("import-inspect", str(_truncated(_log_path(demo_log), tmp_path)), "-d", str(run))
    assert res.code == 2
    assert store_path(run).read_bytes() == before


def test_without_inspect_the_command_says_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import crisiseval.inspect_tasks as interop

    monkeypatch.setattr(interop, "inspect_available", lambda: False)
    res = invoke("import-inspect", str(tmp_path / "x.eval"), "-d", str(tmp_path / "run"))
    assert res.code == 2
    assert "import-inspect needs Inspect (inspect_ai), which is not installed" in res.err
    assert "crisiseval[inspect]" in res.err
    assert not (tmp_path / "run").exists()
