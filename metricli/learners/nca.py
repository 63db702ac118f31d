"""NCA: Neighbourhood Components Analysis (Goldberger, Roweis, Hinton, Salakhutdinov 2004)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from metricli.kernels import (
    DifferenceScatter,
    block_rows,
    csr_row_indices,
    iter_neighbour_softmax,
    row_blocks,
    sparse,
)
from metricli.learners.base import MahalanobisLearner
from metricli.learners.initialization import INIT_HELP, initial_components
from metricli.learners.labels import class_layout
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
    nca_objective_on,
    solver_for,
)


class NCA(MahalanobisLearner):
    """Neighbourhood Components Analysis: maximise the expected leave-one-out accuracy
    of a stochastic nearest-neighbour classifier in the space x -> L x.

    Each point i picks a neighbour j with probability (Goldberger et al. 2004, eq. 1)

        p_ij = exp(-||L x_i - L x_j||²) / Σ_{k≠i} exp(-||L x_i - L x_k||²),   p_ii = 0,

    and is classified correctly with probability p_i = Σ_{j in C_i} p_ij, C_i its class.
    The objective is the expected number of correct points (eq. 3), f(L) = Σ_i p_i,
    with gradient (eq. 5)

        ∂f/∂L = 2 L Σ_i ( p_i Σ_k p_ik x_ik x_ikᵀ - Σ_{j in C_i} p_ij x_ij x_ijᵀ ),

    x_ij = x_i - x_j. Written as 2 L Σ_ij w_ij x_ij x_ijᵀ with w_ij = p_ij (p_i - [y_i = y_j]),
    the sum is Xᵀ (diag(W 1 + Wᵀ 1) - W - Wᵀ) X, accumulated one row block of W at a
    time (distances in the projected space), so memory is O(n·d + block), never n x n.
    f is maximised with L-BFGS; ``objective_`` is f (at most n).

    With ``solver="stochastic"`` (``auto`` above a size, see
    :func:`metricli.learners.stochastic.choose_solver`) f is maximised by minibatches of
    anchors, each with the softmax over its candidate neighbours
    (:mod:`metricli.learners.stochastic`); ``objective_`` is then the last epoch's estimate
    of f over the training points. ``solver_`` and ``solver_reason_`` say which ran and why.

    Reference: J. Goldberger, S. Roweis, G. Hinton, R. Salakhutdinov, "Neighbourhood
    Components Analysis", NIPS 17, 2004.
    """

    name = "nca"
    iterative = True
    distributed_fit = "stochastic"
    supervision = "supervised"
    peak_arrays = (3.5, 38.0)
    summary = "Neighbourhood Components Analysis: maximise stochastic leave-one-out kNN accuracy"
    reference = "Goldberger, Roweis, Hinton & Salakhutdinov, NIPS 2004"
    param_help = {
        **LBFGS_PARAM_HELP,
        "n_components": "Output dimension (rows of L); default: the number of features.",
        "init": INIT_HELP,
        "block_size": BLOCK_SIZE_HELP,
        "random_state": "Seed for init 'random' and the stochastic solver.",
        **STOCHASTIC_PARAM_HELP,
    }

    def __init__(
        self,
        n_components: int | None = None,
        init: str | np.ndarray = "auto",
        max_iter: int = 100,
        tol: float = 1e-6,
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

    def fit(self, X: np.ndarray, y: np.ndarray) -> NCA:
        """Learn L from points (n x d) and their class labels; returns self."""
        self._set_solver_result(self._solve(X, y))
        return self

    def _plan(self, y: np.ndarray, n: int) -> StochasticPlan:
        """The points sorted by class, their class codes and NCA's batch objective."""
        layout = class_layout(y, n, self.name)
        codes = layout.sorted_codes
        return StochasticPlan(
            layout.order, codes, nca_objective_on, classes=True, init_labels=codes, reported=lambda v: -v
        )

    def _solve(self, X: np.ndarray, y: np.ndarray) -> LbfgsResult | StochasticResult:
        X, memory = checked_points(self, X, min_rows=2)
        layout = class_layout(y, X.shape[0], self.name)
        plan = self._plan(y, X.shape[0])
        # sorted by class, the points of a class are one slice of columns
        Xs = X[plan.order]
        Xs -= X.mean(axis=0)  # in place: one n x d copy, not two at once
        bounds, codes = layout.bounds, plan.supervision
        n = Xs.shape[0]
        L0 = initial_components(
            self.init,
            Xs,
            self.n_components,
            labels=codes,
            random_state=self.random_state,
            learner=self.name,
        )

        self.solver_, self.solver_reason_ = solver_for(self, n)
        if self.solver_ == "stochastic":
            return fit_on_candidates(
                self,
                Xs,
                codes,
                L0,
                plan.make_objective,
                classes=True,
                memory=memory,
                reported=plan.reported,
            )

        objective = NCAObjective(Xs, codes, bounds, memory)

        def loss_and_grad(L: np.ndarray) -> tuple[float, np.ndarray, dict[str, Any]]:
            f, G = objective(L)
            # minimise -f / n: the mean probability of a correct stochastic 1-NN vote
            return -f / n, (-2.0 / n) * (L @ G), {}

        result = minimize_lbfgs(
            loss_and_grad, L0, learner=self, max_iter=self.max_iter, tol=self.tol, reported=lambda v: -v * n
        )
        return result


class NCAObjective:
    """f(L) = Σ_i p_i and G = Σ_ij p_ij (p_i - [y_i = y_j]) x_ij x_ijᵀ, so ∂f/∂L = 2 L G.

    Built once per fit from X sorted by class (class c in rows bounds[c]:bounds[c + 1]),
    so what does not depend on L ([X, 1], each row block's class segments) is not
    redone at every evaluation. Calling it with L returns (f, G).
    """

    def __init__(
        self, X: np.ndarray, codes: np.ndarray, bounds: np.ndarray, memory: int, sparse_below: float = 0.05
    ) -> None:
        self.X, self.codes, self.memory, self.sparse_below = X, codes, memory, sparse_below
        self.scatter = DifferenceScatter(X)
        n = X.shape[0]
        self.segments = {
            rows.start: list(class_segments(rows, codes, bounds))
            for rows in row_blocks(n, block_rows(n, memory))
        }

    def __call__(self, L: np.ndarray) -> tuple[float, np.ndarray]:
        X, codes, scatter = self.X, self.codes, self.scatter
        scatter.reset()
        X1, everyone = scatter.with_ones, slice(0, X.shape[0])
        total = 0.0
        for rows, K, s in iter_neighbour_softmax(X @ L.T, self.memory, self.sparse_below):
            if sparse.issparse(K):
                row_of = csr_row_indices(K)
                same = codes[K.indices] == codes[rows.start + row_of]
                p = np.bincount(row_of, weights=K.data * same, minlength=K.shape[0]) / s
                # K becomes W: w_ij = p_ij (p_i - [y_i = y_j]), with p_ij = k_ij / s_i
                K.data *= (p[row_of] - same) / s[row_of]
                total += float(p.sum())
                scatter.add_block(rows, everyone, K)
                continue
            # W = diag(p / s) K - diag(1 / s) (K ∘ same class), w_ij = p_ij (p_i - [y_i = y_j]):
            # W [X, 1] and 1ᵀ W come from one product with K plus small ones per class
            # (points sorted by class), never a pass to build W
            segments = self.segments[rows.start]
            within = np.empty((K.shape[0], X1.shape[1]))
            for seg, same in segments:
                np.matmul(K[seg, same], X1[same], out=within[seg])
            p = within[:, -1] / s  # [X, 1]'s last column sums the same-class weights
            total += float(p.sum())
            scale, inverse = p / s, 1.0 / s
            WX1 = K @ X1
            WX1 *= scale[:, None]
            WX1 -= inverse[:, None] * within
            columns = scale @ K
            for seg, same in segments:
                columns[same] -= inverse[seg] @ K[seg, same]
            scatter.add_products(rows, everyone, WX1, columns)
        return total, scatter.result()


def nca_objective(
    X: np.ndarray,
    L: np.ndarray,
    codes: np.ndarray,
    bounds: np.ndarray,
    memory: int,
    sparse_below: float = 0.05,
) -> tuple[float, np.ndarray]:
    """One evaluation of :class:`NCAObjective`."""
    return NCAObjective(X, codes, bounds, memory, sparse_below)(L)


def class_segments(rows: slice, codes: np.ndarray, bounds: np.ndarray) -> Iterator[tuple[slice, slice]]:
    """For each class met by the row block: (its rows within the block, its columns).

    With the points sorted by class, a block's rows fall into a few classes and each
    class's points are one slice of columns.
    """
    for c in range(codes[rows.start], codes[rows.stop - 1] + 1):
        first, last = max(bounds[c], rows.start), min(bounds[c + 1], rows.stop)
        yield slice(first - rows.start, last - rows.start), slice(bounds[c], bounds[c + 1])
