"""The seven crisis labels and the one alias table that maps every known spelling onto them."""

from __future__ import annotations

import math
import re

from crisiseval.errors import InputError

LABELS: tuple[str, ...] = (
    "suicidal_ideation",
    "self_harm",
    "anxiety_crisis",
    "violent_thoughts",
    "substance_abuse_or_withdrawal",
    "risk_taking_behaviours",
    "no_crisis",
)
"""All labels, in the study's order."""

NO_CRISIS = "no_crisis"

CRISIS_LABELS: tuple[str, ...] = tuple(label for label in LABELS if label != NO_CRISIS)
"""The six labels that denote a crisis (everything but ``no_crisis``)."""

# Keys are in the folded form produced by `_fold` (lower case, runs of spaces / hyphens / slashes
# / underscores collapsed to one underscore). Canonical names are added below.
_ALIASES: dict[str, str] = {
    # suicidal_ideation
    "suicide": "suicidal_ideation",
    "suicidal": "suicidal_ideation",
    "suicidality": "suicidal_ideation",
    "suicidal_thoughts": "suicidal_ideation",
    "suicide_ideation": "suicidal_ideation",
    "suicidal_ideations": "suicidal_ideation",
    # self_harm
    "selfharm": "self_harm",
    "self_harming": "self_harm",
    "self_injury": "self_harm",
    "self_injurious_behaviour": "self_harm",
    "self_injurious_behavior": "self_harm",
    "nssi": "self_harm",
    # anxiety_crisis
    "anxiety": "anxiety_crisis",
    "anxiety_attack": "anxiety_crisis",
    "panic": "anxiety_crisis",
    "panic_attack": "anxiety_crisis",
    # violent_thoughts
    "violence": "violent_thoughts",
    "violent": "violent_thoughts",
    "violent_thought": "violent_thoughts",
    "violent_ideation": "violent_thoughts",
    "homicidal_ideation": "violent_thoughts",
    # substance_abuse_or_withdrawal
    "substance_abuse_withdrawal": "substance_abuse_or_withdrawal",
    "substance_abuse_and_withdrawal": "substance_abuse_or_withdrawal",
    "substance_abuse": "substance_abuse_or_withdrawal",
    "substance_use": "substance_abuse_or_withdrawal",
    "substance_use_withdrawal": "substance_abuse_or_withdrawal",
    "substance_use_or_withdrawal": "substance_abuse_or_withdrawal",
    "substance_withdrawal": "substance_abuse_or_withdrawal",
    "withdrawal": "substance_abuse_or_withdrawal",
    "substance": "substance_abuse_or_withdrawal",
    # risk_taking_behaviours
    "risk_taking_behaviors": "risk_taking_behaviours",
    "risk_taking_behaviour": "risk_taking_behaviours",
    "risk_taking_behavior": "risk_taking_behaviours",
    "risk_taking": "risk_taking_behaviours",
    "risky_behaviours": "risk_taking_behaviours",
    "risky_behaviors": "risk_taking_behaviours",
    "risky_behaviour": "risk_taking_behaviours",
    "risky_behavior": "risk_taking_behaviours",
    # no_crisis
    "none": "no_crisis",
    "no": "no_crisis",
    "no_crises": "no_crisis",
    "not_crisis": "no_crisis",
    "not_a_crisis": "no_crisis",
    "non_crisis": "no_crisis",
    "nocrisis": "no_crisis",
}
_ALIASES.update({label: label for label in LABELS})

_FOLD_RE = re.compile(r"[\s\-/_]+")


def _fold(raw: str) -> str:
    return _FOLD_RE.sub("_", raw.strip().casefold()).strip("_")


def canonical_label(raw: str) -> str | None:
    """The canonical label for ``raw`` (any known spelling), or None when it is not known."""
    return _ALIASES.get(_fold(raw))


def allowed_labels_text() -> str:
    return ", ".join(LABELS)


def normalize_label(raw: str, *, where: str) -> str:
    """Map any known spelling of a label onto its canonical name.

    Matching ignores case and treats spaces, hyphens, slashes and underscores alike
    (``Self-Harm``, ``self harm``, ``substance_abuse/withdrawal``, ``risk_taking_behaviors``).
    An unknown label raises :class:`InputError` naming ``where`` (file and field).
    """
    if not isinstance(raw, str):
        raise InputError(
            f"{where}: expected a crisis label (a string), got {type(raw).__name__} {raw!r}"
        )
    label = canonical_label(raw)
    if label is None:
        raise InputError(
            f"{where}: unknown crisis label {raw!r} (allowed: {allowed_labels_text()})"
        )
    return label


def normalize_optional_label(raw: object, *, where: str) -> str | None:
    """Like :func:`normalize_label`, but None, NaN and blank strings mean "no label" (None).

    The study's files use ``""`` for "the classifier gave no usable label" and ``NaN`` for a
    missing human label.
    """
    if raw is None:
        return None
    if isinstance(raw, float) and math.isnan(raw):
        return None
    if isinstance(raw, str):
        if not raw.strip():
            return None
        return normalize_label(raw, where=where)
    raise InputError(
        f"{where}: expected a crisis label (a string) or nothing, got {type(raw).__name__} {raw!r}"
    )
