"""Fixed wording shared by the HTML page and its Markdown twin."""

from __future__ import annotations

__all__ = ["APPENDIX_TITLE", "CONTENT_WARNING", "PROBLEMS_POINTER"]

APPENDIX_TITLE = "Appendix: what the run store holds"
CONTENT_WARNING = (
    "this report quotes messages about suicide, self-harm, violence and substance use, and "
    "answers that handle them badly (in the failure gallery)."
)
PROBLEMS_POINTER = (
    "Some records are unparsed, failed or pending: they are kept, counted and listed in the "
    "appendix, never dropped silently."
)
