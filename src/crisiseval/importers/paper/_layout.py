"""The study folder's layout: which file is which, its records, and the runs its names number.

Every JSON file under the study directory must match one of the known layouts (:data:`PATTERNS`)
and carry the fields that layout needs (:data:`FIELDS`); anything else is an
:class:`~crisiseval.errors.InputError` naming the file, never a silent skip. Non-JSON files (the
rubric ``protocol.csv``, a CSV copy of a JSON file) are listed as skipped.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crisiseval.errors import InputError
from crisiseval.importers.paper._matching import preview
from crisiseval.textio import read_json

Records = list[dict[str, Any]]

SAMPLE_NAMES: dict[int, str] = {200: "validation", 2046: "test"}
"""Sample name by the ``n`` in ``processed/sampled_dataset_n_<n>_*.json``; others: ``n<n>``."""

_TS = r"\d{8}-\d{6}"
_EVAL_NAME = (
    r"(?P<judge>.+?)-evaluation_(?P<respondent>.+?)-answers-sampled_dataset_(?P<stem>.+)"
    rf"-(?P<answer_ts>{_TS})"
)

PATTERNS: dict[str, re.Pattern[str]] = {
    "sample": re.compile(r"processed/sampled_dataset_(?P<stem>n_(?P<n>\d+)_.+)\.json"),
    "label_run": re.compile(
        rf"llm_label/(?P<model>.+?)-labeled-sampled_dataset_(?P<stem>.+)-(?P<ts>{_TS})\.json"
    ),
    "label_majority": re.compile(
        r"llm_label/(?P<model>.+?)-labeled-sampled_dataset_(?P<stem>.+)-merged[-_]labels\.json"
    ),
    "human_label": re.compile(r"human_label/H(?P<h>\d+)_labell?ed_[^/]+\.json"),
    "human_consensus": re.compile(r"human_label/human-labell?ed-[^/]+merged[-_]labels\.json"),
    "human_scores": re.compile(r"human_label/H(?P<h>\d+)_scores_[^/]+\.json"),
    "answers": re.compile(
        rf"llm_answer/(?P<respondent>.+?)-answers-sampled_dataset_(?P<stem>.+)-(?P<ts>{_TS})\.json"
    ),
    "eval_run": re.compile(rf"llm_evaluator/[^/]+/n_\d+/{_EVAL_NAME}_(?P<judge_ts>{_TS})\.json"),
    "eval_merged": re.compile(rf"llm_evaluator/[^/]+/n_\d+/merged/{_EVAL_NAME}_merged\.json"),
    "lowest": re.compile(
        r"llm_evaluator/sampled/sampled_lowest_scores_n(?P<n>\d+)(?:__(?P<variant>[^/]+))?\.json"
    ),
}
"""Known JSON layouts: kind -> pattern of the path relative to the study directory."""

_SOURCE_NAME = re.compile(rf"{_EVAL_NAME}_merged\.json")

FIELDS: dict[str, tuple[str, ...]] = {
    "sample": ("inputs",),
    "label_run": ("inputs", "label"),
    "label_majority": ("inputs", "label", "all_labels"),
    "human_label": ("inputs", "label"),
    "human_consensus": ("inputs", "label", "all_labels"),
    "human_scores": ("inputs", "answer", "label", "evaluation"),
    "answers": ("inputs", "answer"),
    "eval_run": ("inputs", "label"),
    "eval_merged": ("inputs", "label", "evals"),
    "lowest_main": ("inputs", "label", "answer", "evaluation", "sampled_from"),
    "lowest_judge": ("inputs", "label", "answer", "evaluation", "source_file"),
    "lowest_jury": ("inputs", "label", "answer", "evaluation", "llm_evaluations"),
}
"""Fields every record of a layout must carry (a ``lowest`` file has one of three layouts)."""

LOWEST_SOURCE_KEY: dict[str, str] = {"lowest_main": "sampled_from", "lowest_judge": "source_file"}
"""The field naming the merged evaluation file a lowest-score record was drawn from."""

_KNOWN_OTHER_FILES: dict[str, str] = {
    "llm_evaluator/protocol.csv": "the study's rubric (read by crisiseval.taxonomy.load_rubric)",
}


def classify_files(
    study_dir: Path,
) -> tuple[dict[str, tuple[str, re.Match[str]]], dict[str, str]]:
    """(relative path -> (kind, match)) of every JSON file, and (relative path -> why) of every
    other file, which is not read."""
    files: dict[str, tuple[str, re.Match[str]]] = {}
    skipped: dict[str, str] = {}
    for path in sorted(study_dir.rglob("*")):
        if not path.is_file():
            continue
        rel = path.relative_to(study_dir).as_posix()
        if any(part.startswith(".") for part in Path(rel).parts):
            continue
        if path.suffix.lower() != ".json":
            if rel in _KNOWN_OTHER_FILES:
                skipped[rel] = _KNOWN_OTHER_FILES[rel]
            elif path.with_suffix(".json").exists():
                skipped[rel] = f"a {path.suffix} copy of {path.with_suffix('.json').name}"
            else:
                skipped[rel] = "not a JSON file"
            continue
        for kind, pattern in PATTERNS.items():
            m = pattern.fullmatch(rel)
            if m is not None:
                files[rel] = (kind, m)
                break
        else:
            raise InputError(
                f"{rel}: unknown layout: not one of the study's JSON files (expected "
                "processed/sampled_dataset_n_<n>_*.json, llm_label/<model>-labeled-*.json, "
                "human_label/H<k>_labeled_*.json, human_label/H<k>_scores_*.json, "
                "llm_answer/<model>-answers-*.json, llm_evaluator/<judge>/n_<n>/[merged/]"
                "<judge>-evaluation_*.json or llm_evaluator/sampled/sampled_lowest_scores_*.json)"
            )
    return files, skipped


def load_records(path: Path, rel: str) -> Records:
    data = read_json(path)
    if not isinstance(data, list) or not data or not all(isinstance(r, dict) for r in data):
        got = type(data).__name__ if not isinstance(data, list) else "an empty or mixed list"
        raise InputError(f"{rel}: expected a non-empty JSON list of records (objects), got {got}")
    return data


def require_fields(records: Records, rel: str, layout: str) -> None:
    fields = FIELDS[layout]
    for i, rec in enumerate(records):
        missing = [f for f in fields if f not in rec]
        if missing:
            raise InputError(
                f"{rel}: record {i} lacks {', '.join(missing)} (a {layout} file needs "
                f"{', '.join(fields)})"
            )


def lowest_layout(records: Records, rel: str) -> str:
    """Which of the three sampled lowest-score layouts a file has (by its first record)."""
    first = records[0]
    for key, layout in (
        ("sampled_from", "lowest_main"),
        ("source_file", "lowest_judge"),
        ("llm_evaluations", "lowest_jury"),
    ):
        if key in first:
            return layout
    raise InputError(
        f"{rel}: unknown layout: a sampled lowest-score file needs `sampled_from`, `source_file` "
        "or `llm_evaluations` in its records"
    )


def source_name(value: object, where: str) -> re.Match[str]:
    """The parts (judge, respondent, stem, answer_ts) of a merged evaluation file name."""
    m = _SOURCE_NAME.fullmatch(value) if isinstance(value, str) else None
    if m is None:
        raise InputError(
            f"{where}: expected a merged evaluation file name "
            f"(<judge>-evaluation_<respondent>-answers-sampled_dataset_*-<timestamp>_merged"
            f".json), got {preview(value)}"
        )
    return m


@dataclass
class StudyFiles:
    """The study folder read: every JSON file's kind, name parts, layout and records."""

    study_dir: Path
    kinds: dict[str, tuple[str, re.Match[str]]]
    """Relative path -> (kind, match of its name against ``PATTERNS[kind]``)."""
    skipped: dict[str, str]
    records: dict[str, Records] = field(default_factory=dict)
    layout: dict[str, str] = field(default_factory=dict)
    """Relative path -> layout: the kind, or for a ``lowest`` file which of its three layouts."""

    @classmethod
    def load(cls, study_dir: Path) -> StudyFiles:
        kinds, skipped = classify_files(study_dir)
        files = cls(study_dir, kinds, skipped)
        if not files.of_kind("sample"):
            raise InputError(
                f"{study_dir}: no sample file (expected processed/sampled_dataset_n_<n>_*.json)"
            )
        for rel, (kind, _m) in sorted(kinds.items()):
            records = load_records(study_dir / rel, rel)
            layout = lowest_layout(records, rel) if kind == "lowest" else kind
            require_fields(records, rel, layout)
            files.records[rel] = records
            files.layout[rel] = layout
        return files

    def of_kind(self, *kinds: str) -> list[tuple[str, re.Match[str]]]:
        """(relative path, name match) of the files of these kinds, by path."""
        return [(rel, m) for rel, (kind, m) in sorted(self.kinds.items()) if kind in kinds]

    def kind(self, rel: str) -> str:
        return self.kinds[rel][0]


@dataclass
class RunNumbers:
    """Run indices (from 1) by timestamp: per classifier over all samples, per respondent over
    every answer timestamp seen (answer files, evaluation file names, lowest-score sources)."""

    model_runs: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    respondent_runs: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))

    @classmethod
    def collect(cls, files: StudyFiles) -> RunNumbers:
        runs = cls()
        for _rel, m in files.of_kind("label_run"):
            runs.model_runs[m["model"]].append(m["ts"])
        for stamps in runs.model_runs.values():
            stamps.sort()
        for _rel, m in files.of_kind("answers"):
            runs.respondent_runs[m["respondent"]].add(m["ts"])
        for _rel, m in files.of_kind("eval_run", "eval_merged"):
            runs.respondent_runs[m["respondent"]].add(m["answer_ts"])
        for rel, _m in files.of_kind("lowest"):
            key = LOWEST_SOURCE_KEY.get(files.layout[rel])
            if key is None:
                continue
            for i, rec in enumerate(files.records[rel]):
                src = source_name(rec[key], f"{rel}: record {i}: {key}")
                runs.respondent_runs[src["respondent"]].add(src["answer_ts"])
        return runs

    def model_run(self, model: str, ts: str) -> int:
        return self.model_runs[model].index(ts) + 1

    def respondent_run(self, respondent: str, ts: str) -> int:
        return sorted(self.respondent_runs[respondent]).index(ts) + 1
