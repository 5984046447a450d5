"""Importers: released data of published studies -> run store."""

from __future__ import annotations

from crisiseval.importers.paper import ImportSummary, import_study

__all__ = ["ImportSummary", "import_study"]
