"""LFDA's scatter matrices written out as in the paper, with dense n x n weight matrices.

Only for tiny test data: this is the definition (Sugiyama 2007, eqs. 11-16), computed the
slow, obvious way, to check the blocked class-by-class implementation against.
"""

from __future__ import annotations

import numpy as np


def dense_local_scatters(X: np.ndarray, y: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(S_lb, S_lw, S_m), each divided by n, from the paper's W_lb and W_lw."""
    n, d = X.shape
    D = ((X[:, None, :] - X[None, :, :]) ** 2).sum(axis=2)
    sigma = np.zeros(n)
    for i in range(n):
        same = np.flatnonzero((y == y[i]) & (np.arange(n) != i))
        if same.size:
            kk = min(k, same.size)
            sigma[i] = np.sqrt(np.sort(D[i, same])[kk - 1])
    A = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            s = sigma[i] * sigma[j]
            A[i, j] = np.exp(-D[i, j] / s) if s > 0 else float(D[i, j] == 0)
    W_lw = np.zeros((n, n))
    W_lb = np.full((n, n), 1.0 / n)
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        n_c = members.size
        block = np.ix_(members, members)
        W_lw[block] = A[block] / n_c
        W_lb[block] = A[block] * (1.0 / n - 1.0 / n_c)

    def scatter(W: np.ndarray) -> np.ndarray:
        S = np.zeros((d, d))
        for i in range(n):
            diff = X[i] - X
            S += 0.5 * (W[i][:, None] * diff).T @ diff
        return S / n

    centered = X - X.mean(axis=0)
    return scatter(W_lb), scatter(W_lw), centered.T @ centered / n


def weighted_metric(between: np.ndarray, within: np.ndarray) -> np.ndarray:
    """M = Σ λ_i φ_i φ_iᵀ over B φ = λ W φ, φᵀ W φ = 1 (the 'weighted' embedding, all directions)."""
    from scipy.linalg import eigh

    values, vectors = eigh(between, within)
    return (vectors * np.clip(values, 0, None)) @ vectors.T
