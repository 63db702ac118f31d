"""The data operations, written once against the :class:`~metricli.engines.base.Engine` interface.

Each operation is a function of one piece of points (a streamed batch or a Dask
partition) plus, for the searches, a merge; the engine decides where the pieces are read
and where the functions run. The numbers are those of :mod:`metricli.kernels`,
:mod:`metricli.evaluation` and :mod:`metricli.statistics`, whichever engine runs them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from metricli.engines.base import Engine, Output, Pass, Source
from metricli.errors import MetricliError
from metricli.evaluation import ClassificationScorer, RegressionScorer
from metricli.io.tables import Dataset
from metricli.kernels import NeighbourAnswers, StreamingNeighbors, iter_sq_distances, project, row_blocks
from metricli.lazy import pd
from metricli.statistics import ChunkStats, ScatterStats

#: pairwise values computed (and written) per block; the output frame is a few times this
DISTANCE_BLOCK_BYTES = 16 * 2**20

#: reference rows searched at a time when the reference is in memory
REFERENCE_CHUNK = 65_536


def row_keys(points: Dataset) -> np.ndarray:
    """How output rows name a point: its id value, else its 0-based row in the data set."""
    if points.id_values is not None:
        return points.id_values
    return points.ids if points.ids is not None else points.rows


def components(L: np.ndarray) -> list[str]:
    return [f"c{i}" for i in range(L.shape[0])]


# -- transform ---------------------------------------------------------------------------------


def transform(engine: Engine, L: np.ndarray, source: Source, output: Output | None = None) -> Pass:
    """x -> L x for every row of ``source`` (columns c0, c1, ...), after its ``keep`` columns."""
    if output is None:
        output = Output(None, pd.DataFrame(columns=[*source.keep, *components(L)]))
    return engine.map(source, _transform_piece, L, output)


def transform_empty(L: np.ndarray, keep: list[str]) -> pd.DataFrame:
    return pd.DataFrame(columns=[*keep, *components(L)])


def _transform_piece(points: Dataset, L: np.ndarray) -> tuple[list[pd.DataFrame], None]:
    frame = pd.DataFrame(project(points.X, L), columns=components(L))
    for column in reversed(list(points.extra)):
        frame.insert(0, column, points.extra[column].to_numpy())
    return [frame], None


# -- distances to a second set -------------------------------------------------------------------


class DistanceLayout:
    """How distance blocks become output rows: long (i, j, d) or square, d or d²."""

    def __init__(self, squared: bool, square: bool, id_column: str | None) -> None:
        self.squared, self.square, self.id_column = squared, square, id_column
        self.value = "d2" if squared else "d"

    def finish(self, D: np.ndarray) -> np.ndarray:
        return D if self.squared else np.sqrt(D, out=D)

    def matrix_rows(self, D: np.ndarray, row_keys: np.ndarray, column_keys: np.ndarray) -> pd.DataFrame:
        frame = pd.DataFrame(D, columns=[str(k) for k in column_keys])
        if self.id_column is not None:
            frame.insert(0, self.id_column, row_keys)
        return frame

    def empty(self, column_keys: np.ndarray | None = None) -> pd.DataFrame:
        if self.square:
            keys = [] if column_keys is None else [str(k) for k in column_keys]
            return pd.DataFrame(columns=([self.id_column] if self.id_column else []) + keys)
        return pd.DataFrame(columns=["i", "j", self.value])


def distances_to(
    engine: Engine,
    L: np.ndarray,
    source: Source,
    other: Dataset,
    layout: DistanceLayout,
    output: Output | None = None,
) -> Pass:
    """d(x, y) for every row x of ``source`` and y of ``other`` (held in memory), in the learned space."""
    other_keys = row_keys(other)
    if output is None:
        output = Output(None, layout.empty(other_keys))
    shared = (L, project(other.X, L), other_keys, layout)
    return engine.map(source, _distance_piece, shared, output)


def _distance_piece(points: Dataset, shared: tuple[Any, ...]) -> tuple[Iterator[pd.DataFrame], None]:
    return distance_rows(points, *shared), None


def distance_rows(
    points: Dataset, L: np.ndarray, Z_other: np.ndarray, other_keys: np.ndarray, layout: DistanceLayout
) -> Iterator[pd.DataFrame]:
    """The output rows for a piece of DATA against all of OTHER, block by block."""
    Z = project(points.X, L)
    keys = row_keys(points)
    m = Z_other.shape[0]
    for rows, D in iter_sq_distances(Z, Z_other, DISTANCE_BLOCK_BYTES, exact=True):
        layout.finish(D)
        if layout.square:
            yield layout.matrix_rows(D, keys[rows], other_keys)
        else:
            yield pd.DataFrame(
                {
                    "i": np.repeat(keys[rows], m),
                    "j": np.tile(other_keys, rows.stop - rows.start),
                    layout.value: D.ravel(),
                }
            )


# -- k nearest neighbours ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Search:
    """What was asked: the k nearest, everything within radius, or at most k within radius.
    ``exclude_self``: queries and reference are the same rows; a row is not its own neighbour."""

    k: int | None
    radius: float | None
    exclude_self: bool = False


NEIGHBOUR_COLUMNS = ["query", "rank", "reference", "d"]


def neighbour_rows(
    query_keys: np.ndarray,
    counts: np.ndarray,
    reference_keys: np.ndarray,
    sq: np.ndarray,
    kept: dict[str, pd.Series] | None = None,
) -> pd.DataFrame:
    """The output table: the query rows' ``kept`` columns, then query, rank, reference, d;
    ``counts`` neighbours per query row, nearest first."""
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    carried = {column: np.repeat(values.to_numpy(), counts) for column, values in (kept or {}).items()}
    return pd.DataFrame(
        {
            **carried,
            "query": np.repeat(query_keys, counts),
            "rank": np.arange(sq.size) - starts + 1,
            "reference": reference_keys,
            "d": np.sqrt(sq),
        }
    )


def neighbour_columns(keep: Sequence[str] = ()) -> list[str]:
    """The columns of the neighbour table; a kept column may not take one of their names."""
    clash = [c for c in keep if c in NEIGHBOUR_COLUMNS]
    if clash:
        raise MetricliError(
            f"--keep {clash[0]}: the neighbour table has its own '{clash[0]}' column; rename that column"
        )
    return [*keep, *NEIGHBOUR_COLUMNS]


def check_k(search: Search, available: int, reference: str) -> None:
    """-k must not exceed the reference rows (less the row itself with exclude_self)."""
    available -= search.exclude_self
    if search.k is not None and search.k > available:
        raise MetricliError(
            f"-k {search.k} is larger than the {available} rows of {reference}"
            + (" (not counting the row itself)" if search.exclude_self else "")
            + "; choose a smaller -k"
        )


def neighbors_of_queries(
    engine: Engine,
    L: np.ndarray,
    reference: Dataset,
    query: Source,
    search: Search,
    output: Output | None = None,
) -> Pass:
    """The reference held in memory (on every worker); ``query`` read in pieces, each searched
    against it and written as it is done."""
    check_k(search, reference.n_samples, reference.name)
    if output is None:
        output = Output(None, pd.DataFrame(columns=neighbour_columns(query.keep)))
    shared = (L, project(reference.X, L), reference, search)
    return engine.map(query, _query_piece, shared, output)


def _query_piece(points: Dataset, shared: tuple[Any, ...]) -> tuple[list[pd.DataFrame], None]:
    L, Z_ref, ref, search = shared
    if points.n_samples == 0:
        return [], None
    Z = project(points.X, L)
    exclude = np.searchsorted(ref.rows, points.rows) if search.exclude_self else None
    found = StreamingNeighbors(Z, k=search.k, radius=search.radius, exclude=exclude, exact=True)
    # the reference in chunks: after the first, only rows closer than a query's k-th are looked at
    for part in row_blocks(Z_ref.shape[0], REFERENCE_CHUNK):
        found.add(Z_ref[part], np.arange(part.start, part.stop))
    offsets, idx, sq = found.result()
    return [neighbour_rows(row_keys(points), np.diff(offsets), row_keys(ref)[idx], sq, points.extra)], None


def neighbors_in_reference(
    engine: Engine, L: np.ndarray, reference: Source, queries: Dataset, search: Search
) -> tuple[pd.DataFrame, int]:
    """The queries held in memory (on every worker); ``reference`` read in pieces past them, the
    answers of the pieces merged, ties to the earlier reference row exactly as in one pass.
    Returns the neighbour table and the number of reference rows."""
    # reference rows are known by their row in the data set, which also orders ties
    exclude = queries.rows if search.exclude_self else None
    shared = (project(queries.X, L), L, exclude, search)
    (answers, ids, n_reference), _ = engine.fold(
        reference, _start_search, _search_piece, _finish_search, _merge_found, shared
    )
    check_k(search, n_reference, reference.name)
    offsets, idx, sq = answers.result()
    keys = np.array([ids[r] for r in idx.tolist()], dtype=object) if reference.id_column else idx
    return neighbour_rows(row_keys(queries), np.diff(offsets), keys, sq, queries.extra), n_reference


def _start_search(shared: tuple[Any, ...]) -> list[Any]:
    Z_query, _, exclude, search = shared
    found = StreamingNeighbors(Z_query, k=search.k, radius=search.radius, exclude=exclude, exact=True)
    return [found, {}, 0]


def _search_piece(state: list[Any], points: Dataset, shared: tuple[Any, ...]) -> list[Any]:
    found, ids, _ = state
    found.add(project(points.X, shared[1]), points.rows)
    state[2] += points.n_samples
    if points.ids is not None:  # keep the ids of the rows that are answers so far, no more
        held = found.held()
        state[1] = ids = {r: ids[r] for r in held if r in ids}
        fresh = np.isin(points.rows, held)
        ids.update(zip(points.rows[fresh].tolist(), row_keys(points)[fresh].tolist(), strict=True))
    return state


def _finish_search(state: list[Any], shared: Any) -> tuple[NeighbourAnswers, dict[int, str], int]:
    found, ids, n = state
    answers = found.answers()
    if ids:
        ids = {r: ids[r] for r in answers.held().tolist() if r in ids}
    return answers, ids, n


def _merge_found(
    a: tuple[NeighbourAnswers, dict[int, str], int], b: tuple[NeighbourAnswers, dict[int, str], int]
) -> tuple[NeighbourAnswers, dict[int, str], int]:
    answers = a[0].merge(b[0])
    ids = {}
    if a[1] or b[1]:
        both = a[1] | b[1]
        ids = {r: both[r] for r in answers.held().tolist()}
    return answers, ids, a[2] + b[2]


# -- the neighbour index (metricli.io.index) ---------------------------------------------------------


def build_index(engine: Engine, L: np.ndarray, source: Source, builder: Any) -> tuple[Any, Pass]:
    """Every row of ``source`` projected (x -> L x) and added to ``builder`` (an
    :class:`~metricli.io.index.IndexBuilder`) batch by batch, with its row and id."""
    return engine.fold(source, _start_index, _index_add, _as_is, _no_merge, (L, builder))


def _start_index(shared: tuple[Any, Any]) -> Any:
    return shared[1]


def _index_add(builder: Any, points: Dataset, shared: tuple[Any, Any]) -> Any:
    builder.add(
        project(points.X, shared[0]), points.rows, row_keys(points) if points.ids is not None else None
    )
    return builder


def _no_merge(a: Any, b: Any) -> Any:
    raise MetricliError("the neighbour index is built in one process; use --engine local")


def neighbors_from_index(
    engine: Engine,
    L: np.ndarray,
    index: Any,
    keys: np.ndarray,
    query: Source,
    search: Search,
    ef: int | None = None,
    output: Output | None = None,
) -> Pass:
    """``query`` read in pieces, each projected and searched in the (approximate) ``index``
    (a loaded :class:`~metricli.io.index.NeighbourIndex` whose points are named by ``keys``)
    with ``ef`` candidates per query, its neighbours written as each piece is done."""
    assert search.k is not None and search.radius is None
    check_k(search, index.n, str(index.path))
    if output is None:
        output = Output(None, pd.DataFrame(columns=neighbour_columns(query.keep)))
    return engine.map(query, _index_piece, (L, index, keys, search, ef), output)


def _index_piece(points: Dataset, shared: tuple[Any, ...]) -> tuple[list[pd.DataFrame], None]:
    L, index, keys, search, ef = shared
    if points.n_samples == 0:
        return [], None
    k = search.k
    idx, sq = index.search(project(points.X, L), k + search.exclude_self, ef)
    found = idx >= 0
    if search.exclude_self:
        # the row itself is not its own neighbour; when the search missed it, drop the farthest
        found &= index.rows[np.maximum(idx, 0)] != points.rows[:, None]
        found &= np.cumsum(found, axis=1) <= k
    counts = found.sum(axis=1)
    return [neighbour_rows(row_keys(points), counts, keys[idx[found]], sq[found], points.extra)], None


# -- kNN scoring -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Space:
    """Where kNN runs: x -> L x (the learned metric), or x -> x / scale (the Euclidean baseline)."""

    L: np.ndarray | None = None
    scale: np.ndarray | None = None

    def __call__(self, X: np.ndarray) -> np.ndarray:
        if self.L is not None:
            return project(X, self.L)
        return X / self.scale if self.scale is not None else X


@dataclass(frozen=True)
class References:
    """The reference rows in each space and their labels or targets: what a scorer is built from."""

    points: dict[str, np.ndarray]
    truth: np.ndarray
    classification: bool
    k: int
    retrieval: bool
    name: str

    def scorers(self) -> dict[str, ClassificationScorer | RegressionScorer]:
        if self.classification:
            return {
                side: ClassificationScorer(Z, self.truth, self.k, retrieval=self.retrieval, what=self.name)
                for side, Z in self.points.items()
            }
        return {
            side: RegressionScorer(Z, self.truth, self.k, what=self.name) for side, Z in self.points.items()
        }


def prediction_columns(key: str, truth: str) -> list[str]:
    return [key, truth, "predicted", "predicted_euclidean"]


def score(
    engine: Engine,
    source: Source,
    spaces: dict[str, Space],
    references: References,
    output: Output | None = None,
) -> tuple[dict[str, ClassificationScorer | RegressionScorer], int, Pass]:
    """kNN vote (labels) or mean (targets) of each row of ``source`` against the references, in
    each space; the scorers hold the sums of every piece. Returns (scorers, rows skipped for a
    blank label, the pass)."""
    scorers = references.scorers()  # checks k against the reference before any piece is read
    columns = {"key": source.id_column or "row", "truth": source.label or source.target}
    done = engine.map(source, _score_piece, (spaces, references, columns, output is not None), output)
    skipped = 0
    for dropped, counts in done.values:
        skipped += dropped
        for side, scorer in scorers.items():
            scorer.absorb(counts[side])
    return scorers, skipped, done


def _score_piece(points: Dataset, shared: tuple[Any, ...]) -> tuple[list[pd.DataFrame], Any]:
    spaces, references, columns, write = shared
    scorers = references.scorers()
    classification = points.labels is not None
    keep = points.labelled if classification else np.ones(points.n_samples, dtype=bool)
    X = points.X[keep]
    truth = points.labels[keep].astype(str) if classification else points.target
    predicted = {side: scorers[side].add(space(X), truth) for side, space in spaces.items()}
    counts = {side: scorer.counts() for side, scorer in scorers.items()}
    if not write:
        return [], (int((~keep).sum()), counts)
    frame = pd.DataFrame(
        {
            columns["key"]: row_keys(points)[keep],
            columns["truth"]: truth,
            "predicted": predicted["learned"],
            "predicted_euclidean": predicted["euclidean"],
        }
    )
    return [frame], (int((~keep).sum()), counts)


# -- sufficient statistics for the closed-form learners ----------------------------------------------------


def scatter_statistics(engine: Engine, source: Source) -> ScatterStats:
    """Count, mean and scatter of the feature columns, summed over the pieces (Chan et al. 1979)."""
    stats, _ = engine.fold(source, _no_stats, _add_scatter, _as_is, _combine, None)
    return stats if stats is not None else ScatterStats.empty(len(source.features))


def chunk_statistics(
    engine: Engine, source: Source, column: str | None = None, ids: np.ndarray | None = None
) -> tuple[ChunkStats, Pass]:
    """Per-chunklet counts, means and scatter, merged by chunk, so chunklets may span pieces.

    The chunk of each row is read from ``column`` of the data (in ``source.keep``; blank or -1:
    in none), or given as ``ids`` (one per row of the data set, -1: in none)."""
    return engine.fold(source, _no_stats, _add_chunks, _as_is, _combine, (column, ids))


def gather_rows(engine: Engine, source: Source, rows: np.ndarray) -> np.ndarray:
    """The feature rows numbered ``rows`` (sorted, unique), in that order: each piece hands over
    only its rows among them, so memory here is O(len(rows) · d)."""
    (found, X), done = engine.fold(source, _no_rows, _add_rows, _as_is, _concat_rows, rows)
    outside = rows[(rows < 0) | (rows >= done.read)]
    if outside.size:
        raise MetricliError(f"{source.name}: has {done.read} rows; a constraint names row {int(outside[0])}")
    return X[np.argsort(found, kind="stable")]


def _no_stats(shared: Any) -> None:
    return None


def _as_is(value: Any, shared: Any) -> Any:
    return value


def _combine(a: Any, b: Any) -> Any:
    if a is None:
        return b
    return a if b is None else a.combine(b)


def _add_scatter(stats: ScatterStats | None, points: Dataset, shared: Any) -> ScatterStats:
    return _combine(stats, ScatterStats.from_array(points.X))


def _add_chunks(stats: ChunkStats | None, points: Dataset, shared: tuple[Any, Any]) -> ChunkStats:
    from metricli.io.constraints import chunk_keys

    column, ids = shared
    if column is not None:
        keys = chunk_keys(points.extra[column])
    else:
        keys = np.array([None if i < 0 else int(i) for i in ids[points.rows].tolist()], dtype=object)
    return _combine(stats, ChunkStats.from_array(points.X, keys))


def _no_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.empty(0, dtype=np.int64), np.empty((0, 0))


def _add_rows(
    state: tuple[np.ndarray, np.ndarray], points: Dataset, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    mine = np.isin(points.rows, rows)
    return _concat_rows(state, (points.rows[mine], points.X[mine]))


def _concat_rows(
    a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    if a[1].size == 0 and a[0].size == 0:
        return b
    if b[0].size == 0:
        return a
    return np.concatenate([a[0], b[0]]), np.concatenate([a[1], b[1]])
