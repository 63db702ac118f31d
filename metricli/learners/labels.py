"""Class labels for the supervised learners: validated, encoded, and grouped."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from metricli.errors import MetricliError
from metricli.lazy import pd


def unlabelled_mask(labels: object) -> np.ndarray:
    """True where a label is missing: None, NaN, pandas' NA or NaT, or the empty string.

    The one rule for every learner, as the constraint generators apply it: a pandas column
    with blanks (NaN in an object or float column, NA in a string column) marks its
    unlabelled rows whatever its dtype.
    """
    values = np.asarray(labels, dtype=object).ravel()
    blank = np.fromiter((isinstance(v, str) and v == "" for v in values), dtype=bool, count=values.size)
    return np.asarray(pd.isna(values), dtype=bool) | blank


@dataclass
class ClassLayout:
    """Labels encoded as 0..C-1, and an order that makes every class contiguous.

    ``order`` sorts the points by class (stably); after it, class c occupies rows
    ``bounds[c]:bounds[c + 1]``.
    """

    classes: np.ndarray
    codes: np.ndarray
    order: np.ndarray
    bounds: np.ndarray

    @property
    def sizes(self) -> np.ndarray:
        return np.diff(self.bounds)

    @property
    def sorted_codes(self) -> np.ndarray:
        return self.codes[self.order]


def class_layout(y: object, n_samples: int, learner: str, min_classes: int = 2) -> ClassLayout:
    if y is None:
        raise MetricliError(f"{learner} is supervised: give class labels")
    labels = np.asarray(y)
    if labels.ndim != 1 or labels.shape[0] != n_samples:
        raise MetricliError(f"{learner}: got {labels.size} labels for {n_samples} points; give one per point")
    missing = np.flatnonzero(unlabelled_mask(labels))
    if missing.size:
        raise MetricliError(
            f"{learner} uses labelled points only; {missing.size} points have no label "
            f"(first: row {missing[0]})"
        )
    try:
        classes, codes = np.unique(labels, return_inverse=True)
    except TypeError:
        classes, codes = np.unique(labels.astype(str), return_inverse=True)
    if classes.size < min_classes:
        raise MetricliError(f"{learner} needs at least {min_classes} classes; the labels hold {classes.size}")
    codes = codes.astype(np.intp)
    sizes = np.bincount(codes, minlength=classes.size)
    require_same_class_pair(sizes, learner)
    order = np.argsort(codes, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    return ClassLayout(classes=classes, codes=codes, order=order, bounds=bounds)


def require_same_class_pair(sizes: np.ndarray, learner: str) -> None:
    """Refuse labels in which every class has one point: there is no same-class pair to learn from
    (NCA's objective and gradient are then identically 0, LFDA's within-class scatter is 0)."""
    if sizes.size and int(np.max(sizes)) < 2:
        raise MetricliError(
            f"{learner}: every one of the {sizes.size} classes has a single point, so no two points share "
            "a class; give a label column whose classes have two or more points"
        )
