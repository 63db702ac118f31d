"""What the weakly supervised learners share: checking constraints against X, difference vectors."""

from __future__ import annotations

import warnings

import numpy as np

from metricli.constraints import Pairs, Quadruplets, Triplets, validate
from metricli.errors import MetricliError
from metricli.learners.base import check_not_all_identical, check_points


def check_weak_input(
    X: np.ndarray, constraints: object, expected: type, learner: str
) -> tuple[np.ndarray, Pairs | Triplets | Quadruplets]:
    """X as float64 and the constraints validated against it, or a MetricliError."""
    X = check_points(X, min_rows=2)
    check_not_all_identical(X)
    if not isinstance(constraints, expected):
        given = getattr(constraints, "kind", type(constraints).__name__)
        raise MetricliError(f"{learner} learns from {expected.kind}, not {given}")
    validate(constraints, X.shape[0], where=f"{learner}: {expected.kind}")
    return X, constraints


def differences(X: np.ndarray, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Rows X[first] - X[second], one per constraint (m x d)."""
    return X[first] - X[second]


def informative(*diffs: np.ndarray, learner: str, what: str) -> np.ndarray:
    """Mask of constraints whose difference vectors are all non-zero.

    A pair of identical points is at distance 0 under every metric: it says nothing
    about M (and would make LogDet or ratio objectives infinite), so it is dropped
    with a warning.
    """
    keep = np.ones(diffs[0].shape[0], dtype=bool)
    for diff in diffs:
        keep &= np.any(diff != 0, axis=1)
    dropped = int((~keep).sum())
    if dropped:
        warnings.warn(
            f"{learner}: ignoring {dropped} {what} that join identical points (distance 0 under any metric)",
            UserWarning,
            stacklevel=3,
        )
    if not keep.any():
        raise MetricliError(f"{learner}: every one of the {what} joins identical points; nothing to learn")
    return keep
