"""Analysis: pure functions over the store's frames (no I/O, no model calls).

* :mod:`~crisiseval.analysis.agreement`: label agreement (Cohen, Fleiss, Krippendorff,
  classifiers vs humans, confusions);
* :mod:`~crisiseval.analysis.scores`: appropriateness scores per respondent (x label);
* :mod:`~crisiseval.analysis.judge_validity`: judges vs humans on the same responses, juries,
  lowest-score sampling;
* :mod:`~crisiseval.analysis.failures`: the failure gallery;
* :mod:`~crisiseval.analysis.raters`: who is compared with whom in label agreement (rater groups
  by the items they labelled, pairwise raters, pooled confusions);
* :mod:`~crisiseval.analysis.judges`: the primary judge, juries and the human mean.

The modules are imported one by one (``from crisiseval.analysis.scores import ...``): they pull
in scipy, scikit-learn and statsmodels, which this package's import does not.
"""

from __future__ import annotations

from crisiseval.analysis.common import AnalysisError, rater_key, round_half_up, split_rater_key

__all__ = ["AnalysisError", "rater_key", "round_half_up", "split_rater_key"]
