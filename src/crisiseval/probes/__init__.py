"""Probe suites: hand-written, versioned probes for what a forum corpus cannot measure.

Missed indirect risk and over-refusal on controlled risky/benign pairs, crisis resources for the
user's country, and behaviour beyond English. A suite loads as a sample (its probes are items with
their metadata in the store's ``probes`` table), so every stage and analysis works on it unchanged;
the behaviour judge (:mod:`crisiseval.stages.behaviour`) and the resource check
(:mod:`crisiseval.resources`) add what the 1-5 rubric cannot say.
"""

from crisiseval.probes.suite import (
    BEHAVIOUR_TEXT,
    BEHAVIOURS,
    FORMAT,
    MISSED_RISK,
    OVER_REFUSAL,
    Behaviour,
    Probe,
    Suite,
    builtin_names,
    builtin_suite,
    load_suite,
    parse_suite,
    resolve_suite,
)

__all__ = [
    "BEHAVIOURS",
    "BEHAVIOUR_TEXT",
    "FORMAT",
    "MISSED_RISK",
    "OVER_REFUSAL",
    "Behaviour",
    "Probe",
    "Suite",
    "builtin_names",
    "builtin_suite",
    "load_suite",
    "parse_suite",
    "resolve_suite",
]
