"""The metric axioms for a matrix of distances D[i, j] = d(i, j) between n points.

For all points i, j, k:

1. non-negativity               d(i, j) >= 0
2. zero self-distance           d(i, i) = 0
3. symmetry                     d(i, j) = d(j, i)
4. identity of indiscernibles   d(i, j) = 0 only if i = j
5. triangle inequality          d(i, j) <= d(i, k) + d(k, j)

A **metric** satisfies all five; a **pseudometric** all but 4 (distinct points may be
at distance 0); a **semimetric** 1-3 but not 5 (Wilson, "On semi-metric spaces", Amer. J.
Math. 53(2), 1931); a **quasimetric** 1, 2 and 5 but not 3 (Wilson, "On quasi-metric
spaces", Amer. J. Math. 53(3), 1931). Anything else (a negative distance, a point at
non-zero distance from itself, or no symmetry and no triangle inequality) is **not a
distance**. How far the triangle inequality fails is measured by the relaxation factor
rho = max d(i, j) / (d(i, k) + d(k, j)) >= 1, the smallest rho with d(i, j) <= rho (d(i, k) +
d(k, j)) for all triplets (Fagin & Stockmeyer, "Relaxing the triangle inequality in
pattern matching", IJCV 30(3), 1998); squared Euclidean distances have rho <= 2. The
optional **ultrametric** inequality is d(i, j) <= max(d(i, k), d(k, j)).

Tolerance: a deviation counts as a violation only when it exceeds
``atol + rtol * max|D|``, so floating-point noise in a computed metric is not reported.

The triangle inequality holds exactly when D equals its min-plus square
(D ⊗ D)[i, j] = min_k D[i, k] + D[k, j] (k distinct from i and j), which is computed tile by
tile (:mod:`metricli.kernels`) in O(n³) time and O(tile · n) memory beyond D, on every
core; pairs that fail are then counted triplet by triplet. For n too large for O(n³),
``sample`` checks that many random triplets and bounds the violation rate with a
Clopper-Pearson interval (Clopper & Pearson, Biometrika 26(4), 1934).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from metricli import kernels
from metricli.axioms.mahalanobis import check_tolerances
from metricli.errors import MetricliError

DEFAULT_RTOL = 1e-9
DEFAULT_ATOL = 0.0
#: witnesses reported per failed axiom, worst first
DEFAULT_WITNESSES = 5
#: violation sizes kept for the quantiles; beyond this a uniform sample of them
QUANTILE_SAMPLE = 65_536
QUANTILES = (0.5, 0.9, 0.99)
CONFIDENCE = 0.95
#: rows per tile of the O(n²) pass over pairs
_PAIR_TILE_ROWS = 64
#: triplets drawn per chunk in sampled mode
_SAMPLE_CHUNK = 1 << 20

Progress = Callable[[int, int], None]


# --- input and tolerance ----------------------------------------------------------------


def as_distance_matrix(D: Any) -> np.ndarray:
    """D as a square float64 array of finite values, or a MetricliError saying what is wrong."""
    D = np.asarray(D)
    if D.dtype.kind not in "biuf":
        raise MetricliError(f"distance matrix is not numeric (dtype {D.dtype})")
    if D.ndim != 2 or D.shape[0] != D.shape[1]:
        shape = "x".join(map(str, D.shape))
        raise MetricliError(f"distance matrix must be square; got shape {shape}")
    if D.shape[0] == 0:
        raise MetricliError("distance matrix is empty")
    D = np.asarray(D, dtype=np.float64)
    for rows in kernels.row_blocks(D.shape[0], _PAIR_TILE_ROWS):
        finite = np.isfinite(D[rows])
        if not finite.all():
            i, j = np.argwhere(~finite)[0]
            raise MetricliError(
                f"distance matrix has a missing or infinite value at row {rows.start + i}, column {j}"
            )
    return D


@dataclass(frozen=True)
class Tolerance:
    """A deviation counts when it exceeds ``threshold = atol + rtol * scale``, scale = max|D|."""

    rtol: float
    atol: float
    scale: float

    @property
    def threshold(self) -> float:
        return self.atol + self.rtol * self.scale

    def as_dict(self) -> dict[str, float]:
        return {"rtol": self.rtol, "atol": self.atol, "scale": self.scale, "threshold": self.threshold}


def tolerance(D: np.ndarray, rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL) -> Tolerance:
    check_tolerances(rtol, atol)
    scale = max(
        (float(np.abs(D[rows]).max()) for rows in kernels.row_blocks(D.shape[0], _PAIR_TILE_ROWS)),
        default=0.0,
    )
    return Tolerance(rtol=float(rtol), atol=float(atol), scale=scale)


# --- violations: counts, the worst, and the sizes for quantiles --------------------------


def _hash_keys(points: np.ndarray, n: int) -> np.ndarray:
    """A pseudo-random uint64 key per witness, a function of its indices only (splitmix64).

    Keeping the smallest keys gives a uniform sample of violations that does not depend
    on the order in which tiles finish.
    """
    z = np.zeros(points.shape[0], dtype=np.uint64)
    for col in range(points.shape[1]):
        z = z * np.uint64(n) + points[:, col].astype(np.uint64)
    z = z + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@dataclass
class Violations:
    """Violations of one axiom, merged tile by tile: how many, the worst, and their sizes.

    ``points`` holds each violation's indices (one column per index: (i,), (i, j) or
    (i, j, k)); ``extra`` optional per-violation values kept with the worst (e.g. a count).
    """

    n: int
    n_points: int
    n_witnesses: int = DEFAULT_WITNESSES
    count: int = 0
    worst_sizes: np.ndarray = field(default_factory=lambda: np.empty(0))
    worst_points: np.ndarray = field(default_factory=lambda: np.empty((0, 0), dtype=np.int64))
    worst_extra: np.ndarray = field(default_factory=lambda: np.empty(0))
    sample_keys: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.uint64))
    sample_sizes: np.ndarray = field(default_factory=lambda: np.empty(0))

    def __post_init__(self) -> None:
        self.worst_points = np.empty((0, self.n_points), dtype=np.int64)

    def add(self, sizes: np.ndarray, points: np.ndarray, extra: np.ndarray | None = None) -> None:
        if sizes.size == 0:
            return
        points = np.asarray(points, dtype=np.int64).reshape(sizes.size, self.n_points)
        extra = np.zeros(sizes.size) if extra is None else np.asarray(extra, dtype=np.float64)
        self.count += int(sizes.size)
        # worst first; ties by indices, so the answer does not depend on tile order
        sizes_all = np.concatenate([self.worst_sizes, sizes])
        points_all = np.concatenate([self.worst_points, points])
        extra_all = np.concatenate([self.worst_extra, extra])
        if sizes_all.size > 4 * self.n_witnesses:
            part = np.argpartition(-sizes_all, self.n_witnesses - 1)[: self.n_witnesses]
            sizes_all, points_all, extra_all = sizes_all[part], points_all[part], extra_all[part]
        order = np.lexsort((*points_all.T[::-1], -sizes_all))[: self.n_witnesses]
        self.worst_sizes, self.worst_points, self.worst_extra = (
            sizes_all[order],
            points_all[order],
            extra_all[order],
        )
        keys = np.concatenate([self.sample_keys, _hash_keys(points, self.n)])
        kept = np.concatenate([self.sample_sizes, sizes])
        if keys.size > QUANTILE_SAMPLE:
            part = np.argpartition(keys, QUANTILE_SAMPLE - 1)[:QUANTILE_SAMPLE]
            keys, kept = keys[part], kept[part]
        self.sample_keys, self.sample_sizes = keys, kept

    @property
    def worst(self) -> float | None:
        return float(self.worst_sizes[0]) if self.count else None

    def quantiles(self) -> dict[str, float] | None:
        if not self.count:
            return None
        values = np.quantile(self.sample_sizes, QUANTILES)
        return {f"p{round(q * 100)}": float(v) for q, v in zip(QUANTILES, values, strict=True)}

    def summary(self) -> dict[str, Any]:
        return {
            "violations": self.count,
            "worst": self.worst,
            "quantiles": self.quantiles(),
            "quantiles_from": int(self.sample_sizes.size) if self.count else 0,
        }


class _Namer:
    """Witness points by id when the rows have ids, else by 0-based index."""

    def __init__(self, ids: Sequence[str] | None) -> None:
        self.ids = None if ids is None else [str(v) for v in ids]

    def __call__(self, index: int) -> str | int:
        return int(index) if self.ids is None else self.ids[int(index)]


# --- the O(n²) axioms -------------------------------------------------------------------


@dataclass
class _PairTally:
    negative: Violations
    asymmetric: Violations
    zero_pairs: Violations
    max_asymmetry: float = 0.0


def _pair_axioms(D: np.ndarray, tol: float, n_witnesses: int, n_jobs: int | None) -> _PairTally:
    """Non-negativity, symmetry and identity of indiscernibles over all pairs i < j."""
    n = D.shape[0]
    tally = _PairTally(
        negative=Violations(n, 2, n_witnesses),
        asymmetric=Violations(n, 2, n_witnesses),
        zero_pairs=Violations(n, 2, n_witnesses),
    )

    def work(tile: tuple[slice, slice]) -> tuple[np.ndarray, ...]:
        rows, cols = tile
        upper = D[rows, cols]
        lower = D[cols, rows].T
        i = np.arange(rows.start, rows.stop)[:, None]
        j = np.arange(cols.start, cols.stop)[None, :]
        pair = j > i
        diff = np.abs(upper - lower)
        asym = float(diff[pair].max(initial=0.0))
        found = []
        for mask, size in (
            ((upper < -tol) & pair, -upper),
            ((lower < -tol) & pair, -lower),
            ((diff > tol) & pair, diff),
            (
                ((np.abs(upper) <= tol) | (np.abs(lower) <= tol)) & pair,
                np.minimum(np.abs(upper), np.abs(lower)),
            ),
        ):
            a, b = np.nonzero(mask)
            found.append((size[a, b], a + rows.start, b + cols.start))
        return asym, found

    for asym, found in kernels.map_tiles(
        work, kernels.tiles(n, upper=True, rows=_PAIR_TILE_ROWS), n_jobs=n_jobs
    ):
        tally.max_asymmetry = max(tally.max_asymmetry, asym)
        (neg_u, neg_l, asym_f, zero_f) = found
        tally.negative.add(neg_u[0], np.column_stack([neg_u[1], neg_u[2]]))
        tally.negative.add(neg_l[0], np.column_stack([neg_l[2], neg_l[1]]))
        tally.asymmetric.add(asym_f[0], np.column_stack([asym_f[1], asym_f[2]]))
        # zero distances have no size to rank them: the witnesses are the first pairs
        tally.zero_pairs.add(np.zeros(zero_f[0].size), np.column_stack([zero_f[1], zero_f[2]]))
    return tally


# --- the triangle (and ultrametric) inequality ------------------------------------------


@dataclass
class TriangleResult:
    """What the O(n³) pass found for one inequality (triangle, or ultrametric)."""

    violations: Violations  # one per violating pair, sized by its worst excess
    pairs_checked: int = 0
    triplets_violated: int = 0
    complete: bool = True
    ratio: float = 0.0  # max d(i, j) / min_k (d(i, k) + d(k, j)) over pairs
    ratio_pair: tuple[int, int] | None = None


#: runs tiles of the triangle pass elsewhere (e.g. on a Dask cluster): given the tiles and the
#: keyword options of :func:`triangle_tile`, yields each tile's result, in order
TileRunner = Callable[[list[tuple[slice, slice]], dict[str, Any]], Iterator[Any]]


def triangle_tile(
    D: np.ndarray,
    tile: tuple[slice, slice],
    *,
    tol: float,
    combine: np.ufunc,
    upper: bool,
    count_triplets: bool,
) -> tuple[int, float, tuple[int, int] | None, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Exact check of the pairs in one tile against every pivot k ∉ {i, j}."""
    rows, cols = tile
    n_rows = rows.stop - rows.start
    left_t = np.ascontiguousarray(D[rows, :].T)  # (n, rows): D[i, k] for pivot k
    left_t[np.arange(rows.start, rows.stop), np.arange(n_rows)] = np.inf  # never k = i
    right = D[:, cols]
    best = np.full((n_rows, cols.stop - cols.start), np.inf)
    kernels.tropical_accumulate(best, left_t, right, combine=combine, skip_column=cols.start)

    d = D[rows, cols]
    i = np.arange(rows.start, rows.stop)[:, None]
    j = np.arange(cols.start, cols.stop)[None, :]
    pair = (j > i) if upper else (j != i)
    pairs = int(pair.sum())
    threshold = d - tol
    bad = (best < threshold) & pair

    ratio, ratio_pair = 0.0, None
    if combine is np.add and pairs:
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.where(pair & (best > 0), d / best, 0.0)
        r[pair & (best <= 0) & (d > tol)] = np.inf
        at = np.unravel_index(int(np.argmax(r)), r.shape)
        ratio, ratio_pair = float(r[at]), (rows.start + int(at[0]), cols.start + int(at[1]))

    a, b = np.nonzero(bad)
    excess = d[a, b] - best[a, b]
    counts = np.zeros(a.size, dtype=np.int64)
    if a.size and count_triplets:
        used = np.unique(a)
        c = kernels.tropical_count(
            threshold[used],
            np.ascontiguousarray(left_t[:, used]),
            right,
            combine=combine,
            skip_column=cols.start,
        )
        counts = c[np.searchsorted(used, a), b]
    return pairs, ratio, ratio_pair, a + rows.start, b + cols.start, excess, counts


def triangle_check(
    D: np.ndarray,
    tol: float,
    *,
    symmetric: bool,
    combine: np.ufunc = np.add,
    fail_fast: bool = False,
    n_witnesses: int = DEFAULT_WITNESSES,
    n_jobs: int | None = None,
    progress: Progress | None = None,
    tile_rows: int | None = None,
    tile_columns: int = kernels.TILE_COLUMNS,
    run_tiles: TileRunner | None = None,
) -> TriangleResult:
    """Every pair (i, j) against every pivot k: d(i, j) <= combine(d(i, k), d(k, j)) + tol.

    ``combine`` is ``np.add`` for the triangle inequality, ``np.maximum`` for the
    ultrametric one. For an exactly ``symmetric`` D only pairs i < j are checked (the
    inequality for (j, i) is the same). With ``fail_fast`` the search stops at the first
    tile holding a violation and triplets are not counted (``complete`` is then False).
    Tiles run on ``n_jobs`` threads, or wherever ``run_tiles`` sends them.
    """
    n = D.shape[0]
    result = TriangleResult(violations=Violations(n, 2, n_witnesses))
    if n < 3:
        result.pairs_checked = n * (n - 1) // (2 if symmetric else 1)
        return result
    work_tiles = kernels.tiles(n, upper=symmetric, rows=tile_rows, columns=tile_columns)
    stop = threading.Event()
    options = {"tol": tol, "combine": combine, "upper": symmetric, "count_triplets": not fail_fast}

    def work(tile: tuple[slice, slice]) -> Any:
        if stop.is_set():
            return None
        return triangle_tile(D, tile, **options)

    results = (
        kernels.map_tiles(work, work_tiles, n_jobs=n_jobs)
        if run_tiles is None
        else run_tiles(work_tiles, options)
    )
    try:
        for done, found in enumerate(results, start=1):
            if found is None:
                continue
            pairs, ratio, ratio_pair, a, b, excess, counts = found
            result.pairs_checked += pairs
            if ratio > result.ratio or result.ratio_pair is None:
                result.ratio, result.ratio_pair = ratio, ratio_pair
            result.violations.add(excess, np.column_stack([a, b]), extra=counts)
            result.triplets_violated += int(counts.sum())
            if progress is not None:
                progress(done, len(work_tiles))
            if fail_fast and a.size:
                stop.set()
                result.complete = False
                break
    finally:
        results.close()
    return result


def _best_pivot(D: np.ndarray, i: int, j: int, combine: np.ufunc) -> int:
    """argmin over k ∉ {i, j} of combine(d(i, k), d(k, j))."""
    with np.errstate(over="ignore"):  # past float64's largest: inf, no shortcut through k
        through = combine(D[i, :], D[:, j])
    through[[i, j]] = np.inf
    return int(np.argmin(through))


def _triplet_witness(
    D: np.ndarray, i: int, j: int, k: int, combine: np.ufunc, name: _Namer
) -> dict[str, Any]:
    d_ij, d_ik, d_kj = float(D[i, j]), float(D[i, k]), float(D[k, j])
    bound = float(combine(d_ik, d_kj))
    witness: dict[str, Any] = {
        "i": name(i),
        "j": name(j),
        "k": name(k),
        "rows": [i, j, k],
        "d_ij": d_ij,
        "d_ik": d_ik,
        "d_kj": d_kj,
        "excess": d_ij - bound,
    }
    if combine is np.add:
        witness["ratio"] = d_ij / bound if bound > 0 else float("inf")
    return witness


def _triangle_report(
    D: np.ndarray,
    result: TriangleResult,
    *,
    symmetric: bool,
    combine: np.ufunc,
    name: _Namer,
) -> dict[str, Any]:
    n = D.shape[0]
    v = result.violations
    report: dict[str, Any] = {
        "holds": v.count == 0,
        "method": "exhaustive",
        "complete": result.complete,
        "pairs_checked": result.pairs_checked,
        "triplets_checked": result.pairs_checked * max(n - 2, 0) if result.complete else None,
        "pairs_violated": v.count,
        "triplets_violated": result.triplets_violated if result.complete else None,
        "symmetric_shortcut": symmetric,
        **{key: value for key, value in v.summary().items() if key != "violations"},
    }
    witnesses = []
    for (i, j), count in zip(v.worst_points.tolist(), v.worst_extra.tolist(), strict=True):
        w = _triplet_witness(D, i, j, _best_pivot(D, i, j, combine), combine, name)
        if result.complete:
            w["violating_k"] = int(count)
        witnesses.append(w)
    if witnesses:
        report["witness"] = witnesses[0]
        report["witnesses"] = witnesses
    if combine is np.add:
        # within tolerance the inequality holds, and rho = 1 (not 1 + rounding)
        rho = 1.0 if v.count == 0 else max(result.ratio, 1.0)
        factor: dict[str, Any] = {"value": rho if result.complete else None, "at_least": rho}
        if result.ratio > 1.0 and result.ratio_pair is not None:
            i, j = result.ratio_pair
            factor["witness"] = _triplet_witness(D, i, j, _best_pivot(D, i, j, combine), combine, name)
        report["relaxation_factor"] = factor
    return report


# --- sampled mode ------------------------------------------------------------------------


def clopper_pearson(successes: int, trials: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Exact two-sided binomial confidence interval (Clopper & Pearson 1934, eq. for p_L, p_U)."""
    from scipy.stats import beta

    alpha = 1.0 - confidence
    lower = 0.0 if successes == 0 else float(beta.ppf(alpha / 2, successes, trials - successes + 1))
    upper = 1.0 if successes == trials else float(beta.ppf(1 - alpha / 2, successes + 1, trials - successes))
    return lower, upper


def _sample_triplets(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """``size`` uniform triplets (i, j, k) of pairwise distinct indices."""
    i = rng.integers(0, n, size)
    j = rng.integers(0, n - 1, size)
    j += j >= i
    k = rng.integers(0, n - 2, size)
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    k += k >= lo
    k += k >= hi
    return np.column_stack([i, j, k])


def sampled_triangle_check(
    D: np.ndarray,
    tol: float,
    n_samples: int,
    *,
    seed: int = 0,
    combine: np.ufunc = np.add,
    n_witnesses: int = DEFAULT_WITNESSES,
    name: _Namer | None = None,
) -> dict[str, Any]:
    """Check ``n_samples`` uniform random triplets; a violation found is a proof, none a bound."""
    n = D.shape[0]
    name = name or _Namer(None)
    if n_samples < 1:
        raise MetricliError(f"--sample must be at least 1; got {n_samples}")
    violations = Violations(n, 3, n_witnesses)
    ratio, ratio_at = 0.0, None
    if n >= 3:
        rng = np.random.default_rng(seed)
        for part in kernels.row_blocks(n_samples, _SAMPLE_CHUNK):
            t = _sample_triplets(n, part.stop - part.start, rng)
            with np.errstate(over="ignore"):  # past float64's largest: inf, no shortcut through k
                d_ij, bound = D[t[:, 0], t[:, 1]], combine(D[t[:, 0], t[:, 2]], D[t[:, 2], t[:, 1]])
            bad = bound < d_ij - tol
            violations.add(d_ij[bad] - bound[bad], t[bad])
            if combine is np.add:
                with np.errstate(divide="ignore", invalid="ignore"):
                    r = np.where(bound > 0, d_ij / bound, np.where(d_ij > tol, np.inf, 0.0))
                at = int(np.argmax(r))
                if r[at] > ratio:
                    ratio, ratio_at = float(r[at]), t[at]
    trials = n_samples if n >= 3 else 0
    lower, upper = clopper_pearson(violations.count, trials) if trials else (0.0, 0.0)
    report: dict[str, Any] = {
        "holds": violations.count == 0,
        "method": "sampled",
        "complete": False,
        "triplets_sampled": trials,
        "triplets_violated": violations.count,
        "violation_rate": violations.count / trials if trials else 0.0,
        "confidence": CONFIDENCE,
        "rate_interval": [lower, upper],
        "seed": seed,
        **{key: value for key, value in violations.summary().items() if key != "violations"},
    }
    witnesses = [_triplet_witness(D, i, j, k, combine, name) for i, j, k in violations.worst_points.tolist()]
    if witnesses:
        report["witness"] = witnesses[0]
        report["witnesses"] = witnesses
    if combine is np.add:
        factor: dict[str, Any] = {"value": None, "at_least": max(ratio, 1.0)}
        if ratio > 1.0 and ratio_at is not None:
            factor["witness"] = _triplet_witness(D, *map(int, ratio_at), combine, name)
        report["relaxation_factor"] = factor
    return report


# --- Euclidean embeddability ------------------------------------------------------------


def euclidean_embedding(D: np.ndarray, tol: Tolerance) -> dict[str, Any]:
    """Can the points be placed in a Euclidean space with exactly these distances?

    Yes if and only if B = -1/2 J (D∘D) J, J = I - 11ᵀ/n, is positive semi-definite
    (Schoenberg, "Remarks to Maurice Fréchet's article...", Ann. Math. 36(3), 1935;
    Young & Householder, Psychometrika 3(1), 1938: classical multidimensional scaling),
    and the number of positive eigenvalues is the smallest dimension that holds them.
    An eigenvalue counts as negative below -(atol + rtol · max|λ|). Needs one n x n
    matrix besides D and O(n³) time: an option, not part of the verdict.
    """
    from scipy.linalg import eigh

    n = D.shape[0]
    # on D / 2^e, exactly, so that D∘D cannot overflow (a D holding 1e308); eigenvalues scale by 4^e
    top = float(np.max(np.abs(D), initial=0.0))
    exponent = int(np.frexp(top)[1]) if np.isfinite(top) and not 1e-100 < top < 1e100 and top > 0 else 0
    D = np.ldexp(D, -exponent)
    B = np.empty((n, n))
    row_means = np.empty(n)
    for rows in kernels.row_blocks(n, _PAIR_TILE_ROWS):
        B[rows] = np.square(D[rows])
        row_means[rows] = B[rows].mean(axis=1)
    if not np.array_equal(D, D.T):
        # B needs a symmetric D; average the two triangles rather than refuse
        for rows in kernels.row_blocks(n, _PAIR_TILE_ROWS):
            B[rows] = (np.square(D[rows]) + np.square(D[:, rows].T)) / 2
        row_means = B.mean(axis=1)
    total = float(row_means.mean())
    for rows in kernels.row_blocks(n, _PAIR_TILE_ROWS):
        B[rows] -= row_means[rows, None]
        B[rows] -= row_means[None, :]
        B[rows] += total
        B[rows] *= -0.5
    scaled = eigh(B, eigvals_only=True, overwrite_a=True, check_finite=False)
    cut = float(np.ldexp(tol.atol, -2 * exponent)) + tol.rtol * float(np.abs(scaled).max(initial=0.0))
    negative = scaled < -cut
    fraction = float(np.abs(scaled[negative]).sum()) / float(np.abs(scaled).sum() or 1.0)
    with np.errstate(over="ignore"):  # eigenvalues of D∘D at 1e308 are past float64: reported as inf
        values, threshold = np.ldexp(scaled, 2 * exponent), float(np.ldexp(cut, 2 * exponent))
    return {
        "embeddable": not negative.any(),
        "dimension": int(np.count_nonzero(scaled > cut)),
        "negative_eigenvalues": int(negative.sum()),
        "min_eigenvalue": float(values.min()),
        "max_eigenvalue": float(values.max()),
        "negative_fraction": fraction,
        "threshold": threshold,
    }


# --- the whole check ---------------------------------------------------------------------


def distance_verdict(holds: dict[str, bool]) -> str:
    """metric / pseudometric / semimetric / quasimetric / not a distance, from the axioms."""
    if not (holds["non_negativity"] and holds["zero_self_distance"]):
        return "not a distance"
    if holds["symmetry"]:
        if not holds["triangle_inequality"]:
            return "semimetric"
        return "metric" if holds["identity_of_indiscernibles"] else "pseudometric"
    return "quasimetric" if holds["triangle_inequality"] else "not a distance"


def _pair_witnesses(D: np.ndarray, v: Violations, name: _Namer) -> list[dict[str, Any]]:
    return [
        {"i": name(i), "j": name(j), "rows": [i, j], "d_ij": float(D[i, j]), "d_ji": float(D[j, i])}
        for i, j in v.worst_points.tolist()
    ]


def _with_witnesses(entry: dict[str, Any], witnesses: list[dict[str, Any]]) -> dict[str, Any]:
    if witnesses:
        entry["witness"] = witnesses[0]
        entry["witnesses"] = witnesses
    return entry


@kernels.overflow_is_inf
def check_distance(
    D: Any,
    ids: Sequence[str] | None = None,
    *,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
    ultrametric: bool = False,
    euclidean: bool = False,
    fail_fast: bool = False,
    sample: int | None = None,
    seed: int = 0,
    n_witnesses: int = DEFAULT_WITNESSES,
    n_jobs: int | None = None,
    progress: Progress | None = None,
    run_tiles: TileRunner | None = None,
) -> dict[str, Any]:
    """Check the metric axioms for the distance matrix ``D`` (n x n).

    Returns a JSON-ready report shaped like :func:`~metricli.axioms.check_mahalanobis`:
    ``verdict``, ``holds`` (a metric), ``tolerance``, ``axioms`` (each with ``holds``,
    counts, the worst violation size and its quantiles, and witnesses by id when ``ids``
    name the rows), and ``notes``. ``sample`` checks that many random triplets instead of
    all n³ (all of them, exactly, when ``sample`` is at least their number); ``fail_fast`` stops the triplet search at the first violation; ``euclidean``
    adds ``euclidean_embedding`` (:func:`euclidean_embedding`). ``run_tiles`` runs the
    exhaustive triangle (and ultrametric) pass elsewhere, e.g. on a Dask cluster
    (:class:`metricli.engines.dask.TriangleTiles`); the O(n²) axioms stay on ``n_jobs`` threads.
    """
    D = as_distance_matrix(D)
    n = D.shape[0]
    if n_witnesses < 1:
        raise MetricliError(f"at least one witness per axiom; got n_witnesses={n_witnesses}")
    if ids is not None and len(ids) != n:
        raise MetricliError(f"{len(ids)} ids for a {n}x{n} distance matrix")
    tol = tolerance(D, rtol, atol)
    t = tol.threshold
    name = _Namer(ids)
    every = n * (n - 1) * (n - 2)  # ordered triplets of distinct points
    sample_asked, exhaustive_instead = sample, sample is not None and sample >= every
    if exhaustive_instead:  # as many draws as there are triplets: the exact pass is cheaper
        sample = None

    diag = np.diagonal(D)
    off = np.flatnonzero(np.abs(diag) > t)
    self_distance = Violations(n, 1, n_witnesses)
    self_distance.add(np.abs(diag[off]), off[:, None])
    pairs = _pair_axioms(D, t, n_witnesses, n_jobs)
    n_pairs = n * (n - 1) // 2
    exactly_symmetric = pairs.max_asymmetry == 0.0

    axioms: dict[str, Any] = {}
    axioms["non_negativity"] = _with_witnesses(
        {
            "holds": pairs.negative.count == 0,
            "checked": 2 * n_pairs,
            "min_off_diagonal": _min_off_diagonal(D),
            **pairs.negative.summary(),
        },
        [
            {"i": name(i), "j": name(j), "rows": [i, j], "d_ij": float(D[i, j])}
            for i, j in pairs.negative.worst_points.tolist()
        ],
    )
    axioms["zero_self_distance"] = _with_witnesses(
        {"holds": self_distance.count == 0, "checked": n, **self_distance.summary()},
        [{"i": name(i), "rows": [i], "d_ii": float(D[i, i])} for (i,) in self_distance.worst_points.tolist()],
    )
    axioms["symmetry"] = _with_witnesses(
        {
            "holds": pairs.asymmetric.count == 0,
            "checked": n_pairs,
            "max_asymmetry": pairs.max_asymmetry,
            "exactly_symmetric": exactly_symmetric,
            **pairs.asymmetric.summary(),
        },
        _pair_witnesses(D, pairs.asymmetric, name),
    )
    zero = pairs.zero_pairs
    axioms["identity_of_indiscernibles"] = _with_witnesses(
        {"holds": zero.count == 0, "checked": n_pairs, "violations": zero.count},
        _pair_witnesses(D, zero, name),
    )

    inequalities = [("triangle_inequality", np.add)] + ([("ultrametric", np.maximum)] if ultrametric else [])
    for key, combine in inequalities:
        if sample is not None:
            axioms[key] = sampled_triangle_check(
                D, t, sample, seed=seed, combine=combine, n_witnesses=n_witnesses, name=name
            )
        else:
            found = triangle_check(
                D,
                t,
                symmetric=exactly_symmetric,
                combine=combine,
                fail_fast=fail_fast,
                n_witnesses=n_witnesses,
                n_jobs=n_jobs,
                progress=progress,
                run_tiles=run_tiles,
            )
            axioms[key] = _triangle_report(D, found, symmetric=exactly_symmetric, combine=combine, name=name)

    holds = {key: bool(axioms[key]["holds"]) for key in axioms}
    verdict = distance_verdict(holds)
    report = {
        "kind": "distance",
        "verdict": verdict,
        "holds": verdict == "metric",
        "n_points": n,
        "ids": name.ids is not None,
        "tolerance": tol.as_dict(),
        "axioms": axioms,
        "notes": _notes(verdict, axioms, fail_fast=fail_fast, sample=sample),
    }
    if exhaustive_instead:
        report["notes"].append(
            f"--sample {sample_asked} is at least the number of triplets (n(n-1)(n-2) = {every} ordered): "
            "checked all of them exactly instead"
        )
    if euclidean:
        report["euclidean_embedding"] = euclidean_embedding(D, tol)
        if not exactly_symmetric:
            report["notes"].append("Euclidean embedding tested on the symmetric part of D∘D")
    return report


def _min_off_diagonal(D: np.ndarray) -> float | None:
    n = D.shape[0]
    if n < 2:
        return None
    smallest = np.inf
    for rows in kernels.row_blocks(n, _PAIR_TILE_ROWS):
        block = D[rows].copy()
        block[np.arange(rows.stop - rows.start), np.arange(rows.start, rows.stop)] = np.inf
        smallest = min(smallest, float(block.min()))
    return smallest


def _notes(verdict: str, axioms: dict[str, Any], *, fail_fast: bool, sample: int | None) -> list[str]:
    holds = {key: axioms[key]["holds"] for key in axioms}
    notes = []
    if verdict == "semimetric" and not holds["identity_of_indiscernibles"]:
        notes.append("distinct points are also at distance 0 (identity of indiscernibles fails)")
    if verdict == "quasimetric" and not holds["identity_of_indiscernibles"]:
        notes.append("distinct points are at distance 0: a quasi-pseudometric")
    if verdict == "not a distance" and holds["non_negativity"] and holds["zero_self_distance"]:
        notes.append("neither symmetric nor satisfying the triangle inequality")
    triangle = axioms["triangle_inequality"]
    if sample is not None:
        low, high = triangle["rate_interval"]
        notes.append(
            f"triangle inequality checked on {triangle['triplets_sampled']} random triplets, not all: "
            f"violation rate {triangle['violation_rate']:.3g}, {CONFIDENCE:.0%} interval [{low:.3g}, {high:.3g}]"
        )
    elif fail_fast and not triangle["complete"]:
        notes.append("stopped at the first triangle violation (--fail-fast): counts are lower bounds")
    if "ultrametric" in axioms and holds["ultrametric"] and verdict == "metric":
        notes.append("the metric is an ultrametric: d(i, j) <= max(d(i, k), d(k, j))")
    return notes
