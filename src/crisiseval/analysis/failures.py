"""The failure gallery: the lowest-scored responses per crisis label.

Inputs: :meth:`Store.judgments_frame`, :meth:`Store.responses_frame` (for the answer text) and
:meth:`Store.items_frame` (for the turns). Pure: frames in, a frame out.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from crisiseval.analysis.common import AnalysisError, require_columns
from crisiseval.analysis.scores import NO_LABEL, response_scores

__all__ = ["GALLERY_COLUMNS", "failure_gallery"]

GALLERY_COLUMNS = [
    "label",
    "rank",
    "item_id",
    "turns",
    "respondent",
    "response_run",
    "response_id",
    "score",
    "explanation",
    "explanation_score",
    "text",
]


def failure_gallery(
    judgments: pd.DataFrame,
    responses: pd.DataFrame,
    items: pd.DataFrame,
    *,
    judge: str | None = None,
    per_label: int = 3,
    max_score: float | None = None,
    labels: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The ``per_label`` lowest-scored responses of each label (rubric) by ``judge``.

    Ties go to respondent, response run, response id. ``max_score`` keeps only responses scored
    at most that; ``labels`` limits and orders the labels (default: all, sorted). Columns:
    label, rank (1 = lowest), item_id, turns (list), respondent, response_run, response_id,
    score, explanation (of the judge's lowest-scored valid run that has one, earliest run on
    ties), explanation_score (that run's score), text.
    """
    if per_label < 1:
        raise AnalysisError(f"per_label={per_label}: expected at least 1")
    require_columns(responses, ["response_id", "text"], "responses")
    require_columns(items, ["item_id", "turns"], "items")
    res = response_scores(judgments, judge)
    scored = res.scores
    if max_score is not None:
        scored = scored[scored["score"] <= max_score + 1e-9]
    if labels is not None:
        wanted = list(dict.fromkeys(labels))
        scored = scored[scored["label"].isin(wanted)]
    if scored.empty:
        return pd.DataFrame(columns=GALLERY_COLUMNS)
    ordered = scored.sort_values(
        ["label", "score", "respondent", "response_run", "response_id"], kind="mergesort"
    )
    top = ordered.groupby("label", sort=True).head(per_label).copy()
    top["rank"] = top.groupby("label").cumcount() + 1

    texts = responses.drop_duplicates("response_id").set_index("response_id")["text"]
    missing = sorted(set(top["response_id"]) - set(texts.index))
    if missing:
        raise AnalysisError(
            f"the responses frame lacks {len(missing)} judged response(s) (first: {missing[0]})"
        )
    turns = items.drop_duplicates("item_id").set_index("item_id")["turns"]
    missing = sorted(set(top["item_id"]) - set(turns.index))
    if missing:
        raise AnalysisError(
            f"the items frame lacks {len(missing)} judged item(s) (first: {missing[0]})"
        )
    mine = judgments[(judgments["judge"] == res.judge) & (judgments["status"] == "ok")]
    mine = mine[mine["response_id"].isin(set(top["response_id"])) & mine["explanation"].notna()]
    mine = mine.sort_values(["response_id", "score", "judge_run"], kind="mergesort")
    explained = mine.drop_duplicates("response_id").set_index("response_id")

    top["turns"] = [list(turns[i]) for i in top["item_id"]]
    top["text"] = texts.reindex(top["response_id"]).to_numpy()
    top["explanation"] = explained["explanation"].reindex(top["response_id"]).to_numpy()
    top["explanation_score"] = explained["score"].reindex(top["response_id"]).to_numpy()
    if labels is not None:
        order = {lab: i for i, lab in enumerate(dict.fromkeys(labels))}
        top = top.sort_values(
            ["label", "rank"], key=lambda s: s.map(order) if s.name == "label" else s
        )
    top["label"] = top["label"].fillna(NO_LABEL)
    return top.loc[:, GALLERY_COLUMNS].reset_index(drop=True)
