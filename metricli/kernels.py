"""Blocked pairwise kernels shared by every learner and command.

Pairwise work is done in row blocks so memory stays O(n·d + block · n) instead of
O(n²). All functions work in float64 with BLAS-shaped products: squared
Euclidean distances come from ||a||² + ||b||² - 2 a·b, one matrix product a block.
"""

from __future__ import annotations

import contextlib
import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

import numpy as np

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
    with _unbuffered():
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
    n = Z.shape[0]
    D = np.empty((n, n), dtype=np.float64)
    for rows in row_blocks(n, block_rows(max(n, Z.shape[1]), block_bytes)):
        D[rows] = cdist(Z[rows], Z)
    # d(i, j) and d(j, i) come from the same squared differences summed in the same
    # order, so D is symmetric exactly; the diagonal is exactly 0
    return D
