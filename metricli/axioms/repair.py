"""Repairs: the largest metric below a distance matrix, and the nearest PSD matrix M.

**Largest metric below D.** Among all (pseudo)metrics d' with d' <= D entrywise there is a
largest one: the shortest-path distance of the complete graph with edge lengths
S = min(D, Dᵀ) (any d' <= S satisfies d'(i, j) <= the length of every path from i to j,
by the triangle inequality along the path). This is the decrease-only solution of the
metric nearness problem (Brickell, Dhillon, Sra & Tropp, "The metric nearness problem",
SIAM J. Matrix Anal. Appl. 30(1), 2008, section 2). It is computed by Floyd's algorithm
(Floyd, "Algorithm 97: Shortest path", CACM 5(6), 1962) in the blocked form of
Venkataraman, Sahni & Mukhopadhyaya ("A blocked all-pairs shortest-paths algorithm",
J. Exp. Algorithmics 8, 2003): close a diagonal block of pivots, update its rows, then
update every other row block from them in parallel, O(n³) time and one copy of D.

Entries lowered by no more than the check's tolerance are restored to S, so a matrix
that already passes the check is returned unchanged bit for bit, and the result still
passes it: d''(i, j) <= d'(i, j) + tol <= d'(i, k) + d'(k, j) + tol <= d''(i, k) + d''(k, j) + tol.

**Nearest PSD M.** For the symmetric part S = V Λ Vᵀ of M, the positive semi-definite
matrix nearest in the Frobenius norm is V max(Λ, 0) Vᵀ (Higham, "Computing a nearest
symmetric positive semidefinite matrix", Linear Algebra Appl. 103, 1988, theorem 2.1).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from metricli import kernels
from metricli.axioms.distance import (
    DEFAULT_ATOL,
    DEFAULT_RTOL,
    Progress,
    as_distance_matrix,
    tolerance,
)
from metricli.axioms.mahalanobis import DEFAULT_ATOL as M_ATOL
from metricli.axioms.mahalanobis import DEFAULT_RTOL as M_RTOL
from metricli.errors import MetricliError

#: pivots closed together in the blocked Floyd-Warshall
PIVOT_BLOCK = 64
#: memory for one block of rows in the passes before and after the closure
_REPAIR_BLOCK_BYTES = 8 * 2**20


def shortest_path_closure(
    W: np.ndarray,
    *,
    n_jobs: int | None = None,
    pivot_block: int = PIVOT_BLOCK,
    progress: Progress | None = None,
) -> np.ndarray:
    """All-pairs shortest paths of the complete graph with edge lengths W, in place.

    W must be a C-contiguous float64 square array without negative cycles (here: no
    negative entries). Returns W, now its own min-plus square.
    """
    n = W.shape[0]
    blocks = list(kernels.row_blocks(n, pivot_block))
    for done, K in enumerate(blocks, start=1):
        # 1. Floyd-Warshall inside the diagonal block
        diagonal = W[K, K]
        with np.errstate(over="ignore"):  # a path longer than float64's largest is no shortcut (inf)
            for k in range(K.stop - K.start):
                np.minimum(diagonal, diagonal[:, k, None] + diagonal[None, k, :], out=diagonal)
        # 2. the pivot rows, through the closed block (in place: values only shrink and
        #    stay lengths of real paths, so reading updated rows is harmless)
        kernels.tropical_accumulate(W[K, :], np.ascontiguousarray(diagonal.T), W[K, :])
        # 3. every other row, through the pivot rows: independent tiles, in parallel
        others = [
            (part, cols)
            for rows, cols in kernels.tiles(n)
            for part in _outside(rows, K)
            if part.stop > part.start
        ]

        def update(tile: tuple[slice, slice], K: slice = K) -> None:
            rows, cols = tile
            kernels.tropical_accumulate(W[rows, cols], np.ascontiguousarray(W[rows, K].T), W[K, cols])

        for _ in kernels.map_tiles(update, others, n_jobs=n_jobs):
            pass
        if progress is not None:
            progress(done, len(blocks))
    return W


def _outside(rows: slice, K: slice) -> list[slice]:
    """The parts of ``rows`` outside the pivot block K."""
    if rows.stop <= K.start or rows.start >= K.stop:
        return [rows]
    return [slice(rows.start, K.start), slice(K.stop, rows.stop)]


def _symmetric_floor(D: np.ndarray, rows: slice) -> np.ndarray:
    """Rows of S = min(D, Dᵀ) with a zero diagonal and rounding-level negatives at 0."""
    S = np.minimum(D[rows, :], D[:, rows].T)
    S[np.arange(rows.stop - rows.start), np.arange(rows.start, rows.stop)] = 0.0
    np.maximum(S, 0.0, out=S)
    return S


def metric_repair(
    D: Any,
    *,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
    n_jobs: int | None = None,
    progress: Progress | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """The largest (pseudo)metric below D, and a summary of what changed.

    Returns ``(R, summary)``: R <= D entrywise, R symmetric with a zero diagonal and
    satisfying the triangle inequality within the tolerance; R equals D when D is
    already a metric or pseudometric within the tolerance.
    """
    D = as_distance_matrix(D)
    n = D.shape[0]
    tol = tolerance(D, rtol, atol)
    t = tol.threshold
    step = kernels.block_rows(n, _REPAIR_BLOCK_BYTES)
    for rows in kernels.row_blocks(n, step):
        block = D[rows, :].copy()
        block[np.arange(rows.stop - rows.start), np.arange(rows.start, rows.stop)] = 0.0
        if (block < -t).any():
            i, j = np.argwhere(block < -t)[0]
            raise MetricliError(
                f"cannot repair: d({rows.start + i}, {j}) = {block[i, j]:.6g} is negative, and no metric "
                "lies below a negative distance; fix the negative entries first"
            )

    R = np.empty_like(D)
    for rows in kernels.row_blocks(n, step):
        R[rows] = _symmetric_floor(D, rows)
    shortest_path_closure(R, n_jobs=n_jobs, progress=progress)

    # rounding can leave R[i, j] and R[j, i] an ulp apart: take the smaller (still a path)
    for rows in kernels.row_blocks(n, step):
        np.minimum(R[rows], R[:, rows].T, out=R[rows])

    changed = symmetrized = 0
    unit = float(np.max(np.abs(D), initial=0.0)) or 1.0
    max_drop, where = 0.0, None
    sum_sq_drop = sum_sq = 0.0
    unchanged = True
    for rows in kernels.row_blocks(n, step):
        S = _symmetric_floor(D, rows)
        block = R[rows]
        restore = S - block <= t
        block[restore] = S[restore]
        drop = S - block
        upper = np.arange(n)[None, :] > np.arange(rows.start, rows.stop)[:, None]
        changed += int(np.count_nonzero(drop[upper] > 0))
        # relative change in units of max|D|, so that squares of entries near 1e308 stay finite
        sum_sq_drop += float(np.square(drop[upper] / unit).sum())
        sum_sq += float(np.square(S[upper] / unit).sum())
        symmetrized += int(np.count_nonzero((D[rows, :] != D[:, rows].T)[upper]))
        unchanged = unchanged and np.array_equal(block, D[rows])
        if drop.max() > max_drop:
            a, b = np.unravel_index(int(np.argmax(drop)), drop.shape)
            max_drop, where = float(drop[a, b]), [rows.start + int(a), int(b)]

    summary: dict[str, Any] = {
        "method": "shortest-path closure of min(D, Dᵀ)",
        "pairs": n * (n - 1) // 2,
        "pairs_lowered": changed,
        "max_decrease": max_drop,
        "max_decrease_at": where,
        "relative_change": (sum_sq_drop / sum_sq) ** 0.5 if sum_sq > 0 else 0.0,
        "pairs_symmetrized": symmetrized,
        "unchanged": unchanged,
        "tolerance": tol.threshold,
    }
    return R, summary


def nearest_psd(
    M: np.ndarray, *, rtol: float = M_RTOL, atol: float = M_ATOL
) -> tuple[np.ndarray, dict[str, Any]]:
    """The PSD matrix nearest to M in the Frobenius norm (eigenvalue clipping), and a summary.

    Eigenvalues below ``-(atol + rtol · max|λ|)`` are set to zero; if there are none the
    symmetric part of M is returned unchanged.
    """
    M = np.asarray(M, dtype=np.float64)
    if M.ndim != 2 or M.shape[0] != M.shape[1] or M.shape[0] == 0:
        raise MetricliError(f"M must be a non-empty square matrix; got shape {'x'.join(map(str, M.shape))}")
    # entries past 1e100 are clipped on M / 2^e (exact): LAPACK overflows on a matrix holding 1e308
    top = float(np.max(np.abs(M)))
    e = int(np.frexp(top)[1]) if np.isfinite(top) and top > 0 and not 1e-100 < top < 1e100 else 0
    M = np.ldexp(M, -e)
    S = (M + M.T) / 2
    values, vectors = np.linalg.eigh(S)
    threshold = atol + rtol * float(np.max(np.abs(values)))
    negative = values < -threshold
    if negative.any():
        P = (vectors * np.maximum(values, 0.0)) @ vectors.T
        P = (P + P.T) / 2
    else:
        P = S
    change = M - P
    norm = float(np.linalg.norm(M))
    with np.errstate(over="ignore"):  # figures past float64's largest are reported as inf
        summary = {
            "method": "eigenvalue clipping of (M + Mᵀ)/2",
            "eigenvalues_clipped": int(negative.sum()),
            "clipped_mass": float(np.ldexp(-values[negative].sum(), e)),
            "min_eigenvalue_before": float(np.ldexp(values.min(), e)),
            "frobenius_change": float(np.ldexp(np.linalg.norm(change), e)),
            "relative_change": float(np.linalg.norm(change)) / norm if norm > 0 else 0.0,
            "max_entry_change": float(np.ldexp(np.abs(change).max(), e)),
            "unchanged": bool(not negative.any() and np.array_equal(P, M)),
        }
        return (np.ldexp(P, e) if e else P), summary
