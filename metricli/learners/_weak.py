"""What the weakly supervised learners share: checking constraints against X, difference vectors."""

from __future__ import annotations

import warnings

import numpy as np

from metricli.constraints import Chunks, Pairs, Quadruplets, Triplets, from_labels, validate
from metricli.errors import MetricliError
from metricli.learners.base import check_not_all_identical, check_points


def check_weak_input(
    X: np.ndarray, constraints: object, expected: type, learner: str, seed: int | None = None
) -> tuple[np.ndarray, Pairs | Triplets | Quadruplets]:
    """X as float64 and the constraints validated against it, or a MetricliError.

    Class labels (one per row of X) in place of the constraints are drawn from, as
    ``metricli fit LEARNER --label`` draws them: the default count, seeded with ``seed``.
    So the learner is also a supervised scikit-learn estimator, ``fit(X, y)``.
    """
    X = check_points(X, min_rows=2)
    check_not_all_identical(X)
    if is_class_labels(constraints, X.shape[0]):
        constraints = from_labels(expected.kind, constraints, None, seed=seed)
    if not isinstance(constraints, expected):
        given = getattr(constraints, "kind", type(constraints).__name__)
        raise MetricliError(f"{learner} learns from {expected.kind} or class labels, not {given}")
    validate(constraints, X.shape[0], where=f"{learner}: {expected.kind}")
    return X, constraints


def is_class_labels(value: object, n: int) -> bool:
    """Whether ``value`` is one label per point (a 1-D sequence of n), not a set of constraints."""
    if isinstance(value, (Pairs, Triplets, Quadruplets, Chunks, str, bytes)):
        return False
    try:
        labels = np.asarray(value, dtype=object)
    except (TypeError, ValueError):
        return False
    return labels.ndim == 1 and labels.shape[0] == n


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
