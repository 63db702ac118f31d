"""RCA: relevant component analysis (Bar-Hillel, Hertz, Shental & Weinshall, JMLR 2005)."""

from __future__ import annotations

import numpy as np

from metricli.constraints import Chunks, validate
from metricli.errors import MetricliError
from metricli.lazy import pd
from metricli.learners.base import MahalanobisLearner, check_points, fix_signs
from metricli.learners.scatter import (
    centered_and_scaled,
    check_n_components,
    check_regularization,
    check_representable,
    range_basis,
    whitened_within,
)
from metricli.statistics import ChunkStats


def chunk_centered(Z: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Each point minus the mean of its chunklet (ids are 0..K-1 for every row of Z)."""
    counts = np.bincount(ids)
    sums = np.zeros((counts.size, Z.shape[1]))
    np.add.at(sums, ids, Z)
    return Z - (sums / counts[:, None])[ids]


def _chunk_ids(y: object) -> np.ndarray:
    """Chunklet ids as given (integers, -1 in none), or class labels (text) numbered, a blank
    or missing label in no chunklet."""
    values = np.asarray(y)
    if values.dtype.kind not in "OUS":
        return values
    labels = values.astype(object)
    blank = np.asarray(pd.isna(labels), dtype=bool) | (labels == "")
    ids = np.full(labels.shape, -1, dtype=np.intp)
    ids[~blank] = np.unique(labels[~blank].astype(str), return_inverse=True)[1]
    return ids


class RCA(MahalanobisLearner):
    """Relevant component analysis (Bar-Hillel et al., JMLR 6, 2005).

    Points of a chunklet are known to belong together; the variation inside chunklets
    is irrelevant and is whitened away. With p points in chunklets and m_j the mean of
    chunklet j, the within-chunklet covariance is (Sec. 2, Algorithm 1)

        Ĉ = (1/p) Σ_j Σ_{i∈j} (x_ji - m_j)(x_ji - m_j)ᵀ,      M = Ĉ⁻¹.

    When Ĉ is singular (fewer chunklet points than features, constant or duplicated
    columns) the paper first reduces the dimension to the rank of Ĉ (Sec. 4.2, a
    constrained Fisher discriminant: keep directions of small within-chunklet variance
    relative to the total variance S_t of the chunklet points). Here: the problem is
    solved on the range of S_t (after whitening it, Pᵀ S_t P = I), and the whitened
    Ĉ̃ = Pᵀ Ĉ P is inverted on its own range, i.e. M = P Ĉ̃⁺ Pᵀ, which equals Ĉ⁻¹ when Ĉ is
    invertible. ``n_components`` keeps the directions with the smallest ratio of within-
    chunklet to total variance (the most relevant ones, as in that reduction);
    ``regularization`` α > 0 inverts Ĉ + α S_t instead, keeping every direction.

    Only points in a chunklet of at least two points are used (ids < 0 are in none; a
    chunklet of one point says nothing), so adding unchunked points does not change M.

    Ĉ and S_t depend on the data only through each chunklet's count, mean and the summed
    within-chunklet scatter, which merge exactly across partitions even when a chunklet is
    split between them (:class:`~metricli.statistics.ChunkStats`): :meth:`fit_statistics`
    fits from those, which is how ``fit rca --engine dask`` runs.

    Reference: A. Bar-Hillel, T. Hertz, N. Shental and D. Weinshall, "Learning a Mahalanobis
    metric from equivalence constraints", Journal of Machine Learning Research 6:937-965, 2005.
    """

    name = "rca"
    supervision = "weakly-supervised"
    constraint_kinds = ("chunks",)
    distributed_fit = "chunks"
    peak_arrays = (5.3, 0.0)
    summary = "Relevant component analysis: whiten the variation within chunklets of equivalent points"
    reference = "Bar-Hillel, Hertz, Shental & Weinshall, JMLR 6:937-965, 2005"
    param_help = {
        "n_components": "Keep the directions with the least within-chunklet variance relative to the "
        "total (default: all in which Ĉ is invertible).",
        "regularization": "α > 0 inverts Ĉ + α·S_t (keeps every direction); 0 inverts Ĉ on its range.",
    }

    def __init__(self, n_components: int | None = None, regularization: float = 0.0) -> None:
        self.n_components = n_components
        self.regularization = regularization

    def fit(self, X: np.ndarray, y: Chunks | np.ndarray) -> RCA:
        """Learn M from points (n x d) and their chunklet ids (one per point, -1 in none; a
        :class:`Chunks`); whole classes as chunklets when ``y`` holds class labels; returns self."""
        X = check_points(X, min_rows=2)
        chunks = y if isinstance(y, Chunks) else Chunks(_chunk_ids(y))
        validate(chunks, X.shape[0], where="rca: chunks")
        check_n_components(self.n_components, X.shape[1], self.name)
        check_regularization(self.regularization, self.name)

        ids = np.where(chunks.ids >= 0, chunks.ids, -1)
        sizes = np.bincount(ids[ids >= 0])
        used = (ids >= 0) & (sizes[np.maximum(ids, 0)] >= 2)
        if not used.any():
            raise MetricliError(
                "rca: no chunklet has two or more points; RCA needs points known to belong together"
            )
        _, dense_ids = np.unique(ids[used], return_inverse=True)
        Z, scale = centered_and_scaled(X[used])
        p = Z.shape[0]
        residual = chunk_centered(Z, dense_ids)
        return self._solve(residual.T @ residual / p, Z.T @ Z / p, scale, int(dense_ids.max()) + 1, p)

    def fit_statistics(self, stats: ChunkStats) -> RCA:
        """Fit from per-chunklet statistics merged across batches or partitions (:class:`ChunkStats`).

        Ĉ and the total scatter S_t of the chunklet points follow from the chunklets' counts,
        means and within scatter; columns constant on those points get weight 0, as in :meth:`fit`.
        """
        d = stats.within.shape[0]
        check_n_components(self.n_components, d, self.name)
        check_regularization(self.regularization, self.name)
        within, total, p, varying = stats.used()
        if p == 0:
            raise MetricliError(
                "rca: no chunklet has two or more points; RCA needs points known to belong together"
            )
        if not varying.any():
            raise MetricliError(f"all {p} points are identical; there is no spread to learn a metric from")
        # exactly zero where a column is constant, as centered_and_scaled makes it in fit
        within, total = within.copy(), total.copy()
        for matrix in (within, total):
            matrix[~varying, :] = 0.0
            matrix[:, ~varying] = 0.0
        # one global scale, so that the solve sees numbers near 1 (the result does not depend on it)
        scale = float(np.sqrt(np.max(np.diag(total)) / p))
        n_chunks = int(np.sum(stats.n >= 2))
        return self._solve(within / (p * scale**2), total / (p * scale**2), scale, n_chunks, p)

    def _solve(self, within: np.ndarray, total: np.ndarray, scale: float, n_chunks: int, p: int) -> RCA:
        """M from Ĉ and S_t of the data divided by ``scale`` (Sec. 2 and 4.2; see the class docstring)."""
        alpha = check_regularization(self.regularization, self.name)
        P = range_basis(total)
        values, vectors, keep = whitened_within(within, P, alpha)
        if not keep.any():
            raise MetricliError("rca: the chunklets show no variation; give a positive regularization")
        chosen = np.flatnonzero(keep)  # ascending: the most relevant directions first
        if self.n_components is not None:
            chosen = chosen[: self.n_components]
        components = fix_signs((vectors[:, chosen] / np.sqrt(values[chosen])[None, :]).T @ P.T) / scale
        self.n_chunks_ = n_chunks
        self.n_points_used_ = int(p)
        components = check_representable(components, self.name)
        self._set_fit_result(components, n_iter=1, objective=None, converged=True)
        return self
