"""Scoring a metric the way users use it: kNN in the learned space, on held-out folds.

The protocol shared by ``metricli evaluate`` and the benchmark harness: stratified
folds drawn with a seed, a learner fitted on the training folds, kNN (majority
vote, ties to the nearest neighbour's class) or kNN regression (mean of the
neighbours' targets) on the held-out fold.
"""

from __future__ import annotations

import numpy as np

from metricli.kernels import knn


def stratified_folds(labels: np.ndarray, n_splits: int = 5, seed: int | None = 0) -> list[np.ndarray]:
    """Test indices of ``n_splits`` folds; each class is spread evenly over the folds.

    Within each class the rows are shuffled with ``seed`` and dealt round-robin,
    continuing where the previous class stopped, so fold sizes differ by at most one.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    assignment = np.empty(len(labels), dtype=np.intp)
    start = 0
    for cls in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == cls))
        assignment[members] = (start + np.arange(members.size)) % n_splits
        start = (start + members.size) % n_splits
    return [np.flatnonzero(assignment == f) for f in range(n_splits)]


def kfold(n: int, n_splits: int = 5, seed: int | None = 0) -> list[np.ndarray]:
    """Test indices of ``n_splits`` shuffled folds (for regression targets)."""
    order = np.random.default_rng(seed).permutation(n)
    return [np.sort(order[f::n_splits]) for f in range(n_splits)]


def knn_classify(train: np.ndarray, train_labels: np.ndarray, test: np.ndarray, k: int = 3) -> np.ndarray:
    """Majority vote of the k nearest training points; a tie goes to the class of the nearest tied one."""
    train_labels = np.asarray(train_labels)
    classes, codes = np.unique(train_labels, return_inverse=True)
    idx, _ = knn(test, train, k)
    neighbour_codes = codes[idx]
    votes = np.zeros((test.shape[0], classes.size), dtype=np.intp)
    np.add.at(votes, (np.arange(test.shape[0])[:, None], neighbour_codes), 1)
    best = votes.max(axis=1)
    # first neighbour (nearest) whose class has the top vote count
    is_top = votes[np.arange(test.shape[0])[:, None], neighbour_codes] == best[:, None]
    winner = neighbour_codes[np.arange(test.shape[0]), np.argmax(is_top, axis=1)]
    return classes[winner]


def knn_regress(train: np.ndarray, train_targets: np.ndarray, test: np.ndarray, k: int = 3) -> np.ndarray:
    """Mean target of the k nearest training points."""
    idx, _ = knn(test, train, k)
    return np.asarray(train_targets, dtype=np.float64)[idx].mean(axis=1)
