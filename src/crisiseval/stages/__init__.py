"""The study's model stages, registered in :mod:`crisiseval.stages.base`: classify, respond,
judge. Each reads and writes the run store; none calls another."""

from crisiseval.stages.base import (
    Stage,
    StageOutcome,
    StudyContext,
    register_stage,
    registered,
    stage_names,
    unregister_stage,
)

__all__ = [
    "Stage",
    "StageOutcome",
    "StudyContext",
    "register_stage",
    "registered",
    "stage_names",
    "unregister_stage",
]
