"""All learners, by their command-line name."""

from __future__ import annotations

from metricli.errors import MetricliError
from metricli.learners.base import MahalanobisLearner
from metricli.learners.covariance import Covariance
from metricli.learners.itml import ITML
from metricli.learners.lsml import LSML
from metricli.learners.mmc import MMC
from metricli.learners.scml import SCML
from metricli.learners.sdml import SDML

LEARNERS: dict[str, type[MahalanobisLearner]] = {
    cls.name: cls for cls in (Covariance, ITML, LSML, MMC, SCML, SDML)
}


def get_learner(name: str) -> type[MahalanobisLearner]:
    key = name.lower()
    if key not in LEARNERS:
        raise MetricliError(f"unknown algorithm '{name}'; choose one of: {', '.join(sorted(LEARNERS))}")
    return LEARNERS[key]


__all__ = [
    "ITML",
    "LEARNERS",
    "LSML",
    "MMC",
    "SCML",
    "SDML",
    "Covariance",
    "MahalanobisLearner",
    "get_learner",
]
