"""Sufficient statistics that add up across batches, partitions and machines.

A learner whose solution depends on the data only through such statistics can be
fitted from a stream or from a Dask cluster with the same code: each piece yields its
statistics, :func:`combine` merges them, the small d x d solve runs once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ScatterStats:
    """Count, mean and scatter S = Σ (x - mean)(x - mean)ᵀ of a set of points."""

    n: int
    mean: np.ndarray
    scatter: np.ndarray

    @classmethod
    def from_array(cls, X: np.ndarray) -> ScatterStats:
        X = np.asarray(X, dtype=np.float64)
        if X.shape[0] == 0:
            return cls.empty(X.shape[1])
        mean = X.mean(axis=0)
        centered = X - mean
        return cls(X.shape[0], mean, centered.T @ centered)

    @classmethod
    def empty(cls, d: int) -> ScatterStats:
        return cls(0, np.zeros(d), np.zeros((d, d)))

    def combine(self, other: ScatterStats) -> ScatterStats:
        """Merge two disjoint sets (Chan, Golub & LeVeque 1979, the pairwise update)."""
        if other.n == 0:
            return self
        if self.n == 0:
            return other
        n = self.n + other.n
        delta = other.mean - self.mean
        mean = self.mean + delta * (other.n / n)
        scatter = self.scatter + other.scatter + np.outer(delta, delta) * (self.n * other.n / n)
        return ScatterStats(n, mean, scatter)

    @property
    def covariance(self) -> np.ndarray:
        """The sample covariance S / (n - 1)."""
        return self.scatter / (self.n - 1)


def combine(parts: list[ScatterStats]) -> ScatterStats:
    """Merge any number of statistics, pairwise (a balanced tree keeps rounding small)."""
    parts = [p for p in parts if p.n > 0]
    if not parts:
        raise ValueError("no points")
    while len(parts) > 1:
        parts = [
            parts[i].combine(parts[i + 1]) if i + 1 < len(parts) else parts[i]
            for i in range(0, len(parts), 2)
        ]
    return parts[0]


@dataclass(frozen=True)
class ChunkStats:
    """What RCA needs of chunked points, in a form that merges across partitions.

    For each chunklet j (by its key, sorted): its count n_j, mean m_j and the range of each
    column over its points; and, for all chunklets together, the within-chunklet scatter
    W = Σ_j Σ_{i∈j} (x_i - m_j)(x_i - m_j)ᵀ. A chunklet may be split across partitions:
    merging two pieces of chunklet j adds n_a n_b / (n_a + n_b) · δ δᵀ to W (δ = m_b - m_a),
    Chan et al.'s update applied per chunklet, so W is exact without any point being held
    twice. Memory: O(chunklets · d + d²).
    """

    keys: np.ndarray
    n: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    within: np.ndarray

    @classmethod
    def from_array(cls, X: np.ndarray, keys: np.ndarray) -> ChunkStats:
        """Statistics of the rows of X in a chunklet; ``keys[i]`` names row i's chunklet (None: in none)."""
        X = np.asarray(X, dtype=np.float64)
        keys = np.asarray(keys, dtype=object)
        chunked = np.array([k is not None for k in keys], dtype=bool)
        X, keys = X[chunked], keys[chunked]
        d = X.shape[1]
        if X.shape[0] == 0:
            empty = np.empty((0, d))
            return cls(
                np.empty(0, dtype=object), np.empty(0, dtype=np.int64), empty, empty, empty, np.zeros((d, d))
            )
        unique, codes = np.unique(keys, return_inverse=True)
        order = np.argsort(codes, kind="stable")
        counts = np.bincount(codes)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        sorted_X = X[order]
        mean = np.add.reduceat(sorted_X, starts, axis=0) / counts[:, None]
        centered = X - mean[codes]
        return cls(
            unique,
            counts.astype(np.int64),
            mean,
            np.minimum.reduceat(sorted_X, starts, axis=0),
            np.maximum.reduceat(sorted_X, starts, axis=0),
            centered.T @ centered,
        )

    def combine(self, other: ChunkStats) -> ChunkStats:
        """Merge the statistics of two disjoint sets of rows (chunklets with the same key are one)."""
        keys = (
            np.union1d(self.keys, other.keys)
            if self.keys.size and other.keys.size
            else (self.keys if self.keys.size else other.keys)
        )
        d = self.within.shape[0]
        K = keys.size
        n_a, n_b = np.zeros(K, dtype=np.int64), np.zeros(K, dtype=np.int64)
        m_a, m_b = np.zeros((K, d)), np.zeros((K, d))
        low, high = np.full((K, d), np.inf), np.full((K, d), -np.inf)
        for part, n_part, m_part in ((self, n_a, m_a), (other, n_b, m_b)):
            at = np.searchsorted(keys, part.keys)
            n_part[at], m_part[at] = part.n, part.mean
            low[at] = np.minimum(low[at], part.low)
            high[at] = np.maximum(high[at], part.high)
        n = n_a + n_b
        delta = m_b - m_a
        both = (n_a > 0) & (n_b > 0)
        weight = np.where(both, n_a * n_b / np.maximum(n, 1), 0.0)
        mean = np.where((n_a > 0)[:, None], m_a + delta * (n_b / np.maximum(n, 1))[:, None], m_b)
        within = self.within + other.within + (delta[both] * weight[both, None]).T @ delta[both]
        return ChunkStats(keys, n, mean, low, high, within)

    def used(self) -> tuple[np.ndarray, np.ndarray, int, np.ndarray]:
        """(W, T, p, varying) over the chunklets of two or more points.

        W is the within-chunklet scatter, T = W + Σ_j n_j (m_j - m̄)(m_j - m̄)ᵀ the total scatter
        of their p points about their mean m̄ (both unnormalized), and ``varying`` marks the
        columns whose values are not all equal on those points.
        """
        used = self.n >= 2
        p = int(self.n[used].sum())
        if p == 0:
            return self.within, self.within, 0, np.zeros(self.within.shape[0], dtype=bool)
        n, means = self.n[used], self.mean[used]
        overall = (n[:, None] * means).sum(axis=0) / p
        offsets = means - overall
        total = self.within + (offsets * n[:, None]).T @ offsets
        varying = self.high[used].max(axis=0) > self.low[used].min(axis=0)
        return self.within, total, p, varying
