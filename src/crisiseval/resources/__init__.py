"""The resource check: which crisis resources (phone numbers, helpline names) an answer offers,
and whether they fit the user's country. Pure Python, no model: a helpline directory
(``data/helplines.yaml``, or the user's own file) and ``phonenumbers``."""

from __future__ import annotations

from crisiseval.resources.check import CountryBucket, ResourceCheck, check_answer, country_bucket
from crisiseval.resources.directory import (
    FORMAT,
    Directory,
    Helpline,
    HelplineKind,
    normalize_number,
)
from crisiseval.resources.extract import Resource, ResourceKind, find_resources, region_code

__all__ = [
    "FORMAT",
    "CountryBucket",
    "Directory",
    "Helpline",
    "HelplineKind",
    "Resource",
    "ResourceCheck",
    "ResourceKind",
    "check_answer",
    "country_bucket",
    "find_resources",
    "normalize_number",
    "region_code",
]
