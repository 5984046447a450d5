"""Guard models and moderation endpoints as crisis classifiers.

A guard (Llama Guard 3, Qwen3Guard, any chat model asked yes or no) or the OpenAI moderation
endpoint says whether an input is unsafe and in which categories; the tables in ``guards/data``
(our words) map those categories to the study's labels, or to :data:`ANY_CRISIS` when a category
covers several. The ``classify`` stage runs them like any classifier (every call a cell).
"""

from crisiseval.guards._formats import GuardFormat, format_names, load_format
from crisiseval.guards._mapping import ANY_CRISIS, TARGETS, combine, is_crisis
from crisiseval.guards._moderation import ModerationMapping, load_moderation, parse_moderation

__all__ = [
    "ANY_CRISIS",
    "TARGETS",
    "GuardFormat",
    "ModerationMapping",
    "combine",
    "format_names",
    "is_crisis",
    "load_format",
    "load_moderation",
    "parse_moderation",
]
