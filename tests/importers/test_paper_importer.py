"""The importer of the study's released data: counts, idempotence, quirks, bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from crisiseval.errors import InputError
from crisiseval.importers import ImportSummary, import_study
from crisiseval.importers.paper import UNKNOWN_RESPONDENT, occurrence_item_id
from crisiseval.store import Store, item_id_for

# ------------------------------------------------------------------------------ shared data

SHARED_COUNTS = {
    "items": 2217,  # 206 + 2,046 records, 35 items in both samples
    "sample:test": 2046,
    "sample:validation": 206,
    "labels": 11239,
    "labels:consensus": 206,
    "labels:human": 824,  # 4 experts x 206
    "labels:majority": 2217,  # 206 + 2,046, one row per item (the 35 shared ones agree)
    "labels:model_run": 7992,  # 9 runs x 206 + 3 runs x 2,046
    "responses": 750,
    "judgments": 3008,
    "judgments:human": 380,  # 2 experts x 190 labelled items
    "judgments:model": 2628,
}


@pytest.mark.shared
def test_counts_per_kind_on_the_shared_data(shared_import: tuple[Store, ImportSummary]) -> None:
    store, summary = shared_import
    assert summary.counts() == SHARED_COUNTS
    assert summary.responses == {
        "deepseek-chat": 101,
        "gpt-4o-mini": 618,  # 3 answer runs x 206
        "gpt-5-nano": 11,
        "grok-4-fast-non-reasoning": 13,
        "meta-llama-Llama-4-Scout-17B-16E-Instruct": 7,
    }  # H2's three damaged answer fields (NaN, 5, a formula) are repaired, not `unknown`
    assert summary.judgments == {
        "gpt-4o-mini": 2058,  # 190 x 3 x 3 on its own answers + 116 x 3 on the others'
        "gpt-5-nano": 190,
        "human:H1": 190,
        "human:H2": 190,
        "jury": 190,
        "meta-llama-Llama-4-Scout-17B-16E-Instruct": 190,
    }
    assert summary.judgment_status == {"ok": 3007, "unparsed": 1}
    assert summary.label_status == {"ok": 11181, "tie": 18, "unparsed": 40}
    assert summary.not_judged["gpt-4o-mini"] == 64  # 16 tie items x 3 answers + 16 lowest
    counts = store.counts()
    assert counts["items"] == 2217
    assert counts["samples"] == 206 + 2046
    assert counts["labels"] == 11239
    assert counts["responses"] == 750
    assert counts["judgments"] == 3008
    assert set(summary.skipped) == {
        "llm_evaluator/protocol.csv",
        "llm_evaluator/sampled/sampled_lowest_scores_n200.csv",
    }


@pytest.mark.shared
def test_validation_sample_keeps_both_copies_of_repeated_records(
    shared_import: tuple[Store, ImportSummary],
) -> None:
    store, _ = shared_import
    ids = store.sample_items("validation")
    assert len(ids) == len(set(ids)) == 206
    turns = store.item_turns(ids)
    repeated = [i for i in ids if i != item_id_for(turns[i])]
    assert len(repeated) == 2  # two records repeat an earlier record's turns
    labels = store.labels_frame()
    h2 = labels[labels["rater"] == "human:H2"].set_index("item_id")["label"]
    for iid in repeated:
        first = item_id_for(turns[iid])
        assert iid == occurrence_item_id(turns[iid], 2)
        assert turns[first] == turns[iid]
    # H2 labels the two copies of one pair differently: both labels are kept
    assert {h2[i] for i in repeated} | {h2[item_id_for(turns[i])] for i in repeated} == {
        "substance_abuse_or_withdrawal",
        "risk_taking_behaviours",
    }


@pytest.mark.shared
def test_empty_classifier_labels_are_unparsed_never_labels(
    shared_import: tuple[Store, ImportSummary],
) -> None:
    store, _ = shared_import
    labels = store.labels_frame()
    unparsed = labels[labels["status"] == "unparsed"]
    assert len(unparsed) == 40
    assert unparsed["label"].isna().all()
    assert set(unparsed["rater_kind"]) == {"model_run"}
    assert (labels["label"] == "").sum() == 0
    per_run = unparsed[unparsed["rater"] == "gpt-4o-mini"].groupby("run_index").size()
    # runs 1-3: the validation set (0, 1, 2 empty labels), runs 4-6: the test set (4, 3, 6)
    assert per_run.to_dict() == {2: 1, 3: 2, 4: 4, 5: 3, 6: 6}
    ok = labels[labels["status"] == "ok"]
    assert ok["label"].notna().all()
    assert "self-harm" not in set(ok["label"])


@pytest.mark.shared
def test_runs_are_numbered_by_timestamp(shared_import: tuple[Store, ImportSummary]) -> None:
    store, _ = shared_import
    labels = store.labels_frame()
    runs = labels.groupby("rater")["run_index"].unique().map(sorted).to_dict()
    assert runs["gpt-4o-mini"] == [1, 2, 3, 4, 5, 6]
    assert runs["gpt-5-nano"] == [1, 2, 3]
    assert runs["human:H1"] == [0]
    judgments = store.judgments_frame()
    own = judgments[
        (judgments["judge"] == "gpt-4o-mini") & (judgments["respondent"] == "gpt-4o-mini")
    ]
    assert sorted(own["judge_run"].unique()) == [1, 2, 3]
    assert sorted(own["response_run"].unique()) == [1, 2, 3]
    assert len(own) == 190 * 9
    # gpt-5-nano and meta-llama released only their means: judge run 0
    nano = judgments[judgments["judge"] == "gpt-5-nano"]
    assert set(nano["judge_run"]) == {0}


@pytest.mark.shared
def test_human_scores_are_matched_to_known_answers(
    shared_import: tuple[Store, ImportSummary],
) -> None:
    store, summary = shared_import
    judgments = store.judgments_frame()
    h1 = judgments[judgments["judge"] == "human:H1"]
    assert len(h1) == 190
    assert UNKNOWN_RESPONDENT not in set(h1["respondent"])
    h2 = judgments[judgments["judge"] == "human:H2"]
    assert len(h2) == 190
    assert UNKNOWN_RESPONDENT not in set(h2["respondent"])
    # the experts scored the lowest-scored answers: the same responses as the judges
    lowest = judgments[(judgments["judge"] == "jury")]
    assert set(h1["response_id"]) == set(lowest["response_id"])
    assert set(h2["response_id"]) == set(lowest["response_id"])
    assert any("identified by its answer text" in w for w in summary.warnings)


@pytest.mark.shared
def test_import_twice_is_idempotent(study_dir: Path, tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    first = import_study(store, study_dir)
    counts = store.counts()
    second = import_study(store, study_dir)
    assert second == first
    assert store.counts() == counts
    assert first.counts() == SHARED_COUNTS


@pytest.mark.shared
def test_merged_evaluations_alone_give_the_same_judgments(
    study_dir: Path, tmp_path: Path, shared_import: tuple[Store, ImportSummary]
) -> None:
    copy = tmp_path / "study"
    shutil.copytree(study_dir, copy)
    per_run = sorted((copy / "llm_evaluator" / "gpt-4o-mini" / "n_200").glob("*.json"))
    assert len(per_run) == 9
    for path in per_run:
        path.unlink()
    store = Store.open(tmp_path / "run")
    summary = import_study(store, copy)
    _, full = shared_import
    assert summary.judgments == full.judgments
    assert summary.counts() == full.counts()
    # the failed judge run is missing from the merged file: a failed row, not a lost row
    assert summary.judgment_status == {"ok": 3007, "failed": 1}
    mine = store.judgments_frame().set_index(["response_id", "judge", "judge_run"])["score"]
    theirs = shared_import[0].judgments_frame().set_index(["response_id", "judge", "judge_run"])
    assert mine.sort_index().index.equals(theirs["score"].sort_index().index)


# ------------------------------------------------------------------------------ tiny study


def test_mini_study_import(mini_study: Path, fresh_store: Store) -> None:
    summary = import_study(fresh_store, mini_study)
    assert summary.samples == {"validation": 4}
    assert summary.items == 4  # the repeated record is its own item
    assert summary.labels == {"consensus": 4, "human": 8, "majority": 4, "model_run": 8}
    assert summary.label_status == {"ok": 19, "tie": 4, "unparsed": 1}
    assert summary.responses == {"other": 4, "resp-x": 4}
    assert summary.judgments == {"human:H1": 2, "judge-j": 10, "judge-k": 2, "jury": 2}
    assert summary.judgment_status == {"ok": 14, "unparsed": 2}
    assert summary.warnings == ()


def test_scores_from_strings_and_unparsable(mini_study: Path, fresh_store: Store) -> None:
    import_study(fresh_store, mini_study)
    j = fresh_store.judgments_frame()
    own = j[(j["judge"] == "judge-j") & (j["respondent"] == "resp-x")]
    got = {(r.item_id, r.judge_run): (r.score, r.status) for r in own.itertuples()}
    first, third = (
        item_id_for(["I feel fine today."]),
        item_id_for(["my status says a | b", "what now?"]),
    )
    assert got[(first, 1)] == (5.0, "ok")
    assert got[(first, 2)] == (5.0, "ok")  # "5.0"
    assert got[(first, 3)][1] == "unparsed"  # an error record without evaluation
    assert got[(third, 1)] == (4.0, "ok")  # "4"
    assert got[(third, 3)][1] == "unparsed"  # "x"
    assert own.loc[own["status"] != "ok", "score"].isna().all()
    # judge-k's released mean "2.5" is judge run 0
    k = j[j["judge"] == "judge-k"]
    assert set(k["judge_run"]) == {0} and set(k["score"]) == {2.5}


def test_joined_and_repr_inputs_match_items(mini_study: Path, fresh_store: Store) -> None:
    summary = import_study(fresh_store, mini_study)
    assert summary.files["human_label/H1_scores_n4.json"] == "human_scores"
    j = fresh_store.judgments_frame()
    h1 = j[j["judge"] == "human:H1"]
    # " | "-joined inputs whose turn contains " | " still find their item; the answer with a
    # stray carriage return still finds its response
    assert set(h1["item_id"]) == {
        item_id_for(["I feel fine today."]),
        item_id_for(["my status says a | b", "what now?"]),
    }
    assert set(h1["respondent"]) == {"other"}


def test_merged_only_matches_per_run_in_the_mini_study(mini_study: Path, tmp_path: Path) -> None:
    full = import_study(Store.open(tmp_path / "a"), mini_study)
    for path in (mini_study / "llm_evaluator" / "judge-j" / "n_200").glob("*.json"):
        path.unlink()
    merged = import_study(Store.open(tmp_path / "b"), mini_study)
    assert merged.judgments == full.judgments
    assert merged.judgment_status == {"ok": 14, "unparsed": 1, "failed": 1}


def test_import_twice_mini_is_idempotent(mini_study: Path, fresh_store: Store) -> None:
    first = import_study(fresh_store, mini_study)
    counts = fresh_store.counts()
    assert import_study(fresh_store, mini_study) == first
    assert fresh_store.counts() == counts


# ------------------------------------------------------------------------------ bad input


def _edit(path: Path, edit: object) -> None:
    records = json.loads(path.read_text(encoding="utf-8"))
    assert callable(edit)
    edit(records)
    path.write_text(json.dumps(records), encoding="utf-8")


def test_unknown_layout_json_is_an_input_error(mini_study: Path, fresh_store: Store) -> None:
    (mini_study / "llm_label" / "notes.json").write_text("[]", encoding="utf-8")
    with pytest.raises(InputError, match=r"llm_label/notes\.json: unknown layout"):
        import_study(fresh_store, mini_study)


def test_missing_field_is_an_input_error(mini_study: Path, fresh_store: Store) -> None:
    path = next((mini_study / "llm_answer").glob("*.json"))
    _edit(path, lambda recs: recs[2].pop("answer"))
    with pytest.raises(InputError, match=r"record 2 lacks answer"):
        import_study(fresh_store, mini_study)


def test_not_a_list_of_records_is_an_input_error(mini_study: Path, fresh_store: Store) -> None:
    path = next((mini_study / "llm_answer").glob("*.json"))
    path.write_text(json.dumps({"answers": []}), encoding="utf-8")
    with pytest.raises(InputError, match=r"expected a non-empty JSON list of records"):
        import_study(fresh_store, mini_study)


def test_items_not_in_the_sample_are_an_input_error(mini_study: Path, fresh_store: Store) -> None:
    path = next((mini_study / "llm_label").glob("*-000001.json"))
    _edit(path, lambda recs: recs[1].update(inputs=["a conversation not in the sample"]))
    with pytest.raises(InputError, match=r"1 record\(s\) match no item of sample 'validation'"):
        import_study(fresh_store, mini_study)


def test_extra_repeats_are_an_input_error(mini_study: Path, fresh_store: Store) -> None:
    path = next((mini_study / "llm_label").glob("*-000001.json"))
    _edit(path, lambda recs: recs.__setitem__(1, dict(recs[0])))
    # record 1 now repeats record 0: the turns occur more often than in the sample
    with pytest.raises(InputError, match=r"occur more often than in sample"):
        import_study(fresh_store, mini_study)


def test_a_short_file_is_an_input_error(mini_study: Path, fresh_store: Store) -> None:
    path = next((mini_study / "llm_label").glob("*-000001.json"))
    _edit(path, lambda recs: recs.pop(1))
    with pytest.raises(InputError, match=r"cover 3 of the 4 items of sample 'validation'"):
        import_study(fresh_store, mini_study)


def test_unknown_label_is_an_input_error(mini_study: Path, fresh_store: Store) -> None:
    path = next((mini_study / "llm_label").glob("*-000002.json"))
    _edit(path, lambda recs: recs[0].update(label="melancholy"))
    with pytest.raises(InputError, match=r"record 0: label: unknown crisis label 'melancholy'"):
        import_study(fresh_store, mini_study)


def test_merged_file_disagreeing_with_runs_is_an_input_error(
    mini_study: Path, fresh_store: Store
) -> None:
    path = next((mini_study / "llm_evaluator" / "judge-j" / "n_200" / "merged").glob("*.json"))
    _edit(path, lambda recs: recs[0].update(evals=[1, 1]))
    with pytest.raises(InputError, match=r"disagree with the per-run evaluation files"):
        import_study(fresh_store, mini_study)


def test_ambiguous_joined_inputs_are_an_input_error(mini_study: Path, fresh_store: Store) -> None:
    # add an item whose turns join to the same string as record 2's
    sample = next((mini_study / "processed").glob("*.json"))
    scores = mini_study / "human_label" / "H1_scores_n4.json"
    _edit(sample, lambda recs: recs.append({"inputs": ["my status says a", "b | what now?"]}))
    extra = {"inputs": "x", "answer": "y", "label": "no_crisis", "evaluation": 5}
    _edit(scores, lambda recs: recs.append(extra))
    for path in mini_study.rglob("*.json"):
        if path not in (sample, scores):
            path.unlink()
    with pytest.raises(InputError, match=r"ambiguous split"):
        import_study(fresh_store, mini_study)


def test_no_sample_file_is_an_input_error(mini_study: Path, fresh_store: Store) -> None:
    shutil.rmtree(mini_study / "processed")
    with pytest.raises(InputError, match=r"no sample file"):
        import_study(fresh_store, mini_study)


def test_not_a_directory_is_an_input_error(tmp_path: Path, fresh_store: Store) -> None:
    with pytest.raises(InputError, match=r"not a directory"):
        import_study(fresh_store, tmp_path / "nowhere")
