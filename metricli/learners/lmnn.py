"""LMNN: Large Margin Nearest Neighbour (Weinberger & Saul, JMLR 2009)."""

from __future__ import annotations

import itertools
import warnings
from typing import Any

import numpy as np

from metricli.errors import MetricliError
from metricli.kernels import (
    DifferenceScatter,
    SquaredDistances,
    block_rows,
    bounded_row_blocks,
    knn,
    pair_sq_distances,
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
    lmnn_objective_on,
    solver_for,
)


class LMNN(MahalanobisLearner):
    """Large Margin Nearest Neighbour: pull each point's k target neighbours close and
    push differently labelled points (impostors) out beyond a unit margin.

    Each point i has k target neighbours j ⇝ i, its k nearest points of the same class
    in the input space, fixed once before optimising (a class of s <= k points gives each
    of its points its s - 1 others, with a warning; only a one-point class is refused). With d_ij = ||L(x_i - x_j)||², the
    objective (Weinberger & Saul 2009, eq. 11-14) is

        ε(L) = (1 - μ) Σ_{i, j⇝i} d_ij + μ Σ_{i, j⇝i} Σ_{l: y_l ≠ y_i} [1 + d_ij - d_il]_+ ,

    μ = ``regularization``. Its (sub)gradient is 2 L Σ w_ab x_ab x_abᵀ with pair weights
    w_ij = (1 - μ) + μ·#{l: triplet (i, j, l) active} for target pairs and
    w_il = -μ·#{j: triplet (i, j, l) active} for impostor pairs, so no per-triplet outer
    product is ever formed (the formulation of pylmnn): the sum is
    Xᵀ (diag(W 1 + Wᵀ 1) - W - Wᵀ) X over a sparse W. Impostors are searched in the
    projected space, block by block over pairs of different classes (each pair once),
    keeping only points inside the margin, d_il < max_j d_ij + 1; memory is
    O(n·d + block + active pairs of one block). ε is minimised over L with L-BFGS.

    With ``solver="stochastic"`` (``auto`` above a size) ε is minimised by minibatches of
    anchors: target neighbours are still found once, exactly, per class (on the training
    points), and impostors are taken from each anchor's candidates, its nearest
    other-class points in the current projected space plus random draws
    (:mod:`metricli.learners.stochastic`). ``solver_`` and ``solver_reason_`` say which ran.

    μ weights the push term as in the paper (eq. 13); metric-learn's ``regularization``
    weights the pull term instead, so its value r corresponds to μ = 1 - r (equal at 0.5).

    Reference: K. Q. Weinberger, L. K. Saul, "Distance Metric Learning for Large Margin
    Nearest Neighbor Classification", JMLR 10:207-244, 2009.
    """

    name = "lmnn"
    iterative = True
    distributed_fit = "stochastic"
    supervision = "supervised"
    peak_arrays = (6.5, 38.0)
    summary = "Large Margin Nearest Neighbour: pull target neighbours, push impostors past a margin"
    reference = "Weinberger & Saul, JMLR 2009"
    param_help = {
        **LBFGS_PARAM_HELP,
        "n_components": "Output dimension (rows of L); default: the number of features.",
        "k": "Target neighbours per point (same-class nearest, fixed in the input space); "
        "a point of a class of k points or fewer gets the others of its class, with a warning.",
        "regularization": "μ in (0, 1]: weight of the push (impostor) term; the pull term gets 1 - μ.",
        "init": INIT_HELP,
        "block_size": BLOCK_SIZE_HELP,
        "random_state": "Seed for init 'random' and the stochastic solver.",
        **STOCHASTIC_PARAM_HELP,
    }

    def __init__(
        self,
        n_components: int | None = None,
        k: int = 3,
        regularization: float = 0.5,
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
        self.k = k
        self.regularization = regularization
        self.init = init
        self.max_iter = max_iter
        self.tol = tol
        self.block_size = block_size
        self.random_state = random_state
        self.solver = solver
        self.batch_size = batch_size
        self.candidates = candidates
        self.max_epochs = max_epochs

    def fit(self, X: np.ndarray, y: np.ndarray) -> LMNN:
        """Learn L from points (n x d) and their class labels; returns self."""
        self._set_solver_result(self._solve(X, y))
        return self

    def _plan(self, y: np.ndarray, n: int) -> StochasticPlan:
        """The labels checked (μ, k, class sizes), the points sorted by class and LMNN's batch objective."""
        mu = self.regularization
        if isinstance(mu, bool) or not 0 < mu <= 1:
            raise MetricliError(f"{self.name}: regularization must be in (0, 1], got {mu!r}")
        k = self.k
        if isinstance(k, bool) or int(k) != k or k < 1:
            raise MetricliError(f"{self.name}: k must be a positive whole number, got {k!r}")
        k = int(k)
        layout = class_layout(y, n, self.name)
        sizes = layout.sizes
        if sizes.min() == 1:
            raise MetricliError(
                f"{self.name}: class '{layout.classes[int(np.argmin(sizes))]}' has a single point, "
                "which has no target neighbour; drop that class"
            )
        small = np.flatnonzero(sizes <= k)
        if small.size:
            named = ", ".join(f"'{layout.classes[c]}' ({int(sizes[c])} points)" for c in small[:3])
            more = f" and {small.size - 3} more" if small.size > 3 else ""
            warnings.warn(
                f"{self.name}: {'class' if small.size == 1 else 'classes'} {named}{more} "
                f"{'has' if small.size == 1 else 'have'} too few points for k={k} target neighbours; "
                "each of their points gets all the others of its class (size - 1) instead",
                UserWarning,
                stacklevel=4,
            )
        # a class has at most size - 1 target neighbours whatever k asks: beyond the largest
        # class, k changes nothing (and 10**20 would size an array)
        k = min(k, int(sizes.max()) - 1)
        codes = layout.sorted_codes
        return StochasticPlan(
            layout.order,
            codes,
            lambda store, s_train: lmnn_objective_on(store, s_train, k, mu),
            classes=True,
            init_labels=codes,
            impostors=True,
            margin=(k, mu),
            keep=k + 1,
        )

    def _solve(self, X: np.ndarray, y: np.ndarray) -> LbfgsResult | StochasticResult:
        X, memory = checked_points(self, X, min_rows=2)
        plan = self._plan(y, X.shape[0])
        k, mu = plan.margin
        layout = class_layout(y, X.shape[0], self.name)
        Xs = X[layout.order]
        Xs -= X.mean(axis=0)  # in place: one n x d copy, not two at once
        bounds = layout.bounds
        n = Xs.shape[0]
        L0 = initial_components(
            self.init,
            Xs,
            self.n_components,
            labels=layout.sorted_codes,
            random_state=self.random_state,
            learner=self.name,
        )
        self.solver_, self.solver_reason_ = solver_for(self, n)
        if self.solver_ == "stochastic":
            return fit_on_candidates(
                self,
                Xs,
                plan.supervision,
                L0,
                plan.make_objective,
                classes=True,
                impostors=True,
                margin=plan.margin,
                keep=plan.keep,
                memory=memory,
            )
        targets = target_neighbours(Xs, bounds, k, memory)
        anchors = np.repeat(np.arange(n), k)
        pull_scatter = DifferenceScatter(Xs)
        pull_scatter.add_pairs(anchors, targets.ravel(), np.ones(anchors.size))
        pull = pull_scatter.result()

        def loss_and_grad(L: np.ndarray) -> tuple[float, np.ndarray, dict[str, Any]]:
            loss, G, info = lmnn_objective(Xs, L, targets, bounds, pull, mu, memory)
            return loss / n, (2.0 / n) * (L @ G), info

        result = minimize_lbfgs(
            loss_and_grad, L0, learner=self, max_iter=self.max_iter, tol=self.tol, reported=lambda v: v * n
        )
        self.target_neighbors_ = layout.order[targets][np.argsort(layout.order)]
        return result


def target_neighbours(X: np.ndarray, bounds: np.ndarray, k: int, memory: int) -> np.ndarray:
    """The k nearest same-class points of each point (X sorted by class), as row indices.

    A class of s <= k points has only s - 1 neighbours to give: each of its points gets
    all of them, and its remaining k - s + 1 slots hold the point itself, a pair of
    distance 0 under every metric that :func:`lmnn_objective` leaves out of both terms.
    """
    targets = np.empty((X.shape[0], k), dtype=np.intp)
    for lo, hi in itertools.pairwise(bounds):
        found = min(k, int(hi - lo) - 1)
        idx, _ = knn(X[lo:hi], X[lo:hi], found, exclude_self=True, block_bytes=memory)
        targets[lo:hi, :found] = idx + lo
        targets[lo:hi, found:] = np.arange(lo, hi)[:, None]
    return targets


def lmnn_objective(
    X: np.ndarray,
    L: np.ndarray,
    targets: np.ndarray,
    bounds: np.ndarray,
    pull: np.ndarray,
    mu: float,
    memory: int,
) -> tuple[float, np.ndarray, dict[str, int]]:
    """ε(L) and G with ∂ε/∂L = 2 L G, plus the counts of active triplets and impostor pairs.

    X is sorted by class; ``pull`` = Σ_{i, j⇝i} x_ij x_ijᵀ (fixed).
    """
    n, k = targets.shape
    Z = X @ L.T
    anchors = np.repeat(np.arange(n), k)
    target_dist = pair_sq_distances(Z, Z, anchors, targets.ravel(), memory).reshape(n, k)
    # a point listed as its own target fills an unused slot of a small class: no pull, no triplet
    target_dist[targets == np.arange(n)[:, None]] = -np.inf
    radius = target_dist.max(axis=1) + 1.0
    distances = SquaredDistances(Z)
    push = DifferenceScatter(X)
    # active[i, j]: how many impostors violate the margin of target pair (i, j)
    active = np.zeros((n, k))
    active_flat = active.reshape(-1)
    hinge_total = 0.0
    n_active = n_pairs = 0
    for c in range(len(bounds) - 2):
        cols = slice(int(bounds[c + 1]), n)  # every later class: each pair of classes once
        n_cols = cols.stop - cols.start
        for rows in bounded_row_blocks(bounds[c : c + 2], block_rows(n_cols, memory)):
            D = distances.block(rows, cols)
            # inside the margin of the row point or of the column point (both directions at once)
            inside = D < radius[rows, None]
            inside |= D < radius[None, cols]
            found = np.flatnonzero(inside)
            if found.size == 0:
                continue
            r, q = np.divmod(found, n_cols)
            d = D.ravel()[found]
            weight = np.zeros(found.size)
            for anchor in (rows.start + r, cols.start + q):
                keep = d < radius[anchor]
                anchor, dist = anchor[keep], d[keep]
                hinge = 1.0 + target_dist[anchor] - dist[:, None]
                violated = hinge > 0
                hinge_total += float(hinge[violated].sum())
                count = violated.sum(axis=1)
                n_active += int(count.sum())
                n_pairs += anchor.size
                np.add.at(active_flat, ((anchor * k)[:, None] + np.arange(k))[violated], 1.0)
                weight[keep] -= count
            if found.size * X.shape[1] > D.size:
                W = np.zeros(D.shape)
                W.ravel()[found] = weight
                push.add_block(rows, cols, W)
            else:
                push.add_pairs(rows.start + r, cols.start + q, weight)
    push.add_pairs(anchors, targets.ravel(), active_flat)
    loss = (1.0 - mu) * float(target_dist[np.isfinite(target_dist)].sum()) + mu * hinge_total
    G = (1.0 - mu) * pull + mu * push.result()
    return loss, G, {"active": n_active, "impostors": n_pairs}
