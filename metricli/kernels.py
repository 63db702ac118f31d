"""Blocked pairwise kernels shared by every learner and command.

Pairwise work is done in row blocks so memory stays O(n·d + block · n) instead of
O(n²). All functions work in float64 with BLAS-shaped products: squared
Euclidean distances come from ||a||² + ||b||² - 2 a·b, one matrix product a block.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

#: default memory for one block of pairwise values, in bytes
DEFAULT_BLOCK_BYTES = 64 * 2**20


def block_rows(n_columns: int, block_bytes: int = DEFAULT_BLOCK_BYTES) -> int:
    """How many rows of an (rows x n_columns) float64 block fit in ``block_bytes``."""
    return max(1, int(block_bytes // (8 * max(n_columns, 1))))


def row_blocks(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def squared_norms(A: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", A, A)


def sq_distances(
    A: np.ndarray, B: np.ndarray, A_sq: np.ndarray | None = None, B_sq: np.ndarray | None = None
) -> np.ndarray:
    """Squared Euclidean distances between the rows of A and B, clipped at 0."""
    A_sq = squared_norms(A) if A_sq is None else A_sq
    B_sq = squared_norms(B) if B_sq is None else B_sq
    D = A @ B.T
    D *= -2.0
    D += A_sq[:, None]
    D += B_sq[None, :]
    np.maximum(D, 0.0, out=D)
    return D


def iter_sq_distances(
    A: np.ndarray, B: np.ndarray, block_bytes: int = DEFAULT_BLOCK_BYTES
) -> Iterator[tuple[slice, np.ndarray]]:
    """(rows of A, squared distances of those rows to all of B), block by block."""
    B_sq = squared_norms(B)
    A_sq = squared_norms(A)
    for rows in row_blocks(A.shape[0], block_rows(B.shape[0], block_bytes)):
        yield rows, sq_distances(A[rows], B, A_sq[rows], B_sq)


def _smallest_k(D: np.ndarray, k: int, offset: int) -> tuple[np.ndarray, np.ndarray]:
    """The k smallest entries of each row of D, ties broken by column order.

    Returns (columns + offset, values), each of shape (rows, k), sorted by (value, column).
    """
    cols = D.shape[1]
    if k >= cols:
        idx = np.broadcast_to(np.arange(cols), D.shape)
    else:
        idx = np.argpartition(D, k - 1, axis=1)[:, :k]
        kth = np.take_along_axis(D, idx, axis=1).max(axis=1)
        # argpartition picks arbitrarily among entries equal to the k-th value:
        # redo the rows where such a tie crosses the boundary
        tied = np.flatnonzero((D <= kth[:, None]).sum(axis=1) > k)
        if tied.size:
            idx = np.array(idx, copy=True)
            for r in tied:
                candidates = np.flatnonzero(D[r] <= kth[r])
                order = np.lexsort((candidates, D[r, candidates]))
                idx[r] = candidates[order[:k]]
    values = np.take_along_axis(D, idx, axis=1)
    order = np.lexsort((idx, values), axis=1)
    return np.take_along_axis(idx, order, axis=1) + offset, np.take_along_axis(values, order, axis=1)


def knn(
    query: np.ndarray,
    reference: np.ndarray,
    k: int,
    *,
    exclude_self: bool = False,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest reference rows of each query row (Euclidean), blocked on both sides.

    Ties are broken by reference row order. With ``exclude_self`` the query is the
    reference and each point is not its own neighbour. Returns (indices, squared
    distances), each of shape (n_query, k), nearest first. Memory is
    O(block_bytes + n_query · k).
    """
    query = np.ascontiguousarray(query, dtype=np.float64)
    reference = np.ascontiguousarray(reference, dtype=np.float64)
    n_q, n_r = query.shape[0], reference.shape[0]
    available = n_r - 1 if exclude_self else n_r
    if k > available:
        raise ValueError(f"k={k} neighbours requested but only {available} reference points")
    q_sq, r_sq = squared_norms(query), squared_norms(reference)
    ref_block = max(k + 1, min(n_r, block_rows(1, block_bytes // 8) // 4))
    q_block = max(1, block_rows(min(ref_block, n_r), block_bytes))
    best_idx = np.empty((n_q, k), dtype=np.intp)
    best_val = np.empty((n_q, k), dtype=np.float64)
    for qs in row_blocks(n_q, q_block):
        cur_idx = np.empty((qs.stop - qs.start, 0), dtype=np.intp)
        cur_val = np.empty((qs.stop - qs.start, 0), dtype=np.float64)
        for rs in row_blocks(n_r, ref_block):
            D = sq_distances(query[qs], reference[rs], q_sq[qs], r_sq[rs])
            if exclude_self:
                lo, hi = max(qs.start, rs.start), min(qs.stop, rs.stop)
                if lo < hi:
                    r = np.arange(lo, hi)
                    D[r - qs.start, r - rs.start] = np.inf
            idx, val = _smallest_k(D, min(k, D.shape[1]), rs.start)
            merged_idx = np.concatenate([cur_idx, idx], axis=1)
            merged_val = np.concatenate([cur_val, val], axis=1)
            order = np.lexsort((merged_idx, merged_val), axis=1)[:, :k]
            cur_idx = np.take_along_axis(merged_idx, order, axis=1)
            cur_val = np.take_along_axis(merged_val, order, axis=1)
        best_idx[qs], best_val[qs] = cur_idx, cur_val
    return best_idx, best_val


def pair_scatter(
    X: np.ndarray,
    weights: Callable[[slice, np.ndarray], np.ndarray],
    block_bytes: int = DEFAULT_BLOCK_BYTES,
) -> np.ndarray:
    """½ Σ_ij w_ij (x_i - x_j)(x_i - x_j)ᵀ = Xᵀ (diag(W 1) - W) X for a symmetric weight matrix W.

    W is never held whole: ``weights(rows, D)`` receives a block of rows and their squared
    distances ``D`` to every row of X and returns ``W[rows, :]``. This is the Laplacian form
    of the pairwise scatter used by locality-preserving and local Fisher methods; memory is
    O(n·d + block_bytes). Center X first for accuracy (the result does not depend on a shift).
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
    scatter = np.zeros((X.shape[1], X.shape[1]))
    for rows, D in iter_sq_distances(X, X, block_bytes):
        W = weights(rows, D)
        block = X[rows]
        scatter += block.T @ (W.sum(axis=1)[:, None] * block)
        scatter -= block.T @ (W @ X)
    return (scatter + scatter.T) / 2
