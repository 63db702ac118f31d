"""The check ``fit`` runs after every fit with class labels: does the learned metric lose to Euclidean kNN?

A few refits of the same learner, with the same options, on stratified splits of (at
most a sample of) the labelled rows (:func:`metricli.evaluation.knn_check`); a note
when the learned metric may score more than 3 points below Euclidean distance on the same
features (its mean loss is not a standard error clear of 3 points). ``--no-knn-check`` (or the environment variable ``METRICLI_KNN_CHECK=0``) turns it
off.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from typing import Annotated, Any

import numpy as np
import typer

from metricli.errors import MetricliError
from metricli.evaluation import KnnCheck, knn_check
from metricli.io.tables import Dataset
from metricli.learners.base import MahalanobisLearner
from metricli.supervision import supervision

ENVIRONMENT = "METRICLI_KNN_CHECK"

Option = Annotated[
    bool,
    typer.Option(
        "--no-knn-check",
        help="Skip the check after fitting on labelled data (refits on held-out splits, a few "
        "seconds at most) that notes a metric scoring below Euclidean kNN.",
    ),
]


def applies(cls: type[MahalanobisLearner], dataset: Dataset, options: dict[str, Any]) -> bool:
    """Labels to score with, and supervision a subset of rows can be given again.

    Constraints read from a file name rows of the whole file, so a learner given them is
    not refitted; constraints drawn from the labels are drawn again from each split's.
    """
    if options.get("no_knn_check") or os.environ.get(ENVIRONMENT, "1").strip() == "0":
        return False
    if dataset.labels is None:
        return False
    if cls.supervision == "weakly-supervised":
        return not any(options.get(kind) for kind in cls.constraint_kinds)
    return True


def run(
    cls: type[MahalanobisLearner],
    params: dict[str, Any],
    dataset: Dataset,
    X_fit: np.ndarray,
    options: dict[str, Any],
) -> KnnCheck | None:
    """Refit on splits of ``dataset`` (whose features, as the learner saw them, are ``X_fit``)."""

    def fit_components(train: np.ndarray) -> np.ndarray:
        part = dataclasses.replace(
            dataset,
            X=X_fit[train],
            rows=dataset.rows[train],
            labels=dataset.labels[train],
            target=None if dataset.target is None else dataset.target[train],
            ids=None if dataset.ids is None else dataset.ids[train],
            extra={},
        )
        X, fit_args, _ = supervision(cls, part, options, lambda message: None)
        learner = cls(**params)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            learner.fit(X, *fit_args)
        return learner.components_

    try:
        return knn_check(fit_components, X_fit, dataset.labels, seed=options.get("seed") or 0)
    except MetricliError:  # a split the learner cannot fit (e.g. a class left with one point): no verdict
        return None


def message(check: KnnCheck) -> str:
    return (
        f"the learned metric scored {check.learned:.3f} in {check.k}-NN accuracy on held-out rows against "
        f"{check.euclidean:.3f} for Euclidean distance on the same features "
        f"({100 * (check.learned - check.euclidean):+.1f} ± {100 * check.error:.1f} points, standard error, "
        f"over {check.n_splits} refits on splits of {check.n_rows} labelled rows); it may not suit this data. "
        f"--no-knn-check (or {ENVIRONMENT}=0) skips this check"
    )
