"""The score files: model judges' evaluations, sampled lowest scores, the experts' scores.

Each step reads its files into the :class:`~crisiseval.importers.paper._importer.Study`'s
response and judgment tables; answers without an answer file become responses here. What the
study did not judge (no label: a tie) is counted in ``Study.not_judged``, never stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from crisiseval.errors import InputError
from crisiseval.importers.paper._layout import LOWEST_SOURCE_KEY, Records, source_name
from crisiseval.importers.paper._matching import Fallback, Sample, norm_text, preview
from crisiseval.importers.paper._rows import (
    JURY_JUDGE,
    eval_list_judgments,
    human_rater,
    is_missing,
    mean_judgment,
    opt_label,
    parse_score,
    run_judgment,
)
from crisiseval.store import response_id_for

if TYPE_CHECKING:  # the driver imports this module: the state's type only
    from crisiseval.importers.paper._importer import Study


@dataclass
class _EvalGroup:
    """The evaluation files of one judge on one answer run: per-run files and the merged one."""

    stem: str
    runs: list[tuple[str, str]] = field(default_factory=list)
    """(judge timestamp, relative path), in path order."""
    merged: str | None = None


class EvaluationImport:
    """The model judges' evaluation files (``llm_evaluator/<judge>/n_<n>/``).

    Per-run files are used when they cover the merged file's runs, and the merged file is checked
    against them; otherwise the merged file is used (failed runs completed as ``failed``).
    """

    def __init__(self, study: Study) -> None:
        self.study = study

    def run(self) -> None:
        for (judge, respondent, answer_ts), group in sorted(self._groups().items()):
            first = group.runs[0][1] if group.runs else group.merged
            assert first is not None
            sample = self.study.sample(first, group.stem)
            run = self.study.runs.respondent_run(respondent, answer_ts)
            run_files = [rel for _ts, rel in sorted(group.runs)]
            merged_runs = self._merged_runs(group.merged)
            texts = self._texts(sample, [*run_files, *filter(None, [group.merged])])
            if run_files and len(run_files) >= merged_runs:
                scores = self._run_files(judge, respondent, run, sample, run_files, texts)
                if group.merged is not None:
                    self._check_merged(group.merged, sample, respondent, run, scores)
                continue
            assert group.merged is not None
            if run_files:
                self.study.warnings.append(
                    f"{group.merged}: per-run files cover {len(run_files)} of its "
                    f"{merged_runs} judge runs; the merged file is used"
                )
            self._merged_file(judge, respondent, run, sample, group.merged, merged_runs, texts)

    def _groups(self) -> dict[tuple[str, str, str], _EvalGroup]:
        files = self.study.files
        groups: dict[tuple[str, str, str], _EvalGroup] = {}
        for rel, m in files.of_kind("eval_run", "eval_merged"):
            key = (m["judge"], m["respondent"], m["answer_ts"])
            group = groups.setdefault(key, _EvalGroup(m["stem"]))
            if m["stem"] != group.stem:
                raise InputError(f"{rel}: answers of another sample than its sibling files")
            if files.kind(rel) == "eval_run":
                group.runs.append((m["judge_ts"], rel))
            else:
                group.merged = rel
        return groups

    def _merged_runs(self, rel: str | None) -> int:
        """The number of judge runs of a merged file: its longest ``evals`` list."""
        if rel is None:
            return 0
        evals = (r["evals"] for r in self.study.files.records[rel])
        return max((len(e) for e in evals if isinstance(e, list)), default=0)

    def _texts(self, sample: Sample, rels: list[str]) -> dict[str, str]:
        """Answer text per item from evaluation files (for answers without an answer file)."""
        texts: dict[str, str] = {}
        for rel in sorted(rels, key=lambda r: "merged/" not in r):
            for _i, rec, iid in self.study.matched(rel, sample):
                answer = rec.get("answer")
                if "error" not in rec and isinstance(answer, str) and answer.strip():
                    texts.setdefault(iid, answer)
        return texts

    def _unjudged(self, judge: str, iid: str, respondent: str, run: int) -> None:
        self.study.not_judged.add((judge, response_id_for(iid, respondent, run)))

    def _run_files(
        self,
        judge: str,
        respondent: str,
        run: int,
        sample: Sample,
        run_files: list[str],
        texts: dict[str, str],
    ) -> dict[str, list[float]]:
        """Judge run k from the k-th per-run file; returns the valid scores per response."""
        study = self.study
        scores: dict[str, list[float]] = {}
        for judge_run, rel in enumerate(run_files, start=1):
            for i, rec, iid in study.matched(rel, sample):
                label = opt_label(rec["label"], f"{rel}: record {i}: label")
                no_result = is_missing(rec.get("evaluation")) and is_missing(rec.get("error"))
                if label is None and no_result:
                    self._unjudged(judge, iid, respondent, run)
                    continue
                rid = study.responses.add(iid, respondent, run, texts.get(iid), rel)
                row = run_judgment(rec, rid, judge, judge_run, label, rel)
                study.judgments.add(row)
                if row.score is not None:
                    scores.setdefault(rid, []).append(row.score)
        return scores

    def _check_merged(
        self, rel: str, sample: Sample, respondent: str, run: int, per_run: dict[str, list[float]]
    ) -> None:
        for i, rec, iid in self.study.matched(rel, sample):
            evals = _evals(rec, f"{rel}: record {i}")
            merged = [s for s in (parse_score(v) for v in evals) if s is not None]
            mine = per_run.get(response_id_for(iid, respondent, run), [])
            if merged != mine:
                raise InputError(
                    f"{rel}: record {i}: evals {evals} disagree with the per-run evaluation files "
                    f"(valid scores {mine})"
                )

    def _merged_file(
        self,
        judge: str,
        respondent: str,
        run: int,
        sample: Sample,
        rel: str,
        n_runs: int,
        texts: dict[str, str],
    ) -> None:
        study = self.study
        for i, rec, iid in study.matched(rel, sample):
            label = opt_label(rec["label"], f"{rel}: record {i}: label")
            evals = _evals(rec, f"{rel}: record {i}")
            if label is None and all(is_missing(v) for v in evals):
                self._unjudged(judge, iid, respondent, run)
                continue
            rid = study.responses.add(iid, respondent, run, texts.get(iid), rel)
            for row in eval_list_judgments(
                rid, judge, label, evals, n_runs, rec.get("explanation"), rel
            ):
                study.judgments.add(row)


def _evals(rec: dict[str, Any], where: str) -> list[Any]:
    evals = rec["evals"]
    if not isinstance(evals, list):
        raise InputError(f"{where}: `evals` must be a list of scores")
    return evals


# ---------------------------------------------------------------------------------------------
# sampled lowest scores and the experts' scores


_LOWEST_ORDER = {"lowest_main": 0, "lowest_judge": 1, "lowest_jury": 2}


def import_lowest(study: Study) -> None:
    """The lowest-scored answer per item: with the main judge's runs, another judge's mean, or
    the jury's mean (whose answer must be a known response)."""
    lowest = study.files.of_kind("lowest")
    lowest.sort(key=lambda x: (_LOWEST_ORDER[study.files.layout[x[0]]], x[0]))
    for rel, _m in lowest:
        layout = study.files.layout[rel]
        for i, rec, iid in study.matched(rel, study.sample(rel, None)):
            where = f"{rel}: record {i}"
            label = opt_label(rec["label"], f"{where}: label")
            if layout == "lowest_jury":
                _jury_record(study, rec, iid, label, rel, where)
            else:
                _lowest_record(study, rec, iid, label, LOWEST_SOURCE_KEY[layout], rel, where)


def _jury_record(
    study: Study, rec: dict[str, Any], iid: str, label: str | None, rel: str, where: str
) -> None:
    members = rec["llm_evaluations"]
    if not isinstance(members, dict):
        raise InputError(f"{where}: `llm_evaluations` must map judges to scores")
    if label is None and is_missing(rec["evaluation"]):
        study.not_judged.add((JURY_JUDGE, iid))
        return
    rid = study.responses.find(iid, rec["answer"], rel, where)
    study.lowest.setdefault(iid, set()).add(rid)
    note = rec.get("source") or "mean of " + ", ".join(sorted(members))
    study.judgments.add(mean_judgment(rid, JURY_JUDGE, label, rec["evaluation"], note, rel))


def _lowest_record(
    study: Study,
    rec: dict[str, Any],
    iid: str,
    label: str | None,
    key: str,
    rel: str,
    where: str,
) -> None:
    src = source_name(rec[key], f"{where}: {key}")
    judge, respondent = src["judge"], src["respondent"]
    run = study.runs.respondent_run(respondent, src["answer_ts"])
    rid = study.responses.add(iid, respondent, run, rec["answer"], rel)
    study.lowest.setdefault(iid, set()).add(rid)
    evals = rec.get("evals")
    if (
        label is None
        and is_missing(rec["evaluation"])
        and (not isinstance(evals, list) or all(is_missing(v) for v in evals))
    ):
        study.not_judged.add((judge, rid))
        return
    explanation = rec.get("explanation")
    if isinstance(evals, list) and evals:
        for row in eval_list_judgments(rid, judge, label, evals, len(evals), explanation, rel):
            study.judgments.add(row)
    else:
        study.judgments.add(mean_judgment(rid, judge, label, rec["evaluation"], explanation, rel))


def import_human_scores(study: Study) -> None:
    """The experts' 1-5 scores, matched to known responses by answer text; a record whose answer
    matches none is attached to its item's lowest-scored answer (:func:`_repaired`)."""
    for rel, m in study.files.of_kind("human_scores"):
        judge = human_rater(m["h"])
        sample = study.sample(rel, None)
        fallback = _by_answer(study, rel, study.files.records[rel], sample)
        for i, rec, iid in study.matched(rel, sample, fallback=fallback):
            where = f"{rel}: record {i}"
            label = opt_label(rec["label"], f"{where}: label")
            raw = rec["evaluation"]
            if label is None and is_missing(raw):
                study.not_judged.add((judge, iid))
                continue
            rid = study.responses.match(iid, rec["answer"], where)
            if rid is None:
                rid = _repaired(study, iid, rec["answer"], rel, where)
            study.judgments.add(mean_judgment(rid, judge, label, raw, None, rel, kind="human"))


def _repaired(study: Study, iid: str, answer: object, rel: str, where: str) -> str:
    """The response an expert's record scored when its ``answer`` field is unusable (not a
    string, NaN, a number, spreadsheet damage: text of no known response of the item).

    The experts scored the lowest-scored answer of each item, so the record is matched by its
    inputs (the k-th record with the same inputs is the item's k-th occurrence, as everywhere) to
    the one answer the lowest-score files name for that item. Without exactly one such answer the
    score stays on a response of respondent ``unknown``, with a warning saying why.
    """
    lowest = sorted(study.lowest.get(iid, ()))
    if len(lowest) == 1:
        known = study.responses.get(lowest[0])
        study.warnings.append(
            f"{where}: answer field {preview(answer)} unusable; matched by its inputs to the "
            f"lowest-scored answer ({known.respondent}, run {known.run_index})"
        )
        study.repaired_scores += 1
        return lowest[0]
    why = f"{len(lowest)} different lowest-scored answers" if lowest else "no lowest-scored answer"
    return study.responses.unknown(
        iid, answer, rel, where, f" and the lowest-score files name {why} for it"
    )


def _by_answer(study: Study, rel: str, records: Records, sample: Sample) -> Fallback:
    """Places a record whose ``inputs`` are unreadable by its answer, when that answer is known
    for exactly one unclaimed item of the sample."""

    def place(i: int, claimed: set[str]) -> str | None:
        text = records[i].get("answer")
        if not isinstance(text, str) or not text.strip():
            return None
        norm = norm_text(text)
        found = [
            iid
            for iid in dict.fromkeys(sample.item_ids)
            if iid not in claimed and study.responses.has_answer(iid, norm)
        ]
        if len(found) != 1:
            return None
        study.warnings.append(
            f"{rel}: record {i}: unreadable inputs {preview(records[i]['inputs'])}; "
            f"item {found[0]} identified by its answer text"
        )
        return found[0]

    return place
