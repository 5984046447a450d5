"""What an import wrote: :class:`ImportSummary`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from crisiseval.store import JudgmentRecord, LabelRecord, ResponseRecord


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
    repaired_scores: int = 0
    """Expert scores whose unusable ``answer`` field was repaired: attached to the item's
    lowest-scored answer (each also has a line in :attr:`warnings`)."""

    @classmethod
    def of(
        cls,
        *,
        study_dir: str,
        files: dict[str, str],
        skipped: dict[str, str],
        samples: dict[str, int],
        items: int,
        labels: list[LabelRecord],
        responses: list[ResponseRecord],
        judgments: list[JudgmentRecord],
        not_judged: Iterable[str],
        warnings: Iterable[str],
        repaired_scores: int = 0,
    ) -> ImportSummary:
        """The summary of the records written (``not_judged``: the judge of each unjudged
        answer)."""
        return cls(
            study_dir=study_dir,
            files=dict(sorted(files.items())),
            skipped=dict(sorted(skipped.items())),
            samples=dict(sorted(samples.items())),
            items=items,
            labels=_tally(r.rater_kind for r in labels),
            label_status=_tally(r.status for r in labels),
            responses=_tally(r.respondent for r in responses),
            judgments=_tally(r.judge for r in judgments),
            judgment_status=_tally(r.status for r in judgments),
            not_judged=_tally(not_judged),
            warnings=tuple(warnings),
            repaired_scores=repaired_scores,
        )

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


def _tally(values: Iterable[str]) -> dict[str, int]:
    return dict(sorted(Counter(values).items()))
