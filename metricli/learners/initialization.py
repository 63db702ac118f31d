"""Starting points for the learners that optimise L directly (NCA, LMNN, MLKR).

``init`` is one of ``auto``, ``pca``, ``lda``, ``identity``, ``random`` or a matrix
of shape (n_components, n_features). ``auto`` follows scikit-learn's rule: LDA when
``n_components <= min(n_features, n_classes - 1)`` (classification only), else PCA
when ``n_components < min(n_features, n_samples)``, else the identity.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from metricli.errors import MetricliError
from metricli.learners.base import fix_signs

INIT_CHOICES = ("auto", "pca", "lda", "identity", "random")

INIT_HELP = (
    "Starting L: auto, pca, lda, identity, random, or a matrix (n_components x n_features). "
    "auto = lda if n_components <= classes - 1, else pca if n_components < features, else identity."
)


def check_unit_scale(X: np.ndarray, learner: str) -> None:
    """Refuse data whose spread is so far from 1 that a unit-scale objective is meaningless.

    NCA's and MLKR's kernels exp(-d) and LMNN's unit margin are absolute: with a spread
    near 1e±100 the squared distances overflow, or every point looks equally near.
    """
    check_spread(float(np.max(np.abs(X - X.mean(axis=0)))), learner)


def check_spread(spread: float, learner: str) -> None:
    """:func:`check_unit_scale` given the largest distance of a feature from its mean."""
    if not 1e-100 < spread < 1e100:
        raise MetricliError(
            f"{learner}: the features reach {spread:.3g} from their mean; its objective works at "
            "unit scale, so standardize or rescale the features first"
        )


def resolve_n_components(n_components: int | None, n_features: int, learner: str) -> int:
    if n_components is None:
        return n_features
    if isinstance(n_components, bool) or int(n_components) != n_components:
        raise MetricliError(f"{learner}: n_components must be a whole number, got {n_components!r}")
    if not 1 <= int(n_components) <= n_features:
        raise MetricliError(
            f"{learner}: n_components={n_components} is out of range; use 1 to {n_features} (the number of features)"
        )
    return int(n_components)


class PointStatistics:
    """What the pca and lda starting points need of the points: their scatter about the mean,
    and per class the counts, means and the scatter about the class means. Computed here
    from X; the engine fits compute the same sums over partitions."""

    def __init__(self, X: np.ndarray) -> None:
        self.X = X
        self.n, self.d = X.shape

    def scatter(self) -> np.ndarray:
        centered = self.X - self.X.mean(axis=0)
        return centered.T @ centered

    def class_statistics(
        self, labels: np.ndarray, n_classes: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
        means = np.zeros((n_classes, self.d))
        np.add.at(means, labels, self.X)
        means /= counts[:, None]
        within = self.X - means[labels]
        return counts, means, within.T @ within


def initial_components(
    init: str | np.ndarray,
    X: np.ndarray | Any,
    n_components: int | None,
    *,
    labels: np.ndarray | None = None,
    random_state: int | None = None,
    learner: str = "learner",
) -> np.ndarray:
    """The initial L, shape (n_components, n_features).

    ``labels`` are integer class codes 0..C-1 (None for regression: no ``lda``). X may be any
    object with the n, d and methods of :class:`PointStatistics`.
    """
    stats = PointStatistics(X) if isinstance(X, np.ndarray) else X
    n, d = stats.n, stats.d
    if not isinstance(init, str):
        L = np.asarray(init, dtype=np.float64)
        if L.ndim != 2 or L.shape[1] != d:
            raise MetricliError(
                f"{learner}: the init matrix has shape {L.shape}; it needs {d} columns (one per feature)"
            )
        if n_components is not None and L.shape[0] != n_components:
            raise MetricliError(
                f"{learner}: the init matrix has {L.shape[0]} rows but n_components={n_components}"
            )
        if L.shape[0] > d:
            raise MetricliError(f"{learner}: the init matrix has {L.shape[0]} rows; at most {d} allowed")
        if not np.all(np.isfinite(L)):
            raise MetricliError(f"{learner}: the init matrix has missing or infinite entries")
        return L.copy()

    k = resolve_n_components(n_components, d, learner)
    choice = init.lower()
    if choice not in INIT_CHOICES:
        raise MetricliError(
            f"{learner}: unknown init '{init}'; use one of {', '.join(INIT_CHOICES)} or a matrix file"
        )
    n_classes = 0 if labels is None else int(labels.max()) + 1
    if choice == "auto":
        if labels is not None and k <= min(d, n_classes - 1):
            try:
                return _lda(stats, labels, k, learner)
            except MetricliError:
                pass  # no spread within the classes: fall back to the unsupervised rule
        choice = "pca" if k < min(d, n) else "identity"
    if choice == "identity":
        return np.eye(k, d)
    if choice == "random":
        return np.random.default_rng(random_state).standard_normal((k, d))
    if choice == "pca":
        return _pca(stats, k, learner)
    if labels is None:
        raise MetricliError(f"{learner}: init 'lda' needs class labels; use pca, identity or random")
    return _lda(stats, labels, k, learner)


def _pca(stats: PointStatistics, k: int, learner: str) -> np.ndarray:
    """The k leading principal directions (unit rows, largest variance first)."""
    values, vectors = np.linalg.eigh(stats.scatter())
    order = np.argsort(values)[::-1][:k]
    if values[order[0]] <= 0:
        raise MetricliError(f"{learner}: init 'pca' needs points that are not all identical")
    return fix_signs(vectors[:, order].T)


def _lda(stats: PointStatistics, labels: np.ndarray, k: int, learner: str) -> np.ndarray:
    """Fisher's discriminant directions, scaled so the within-class variance along each is 1.

    The within-class covariance Σ_w is whitened on its range (directions of
    eigenvalue below 1e-8 · the largest are dropped, as for constant columns), and
    the leading eigenvectors of the between-class covariance in that space are mapped back.
    """
    n_classes = int(labels.max()) + 1
    if k > n_classes - 1:
        raise MetricliError(
            f"{learner}: init 'lda' gives at most {n_classes - 1} components (classes - 1), "
            f"but n_components={k}; use pca or identity"
        )
    counts, means, within = stats.class_statistics(labels, n_classes)
    sigma_w = within / max(stats.n - n_classes, 1)
    values, vectors = np.linalg.eigh(sigma_w)
    keep = values > 1e-8 * max(values.max(), 0.0)
    if not keep.any():
        raise MetricliError(f"{learner}: init 'lda' needs spread within the classes; use pca or identity")
    whiten = vectors[:, keep] / np.sqrt(values[keep])
    centred_means = (means - counts @ means / counts.sum()) * np.sqrt(counts)[:, None]
    between = whiten.T @ (centred_means.T @ centred_means) @ whiten
    b_values, b_vectors = np.linalg.eigh(between)
    order = np.argsort(b_values)[::-1][:k]
    if order.size < k:
        raise MetricliError(
            f"{learner}: init 'lda' finds only {order.size} discriminant directions; use pca or identity"
        )
    return fix_signs((whiten @ b_vectors[:, order]).T)
