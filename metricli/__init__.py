"""metricli: learn a Mahalanobis distance from data and prove what kind of distance it is."""

__version__ = "0.1.0"

# Every public name is imported on first use: ``import metricli`` (and the console script,
# which must install its signal handlers before numpy and scipy load, so that a Ctrl-C in the
# first second of start-up gives one line and not a traceback) stays light.
_LAZY = {
    **dict.fromkeys(("check_distance", "check_mahalanobis", "metric_repair", "nearest_psd"), "metricli.axioms"),
    "MetricliError": "metricli.errors",
    **dict.fromkeys(("Bundle", "load_bundle", "save_bundle"), "metricli.io.bundle"),
    **dict.fromkeys(
        (
            "ITML", "KISSME", "LEARNERS", "LFDA", "LMNN", "LSML", "MLKR", "MMC", "NCA", "RCA", "SCML",
            "SDML", "SELF", "Covariance", "MahalanobisLearner", "get_learner",
        ),
        "metricli.learners",
    ),
    **dict.fromkeys(
        ("build_index", "distances", "evaluate", "neighbors", "neighbors_in_index", "transform"), "metricli.api"
    ),
    "make_engine": "metricli.engines",
}  # fmt: skip


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
