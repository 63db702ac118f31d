"""The stochastic solvers of NCA, LMNN and MLKR over the pieces of a data set, through any engine.

The solver (:func:`metricli.learners.stochastic.run_stochastic`) runs on the caller's side
and never touches a row: it asks its store of points for the squared distances of a
batch's (anchor, candidate) pairs, for the gradient of Σ w_ij d_ij given the weights it
computed from them, and for neighbour lists. :class:`PartStore` answers from the pieces
where the engine holds them (Dask workers, or this process for the local engine):

- distances: each piece projects its rows of the batch, z = L x; one task assembles the
  batch's z and returns the b x c squared distances;
- gradient: one task turns the weights into a k-vector c_r per row of the batch
  (Σ_ij w_ij (z_i - z_j)(x_i - x_j)ᵀ = Σ_r c_r x_rᵀ), each piece returns 2 Σ c_r x_rᵀ over
  its rows (k x d), and the pieces' sums are added;
- neighbour lists: each pair of pieces gives its best candidates (exact, blocked), and
  each piece keeps the best of them; the lists (point numbers) come back.

So only k x d and d x d arrays, b x c distances and weights and the candidate lists reach
the caller; rows, raw or projected, move only between the pieces. The points are numbered
as the local fit numbers them (:meth:`_plan`: by class, stably, then row order), from the
labels or targets of every row, and every random draw comes from the learner's seed in
that numbering: the minibatches and candidates do not depend on how the rows are
partitioned, and the fit gives the local stochastic fit's L up to rounding.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from metricli.engines.base import Engine, Source, merge_all
from metricli.errors import MetricliError
from metricli.io.tables import Dataset
from metricli.kernels import knn, project
from metricli.learners.candidates import (
    best_of,
    cell_plan,
    keep_nearest,
    lloyd,
    nearest_centre,
    nearest_in_cells,
    probed_cells,
)
from metricli.learners.initialization import check_spread, initial_components
from metricli.learners.optimize import block_bytes, check_solver_params
from metricli.learners.stochastic import (
    Score,
    check_stochastic_params,
    held_out_score,
    run_stochastic,
    split_points,
)

REASON = (
    "--engine dask runs the stochastic solver: the exact solver's every pair of points does not "
    "decompose over partitions"
)


@dataclass
class Part:
    """A piece's points: their numbers (increasing) and rows (centered once the mean is known)."""

    ids: np.ndarray
    X: np.ndarray


def fit_stochastic_from_pieces(engine: Engine, learner: Any, source: Source) -> dict[str, int]:
    """Fit NCA, LMNN or MLKR with the stochastic solver on ``source`` read in pieces."""
    name = learner.name
    if learner.solver == "full":
        raise MetricliError(
            f"{name}: --solver full needs every pair of points in one place; "
            "--engine dask runs --solver stochastic (or auto)"
        )
    check_stochastic_params(name, learner.batch_size, learner.candidates, learner.max_epochs)
    check_solver_params(name, learner.max_iter, learner.tol)
    memory = block_bytes(learner.block_size, name)
    data = engine.persist(source)
    rows, y = engine.map_reduce(data, _supervision_of, _concatenate, "target" if source.target else "label")
    order = np.argsort(rows, kind="stable")
    rows, y = rows[order], y[order]
    n, d = rows.size, len(source.features)
    if n < 3:
        raise MetricliError(f"{name}: needs at least 3 points, got {n}")
    plan = learner._plan(y, n)
    number = np.empty(n, dtype=np.intp)
    number[plan.order] = np.arange(n)
    lookup = engine.share((rows, number))
    parts = [engine.submit(_make_part, piece, lookup) for piece in data.pieces]
    ranges = [engine.fetch(engine.submit(_ranges, part)) for part in parts]
    high = merge_all([r[0] for r in ranges], np.fmax)
    low = merge_all([r[1] for r in ranges], np.fmin)
    if np.all(high == low):
        raise MetricliError(f"points: all {n} rows are identical; there is no spread to learn a metric from")
    mean = merge_all([r[2] for r in ranges], np.add) / n
    check_spread(float(np.max(np.maximum(high - mean, mean - low))), name)
    parts = [engine.submit(_centered, part, mean) for part in parts]
    L0 = initial_components(
        learner.init,
        PartStatistics(engine, parts, n, d),
        learner.n_components,
        labels=plan.init_labels,
        random_state=learner.random_state,
        learner=name,
    )
    learner.solver_, learner.solver_reason_ = "stochastic", REASON
    rng = np.random.default_rng(learner.random_state)
    train, held, reference = split_points(n, plan.supervision, plan.classes, plan.keep, rng)
    score = remote_score(engine, parts, reference, held, plan)
    store = PartStore(engine, parts, train, plan.supervision[train], memory)
    result = run_stochastic(
        learner,
        store,
        plan.supervision[train],
        L0,
        plan.make_objective,
        score,
        rng,
        impostors=plan.impostors,
        reported=plan.reported,
    )
    learner._set_solver_result(result)
    return {"read": data.rows, "used": n}


# -- the store -------------------------------------------------------------------------------


class PartStore:
    """The training points in the engine's pieces, numbered 0..n-1 in the solver's order.

    The same questions as :class:`~metricli.learners.stochastic.InMemoryPoints`, answered by
    tasks where the pieces are.
    """

    def __init__(
        self, engine: Engine, parts: list[Any], train: np.ndarray, codes: np.ndarray, memory: int
    ) -> None:
        self.engine, self.n, self.memory = engine, int(train.size), memory
        train_handle = engine.share(train)
        self.parts = [engine.submit(_training_part, part, train_handle) for part in parts]
        self.codes = engine.share(codes)
        self._pairs: Any = None
        self._part_ids: list[np.ndarray] | None = None

    def distances(self, L: np.ndarray, anchors: np.ndarray, others: np.ndarray) -> np.ndarray:
        ids = np.unique(np.concatenate([anchors, others.ravel()]))
        found = [self.engine.submit(_project_ids, part, L, ids) for part in self.parts]
        self._pairs = self.engine.submit(_pair_distances, found, ids, anchors, others)
        return self.engine.fetch(self.engine.submit(_sq_dist_of, self._pairs))

    def gradient(self, weights: np.ndarray) -> np.ndarray:
        coefficients = self.engine.submit(_coefficients, self._pairs, weights)
        return _sum_there(
            self.engine, [self.engine.submit(_part_gradient, p, coefficients) for p in self.parts]
        )

    def nearest(self, L: np.ndarray, m: int, bounds: np.ndarray | None) -> np.ndarray:
        if bounds is None:
            m, mode = min(m, self.n - 1), "other"
        else:
            m, mode = min(m, self.n - int(np.max(np.diff(bounds)))), "other class"
        projected = [self.engine.submit(_projected, part, L) for part in self.parts]
        return self._search(projected, m, mode)

    def refine(
        self, L: np.ndarray, pool: np.ndarray, m: int, bounds: np.ndarray | None, fallback: np.ndarray
    ) -> np.ndarray:
        """Each point's m nearest of its ``pool``: per piece, a task carries the piece's pools
        along every piece in turn, filling in the distances to that piece's points."""
        projected = [self.engine.submit(_projected, part, L) for part in self.parts]
        codes = None if bounds is None else self.codes
        kept = []
        for ids, zp in zip(self._ids(), projected, strict=True):
            state = self.engine.submit(_pool_start, ids, pool[ids])
            for zq in projected:
                state = self.engine.submit(_pool_fill, state, zp, zq)
            kept.append(self.engine.submit(_pool_keep, state, m, codes, fallback[ids]))
        return self._collect(kept, m)

    def clustered(
        self, L: np.ndarray, m: int, bounds: np.ndarray | None, rng: np.random.Generator, fallback: np.ndarray
    ) -> np.ndarray:
        """The clustered search of :func:`~metricli.learners.candidates.clustered_lists`: k-means
        on a sample gathered on a worker, then each pair of pieces compares cells with probed cells."""
        sample, first = cell_plan(self.n, rng)
        wanted = np.sort(sample)
        projected = [self.engine.submit(_projected, part, L) for part in self.parts]
        found = [self.engine.submit(_rows_of, z, wanted) for z in projected]
        centres = self.engine.submit(_centres, found, wanted, sample, first)
        probes = self.engine.submit(probed_cells, centres)
        cells = [self.engine.submit(_cells_of, z, centres) for z in projected]
        codes = None if bounds is None else self.codes
        kept = []
        for ids, zp, cp in zip(self._ids(), projected, cells, strict=True):
            pieces = [
                self.engine.submit(_cells_pair, zp, cp, zq, cq, probes, 2 * m, codes)
                for zq, cq in zip(projected, cells, strict=True)
            ]
            kept.append(self.engine.submit(_best_of_pieces, pieces, m, fallback[ids]))
        return self._collect(kept, m)

    def _ids(self) -> list[np.ndarray]:
        """Each piece's training point numbers (increasing), fetched once."""
        if self._part_ids is None:
            self._part_ids = [self.engine.fetch(self.engine.submit(_ids_of, part)) for part in self.parts]
        return self._part_ids

    def _collect(self, kept: list[Any], m: int) -> np.ndarray:
        near = np.empty((self.n, m), dtype=np.intp)
        for ids, handle in zip(self._ids(), kept, strict=True):
            near[ids] = self.engine.fetch(handle)
        return near

    def targets(self, k: int, bounds: np.ndarray) -> np.ndarray:
        """The k nearest same-class points in the input space; a small class's spare slots hold the point itself."""
        found = self._search(self.parts, k, "same class")
        spare = found < 0
        found[spare] = np.broadcast_to(np.arange(self.n)[:, None], found.shape)[spare]
        return found

    def _search(self, points: list[Any], m: int, mode: str) -> np.ndarray:
        lists = []
        for p, queries in enumerate(points):
            found = [
                self.engine.submit(_search_pair, queries, reference, m, self.codes, mode, p == q, self.memory)
                for q, reference in enumerate(points)
            ]
            lists.append(self.engine.submit(_best, queries, found, m))
        near = np.empty((self.n, m), dtype=np.intp)
        for handle in lists:
            ids, best = self.engine.fetch(handle)
            near[ids] = best
        return near


class PartStatistics:
    """:class:`~metricli.learners.initialization.PointStatistics` of the centered pieces, summed."""

    def __init__(self, engine: Engine, parts: list[Any], n: int, d: int) -> None:
        self.engine, self.parts, self.n, self.d = engine, parts, n, d

    def scatter(self) -> np.ndarray:
        mean = _sum_there(self.engine, [self.engine.submit(_column_sums, p) for p in self.parts]) / self.n
        return _sum_there(self.engine, [self.engine.submit(_scatter, p, mean) for p in self.parts])

    def class_statistics(
        self, labels: np.ndarray, n_classes: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        handle = self.engine.share(labels)
        counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
        sums = _sum_there(
            self.engine, [self.engine.submit(_class_sums, p, handle, n_classes) for p in self.parts]
        )
        means = sums / counts[:, None]
        within = _sum_there(self.engine, [self.engine.submit(_within, p, handle, means) for p in self.parts])
        return counts, means, within


def remote_score(
    engine: Engine, parts: list[Any], reference: np.ndarray, held: np.ndarray, plan: Any
) -> Callable[[np.ndarray], Score]:
    """The held-out score of the local fit, built where the pieces are from the reference and
    held-out rows (gathered there, not here); each call returns the score only."""
    s = plan.supervision
    scorer = engine.submit(
        _build_score,
        [engine.submit(_rows_of, part, reference) for part in parts],
        [engine.submit(_rows_of, part, held) for part in parts],
        reference,
        held,
        s[reference],
        s[held],
        plan.classes,
        plan.margin,
    )

    def score(L: np.ndarray) -> Score:
        return engine.fetch(engine.submit(_apply, scorer, L))

    return score


def _sum_there(engine: Engine, handles: list[Any]) -> Any:
    """The sum of the values behind the handles, added pairwise where they are; here at the end."""
    while len(handles) > 1:
        handles = [
            engine.submit(np.add, handles[i], handles[i + 1]) if i + 1 < len(handles) else handles[i]
            for i in range(0, len(handles), 2)
        ]
    return engine.fetch(handles[0])


# -- the tasks (module functions: they run on the workers) ---------------------------------------


def _supervision_of(points: Dataset, kind: str) -> tuple[np.ndarray, np.ndarray]:
    values = points.target if kind == "target" else points.labels
    return np.asarray(points.rows), np.asarray(values)


def _concatenate(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]):
    return np.concatenate([a[0], b[0]]), np.concatenate([a[1], b[1]])


def _make_part(points: Dataset, lookup: tuple[np.ndarray, np.ndarray]) -> Part:
    rows, number = lookup
    ids = number[np.searchsorted(rows, points.rows)]
    order = np.argsort(ids)
    return Part(ids[order], np.ascontiguousarray(points.X[order], dtype=np.float64))


def _ranges(part: Part) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    d = part.X.shape[1]
    if part.ids.size == 0:
        return np.full(d, -np.inf), np.full(d, np.inf), np.zeros(d)
    return part.X.max(axis=0), part.X.min(axis=0), part.X.sum(axis=0)


def _centered(part: Part, mean: np.ndarray) -> Part:
    return Part(part.ids, part.X - mean)


def _column_sums(part: Part) -> np.ndarray:
    return part.X.sum(axis=0)


def _scatter(part: Part, mean: np.ndarray) -> np.ndarray:
    centered = part.X - mean
    return centered.T @ centered


def _class_sums(part: Part, labels: np.ndarray, n_classes: int) -> np.ndarray:
    sums = np.zeros((n_classes, part.X.shape[1]))
    np.add.at(sums, labels[part.ids], part.X)
    return sums


def _within(part: Part, labels: np.ndarray, means: np.ndarray) -> np.ndarray:
    within = part.X - means[labels[part.ids]]
    return within.T @ within


def _training_part(part: Part, train: np.ndarray) -> Part:
    """The training points of a piece, numbered by their place in ``train`` (sorted)."""
    place = np.searchsorted(train, part.ids)
    inside = place < train.size
    inside[inside] = train[place[inside]] == part.ids[inside]
    return Part(place[inside], part.X[inside])


def _locate(ids: np.ndarray, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mask over ``wanted`` of those in ``ids``, their positions in ``ids``); ids increasing."""
    if ids.size == 0:
        return np.zeros(wanted.size, dtype=bool), np.empty(0, dtype=np.intp)
    place = np.minimum(np.searchsorted(ids, wanted), ids.size - 1)
    found = ids[place] == wanted
    return found, place[found]


def _project_ids(part: Part, L: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    found, place = _locate(part.ids, ids)
    return ids[found], part.X[place] @ L.T


@dataclass
class _Pairs:
    ids: np.ndarray
    Z: np.ndarray
    anchors: np.ndarray  # positions in ids
    others: np.ndarray
    sq_dist: np.ndarray


def _pair_distances(found: list[tuple[np.ndarray, np.ndarray]], ids, anchors, others) -> _Pairs:
    Z = np.empty((ids.size, found[0][1].shape[1]))
    for got, z in found:
        Z[np.searchsorted(ids, got)] = z
    a, o = np.searchsorted(ids, anchors), np.searchsorted(ids, others)
    diff = Z[a][:, None, :] - Z[o]
    return _Pairs(ids, Z, a, o, np.einsum("bck,bck->bc", diff, diff))


def _sq_dist_of(pairs: _Pairs) -> np.ndarray:
    return pairs.sq_dist


def _coefficients(pairs: _Pairs, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """c_r = Σ_{(r, j)} w_rj (z_r - z_j) - Σ_{(i, r)} w_ir (z_i - z_r) for each row r of the batch."""
    v = weights[..., None] * (pairs.Z[pairs.anchors][:, None, :] - pairs.Z[pairs.others])
    k = v.shape[-1]
    C = np.zeros((pairs.ids.size, k))
    np.add.at(C, pairs.anchors, v.sum(axis=1))
    np.add.at(C, pairs.others.ravel(), -v.reshape(-1, k))
    return pairs.ids, C


def _part_gradient(part: Part, coefficients: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    ids, C = coefficients
    found, place = _locate(part.ids, ids)
    return 2.0 * C[found].T @ part.X[place]


def _projected(part: Part, L: np.ndarray) -> Part:
    return Part(part.ids, project(part.X, L))


def _ids_of(part: Part) -> np.ndarray:
    return part.ids


def _pool_start(ids: np.ndarray, pool: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return ids, pool, np.full(pool.shape, np.inf)


def _pool_fill(state, zp: Part, zq: Part):
    """The distances from the rows of piece p (``zp``, the pools' rows in order) to their pool
    entries held by piece q, filled in."""
    ids, pool, sq_dist = state
    found, place = _locate(zq.ids, pool.ravel())
    if place.size:
        diff = zq.X[place] - zp.X[np.flatnonzero(found) // pool.shape[1]]
        sq_dist = sq_dist.copy()
        sq_dist.ravel()[found] = np.einsum("fk,fk->f", diff, diff)
    return ids, pool, sq_dist


def _pool_keep(state, m: int, codes: np.ndarray | None, fallback: np.ndarray) -> np.ndarray:
    ids, pool, sq_dist = state
    return keep_nearest(sq_dist, pool, ids, m, codes, fallback)


def _centres(found: list[tuple[np.ndarray, np.ndarray]], wanted: np.ndarray, sample, first) -> np.ndarray:
    rows = _assemble(found, wanted)
    return lloyd(rows[np.searchsorted(wanted, sample)], first)


def _cells_of(z: Part, centres: np.ndarray) -> np.ndarray:
    return nearest_centre(z.X, centres)


def _cells_pair(zp: Part, cp, zq: Part, cq, probes, width: int, codes) -> tuple[np.ndarray, np.ndarray]:
    return nearest_in_cells(zp.X, zp.ids, cp, zq.X, zq.ids, cq, probes, width, codes)


def _best_of_pieces(pieces: list[tuple[np.ndarray, np.ndarray]], m: int, fallback: np.ndarray) -> np.ndarray:
    found = np.concatenate([p[0] for p in pieces], axis=1)
    dist = np.concatenate([p[1] for p in pieces], axis=1)
    return best_of(found, dist, m, fallback)


def _search_pair(
    queries: Part, reference: Part, m: int, codes: np.ndarray, mode: str, same: bool, memory: int
) -> tuple[np.ndarray, np.ndarray]:
    """Up to m nearest reference points of each query (numbers, squared distances; -1 and inf
    where fewer): any other point, points of another class, or other points of the same class."""
    idx = np.full((queries.ids.size, m), -1, dtype=np.intp)
    dist = np.full((queries.ids.size, m), np.inf)
    if queries.ids.size == 0 or reference.ids.size == 0 or m == 0:
        return idx, dist
    if mode == "other":
        groups = [(np.arange(queries.ids.size), np.arange(reference.ids.size))]
    else:
        q_codes, r_codes = codes[queries.ids], codes[reference.ids]
        groups = [
            (
                np.flatnonzero(q_codes == c),
                np.flatnonzero((r_codes != c) if mode == "other class" else (r_codes == c)),
            )
            for c in np.unique(q_codes)
        ]
    for q, r in groups:
        exclude = np.searchsorted(r, q) if same and mode != "other class" else None
        k = min(m, r.size - (1 if exclude is not None else 0))
        if k <= 0:
            continue
        found, d = knn(queries.X[q], reference.X[r], k, exclude=exclude, block_bytes=memory)
        idx[q, :k] = reference.ids[r[found]]
        dist[q, :k] = d
    return idx, dist


def _best(queries: Part, found: list[tuple[np.ndarray, np.ndarray]], m: int) -> tuple[np.ndarray, np.ndarray]:
    """The m nearest over all pieces, ties to the lower number, as the one-machine search breaks them."""
    idx = np.concatenate([f[0] for f in found], axis=1)
    dist = np.concatenate([f[1] for f in found], axis=1)
    order = np.lexsort((np.where(idx < 0, np.iinfo(np.intp).max, idx), dist), axis=-1)[:, :m]
    return queries.ids, np.take_along_axis(idx, order, axis=1)


def _rows_of(part: Part, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    found, place = _locate(part.ids, ids)
    return ids[found], part.X[place]


def _assemble(pieces: list[tuple[np.ndarray, np.ndarray]], ids: np.ndarray) -> np.ndarray:
    X = np.empty((ids.size, pieces[0][1].shape[1]))
    for got, rows in pieces:
        X[np.searchsorted(ids, got)] = rows
    return X


def _build_score(reference_rows, held_rows, reference, held, s_reference, s_held, classes, margin):
    return held_out_score(
        _assemble(reference_rows, reference), s_reference, _assemble(held_rows, held), s_held, classes, margin
    )


def _apply(score: Callable[[np.ndarray], Score], L: np.ndarray) -> Score:
    return score(L)
