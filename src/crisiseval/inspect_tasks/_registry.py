"""What Inspect loads through crisiseval's ``inspect_ai`` entry point (``pyproject.toml``).

Inspect imports this module when it meets a name in the ``crisiseval/`` namespace (``inspect eval
crisiseval/crisis_response``); importing it registers the task, the scorer and the metric.
"""

from crisiseval.inspect_tasks.tasks import crisis_judge, crisis_response, harmful_share

__all__ = ["crisis_judge", "crisis_response", "harmful_share"]
