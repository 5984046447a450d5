"""Errors that reach the user as one clear line (the CLI prints them and exits non-zero)."""

from __future__ import annotations


class CrisisEvalError(Exception):
    """A problem the user can fix: bad input, bad config, a missing file.

    The message is one line naming what is wrong and where (file, line or field) and what was
    expected. The CLI prints it without a traceback and exits with status 2.
    """


class ConfigError(CrisisEvalError):
    """The experiment file or a model definition is wrong."""


class InputError(CrisisEvalError):
    """A data file (corpus source, rubric, taxonomy, released study file) is wrong."""


class StoreError(CrisisEvalError):
    """The run store cannot be opened or is inconsistent."""
