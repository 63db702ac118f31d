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

#: the engine operations, imported on first use (``import metricli`` stays light)
_LAZY = {
    "build_index": "metricli.api",
    "distances": "metricli.api",
    "evaluate": "metricli.api",
    "neighbors": "metricli.api",
    "neighbors_in_index": "metricli.api",
    "transform": "metricli.api",
    "make_engine": "metricli.engines",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'metricli' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


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
    "build_index",
    "check_distance",
    "check_mahalanobis",
    "distances",
    "evaluate",
    "get_learner",
    "load_bundle",
    "make_engine",
    "metric_repair",
    "nearest_psd",
    "neighbors",
    "neighbors_in_index",
    "save_bundle",
    "transform",
]
