"""The stochastic solvers of NCA, LMNN and MLKR over the pieces of a data set, through any engine.

The solver (:func:`metricli.learners.stochastic.run_stochastic`) runs on the caller's side
and never touches a row. It draws the minibatches and their candidates, and asks its store
of points (:class:`PartStore`, the pieces where the engine holds them: Dask workers, or
this process for the local engine) for two things:

- an epoch's steps: the batches go to the cluster in chunks, and a task takes each chunk's
  AMSGrad steps from the state the previous chunk left, on the worker that holds every
  training row (gathered there once per fit, up to GATHER_BYTES) or, above that, on the
  rows the chunk touches, gathered from the pieces (the chunks are chained on the cluster,
  so an epoch is not a round trip per batch);
- neighbour lists: exact ones (up to EXACT_LISTS_UP_TO points) by pairs of pieces, each
  piece keeping the best; approximate ones on one worker, over the projected rows z = L x
  gathered there (n x k numbers, the size of the n x m lists the solver holds anyway).

So only the batches, d x d arrays (L and the optimiser's moments) and the lists pass
through the caller; rows, raw or projected, move only between the workers. The points are
numbered as the local fit numbers them (:meth:`_plan`: by class, stably, then row order),
from the labels or targets of every row, and every random draw comes from the learner's
seed in that numbering (the generator travels to the worker that searches, and comes back
advanced): the minibatches and candidates do not depend on how the rows are partitioned,
and the fit takes the local stochastic fit's steps on the same rows. The L agrees up to
rounding: on a few hundred points to 1e-8; on 10⁵ points rounding differences between
pieces and whole (a mean, a projection) flip near-ties in the neighbour search, and the
two fits' L drift apart by a fraction of a percent over a few epochs.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from metricli.engines.base import Engine, Source, merge_all
from metricli.errors import MetricliError
from metricli.io.tables import Dataset
from metricli.kernels import knn, project
from metricli.learners.candidates import lists_of
from metricli.learners.initialization import check_spread, initial_components
from metricli.learners.optimize import block_bytes, check_solver_params
from metricli.learners.stochastic import (
    AMSGrad,
    BatchObjective,
    CandidateBatch,
    InMemoryPoints,
    Score,
    StepResult,
    check_stochastic_params,
    held_out_score,
    run_stochastic,
    split_points,
    take_steps,
)

#: the training rows go to one worker once, for the whole fit, up to this many bytes of them
#: (the n x m candidate lists the solver holds are of the same order); above, each chunk of
#: batches gathers the rows it touches, about CHUNK_BYTES of them
GATHER_BYTES = 2 * 2**30
CHUNK_BYTES = 64 * 2**20
#: with the rows on one worker, a chunk holds batches of about this many anchor and candidate slots
CHUNK_SLOTS = 2**20
#: chunks queued on the cluster at a time: the next ones' rows are gathered while one steps
IN_FLIGHT = 3

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
        self.d = int(engine.fetch(engine.submit(_width, self.parts[0]))) if self.parts else 0
        #: every training row on one worker, for the whole fit, when they take at most GATHER_BYTES
        self.gathered = (
            engine.submit(_all_rows, self.parts, self.n) if 8 * self.n * self.d <= GATHER_BYTES else None
        )
        self._objective: tuple[Any, Any] | None = None
        self._lists: tuple[np.ndarray, Any] | None = None

    def steps(
        self,
        objective: BatchObjective,
        L: np.ndarray,
        optimiser: AMSGrad,
        batches: Iterator[CandidateBatch],
        epoch: int,
        name: str,
    ) -> StepResult:
        """An epoch's AMSGrad steps where the points are, in chunks of batches.

        The batches are drawn here, in order, and sent to the cluster in chunks; a task takes
        a chunk's steps (:func:`take_steps`) from the L and optimiser state the previous
        chunk left, on the worker that holds every training row (:attr:`gathered`) or, when
        they exceed GATHER_BYTES, on the rows the chunk touches (anchors, candidates,
        targets: :meth:`objective.rows`, about CHUNK_BYTES of them), gathered from the
        pieces. The chunks are chained on the cluster, so an epoch costs a round trip per
        chunk, pipelined IN_FLIGHT deep, rather than two per batch. Rows move between
        workers only.
        """
        if self._objective is None or self._objective[0] is not objective:
            self._objective = objective, self.engine.share(objective)
        shared = self._objective[1]
        limit = CHUNK_SLOTS if self.gathered is not None else max(1, CHUNK_BYTES // (8 * self.d))
        state: Any = (L, optimiser, 0.0, {})
        chained: list[Any] = []
        for chunk in chunks_of(batches, objective, limit):
            sent = self.engine.submit(_chunk_of, chunk)
            if self.gathered is not None:
                rows, ids = self.gathered, None
            else:
                ids = self.engine.submit(_chunk_rows, shared, sent)
                found = [self.engine.submit(_rows_of, part, ids) for part in self.parts]
                rows = self.engine.submit(_assemble, found, ids)
            state = self.engine.submit(_chunk_steps, state, rows, ids, shared, sent, epoch, name)
            chained.append(state)
            if len(chained) > IN_FLIGHT:
                self.engine.fetch(chained.pop(0))  # wait: at most IN_FLIGHT chunks queued on the cluster
        return self.engine.fetch(state) if chained else state

    def nearest(self, L: np.ndarray, m: int, bounds: np.ndarray | None) -> np.ndarray:
        if bounds is None:
            m, mode = min(m, self.n - 1), "other"
        else:
            m, mode = min(m, self.n - int(np.max(np.diff(bounds)))), "other class"
        projected = [self.engine.submit(_projected, part, L) for part in self.parts]
        return self._search(projected, m, mode)

    def approximate(
        self, L: np.ndarray, m: int, bounds: np.ndarray | None, previous: np.ndarray | None, rng
    ) -> np.ndarray:
        """Approximate lists (:func:`~metricli.learners.candidates.lists_of`) on one worker.

        The pieces' rows projected, z = L x, are gathered there (n x k numbers: the size of
        the n x m lists the solver keeps here anyway; raw rows stay in the pieces), and the
        search runs on them exactly as on one machine, so the lists are the local fit's. The
        solver's generator goes along and comes back advanced, and the lists stay there as
        the next refresh's starting point: only the new lists travel back.
        """
        if self.gathered is not None:
            Z = self.engine.submit(project, self.gathered, L)
        else:
            Z = self.engine.submit(
                _all_rows, [self.engine.submit(_projected, p, L) for p in self.parts], self.n
            )
        if previous is None:
            held = None
        elif self._lists is not None and self._lists[0] is previous:
            held = self._lists[1]
        else:
            held = self.engine.share(previous)
        found = self.engine.submit(_lists_there, Z, m, bounds, held, rng, self.memory)
        lists, state = self.engine.fetch(found)
        rng.bit_generator.state = state
        self._lists = lists, self.engine.submit(_first, found)
        return lists

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


def chunks_of(
    batches: Iterator[CandidateBatch], objective: BatchObjective, limit: int
) -> Iterator[list[CandidateBatch]]:
    """The batches in order, in lists whose rows (:meth:`objective.rows`, repeats counted)
    first reach ``limit``; the last list may hold fewer."""
    chunk: list[CandidateBatch] = []
    size = 0
    for batch in batches:
        chunk.append(batch)
        size += objective.rows(batch).size
        if size >= limit:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


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


def _width(part: Part) -> int:
    return part.X.shape[1]


def _chunk_of(chunk: list[CandidateBatch]) -> list[CandidateBatch]:
    """A chunk of batches, sent to the cluster once for the tasks that need it."""
    return chunk


def _chunk_rows(objective: BatchObjective, chunk: list[CandidateBatch]) -> np.ndarray:
    """The point numbers the chunk's steps touch, increasing."""
    return np.unique(np.concatenate([objective.rows(batch) for batch in chunk]))


class GatheredPoints(InMemoryPoints):
    """Some of the training points gathered in one place: the rows of the numbers ``ids``
    (increasing); a batch's point numbers are looked up among them."""

    def __init__(self, ids: np.ndarray, X: np.ndarray) -> None:
        super().__init__(X)
        self.ids = ids

    def distances(self, L: np.ndarray, anchors: np.ndarray, others: np.ndarray) -> np.ndarray:
        return super().distances(L, np.searchsorted(self.ids, anchors), np.searchsorted(self.ids, others))


def _chunk_steps(state, X: np.ndarray, ids: np.ndarray | None, objective: BatchObjective, chunk, epoch, name):
    """A chunk's steps, from a copy of the state the previous chunk left, on every training
    row (``ids`` None) or on the rows of the point numbers ``ids`` gathered for the chunk."""
    L, optimiser, total, _ = state
    points = InMemoryPoints(X) if ids is None else GatheredPoints(ids, X)
    L, optimiser, more, info = take_steps(
        objective, points, L.copy(), copy.deepcopy(optimiser), chunk, epoch, name
    )
    return L, optimiser, total + more, info


def _projected(part: Part, L: np.ndarray) -> Part:
    return Part(part.ids, project(part.X, L))


def _all_rows(parts: list[Part], n: int) -> np.ndarray:
    """Every training point's row (raw or projected), by number, from the pieces."""
    Z = np.empty((n, parts[0].X.shape[1]))
    for part in parts:
        Z[part.ids] = part.X
    return Z


def _lists_there(Z: np.ndarray, m: int, bounds, previous, rng: np.random.Generator, memory: int):
    """(the lists, the generator's state after drawing them)."""
    return lists_of(Z, m, bounds, previous, rng, memory), rng.bit_generator.state


def _first(pair: tuple[Any, Any]) -> Any:
    return pair[0]


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
