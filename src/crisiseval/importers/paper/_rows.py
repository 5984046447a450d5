"""Typed store records built from the study's records, and the tables that collect them.

Each released record becomes a :class:`~crisiseval.store.LabelRecord`,
:class:`~crisiseval.store.ResponseRecord` or :class:`~crisiseval.store.JudgmentRecord` here; the
tables (:class:`LabelTable`, :class:`ResponseTable`, :class:`JudgmentTable`) merge the same record
read from several files: they keep the first, resolve what the module doc of
:mod:`crisiseval.importers.paper` decides, and raise an InputError on a real disagreement.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from typing import Any

from crisiseval.errors import InputError
from crisiseval.importers.paper._matching import near_match, norm_text, preview
from crisiseval.store import JudgmentRecord, LabelRecord, RaterId, ResponseRecord, response_id_for
from crisiseval.store.records import JudgeKind, LabelStatus, RaterKind, RecordStatus
from crisiseval.taxonomy import normalize_label

UNKNOWN_RESPONDENT = "unknown"
"""Respondent of an answer an expert scored that matches no known response of its item."""
CONSENSUS_RATER = str(RaterId("consensus", "human"))
JURY_JUDGE = "jury"


def human_rater(h: str) -> str:
    """The rater (and judge) name of expert ``H<h>``."""
    return str(RaterId("human", f"H{h}"))


# ---------------------------------------------------------------------------------------------
# values of the released records


def is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def parse_score(value: object) -> float | None:
    """A 1-5 score from 5, 5.0, '5', '5.0'; None when missing or unparsable."""
    if isinstance(value, bool) or is_missing(value):
        return None
    score: float
    if isinstance(value, int | float):
        score = float(value)
    elif isinstance(value, str):
        try:
            score = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    if not math.isfinite(score) or not 1.0 <= score <= 5.0:
        return None
    return score


def score_status(raw: object, error: object) -> tuple[float | None, RecordStatus]:
    """A released score and its status: missing without an error is a failed judge call."""
    score = parse_score(raw)
    if score is not None:
        return score, "ok"
    if is_missing(raw) and is_missing(error):
        return None, "failed"
    return None, "unparsed"


def opt_label(raw: object, where: str) -> str | None:
    """Canonical label, or None for "no label" (None, NaN, blank)."""
    if is_missing(raw):
        return None
    if isinstance(raw, str) and not raw.strip():
        return None
    if not isinstance(raw, str):
        raise InputError(f"{where}: expected a crisis label (a string), got {raw!r}")
    return normalize_label(raw, where=where)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _origin(rel: str) -> str:
    return f"import:{rel}"


def _file(origin: str) -> str:
    return origin.removeprefix("import:")


# ---------------------------------------------------------------------------------------------
# labels


def label_record(
    rater: str,
    kind: RaterKind,
    run: int,
    item_id: str,
    label: str | None,
    status: LabelStatus,
    explanation: object,
    rel: str,
) -> LabelRecord:
    return LabelRecord(
        rater=rater,
        rater_kind=kind,
        run_index=run,
        item_id=item_id,
        label=label,
        status=status,
        explanation=_text(explanation),
        cell_key=None,
        origin=_origin(rel),
    )


def classifier_label(
    rec: dict[str, Any], where: str, model: str, run: int, item_id: str, rel: str
) -> LabelRecord:
    """One classifier run's label; an empty label is ``unparsed``."""
    label = opt_label(rec["label"], f"{where}: label")
    status: LabelStatus = "ok" if label is not None else "unparsed"
    return label_record(
        model, "model_run", run, item_id, label, status, rec.get("explanation"), rel
    )


def merged_label(
    rec: dict[str, Any], where: str, rater: str, kind: RaterKind, item_id: str, rel: str
) -> LabelRecord:
    """A majority or consensus label (run 0) with its votes; no label is a ``tie`` (or
    ``none`` when nobody voted)."""
    votes = rec["all_labels"]
    if not isinstance(votes, list):
        raise InputError(f"{where}: `all_labels` must be a list of labels")
    label = opt_label(rec["label"], f"{where}: label")
    cast = [opt_label(v, f"{where}: all_labels") for v in votes]
    status: LabelStatus = "ok"
    if label is None:
        status = "tie" if any(v is not None for v in cast) else "none"
    note = "votes: " + ", ".join(v or "(none)" for v in cast)
    return label_record(rater, kind, 0, item_id, label, status, note, rel)


def expert_label(
    rec: dict[str, Any], where: str, rater: str, item_id: str, rel: str
) -> LabelRecord:
    label = opt_label(rec["label"], f"{where}: label")
    status: LabelStatus = "ok" if label is not None else "none"
    return label_record(rater, "human", 0, item_id, label, status, None, rel)


class LabelTable:
    """Labels by (rater, run, item). A label read twice must agree; for a majority or consensus a
    disagreement becomes a ``tie`` (with a warning), for anyone else it is an InputError."""

    def __init__(self, warnings: list[str]) -> None:
        self._rows: dict[tuple[str, int, str], LabelRecord] = {}
        self._warnings = warnings

    def add(self, row: LabelRecord) -> None:
        key = (row.rater, row.run_index, row.item_id)
        old = self._rows.get(key)
        if old is None:
            self._rows[key] = row
            return
        if (old.label, old.status) == (row.label, row.status):
            return
        if row.rater_kind in ("majority", "consensus"):
            note = (
                f"conflicting labels: {old.label or old.status} ({old.origin}), "
                f"{row.label or row.status} ({row.origin})"
            )
            self._rows[key] = old.model_copy(
                update={"label": None, "status": "tie", "explanation": note}
            )
            self._warnings.append(f"{row.rater} on item {row.item_id}: {note} -> tie")
            return
        raise InputError(
            f"{_file(row.origin)}: rater {row.rater} run {row.run_index} labels item "
            f"{row.item_id} {row.label!r}, but {_file(old.origin)} labels it {old.label!r}"
        )

    def records(self) -> list[LabelRecord]:
        return list(self._rows.values())


# ---------------------------------------------------------------------------------------------
# responses


class ResponseTable:
    """Responses by id, and per item an index of their whitespace-normalised answer texts."""

    def __init__(self, warnings: list[str]) -> None:
        self._rows: dict[str, ResponseRecord] = {}
        self._answers: dict[str, dict[str, str]] = defaultdict(dict)
        self._unknown_runs: Counter[str] = Counter()
        self._warnings = warnings

    def add(self, item_id: str, respondent: str, run: int, text: object, rel: str) -> str:
        """The id of this answer; the first source of a response wins (answer files are read
        first). An empty or missing answer is a ``failed`` response."""
        rid = response_id_for(item_id, respondent, run)
        if rid in self._rows:
            return rid
        answer = text if isinstance(text, str) and text.strip() else None
        self._rows[rid] = ResponseRecord.make(
            item_id=item_id,
            respondent=respondent,
            run_index=run,
            text=answer,
            status="ok" if answer is not None else "failed",
            origin=_origin(rel),
        )
        if answer is not None:
            self._answers[item_id].setdefault(norm_text(answer), rid)
        return rid

    def has_answer(self, item_id: str, norm: str) -> bool:
        """Whether ``item_id`` has a response with this normalised answer text."""
        return norm in self._answers.get(item_id, {})

    def get(self, response_id: str) -> ResponseRecord:
        return self._rows[response_id]

    def find(self, item_id: str, text: object, rel: str, where: str) -> str:
        """The known response of ``item_id`` with this answer text (:meth:`match`), else a new
        response of respondent ``unknown``."""
        rid = self.match(item_id, text, where)
        return rid if rid is not None else self.unknown(item_id, text, rel, where)

    def match(self, item_id: str, text: object, where: str) -> str | None:
        """The known response of ``item_id`` with this answer text (exact after whitespace
        normalisation, else near-exact, with a warning), else None."""
        index = self._answers.get(item_id, {})
        if not isinstance(text, str) or not text.strip():
            return None
        norm = norm_text(text)
        if norm in index:
            return index[norm]
        found = near_match(norm, index)
        if found is None:
            return None
        ratio, rid = found
        known = self._rows[rid]
        self._warnings.append(
            f"{where}: answer matched {known.respondent} run {known.run_index} by "
            f"near-exact text (similarity {ratio:.4f})"
        )
        index[norm] = rid
        return rid

    def unknown(self, item_id: str, text: object, rel: str, where: str, why: str = "") -> str:
        """A new response of respondent ``unknown`` for an answer that matches no known response
        of its item (``why``: more of the reason, for the warning)."""
        self._unknown_runs[item_id] += 1
        run = self._unknown_runs[item_id]
        self._warnings.append(
            f"{where}: answer {preview(text)} matches no known response of its item{why}; "
            f"stored as respondent {UNKNOWN_RESPONDENT!r} run {run}"
        )
        return self.add(item_id, UNKNOWN_RESPONDENT, run, text, rel)

    def records(self) -> list[ResponseRecord]:
        return list(self._rows.values())


# ---------------------------------------------------------------------------------------------
# judgments


def judgment_record(
    response_id: str,
    judge: str,
    run: int,
    label: str | None,
    score: float | None,
    status: RecordStatus,
    explanation: object,
    rel: str,
    *,
    kind: JudgeKind = "model",
) -> JudgmentRecord:
    return JudgmentRecord(
        response_id=response_id,
        judge=judge,
        judge_kind=kind,
        run_index=run,
        label=label,
        score=score if status == "ok" else None,
        explanation=_text(explanation),
        status=status,
        cell_key=None,
        origin=_origin(rel),
    )


def run_judgment(
    rec: dict[str, Any], response_id: str, judge: str, judge_run: int, label: str | None, rel: str
) -> JudgmentRecord:
    """One judge run's score from a per-run evaluation file; a record with an ``error`` keeps it
    as the explanation."""
    error = rec.get("error")
    score, status = score_status(rec.get("evaluation"), error)
    explanation = rec.get("explanation")
    if status != "ok" and not is_missing(error):
        explanation = f"error: {error}"
    return judgment_record(response_id, judge, judge_run, label, score, status, explanation, rel)


def eval_list_judgments(
    response_id: str,
    judge: str,
    label: str | None,
    evals: list[Any],
    n_runs: int,
    explanation: object,
    rel: str,
) -> list[JudgmentRecord]:
    """Judge runs 1.. from a merged ``evals`` list, completed with ``failed`` runs up to
    ``n_runs`` (a merged file leaves failed runs out)."""
    rows = []
    for judge_run in range(1, max(n_runs, len(evals)) + 1):
        score: float | None
        status: RecordStatus
        if judge_run <= len(evals):
            score, status = score_status(evals[judge_run - 1], None)
            note = explanation if judge_run == 1 else None
        else:
            score, status = None, "failed"
            note = "no score for this judge run in the merged file"
        rows.append(judgment_record(response_id, judge, judge_run, label, score, status, note, rel))
    return rows


def mean_judgment(
    response_id: str,
    judge: str,
    label: str | None,
    raw: object,
    note: object,
    rel: str,
    *,
    kind: JudgeKind = "model",
) -> JudgmentRecord:
    """A score without runs (a judge's released mean, the jury, an expert): judge run 0."""
    score, status = score_status(raw, None)
    return judgment_record(response_id, judge, 0, label, score, status, note, rel, kind=kind)


class JudgmentTable:
    """Judgments by (response, judge, run). The same judgment read twice must have the same
    score; a run-0 row is dropped when the judge has per-run rows for that response."""

    def __init__(self) -> None:
        self._rows: dict[tuple[str, str, int], JudgmentRecord] = {}

    def add(self, row: JudgmentRecord) -> None:
        key = (row.response_id, row.judge, row.run_index)
        old = self._rows.get(key)
        if old is None:
            self._rows[key] = row
            return
        if (
            old.status == "ok"
            and row.status == "ok"
            and old.score is not None
            and row.score is not None
            and not math.isclose(old.score, row.score, abs_tol=1e-9)
        ):
            raise InputError(
                f"{_file(row.origin)}: judge {row.judge} run {row.run_index} scores response "
                f"{row.response_id} {row.score:g}, but {_file(old.origin)} scores the same "
                f"judgment {old.score:g}"
            )

    def records(self) -> list[JudgmentRecord]:
        with_runs = {(rid, judge) for rid, judge, run in self._rows if run > 0}
        return [
            row
            for (rid, judge, run), row in self._rows.items()
            if run > 0 or (rid, judge) not in with_runs
        ]
