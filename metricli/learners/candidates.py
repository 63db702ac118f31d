"""Candidate lists for the stochastic solvers: each training point's nearest others in x -> L x.

Up to EXACT_LISTS_UP_TO points the lists are exact (a blocked search over all pairs,
O(n²·k) for k output dimensions). Above, the exact search grows out of reach (10⁶ points
are 10¹² pairs), and the lists are approximate, in two steps:

- the first lists come from a clustered search: the points are split into cells by a few
  rounds of k-means (Lloyd) on a sample, and each cell's points are compared, exactly and
  in BLAS-sized blocks, with the points of its PROBES nearest cells (the inverted-file
  search of Jégou, Douze & Schmid, "Product quantization for nearest neighbor search",
  IEEE TPAMI 2011, §4.1, with exact distances);
- every later refresh is one round of neighbour descent from the previous lists (Dong,
  Moses & Li, "Efficient k-nearest neighbor graph construction for generic similarity
  measures", WWW 2011): a neighbour's neighbour is likely a neighbour, and L moves little
  between refreshes, so one round keeps lists near-exact at O(n·c·k) work.

The solver's random candidates keep its gradient estimates unbiased whatever the lists
miss; the lists only make them less noisy.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np

from metricli.kernels import knn, squared_norms

#: candidate lists are exact up to this many training points, approximate above
EXACT_LISTS_UP_TO = 20_000
#: clustered search: about this many points per cell, each compared with its PROBES nearest cells
CELL_SIZE = 512
PROBES = 8
#: k-means on a sample of this many points per cell, this many Lloyd rounds
SAMPLE_PER_CELL = 32
LLOYD_ROUNDS = 6
#: neighbour descent: the first DESCENT_FANOUT neighbours of the first DESCENT_FANOUT listed
DESCENT_FANOUT = 6


def nearest_others(
    Z: np.ndarray, m: int, bounds: np.ndarray | None = None, memory: int = 2**22
) -> np.ndarray:
    """The m nearest other points of each row of Z (exact, blocked), as row indices (n x m).

    With ``bounds`` (Z sorted by class, class c in rows bounds[c]:bounds[c + 1]) only points
    of other classes count: LMNN's impostor candidates. m is at most the fewest available.
    """
    n = Z.shape[0]
    m = list_length(m, n, bounds)
    if bounds is None:
        return knn(Z, Z, m, exclude_self=True, block_bytes=memory)[0]
    found = np.empty((n, m), dtype=np.intp)
    for lo, hi in itertools.pairwise(bounds):
        others = np.r_[0:lo, hi:n]
        idx, _ = knn(Z[lo:hi], Z[others], m, block_bytes=memory)
        found[lo:hi] = others[idx]
    return found


def class_codes(bounds: np.ndarray) -> np.ndarray:
    """The class of each point of points sorted by class (class c in rows bounds[c]:bounds[c + 1])."""
    return np.repeat(np.arange(bounds.size - 1), np.diff(bounds))


def list_length(m: int, n: int, bounds: np.ndarray | None) -> int:
    """How many neighbours a list holds: m, at most the fewest points any row may list."""
    return min(m, n - 1) if bounds is None else min(m, n - int(np.max(np.diff(bounds))))


def random_others(
    n: int, size: int, bounds: np.ndarray | None, rng: np.random.Generator, rows: np.ndarray | None = None
) -> np.ndarray:
    """``size`` uniform draws per point (n x size; or for ``rows`` only) among the other points,
    or, with ``bounds``, among the points of other classes: never the point itself, never a
    point of its class."""
    rows = np.arange(n) if rows is None else rows
    if bounds is None:
        drawn = rng.integers(0, n - 1, size=(rows.size, size))
        return drawn + (drawn >= rows[:, None])
    codes = np.searchsorted(bounds, rows, side="right") - 1  # each row's class, without an n-long array
    low, count = bounds[:-1][codes, None], np.diff(bounds)[codes, None]
    drawn = rng.integers(0, n - count, size=(rows.size, size))
    return drawn + np.where(drawn >= low, count, 0)


def keep_nearest(
    sq_dist: np.ndarray,
    pool: np.ndarray,
    rows: np.ndarray,
    m: int,
    codes: np.ndarray | None,
    fallback: np.ndarray,
) -> np.ndarray:
    """The m nearest of each row's pool (b x c candidates and their squared distances), as
    :func:`best_of` ranks them: the row itself, repeats and, with class ``codes``, points of
    the row's own class never count."""
    order = np.argsort(pool, axis=1, kind="stable")
    ranked = np.take_along_axis(pool, order, axis=1)
    invalid = ranked == rows[:, None]
    invalid[:, 1:] |= ranked[:, 1:] == ranked[:, :-1]
    if codes is not None:
        invalid |= codes[ranked] == codes[rows][:, None]
    dist = np.where(invalid, np.inf, np.take_along_axis(sq_dist, order, axis=1))
    return best_of(np.where(invalid, -1, ranked), dist, m, fallback)


def pool_distances(Z: np.ndarray, pool: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """||z_r - z_j||² for each row r and each j of its pool (b x c)."""
    diff = Z[pool] - Z[rows][:, None, :]
    return np.einsum("bck,bck->bc", diff, diff)


def descent_pool(
    near: np.ndarray, bounds: np.ndarray | None, rng: np.random.Generator, rows: np.ndarray | None = None
) -> np.ndarray:
    """One round of neighbour descent's candidates (n x c, or for ``rows`` only): each point's
    list, the first DESCENT_FANOUT neighbours of its first DESCENT_FANOUT listed neighbours,
    and half a list of random other points (so that a list can leave a wrong region)."""
    n, m = near.shape
    rows = np.arange(n) if rows is None else rows
    s = min(DESCENT_FANOUT, m)
    first = near[rows, :s]
    second = near[first, :s].reshape(rows.size, s * s)
    return np.concatenate([near[rows], second, random_others(n, max(1, m // 2), bounds, rng, rows)], axis=1)


def descent_width(m: int) -> int:
    """How many candidates :func:`descent_pool` gives a row of lists of m."""
    return m + min(DESCENT_FANOUT, m) ** 2 + max(1, m // 2)


def cell_plan(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(sample, first): the points k-means runs on and, among them, the first centres; about
    CELL_SIZE points a cell. Drawn here, from the solver's generator, wherever the points are."""
    count = max(1, n // CELL_SIZE)
    sample = rng.choice(n, min(n, count * SAMPLE_PER_CELL), replace=False)
    return sample, rng.choice(sample.size, count, replace=False)


def lloyd(sample: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Cell centres: LLOYD_ROUNDS rounds of Lloyd's k-means on the sample's rows from ``first``."""
    centres = sample[first].copy()
    for _ in range(LLOYD_ROUNDS):
        near = nearest_centre(sample, centres)
        sums = np.zeros_like(centres)
        np.add.at(sums, near, sample)
        sizes = np.bincount(near, minlength=centres.shape[0])
        filled = sizes > 0
        centres[filled] = sums[filled] / sizes[filled, None]
    return centres


def nearest_centre(Z: np.ndarray, centres: np.ndarray, block_bytes: int = 2**25) -> np.ndarray:
    """The nearest centre of each row of Z, in blocks of rows of about ``block_bytes`` of
    distances (the row's own norm, the same for every centre, left out)."""
    c_sq = squared_norms(centres)
    out = np.empty(Z.shape[0], dtype=np.intp)
    step = max(1, block_bytes // (8 * max(centres.shape[0], 1)))
    for start in range(0, Z.shape[0], step):
        D = Z[start : start + step] @ centres.T
        D *= -2.0
        D += c_sq[None, :]
        out[start : start + step] = np.argmin(D, axis=1)
    return out


def probed_cells(centres: np.ndarray) -> np.ndarray:
    """Each cell's PROBES nearest cells (itself first)."""
    c_sq = squared_norms(centres)
    between = c_sq[:, None] + c_sq[None, :] - 2.0 * centres @ centres.T
    np.fill_diagonal(between, -np.inf)
    return np.argsort(between, axis=1, kind="stable")[:, : min(PROBES, centres.shape[0])]


def cell_lists(
    Z: np.ndarray,
    cell: np.ndarray,
    probes: np.ndarray,
    m: int,
    codes: np.ndarray | None,
    lists: np.ndarray,
) -> np.ndarray:
    """Fill ``lists`` (n × m, holding fallbacks) with each row's m nearest other rows among
    those in its cell's probed cells (of another class with ``codes``): the 2m nearest by one
    BLAS product per cell, the m nearest of those by distances recomputed from the
    differences (:func:`best_of`). Works cell by cell, so memory is O(n·m + cell block),
    never an n × 2m table of candidates. Slots with no candidate keep their fallback."""
    order = np.argsort(cell, kind="stable")
    starts = np.searchsorted(cell[order], np.arange(probes.shape[0] + 1))
    sq_norms = squared_norms(Z)
    width = 2 * m
    for c in np.flatnonzero(np.diff(starts)):
        rows = order[starts[c] : starts[c + 1]]
        pool = np.concatenate([order[starts[p] : starts[p + 1]] for p in probes[c]])
        Zq = Z[rows]
        sq = sq_norms[rows][:, None] + sq_norms[None, pool] - 2.0 * Zq @ Z[pool].T
        sq[pool[None, :] == rows[:, None]] = np.inf
        if codes is not None:
            sq[codes[pool][None, :] == codes[rows][:, None]] = np.inf
        w = min(width, pool.size)
        best = (
            np.argpartition(sq, w - 1, axis=1)[:, :w]
            if w < pool.size
            else np.broadcast_to(np.arange(w), (rows.size, w))
        )
        usable = np.isfinite(np.take_along_axis(sq, best, axis=1))
        chosen = pool[best]
        diff = Z[chosen] - Zq[:, None, :]
        dist = np.where(usable, np.einsum("bwk,bwk->bw", diff, diff), np.inf)
        lists[rows] = best_of(np.where(usable, chosen, -1), dist, m, lists[rows])
    return lists


def best_of(found: np.ndarray, dist: np.ndarray, m: int, fallback: np.ndarray) -> np.ndarray:
    """The m nearest of each row's found points (-1: none), ties to the lower number; slots
    left empty (or beyond the found points' width) keep ``fallback``'s entries."""
    order = np.lexsort((np.where(found < 0, np.iinfo(np.intp).max, found), dist), axis=-1)[:, :m]
    chosen = np.take_along_axis(found, order, axis=1)
    out = np.array(fallback[:, :m], dtype=np.intp)
    filled = out[:, : chosen.shape[1]]
    filled[chosen >= 0] = chosen[chosen >= 0]
    return out


def clustered_lists(
    Z: np.ndarray, m: int, bounds: np.ndarray | None, rng: np.random.Generator, fallback: np.ndarray
) -> np.ndarray:
    """Approximate lists: each cell's points against the points of its PROBES nearest cells
    (:func:`cell_lists`); rows with fewer than m candidates keep ``fallback``'s entries."""
    sample, first = cell_plan(Z.shape[0], rng)
    centres = lloyd(Z[sample], first)
    codes = None if bounds is None else class_codes(bounds)
    lists = np.array(fallback[:, :m], dtype=np.intp)
    return cell_lists(Z, nearest_centre(Z, centres), probed_cells(centres), m, codes, lists)


def refined_lists(
    Z: np.ndarray,
    pool_of: Callable[[np.ndarray], np.ndarray],
    width: int,
    m: int,
    bounds: np.ndarray | None,
    fallback: np.ndarray,
    memory: int = 2**22,
) -> np.ndarray:
    """Each row's m nearest of its pool in Z (:func:`keep_nearest`), in blocks of rows:
    ``pool_of(rows)`` gives the block's pools (rows x ``width``), so that no n x width table
    is ever held."""
    n = Z.shape[0]
    codes = None if bounds is None else class_codes(bounds)
    found = np.empty((n, m), dtype=np.intp)
    step = max(256, memory // (8 * width * max(Z.shape[1], 1)))
    for start in range(0, n, step):
        rows = np.arange(start, min(start + step, n))
        pool = pool_of(rows)
        found[rows] = keep_nearest(pool_distances(Z, pool, rows), pool, rows, m, codes, fallback[rows])
    return found


def lists_of(
    Z: np.ndarray,
    m: int,
    bounds: np.ndarray | None,
    previous: np.ndarray | None,
    rng: np.random.Generator,
    memory: int = 2**22,
) -> np.ndarray:
    """Approximate lists of m neighbours of Z's rows: a clustered search the first time
    (``previous`` None), then one round of neighbour descent from ``previous``."""
    if previous is None:
        return clustered_lists(Z, m, bounds, rng, random_others(Z.shape[0], m, bounds, rng))

    def pool_of(rows: np.ndarray) -> np.ndarray:
        return descent_pool(previous, bounds, rng, rows)

    return refined_lists(Z, pool_of, descent_width(previous.shape[1]), m, bounds, previous, memory)


def approximate_lists(
    store: Any, L: np.ndarray, m: int, bounds: np.ndarray | None, previous: np.ndarray | None, rng
) -> np.ndarray:
    """Lists of m neighbours in x -> L x above EXACT_LISTS_UP_TO points (module docstring), from
    the store's points: ``store.approximate`` runs :func:`lists_of` where they are."""
    m = list_length(m, store.n, bounds)
    if previous is not None and previous.shape[1] != m:
        previous = None
    return store.approximate(L, m, bounds, previous, rng)
