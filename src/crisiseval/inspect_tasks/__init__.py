"""Inspect interop (the optional extra ``crisiseval[inspect]``).

* :mod:`~crisiseval.inspect_tasks.tasks`: the Inspect task ``crisiseval/crisis_response`` (a
  crisiseval sample as its dataset, crisiseval's rubric judge as its scorer), the scorer
  ``crisiseval/crisis_judge`` and the metric ``crisiseval/harmful_share``. Inspect finds them
  through the ``inspect_ai`` entry point, which loads :mod:`~crisiseval.inspect_tasks._registry`.
* :mod:`~crisiseval.inspect_tasks.importer`: an Inspect eval log's answers as crisiseval
  responses (``crisiseval import-inspect``).
* :mod:`~crisiseval.inspect_tasks.dataset` and :mod:`~crisiseval.inspect_tasks.judging`: the
  parts that need no Inspect (the items of a task, the judge's prompt and reply parsing).

Only ``tasks``, ``_registry`` and the functions of ``importer`` that read a log import
``inspect_ai``; everything else in crisiseval works without the extra.
"""

from __future__ import annotations

import importlib.util

from crisiseval.errors import InputError

INSTALL_HINT = "pip install 'crisiseval[inspect]'"


def inspect_available() -> bool:
    """Whether ``inspect_ai`` can be imported (the ``inspect`` extra is installed)."""
    return importlib.util.find_spec("inspect_ai") is not None


def require_inspect(what: str) -> None:
    """Raise a one-line error naming ``what`` needs Inspect when it is not installed."""
    if not inspect_available():
        raise InputError(
            f"{what} needs Inspect (inspect_ai), which is not installed: {INSTALL_HINT}"
        )


__all__ = ["INSTALL_HINT", "inspect_available", "require_inspect"]
