"""All learners, by their command-line name."""

from __future__ import annotations

from metricli.errors import MetricliError
from metricli.learners.base import MahalanobisLearner
from metricli.learners.covariance import Covariance
from metricli.learners.lmnn import LMNN
from metricli.learners.mlkr import MLKR
from metricli.learners.nca import NCA

LEARNERS: dict[str, type[MahalanobisLearner]] = {cls.name: cls for cls in (Covariance, NCA, LMNN, MLKR)}


def get_learner(name: str) -> type[MahalanobisLearner]:
    key = name.lower()
    if key not in LEARNERS:
        raise MetricliError(f"unknown algorithm '{name}'; choose one of: {', '.join(sorted(LEARNERS))}")
    return LEARNERS[key]


__all__ = ["LEARNERS", "LMNN", "MLKR", "NCA", "Covariance", "MahalanobisLearner", "get_learner"]
