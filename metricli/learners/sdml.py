"""SDML: sparse metric learning by an L1-penalized LogDet problem (a graphical lasso)."""

from __future__ import annotations

import numpy as np

from metricli.constraints import Pairs
from metricli.errors import MetricliError
from metricli.learners._weak import check_weak_input, differences, informative
from metricli.learners.base import MahalanobisLearner, components_from_metric
from metricli.learners.optimize import check_solver_params
from metricli.learners.priors import prior_metric


def graphical_lasso(
    P: np.ndarray,
    sparsity: float,
    *,
    tol: float = 1e-6,
    max_iter: int = 1000,
    report=None,
) -> tuple[np.ndarray, int, bool, list[float]]:
    """argmin_{M ≻ 0} tr(P M) - log det M + sparsity · Σ_{i≠j} |M_ij|, by ADMM.

    The ADMM splitting of Boyd, Parikh, Chu, Peleato & Eckstein (2011, §6.5), with the
    penalty on off-diagonal entries only, as in SDML. The M-update is the closed form
    M = Q diag((e + sqrt(e² + 4ρ)) / 2ρ) Qᵀ from the eigen-decomposition Q diag(e) Qᵀ of
    ρ(Z - U) - P, so every M iterate is positive definite whatever P is. The sparse
    copy Z is returned when it is positive definite too (it is at convergence in
    practice), else the M iterate. ρ is adapted by residual balancing (§3.4.1).

    Returns (M, iterations, converged, objective history).
    """
    d = P.shape[0]
    off = ~np.eye(d, dtype=bool)
    scale = max(float(np.max(np.abs(np.diag(P)))), np.finfo(float).tiny)
    P = P / scale  # the solution for P / s is s times the solution for P (with sparsity / s)
    lam = sparsity / scale
    rho = 1.0
    Z = np.diag(1.0 / np.diag(P).clip(min=1e-12))
    U = np.zeros_like(P)
    history: list[float] = []
    converged = False
    M = Z
    iteration = 0
    for iteration in range(1, max_iter + 1):
        values, vectors = np.linalg.eigh(rho * (Z - U) - P)
        M = (vectors * ((values + np.sqrt(values**2 + 4.0 * rho)) / (2.0 * rho))) @ vectors.T
        M = (M + M.T) / 2
        Z_old = Z
        Z = M + U
        Z[off] = np.sign(Z[off]) * np.maximum(np.abs(Z[off]) - lam / rho, 0.0)
        U = U + M - Z
        primal = np.linalg.norm(M - Z)
        dual = rho * np.linalg.norm(Z - Z_old)
        value = _objective(P, M, lam, off)
        history.append(value)
        if report is not None:
            report(iteration, value, primal_residual=f"{primal:.2e}")
        eps_primal = tol * (d + max(np.linalg.norm(M), np.linalg.norm(Z)))
        eps_dual = tol * (d + rho * np.linalg.norm(U))
        if primal <= eps_primal and dual <= eps_dual:
            converged = True
            break
        if primal > 10 * dual:
            rho *= 2.0
            U /= 2.0
        elif dual > 10 * primal:
            rho /= 2.0
            U *= 2.0
    try:
        np.linalg.cholesky(Z)
        result = (Z + Z.T) / 2
    except np.linalg.LinAlgError:
        result = M
    # tr(P M) and the penalty are unchanged by the rescaling; log det M shifts by d log(scale)
    shift = d * np.log(scale)
    return result / scale, iteration, converged, [v + shift for v in history]


def _objective(P: np.ndarray, M: np.ndarray, lam: float, off: np.ndarray) -> float:
    _, logdet = np.linalg.slogdet(M)
    return float(np.sum(P * M) - logdet + lam * np.sum(np.abs(M[off])))


class SDML(MahalanobisLearner):
    r"""Sparse Distance Metric Learning (Qi, Tang, Zha, Chua & Zhang, ICML 2009).

    The paper's problem (its eq. 7)::

        min_{M ≻ 0}  tr(M0⁻¹ M) - log det M + η tr(K M) + λ ||M||_{1,off}

    with K = Xᵀ L X from the graph Laplacian of the constraints; we use the mean over
    the m pairs, K = (1/m) Σ_c y_c (x_a - x_b)(x_a - x_b)ᵀ (y = 1 similar, -1
    dissimilar), so η does not depend on how many pairs are given. Writing
    P = M0⁻¹ + η K this is a graphical lasso, solved by ADMM (:func:`graphical_lasso`).

    The problem is bounded only when P is positive definite: along a direction where P
    is negative, tr(PM) falls without bound while -log det M grows only
    logarithmically. Dissimilar pairs make K indefinite, and η K easily outweighs the
    prior (scikit-learn's graphical lasso then fails, as metric-learn's SDML does on
    standardized data). We therefore set η = balance_param / ||M0^{1/2} K M0^{1/2}||₂:
    with balance_param < 1, P is positive definite whatever the pairs, and
    balance_param is the weight of the pairs relative to the prior, free of the data's
    scale. ``balance_used_`` records η.
    """

    name = "sdml"
    supervision = "weakly-supervised"
    constraint_kinds = ("pairs",)
    peak_arrays = (15.5, 0.0)
    summary = "Sparse metric learning: L1-penalized LogDet problem solved as a graphical lasso"
    reference = "Qi, Tang, Zha, Chua & Zhang, ICML 2009"
    param_help = {
        "balance_param": "Weight in [0, 1) of the pair term against the prior "
        "(η = balance_param / spectral norm of the prior-scaled pair matrix).",
        "sparsity_param": "λ: L1 penalty on the off-diagonal entries of M.",
        "prior": "Prior metric M0: identity, covariance (the inverse covariance of X) or random (seeded).",
        "max_iter": "Most ADMM iterations.",
        "tol": "ADMM tolerance on the primal and dual residuals (relative).",
    }

    def __init__(
        self,
        balance_param: float = 0.5,
        sparsity_param: float = 0.01,
        prior: str | np.ndarray = "identity",
        max_iter: int = 1000,
        tol: float = 1e-6,
        random_state: int | None = None,
    ) -> None:
        self.balance_param = balance_param
        self.sparsity_param = sparsity_param
        self.prior = prior
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: Pairs | np.ndarray) -> SDML:
        """Learn M from points (n x d) and pairs, or class labels (one per point) to draw
        them from (seeded with ``random_state``); returns self."""
        X, pairs = check_weak_input(X, y, Pairs, self.name, seed=self.random_state)
        check_solver_params(self.name, self.max_iter, self.tol)
        if not 0 <= self.balance_param < 1:
            raise MetricliError(f"sdml: balance_param must be in [0, 1), got {self.balance_param}")
        if not self.sparsity_param >= 0:
            raise MetricliError(f"sdml: sparsity_param must be >= 0, got {self.sparsity_param}")
        diff = differences(X, pairs.a, pairs.b)
        keep = informative(diff, learner=self.name, what="pairs")
        diff, y = diff[keep], np.where(pairs.similar[keep], 1.0, -1.0)
        K = (diff * y[:, None]).T @ diff / len(y)

        M0 = prior_metric(self.prior, X, random_state=self.random_state, learner=self.name)
        values, vectors = np.linalg.eigh(M0)
        root = (vectors * np.sqrt(values)) @ vectors.T  # M0^{1/2}
        inverse = (vectors / values) @ vectors.T
        # P = M0^{-1/2} (I + η K~) M0^{-1/2} with K~ = M0^{1/2} K M0^{1/2}: with η = balance / ||K~||,
        # I + η K~ has eigenvalues >= 1 - balance > 0, so the problem stays bounded
        spread = float(np.max(np.abs(np.linalg.eigvalsh(root @ K @ root))))
        eta = float(self.balance_param) / spread if spread > 0 else 0.0
        self.balance_used_ = eta
        P = inverse + eta * K
        M, n_iter, converged, history = graphical_lasso(
            (P + P.T) / 2,
            float(self.sparsity_param),
            tol=float(self.tol),
            max_iter=int(self.max_iter),
            report=self._report_progress,
        )
        if not np.all(np.isfinite(M)) or np.linalg.eigvalsh(M)[0] <= 0:
            raise MetricliError("sdml: the graphical lasso did not return a positive definite metric")
        self._set_fit_result(
            components_from_metric(M),
            n_iter=n_iter,
            objective=history[-1] if history else None,
            converged=converged,
            objective_history=history,
        )
        return self
