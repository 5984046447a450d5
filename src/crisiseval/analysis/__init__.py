"""Analysis: pure functions over the store's frames (no I/O, no model calls).

* :mod:`~crisiseval.analysis.agreement`: label agreement (Cohen, Fleiss, Krippendorff,
  classifiers vs humans, confusions);
* :mod:`~crisiseval.analysis.scores`: appropriateness scores per respondent (x label);
* :mod:`~crisiseval.analysis.judge_validity`: judges vs humans on the same responses, juries,
  lowest-score sampling;
* :mod:`~crisiseval.analysis.failures`: the failure gallery.
"""

from __future__ import annotations

from crisiseval.analysis.common import AnalysisError, rater_key, round_half_up, split_rater_key

__all__ = ["AnalysisError", "rater_key", "round_half_up", "split_rater_key"]
