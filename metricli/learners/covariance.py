"""Covariance: the classical Mahalanobis distance, M = pseudo-inverse of the covariance."""

from __future__ import annotations

import numpy as np

from metricli.errors import MetricliError
from metricli.learners.base import (
    MahalanobisLearner,
    check_not_all_identical,
    check_points,
    fix_signs,
)


class Covariance(MahalanobisLearner):
    """Mahalanobis (1936) distance: M = Σ⁺, the Moore–Penrose pseudo-inverse of the
    sample covariance Σ = (X - x̄)ᵀ(X - x̄) / (n - 1).

    With Σ = V Λ Vᵀ (eigenvalues above ``rtol · λ_max`` kept), L = Λ^{-1/2} Vᵀ, so
    L x whitens the data. Directions of zero variance (constant or linearly
    dependent columns) get weight 0: the result is then a pseudometric.

    Computed on the data divided by one global scale, so values near 1e±150 do not
    overflow; since Σ⁺(s²Σ') = Σ'⁺ / s², the result is exactly the pseudo-inverse.

    Reference: P. C. Mahalanobis, "On the generalised distance in statistics",
    Proceedings of the National Institute of Sciences of India, 1936.
    """

    name = "covariance"
    supervision = "unsupervised"
    summary = "Inverse covariance (whitening); pseudo-inverse when the data are singular"
    reference = "Mahalanobis, Proc. Natl. Inst. Sci. India 1936"
    param_help = {
        "rtol": "Eigenvalues of the covariance at or below rtol × the largest count as zero "
        "(default: n_features × machine epsilon)."
    }

    def __init__(self, rtol: float | None = None) -> None:
        self.rtol = rtol

    def fit(self, X: np.ndarray, y: object = None) -> Covariance:
        X = check_points(X, min_rows=2)
        check_not_all_identical(X)
        centered = X - X.mean(axis=0)
        scale = float(np.max(np.abs(centered)))
        centered /= scale
        cov = centered.T @ centered / (X.shape[0] - 1)
        values, vectors = np.linalg.eigh(cov)
        rtol = X.shape[1] * np.finfo(np.float64).eps if self.rtol is None else float(self.rtol)
        keep = values > values.max() * rtol
        order = np.argsort(values[keep])  # smallest variance first: the most stretched direction
        values, vectors = values[keep][order], vectors[:, keep][:, order]
        components = fix_signs((1.0 / np.sqrt(values))[:, None] * vectors.T) / scale
        metric = components.T @ components
        if not np.all(np.isfinite(metric)) or not np.any(metric):
            raise MetricliError(
                f"covariance: the data's scale ({scale:.3g}) makes the inverse covariance "
                "overflow or underflow float64; rescale the features"
            )
        self._set_fit_result(components, n_iter=1, objective=None, converged=True)
        return self
