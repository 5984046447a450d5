"""The import itself: read the study folder, then one step per kind of file, then write.

:func:`import_study` runs the steps in a fixed order inside one store transaction: samples (items
are written at once), run numbering, labels, answers, evaluations (per-run and merged files),
sampled lowest-score files, the experts' scores; then labels, responses and judgments are written.
The order matters: answer files are read before anything that refers to their answers, and the
experts' scores are matched against every answer known by then.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crisiseval.errors import InputError
from crisiseval.importers.paper._judgments import (
    EvaluationImport,
    import_human_scores,
    import_lowest,
)
from crisiseval.importers.paper._layout import SAMPLE_NAMES, RunNumbers, StudyFiles
from crisiseval.importers.paper._matching import Fallback, Sample, SampleSet, Turns, turns_of
from crisiseval.importers.paper._rows import (
    CONSENSUS_RATER,
    JudgmentTable,
    LabelTable,
    ResponseTable,
    classifier_label,
    expert_label,
    human_rater,
    merged_label,
    opt_label,
)
from crisiseval.importers.paper._summary import ImportSummary
from crisiseval.store import RaterId, Store
from crisiseval.store.records import RaterKind

STUDY = "between-help-and-harm (arXiv 2509.24857)"


def import_study(store: Store, study_dir: Path) -> ImportSummary:
    """Load the study's released files under ``study_dir`` into ``store``; idempotent.

    Writes items and the samples ``validation`` (206 items) and ``test`` (2,046), labels
    (classifier runs, majorities, the four experts, their consensus), responses (answer files,
    the sampled lowest-score answers, the answers the experts scored) and judgments (model judges
    per run, judge means, the jury, the experts' scores). Prints nothing.

    Raises :class:`InputError` for a JSON file in an unknown layout, a record missing a field its
    layout needs, an unknown label, or a file whose items are not those of its sample.
    """
    study_dir = Path(study_dir)
    if not study_dir.is_dir():
        raise InputError(f"{study_dir}: not a directory (expected the study's released data)")
    with store.transaction():  # all or nothing: a bad file leaves the store as it was
        files = StudyFiles.load(study_dir)
        samples = import_samples(store, files)
        study = Study(files, samples, RunNumbers.collect(files))
        import_labels(study)
        import_answers(study)
        EvaluationImport(study).run()
        import_lowest(study)
        import_human_scores(study)
        return study.write(store)


@dataclass
class Study:
    """The study's files and samples, and the records collected from them so far."""

    files: StudyFiles
    samples: SampleSet
    runs: RunNumbers
    warnings: list[str] = field(default_factory=list)
    labels: LabelTable = field(init=False)
    responses: ResponseTable = field(init=False)
    judgments: JudgmentTable = field(default_factory=JudgmentTable)
    not_judged: set[tuple[str, str]] = field(default_factory=set)
    """(judge, response or item id) of each answer the study did not judge."""
    lowest: dict[str, set[str]] = field(default_factory=dict)
    """Item id -> the responses the sampled lowest-score files name as its lowest-scored answer."""
    repaired_scores: int = 0
    """Expert scores whose unusable answer field was matched to the item's lowest answer."""

    def __post_init__(self) -> None:
        self.labels = LabelTable(self.warnings)
        self.responses = ResponseTable(self.warnings)

    def sample(self, rel: str, stem: str | None) -> Sample:
        return self.samples.for_file(rel, self.files.records[rel], stem)

    def matched(
        self, rel: str, sample: Sample, *, fallback: Fallback | None = None
    ) -> Iterator[tuple[int, dict[str, Any], str]]:
        """(index, record, item id) of every record of a file (all matched before any is used)."""
        records = self.files.records[rel]
        ids = sample.match(records, rel, fallback=fallback)
        for i, (rec, iid) in enumerate(zip(records, ids, strict=True)):
            yield i, rec, iid

    def write(self, store: Store) -> ImportSummary:
        labels = self.labels.records()
        responses = self.responses.records()
        judgments = self.judgments.records()
        store.upsert_labels(labels)
        store.upsert_responses(responses)
        store.upsert_judgments(judgments)
        return ImportSummary.of(
            study_dir=str(self.files.study_dir),
            files=dict(self.files.layout),
            skipped=self.files.skipped,
            samples={name: len(s.item_ids) for name, s in self.samples.by_name.items()},
            items=len(self.samples.item_ids()),
            labels=labels,
            responses=responses,
            judgments=judgments,
            not_judged=(judge for judge, _ in self.not_judged),
            warnings=self.warnings,
            repaired_scores=self.repaired_scores,
        )


# ---------------------------------------------------------------------------------------------
# samples, labels, answers


def import_samples(store: Store, files: StudyFiles) -> SampleSet:
    """Every sample file: its items (a repeated record is its own item) and the named sample."""
    samples = SampleSet()
    for rel, m in files.of_kind("sample"):
        n = int(m["n"])
        name = SAMPLE_NAMES.get(n, f"n{n}")
        if name in samples.by_name:
            raise InputError(f"{rel}: a second sample file for sample {name!r}")
        records = files.records[rel]
        turns = [_sample_turns(rec, f"{rel}: record {i}") for i, rec in enumerate(records)]
        sample = Sample.build(name, rel, turns)
        samples.add(m["stem"], sample)
        rows: list[tuple[Turns, str | None, str | None]] = []
        for i, (rec, t) in enumerate(zip(records, turns, strict=True)):
            source = rec.get("dataset_id")
            source_label = opt_label(rec.get("label"), f"{rel}: record {i}: label")
            rows.append((t, source if isinstance(source, str) else None, source_label))
        store.add_items(rows, origin="import", item_ids=sample.item_ids)
        recipe = {
            "study": STUDY,
            "file": rel,
            "records": len(records),
            "distinct_turns": len(sample.occurrences),
        }
        store.save_sample(name, sample.item_ids, recipe)
    return samples


def _sample_turns(rec: dict[str, Any], where: str) -> Turns:
    parsed = turns_of(rec["inputs"], where)
    if not isinstance(parsed, tuple) or not parsed:
        raise InputError(f"{where}: `inputs` must be a non-empty list of turns")
    return parsed


def import_labels(study: Study) -> None:
    """Classifier runs, then majorities and the experts' consensus, then each expert."""
    for rel, m in study.files.of_kind("label_run"):
        model = m["model"]
        run = study.runs.model_run(model, m["ts"])
        for i, rec, iid in study.matched(rel, study.sample(rel, m["stem"])):
            study.labels.add(classifier_label(rec, f"{rel}: record {i}", model, run, iid, rel))
    merged: list[tuple[str, str | None, str, RaterKind]] = [
        (rel, m["stem"], str(RaterId.majority(m["model"])), "majority")
        for rel, m in study.files.of_kind("label_majority")
    ]
    merged += [
        (rel, None, CONSENSUS_RATER, "consensus")
        for rel, _m in study.files.of_kind("human_consensus")
    ]
    for rel, stem, rater, kind in merged:
        for i, rec, iid in study.matched(rel, study.sample(rel, stem)):
            study.labels.add(merged_label(rec, f"{rel}: record {i}", rater, kind, iid, rel))
    for rel, m in study.files.of_kind("human_label"):
        rater = human_rater(m["h"])
        for i, rec, iid in study.matched(rel, study.sample(rel, None)):
            study.labels.add(expert_label(rec, f"{rel}: record {i}", rater, iid, rel))


def import_answers(study: Study) -> None:
    for rel, m in study.files.of_kind("answers"):
        respondent = m["respondent"]
        run = study.runs.respondent_run(respondent, m["ts"])
        for _i, rec, iid in study.matched(rel, study.sample(rel, m["stem"])):
            study.responses.add(iid, respondent, run, rec["answer"], rel)
