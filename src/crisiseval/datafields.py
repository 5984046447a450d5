"""Field types shared by crisiseval's own data files (probe suites, persona cards): a crisis
label in any known spelling, a country code, a language tag, and the one-line wording of a
pydantic error."""

from __future__ import annotations

import functools
import re
from typing import Annotated

from pydantic import AfterValidator, ValidationError

from crisiseval.taxonomy import LABELS, canonical_label

_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Z]{2}|-[A-Z][a-z]{3})?$")


@functools.cache
def region_codes() -> frozenset[str]:
    """ISO 3166-1 alpha-2 codes (phonenumbers' regions, the non-geographic ones left out)."""
    import phonenumbers

    return frozenset(r for r in phonenumbers.SUPPORTED_REGIONS if r.isalpha())


def _label(value: str) -> str:
    label = canonical_label(value)
    if label is None:
        raise ValueError(f"unknown label {value!r} (expected one of {', '.join(LABELS)})")
    return label


def _locale(value: str) -> str:
    if value.upper() not in region_codes():
        raise ValueError(
            f"unknown locale {value!r} (expected an ISO 3166-1 alpha-2 country code such as ES "
            "or IN)"
        )
    return value.upper()


def _language(value: str) -> str:
    if not _LANGUAGE.match(value):
        raise ValueError(
            f"language {value!r} is not a BCP-47 tag such as en, es or pt-BR (primary language, "
            "optional region)"
        )
    return value


CrisisLabel = Annotated[str, AfterValidator(_label)]
"""One of the taxonomy's seven labels, in any known spelling (stored canonical)."""
Locale = Annotated[str, AfterValidator(_locale)]
"""A country code (stored upper case)."""
Language = Annotated[str, AfterValidator(_language)]
"""A BCP-47 primary language tag, with an optional region or script."""


def first_error(exc: ValidationError) -> tuple[str, str]:
    """(field path, message) of a validation error's first problem, worded for one line; the
    path is empty for a rule about the record as a whole."""
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    msg = str(err["msg"])
    if err["type"] == "extra_forbidden":
        msg = "unknown field (typo?)"
    elif err["type"] == "missing":
        msg = "missing (required)"
    elif err["type"] == "literal_error":
        msg = f"{msg}, got {err.get('input')!r}"
    return loc, msg.removeprefix("Value error, ")
