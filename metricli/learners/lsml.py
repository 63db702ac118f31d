"""LSML: metric learning from relative comparisons by minimizing squared residuals."""

from __future__ import annotations

import numpy as np

from metricli.constraints import Quadruplets
from metricli.errors import MetricliError
from metricli.learners._weak import check_weak_input, differences, informative
from metricli.learners.base import MahalanobisLearner, components_from_metric
from metricli.learners.optimize import LBFGS_PARAM_HELP, minimize_lbfgs
from metricli.learners.priors import factor, prior_metric


def lsml_objective(
    L: np.ndarray, near: np.ndarray, far: np.ndarray, regularization: float
) -> tuple[float, np.ndarray]:
    """LSML's loss in a square factor L (M = LᵀL) and its gradient, with the prior M0 = I.

    ``near`` and ``far`` hold x_a - x_b and x_c - x_d for each quadruplet (d(a,b) < d(c,d)
    wanted). Loss: (1/m) Σ_q max(0, ||L v_ab|| - ||L v_cd||)² + λ D_ld(LᵀL, I), with
    D_ld(M, I) = tr M - log det M - d.
    """
    d = L.shape[0]
    sign, logabsdet = np.linalg.slogdet(L)
    if sign == 0:
        return np.inf, np.zeros_like(L)
    m = near.shape[0]
    P_near, P_far = near @ L.T, far @ L.T
    d_near = np.sqrt(np.einsum("ij,ij->i", P_near, P_near))
    d_far = np.sqrt(np.einsum("ij,ij->i", P_far, P_far))
    residual = np.maximum(d_near - d_far, 0.0)
    value = float(residual @ residual) / m + regularization * (np.sum(L * L) - 2.0 * logabsdet - d)
    # residual > 0 implies d_near > 0; d_far may be 0 only if its pair is identical (dropped)
    coef = 2.0 * residual / m
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(residual > 0, coef / d_near, 0.0)
        b = np.where(residual > 0, coef / np.where(d_far > 0, d_far, 1.0), 0.0)
    grad = (P_near * a[:, None]).T @ near - (P_far * b[:, None]).T @ far
    grad += regularization * (2.0 * L - 2.0 * np.linalg.inv(L).T)
    return value, grad


class LSML(MahalanobisLearner):
    r"""Least Squared-residual Metric Learning (Liu, Fan, Huang & Yu, ICDM 2012).

    From quadruplets (a, b, c, d) meaning d(a, b) < d(c, d), the paper's objective
    (its eq. 3 with the LogDet regularizer of eq. 4)::

        min_{M ⪰ 0}  Σ_q w_q H(d_M(x_a, x_b) - d_M(x_c, x_d)) + λ D_ld(M, M0)

    with H(x) = x² for x > 0 and 0 otherwise, d_M the (non-squared) Mahalanobis
    distance, uniform weights w_q = 1/m, and D_ld(M, M0) = tr(M M0⁻¹) - log det(M M0⁻¹) - d.
    The default λ = 0.1 (metric-learn's implicit λ is 1) lets a few hundred averaged
    comparisons move the metric: on metric-learn's own quadruplets it scores the same
    on iris and breast_cancer and better on wine (benchmarks/weak_check.py).

    The objective is convex in M; we minimize it with L-BFGS over a square factor L
    (M = LᵀL) in coordinates where M0 = I: -log det keeps L invertible, and a
    stationary point with L invertible is the global minimum. All 2m distances come
    from two products (x_a - x_b) Lᵀ, (x_c - x_d) Lᵀ: O(m·d²) per iteration.
    The LogDet regularizer needs a full-rank M, so there is no ``n_components``.
    """

    name = "lsml"
    iterative = True
    supervision = "weakly-supervised"
    constraint_kinds = ("quadruplets",)
    peak_arrays = (47.0, 0.0)
    summary = "Least-squared-residual metric learning from relative comparisons d(a,b) < d(c,d)"
    reference = "Liu, Fan, Huang & Yu, ICDM 2012"
    param_help = {
        **LBFGS_PARAM_HELP,
        "prior": "Prior metric M0: identity, covariance (the inverse covariance of X) or random (seeded).",
        "regularization": "λ: weight of the LogDet divergence to the prior (the comparison loss is "
        "averaged over quadruplets).",
    }

    def __init__(
        self,
        prior: str | np.ndarray = "identity",
        regularization: float = 0.1,
        max_iter: int = 1000,
        tol: float = 1e-7,
        random_state: int | None = None,
    ) -> None:
        self.prior = prior
        self.regularization = regularization
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: Quadruplets | np.ndarray) -> LSML:
        """Learn M from points (n x d) and quadruplets, or class labels (one per point) to draw
        them from (seeded with ``random_state``); returns self."""
        X, quadruplets = check_weak_input(X, y, Quadruplets, self.name, seed=self.random_state)
        if not self.regularization > 0:
            raise MetricliError(f"lsml: regularization must be positive, got {self.regularization}")
        near = differences(X, quadruplets.a, quadruplets.b)
        far = differences(X, quadruplets.c, quadruplets.d)
        keep = informative(near, far, learner=self.name, what="quadruplets")
        M0 = prior_metric(self.prior, X, random_state=self.random_state, learner=self.name)
        L0 = factor(M0)
        near, far = near[keep] @ L0.T, far[keep] @ L0.T  # coordinates where the prior is I
        regularization = float(self.regularization)

        result = minimize_lbfgs(
            lambda L: lsml_objective(L, near, far, regularization),
            np.eye(X.shape[1]),
            tol=float(self.tol),
            max_iter=int(self.max_iter),
            learner=self,
        )
        L = result.x @ L0
        self._set_solver_result(result, components_from_metric(L.T @ L))
        return self
