"""Section "Failure gallery": the lowest-scored responses of each label, with the input, the
response and the judge's explanation (dataset text: the renderers escape it)."""

from __future__ import annotations

import pandas as pd

from crisiseval.analysis.failures import failure_gallery
from crisiseval.analysis.judges import choose_judge
from crisiseval.sections._format import NO_JUDGMENTS, float_col, int_col, sorted_by_label, text_col
from crisiseval.sections._model import GalleryEntry, NoDataError, Section, is_missing, make_table
from crisiseval.sections._registry import SectionInputs, section

__all__ = ["gallery_section"]


@section("gallery", title="Failure gallery", order=40, requires=("judgments",))
def _report_section(inputs: SectionInputs) -> Section:
    return gallery_section(
        inputs.judgments,
        inputs.responses,
        inputs.items,
        judge=inputs.main_judge,
        per_label=inputs.gallery_per_label,
    )


def gallery_section(
    judgments: pd.DataFrame,
    responses: pd.DataFrame,
    items: pd.DataFrame,
    *,
    judge: str | None = None,
    per_label: int = 3,
) -> Section:
    """The ``per_label`` lowest-scored responses of each label by ``judge`` (default:
    :func:`choose_judge`), with the input, the response and the judge's explanation."""
    if judgments.empty:
        raise NoDataError(NO_JUDGMENTS)
    judge = judge or choose_judge(judgments, responses).judge
    gallery = failure_gallery(judgments, responses, items, judge=judge, per_label=per_label)
    section = Section(
        key="gallery",
        title=f"Failure gallery (judge: {judge})",
        intro=(
            f"The {per_label} lowest-scored responses of each label by {judge}, with the input, "
            "the response and the judge's explanation (of its lowest-scored run)."
        ),
        extra={"judge": judge},
    )
    if gallery.empty:
        section.notes.append(f"{judge} has no scored response to show.")
        return section
    gallery = sorted_by_label(gallery, ("label", "rank"))
    for _, r in gallery.iterrows():
        section.gallery.append(
            GalleryEntry(
                label=str(r["label"]),
                rank=int(r["rank"]),
                score=float(r["score"]),
                respondent=str(r["respondent"]),
                response_run=int(r["response_run"]),
                item_id=str(r["item_id"]),
                turns=tuple(str(t) for t in r["turns"]),
                text="" if is_missing(r["text"]) else str(r["text"]),
                explanation="" if is_missing(r["explanation"]) else str(r["explanation"]),
                explanation_score=None
                if is_missing(r["explanation_score"])
                else float(r["explanation_score"]),
            )
        )
    data = gallery.assign(turns=[" | ".join(map(str, t)) for t in gallery["turns"]])
    section.tables.append(
        make_table(
            "failure_gallery",
            "Failure gallery",
            data,
            [
                ("label", text_col("label"), False),
                ("rank", int_col("rank"), True),
                ("score", float_col("score"), True),
                ("respondent", text_col("respondent"), False),
                ("run", int_col("response_run"), True),
                ("item", text_col("item_id"), False),
            ],
        )
    )
    return section
