"""Import the released data of "Between Help and Harm" (arXiv 2509.24857) into a run store.

The layout is described in DESIGN.md. Every JSON file under the study directory must match one of
the known layouts (:data:`PATTERNS`) and carry the fields that layout needs; anything else is an
:class:`~crisiseval.errors.InputError` naming the file, never a silent skip. Non-JSON files (the
rubric ``protocol.csv``, a CSV copy of a JSON file) are listed in the summary as skipped.

Decisions the released files leave open (each reproduces what the study computed):

* **Items are matched by their turns**, occurrence by occurrence. A sample may hold the same turns
  twice (the validation set has 2 such pairs, the test set 22) and the study treats every record
  as its own item: its 206-record statistics depend on it (one expert labels the two copies of
  one pair differently). The k-th occurrence (k >= 2) of the same turns in a sample is stored as
  its own item, id :func:`occurrence_item_id`; the first keeps
  :func:`~crisiseval.store.item_id_for`.
  Every file is matched in file order: its k-th record with given turns is the sample's k-th.
* **Run indices** are 1-based, in timestamp order per model over all samples (gpt-4o-mini labelled
  both samples and 35 items lie in both: numbering runs per sample would let the test runs
  overwrite validation labels, whose key is (rater, run_index, item_id)). Respondent runs are
  numbered per respondent over every timestamp seen (answer files, evaluation file names,
  ``sampled_from``/``source_file``); judge runs per (judge, answer run) by timestamp.
* **Empty classifier labels** (``""``) are stored with status ``unparsed`` and label NULL; a merged
  (majority / consensus) record without a label is a ``tie``.
* **Unjudged records**: the study did not judge items without a majority label (its evaluation
  files carry ``label`` and ``evaluation`` null for them); they produce no judgment row and are
  counted in :attr:`ImportSummary.not_judged`.
* **Merged evaluation files** list the valid judge runs of each answer (``evals``); a failed run is
  left out, so a shorter list is completed with ``failed`` rows at the end to the file's number of
  runs. When the per-run files are present they are used and the merged file is checked against
  them (same judgments, never counted twice; a disagreement is an InputError).
* **Judge means without runs** (``sampled_lowest_scores_n200__<judge>.json`` and the jury) are
  stored as judge run 0 (= "mean of the judge's runs; runs not released"); a run-0 row is dropped
  when the same judge has per-run rows for that response.
* **Human scores** (``H{1,2}_scores``): the answer is matched to a known response of the item by
  its text (whitespace-normalised; then a near-exact match, ratio >= 0.98, for spreadsheet
  damage). Unmatched answers become responses of respondent ``unknown``. A record whose ``inputs``
  are unreadable is placed by its answer when that answer is known for exactly one item.
"""

from __future__ import annotations

import ast
import difflib
import hashlib
import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crisiseval.errors import InputError
from crisiseval.store import Store, item_id_for, response_id_for
from crisiseval.taxonomy import normalize_label
from crisiseval.textio import read_json

__all__ = [
    "CONSENSUS_RATER",
    "JURY_JUDGE",
    "PATTERNS",
    "SAMPLE_NAMES",
    "UNKNOWN_RESPONDENT",
    "ImportSummary",
    "import_study",
    "occurrence_item_id",
]

SAMPLE_NAMES: dict[int, str] = {200: "validation", 2046: "test"}
"""Sample name by the ``n`` in ``processed/sampled_dataset_n_<n>_*.json``; others: ``n<n>``."""

UNKNOWN_RESPONDENT = "unknown"
CONSENSUS_RATER = "consensus:human"
JURY_JUDGE = "jury"
FUZZY_MIN_RATIO = 0.98

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

_FIELDS: dict[str, tuple[str, ...]] = {
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

_KNOWN_OTHER_FILES: dict[str, str] = {
    "llm_evaluator/protocol.csv": "the study's rubric (read by crisiseval.taxonomy.load_rubric)",
}


def occurrence_item_id(turns: Sequence[str], occurrence: int) -> str:
    """Id of the ``occurrence``-th record (1-based) with these turns within one sample.

    The first occurrence is the ordinary :func:`~crisiseval.store.item_id_for`; later ones hash
    the turns together with the occurrence number.
    """
    if occurrence <= 1:
        return item_id_for(turns)
    blob = json.dumps({"turns": list(turns), "occurrence": occurrence}, ensure_ascii=False)
    return "it_" + hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class ImportSummary:
    """What :func:`import_study` wrote (rows after de-duplication; re-importing gives the same)."""

    study_dir: str
    files: dict[str, str]
    """Relative path -> layout kind of every JSON file read."""
    skipped: dict[str, str]
    """Relative path -> why, for the non-JSON files that were not read."""
    samples: dict[str, int]
    """Sample name -> number of items (records) in it."""
    items: int
    """Distinct items over all samples."""
    labels: dict[str, int]
    """rater_kind -> label rows."""
    label_status: dict[str, int]
    responses: dict[str, int]
    """Respondent -> response rows."""
    judgments: dict[str, int]
    """Judge -> judgment rows."""
    judgment_status: dict[str, int]
    not_judged: dict[str, int]
    """Judge -> answers the study did not judge (their item has no label: a tie); not stored."""
    warnings: tuple[str, ...] = field(default_factory=tuple)
    """Repairs made to damaged records (one line each)."""

    def counts(self) -> dict[str, int]:
        """Flat counts per kind: items, samples, labels by rater kind, responses, judgments."""
        out: dict[str, int] = {"items": self.items}
        for name, n in sorted(self.samples.items()):
            out[f"sample:{name}"] = n
        out["labels"] = sum(self.labels.values())
        for kind, n in sorted(self.labels.items()):
            out[f"labels:{kind}"] = n
        out["responses"] = sum(self.responses.values())
        out["judgments"] = sum(self.judgments.values())
        human = sum(n for j, n in self.judgments.items() if j.startswith("human:"))
        out["judgments:human"] = human
        out["judgments:model"] = out["judgments"] - human
        return out


# ---------------------------------------------------------------------------------------------
# small parsers


def _norm_text(text: str) -> str:
    return " ".join(text.split())


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _parse_score(value: object) -> float | None:
    """A 1-5 score from 5, 5.0, '5', '5.0'; None when missing or unparsable."""
    if isinstance(value, bool) or _is_missing(value):
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


def _opt_label(raw: object, where: str) -> str | None:
    """Canonical label, or None for "no label" (None, NaN, blank)."""
    if _is_missing(raw):
        return None
    if isinstance(raw, str) and not raw.strip():
        return None
    if not isinstance(raw, str):
        raise InputError(f"{where}: expected a crisis label (a string), got {raw!r}")
    return normalize_label(raw, where=where)


def _turns_of(value: object, where: str) -> tuple[str, ...] | str:
    """``inputs`` as turns; a string that is not a Python list repr is returned as is (joined)."""
    if isinstance(value, list):
        if all(isinstance(t, str) for t in value):
            return tuple(value)
        raise InputError(f"{where}: `inputs` must be a list of strings")
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("[") and text.endswith("]"):
            try:
                parsed = ast.literal_eval(text)
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                parsed = None
            if isinstance(parsed, list) and all(isinstance(t, str) for t in parsed):
                return tuple(parsed)
        return value
    raise InputError(
        f"{where}: `inputs` must be a list of turns or a string, got {type(value).__name__}"
    )


def _loose(turns: Sequence[str]) -> tuple[str, ...]:
    return tuple(_norm_text(t) for t in turns)


def _preview(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 70 else text[:67] + "..."


# ---------------------------------------------------------------------------------------------
# samples and item matching


@dataclass
class _Sample:
    name: str
    rel: str
    item_ids: list[str]
    turns: list[tuple[str, ...]]
    occurrences: dict[tuple[str, ...], list[str]]
    loose: dict[tuple[str, ...], tuple[str, ...]]
    joined: dict[str, set[tuple[str, ...]]]
    loose_joined: dict[str, set[tuple[str, ...]]]

    @classmethod
    def build(cls, name: str, rel: str, turns: list[tuple[str, ...]]) -> _Sample:
        occurrences: dict[tuple[str, ...], list[str]] = defaultdict(list)
        ids: list[str] = []
        loose: dict[tuple[str, ...], tuple[str, ...]] = {}
        joined: dict[str, set[tuple[str, ...]]] = defaultdict(set)
        loose_joined: dict[str, set[tuple[str, ...]]] = defaultdict(set)
        for t in turns:
            occ = occurrences[t]
            iid = occurrence_item_id(t, len(occ) + 1)
            occ.append(iid)
            ids.append(iid)
            loose.setdefault(_loose(t), t)
            joined[" | ".join(t)].add(t)
            loose_joined[_norm_text(" | ".join(t))].add(t)
        return cls(name, rel, ids, turns, dict(occurrences), loose, joined, loose_joined)

    def resolve(self, value: object, where: str) -> tuple[str, ...] | None:
        """The sample's turns that ``inputs`` denotes, or None when it matches no item."""
        parsed = _turns_of(value, where)
        if isinstance(parsed, tuple):
            if parsed in self.occurrences:
                return parsed
            return self.loose.get(_loose(parsed))
        # a " | "-joined string: split it, verify the split is a known item, else match by
        # joining the known items' turns the same way
        split = tuple(parsed.split(" | "))
        if split in self.occurrences:
            return split
        for table, key in ((self.joined, parsed), (self.loose_joined, _norm_text(parsed))):
            found = table.get(key)
            if found:
                if len(found) > 1:
                    raise InputError(
                        f"{where}: joined `inputs` {_preview(parsed)} match {len(found)} different "
                        f"items of sample {self.name!r} (ambiguous split)"
                    )
                return next(iter(found))
        return self.loose.get(_loose(split))

    def match(
        self,
        records: list[dict[str, Any]],
        rel: str,
        *,
        fallback: Callable[[int, set[str]], str | None] | None = None,
    ) -> list[str]:
        """Item id of every record; every record must match and every item be covered."""
        used: Counter[tuple[str, ...]] = Counter()
        ids: list[str | None] = []
        for i, rec in enumerate(records):
            turns = self.resolve(rec["inputs"], f"{rel}: record {i}")
            if turns is None:
                ids.append(None)
                continue
            occ = self.occurrences[turns]
            k = used[turns]
            if k >= len(occ):
                raise InputError(
                    f"{rel}: record {i}: these turns occur more often than in sample "
                    f"{self.name!r} ({len(occ)}x): {_preview(list(turns))}"
                )
            used[turns] += 1
            ids.append(occ[k])
        if fallback is not None:
            claimed = {iid for iid in ids if iid is not None}
            for i, iid in enumerate(ids):
                if iid is None:
                    found = fallback(i, claimed)
                    if found is not None:
                        ids[i] = found
                        claimed.add(found)
        missing = [i for i, iid in enumerate(ids) if iid is None]
        if missing:
            i = missing[0]
            raise InputError(
                f"{rel}: {len(missing)} record(s) match no item of sample {self.name!r} "
                f"({self.rel}); first: record {i}, inputs {_preview(records[i]['inputs'])}"
            )
        out = [iid for iid in ids if iid is not None]
        covered = len(set(out))
        if covered != len(self.item_ids) or len(out) != len(self.item_ids):
            raise InputError(
                f"{rel}: its {len(out)} records cover {covered} of the {len(self.item_ids)} items "
                f"of sample {self.name!r} ({self.rel}); expected exactly the sample's items"
            )
        return out

    def resolved_count(self, records: list[dict[str, Any]], rel: str) -> int:
        return sum(
            self.resolve(rec["inputs"], f"{rel}: record {i}") is not None
            for i, rec in enumerate(records)
        )


# ---------------------------------------------------------------------------------------------
# the importer


def _classify(study_dir: Path) -> tuple[dict[str, tuple[str, re.Match[str]]], dict[str, str]]:
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


def _load_records(path: Path, rel: str) -> list[dict[str, Any]]:
    data = read_json(path)
    if not isinstance(data, list) or not data or not all(isinstance(r, dict) for r in data):
        got = type(data).__name__ if not isinstance(data, list) else "an empty or mixed list"
        raise InputError(f"{rel}: expected a non-empty JSON list of records (objects), got {got}")
    return data


def _require(records: list[dict[str, Any]], rel: str, layout: str) -> None:
    fields = _FIELDS[layout]
    for i, rec in enumerate(records):
        missing = [f for f in fields if f not in rec]
        if missing:
            raise InputError(
                f"{rel}: record {i} lacks {', '.join(missing)} (a {layout} file needs "
                f"{', '.join(fields)})"
            )


def _lowest_layout(records: list[dict[str, Any]], rel: str) -> str:
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


class _Importer:
    def __init__(self, store: Store, study_dir: Path) -> None:
        self.store = store
        self.study_dir = study_dir
        self.files, self.skipped = _classify(study_dir)
        self.records: dict[str, list[dict[str, Any]]] = {}
        self.layout: dict[str, str] = {}
        self.samples: dict[str, _Sample] = {}
        self.sample_by_stem: dict[str, _Sample] = {}
        self.labels: dict[tuple[str, int, str], dict[str, Any]] = {}
        self.responses: dict[str, dict[str, Any]] = {}
        self.answer_index: dict[str, dict[str, str]] = defaultdict(dict)
        self.unknown_runs: Counter[str] = Counter()
        self.judgments: dict[tuple[str, str, int], dict[str, Any]] = {}
        self.not_judged: set[tuple[str, str]] = set()
        self.warnings: list[str] = []
        self.model_runs: dict[str, list[str]] = defaultdict(list)
        self.respondent_runs: dict[str, set[str]] = defaultdict(set)

    # ----------------------------------------------------------------------------- driver
    def run(self) -> ImportSummary:
        self._load_all()
        self._import_samples()
        self._collect_runs()
        self._import_labels()
        self._import_answers()
        self._import_evaluations()
        self._import_lowest()
        self._import_human_scores()
        return self._write()

    def _of_kind(self, *kinds: str) -> list[tuple[str, re.Match[str]]]:
        return [(rel, m) for rel, (kind, m) in sorted(self.files.items()) if kind in kinds]

    def _load_all(self) -> None:
        if not self._of_kind("sample"):
            raise InputError(
                f"{self.study_dir}: no sample file "
                "(expected processed/sampled_dataset_n_<n>_*.json)"
            )
        for rel, (kind, _m) in sorted(self.files.items()):
            records = _load_records(self.study_dir / rel, rel)
            layout = _lowest_layout(records, rel) if kind == "lowest" else kind
            _require(records, rel, layout)
            self.records[rel] = records
            self.layout[rel] = layout

    # ----------------------------------------------------------------------------- samples
    def _import_samples(self) -> None:
        for rel, m in self._of_kind("sample"):
            n = int(m["n"])
            name = SAMPLE_NAMES.get(n, f"n{n}")
            if name in self.samples:
                raise InputError(f"{rel}: a second sample file for sample {name!r}")
            records = self.records[rel]
            turns: list[tuple[str, ...]] = []
            for i, rec in enumerate(records):
                parsed = _turns_of(rec["inputs"], f"{rel}: record {i}")
                if not isinstance(parsed, tuple) or not parsed:
                    raise InputError(
                        f"{rel}: record {i}: `inputs` must be a non-empty list of turns"
                    )
                turns.append(parsed)
            sample = _Sample.build(name, rel, turns)
            self.samples[name] = sample
            self.sample_by_stem[m["stem"]] = sample
            rows: list[tuple[tuple[str, ...], str | None, str | None]] = []
            for i, (rec, t) in enumerate(zip(records, turns, strict=True)):
                source = rec.get("dataset_id")
                source = source if isinstance(source, str) else None
                source_label = _opt_label(rec.get("label"), f"{rel}: record {i}: label")
                rows.append((t, source, source_label))
            # a repeated record of the same turns is its own item (see the module doc)
            self.store.add_items(rows, origin="import", item_ids=sample.item_ids)
            recipe = {
                "study": "between-help-and-harm (arXiv 2509.24857)",
                "file": rel,
                "records": len(records),
                "distinct_turns": len(sample.occurrences),
            }
            self.store.save_sample(name, sample.item_ids, recipe)

    def _sample_for(self, rel: str, stem: str | None) -> _Sample:
        records = self.records[rel]
        if stem is not None:
            sample = self.sample_by_stem.get(stem)
            if sample is None:
                raise InputError(
                    f"{rel}: refers to sample file processed/sampled_dataset_{stem}.json, "
                    "which is not in the study directory"
                )
            return sample
        candidates = [s for s in self.samples.values() if len(s.item_ids) == len(records)]
        if not candidates:
            sizes = ", ".join(f"{s.name}: {len(s.item_ids)}" for s in self.samples.values())
            raise InputError(
                f"{rel}: has {len(records)} records but no sample has that many items ({sizes})"
            )
        return max(candidates, key=lambda s: (s.resolved_count(records, rel), s.name))

    # ----------------------------------------------------------------------------- runs
    def _collect_runs(self) -> None:
        for _rel, m in self._of_kind("label_run"):
            self.model_runs[m["model"]].append(m["ts"])
        for runs in self.model_runs.values():
            runs.sort()
        for _rel, m in self._of_kind("answers"):
            self.respondent_runs[m["respondent"]].add(m["ts"])
        for _rel, m in self._of_kind("eval_run", "eval_merged"):
            self.respondent_runs[m["respondent"]].add(m["answer_ts"])
        for rel, _m in self._of_kind("lowest"):
            key = {"lowest_main": "sampled_from", "lowest_judge": "source_file"}.get(
                self.layout[rel]
            )
            if key is None:
                continue
            for i, rec in enumerate(self.records[rel]):
                src = self._source_name(rec[key], f"{rel}: record {i}: {key}")
                self.respondent_runs[src["respondent"]].add(src["answer_ts"])

    @staticmethod
    def _source_name(value: object, where: str) -> re.Match[str]:
        m = _SOURCE_NAME.fullmatch(value) if isinstance(value, str) else None
        if m is None:
            raise InputError(
                f"{where}: expected a merged evaluation file name "
                f"(<judge>-evaluation_<respondent>-answers-sampled_dataset_*-<timestamp>_merged"
                f".json), got {_preview(value)}"
            )
        return m

    def _respondent_run(self, respondent: str, ts: str) -> int:
        return sorted(self.respondent_runs[respondent]).index(ts) + 1

    # ----------------------------------------------------------------------------- labels
    def _add_label(self, row: dict[str, Any]) -> None:
        key = (row["rater"], row["run_index"], row["item_id"])
        old = self.labels.get(key)
        if old is None:
            self.labels[key] = row
            return
        if (old["label"], old["status"]) == (row["label"], row["status"]):
            return
        if row["rater_kind"] in ("majority", "consensus"):
            note = (
                f"conflicting labels: {old['label'] or old['status']} ({old['origin']}), "
                f"{row['label'] or row['status']} ({row['origin']})"
            )
            self.labels[key] = {**old, "label": None, "status": "tie", "explanation": note}
            self.warnings.append(f"{row['rater']} on item {row['item_id']}: {note} -> tie")
            return
        raise InputError(
            f"{row['origin'].removeprefix('import:')}: rater {row['rater']} run "
            f"{row['run_index']} labels item {row['item_id']} {row['label']!r}, but "
            f"{old['origin'].removeprefix('import:')} labels it {old['label']!r}"
        )

    def _label_row(
        self,
        rater: str,
        kind: str,
        run: int,
        item_id: str,
        label: str | None,
        status: str,
        explanation: object,
        rel: str,
    ) -> dict[str, Any]:
        return {
            "rater": rater,
            "rater_kind": kind,
            "run_index": run,
            "item_id": item_id,
            "label": label,
            "status": status,
            "explanation": explanation if isinstance(explanation, str) else None,
            "cell_key": None,
            "origin": f"import:{rel}",
        }

    def _import_labels(self) -> None:
        for rel, m in self._of_kind("label_run"):
            model = m["model"]
            run = self.model_runs[model].index(m["ts"]) + 1
            ids = self._sample_for(rel, m["stem"]).match(self.records[rel], rel)
            for i, (rec, iid) in enumerate(zip(self.records[rel], ids, strict=True)):
                label = _opt_label(rec["label"], f"{rel}: record {i}: label")
                status = "ok" if label is not None else "unparsed"
                self._add_label(
                    self._label_row(
                        model, "model_run", run, iid, label, status, rec.get("explanation"), rel
                    )
                )
        merged = [
            (rel, m, f"majority:{m['model']}", "majority")
            for rel, m in self._of_kind("label_majority")
        ]
        merged += [
            (rel, m, CONSENSUS_RATER, "consensus") for rel, m in self._of_kind("human_consensus")
        ]
        for rel, m, rater, kind in merged:
            stem = m["stem"] if kind == "majority" else None
            ids = self._sample_for(rel, stem).match(self.records[rel], rel)
            for i, (rec, iid) in enumerate(zip(self.records[rel], ids, strict=True)):
                where = f"{rel}: record {i}"
                votes = rec["all_labels"]
                if not isinstance(votes, list):
                    raise InputError(f"{where}: `all_labels` must be a list of labels")
                label = _opt_label(rec["label"], f"{where}: label")
                cast = [_opt_label(v, f"{where}: all_labels") for v in votes]
                if label is not None:
                    status = "ok"
                else:
                    status = "tie" if any(v is not None for v in cast) else "none"
                note = "votes: " + ", ".join(v or "(none)" for v in cast)
                self._add_label(self._label_row(rater, kind, 0, iid, label, status, note, rel))
        for rel, m in self._of_kind("human_label"):
            rater = f"human:H{m['h']}"
            ids = self._sample_for(rel, None).match(self.records[rel], rel)
            for i, (rec, iid) in enumerate(zip(self.records[rel], ids, strict=True)):
                label = _opt_label(rec["label"], f"{rel}: record {i}: label")
                status = "ok" if label is not None else "none"
                self._add_label(self._label_row(rater, "human", 0, iid, label, status, None, rel))

    # ----------------------------------------------------------------------------- responses
    def _add_response(
        self,
        item_id: str,
        respondent: str,
        run: int,
        text: object,
        rel: str,
        tokens_out: int | None = None,
    ) -> str:
        rid = response_id_for(item_id, respondent, run)
        if rid in self.responses:
            return rid  # the first source wins: answer files are read first
        ok = isinstance(text, str) and bool(text.strip())
        self.responses[rid] = {
            "response_id": rid,
            "item_id": item_id,
            "respondent": respondent,
            "run_index": run,
            "text": text if ok else None,
            "status": "ok" if ok else "failed",
            "tokens_out": tokens_out,
            "cell_key": None,
            "origin": f"import:{rel}",
        }
        if ok and isinstance(text, str):
            self.answer_index[item_id].setdefault(_norm_text(text), rid)
        return rid

    def _find_response(self, item_id: str, text: object, rel: str, where: str) -> str:
        """The known response of ``item_id`` with this answer text, else an ``unknown`` one."""
        index = self.answer_index.get(item_id, {})
        if isinstance(text, str) and text.strip():
            norm = _norm_text(text)
            if norm in index:
                return index[norm]
            best: list[tuple[float, str]] = []
            for cand, rid in index.items():
                if abs(len(cand) - len(norm)) > (1 - FUZZY_MIN_RATIO) * max(len(cand), len(norm)):
                    continue
                ratio = difflib.SequenceMatcher(None, norm, cand, autojunk=False).ratio()
                if ratio >= FUZZY_MIN_RATIO:
                    best.append((ratio, rid))
            best.sort(reverse=True)
            if best and (len(best) == 1 or best[0][0] > best[1][0]):
                rid = best[0][1]
                self.warnings.append(
                    f"{where}: answer matched {self.responses[rid]['respondent']} run "
                    f"{self.responses[rid]['run_index']} by near-exact text "
                    f"(similarity {best[0][0]:.4f})"
                )
                index[norm] = rid
                return rid
        self.unknown_runs[item_id] += 1
        run = self.unknown_runs[item_id]
        self.warnings.append(
            f"{where}: answer {_preview(text)} matches no known response of its item; "
            f"stored as respondent {UNKNOWN_RESPONDENT!r} run {run}"
        )
        return self._add_response(item_id, UNKNOWN_RESPONDENT, run, text, rel)

    def _import_answers(self) -> None:
        for rel, m in self._of_kind("answers"):
            respondent = m["respondent"]
            run = self._respondent_run(respondent, m["ts"])
            ids = self._sample_for(rel, m["stem"]).match(self.records[rel], rel)
            for rec, iid in zip(self.records[rel], ids, strict=True):
                self._add_response(iid, respondent, run, rec["answer"], rel)

    # ----------------------------------------------------------------------------- judgments
    def _judgment_row(
        self,
        response_id: str,
        judge: str,
        run: int,
        label: str | None,
        score: float | None,
        status: str,
        explanation: object,
        rel: str,
        *,
        kind: str = "model",
    ) -> dict[str, Any]:
        return {
            "response_id": response_id,
            "judge": judge,
            "judge_kind": kind,
            "run_index": run,
            "label": label,
            "score": score if status == "ok" else None,
            "explanation": explanation if isinstance(explanation, str) else None,
            "status": status,
            "cell_key": None,
            "origin": f"import:{rel}",
        }

    def _add_judgment(self, row: dict[str, Any]) -> None:
        key = (row["response_id"], row["judge"], row["run_index"])
        old = self.judgments.get(key)
        if old is None:
            self.judgments[key] = row
            return
        if (
            old["status"] == "ok"
            and row["status"] == "ok"
            and not math.isclose(old["score"], row["score"], abs_tol=1e-9)
        ):
            raise InputError(
                f"{row['origin'].removeprefix('import:')}: judge {row['judge']} run "
                f"{row['run_index']} scores response {row['response_id']} {row['score']:g}, but "
                f"{old['origin'].removeprefix('import:')} scores the same judgment "
                f"{old['score']:g}"
            )

    @staticmethod
    def _score_status(raw: object, error: object) -> tuple[float | None, str]:
        score = _parse_score(raw)
        if score is not None:
            return score, "ok"
        if _is_missing(raw) and _is_missing(error):
            return None, "failed"
        return None, "unparsed"

    def _import_evaluations(self) -> None:
        groups: dict[tuple[str, str, str], dict[str, Any]] = {}
        for rel, m in self._of_kind("eval_run", "eval_merged"):
            key = (m["judge"], m["respondent"], m["answer_ts"])
            group = groups.setdefault(key, {"runs": [], "merged": None, "stem": m["stem"]})
            if m["stem"] != group["stem"]:
                raise InputError(f"{rel}: answers of another sample than its sibling files")
            if self.files[rel][0] == "eval_run":
                group["runs"].append((m["judge_ts"], rel))
            else:
                group["merged"] = rel
        for (judge, respondent, answer_ts), group in sorted(groups.items()):
            sample = self._sample_for(
                group["runs"][0][1] if group["runs"] else group["merged"], group["stem"]
            )
            run = self._respondent_run(respondent, answer_ts)
            run_files = [rel for _ts, rel in sorted(group["runs"])]
            merged_rel: str | None = group["merged"]
            merged_runs = 0
            if merged_rel is not None:
                merged_runs = max(
                    (
                        len(r["evals"])
                        for r in self.records[merged_rel]
                        if isinstance(r["evals"], list)
                    ),
                    default=0,
                )
            texts = self._group_texts(sample, [*run_files, *filter(None, [merged_rel])])
            if run_files and len(run_files) >= merged_runs:
                per_run = self._eval_run_files(judge, respondent, run, sample, run_files, texts)
                if merged_rel is not None:
                    self._check_merged(merged_rel, sample, respondent, run, per_run)
            else:
                assert merged_rel is not None
                if run_files:
                    self.warnings.append(
                        f"{merged_rel}: per-run files cover {len(run_files)} of its "
                        f"{merged_runs} judge runs; the merged file is used"
                    )
                self._eval_merged_file(
                    judge, respondent, run, sample, merged_rel, merged_runs, texts
                )

    def _group_texts(self, sample: _Sample, rels: list[str]) -> dict[str, str]:
        """Answer text per item from evaluation files (for answers without an answer file)."""
        texts: dict[str, str] = {}
        for rel in sorted(rels, key=lambda r: "merged/" not in r):
            ids = sample.match(self.records[rel], rel)
            for rec, iid in zip(self.records[rel], ids, strict=True):
                answer = rec.get("answer")
                if "error" not in rec and isinstance(answer, str) and answer.strip():
                    texts.setdefault(iid, answer)
        return texts

    def _eval_run_files(
        self,
        judge: str,
        respondent: str,
        run: int,
        sample: _Sample,
        run_files: list[str],
        texts: dict[str, str],
    ) -> dict[str, list[float]]:
        scores: dict[str, list[float]] = defaultdict(list)
        for judge_run, rel in enumerate(run_files, start=1):
            records = self.records[rel]
            ids = sample.match(records, rel)
            for i, (rec, iid) in enumerate(zip(records, ids, strict=True)):
                label = _opt_label(rec["label"], f"{rel}: record {i}: label")
                raw, error = rec.get("evaluation"), rec.get("error")
                if label is None and _is_missing(raw) and _is_missing(error):
                    self.not_judged.add((judge, response_id_for(iid, respondent, run)))
                    continue
                rid = self._add_response(iid, respondent, run, texts.get(iid), rel)
                score, status = self._score_status(raw, error)
                explanation = rec.get("explanation")
                if status != "ok" and not _is_missing(error):
                    explanation = f"error: {error}"
                row = self._judgment_row(
                    rid, judge, judge_run, label, score, status, explanation, rel
                )
                self._add_judgment(row)
                if score is not None:
                    scores[rid].append(score)
        return scores

    def _check_merged(
        self,
        rel: str,
        sample: _Sample,
        respondent: str,
        run: int,
        per_run: dict[str, list[float]],
    ) -> None:
        records = self.records[rel]
        ids = sample.match(records, rel)
        for i, (rec, iid) in enumerate(zip(records, ids, strict=True)):
            evals = rec["evals"]
            if not isinstance(evals, list):
                raise InputError(f"{rel}: record {i}: `evals` must be a list of scores")
            merged = [s for s in (_parse_score(v) for v in evals) if s is not None]
            mine = per_run.get(response_id_for(iid, respondent, run), [])
            if merged != mine:
                raise InputError(
                    f"{rel}: record {i}: evals {evals} disagree with the per-run evaluation files "
                    f"(valid scores {mine})"
                )

    def _eval_merged_file(
        self,
        judge: str,
        respondent: str,
        run: int,
        sample: _Sample,
        rel: str,
        n_runs: int,
        texts: dict[str, str],
    ) -> None:
        records = self.records[rel]
        ids = sample.match(records, rel)
        for i, (rec, iid) in enumerate(zip(records, ids, strict=True)):
            label = _opt_label(rec["label"], f"{rel}: record {i}: label")
            evals = rec["evals"]
            if not isinstance(evals, list):
                raise InputError(f"{rel}: record {i}: `evals` must be a list of scores")
            if label is None and all(_is_missing(v) for v in evals):
                self.not_judged.add((judge, response_id_for(iid, respondent, run)))
                continue
            rid = self._add_response(iid, respondent, run, texts.get(iid), rel)
            self._add_eval_list(rid, judge, label, evals, n_runs, rec.get("explanation"), rel)

    def _add_eval_list(
        self,
        rid: str,
        judge: str,
        label: str | None,
        evals: list[Any],
        n_runs: int,
        explanation: object,
        rel: str,
    ) -> None:
        for judge_run in range(1, max(n_runs, len(evals)) + 1):
            if judge_run <= len(evals):
                score, status = self._score_status(evals[judge_run - 1], None)
                note = explanation if judge_run == 1 else None
            else:
                score, status = None, "failed"
                note = "no score for this judge run in the merged file"
            self._add_judgment(
                self._judgment_row(rid, judge, judge_run, label, score, status, note, rel)
            )

    # ----------------------------------------------------------------------------- lowest
    def _import_lowest(self) -> None:
        lowest = self._of_kind("lowest")
        order = {"lowest_main": 0, "lowest_judge": 1, "lowest_jury": 2}
        lowest.sort(key=lambda x: (order[self.layout[x[0]]], x[0]))
        for rel, _m in lowest:
            layout = self.layout[rel]
            records = self.records[rel]
            ids = self._sample_for(rel, None).match(records, rel)
            for i, (rec, iid) in enumerate(zip(records, ids, strict=True)):
                where = f"{rel}: record {i}"
                label = _opt_label(rec["label"], f"{where}: label")
                if layout == "lowest_jury":
                    members = rec["llm_evaluations"]
                    if not isinstance(members, dict):
                        raise InputError(f"{where}: `llm_evaluations` must map judges to scores")
                    judge = JURY_JUDGE
                    if label is None and _is_missing(rec["evaluation"]):
                        self.not_judged.add((judge, iid))
                        continue
                    rid = self._find_response(iid, rec["answer"], rel, where)
                    note = rec.get("source") or "mean of " + ", ".join(sorted(members))
                    self._add_aggregate(rid, judge, label, rec["evaluation"], note, rel)
                    continue
                key = "sampled_from" if layout == "lowest_main" else "source_file"
                src = self._source_name(rec[key], f"{where}: {key}")
                judge, respondent = src["judge"], src["respondent"]
                run = self._respondent_run(respondent, src["answer_ts"])
                rid = self._add_response(iid, respondent, run, rec["answer"], rel)
                evals = rec.get("evals")
                if (
                    label is None
                    and _is_missing(rec["evaluation"])
                    and (not isinstance(evals, list) or all(_is_missing(v) for v in evals))
                ):
                    self.not_judged.add((judge, rid))
                    continue
                if isinstance(evals, list) and evals:
                    self._add_eval_list(
                        rid, judge, label, evals, len(evals), rec.get("explanation"), rel
                    )
                else:
                    self._add_aggregate(
                        rid, judge, label, rec["evaluation"], rec.get("explanation"), rel
                    )

    def _add_aggregate(
        self, rid: str, judge: str, label: str | None, raw: object, note: object, rel: str
    ) -> None:
        score, status = self._score_status(raw, None)
        self._add_judgment(self._judgment_row(rid, judge, 0, label, score, status, note, rel))

    # ----------------------------------------------------------------------------- humans
    def _import_human_scores(self) -> None:
        for rel, m in self._of_kind("human_scores"):
            judge = f"human:H{m['h']}"
            records = self.records[rel]
            sample = self._sample_for(rel, None)

            def by_answer(
                i: int,
                claimed: set[str],
                *,
                _rel: str = rel,
                _records: list[dict[str, Any]] = records,
                _sample: _Sample = sample,
            ) -> str | None:
                text = _records[i].get("answer")
                if not isinstance(text, str) or not text.strip():
                    return None
                norm = _norm_text(text)
                found = [
                    iid
                    for iid in dict.fromkeys(_sample.item_ids)
                    if iid not in claimed and norm in self.answer_index.get(iid, {})
                ]
                if len(found) != 1:
                    return None
                self.warnings.append(
                    f"{_rel}: record {i}: unreadable inputs {_preview(_records[i]['inputs'])}; "
                    f"item {found[0]} identified by its answer text"
                )
                return found[0]

            ids = sample.match(records, rel, fallback=by_answer)
            for i, (rec, iid) in enumerate(zip(records, ids, strict=True)):
                where = f"{rel}: record {i}"
                label = _opt_label(rec["label"], f"{where}: label")
                raw = rec["evaluation"]
                if label is None and _is_missing(raw):
                    self.not_judged.add((judge, iid))
                    continue
                rid = self._find_response(iid, rec["answer"], rel, where)
                score, status = self._score_status(raw, None)
                self._add_judgment(
                    self._judgment_row(rid, judge, 0, label, score, status, None, rel, kind="human")
                )

    # ----------------------------------------------------------------------------- write
    def _write(self) -> ImportSummary:
        with_runs = {(rid, judge) for rid, judge, run in self.judgments if run > 0}
        judgments = [
            row
            for (rid, judge, run), row in self.judgments.items()
            if run > 0 or (rid, judge) not in with_runs
        ]
        labels = list(self.labels.values())
        responses = list(self.responses.values())
        self.store.upsert_labels(labels)
        self.store.upsert_responses(responses)
        self.store.upsert_judgments(judgments)
        items = {iid for s in self.samples.values() for iid in s.item_ids}
        return ImportSummary(
            study_dir=str(self.study_dir),
            files={rel: self.layout[rel] for rel in sorted(self.files)},
            skipped=dict(sorted(self.skipped.items())),
            samples={name: len(s.item_ids) for name, s in sorted(self.samples.items())},
            items=len(items),
            labels=dict(sorted(Counter(r["rater_kind"] for r in labels).items())),
            label_status=dict(sorted(Counter(r["status"] for r in labels).items())),
            responses=dict(sorted(Counter(r["respondent"] for r in responses).items())),
            judgments=dict(sorted(Counter(r["judge"] for r in judgments).items())),
            judgment_status=dict(sorted(Counter(r["status"] for r in judgments).items())),
            not_judged=dict(sorted(Counter(judge for judge, _ in self.not_judged).items())),
            warnings=tuple(self.warnings),
        )


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
        return _Importer(store, study_dir).run()
