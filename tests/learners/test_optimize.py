"""The solver settings every iterative learner shares: max_iter and tol are checked, once, for all."""

from __future__ import annotations

import numpy as np
import pytest

from metricli.constraints import from_labels
from metricli.errors import MetricliError
from metricli.learners import LEARNERS

from .weak_fixtures import load_standardized

ITERATIVE = sorted(name for name, cls in LEARNERS.items() if {"max_iter", "tol"} <= set(cls._param_names()))
KIND = {"itml": "pairs", "sdml": "pairs", "mmc": "pairs", "lsml": "quadruplets", "scml": "triplets"}


def supervision(name: str, X: np.ndarray, labels: np.ndarray) -> object:
    cls = LEARNERS[name]
    if cls.supervision == "weakly-supervised":
        return from_labels(KIND[name], labels, 60, seed=0)
    if cls.supervision == "regression":
        return X[:, 0] + X[:, 1]
    return labels


def test_every_iterative_learner_is_covered():
    assert set(KIND) | {"nca", "lmnn", "mlkr"} == set(ITERATIVE)


@pytest.mark.parametrize("name", ITERATIVE)
@pytest.mark.parametrize(
    ("param", "value"),
    [("max_iter", 0), ("max_iter", -1), ("tol", 0.0), ("tol", -1.0), ("tol", np.nan), ("tol", np.inf)],
)
def test_solver_settings_out_of_range_are_refused(name, param, value):
    X, labels = load_standardized("iris")
    X = X[:, 2:] if name == "mlkr" else X
    with pytest.raises(MetricliError, match=f"{name}: {param} must be a positive"):
        LEARNERS[name](**{param: value}).fit(X, supervision(name, X, labels))
