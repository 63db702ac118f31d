"""metricli: learn a Mahalanobis distance from data and prove what kind of distance it is."""

__version__ = "0.1.0"

from metricli.axioms import check_distance, check_mahalanobis, metric_repair, nearest_psd
from metricli.errors import MetricliError
from metricli.io.bundle import Bundle, load_bundle, save_bundle
from metricli.learners import (
    ITML,
    KISSME,
    LEARNERS,
    LFDA,
    LMNN,
    LSML,
    MLKR,
    MMC,
    NCA,
    RCA,
    SCML,
    SDML,
    SELF,
    Covariance,
    MahalanobisLearner,
    get_learner,
)

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
    "Bundle",
    "Covariance",
    "MahalanobisLearner",
    "MetricliError",
    "__version__",
    "check_distance",
    "check_mahalanobis",
    "get_learner",
    "load_bundle",
    "metric_repair",
    "nearest_psd",
    "save_bundle",
]
