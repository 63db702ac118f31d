"""LFDA: local Fisher discriminant analysis (Sugiyama, JMLR 2007)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from metricli.errors import MetricliError
from metricli.kernels import kth_neighbour_sq_distance, pair_scatter
from metricli.learners.base import MahalanobisLearner, check_not_all_identical, check_points
from metricli.learners.labels import require_same_class_pair
from metricli.learners.scatter import (
    EmbeddingType,
    centered_and_scaled,
    check_n_components,
    check_regularization,
    check_representable,
    discriminant_eigh,
    embedding_components,
    encode_classes,
    require_classes,
)


@dataclass
class LocalFisherScatters:
    """The scatter matrices of LFDA, each divided by the number of points n.

    ``between`` = S⁽ˡᵇ⁾/n, ``within`` = S⁽ˡʷ⁾/n, ``total`` = S⁽ᵐ⁾/n (the mixture scatter).
    """

    between: np.ndarray
    within: np.ndarray
    total: np.ndarray


def local_affinity(sigma: np.ndarray):
    """A_ij = exp(-‖x_i - x_j‖² / (σ_i σ_j)) (Sugiyama 2007, eq. 11), block by block.

    When σ_i σ_j = 0 (a point with k duplicates), the limit is used: A_ij = 1 for
    coinciding points, 0 otherwise.
    """

    if sigma.min() > 0:  # the usual case: D becomes A in place, no temporaries
        reciprocal = 1.0 / sigma
        inverse = -reciprocal

        def weights(rows: slice, D: np.ndarray) -> np.ndarray:
            D *= inverse[rows, None]
            D *= reciprocal
            return np.exp(D, out=D)

        return weights

    def weights(rows: slice, D: np.ndarray) -> np.ndarray:
        scale = sigma[rows, None] * sigma[None, :]
        ratio = np.divide(D, scale, out=np.where(D > 0, np.inf, 0.0), where=scale > 0)
        return np.exp(-ratio)

    return weights


def local_fisher_scatters(Z: np.ndarray, codes: np.ndarray, k: int) -> LocalFisherScatters:
    """S⁽ˡᵇ⁾, S⁽ˡʷ⁾ and S⁽ᵐ⁾ of Sugiyama (2007), eqs. 13-16, without any n x n matrix.

    The affinity A only enters within a class, so everything is accumulated class by
    class. With Q_c = ½ Σ_{i,j∈c} A_ij (x_i - x_j)(x_i - x_j)ᵀ (the class's local scatter,
    computed blockwise by :func:`metricli.kernels.pair_scatter`) and C_c the class's
    scatter about its mean:

    - S⁽ˡʷ⁾ = Σ_c Q_c / n_c                          (W⁽ˡʷ⁾_ij = A_ij / n_c within a class)
    - S⁽ˡᵇ⁾ = S⁽ᵇ⁾ + Σ_c (1 - n_c/n)(C_c - Q_c / n_c)  (W⁽ˡᵇ⁾ = A_ij (1/n - 1/n_c) within, 1/n across)
    - S⁽ᵐ⁾  = S⁽ᵇ⁾ + Σ_c C_c

    where S⁽ᵇ⁾ = Σ_c n_c (μ_c - μ)(μ_c - μ)ᵀ. Each bracket is a PSD Laplacian scatter with
    weights (1 - A_ij)/n_c, so S⁽ˡᵇ⁾ ⪰ S⁽ᵇ⁾ ⪰ 0 is computed without cancellation.
    Local scaling: σ_i is the distance from x_i to its k-th nearest neighbour within its
    class (k is capped at n_c - 1; a class of one point has no local scatter).
    """
    n, d = Z.shape
    mean = Z.mean(axis=0)
    between_classes = np.zeros((d, d))
    local_between = np.zeros((d, d))
    within = np.zeros((d, d))
    class_scatter = np.zeros((d, d))
    for c in range(int(codes.max()) + 1):
        members = Z[codes == c]
        n_c = members.shape[0]
        if n_c == 0:
            continue
        class_mean = members.mean(axis=0)
        offset = class_mean - mean
        between_classes += n_c * np.outer(offset, offset)
        centered = members - class_mean
        C_c = centered.T @ centered
        class_scatter += C_c
        if n_c < 2:
            continue
        k_c = min(k, n_c - 1)
        sigma = np.sqrt(kth_neighbour_sq_distance(centered, k_c))
        Q_c = pair_scatter(centered, local_affinity(sigma))
        within += Q_c / n_c
        local_between += (1.0 - n_c / n) * (C_c - Q_c / n_c)
    return LocalFisherScatters(
        between=(between_classes + local_between) / n,
        within=within / n,
        total=(between_classes + class_scatter) / n,
    )


def check_k(k: int, who: str) -> int:
    if int(k) != k or k < 1:
        raise MetricliError(f"{who}: k must be a positive integer, got {k}")
    return int(k)


class LFDA(MahalanobisLearner):
    """Local Fisher discriminant analysis (Sugiyama, JMLR 8, 2007).

    Fisher's criterion with *local* weights: pairs of the same class count in
    proportion to their affinity A_ij = exp(-‖x_i - x_j‖² / (σ_i σ_j)) (eq. 11, local
    scaling with σ_i the distance to the k-th nearest neighbour in the class), so a
    class made of several clusters need not be squeezed into one. The directions solve
    the generalized eigenproblem S⁽ˡᵇ⁾ φ = λ S⁽ˡʷ⁾ φ (eqs. 13-18); the metric is
    M = Lᵀ L with L built from the top φ by the embedding type (Sec. 4):
    ``weighted`` (φ_i · sqrt(λ_i), the default), ``orthonormalized`` or ``plain``.

    Stability (not in the paper): the problem is solved on the range of the mixture
    scatter S⁽ᵐ⁾, so constant or duplicated columns get weight 0, and S⁽ˡʷ⁾ is replaced
    by S⁽ˡʷ⁾ + α S⁽ᵐ⁾ (``regularization`` α). This bounds every λ by 1/α, which keeps
    directions that are nearly constant within every class (e.g. a pixel lit in one
    image) from dominating the metric, and keeps the problem well posed when a class has
    fewer points than there are features. With α = 0 the problem is reduced to the range
    of S⁽ˡʷ⁾ instead. All scatters are divided by n, which rescales M only.

    Not on Dask: S⁽ˡʷ⁾ and S⁽ˡᵇ⁾ weigh every same-class pair by A_ij, with σ_i from x_i's
    k-th nearest neighbour in its whole class, so they need all of a class's points at once;
    they are not sums of per-partition terms, and ``fit lfda`` has no ``--engine dask``.

    Reference: M. Sugiyama, "Dimensionality reduction of multimodal labeled data by
    local Fisher discriminant analysis", Journal of Machine Learning Research 8:1027-1061, 2007.
    """

    name = "lfda"
    supervision = "supervised"
    peak_arrays = (9.2, 0.0)
    summary = "Local Fisher discriminant analysis: Fisher's criterion on locally weighted pairs"
    reference = "Sugiyama, JMLR 8:1027-1061, 2007"
    param_help = {
        "n_components": "Output dimension: keep the most discriminative directions (default: all).",
        "k": "Local scaling: σ_i is the distance to the k-th nearest neighbour in x_i's class.",
        "embedding_type": "weighted: directions scaled by sqrt(eigenvalue); orthonormalized: an "
        "orthonormal basis of their span; plain: the raw eigenvectors.",
        "regularization": "α in S_lw + α·S_m: bounds how much one direction can count; "
        "0 reduces the problem to the range of S_lw instead.",
    }

    def __init__(
        self,
        n_components: int | None = None,
        k: int = 7,
        embedding_type: EmbeddingType = "weighted",
        regularization: float = 1e-3,
    ) -> None:
        self.n_components = n_components
        self.k = k
        self.embedding_type = embedding_type
        self.regularization = regularization

    def fit(self, X: np.ndarray, y: object) -> LFDA:
        X = check_points(X, min_rows=2)
        codes, classes = encode_classes(y, X.shape[0])
        if (codes < 0).any():
            warnings.warn(
                f"lfda: ignoring {int((codes < 0).sum())} unlabelled rows (LFDA uses labelled rows only; "
                "SELF also learns from unlabelled ones)",
                UserWarning,
                stacklevel=2,
            )
            X, codes = X[codes >= 0], codes[codes >= 0]
        require_classes(codes, self.name)
        require_same_class_pair(np.bincount(codes), self.name)
        check_not_all_identical(X)
        check_n_components(self.n_components, X.shape[1], self.name)
        k = check_k(self.k, self.name)
        alpha = check_regularization(self.regularization, self.name)
        Z, scale = centered_and_scaled(X)
        scatters = local_fisher_scatters(Z, codes, k)
        values, vectors = discriminant_eigh(scatters.between, scatters.within, scatters.total, alpha)
        self.classes_ = classes
        self._finish(values, vectors, scale)
        return self

    def _finish(self, values: np.ndarray, vectors: np.ndarray, scale: float) -> None:
        """Build L from the directions found on data divided by ``scale``."""
        components = embedding_components(values, vectors, self.embedding_type, self.n_components)
        if self.embedding_type != "orthonormalized":  # an orthonormal basis stays orthonormal
            components = components / scale
        components = check_representable(components, self.name)
        m = components.shape[0]
        self.eigenvalues_ = values[:m]
        self._set_fit_result(
            components, n_iter=1, objective=float(np.sum(np.clip(values[:m], 0.0, None))), converged=True
        )
