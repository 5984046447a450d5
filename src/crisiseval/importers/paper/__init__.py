"""Import the released data of "Between Help and Harm" (arXiv 2509.24857) into a run store.

The layout is described in DESIGN.md. Every JSON file under the study directory must match one of
the known layouts (:data:`PATTERNS`) and carry the fields that layout needs; anything else is an
:class:`~crisiseval.errors.InputError` naming the file, never a silent skip. Non-JSON files (the
rubric ``protocol.csv``, a CSV copy of a JSON file) are listed in the summary as skipped.

Modules, one per concern: ``_layout`` (file-name patterns, the study folder's files and records,
run numbering by timestamp), ``_matching`` (records to items, answers to responses), ``_rows``
(typed store records built from the study's records, and the tables that merge them),
``_importer`` (:func:`import_study`: samples, labels, answers, then writing, in one transaction),
``_judgments`` (evaluation, lowest-score and expert score files), ``_summary``
(:class:`ImportSummary`).

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
  damage). The experts scored the lowest-scored answer of each item: a record whose ``answer``
  field is unusable (NaN, a number, a spreadsheet formula: no known response's text) is attached
  to the one answer the sampled lowest-score files name for its item (matched by its inputs,
  occurrence by occurrence), with a warning, and counted in
  :attr:`ImportSummary.repaired_scores`; without exactly one such answer it becomes a response of
  respondent ``unknown``. A record whose ``inputs`` are unreadable is placed by its answer when
  that answer is known for exactly one item.
"""

from __future__ import annotations

from crisiseval.importers.paper._importer import import_study
from crisiseval.importers.paper._layout import PATTERNS, SAMPLE_NAMES
from crisiseval.importers.paper._matching import FUZZY_MIN_RATIO, occurrence_item_id
from crisiseval.importers.paper._rows import CONSENSUS_RATER, JURY_JUDGE, UNKNOWN_RESPONDENT
from crisiseval.importers.paper._summary import ImportSummary

__all__ = [
    "CONSENSUS_RATER",
    "FUZZY_MIN_RATIO",
    "JURY_JUDGE",
    "PATTERNS",
    "SAMPLE_NAMES",
    "UNKNOWN_RESPONDENT",
    "ImportSummary",
    "import_study",
    "occurrence_item_id",
]
