"""Stochastic solvers for NCA, LMNN and MLKR: minibatches of anchors over candidate neighbours.

The exact objectives of NCA, LMNN and MLKR sum over every pair of points, so one
evaluation costs O(n²) and a fit at n = 10⁵ or more is out of reach. Each of them is a
sum over *anchors* i of a term that depends on the anchor's distances to other points,
and nearly all of that term comes from the anchor's near neighbours (their weights are
exp(-d), or hinges that are zero beyond a margin). The stochastic solver therefore:

- draws minibatches of anchors (an epoch visits every training point once);
- gives each anchor a *candidate set*: its nearest neighbours in the current projected
  space (refreshed every few epochs), plus points drawn uniformly at random, so that
  mass the neighbour list misses is still estimated without bias;
- evaluates the objective and its gradient restricted to the candidates (NCA's softmax
  and MLKR's kernel over the candidates; LMNN's hinge over the candidate impostors,
  with the target neighbours found once, exactly, per class);
- steps with AMSGrad (Reddi, Kale, Kumar 2018, a variant of Adam: Kingma & Ba 2015),
  halving the step whenever a round (an epoch, or ROUND_ANCHORS anchors of one on large
  sets) fails to improve a held-out score by at least ``IMPROVEMENT`` of its size, and
  stopping when it has failed ``PATIENCE`` times in a row.

Candidate weights. For the softmax learners a candidate j of anchor i carries a weight
ω_ij: 1 for a listed neighbour, n / r for each of the r random draws (0 for a draw that
hits the anchor or one of its listed neighbours). Then Σ_j ω_ij e^{-d_ij} is an unbiased
estimate of the full normaliser Σ_{k≠i} e^{-d_ik}, and with every point a candidate
(ω = 1) the restricted objective *is* the exact one. LMNN counts each candidate impostor
once (ω = 1): the hinge [1 + d_ij - d_il]_+ vanishes for all but the nearest other-class
points, so an extrapolating weight would turn each rare far hit into a large noisy step;
the random draws are there to catch impostors that moved in since the last refresh.

Memory is O(n·d) for the data, O(n·m) for the neighbour lists and O(b·c·(d + k)) for a
batch of b anchors with c candidates (k output dimensions); the time of an epoch is
O(n·c·d·k) plus the neighbour search.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from metricli.errors import MetricliError
from metricli.evaluation import knn_classify
from metricli.kernels import iter_sq_distances, knn, project
from metricli.learners.base import MahalanobisLearner, check_not_all_identical, check_points
from metricli.learners.candidates import (
    EXACT_LISTS_UP_TO,
    approximate_lists,
    lists_of,
    nearest_others,
)
from metricli.learners.initialization import check_unit_scale
from metricli.learners.optimize import block_bytes, check_solver_params

Solver = Literal["auto", "full", "stochastic"]
SOLVERS: tuple[str, ...] = ("auto", "full", "stochastic")

#: ``auto`` uses the exact solver up to this many points: its n² pairwise work per
#: iteration (a 20,000-point NCA evaluation takes about a second on one core) stays within
#: minutes over a whole fit; above it the stochastic solver's O(n) epochs win.
AUTO_FULL_UP_TO = 20_000

#: rounds (epochs, on up to ROUND_ANCHORS points) without a better held-out score before the solver stops
PATIENCE = 4
#: an epoch counts as better only if it raises the held-out score by this fraction of the
#: score's size: LMNN's held-out loss keeps falling by 0.01% an epoch for dozens of epochs
#: once the kNN accuracy has settled (100,000 points of the scale series: 50 epochs, 7 s each,
#: for a loss 0.25% lower and the same accuracy)
IMPROVEMENT = 1e-3

#: the held-out sample: this fraction of the points, at most HELD_OUT_MAX of them
HELD_OUT_FRACTION = 0.1
HELD_OUT_MAX = 2000
#: held-out points are scored against at most this many training points
REFERENCE_MAX = 20_000

SOLVER_HELP = (
    "full = exact L-BFGS over all pairs (O(n²) work per iteration); stochastic = minibatches of "
    f"anchors over candidate neighbours (O(n) per epoch); auto = full up to {AUTO_FULL_UP_TO:,} "
    "points, stochastic above. The bundle records the choice and why."
)

#: ``--help`` of the stochastic solver's parameters, shared by the three learners
STOCHASTIC_PARAM_HELP = {
    "solver": SOLVER_HELP,
    "batch_size": "Stochastic solver: anchor points per minibatch (fewer on small sets, so that an "
    "epoch takes at least 32 steps).",
    "candidates": "Stochastic solver: nearest neighbours per anchor in the current projected space "
    "(refreshed every few epochs); half as many random points are added.",
    "max_epochs": "Stochastic solver: most passes over the training points.",
}


def choose_solver(solver: str, n: int, learner: str) -> tuple[str, str]:
    """The solver to run for n points and the reason recorded in the bundle."""
    if solver not in SOLVERS:
        raise MetricliError(f"{learner}: solver must be one of {', '.join(SOLVERS)}, got {solver!r}")
    if solver == "full":
        return "full", "asked for (--solver full)"
    if solver == "stochastic":
        return "stochastic", "asked for (--solver stochastic)"
    if n <= AUTO_FULL_UP_TO:
        return "full", f"auto: {n:,} points <= {AUTO_FULL_UP_TO:,}, the exact solver's n² work is affordable"
    return "stochastic", (
        f"auto: {n:,} points > {AUTO_FULL_UP_TO:,}, the exact solver's n² work per iteration is too much"
    )


def solver_for(learner: Any, n: int) -> tuple[str, str]:
    """:func:`choose_solver` for a learner's ``solver``, its stochastic parameters checked whichever runs."""
    check_stochastic_params(learner.name, learner.batch_size, learner.candidates, learner.max_epochs)
    return choose_solver(learner.solver, n, learner.name)


def checked_points(learner: Any, X: np.ndarray, min_rows: int) -> tuple[np.ndarray, int]:
    """(X, block bytes): the checks NCA, LMNN and MLKR make before either solver runs, on the
    points (enough rows, not all identical, near unit scale) and on the solver's parameters."""
    X = check_points(X, min_rows=min_rows)
    check_not_all_identical(X)
    check_unit_scale(X, learner.name)
    check_solver_params(learner.name, learner.max_iter, learner.tol)
    return X, block_bytes(learner.block_size, learner.name)


def check_stochastic_params(learner: str, batch_size: int, candidates: int, max_epochs: int) -> None:
    for name, value in (("batch_size", batch_size), ("candidates", candidates), ("max_epochs", max_epochs)):
        if isinstance(value, bool) or int(value) != value or value < 1:
            raise MetricliError(f"{learner}: {name} must be a positive whole number, got {value!r}")


@dataclass
class StochasticPlan:
    """How a learner's stochastic fit sees its points, decided from the labels or targets alone
    (so that the local fit and the engine fit agree): the order the solver numbers the points
    in (by class for classes), their supervision in that order, and the learner's objective."""

    order: np.ndarray
    supervision: np.ndarray
    make_objective: MakeObjective
    classes: bool
    init_labels: np.ndarray | None = None
    impostors: bool = False
    margin: tuple[int, float] | None = None
    keep: int = 2
    reported: Callable[[float], float] = float


# -- candidate sets ----------------------------------------------------------------------


@dataclass
class CandidateBatch:
    """Anchors (b), their candidates (b x c) and the candidates' weights ω (b x c; 0 = unused)."""

    anchors: np.ndarray
    candidates: np.ndarray
    weights: np.ndarray


def draw_candidates(
    anchors: np.ndarray, near: np.ndarray, n: int, n_random: int, rng: np.random.Generator, extrapolate: bool
) -> CandidateBatch:
    """The anchors' listed neighbours plus ``n_random`` uniform draws from all n points.

    A draw that is the anchor itself or one of its listed neighbours gets weight 0; the
    others get n / n_random when ``extrapolate`` (then Σ_j ω_ij f(j) over the draws is an
    unbiased estimate of the sum of f over the points not listed), else 1.
    """
    listed = near[anchors]
    drawn = rng.integers(0, n, size=(anchors.size, n_random))
    duplicate = (drawn == anchors[:, None]) | (drawn[:, :, None] == listed[:, None, :]).any(axis=2)
    weight = n / n_random if extrapolate else 1.0
    weights = np.concatenate([np.ones(listed.shape), np.where(duplicate, 0.0, weight)], axis=1)
    return CandidateBatch(anchors, np.concatenate([listed, drawn], axis=1), weights)


def _differences(X: np.ndarray, L: np.ndarray, anchors: np.ndarray, others: np.ndarray):
    """x_ij = x_i - x_j (b x c x d), L x_ij (b x c x k) and d_ij = ||L x_ij||² (b x c)."""
    diff = X[anchors][:, None, :] - X[others]
    projected = diff @ L.T
    return diff, projected, np.einsum("bck,bck->bc", projected, projected)


def _pair_gradient(weights: np.ndarray, diff: np.ndarray, projected: np.ndarray) -> np.ndarray:
    """2 Σ_ij w_ij (L x_ij) x_ijᵀ = ∂/∂L of Σ_ij w_ij d_ij with the weights held fixed."""
    k, d = projected.shape[-1], diff.shape[-1]
    return 2.0 * (weights[..., None] * projected).reshape(-1, k).T @ diff.reshape(-1, d)


class InMemoryPoints:
    """The training points held here: what the stochastic solver asks of its points.

    The solver never touches rows itself. It asks a store for the squared distances
    d_ij = ||L(x_i - x_j)||² of a batch's pairs (anchor i, other j; b x c, in training
    point numbers), then for ∂/∂L of Σ_ij w_ij d_ij with weights it computed from those
    distances, and for neighbour lists. This store holds the rows in memory; the engine
    store (:mod:`metricli.engines.stochastic_fit`) keeps them in partitions, so that only
    these b x c arrays, k x d gradients and the lists travel.
    """

    def __init__(self, X: np.ndarray, memory: int = 2**22) -> None:
        self.X, self.memory, self.n = X, memory, X.shape[0]
        self._last: tuple[np.ndarray, np.ndarray] | None = None

    def distances(self, L: np.ndarray, anchors: np.ndarray, others: np.ndarray) -> np.ndarray:
        diff, projected, sq_dist = _differences(self.X, L, anchors, others)
        self._last = diff, projected
        return sq_dist

    def gradient(self, weights: np.ndarray) -> np.ndarray:
        """2 Σ_ij w_ij (L x_ij) x_ijᵀ over the pairs of the last :meth:`distances`."""
        assert self._last is not None
        return _pair_gradient(weights, *self._last)

    def steps(
        self,
        objective: BatchObjective,
        L: np.ndarray,
        optimiser: AMSGrad,
        batches: Iterable[CandidateBatch],
        epoch: int,
        name: str,
    ) -> StepResult:
        """An epoch's AMSGrad steps over these points (:func:`take_steps`)."""
        return take_steps(objective, self, L, optimiser, batches, epoch, name)

    def nearest(self, L: np.ndarray, m: int, bounds: np.ndarray | None) -> np.ndarray:
        return nearest_others(project(self.X, L), m, bounds, self.memory)

    def approximate(
        self, L: np.ndarray, m: int, bounds: np.ndarray | None, previous: np.ndarray | None, rng
    ) -> np.ndarray:
        """Approximate lists in x -> L x (:func:`~metricli.learners.candidates.lists_of`)."""
        return lists_of(project(self.X, L), m, bounds, previous, rng, self.memory)

    def targets(self, k: int, bounds: np.ndarray) -> np.ndarray:
        from metricli.learners.lmnn import target_neighbours

        return target_neighbours(self.X, bounds, k, self.memory)


def _softmax(sq_dist: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """p_ij = ω_ij e^{-d_ij} / Σ_l ω_il e^{-d_il}, shifted by each row's nearest candidate."""
    usable = weights > 0
    nearest = np.where(usable, sq_dist, np.inf).min(axis=1, keepdims=True)
    p = np.exp(nearest - np.where(usable, sq_dist, np.inf)) * weights
    p /= p.sum(axis=1, keepdims=True)
    return p


def nca_weights(sq_dist: np.ndarray, omega: np.ndarray, same: np.ndarray) -> tuple[float, np.ndarray]:
    """f_B = Σ_{i in B} p_i and the pair weights w_ij = p_ij (p_i - [y_i = y_j]), ∂f_B/∂L = 2 Σ w (L x) xᵀ.

    p_ij = ω_ij e^{-d_ij} / Σ_l ω_il e^{-d_il} over i's candidates, p_i = Σ_{j: y_j = y_i} p_ij
    (Goldberger et al. 2004, eq. 5, with the sum over k ≠ i replaced by the weighted candidates).
    """
    p = _softmax(sq_dist, omega)
    p_correct = (p * same).sum(axis=1)
    return float(p_correct.sum()), p * (p_correct[:, None] - same)


def mlkr_weights(
    sq_dist: np.ndarray, omega: np.ndarray, y_anchor: np.ndarray, y_other: np.ndarray
) -> tuple[float, np.ndarray]:
    """ℒ_B = Σ_{i in B} (ŷ_i - y_i)² and w_ij = 2 (ŷ_i - y_i)(ŷ_i - y_j) p_ij, ŷ_i = Σ_j p_ij y_j
    (Weinberger & Tesauro 2007, eq. 5), p_ij the weighted softmax over i's candidates."""
    p = _softmax(sq_dist, omega)
    predicted = (p * y_other).sum(axis=1)
    residual = predicted - y_anchor
    return float(residual @ residual), 2.0 * residual[:, None] * (predicted[:, None] - y_other) * p


def lmnn_weights(
    t_dist: np.ndarray,
    c_dist: np.ndarray,
    no_target: np.ndarray,
    impostor: np.ndarray,
    omega: np.ndarray,
    mu: float,
) -> tuple[float, np.ndarray, np.ndarray, dict[str, int]]:
    """ε_B and the weights of its target pairs (b x k) and candidate pairs (b x c).

    ε_B = (1 - μ) Σ_{i in B, j⇝i} d_ij + μ Σ_{i in B, j⇝i} Σ_l ω_il [1 + d_ij - d_il]_+ over the
    candidates l of another class (Weinberger & Saul 2009, eq. 11-14); its subgradient is
    2 Σ w (L x) xᵀ with w_ij = (1 - μ) + μ Σ_l ω_il [active] for target pairs and
    w_il = -μ ω_il #{j: active} for impostor pairs. ``no_target`` marks a small class's
    spare target slots (the anchor itself): no triplet.
    """
    # hinge[b, j, l] = 1 + d_bj - d_bl over target j and candidate l
    hinge = 1.0 + t_dist[:, :, None] - c_dist[:, None, :]
    hinge[no_target] = 0.0
    active = (hinge > 0) & impostor[:, None, :]
    weighted = active * omega[:, None, :]
    loss = (1.0 - mu) * float(t_dist.sum()) + mu * float((hinge * weighted).sum())
    target_weights = (1.0 - mu) + mu * weighted.sum(axis=2)
    impostor_weights = -mu * weighted.sum(axis=1)
    return loss, target_weights, impostor_weights, {"active": int(active.sum())}


#: (points, L, batch) -> (loss to minimise, its gradient, info); ``rows(batch)``: the point
#: numbers a batch touches (so that an engine can gather just those rows where it steps)
BatchObjective = Any


@dataclass
class NCAObjective:
    """Minus NCA's f over a batch of anchors and their candidates; ``codes`` by point number."""

    codes: np.ndarray

    def __call__(self, points: Any, L: np.ndarray, batch: CandidateBatch) -> tuple[float, np.ndarray, dict]:
        sq_dist = points.distances(L, batch.anchors, batch.candidates)
        same = self.codes[batch.candidates] == self.codes[batch.anchors][:, None]
        f, weights = nca_weights(sq_dist, batch.weights, same)
        return -f, -points.gradient(weights), {}

    def rows(self, batch: CandidateBatch) -> np.ndarray:
        return np.concatenate([batch.anchors, batch.candidates.ravel()])


@dataclass
class MLKRObjective:
    """ℒ over a batch of anchors and their candidates; ``y`` the targets by point number."""

    y: np.ndarray

    def __call__(self, points: Any, L: np.ndarray, batch: CandidateBatch) -> tuple[float, np.ndarray, dict]:
        sq_dist = points.distances(L, batch.anchors, batch.candidates)
        value, weights = mlkr_weights(sq_dist, batch.weights, self.y[batch.anchors], self.y[batch.candidates])
        return value, points.gradient(weights), {}

    def rows(self, batch: CandidateBatch) -> np.ndarray:
        return np.concatenate([batch.anchors, batch.candidates.ravel()])


@dataclass
class LMNNObjective:
    """ε over a batch of anchors, their fixed ``targets`` (n x k) and impostors among their candidates."""

    codes: np.ndarray
    targets: np.ndarray
    mu: float

    def __call__(self, points: Any, L: np.ndarray, batch: CandidateBatch) -> tuple[float, np.ndarray, dict]:
        anchors, kt = batch.anchors, self.targets.shape[1]
        listed = self.targets[anchors]
        sq_dist = points.distances(L, anchors, np.concatenate([listed, batch.candidates], axis=1))
        impostor = (self.codes[batch.candidates] != self.codes[anchors][:, None]) & (batch.weights > 0)
        value, t_weights, c_weights, info = lmnn_weights(
            sq_dist[:, :kt], sq_dist[:, kt:], listed == anchors[:, None], impostor, batch.weights, self.mu
        )
        return value, points.gradient(np.concatenate([t_weights, c_weights], axis=1)), info

    def rows(self, batch: CandidateBatch) -> np.ndarray:
        anchors = batch.anchors
        return np.concatenate([anchors, self.targets[anchors].ravel(), batch.candidates.ravel()])


def nca_objective_on(store: Any, codes: np.ndarray) -> NCAObjective:
    """The stochastic solver's loss for NCA (Goldberger et al. 2004) over the store's points."""
    return NCAObjective(codes)


def mlkr_objective_on(store: Any, y: np.ndarray) -> MLKRObjective:
    """The stochastic solver's loss for MLKR (Weinberger & Tesauro 2007) over the store's points."""
    return MLKRObjective(y)


def lmnn_objective_on(
    store: Any, codes: np.ndarray, k: int, mu: float, targets: np.ndarray | None = None
) -> LMNNObjective:
    """The stochastic solver's loss for LMNN (Weinberger & Saul 2009) over the store's points.

    The k target neighbours of every training point are found once, exactly, per class
    (codes sorted by class), unless given.
    """
    if targets is None:
        targets = store.targets(k, np.concatenate([[0], np.cumsum(np.bincount(codes))]))
    return LMNNObjective(codes, targets, mu)


def nca_batch(
    X: np.ndarray, codes: np.ndarray, L: np.ndarray, batch: CandidateBatch
) -> tuple[float, np.ndarray]:
    """f_B = Σ_{i in B} p_i and ∂f_B/∂L, NCA's softmax restricted to the candidates (:func:`nca_weights`)."""
    f, gradient, _ = NCAObjective(codes)(InMemoryPoints(X), L, batch)
    return -f, -gradient


def mlkr_batch(
    X: np.ndarray, y: np.ndarray, L: np.ndarray, batch: CandidateBatch
) -> tuple[float, np.ndarray]:
    """ℒ_B = Σ_{i in B} (ŷ_i - y_i)² and ∂ℒ_B/∂L, MLKR's kernel restricted to the candidates
    (:func:`mlkr_weights`)."""
    value, gradient, _ = MLKRObjective(y)(InMemoryPoints(X), L, batch)
    return value, gradient


def lmnn_batch(
    X: np.ndarray,
    codes: np.ndarray,
    targets: np.ndarray,
    L: np.ndarray,
    batch: CandidateBatch,
    mu: float,
) -> tuple[float, np.ndarray, dict[str, int]]:
    """ε_B and ∂ε_B/∂L: LMNN's terms of the anchors in B, impostors among their candidates
    (:func:`lmnn_weights`)."""
    return LMNNObjective(codes, targets, mu)(InMemoryPoints(X), L, batch)


# -- held-out split and scores ------------------------------------------------------------


def held_out_split(n: int, rng: np.random.Generator, codes: np.ndarray | None = None, keep: int = 2):
    """(training rows, held-out rows): about HELD_OUT_FRACTION of the points, at most HELD_OUT_MAX.

    With class ``codes`` the sample is stratified and leaves at least ``keep`` points of
    each class for training (LMNN's target neighbours need k + 1).
    """
    size = min(HELD_OUT_MAX, int(HELD_OUT_FRACTION * n))
    if codes is None:
        order = rng.permutation(n)
        return np.sort(order[size:]), np.sort(order[:size])
    held = []
    for c in range(int(codes.max()) + 1):
        members = rng.permutation(np.flatnonzero(codes == c))
        take = min(round(size * members.size / n), members.size - keep)
        held.append(members[: max(take, 0)])
    held_rows = np.sort(np.concatenate(held))
    train = np.setdiff1d(np.arange(n), held_rows, assume_unique=True)
    return train, held_rows


#: what a held-out score returns: (the value the solver compares, larger is better; what progress shows)
Score = tuple[float, dict[str, float]]


def classification_score(
    X_train: np.ndarray, codes_train: np.ndarray, X_held: np.ndarray, codes_held: np.ndarray, k: int = 3
) -> Callable[[np.ndarray], Score]:
    """L -> held-out scores in the space x -> L x, against a sample of the training points.

    Compared: the mean probability that a held-out point's stochastic nearest neighbour
    (NCA's softmax over the reference points) shares its class, a smooth score that moves
    with every step even on a small sample. Shown: that and the k-NN accuracy.
    """

    def score(L: np.ndarray) -> Score:
        reference, held = project(X_train, L), project(X_held, L)
        correct = 0.0
        for rows, D in iter_sq_distances(held, reference, 2**24):
            D -= D.min(axis=1, keepdims=True)
            np.exp(-D, out=D)
            same = codes_train[None, :] == codes_held[rows, None]
            correct += float(np.sum((D * same).sum(axis=1) / D.sum(axis=1)))
        accuracy = float(np.mean(knn_classify(reference, codes_train, held, k) == codes_held))
        soft = correct / len(codes_held)
        return soft, {"held_out_knn": round(accuracy, 4), "held_out_soft": round(soft, 4)}

    return score


def margin_score(
    X_train: np.ndarray,
    codes_train: np.ndarray,
    X_held: np.ndarray,
    codes_held: np.ndarray,
    k: int,
    mu: float,
) -> Callable[[np.ndarray], Score]:
    """L -> minus LMNN's mean loss of the held-out points against the reference points, exactly.

    Each held-out point's k target neighbours are its nearest same-class reference points
    in the input space (fixed); its impostors are all reference points of other classes.
    LMNN shrinks L as it pulls, which makes softmax scores fall as the metric improves:
    its own loss is the score that tracks it. Shown: the loss and the k-NN accuracy.
    """
    targets = np.empty((codes_held.size, k), dtype=np.intp)
    for c in np.unique(codes_held):
        members, queries = np.flatnonzero(codes_train == c), np.flatnonzero(codes_held == c)
        targets[queries] = members[knn(X_held[queries], X_train[members], k)[0]]

    def score(L: np.ndarray) -> Score:
        reference, held = project(X_train, L), project(X_held, L)
        loss = 0.0
        for rows, D in iter_sq_distances(held, reference, 2**22):
            target_dist = np.take_along_axis(D, targets[rows], axis=1)
            D[codes_train[None, :] == codes_held[rows, None]] = np.inf  # only other classes impose
            hinge = np.empty_like(D)
            pushed = 0.0
            for t in range(k):  # [1 + d(i, target) - d(i, l)]_+ summed over impostors l, a target at a time
                np.subtract(target_dist[:, t, None] + 1.0, D, out=hinge)
                pushed += float(np.maximum(hinge, 0.0, out=hinge).sum())
            loss += (1.0 - mu) * float(target_dist.sum()) + mu * pushed
        accuracy = float(np.mean(knn_classify(reference, codes_train, held, 3) == codes_held))
        mean = loss / len(codes_held)
        return -mean, {"held_out_knn": round(accuracy, 4), "held_out_loss": round(mean, 4)}

    return score


def regression_score(
    X_train: np.ndarray, y_train: np.ndarray, X_held: np.ndarray, y_held: np.ndarray
) -> Callable[[np.ndarray], Score]:
    """L -> minus the held-out mean squared error of Nadaraya–Watson regression in x -> L x."""

    def score(L: np.ndarray) -> Score:
        error = 0.0
        for rows, D in iter_sq_distances(project(X_held, L), project(X_train, L), 2**24):
            D -= D.min(axis=1, keepdims=True)
            np.exp(-D, out=D)
            predicted = (D @ y_train) / D.sum(axis=1)
            error += float(np.sum((predicted - y_held[rows]) ** 2))
        mse = error / max(len(y_held), 1)
        return -mse, {"held_out_rmse": round(float(np.sqrt(mse)), 4)}

    return score


# -- the optimiser -------------------------------------------------------------------------


@dataclass
class StochasticResult:
    components: np.ndarray
    n_iter: int  # rounds (epochs up to ROUND_ANCHORS training points)
    objective: float  # the last round's estimate of the whole objective, in the paper's terms
    converged: bool
    objective_history: list[float] = field(default_factory=list)
    score_history: list[float] = field(default_factory=list)


#: AMSGrad's constants (Reddi et al. 2018; Adam's usual β₁, β₂, ε)
BETA1, BETA2, EPSILON = 0.9, 0.999, 1e-8

#: an epoch takes at least this many steps (smaller batches on small sets)
MIN_STEPS_PER_EPOCH = 32

#: approximate candidate lists (above EXACT_LISTS_UP_TO points) are refreshed every this many
#: epochs: one round of neighbour descent is a third of an LMNN epoch at 100,000 points
APPROXIMATE_REFRESH_EVERY = 2

#: the first step size, as a fraction of the root-mean-square entry of the starting L
STEP_FRACTION = 0.1

#: the held-out check (which halves the step and stops the solver) comes after at most this
#: many anchors, a round: up to it a round is an epoch. Above it, an epoch is split into
#: rounds of equal batches, so that the solver stops after about as many steps as on 100,000
#: points, not after as many whole passes: NCA at a million points ran 11 epochs of 1,950
#: steps each, where 11 rounds of about 195 steps converge 100,000 points.
ROUND_ANCHORS = 100_000


class AMSGrad:
    """AMSGrad on a matrix: Adam's moments with a non-decreasing second moment (Reddi et al. 2018)."""

    def __init__(self, shape: tuple[int, ...], step: float) -> None:
        self.step = step
        self.first = np.zeros(shape)
        self.second = np.zeros(shape)
        self.largest_second = np.zeros(shape)
        self.t = 0

    def update(self, x: np.ndarray, gradient: np.ndarray) -> None:
        """One descent step on x, in place."""
        self.t += 1
        self.first *= BETA1
        self.first += (1 - BETA1) * gradient
        self.second *= BETA2
        self.second += (1 - BETA2) * gradient**2
        np.maximum(self.largest_second, self.second, out=self.largest_second)
        first = self.first / (1 - BETA1**self.t)
        second = self.largest_second / (1 - BETA2**self.t)
        x -= self.step * first / (np.sqrt(second) + EPSILON)


#: (L, optimiser, the sum of the batch losses, the last batch's info) after a pass of steps
StepResult = tuple[np.ndarray, AMSGrad, float, dict[str, Any]]
#: (L, optimiser, the epoch's batches as drawn, epoch number) -> StepResult: one pass of
#: AMSGrad steps, wherever the points are
EpochSteps = Callable[[np.ndarray, AMSGrad, Iterator[Any], int], StepResult]


def take_steps(
    objective: BatchObjective,
    points: Any,
    L: np.ndarray,
    optimiser: AMSGrad,
    batches: Iterable[CandidateBatch],
    epoch: int,
    name: str,
) -> StepResult:
    """AMSGrad steps on the batches in turn, each on the mean loss of its anchors (L and the
    optimiser updated in place and returned, with the sum of the losses and the last info)."""
    total, info = 0.0, {}
    for batch in batches:
        loss, gradient, info = objective(points, L, batch)
        total += loss
        optimiser.update(L, gradient / batch.anchors.size)
        if not np.all(np.isfinite(L)):
            raise MetricliError(
                f"{name}: the stochastic solver diverged in round {epoch}; try standardizing the features"
            )
    return L, optimiser, total, info


def minimize_stochastic(
    draw: Callable[[np.ndarray, np.random.Generator], Any],
    run_epoch: EpochSteps,
    L0: np.ndarray,
    *,
    n_train: int,
    batch_size: int,
    max_epochs: int,
    rng: np.random.Generator,
    refresh: Callable[[np.ndarray], None],
    score: Callable[[np.ndarray], Score],
    learner: MahalanobisLearner | None = None,
    reported: Callable[[float], float] = float,
    refresh_every: int = 1,
) -> StochasticResult:
    """Minimise a sum over anchors by minibatches with AMSGrad; keep the L with the best held-out score.

    Each epoch shuffles the n_train anchors into batches of ``batch_size``, cut into rounds
    of at most ROUND_ANCHORS anchors (whole batches, as even as they go; one round an epoch up
    to it). ``draw(anchors, rng)`` gives each batch its candidates (lazily, in batch order, so
    that the draws from ``rng`` do not depend on where the steps run or on the rounds), and
    ``run_epoch`` steps on the mean loss of each batch of a round (:func:`take_steps`, here or
    where the points are). ``refresh(L)`` renews the candidate lists before every
    ``refresh_every``-th epoch. The objective of a round is the sum of its batch losses (an
    estimate of the full objective, taken as L moved, scaled to a whole epoch), mapped by
    ``reported`` to the paper's terms. ``score(L)`` is taken on the held-out sample after each
    round: a round that does not improve the best score by IMPROVEMENT of its size halves
    the step, and after PATIENCE such rounds in a row the solver stops (converged), returning
    the L of the best score. ``n_iter`` counts rounds.
    """
    # a small set still gets MIN_STEPS_PER_EPOCH steps an epoch, so that the held-out checks
    # (which halve the step and stop the solver) come after real progress
    batch_size = max(1, min(batch_size, -(-n_train // MIN_STEPS_PER_EPOCH)))
    L = np.array(L0, dtype=np.float64, copy=True)
    step = STEP_FRACTION * float(np.sqrt(np.mean(L**2))) or STEP_FRACTION
    optimiser = AMSGrad(L.shape, step)
    best_score, shown = score(L)
    best_L = L.copy()
    objectives: list[float] = []
    scores: list[float] = [best_score]
    stale = 0
    converged = False
    started = time.perf_counter()
    n_batches = -(-n_train // batch_size)
    rounds_per_epoch = min(n_batches, -(-n_train // ROUND_ANCHORS))
    cuts = [n_batches * r // rounds_per_epoch * batch_size for r in range(rounds_per_epoch + 1)]
    rounds = 0
    for epoch in range(1, max_epochs + 1):
        if (epoch - 1) % refresh_every == 0:
            refresh(L)
        order = rng.permutation(n_train)
        for lo, hi in itertools.pairwise(cuts):
            part = order[lo:hi]
            batches = (
                draw(part[start : start + batch_size], rng) for start in range(0, part.size, batch_size)
            )
            rounds += 1
            L, optimiser, total, info = run_epoch(L, optimiser, batches, rounds)
            objectives.append(total * n_train / part.size)
            current, shown = score(L)
            scores.append(current)
            if current > best_score + IMPROVEMENT * abs(best_score):
                stale = 0
            else:
                stale += 1
                optimiser.step /= 2
            if current > best_score:
                best_L, best_score = L.copy(), current
            if learner is not None:
                elapsed = time.perf_counter() - started
                if rounds_per_epoch > 1:
                    shown = {"epoch": f"{rounds / rounds_per_epoch:.1f}", **shown}
                left = elapsed / rounds * (max_epochs * rounds_per_epoch - rounds)
                learner._report_progress(
                    rounds, reported(objectives[-1]), **shown, left=f"<{left:.0f}s", **info
                )
            if stale >= PATIENCE:
                converged = True
                break
        if converged:
            break
    return StochasticResult(
        components=best_L,
        n_iter=rounds,
        objective=reported(objectives[-1]) if objectives else float("nan"),
        converged=converged,
        objective_history=[reported(v) for v in objectives],
        score_history=scores,
    )


#: (a store of the training points, their labels or targets) -> the batch objective
MakeObjective = Callable[[Any, np.ndarray], BatchObjective]


def split_points(
    n: int, supervision: np.ndarray, classes: bool, keep: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(training, held-out, reference) point numbers, drawn from ``rng`` (seeded by the learner).

    They depend on n, the supervision and the seed only, never on where the rows are held:
    the local and the engine fits draw the same ones. The reference sample (the training
    points the held-out ones are scored against) is all of training up to REFERENCE_MAX.
    """
    train, held = held_out_split(n, rng, supervision if classes else None, keep)
    if train.size <= REFERENCE_MAX:
        return train, held, train
    return train, held, np.sort(rng.choice(train, REFERENCE_MAX, replace=False))


def held_out_score(
    X_reference: np.ndarray,
    s_reference: np.ndarray,
    X_held: np.ndarray,
    s_held: np.ndarray,
    classes: bool,
    margin: tuple[int, float] | None = None,
) -> Callable[[np.ndarray], Score]:
    """The held-out score of the solver: LMNN's own loss with ``margin`` = (k, μ), the
    classification score for classes, else minus the kernel regression error."""
    if X_held.shape[0] == 0:

        def nothing(L: np.ndarray) -> Score:
            return 0.0, {}  # too few points to hold any out: the solver stops after PATIENCE epochs

        return nothing
    if margin is not None:
        return margin_score(X_reference, s_reference, X_held, s_held, *margin)
    if classes:
        return classification_score(X_reference, s_reference, X_held, s_held)
    return regression_score(X_reference, s_reference, X_held, s_held)


def fit_on_candidates(
    learner: Any,
    X: np.ndarray,
    supervision: np.ndarray,
    L0: np.ndarray,
    make_objective: MakeObjective,
    *,
    classes: bool,
    impostors: bool = False,
    margin: tuple[int, float] | None = None,
    keep: int = 2,
    memory: int = 2**22,
    reported: Callable[[float], float] = float,
) -> StochasticResult:
    """The stochastic fit shared by NCA, LMNN and MLKR on points held in memory.

    ``supervision`` holds class codes (``classes``; X sorted by class) or regression targets.
    X is the learner's own copy: its rows are moved in place (:func:`keep_rows`).
    A held-out sample (stratified by class, keeping ``keep`` points of each class in
    training) is scored after every epoch: k-NN accuracy for classes, minus the kernel
    regression error for targets, LMNN's own loss with ``margin`` = (k, μ).
    """
    rng = np.random.default_rng(learner.random_state)
    train, held, reference = split_points(X.shape[0], supervision, classes, keep, rng)
    score = held_out_score(X[reference], supervision[reference], X[held], supervision[held], classes, margin)
    store = InMemoryPoints(keep_rows(X, train), memory)
    return run_stochastic(
        learner,
        store,
        supervision[train],
        L0,
        make_objective,
        score,
        rng,
        impostors=impostors,
        reported=reported,
    )


def keep_rows(X: np.ndarray, rows: np.ndarray, block: int = 65536) -> np.ndarray:
    """X[rows] for increasing ``rows``, written over X's first rows in blocks (no second n x d
    copy; X's other rows are left as they happen to be): row rows[i] >= i, so a block's sources
    are never rows an earlier block wrote."""
    for start in range(0, rows.size, block):
        stop = min(start + block, rows.size)
        X[start:stop] = X[rows[start:stop]]
    return X[: rows.size]


def run_stochastic(
    learner: Any,
    store: Any,
    s_train: np.ndarray,
    L0: np.ndarray,
    make_objective: MakeObjective,
    score: Callable[[np.ndarray], Score],
    rng: np.random.Generator,
    *,
    impostors: bool = False,
    reported: Callable[[float], float] = float,
) -> StochasticResult:
    """The stochastic solver over a store of training points (here or in partitions).

    Candidate lists are the ``learner.candidates`` nearest training points in the current
    projected space (of other classes when ``impostors``), plus half as many random draws
    per anchor and batch. Every draw comes from ``rng``, after :func:`split_points`: the
    minibatches and candidates depend on the seed and the point numbers only.
    """
    bounds = np.concatenate([[0], np.cumsum(np.bincount(s_train))]) if impostors else None
    objective = make_objective(store, s_train)
    n_random = max(1, int(learner.candidates) // 2)
    lists: dict[str, np.ndarray] = {}

    def refresh(L: np.ndarray) -> None:
        if store.n <= EXACT_LISTS_UP_TO:
            lists["near"] = store.nearest(L, int(learner.candidates), bounds)
        else:
            lists["near"] = approximate_lists(
                store, L, int(learner.candidates), bounds, lists.get("near"), rng
            )

    def draw(anchors: np.ndarray, batch_rng: np.random.Generator) -> CandidateBatch:
        return draw_candidates(
            anchors, lists["near"], store.n, n_random, batch_rng, extrapolate=not impostors
        )

    def run_epoch(L: np.ndarray, optimiser: AMSGrad, batches: Iterator[CandidateBatch], epoch: int):
        return store.steps(objective, L, optimiser, batches, epoch, learner.name)

    return minimize_stochastic(
        draw,
        run_epoch,
        L0,
        n_train=store.n,
        batch_size=int(learner.batch_size),
        max_epochs=int(learner.max_epochs),
        rng=rng,
        refresh=refresh,
        score=score,
        learner=learner,
        reported=reported,
        refresh_every=1 if store.n <= EXACT_LISTS_UP_TO else APPROXIMATE_REFRESH_EVERY,
    )
