"""MLKR: Metric Learning for Kernel Regression (Weinberger & Tesauro 2007)."""

from __future__ import annotations

from typing import Any

import numpy as np

from metricli.errors import MetricliError
from metricli.kernels import DifferenceScatter, csr_row_indices, iter_neighbour_softmax, sparse
from metricli.learners.base import MahalanobisLearner
from metricli.learners.initialization import initial_components
from metricli.learners.optimize import (
    BLOCK_SIZE_HELP,
    LBFGS_PARAM_HELP,
    LbfgsResult,
    minimize_lbfgs,
)
from metricli.learners.stochastic import (
    STOCHASTIC_PARAM_HELP,
    Solver,
    StochasticPlan,
    StochasticResult,
    checked_points,
    fit_on_candidates,
    mlkr_objective_on,
    solver_for,
)


class MLKR(MahalanobisLearner):
    """Metric Learning for Kernel Regression: minimise the leave-one-out error of
    Nadaraya–Watson kernel regression with a Gaussian kernel in the space x -> L x.

    With k_ij = exp(-||L x_i - L x_j||²) (the kernel width is absorbed into L), each
    target is predicted from all other points (Weinberger & Tesauro 2007, eq. 2-3)

        ŷ_i = Σ_{j≠i} y_j k_ij / Σ_{j≠i} k_ij = Σ_j p_ij y_j,

    and the objective is the leave-one-out squared error (eq. 4) ℒ(L) = Σ_i (ŷ_i - y_i)².
    Its gradient (eq. 5, written with p_ij = k_ij / Σ_k k_ik) is

        ∂ℒ/∂L = 2 L Σ_ij w_ij x_ij x_ijᵀ,   w_ij = 2 (ŷ_i - y_i)(ŷ_i - y_j) p_ij,

    and Σ_ij w_ij x_ij x_ijᵀ = Xᵀ (diag(W 1 + Wᵀ 1) - W - Wᵀ) X is accumulated one row
    block of W at a time, so memory is O(n·d + block). The targets are standardised
    inside the solver (ŷ is affine-equivariant in y, so the minimiser does not change);
    ``objective_`` is ℒ in the units of the targets. Solved with L-BFGS, or with
    ``solver="stochastic"`` (``auto`` above a size) by minibatches of anchors, each with
    the kernel over its candidate neighbours (:mod:`metricli.learners.stochastic`).

    Reference: K. Q. Weinberger, G. Tesauro, "Metric Learning for Kernel Regression",
    AISTATS 2007.
    """

    name = "mlkr"
    iterative = True
    distributed_fit = "stochastic"
    supervision = "regression"
    peak_arrays = (3.4, 38.0)
    summary = "Metric Learning for Kernel Regression: minimise leave-one-out kernel regression error"
    reference = "Weinberger & Tesauro, AISTATS 2007"
    param_help = {
        **LBFGS_PARAM_HELP,
        "n_components": "Output dimension (rows of L); default: the number of features.",
        "init": "Starting L: auto, pca, identity, random, or a matrix (n_components x n_features). "
        "auto = pca if n_components < features, else identity.",
        "block_size": BLOCK_SIZE_HELP,
        "random_state": "Seed for init 'random' and the stochastic solver.",
        **STOCHASTIC_PARAM_HELP,
    }

    def __init__(
        self,
        n_components: int | None = None,
        init: str | np.ndarray = "auto",
        max_iter: int = 1000,
        tol: float = 1e-4,
        block_size: float = 4.0,
        random_state: int | None = None,
        solver: Solver = "auto",
        batch_size: int = 512,
        candidates: int = 32,
        max_epochs: int = 50,
    ) -> None:
        self.n_components = n_components
        self.init = init
        self.max_iter = max_iter
        self.tol = tol
        self.block_size = block_size
        self.random_state = random_state
        self.solver = solver
        self.batch_size = batch_size
        self.candidates = candidates
        self.max_epochs = max_epochs

    def fit(self, X: np.ndarray, y: np.ndarray) -> MLKR:
        """Learn L from points (n x d) and their real-valued targets; returns self."""
        self._set_solver_result(self._solve(X, y))
        return self

    def _plan(self, y: np.ndarray, n: int) -> StochasticPlan:
        """The targets checked and standardized (t = (y - mean) / std), in row order, and MLKR's batch objective."""
        try:
            targets = np.asarray(y, dtype=np.float64)
        except (TypeError, ValueError):
            raise MetricliError(f"{self.name} needs numeric regression targets") from None
        if targets.shape != (n,):
            raise MetricliError(f"{self.name}: got {targets.size} targets for {n} points; give one per point")
        if not np.all(np.isfinite(targets)):
            raise MetricliError(f"{self.name}: the targets hold missing or infinite values")
        spread = float(targets.std())
        if not spread > 0:
            raise MetricliError(f"{self.name}: the target is constant; there is nothing to regress")
        t = (targets - targets.mean()) / spread
        return StochasticPlan(
            np.arange(n), t, mlkr_objective_on, classes=False, reported=lambda v: v * spread**2
        )

    def _solve(self, X: np.ndarray, y: np.ndarray) -> LbfgsResult | StochasticResult:
        X, memory = checked_points(self, X, min_rows=3)
        plan = self._plan(y, X.shape[0])
        t = plan.supervision
        Xc = X - X.mean(axis=0)
        n = Xc.shape[0]
        L0 = initial_components(
            self.init, Xc, self.n_components, random_state=self.random_state, learner=self.name
        )
        self.solver_, self.solver_reason_ = solver_for(self, n)
        if self.solver_ == "stochastic":
            return fit_on_candidates(
                self, Xc, t, L0, plan.make_objective, classes=False, memory=memory, reported=plan.reported
            )

        def loss_and_grad(L: np.ndarray) -> tuple[float, np.ndarray, dict[str, Any]]:
            loss, G = mlkr_objective(Xc, L, t, memory)
            # minimise the leave-one-out mean squared error in units of the target variance
            return loss / n, (2.0 / n) * (L @ G), {}

        result = minimize_lbfgs(
            loss_and_grad,
            L0,
            learner=self,
            max_iter=self.max_iter,
            tol=self.tol,
            reported=lambda v: plan.reported(v * n),
        )
        return result


def mlkr_objective(
    X: np.ndarray, L: np.ndarray, y: np.ndarray, memory: int, sparse_below: float = 0.05
) -> tuple[float, np.ndarray]:
    """ℒ(L) = Σ_i (ŷ_i - y_i)² and G = Σ_ij w_ij x_ij x_ijᵀ, so ∂ℒ/∂L = 2 L G."""
    Z = X @ L.T
    scatter = DifferenceScatter(X)
    loss = 0.0
    for rows, K, s in iter_neighbour_softmax(Z, memory, sparse_below):
        predicted = (K @ y) / s
        residual = predicted - y[rows]
        loss += float(residual @ residual)
        # K becomes W in place: w_ij = 2 (ŷ_i - y_i)(ŷ_i - y_j) p_ij, p_ij = k_ij / s_i
        if sparse.issparse(K):
            row_of = csr_row_indices(K)
            K.data *= (predicted[row_of] - y[K.indices]) * (2.0 * residual / s)[row_of]
        else:
            K *= np.subtract.outer(predicted, y)
            K *= (2.0 * residual / s)[:, None]
        scatter.add_block(rows, slice(0, X.shape[0]), K)
    return loss, scatter.result()
