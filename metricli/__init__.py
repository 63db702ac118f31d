"""metricli: learn a Mahalanobis distance from data and prove what kind of distance it is."""

__version__ = "0.1.0"

#: every public name, imported on first use: ``import metricli`` (and so the command line's
#: entry point, metricli.entry) loads none of pandas, scipy or the learners until a name
#: that needs them is asked for
_LAZY = {
    **dict.fromkeys(
        ("check_distance", "check_mahalanobis", "metric_repair", "nearest_psd"), "metricli.axioms"
    ),
    "MetricliError": "metricli.errors",
    **dict.fromkeys(("Bundle", "load_bundle", "save_bundle"), "metricli.io.bundle"),
    **dict.fromkeys(
        (
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
        ),
        "metricli.learners",
    ),
    **dict.fromkeys(
        ("build_index", "distances", "evaluate", "neighbors", "neighbors_in_index", "transform"),
        "metricli.api",
    ),
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


#: the public names: the version and every lazily imported name above (one list, not two)
__all__ = ["__version__", *_LAZY]
