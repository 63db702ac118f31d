"""Blocked pairwise kernels shared by every learner and command.

Pairwise work is done in row blocks so memory stays O(n·d + block · n) instead of
O(n²). All functions work in float64 with BLAS-shaped products: squared
Euclidean distances come from ||a||² + ||b||² - 2 a·b, one matrix product a block.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np
from scipy import sparse

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


def bounded_row_blocks(bounds: np.ndarray | list[int], size: int) -> Iterator[slice]:
    """Row blocks of at most ``size`` rows that never cross a boundary in ``bounds``.

    ``bounds`` are the start offsets of contiguous groups plus the end (e.g. the class
    boundaries of class-sorted data): every block lies inside one group.
    """
    for lo, hi in itertools.pairwise(bounds):
        for start in range(int(lo), int(hi), size):
            yield slice(start, min(start + size, int(hi)))


class SquaredDistances:
    """Blocks of squared Euclidean distances between the rows of Z, one product each.

    With a = [-2 z_i, ||z_i||², 1] and b = [z_j, 1, ||z_j||²], a·b = ||z_i - z_j||², so
    a block costs one matrix product and no further pass (``negate`` gives -d instead,
    for exponentials). Values are not clipped at 0: rounding can leave tiny negatives.
    """

    def __init__(self, Z: np.ndarray, negate: bool = False) -> None:
        n, d = Z.shape
        sq = squared_norms(Z)
        sign = -1.0 if negate else 1.0
        self._left = np.empty((n, d + 2))
        np.multiply(Z, -2.0 * sign, out=self._left[:, :d])
        self._left[:, d] = sign * sq
        self._left[:, d + 1] = sign
        self._right_t = np.empty((d + 2, n))
        self._right_t[:d] = Z.T
        self._right_t[d] = 1.0
        self._right_t[d + 1] = sq

    def block(self, rows: slice, cols: slice) -> np.ndarray:
        return self._left[rows] @ self._right_t[:, cols]


#: softmax weights below exp(-NEGLIGIBLE_EXPONENT) times their row's largest are dropped from
#: sparse blocks: the dropped mass is under n · 4e-18 of the row's sum, below float64 rounding
NEGLIGIBLE_EXPONENT = 40.0


def iter_neighbour_softmax(
    Z: np.ndarray, block_bytes: int = DEFAULT_BLOCK_BYTES, sparse_below: float = 0.05
) -> Iterator[tuple[slice, np.ndarray | sparse.csr_array, np.ndarray]]:
    """Stochastic neighbour probabilities of every point of Z, one row block at a time.

    p_ij = exp(-||z_i - z_j||²) / Σ_{k≠i} exp(-||z_i - z_k||²) and p_ii = 0
    (Goldberger et al. 2004, eq. 1; the same softmax weights MLKR's kernel regression).
    Yields (rows, K, s) with K of shape (rows x n) and p_ij = K_ij / s_i: the caller
    folds the division into whatever it does next, saving a pass over the block.
    Each row is shifted by its smallest distance before exponentiating,
    K_ij = exp(min_k d_ik - d_ij), so s_i >= 1 never underflows. K may be modified
    in place by the caller.

    Once a metric has grown, most weights are negligible: when fewer than
    ``sparse_below`` of a block's weights are within exp(-40) of their row's largest,
    K comes as a ``scipy.sparse.csr_array`` holding only those, and neither the
    exponentials nor the caller's products touch the rest (see NEGLIGIBLE_EXPONENT).
    """
    n = Z.shape[0]
    distances = SquaredDistances(Z, negate=True)
    everyone = slice(0, n)
    for rows in row_blocks(n, block_rows(n, block_bytes)):
        K = distances.block(rows, everyone)  # -d_ij
        local = np.arange(K.shape[0])
        K[local, local + rows.start] = -np.inf
        shift = K.max(axis=1, keepdims=True)
        if sparse_below > 0:
            kept = K > shift - NEGLIGIBLE_EXPONENT
            if np.count_nonzero(kept) < sparse_below * K.size:
                found = np.flatnonzero(kept)
                row_of, cols = np.divmod(found, n)
                values = K.ravel()[found]
                values -= shift.ravel()[row_of]
                np.exp(values, out=values)
                indptr = np.zeros(K.shape[0] + 1, dtype=np.intp)
                np.cumsum(np.bincount(row_of, minlength=K.shape[0]), out=indptr[1:])
                block = sparse.csr_array((values, cols, indptr), shape=K.shape)
                yield rows, block, np.bincount(row_of, weights=values, minlength=K.shape[0])
                continue
        # -d_ij + min_k d_ik <= 0 exactly (rounding keeps the sign). Exponents below -300 are
        # raised to -300: exp would otherwise return subnormal numbers, which make this and
        # every later product on the block several times slower, for a change of n·e^-300.
        np.subtract(K, shift, out=K)
        np.maximum(K, -300.0, out=K)
        np.exp(K, out=K)
        K[local, local + rows.start] = 0.0
        yield rows, K, K.sum(axis=1)


def csr_row_indices(block: sparse.csr_array) -> np.ndarray:
    """The row of each stored entry of a CSR block."""
    return np.repeat(np.arange(block.shape[0]), np.diff(block.indptr))


class DifferenceScatter:
    """Accumulates G = Σ_ij w_ij (x_i - x_j)(x_i - x_j)ᵀ from pieces of a weight matrix W.

    In matrix form G = Xᵀ (diag(W 1 + Wᵀ 1) - W - Wᵀ) X, so only S = Xᵀ W X (d x d)
    and the degrees W 1 + Wᵀ 1 (length n) are accumulated; W itself arrives block by
    block (dense row/column blocks, or lists of weighted pairs) and is never held
    whole. Since Xᵀ Wᵀ X = Sᵀ, each block costs one product with X.
    """

    def __init__(self, X: np.ndarray) -> None:
        self.X = X
        # X with a column of ones: W_block @ [X, 1] gives W X and the row sums at once
        self._X1 = np.empty((X.shape[0], X.shape[1] + 1))
        self._X1[:, :-1] = X
        self._X1[:, -1] = 1.0
        self._S = np.zeros((X.shape[1], X.shape[1]))
        self._degree = np.zeros(X.shape[0])

    def add_block(self, rows: slice, cols: slice, W: np.ndarray | sparse.csr_array) -> None:
        """Add the weights W[i, j] (dense, or CSR) of the pairs (i in rows, j in cols)."""
        WX1 = W @ self._X1[cols]
        self._S += self.X[rows].T @ WX1[:, :-1]
        self._degree[rows] += WX1[:, -1]
        if sparse.issparse(W):
            self._degree[cols] += np.bincount(W.indices, weights=W.data, minlength=cols.stop - cols.start)
        else:
            self._degree[cols] += np.ones(W.shape[0]) @ W

    def add_pairs(self, a: np.ndarray, b: np.ndarray, w: np.ndarray) -> None:
        """Add weight w[p] for each pair (a[p], b[p]) of row indices."""
        if len(a) == 0:
            return
        self._S += self.X[a].T @ (w[:, None] * self.X[b])
        n = self.X.shape[0]
        self._degree += np.bincount(a, weights=w, minlength=n)
        self._degree += np.bincount(b, weights=w, minlength=n)

    def result(self) -> np.ndarray:
        G = (self.X.T * self._degree) @ self.X
        G -= self._S
        G -= self._S.T
        return (G + G.T) / 2


def paired_sq_distances(
    Z: np.ndarray, a: np.ndarray, b: np.ndarray, block_bytes: int = DEFAULT_BLOCK_BYTES
) -> np.ndarray:
    """||z_a[p] - z_b[p]||² for each pair p, in blocks of pairs."""
    out = np.empty(len(a))
    for part in row_blocks(len(a), block_rows(Z.shape[1], block_bytes)):
        diff = Z[a[part]] - Z[b[part]]
        out[part] = np.einsum("ij,ij->i", diff, diff)
    return out
