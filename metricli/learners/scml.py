"""SCML: a sparse non-negative combination of locally discriminative rank-one metrics, from triplets."""

from __future__ import annotations

import numpy as np

from metricli.constraints import Triplets
from metricli.errors import MetricliError
from metricli.kernels import DEFAULT_BLOCK_BYTES, knn
from metricli.learners._weak import check_weak_input, differences, informative
from metricli.learners.base import MahalanobisLearner, components_from_metric
from metricli.learners.optimize import LBFGS_PARAM_HELP, minimize_lbfgs

#: neighbourhood sizes (anchors around each region centre) of the two scales of local bases
SCALES = (10, 20)
#: bases taken from each local discriminant analysis
BASES_PER_REGION = 3


def smoothed_hinge(z: np.ndarray, width: float) -> tuple[np.ndarray, np.ndarray]:
    """max(0, z) with its corner rounded over [0, width] (Nesterov smoothing); value and slope.

    0 for z ≤ 0, z² / (2 width) on (0, width), z - width / 2 beyond: never more than
    width / 2 below the hinge, and continuously differentiable.
    """
    slope = np.clip(z / width, 0.0, 1.0)
    value = np.where(z >= width, z - width / 2, np.where(z > 0, z * z / (2 * width), 0.0))
    return value, slope


class TripletLoss:
    """SCML's objective in the basis weights w ≥ 0, and its gradient.

    (1/T) Σ_t ℓ(1 + d_w(a, p) - d_w(a, n)) + β Σ_k w_k, where d_w(x, y) = (x - y)ᵀ M_w (x - y),
    M_w = Σ_k w_k b_k b_kᵀ = Bᵀ diag(w) B, and ℓ is the smoothed hinge.

    Triplets share pairs (an anchor meets the same neighbours many times), so the
    distances are computed once per distinct pair and each triplet's slope is summed
    onto its two pairs. Per distinct pair v, d_w = Σ_k w_k (b_k·v)²: when the table
    Z = (V Bᵀ)² fits in ``block_bytes`` and K < d², d = Z w and the gradient is Zᵀs;
    otherwise d = vᵀ M_w v and the gradient is diag(B (Vᵀ diag(s) V) Bᵀ), with memory
    O(pairs · d) only.
    """

    def __init__(
        self,
        basis: np.ndarray,
        X: np.ndarray,
        triplets: Triplets,
        beta: float,
        width: float,
        block_bytes: int = DEFAULT_BLOCK_BYTES,
    ) -> None:
        first = np.concatenate([triplets.anchor, triplets.anchor])
        second = np.concatenate([triplets.positive, triplets.negative])
        keys = np.stack([np.minimum(first, second), np.maximum(first, second)], axis=1)
        unique, inverse = np.unique(keys, axis=0, return_inverse=True)
        inverse = inverse.ravel()
        self.T = len(triplets)
        self.near, self.far = inverse[: self.T], inverse[self.T :]
        self.V = X[unique[:, 0]] - X[unique[:, 1]]
        self.basis, self.beta, self.width = basis, beta, width
        K, d = basis.shape
        self.Z = None
        if K < d * d and self.V.shape[0] * K * 8 <= block_bytes:
            self.Z = (self.V @ basis.T) ** 2

    def __call__(self, w: np.ndarray) -> tuple[float, np.ndarray]:
        if self.Z is not None:
            dist = self.Z @ w
        else:
            M = (self.basis.T * w) @ self.basis
            dist = np.einsum("ij,ij->i", self.V @ M, self.V)
        loss, slope = smoothed_hinge(1.0 + dist[self.near] - dist[self.far], self.width)
        n_pairs = self.V.shape[0]
        pair_slope = (
            np.bincount(self.near, slope, minlength=n_pairs) - np.bincount(self.far, slope, minlength=n_pairs)
        ) / self.T
        if self.Z is not None:
            grad = self.Z.T @ pair_slope
        else:
            G = (self.V * pair_slope[:, None]).T @ self.V
            grad = np.einsum("kd,kd->k", self.basis @ G, self.basis)
        return float(loss.sum()) / self.T + self.beta * float(w.sum()), grad + self.beta


def _kmeans(points: np.ndarray, k: int, rng: np.random.Generator, n_iter: int = 25) -> np.ndarray:
    """k-means++ seeding then Lloyd iterations; the k centres."""
    n = points.shape[0]
    centres = np.empty((k, points.shape[1]))
    centres[0] = points[rng.integers(n)]
    closest = np.sum((points - centres[0]) ** 2, axis=1)
    for j in range(1, k):
        total = closest.sum()
        pick = rng.choice(n, p=closest / total) if total > 0 else rng.integers(n)
        centres[j] = points[pick]
        closest = np.minimum(closest, np.sum((points - centres[j]) ** 2, axis=1))
    for _ in range(n_iter):
        nearest, _ = knn(points, centres, 1)
        label = nearest[:, 0]
        counts = np.bincount(label, minlength=k).astype(float)
        sums = np.zeros_like(centres)
        np.add.at(sums, label, points)
        moved = counts > 0
        new = centres.copy()
        new[moved] = sums[moved] / counts[moved, None]
        if np.allclose(new, centres):
            break
        centres = new
    return centres


def local_discriminant_bases(
    X: np.ndarray, triplets: Triplets, n_basis: int, rng: np.random.Generator
) -> np.ndarray:
    """Unit directions that separate each region's dissimilar pairs from its similar ones.

    The anchors of the triplets are clustered (k-means); around each centre, at two
    scales, the triplets whose anchors are nearest give a similar scatter
    S = Σ (x_a - x_p)(x_a - x_p)ᵀ and a dissimilar scatter D = Σ (x_a - x_n)(x_a - x_n)ᵀ,
    and the leading generalized eigenvectors of D b = μ S b are that region's bases:
    Fisher's discriminant criterion written with pairs instead of class labels, which
    is how Shi et al. build locally discriminative bases (local LDA around k-means
    centres) when only triplets are known.
    """
    d = X.shape[1]
    per_region = min(d, BASES_PER_REGION)
    anchors = np.unique(triplets.anchor)
    n_regions = int(min(np.ceil(n_basis / (2 * per_region)), anchors.size))
    centres = _kmeans(X[anchors], n_regions, rng)
    anchor_pos = np.searchsorted(anchors, triplets.anchor)  # each triplet's anchor, as a position
    near = differences(X, triplets.anchor, triplets.positive)
    far = differences(X, triplets.anchor, triplets.negative)
    bases = []
    for scale in SCALES:
        neighbours, _ = knn(centres, X[anchors], min(scale, anchors.size))
        for region in neighbours:
            member = np.zeros(anchors.size, dtype=bool)
            member[region] = True
            rows = member[anchor_pos]
            S = near[rows].T @ near[rows]
            D = far[rows].T @ far[rows]
            ridge = 1e-3 * max(np.trace(S), np.trace(D)) / d + np.finfo(float).tiny
            from scipy.linalg import eigh  # here: `metricli algorithms` lists learners without scipy

            _, vectors = eigh(D, S + ridge * np.eye(d))
            bases.append(vectors[:, ::-1][:, :per_region].T)
    basis = np.vstack(bases)
    basis /= np.linalg.norm(basis, axis=1, keepdims=True)
    return basis[:n_basis]


class SCML(MahalanobisLearner):
    r"""Sparse Compositional Metric Learning (Shi, Bellet & Sha, AAAI 2014), global version.

    M is a non-negative combination of K rank-one bases, M = Σ_k w_k b_k b_kᵀ, and the
    weights solve the paper's problem (its eq. 3)::

        min_{w ≥ 0}  (1/T) Σ_{(a,p,n)} [1 + d_w(x_a, x_p) - d_w(x_a, x_n)]_+ + β ||w||_1

    where d_w is the squared distance under M. The paper uses stochastic composite
    (dual averaging) steps; since the problem has only K variables we solve it
    deterministically with L-BFGS-B on the box w ≥ 0 (where ||w||_1 = Σ w is linear),
    after rounding the hinge's corner over a width ``smoothing`` — which moves each
    triplet's loss by at most smoothing / 2 and makes the problem differentiable
    (:class:`TripletLoss`).

    Bases (``basis='lda'``) are built from the data and the triplets by local
    discriminant analysis around k-means centres of the anchors
    (:func:`local_discriminant_bases`), or given as a K x d matrix. Memory is
    O(T + P·d + K·d) for P distinct pairs in the triplets, plus a P x K table of
    per-basis distances when it fits in 64 MB.
    """

    name = "scml"
    iterative = True
    supervision = "weakly-supervised"
    constraint_kinds = ("triplets",)
    peak_arrays = (98.0, 0.0)
    summary = "Sparse compositional metric learning: sparse weights on local discriminative bases"
    reference = "Shi, Bellet & Sha, AAAI 2014"
    param_help = {
        **LBFGS_PARAM_HELP,
        "basis": "Bases: 'lda' (local discriminant directions built from the triplets), or K bases as the "
        "rows of a K x d matrix.",
        "n_basis": "How many bases to build with 'lda' (default: 20 × features, at most 400).",
        "beta": "β: L1 penalty on the basis weights (sparsity).",
        "smoothing": "Width over which the hinge's corner is rounded (0 < smoothing; smaller is closer "
        "to the paper's hinge).",
    }

    def __init__(
        self,
        basis: str | np.ndarray = "lda",
        n_basis: int | None = None,
        beta: float = 1e-5,
        smoothing: float = 0.05,
        max_iter: int = 1000,
        tol: float = 1e-5,
        random_state: int | None = None,
    ) -> None:
        self.basis = basis
        self.n_basis = n_basis
        self.beta = beta
        self.smoothing = smoothing
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: Triplets | np.ndarray) -> SCML:
        """Learn M from points (n x d) and triplets, or class labels (one per point) to draw
        them from (seeded with ``random_state``); returns self."""
        X, triplets = check_weak_input(X, y, Triplets, self.name, seed=self.random_state)
        if not self.beta >= 0:
            raise MetricliError(f"scml: beta must be >= 0, got {self.beta}")
        if not self.smoothing > 0:
            raise MetricliError(f"scml: smoothing must be positive, got {self.smoothing}")
        near = differences(X, triplets.anchor, triplets.positive)
        far = differences(X, triplets.anchor, triplets.negative)
        keep = informative(near, far, learner=self.name, what="triplets")
        triplets = Triplets(triplets.anchor[keep], triplets.positive[keep], triplets.negative[keep])
        basis = self._basis(X, triplets)
        self.basis_ = basis
        objective = TripletLoss(basis, X, triplets, float(self.beta), float(self.smoothing))
        result = minimize_lbfgs(
            objective,
            np.zeros(basis.shape[0]),
            tol=float(self.tol),
            max_iter=int(self.max_iter),
            learner=self,
            bounds=[(0.0, None)] * basis.shape[0],
        )
        w = np.clip(result.x, 0.0, None)
        if not np.any(w > 0):
            raise MetricliError(
                "scml: every basis weight is 0 (the triplets are already met with margin, or beta is too "
                "large); lower beta"
            )
        self.weights_ = w
        M = (basis.T * w) @ basis
        self._set_solver_result(result, components_from_metric(M))
        return self

    def _basis(self, X: np.ndarray, triplets: Triplets) -> np.ndarray:
        d = X.shape[1]
        if isinstance(self.basis, str):
            if self.basis.lower() != "lda":
                raise MetricliError(f"scml: basis '{self.basis}' is not 'lda' (or a matrix file of bases)")
            n_basis = min(20 * d, 400) if self.n_basis is None else int(self.n_basis)
            if n_basis < 1:
                raise MetricliError(f"scml: n_basis must be at least 1, got {n_basis}")
            rng = np.random.default_rng(self.random_state)
            return local_discriminant_bases(X, triplets, n_basis, rng)
        basis = np.asarray(self.basis, dtype=np.float64)
        if basis.ndim != 2 or basis.shape[1] != d:
            raise MetricliError(
                f"scml: the basis matrix must have one row per basis and {d} columns (one per feature); "
                f"got shape {'x'.join(map(str, basis.shape))}"
            )
        if not np.all(np.isfinite(basis)):
            raise MetricliError("scml: the basis matrix has missing or infinite entries")
        return basis
