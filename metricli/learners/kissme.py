"""KISSME: keep it simple and straightforward metric (Köstinger et al., CVPR 2012)."""

from __future__ import annotations

import numpy as np

from metricli.constraints import Pairs, from_labels, validate
from metricli.errors import MetricliError
from metricli.kernels import block_rows, row_blocks
from metricli.learners._weak import is_class_labels
from metricli.learners.base import MahalanobisLearner, check_points, components_from_metric
from metricli.learners.scatter import (
    RANGE_RTOL,
    centered_and_scaled,
    check_regularization,
    check_representable,
    range_basis,
    symmetric,
)


def pair_difference_covariance(X: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(1/m) Σ (x_a - x_b)(x_a - x_b)ᵀ over m pairs, a bounded block of pairs at a time."""
    d = X.shape[1]
    covariance = np.zeros((d, d))
    for block in row_blocks(a.size, block_rows(d)):
        diff = X[a[block]] - X[b[block]]
        covariance += diff.T @ diff
    return symmetric(covariance) / a.size


class KISSME(MahalanobisLearner):
    """KISSME (Köstinger, Hirzer, Wohlhart, Roth & Bischof, CVPR 2012).

    A likelihood-ratio test between two zero-mean Gaussians of pair differences gives,
    in closed form (eqs. 10-12),

        M = Π₊(Σ_S⁻¹ - Σ_D⁻¹),   Σ_S = (1/|S|) Σ_{(i,j)∈S} (x_i - x_j)(x_i - x_j)ᵀ,

    Σ_D likewise over the dissimilar pairs, and Π₊ the projection onto the PSD cone
    (eigenvalues clipped at 0, Sec. 3).

    Stability (not in the paper): with T = Σ_S + Σ_D whitened on its range (Pᵀ T P = I),
    Pᵀ Σ_S P = V diag(ω) Vᵀ and Pᵀ Σ_D P = V diag(1 - ω) Vᵀ share eigenvectors, and
    ``regularization`` α inverts Σ_S + α T and Σ_D + α T:

        M = Π₊(P V diag(1/(ω + α) - 1/(1 - ω + α)) Vᵀ Pᵀ).

    α bounds every weight by 1/α. Without it, a direction in which the similar pairs do
    not vary at all (ω = 0; always the case with fewer similar pairs than features) would
    get an infinite weight. The default α = 1e-3 moves M by about 0.1% when Σ_S and Σ_D are
    well conditioned; α = 0 gives the paper's formula exactly, with pseudo-inverses (0 for
    1/0) on singular directions. Directions in which no pair varies get weight 0.

    On partitioned data (``fit kissme --engine dask``), Σ_S and Σ_D are not sums of
    per-partition terms: a pair's two points may lie in different partitions, and its
    difference needs both. The partitions therefore hand over only the rows the pairs name
    (at most two per pair) and :meth:`fit` runs on those; M does not depend on the rows no
    pair names.

    Reference: M. Köstinger, M. Hirzer, P. Wohlhart, P. M. Roth and H. Bischof, "Large scale
    metric learning from equivalence constraints", CVPR 2012, pp. 2288-2295.
    """

    name = "kissme"
    supervision = "weakly-supervised"
    constraint_kinds = ("pairs",)
    distributed_fit = "named rows"
    peak_arrays = (6.2, 0.0)
    summary = "KISSME: inverse covariance of similar minus dissimilar pair differences, made PSD"
    reference = "Köstinger, Hirzer, Wohlhart, Roth & Bischof, CVPR 2012"
    param_help = {
        "regularization": "α: inverts Σ_S + α·T and Σ_D + α·T (T = Σ_S + Σ_D), bounding every "
        "weight by 1/α; 0 is the paper's formula, with pseudo-inverses on singular directions.",
    }

    def __init__(self, regularization: float = 1e-3) -> None:
        self.regularization = regularization

    def fit(self, X: np.ndarray, y: Pairs | np.ndarray) -> KISSME:
        """Learn M from points (n x d) and pairs, or class labels (one per point) to draw them
        from (KISSME has no random_state: seed 0, so that a fit is repeatable); returns self."""
        X = check_points(X, min_rows=2)
        pairs = from_labels("pairs", y, None, seed=0) if is_class_labels(y, X.shape[0]) else y
        if not isinstance(pairs, Pairs):
            raise MetricliError("kissme: constraints must be pairs (a, b, y) or class labels")
        validate(pairs, X.shape[0], where="kissme: pairs")
        alpha = check_regularization(self.regularization, self.name)
        similar = pairs.y == 1
        if not similar.any() or similar.all():
            missing = "similar" if not similar.any() else "dissimilar"
            raise MetricliError(
                f"kissme: no {missing} pairs (y = {1 if missing == 'similar' else -1}); KISSME needs both"
            )

        Z, scale = centered_and_scaled(X)
        cov_similar = pair_difference_covariance(Z, pairs.a[similar], pairs.b[similar])
        cov_dissimilar = pair_difference_covariance(Z, pairs.a[~similar], pairs.b[~similar])
        P = range_basis(cov_similar + cov_dissimilar)
        omega, V = np.linalg.eigh(symmetric(P.T @ cov_similar @ P))
        omega = np.clip(omega, 0.0, 1.0)
        weights = _inverse(omega, alpha) - _inverse(1.0 - omega, alpha)
        basis = P @ V
        metric = symmetric((basis * weights[None, :]) @ basis.T)
        values = np.linalg.eigvalsh(metric)
        if values[-1] <= RANGE_RTOL * np.abs(values).max():
            raise MetricliError(
                "kissme: the similar pairs differ no less than the dissimilar ones in any direction, "
                "so the metric is zero; check the pairs' y column (1 similar, -1 dissimilar)"
            )
        components = components_from_metric(metric) / scale  # clips negative eigenvalues: Π₊
        self.n_similar_, self.n_dissimilar_ = int(similar.sum()), int((~similar).sum())
        components = check_representable(components, self.name)
        self._set_fit_result(components, n_iter=1, objective=None, converged=True)
        return self


def _inverse(values: np.ndarray, alpha: float) -> np.ndarray:
    """1/(v + α); with α = 0, 0 where v vanishes (the pseudo-inverse)."""
    if alpha > 0:
        return 1.0 / (values + alpha)
    out = np.zeros_like(values)
    np.divide(1.0, values, out=out, where=values > RANGE_RTOL)
    return out
