"""Covariance: the classical Mahalanobis distance, M = pseudo-inverse of the covariance."""

from __future__ import annotations

import numpy as np

from metricli.errors import MetricliError
from metricli.learners.base import MahalanobisLearner, check_not_all_identical, check_points, fix_signs
from metricli.statistics import ScatterStats


class Covariance(MahalanobisLearner):
    """Mahalanobis (1936) distance: M = Σ⁺, the Moore–Penrose pseudo-inverse of the
    sample covariance Σ = (X - x̄)ᵀ(X - x̄) / (n - 1).

    With Σ = V Λ Vᵀ (eigenvalues above ``rtol · λ_max`` kept), L = Λ^{-1/2} Vᵀ, so
    L x whitens the data. Directions of zero variance (constant or linearly
    dependent columns) get weight 0: the result is then a pseudometric.

    Σ depends on the data only through its count, mean and scatter, so
    :meth:`fit_statistics` fits from statistics gathered in batches or on a cluster
    (:mod:`metricli.statistics`); :meth:`fit` is that applied to one array. The
    eigen-solve runs on Σ / s² for one global scale s, so that values near 1e±150 do
    not overflow; since (s²Σ')⁺ = Σ'⁺ / s², the result is exactly the pseudo-inverse.

    Reference: P. C. Mahalanobis, "On the generalised distance in statistics",
    Proceedings of the National Institute of Sciences of India, 1936.
    """

    name = "covariance"
    supervision = "unsupervised"
    peak_arrays = (4.0, 0.0)
    summary = "Inverse covariance (whitening); pseudo-inverse when the data are singular"
    reference = "Mahalanobis, Proc. Natl. Inst. Sci. India 1936"
    distributed_fit = "scatter"
    param_help = {
        "rtol": "Eigenvalues of the covariance at or below rtol × the largest count as zero "
        "(default: n_features × machine epsilon)."
    }

    def __init__(self, rtol: float | None = None) -> None:
        self.rtol = rtol

    def fit(self, X: np.ndarray, y: object = None) -> Covariance:
        X = check_points(X, min_rows=2)
        check_not_all_identical(X)
        scale = float(np.max(np.abs(X - X.mean(axis=0))))
        # statistics of X / scale: exact rescaling, and no overflow for huge or tiny values
        return self.fit_statistics(ScatterStats.from_array(X / scale), scale=scale)

    def fit_statistics(self, stats: ScatterStats, scale: float = 1.0) -> Covariance:
        """Fit from the count, mean and scatter of (X / scale)."""
        if stats.n < 2:
            raise MetricliError(f"covariance: points: need at least 2 rows, got {stats.n}")
        cov = stats.covariance
        top = float(np.max(np.diag(cov))) if cov.size else 0.0
        if not np.isfinite(top):
            raise MetricliError(
                "covariance: the data's scale makes the covariance overflow float64; rescale the features"
            )
        if top == 0.0:
            raise MetricliError(
                f"covariance: points: all {stats.n} rows are identical; there is no spread to learn a metric from"
            )
        inner = np.sqrt(top)
        values, vectors = np.linalg.eigh(cov / top)
        rtol = cov.shape[0] * np.finfo(np.float64).eps if self.rtol is None else float(self.rtol)
        if not 0 <= rtol < 1:
            raise MetricliError(f"covariance: rtol must be in [0, 1), got {self.rtol!r}")
        keep = values > values.max() * rtol
        order = np.argsort(values[keep])  # smallest variance first: the most stretched direction
        values, vectors = values[keep][order], vectors[:, keep][:, order]
        components = fix_signs((1.0 / np.sqrt(values))[:, None] * vectors.T) / (inner * scale)
        metric = components.T @ components
        if not np.all(np.isfinite(metric)) or not np.any(metric):
            raise MetricliError(
                f"covariance: the data's scale ({scale * inner:.3g}) makes the inverse covariance "
                "overflow or underflow float64; rescale the features"
            )
        self._set_fit_result(components, n_iter=1, objective=None, converged=True)
        return self
