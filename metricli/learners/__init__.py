"""All learners, by their command-line name."""

from __future__ import annotations

from metricli.errors import MetricliError
from metricli.learners.base import MahalanobisLearner
from metricli.learners.covariance import Covariance
from metricli.learners.itml import ITML
from metricli.learners.kissme import KISSME
from metricli.learners.lfda import LFDA
from metricli.learners.lmnn import LMNN
from metricli.learners.lsml import LSML
from metricli.learners.mlkr import MLKR
from metricli.learners.mmc import MMC
from metricli.learners.nca import NCA
from metricli.learners.rca import RCA
from metricli.learners.scml import SCML
from metricli.learners.sdml import SDML
from metricli.learners.self_lfda import SELF

LEARNERS: dict[str, type[MahalanobisLearner]] = {
    cls.name: cls
    for cls in (Covariance, NCA, LMNN, MLKR, LFDA, SELF, RCA, KISSME, ITML, SDML, MMC, LSML, SCML)
}


def get_learner(name: str) -> type[MahalanobisLearner]:
    """The learner class called ``name`` (any case: ``"lmnn"``, ``"LMNN"``), as ``metricli fit`` names it."""
    key = name.lower()
    if key not in LEARNERS:
        raise MetricliError(f"unknown algorithm '{name}'; choose one of: {', '.join(sorted(LEARNERS))}")
    return LEARNERS[key]


__all__ = [
    "ITML",
    "KISSME",
    "LEARNERS",
    "LFDA",
    "LMNN",
    "LSML",
    "MLKR",
    "MMC",
    "NCA",
    "RCA",
    "SCML",
    "SDML",
    "SELF",
    "Covariance",
    "MahalanobisLearner",
    "get_learner",
]
