"""Experts' score records whose ``answer`` field is unusable: attached to the item's lowest answer.

The tiny invented study (``mini_study``, see conftest) has its expert H1 score the lowest-scored
answer of each item (respondent ``other``). Here some of those records get a damaged ``answer``
field (NaN, a number, junk text); the repeated record (index 3, the same turns as record 0) checks
that a repeat is matched to its own occurrence's lowest answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from crisiseval.errors import InputError
from crisiseval.importers import ImportSummary, import_study
from crisiseval.importers.paper import UNKNOWN_RESPONDENT
from crisiseval.store import Store

SCORES = "human_label/H1_scores_n4.json"
H1 = "human:H1"

Records = list[dict[str, Any]]


def _edit(path: Path, edit: Callable[[Records], None]) -> None:
    records = json.loads(path.read_text(encoding="utf-8"))
    edit(records)
    path.write_text(json.dumps(records), encoding="utf-8")  # NaN is written as NaN


def _damage(records: Records) -> None:
    """Every record scored (records 1 and 3 get a label), three answer fields damaged."""
    records[0]["answer"] = float("nan")
    records[1].update(answer=5, label="suicidal_ideation", evaluation=2.0)
    records[3].update(answer="=SUM(C5:D5)", label="no_crisis", evaluation=4.0)


def _h1(store: Store) -> dict[str, tuple[str, int, str, float]]:
    """Item id -> (respondent, answer run, answer text, score) of expert H1's judgments."""
    j = store.judgments_frame()
    texts = store.responses_frame().set_index("response_id")["text"]
    rows = j[j["judge"] == H1].to_dict("records")
    return {
        str(r["item_id"]): (
            str(r["respondent"]),
            int(r["response_run"]),
            str(texts[r["response_id"]]),
            float(r["score"]),
        )
        for r in rows
    }


def test_unusable_answer_fields_are_matched_to_the_lowest_answer(
    mini_study: Path, fresh_store: Store
) -> None:
    _edit(mini_study / SCORES, _damage)
    summary = import_study(fresh_store, mini_study)
    items = fresh_store.sample_items("validation")
    assert _h1(fresh_store) == {
        items[0]: ("other", 1, "other answer 0", 3.0),
        items[1]: ("other", 1, "other answer 1", 2.0),
        items[2]: ("other", 1, "other answer 2", 3.0),  # intact: matched by its text
        # the repeat of record 0's turns gets its own occurrence's lowest answer
        items[3]: ("other", 1, "other answer 3", 4.0),
    }
    assert summary.repaired_scores == 3
    tail = "unusable; matched by its inputs to the lowest-scored answer (other, run 1)"
    assert summary.warnings == (
        f"{SCORES}: record 0: answer field nan {tail}",
        f"{SCORES}: record 1: answer field 5 {tail}",
        f"{SCORES}: record 3: answer field '=SUM(C5:D5)' {tail}",
    )
    assert UNKNOWN_RESPONDENT not in summary.responses
    assert summary.judgments[H1] == 4
    assert summary.judgment_status == {"ok": 16, "unparsed": 2}


def test_an_intact_study_repairs_nothing(mini_study: Path, fresh_store: Store) -> None:
    summary = import_study(fresh_store, mini_study)
    assert summary.repaired_scores == 0
    assert summary.warnings == ()


def test_repaired_import_twice_is_idempotent(mini_study: Path, fresh_store: Store) -> None:
    _edit(mini_study / SCORES, _damage)
    first = import_study(fresh_store, mini_study)
    counts = fresh_store.counts()
    assert import_study(fresh_store, mini_study) == first
    assert fresh_store.counts() == counts


def test_no_unique_lowest_answer_keeps_the_unknown_respondent(
    mini_study: Path, fresh_store: Store
) -> None:
    _edit(mini_study / SCORES, _damage)
    # another judge's lowest-score file names a different answer (another respondent) for item 0
    third = "judge-k-evaluation_third-answers-sampled_dataset_n_200_tiny-s1-20250104-000000"
    lowest_k = mini_study / "llm_evaluator/sampled/sampled_lowest_scores_n200__judge-k.json"
    _edit(lowest_k, lambda recs: recs[0].update(source_file=f"{third}_merged.json"))
    summary = import_study(fresh_store, mini_study)
    items = fresh_store.sample_items("validation")
    got = _h1(fresh_store)
    assert got[items[0]][0] == UNKNOWN_RESPONDENT
    assert got[items[1]][:3] == ("other", 1, "other answer 1")
    assert got[items[3]][:3] == ("other", 1, "other answer 3")
    assert summary.repaired_scores == 2
    assert summary.responses[UNKNOWN_RESPONDENT] == 1
    assert (
        f"{SCORES}: record 0: answer nan matches no known response of its item and the "
        "lowest-score files name 2 different lowest-scored answers for it; stored as respondent "
        "'unknown' run 1"
    ) in summary.warnings
    assert sum("matched by its inputs" in w for w in summary.warnings) == 2


def test_no_lowest_score_files_keeps_the_unknown_respondent(
    mini_study: Path, fresh_store: Store
) -> None:
    _edit(mini_study / SCORES, _damage)
    for path in (mini_study / "llm_evaluator" / "sampled").glob("*.json"):
        path.unlink()
    summary = import_study(fresh_store, mini_study)
    assert summary.repaired_scores == 0
    # without the lowest answers no expert answer is known: all four stay `unknown`
    assert {r[0] for r in _h1(fresh_store).values()} == {UNKNOWN_RESPONDENT}
    assert summary.responses[UNKNOWN_RESPONDENT] == 4
    assert (
        f"{SCORES}: record 1: answer 5 matches no known response of its item and the "
        "lowest-score files name no lowest-scored answer for it; stored as respondent "
        "'unknown' run 1"
    ) in summary.warnings


def test_a_damaged_file_elsewhere_still_writes_nothing(
    mini_study: Path, fresh_store: Store
) -> None:
    _edit(mini_study / SCORES, _damage)
    path = next((mini_study / "llm_label").glob("*-000002.json"))
    _edit(path, lambda recs: recs[0].update(label="melancholy"))
    with pytest.raises(InputError, match=r"unknown crisis label 'melancholy'"):
        import_study(fresh_store, mini_study)
    assert fresh_store.counts()["judgments"] == 0
    assert fresh_store.counts()["responses"] == 0


# ------------------------------------------------------------------------------ shared data

H2_SCORES = "human_label/H2_scores_n206_s42.json"


@pytest.mark.shared
def test_h2_damaged_answer_fields_are_repaired(
    shared_import: tuple[Store, ImportSummary],
) -> None:
    store, summary = shared_import
    assert summary.repaired_scores == 3
    repaired = [w for w in summary.warnings if "matched by its inputs" in w]
    assert [w.split(": answer field ")[0] for w in repaired] == [
        f"{H2_SCORES}: record {i}" for i in (21, 22, 42)
    ]
    assert [w.split(": answer field ")[1].split(" unusable")[0] for w in repaired] == [
        "nan",
        "'T+D24+B24'",
        "5",
    ]
    j = store.judgments_frame()
    h2 = j[j["judge"] == "human:H2"]
    assert len(h2) == 190  # 206 records, 16 without a label (not judged in the study)
    assert UNKNOWN_RESPONDENT not in set(h2["respondent"])
    assert UNKNOWN_RESPONDENT not in summary.responses
    # every H2 score sits on the lowest-scored answer of its item (the jury's, per item)
    jury = j[j["judge"] == "jury"].set_index("item_id")["response_id"]
    assert (h2.set_index("item_id")["response_id"] == jury.loc[h2["item_id"]]).all()
