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
