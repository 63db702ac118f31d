"""Blocked pairwise kernels shared by every learner and command.

Pairwise work is done in row blocks so memory stays O(n·d + block · n) instead of
O(n²). All functions work in float64 with BLAS-shaped products: squared
Euclidean distances come from ||a||² + ||b||² - 2 a·b, one matrix product a block.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from metricli.errors import MetricliError
from metricli.lazy import LazyModule

#: scipy.sparse, imported when a softmax block is first made sparse (NCA, MLKR)
sparse: Any = LazyModule("scipy.sparse")

T = TypeVar("T")
R = TypeVar("R")

#: default memory for one block of pairwise values, in bytes
DEFAULT_BLOCK_BYTES = 64 * 2**20


def block_rows(n_columns: int, block_bytes: int = DEFAULT_BLOCK_BYTES) -> int:
    """How many rows of an (rows x n_columns) float64 block fit in ``block_bytes``."""
    return max(1, int(block_bytes // (8 * max(n_columns, 1))))


def row_blocks(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


#: rows per GEMM call that every BLAS kernel handles without its edge (remainder) code
_PROJECTION_ROWS = 16


def project(X: np.ndarray, L: np.ndarray) -> np.ndarray:
    """x -> L x for each row of X (X Lᵀ), each row's result the same bits whatever batch it comes in.

    BLAS computes the rows of a product in kernels of a few rows at a time and the rows
    left over at the end of a call in other code, which may round differently: the same
    point projected at the end of one batch and in the middle of another could land
    ~1e-16 apart, so copies of a point would not be at distance exactly 0, and ties
    would depend on how a file is batched or partitioned. Here the leftover rows are
    padded with zeros to a whole kernel, so every row takes the same path.
    """
    X = np.asarray(X, dtype=np.float64)
    n = X.shape[0]
    whole = n - n % _PROJECTION_ROWS
    Z = np.empty((n, L.shape[0]))
    if whole:
        np.matmul(X[:whole], L.T, out=Z[:whole])
    if n > whole:
        padded = np.zeros((_PROJECTION_ROWS, X.shape[1]))
        padded[: n - whole] = X[whole:]
        Z[whole:] = (padded @ L.T)[: n - whole]
    return Z


#: squared norms up to this keep ||a||² + ||b||² - 2 a·b <= 2 (||a||² + ||b||²) finite
_SQUARED_NORM_LIMIT = float(np.finfo(np.float64).max) / 4


def squared_norms(A: np.ndarray) -> np.ndarray:
    """||a||² of each row; a MetricliError when a squared distance between such rows could overflow.

    Every pairwise kernel starts from these norms (or, for listed pairs, from the norms of
    the differences), so this one check keeps inf and NaN out of every distance.
    """
    with np.errstate(over="ignore"):
        norms = np.einsum("ij,ij->i", A, A)
    if norms.size and not norms.max() <= _SQUARED_NORM_LIMIT:
        raise MetricliError(
            f"squared distances overflow float64: coordinates reach {float(np.abs(A).max()):.3g} in the "
            "learned space; "
            "rescale the features (e.g. divide them by a power of 10)"
        )
    return norms


def sq_distances(
    A: np.ndarray, B: np.ndarray, A_sq: np.ndarray | None = None, B_sq: np.ndarray | None = None
) -> np.ndarray:
    """Squared Euclidean distances between the rows of A and B, clipped at 0."""
    A_sq = squared_norms(A) if A_sq is None else A_sq
    B_sq = squared_norms(B) if B_sq is None else B_sq
    D = (-2.0 * A) @ B.T  # scaling by -2 is exact: the same values as -2 (A Bᵀ), one pass fewer
    D += A_sq[:, None]
    D += B_sq[None, :]
    np.maximum(D, 0.0, out=D)
    return D


#: entries of ||a||² + ||b||² - 2 a·b at or below this fraction of ||a||² + ||b||² are
#: recomputed from a - b: there the expansion loses more than 4 of its 16 digits
NEAR_RTOL = 1e-4


def refine_near(
    D: np.ndarray,
    A: np.ndarray,
    B: np.ndarray,
    A_sq: np.ndarray,
    B_sq: np.ndarray,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
) -> np.ndarray:
    """Recompute, from the differences a - b, the entries of D = sq_distances(A, B) that cancellation spoils.

    The expansion ||a||² + ||b||² - 2 a·b has an absolute error of a few ε (||a||² + ||b||²),
    which is all of d² for near and identical points (identical points get ~1e-8 · ||a||
    instead of 0). Entries below ``NEAR_RTOL`` (max ||a||² + ||b||²) are recomputed exactly;
    elsewhere the relative error of d² stays below ~1e-12. Works in place and returns D.
    """
    threshold = NEAR_RTOL * (A_sq.max(initial=0.0) + B_sq)
    near = D <= threshold[None, :]
    if not near.any():  # the usual case: one comparison, no index arrays
        return D
    rows, cols = _nonzero(near)
    step = block_rows(A.shape[1], block_bytes)
    for part in row_blocks(rows.size, step):
        diff = A[rows[part]] - B[cols[part]]
        D[rows[part], cols[part]] = squared_norms(diff)
    return D


def _nonzero(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows, columns) of the True entries of a 2-D mask; 20x faster than np.nonzero on sparse masks."""
    flat = np.flatnonzero(mask)
    return np.divmod(flat, mask.shape[1])


def pair_sq_distances(
    A: np.ndarray, B: np.ndarray, a: np.ndarray, b: np.ndarray, block_bytes: int = DEFAULT_BLOCK_BYTES
) -> np.ndarray:
    """||A[a_i] - B[b_i]||² for each listed pair i, from the differences (exact), in bounded chunks."""
    out = np.empty(len(a), dtype=np.float64)
    for part in row_blocks(len(a), block_rows(A.shape[1], block_bytes)):
        out[part] = squared_norms(A[a[part]] - B[b[part]])
    return out


def iter_sq_distances(
    A: np.ndarray, B: np.ndarray, block_bytes: int = DEFAULT_BLOCK_BYTES, *, exact: bool = False
) -> Iterator[tuple[slice, np.ndarray]]:
    """(rows of A, squared distances of those rows to all of B), block by block.

    With ``exact`` the entries spoiled by cancellation are recomputed (:func:`refine_near`),
    so identical points are at distance exactly 0.
    """
    B_sq = squared_norms(B)
    A_sq = squared_norms(A)
    for rows in row_blocks(A.shape[0], block_rows(B.shape[0], block_bytes)):
        D = sq_distances(A[rows], B, A_sq[rows], B_sq)
        if exact:
            refine_near(D, A[rows], B, A_sq[rows], B_sq)
        yield rows, D


def pairwise_sq_distance_percentiles(
    X: np.ndarray, percentiles: Sequence[float], block_bytes: int = 2**20, root: bool = False
) -> np.ndarray:
    """Percentiles (``np.percentile``'s linear rule) of the squared distances of all pairs of rows.

    With ``root``, of the distances themselves (the square roots, taken before the
    percentile, so the linear rule interpolates between distances).

    Over the n(n-1)/2 pairs i < j, identical rows counting at distance exactly 0. A
    percentile needs all n(n-1)/2 values at once (callers bound n, e.g. with a sample of
    the rows); they are filled in place block by block and partitioned in place, so the
    memory is those values plus one (small) block.
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
    n = X.shape[0]
    if n < 2:
        raise ValueError(f"distances need at least 2 points, got {n}")
    values = np.empty(n * (n - 1) // 2)
    filled = 0
    columns = np.arange(n)
    for rows, D in iter_sq_distances(X, X, block_bytes, exact=True):
        upper = D[columns[rows, None] < columns[None, :]]
        values[filled : filled + upper.size] = upper
        filled += upper.size
    if root:
        np.sqrt(values, out=values)
    return np.percentile(values, percentiles, overwrite_input=True)


def kth_neighbour_sq_distance(X: np.ndarray, k: int, block_bytes: int = DEFAULT_BLOCK_BYTES) -> np.ndarray:
    """The squared distance from each row of X to its k-th nearest other row (1 <= k < n).

    Only the value is needed (e.g. a local scale), so one partial sort per row block
    replaces :func:`knn`'s tie-ordered indices. Memory: one block.
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
    n = X.shape[0]
    if not 1 <= k < n:
        raise ValueError(f"k={k} neighbours requested but only {n - 1} other points")
    result = np.empty(n)
    for rows, D in iter_sq_distances(X, X, block_bytes):
        local = np.arange(rows.stop - rows.start)
        D[local, local + rows.start] = np.inf
        result[rows] = np.partition(D, k - 1, axis=1)[:, k - 1]
    return result


#: up to this many neighbours, :func:`_smallest_k` takes k row minima in turn (argmin is
#: vectorised: about 0.4 ns an entry against argpartition's 13 on 9,000-column rows)
SMALL_K = 8


def _smallest_k(D: np.ndarray, k: int, offset: int) -> tuple[np.ndarray, np.ndarray]:
    """The k smallest entries of each row of D, ties broken by column order; D is overwritten.

    Returns (columns + offset, values), each of shape (rows, k), sorted by (value, column).
    """
    cols = D.shape[1]
    if k <= SMALL_K and k < cols:
        return _minima_in_turn(D, k, offset)
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


def _minima_in_turn(D: np.ndarray, k: int, offset: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_smallest_k` for small k: each row's minimum (the first column among equals),
    set to inf, k times. A row whose k smallest reach inf (excluded entries) is redone by
    sorting, since a column already taken is then indistinguishable from the others."""
    rows = np.arange(D.shape[0])
    idx = np.empty((D.shape[0], k), dtype=np.intp)
    values = np.empty((D.shape[0], k))
    for j in range(k):
        idx[:, j] = D.argmin(axis=1)
        values[:, j] = D[rows, idx[:, j]]
        D[rows, idx[:, j]] = np.inf
    for r in np.flatnonzero(np.isinf(values[:, -1])):
        D[r, idx[r]] = values[r]
        order = np.lexsort((np.arange(D.shape[1]), D[r]))[:k]
        idx[r], values[r] = order, D[r, order]
    return idx + offset, values


def knn(
    query: np.ndarray,
    reference: np.ndarray,
    k: int,
    *,
    exclude_self: bool = False,
    exclude: np.ndarray | None = None,
    exact: bool = False,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest reference rows of each query row (Euclidean), blocked on both sides.

    Ties are broken by reference row order. With ``exclude_self`` the query is the
    reference and each point is not its own neighbour; more generally ``exclude[i]``
    is a reference row query row i may not return (-1: none). With ``exact``, distances
    spoiled by cancellation are recomputed from the differences (:func:`refine_near`).
    Returns (indices, squared distances), each of shape (n_query, k), nearest first.
    Memory is O(block_bytes + n_query · k).
    """
    query = np.ascontiguousarray(query, dtype=np.float64)
    reference = np.ascontiguousarray(reference, dtype=np.float64)
    n_q, n_r = query.shape[0], reference.shape[0]
    if exclude_self:
        exclude = np.arange(n_q)
    elif exclude is not None:
        exclude = np.asarray(exclude, dtype=np.intp)
    available = n_r - 1 if exclude is not None and (np.asarray(exclude) >= 0).any() else n_r
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
            if exact:
                refine_near(D, query[qs], reference[rs], q_sq[qs], r_sq[rs])
            if exclude is not None:
                _exclude(D, exclude[qs], rs)
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
    distances ``D`` to every row of X (a fresh array it may overwrite) and returns ``W[rows, :]``. This is the Laplacian form
    of the pairwise scatter used by locality-preserving and local Fisher methods; memory is
    O(n·d + block_bytes). Center X first for accuracy (the result does not depend on a shift).
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
    scatter = DifferenceScatter(X)  # accumulates Σ_ij w_ij x_ij x_ijᵀ, twice the ½-sum for symmetric W
    for rows, D in iter_sq_distances(X, X, block_bytes):
        scatter.add_block(rows, slice(0, X.shape[0]), weights(rows, D))
    return scatter.result() / 2


def _exclude(D: np.ndarray, excluded: np.ndarray, rs: slice) -> None:
    """Set D[i, excluded[i] - rs.start] = inf where that reference row lies in this block."""
    inside = (excluded >= rs.start) & (excluded < rs.stop)
    D[np.flatnonzero(inside), excluded[inside] - rs.start] = np.inf


def squared_radius(radius: float) -> float:
    """radius², compared with squared distances; inf when it overflows (every row is within)."""
    radius = float(radius)
    return radius * radius if radius < 1e154 else np.inf


def radius_neighbors(
    query: np.ndarray,
    reference: np.ndarray,
    radius: float,
    *,
    k: int | None = None,
    exclude: np.ndarray | None = None,
    exact: bool = False,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every reference row within Euclidean ``radius`` of each query row (at most the k nearest).

    Blocked on both sides like :func:`knn`; each query row's neighbours are sorted by
    distance, ties by reference row order. Returns CSR-style ``(offsets, indices,
    squared distances)``: query row i's neighbours are ``indices[offsets[i]:offsets[i+1]]``.
    Memory is O(block_bytes + size of the answer), O(block_bytes + n_query · k) with ``k``.
    """
    query = np.ascontiguousarray(query, dtype=np.float64)
    reference = np.ascontiguousarray(reference, dtype=np.float64)
    n_q, n_r = query.shape[0], reference.shape[0]
    limit = squared_radius(radius)
    if exclude is not None:
        exclude = np.asarray(exclude, dtype=np.intp)
    q_sq, r_sq = squared_norms(query), squared_norms(reference)
    ref_block = max(1, min(n_r, block_rows(1, block_bytes // 8) // 4))
    q_block = max(1, block_rows(min(ref_block, n_r), block_bytes))
    parts_rows, parts_idx, parts_val = [], [], []
    for qs in row_blocks(n_q, q_block):
        found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        for rs in row_blocks(n_r, ref_block):
            D = sq_distances(query[qs], reference[rs], q_sq[qs], r_sq[rs])
            if exact:
                refine_near(D, query[qs], reference[rs], q_sq[qs], r_sq[rs])
            if exclude is not None:
                _exclude(D, exclude[qs], rs)
            r, c = _nonzero(D <= limit)
            found.append((r + qs.start, c + rs.start, D[r, c]))
            if k is not None:  # keep only the k best so far, so memory stays O(block · k)
                found = [_sorted_within_rows(found, k)]
        rows, idx, val = _sorted_within_rows(found, k)
        parts_rows.append(rows)
        parts_idx.append(idx)
        parts_val.append(val)
    rows = np.concatenate(parts_rows) if parts_rows else np.empty(0, dtype=np.intp)
    offsets = np.zeros(n_q + 1, dtype=np.intp)
    np.cumsum(np.bincount(rows, minlength=n_q), out=offsets[1:])
    indices = np.concatenate(parts_idx) if parts_idx else np.empty(0, dtype=np.intp)
    values = np.concatenate(parts_val) if parts_val else np.empty(0, dtype=np.float64)
    return offsets, indices, values


def _sorted_within_rows(
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray]], k: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Concatenate (row, column, value) triples; sort by row, value, column; keep k per row."""
    if not found:
        return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.intp), np.empty(0, dtype=np.float64)
    rows, idx, val = (np.concatenate([part[j] for part in found]) for j in range(3))
    order = np.lexsort((idx, val, rows))
    rows, idx, val = rows[order], idx[order], val[order]
    if k is not None:
        keep = _rank_within_row(rows) < k
        rows, idx, val = rows[keep], idx[keep], val[keep]
    return rows, idx, val


def _rank_within_row(rows: np.ndarray) -> np.ndarray:
    """0, 1, 2, ... within each run of equal values of the sorted array ``rows``."""
    if rows.size == 0:
        return rows
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    run_start = np.repeat(starts, np.diff(np.r_[starts, rows.size]))
    return np.arange(rows.size) - run_start


class StreamingNeighbors:
    """Exact nearest reference rows of fixed query rows, for a reference that arrives in batches.

    For a reference too large for memory: :meth:`add` each batch (with the reference
    index of each of its rows, increasing from batch to batch), then :meth:`result`.
    Keeps the k nearest of each query (``k``), every row within ``radius``, or at most
    k within radius; ties go to the smaller reference index, as in :func:`knn`. Once a
    query holds k rows, a reference row can only enter if it is closer than the current
    k-th, so after the first batch most of each block is discarded by one comparison.
    Memory is O(block_bytes + n_query · k), or the size of the answer for a bare radius.
    """

    def __init__(
        self,
        query: np.ndarray,
        *,
        k: int | None = None,
        radius: float | None = None,
        exclude: np.ndarray | None = None,
        exact: bool = False,
        block_bytes: int = DEFAULT_BLOCK_BYTES,
    ) -> None:
        if k is None and radius is None:
            raise ValueError("give k, radius or both")
        self.query = np.ascontiguousarray(query, dtype=np.float64)
        self.q_sq = squared_norms(self.query)
        self.k, self.exact, self.block_bytes = k, exact, block_bytes
        self.limit = np.inf if radius is None else squared_radius(radius)
        self.exclude = None if exclude is None else np.asarray(exclude, dtype=np.intp)
        n_q = self.query.shape[0]
        if k is not None:
            self.best_idx = np.full((n_q, k), -1, dtype=np.intp)
            self.best_val = np.full((n_q, k), np.inf)
        else:
            self.found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    #: while some query still holds fewer than k rows, batches are searched from a head this long:
    #: the dense k-selection runs on it alone and the k-th found prunes the rest
    HEAD = 4096

    def add(self, batch: np.ndarray, indices: np.ndarray) -> None:
        batch = np.ascontiguousarray(batch, dtype=np.float64)
        indices = np.asarray(indices, dtype=np.intp)
        head = max(self.HEAD, self.k or 0)
        if self.k is not None and batch.shape[0] > 2 * head and np.isinf(self.best_val[:, -1]).any():
            self._add(batch[:head], indices[:head])
            batch, indices = batch[head:], indices[head:]
        self._add(batch, indices)

    def _add(self, batch: np.ndarray, indices: np.ndarray) -> None:
        if batch.shape[0] == 0:
            return
        b_sq = squared_norms(batch)
        for rows in row_blocks(self.query.shape[0], block_rows(batch.shape[0], self.block_bytes)):
            D = sq_distances(self.query[rows], batch, self.q_sq[rows], b_sq)
            if self.exact:
                refine_near(D, self.query[rows], batch, self.q_sq[rows], b_sq)
            if self.exclude is not None:
                excluded = self.exclude[rows]
                at = np.minimum(np.searchsorted(indices, excluded), indices.size - 1)
                hit = indices[at] == excluded
                D[np.flatnonzero(hit), at[hit]] = np.inf
            if self.k is None:
                r, c = _nonzero(D <= self.limit)
                self.found.append((r + rows.start, indices[c], D[r, c]))
            else:
                self._merge(rows, D, indices)

    def _merge(self, rows: slice, D: np.ndarray, indices: np.ndarray) -> None:
        k = self.k
        kth = self.best_val[rows, -1]
        filling = np.flatnonzero(np.isinf(kth))
        # queries still short of k rows: their k best of this block, found densely
        part_r = [np.repeat(filling, min(k, D.shape[1]))]
        cols, _ = (
            _smallest_k(D[filling], min(k, D.shape[1]), 0) if filling.size else (np.empty((0, 0), int), None)
        )
        part_c = [cols.ravel()]
        # full queries: only rows closer than their k-th (strictly: ties go to the earlier index)
        r, c = _nonzero(D < np.where(np.isinf(kth), -np.inf, kth)[:, None])
        part_r.append(r)
        part_c.append(c)
        r, c = np.concatenate(part_r), np.concatenate(part_c)
        values = D[r, c]
        keep = values <= self.limit
        r, c, values = r[keep], c[keep], values[keep]
        if r.size == 0:
            return
        touched = np.unique(r)
        q = touched + rows.start
        all_r = np.concatenate([np.repeat(touched, k), r])
        all_idx = np.concatenate([self.best_idx[q].ravel(), indices[c]])
        all_val = np.concatenate([self.best_val[q].ravel(), values])
        order = np.lexsort((all_idx, all_val, all_r))
        first = order[_rank_within_row(all_r[order]) < k]
        self.best_idx[q] = all_idx[first].reshape(-1, k)
        self.best_val[q] = all_val[first].reshape(-1, k)

    def result(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """CSR-style ``(offsets, indices, squared distances)`` as :func:`radius_neighbors` returns."""
        return self.answers().result()

    def answers(self) -> NeighbourAnswers:
        """What was found so far, without the query: small, picklable, mergeable with other parts'."""
        n_q = self.query.shape[0]
        if self.k is None:
            return NeighbourAnswers(n_q, None, found=_sorted_within_rows(self.found, None))
        return NeighbourAnswers(n_q, self.k, best=(self.best_idx, self.best_val))

    def held(self) -> np.ndarray:
        """The reference indices currently among the answers (sorted, unique)."""
        if self.k is None:
            return (
                np.unique(np.concatenate([part[1] for part in self.found]))
                if self.found
                else np.empty(0, int)
            )
        return np.unique(self.best_idx[self.best_idx >= 0])


@dataclass
class NeighbourAnswers:
    """The neighbours of fixed query rows found in one part of a reference (:meth:`StreamingNeighbors.answers`).

    Answers found in different parts of a reference, each part searching with the global
    index of its rows, :meth:`merge` into the answers of the whole: the k best by (distance,
    reference index), or every row within the radius. Merging is associative, so parts
    searched in parallel (Dask partitions) may be merged in any tree and give exactly what
    one pass over the whole reference gives, ties to the smaller index included.
    """

    n_query: int
    k: int | None
    #: k nearest: (indices, squared distances), each (n_query, k); -1 / inf where none yet
    best: tuple[np.ndarray, np.ndarray] | None = None
    #: radius only: (query rows, indices, squared distances), sorted as :func:`_sorted_within_rows`
    found: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def merge(self, other: NeighbourAnswers) -> NeighbourAnswers:
        if self.k is None:
            found = [part for part in (self.found, other.found) if part is not None]
            return NeighbourAnswers(self.n_query, None, found=_sorted_within_rows(found, None))
        idx = np.concatenate([self.best[0], other.best[0]], axis=1)
        val = np.concatenate([self.best[1], other.best[1]], axis=1)
        order = np.lexsort((idx, val), axis=1)[:, : self.k]
        return NeighbourAnswers(
            self.n_query,
            self.k,
            best=(np.take_along_axis(idx, order, axis=1), np.take_along_axis(val, order, axis=1)),
        )

    def result(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """CSR-style ``(offsets, indices, squared distances)`` as :func:`radius_neighbors` returns."""
        n_q = self.n_query
        if self.k is None:
            rows, idx, val = self.found
        else:
            best_idx, best_val = self.best
            finite = np.isfinite(best_val)
            rows = np.repeat(np.arange(n_q), finite.sum(axis=1))
            idx, val = best_idx[finite], best_val[finite]
        offsets = np.zeros(n_q + 1, dtype=np.intp)
        np.cumsum(np.bincount(rows, minlength=n_q), out=offsets[1:])
        return offsets, idx, val

    def held(self) -> np.ndarray:
        """The reference indices among the answers (sorted, unique)."""
        if self.k is None:
            return np.unique(self.found[1])
        best_idx, best_val = self.best
        return np.unique(best_idx[np.isfinite(best_val)])


# --- Tropical (min-plus) products on a square distance matrix --------------------------
#
# The triangle inequality d(i, j) <= d(i, k) + d(k, j) for every k says that D equals its
# min-plus square (D ⊗ D)[i, j] = min_k D[i, k] + D[k, j]; the ultrametric inequality is
# the same with max in place of +; the shortest-path closure is D ⊗ D ⊗ ... to a fixed
# point. All three are O(n³) and share one inner step: for a tile of rows × columns and
# each pivot k, combine column k of the rows with row k of D, and keep the minimum.
# Numpy runs each step in C and releases the GIL, so tiles run in parallel in threads.

#: a tile holds about 16 x 4096 float64 (512 KiB): it and its scratch copy stay in a
#: core's L2 cache while the pivot loop streams rows of D through them; narrower tiles
#: get more rows, so that numpy's per-call overhead stays small against the work
TILE_ROWS = 16
TILE_COLUMNS = 4096
TILE_ELEMENTS = TILE_ROWS * TILE_COLUMNS
#: taller tiles waste their lower-left triangle in symmetric problems and run slower
TILE_MAX_ROWS = 64
#: numpy buffers broadcast operands when the inner loop is shorter than bufsize / 3;
#: for the (rows, 1) + (columns,) step that copy costs 3-4x, so tiles turn it off
_NO_BUFFERING = 64


def default_jobs() -> int:
    """The number of CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def tiles(
    n: int, *, upper: bool = False, rows: int | None = None, columns: int = TILE_COLUMNS
) -> list[tuple[slice, slice]]:
    """(row slice, column slice) tiles covering an n x n matrix.

    With ``upper`` only the tiles meeting the upper triangle j >= i are listed (each
    row block starts at its own diagonal), for symmetric problems. Without ``rows``,
    each row block is as tall as keeps its tile near :data:`TILE_ELEMENTS`.
    """
    out = []
    start = 0
    while start < n:
        first = start if upper else 0
        width = min(n - first, columns)
        height = rows or min(max(TILE_ROWS, TILE_ELEMENTS // max(width, 1)), TILE_MAX_ROWS)
        r = slice(start, min(start + height, n))
        for c in row_blocks(n - first, columns):
            out.append((r, slice(c.start + first, c.stop + first)))
        start = r.stop
    return out


@contextlib.contextmanager
def _unbuffered() -> Iterator[None]:
    previous = np.getbufsize()  # context-local: other threads keep their own
    np.setbufsize(_NO_BUFFERING)
    try:
        yield
    finally:
        np.setbufsize(previous)


def _pivot_steps(
    tmp: np.ndarray, left_t: np.ndarray, right: np.ndarray, combine: np.ufunc, skip_column: int | None
) -> Iterator[None]:
    """For each pivot k, fill tmp[i, j] = combine(left_t[k, i], right[k, j]), then yield."""
    cols = tmp.shape[1]
    column_of = left_t[:, :, None]
    # d(i, k) + d(k, j) past float64's largest (D holding 1e308) is inf: no shortcut through k,
    # which is the right answer, not a warning
    with _unbuffered(), np.errstate(over="ignore"):
        for k in range(left_t.shape[0]):
            combine(column_of[k], right[k], out=tmp)
            if skip_column is not None and 0 <= k - skip_column < cols:
                tmp[:, k - skip_column] = np.inf
            yield


def tropical_accumulate(
    out: np.ndarray,
    left_t: np.ndarray,
    right: np.ndarray,
    *,
    combine: np.ufunc = np.add,
    skip_column: int | None = None,
) -> np.ndarray:
    """out[i, j] = min(out[i, j], min_k combine(left_t[k, i], right[k, j])), in place.

    ``left_t`` is (pivots x rows) and ``right`` (pivots x columns), both C-contiguous in
    their last axis; ``combine`` is ``np.add`` (min-plus) or ``np.maximum`` (min-max).
    With ``skip_column = c``, pivot k is not combined into column k - c, so that a pair
    (i, j) never uses k = j when right's columns start at pivot c.
    """
    tmp = np.empty(out.shape, dtype=np.float64)
    minimum = np.minimum
    for _ in _pivot_steps(tmp, left_t, right, combine, skip_column):
        minimum(out, tmp, out=out)
    return out


def tropical_count(
    threshold: np.ndarray,
    left_t: np.ndarray,
    right: np.ndarray,
    *,
    combine: np.ufunc = np.add,
    skip_column: int | None = None,
) -> np.ndarray:
    """counts[i, j] = #{k : combine(left_t[k, i], right[k, j]) < threshold[i, j]}.

    The counting twin of :func:`tropical_accumulate`, with the same pivots skipped.
    """
    tmp = np.empty(threshold.shape, dtype=np.float64)
    below = np.empty(threshold.shape, dtype=bool)
    # count in uint8 (same dtype as the bool mask: no casting loop), flushed before overflow
    recent = np.zeros(threshold.shape, dtype=np.uint8)
    counts = np.zeros(threshold.shape, dtype=np.int64)
    for step, _ in enumerate(_pivot_steps(tmp, left_t, right, combine, skip_column), start=1):
        np.less(tmp, threshold, out=below)
        np.add(recent, below.view(np.uint8), out=recent)
        if step % 255 == 0:
            counts += recent
            recent[:] = 0
    counts += recent
    return counts


def map_tiles(work: Callable[[T], R], items: Sequence[T], *, n_jobs: int | None = None) -> Iterator[R]:
    """work(item) for each item, in order, on ``n_jobs`` threads (numpy releases the GIL).

    Results are yielded as they complete in order, so the caller can merge and stop
    early; items not yet started when the iterator is closed are cancelled.
    """
    n_jobs = default_jobs() if n_jobs is None else max(1, n_jobs)
    if n_jobs == 1 or len(items) <= 1:
        for item in items:
            yield work(item)
        return
    with ThreadPoolExecutor(max_workers=n_jobs) as pool:
        # keep a bounded window in flight so an early stop leaves little work running
        window = 4 * n_jobs
        pending: deque[Future[R]] = deque()
        it = iter(items)
        try:
            for item in it:
                pending.append(pool.submit(work, item))
                if len(pending) >= window:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


def distance_matrix(Z: np.ndarray, block_bytes: int = DEFAULT_BLOCK_BYTES) -> np.ndarray:
    """The n x n Euclidean distances between the rows of Z, filled row block by row block.

    Computed from the differences (scipy's cdist), not from ||a||² + ||b||² - 2 a·b, so
    identical points are at distance exactly 0 and near points keep their digits, as
    an axiom check needs. Memory: the result plus one block.
    """
    from scipy.spatial.distance import cdist

    Z = np.ascontiguousarray(Z, dtype=np.float64)
    squared_norms(Z)  # refuses points whose distances would overflow
    n = Z.shape[0]
    D = np.empty((n, n), dtype=np.float64)
    for rows in row_blocks(n, block_rows(max(n, Z.shape[1]), block_bytes)):
        D[rows] = cdist(Z[rows], Z)
    # d(i, j) and d(j, i) come from the same squared differences summed in the same
    # order, so D is symmetric exactly; the diagonal is exactly 0
    return D


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

    def block(self, rows: slice | np.ndarray, cols: slice) -> np.ndarray:
        """Rows (a slice or an array of row numbers) against the columns ``cols``."""
        return self._left[rows] @ self._right_t[:, cols]


#: softmax weights below exp(-NEGLIGIBLE_EXPONENT) times their row's largest are dropped from
#: sparse blocks: the dropped mass is under n · 4e-18 of the row's sum, below float64 rounding
NEGLIGIBLE_EXPONENT = 40.0

#: exponents are raised to -EXP_FLOOR before exp: below about -708 exp returns subnormal
#: numbers, and exp on them is 60x slower (measured: 0.64 ms instead of 10 µs for 142 x 142)
EXP_FLOOR = 300.0

#: blocks with fewer entries than this are never made sparse: the bookkeeping would cost
#: more than the dense products it saves
SPARSE_MIN_ENTRIES = 2**16

#: a row sum below this means the row's nearest neighbour is beyond EXP_FLOOR - 100
_FAR_ROW_SUM = float(np.exp(100.0 - EXP_FLOOR))


def iter_neighbour_softmax(
    Z: np.ndarray, block_bytes: int = DEFAULT_BLOCK_BYTES, sparse_below: float = 0.05
) -> Iterator[tuple[slice, np.ndarray | sparse.csr_array, np.ndarray]]:
    """Stochastic neighbour probabilities of every point of Z, one row block at a time.

    p_ij = exp(-||z_i - z_j||²) / Σ_{k≠i} exp(-||z_i - z_k||²) and p_ii = 0
    (Goldberger et al. 2004, eq. 1; the same softmax weights MLKR's kernel regression).
    Yields (rows, K, s) with K of shape (rows x n) and p_ij = K_ij / s_i: the caller
    folds the division into whatever it does next, saving a pass over the block.
    K_ij = exp(c_i - d_ij) with a row shift c_i that keeps s_i from underflowing:
    c_i = 0 while the row's nearest neighbour is within EXP_FLOOR - 100 (then the
    floor on the exponents changes s_i by under n·e^-100 relatively), else
    c_i = min_k d_ik. K may be modified in place by the caller.

    Once a metric has grown, most weights are negligible: when fewer than
    ``sparse_below`` of a large block's weights are within exp(-40) of their row's
    largest, K comes as a ``scipy.sparse.csr_array`` holding only those (shifted by the
    row's nearest distance), and neither the exponentials nor the caller's products
    touch the rest (see NEGLIGIBLE_EXPONENT).
    """
    n = Z.shape[0]
    distances = SquaredDistances(Z, negate=True)
    everyone = slice(0, n)
    ones = np.ones(n)
    for rows in row_blocks(n, block_rows(n, block_bytes)):
        K = distances.block(rows, everyone)  # -d_ij
        local = np.arange(K.shape[0])
        K[local, local + rows.start] = -np.inf
        if sparse_below > 0 and K.size >= SPARSE_MIN_ENTRIES:
            shift = K.max(axis=1, keepdims=True)
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
        _exp_in_place(K)
        K[local, local + rows.start] = 0.0
        s = K @ ones
        if s.min() < _FAR_ROW_SUM:  # rows whose nearest neighbour is far: shift by that distance
            far = np.flatnonzero(s < _FAR_ROW_SUM)
            own = (np.arange(far.size), far + rows.start)
            redo = distances.block(far + rows.start, everyone)
            redo[own] = -np.inf
            redo -= redo.max(axis=1, keepdims=True)
            _exp_in_place(redo)
            redo[own] = 0.0
            K[far] = redo
            s[far] = redo @ ones
        yield rows, K, s


def _exp_in_place(K: np.ndarray) -> None:
    """K = exp(max(K, -EXP_FLOOR)), in place."""
    np.copyto(K, -EXP_FLOOR, where=K < -EXP_FLOOR)
    np.exp(K, out=K)


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

    def reset(self) -> None:
        """Start a new sum (X and [X, 1] are kept)."""
        self._S[:] = 0.0
        self._degree[:] = 0.0

    @property
    def with_ones(self) -> np.ndarray:
        """[X, 1]: the matrix the products of ``add_products`` are taken with."""
        return self._X1

    def add_block(self, rows: slice, cols: slice, W: np.ndarray | sparse.csr_array) -> None:
        """Add the weights W[i, j] (dense, or CSR) of the pairs (i in rows, j in cols)."""
        if sparse.issparse(W):
            columns = np.bincount(W.indices, weights=W.data, minlength=cols.stop - cols.start)
        else:
            columns = np.ones(W.shape[0]) @ W
        self.add_products(rows, cols, W @ self._X1[cols], columns)

    def add_products(self, rows: slice, cols: slice, WX1: np.ndarray, column_sums: np.ndarray) -> None:
        """Add a block W[rows, cols] given only W @ [X[cols], 1] and its column sums 1ᵀ W.

        For callers that get these products more cheaply than by forming W (NCA's W is a
        row-scaled K minus a block-diagonal part: two products, no pass to build W).
        """
        self._S += self.X[rows].T @ WX1[:, :-1]
        self._degree[rows] += WX1[:, -1]
        self._degree[cols] += column_sums

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


def overflow_is_inf(check: Any) -> Any:
    """Run ``check`` with float64 overflow giving inf silently: sums, squares and products of
    entries near float64's largest (a D or M holding 1e308) become inf, which the axiom checks
    read correctly (no shortcut through a pivot, an unbounded witness), not RuntimeWarning lines."""

    @functools.wraps(check)
    def quiet(*args: Any, **kwargs: Any) -> Any:
        with np.errstate(over="ignore"):
            return check(*args, **kwargs)

    return quiet
