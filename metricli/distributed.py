"""The Dask engine: the same commands over partitioned Parquet, on one machine or a cluster.

Dask is an optional extra (``pip install 'metricli[dask]'``). Nothing here is a second
implementation of an algorithm: each partition becomes a :class:`~metricli.io.tables.Dataset`
through the same :func:`~metricli.io.tables.select_columns` as a local batch, with its rows
numbered from the start of the whole data set, and then goes through the same numpy code
as on one machine (``X @ Lᵀ``, :mod:`metricli.kernels`, :mod:`metricli.evaluation`,
:mod:`metricli.statistics`). Only small results travel back: statistics, counts, the k
best neighbours; large outputs are written by the workers, one Parquet file per partition.

Where things run: the client (the ``metricli`` process) reads the small side of a command
(a bundle, an OTHER/QUERY/REFERENCE table held in memory) and ships it to every worker
once; the workers read their partitions straight from storage, so on a real cluster the
data set and the output folder must be on storage every worker sees (a shared file system,
or an object store URL that Dask and pyarrow can open).

Row order: the partitions of a folder are its files in natural name order (part-2 before
part-10), each file's rows in order; row i of the data set is the i-th row in that order,
as if the files were one table.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from metricli.errors import MetricliError
from metricli.io.atomic import PARTS, atomic_path
from metricli.io.tables import Dataset, column_names, describe_rows, numeric_column, select_columns
from metricli.kernels import project
from metricli.statistics import ChunkStats, ScatterStats

ENGINES = ("local", "dask")


def require_dask() -> Any:
    try:
        import dask.dataframe as dd
        import distributed  # noqa: F401
    except ImportError:
        raise MetricliError(
            "--engine dask needs Dask, which is not installed; install the extra: pip install 'metricli[dask]'"
        ) from None
    return dd


@contextlib.contextmanager
def dask_client(scheduler: str | None) -> Iterator[Any]:
    """A client of the scheduler at ``scheduler`` (e.g. tcp://10.0.0.5:8786), or of a new
    local cluster with one single-threaded worker process per core."""
    require_dask()
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout="15s")
        except OSError as exc:
            raise MetricliError(f"cannot reach the Dask scheduler at {scheduler} ({exc})") from None
        with client:
            yield client
        return
    with (
        LocalCluster(processes=True, threads_per_worker=1, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        yield client


def read_parquet(path: str, columns: Sequence[str] | None = None) -> Any:
    """A partitioned Parquet data set (a file, a folder of files, or a glob) as a Dask DataFrame."""
    dd = require_dask()
    try:
        return dd.read_parquet(path, columns=list(columns) if columns else None)
    except (OSError, ValueError) as exc:
        raise MetricliError(
            f"{path}: cannot read as partitioned Parquet ({str(exc).splitlines()[0]})"
        ) from None


def _features(
    part: pd.DataFrame, names: Sequence[str], where: str, start: int = 0, numbers: np.ndarray | None = None
) -> np.ndarray:
    """The feature columns as float64; errors name rows from ``start`` (or by their ``numbers``)."""
    X = (
        np.column_stack([numeric_column(part[c], where, c, None) for c in names])
        if len(part)
        else (np.empty((0, len(names))))
    )
    bad = ~np.isfinite(X).all(axis=1)
    if bad.any():
        raise MetricliError(
            f"{where}: missing or infinite values at {describe_rows(start + np.flatnonzero(bad))}"
        )
    return X


def _transform_partition(
    part: pd.DataFrame, L: np.ndarray, names: list[str], keep: list[str], where: str
) -> pd.DataFrame:
    Y = project(_features(part, names, where), L)
    frame = pd.DataFrame(Y, columns=[f"c{i}" for i in range(L.shape[0])])
    frame.index = part.index
    for column in reversed(keep):
        frame.insert(0, column, part[column])
    return frame


def transform(ddf: Any, L: np.ndarray, names: list[str], keep: list[str], where: str) -> Any:
    """x -> L x on every partition; the result keeps the partitioning and the row order."""
    keep = column_names(keep, list(ddf.columns))
    missing = [c for c in [*names, *keep] if c not in ddf.columns]
    if missing:
        raise MetricliError(f"{where}: no column '{missing[0]}'")
    meta = _transform_partition(ddf._meta, L, names, keep, where)
    return ddf.map_partitions(_transform_partition, L, names, keep, where, meta=meta)


def write_parquet(ddf: Any, output: str, force: bool) -> int:
    """Write one Parquet file per partition into the folder ``output``, atomically; return the row count."""
    with atomic_path(output, force=force, kind=PARTS) as tmp:
        ddf.to_parquet(str(tmp), write_index=False, name_function=lambda i: f"part-{i:06d}.parquet")
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(p).metadata.num_rows for p in sorted(Path(output).glob("*.parquet")))


# --- sufficient statistics for fit --engine dask -----------------------------------------


def _combine(a: Any, b: Any) -> Any:
    return a.combine(b)


def scatter_statistics(ddf: Any, names: list[str], where: str) -> ScatterStats:
    """Count, mean and scatter of the feature columns: one ScatterStats per partition, merged on the cluster."""
    starts = partition_starts(ddf)
    parts = [
        task(_scatter_partition)(part, int(starts[i]), names, where)
        for i, part in enumerate(partitions(ddf, names))
    ]
    return compute([tree_reduce(parts, _combine)])[0]


def _scatter_partition(part: pd.DataFrame, start: int, names: list[str], where: str) -> ScatterStats:
    return ScatterStats.from_array(_features(part, names, where, start))


def chunk_statistics(
    ddf: Any, names: list[str], where: str, *, column: str | None = None, ids: np.ndarray | None = None
) -> ChunkStats:
    """Per-chunklet statistics of the feature columns, merged by chunk on the cluster.

    The chunk of each row is read from ``column`` of the data (blank or -1: in none), or given
    as ``ids`` (one per row of the data set, -1: in none). Chunklets may span partitions.
    """
    starts = partition_starts(ddf)
    columns = [*names, *([column] if column else [])]
    parts = [
        task(_chunk_partition)(
            part,
            int(starts[i]),
            names,
            where,
            column,
            None if ids is None else ids[starts[i] : starts[i + 1]],
        )
        for i, part in enumerate(partitions(ddf, columns))
    ]
    return compute([tree_reduce(parts, _combine)])[0]


def _chunk_partition(
    part: pd.DataFrame, start: int, names: list[str], where: str, column: str | None, ids: np.ndarray | None
) -> ChunkStats:
    from metricli.io.constraints import chunk_keys

    X = _features(part, names, where, start)
    if column is not None:
        keys = chunk_keys(part[column])
    else:
        keys = np.array([None if i < 0 else int(i) for i in ids.tolist()], dtype=object)
    return ChunkStats.from_array(X, keys)


def gather_rows(ddf: Any, names: list[str], where: str, rows: np.ndarray) -> np.ndarray:
    """The feature rows numbered ``rows`` (sorted, unique) of the data set, in that order, on the client.

    Each partition hands over only its rows among them: memory on the client is O(len(rows) · d).
    """
    starts = partition_starts(ddf)
    outside = rows[(rows < 0) | (rows >= starts[-1])]
    if outside.size:
        raise MetricliError(f"{where}: has {int(starts[-1])} rows; a constraint names row {int(outside[0])}")
    bounds = np.searchsorted(rows, starts)
    parts = [
        task(_rows_of_partition)(part, int(starts[i]), names, where, rows[bounds[i] : bounds[i + 1]])
        for i, part in enumerate(partitions(ddf, names))
        if bounds[i + 1] > bounds[i]
    ]
    found = compute(parts)
    return np.concatenate(found) if found else np.empty((0, len(names)))


def _rows_of_partition(
    part: pd.DataFrame, start: int, names: list[str], where: str, rows: np.ndarray
) -> np.ndarray:
    return _features(part.iloc[rows - start], names, where, numbers=rows)


# --- partitions as datasets -------------------------------------------------------------


def require_columns(ddf: Any, columns: Sequence[str], where: str, why: str) -> None:
    """Fail on the client, before any task runs, when a column is missing."""
    for column in columns:
        if column not in ddf.columns:
            listing = ", ".join(map(str, list(ddf.columns)[:20])) + (", ..." if len(ddf.columns) > 20 else "")
            raise MetricliError(f"{where}: no column '{column}' ({why}); columns are: {listing}")


def partition_starts(ddf: Any) -> np.ndarray:
    """The data-set row number of each partition's first row, and the total row count last.

    Counts the rows of one column per partition (for Parquet, a read of that column only).
    """
    import dask

    lengths = dask.compute(*[dask.delayed(len)(p) for p in ddf[[ddf.columns[0]]].to_delayed()])
    return np.concatenate([[0], np.cumsum(np.asarray(lengths, dtype=np.int64))])


def partitions(ddf: Any, columns: Sequence[str]) -> list[Any]:
    """One delayed pandas frame per partition, holding only ``columns`` (in this order, deduplicated)."""
    return ddf[list(dict.fromkeys(columns))].to_delayed()


def partition_points(part: pd.DataFrame, start: int, where: str, **selection: Any) -> Dataset:
    """A partition's points, chosen and validated as :func:`~metricli.io.tables.select_columns`
    does for a local batch, rows numbered from the start of the data set (errors name those rows)."""
    part = part.reset_index(drop=True)
    part.index = pd.RangeIndex(start, start + len(part))
    return select_columns(part, where, fmt="parquet", learning=False, **selection)


def first_rows(ddf: Any, n: int) -> pd.DataFrame:
    """Up to ``n`` rows of the first partition (to choose columns by their values, as locally)."""
    # not ddf.head(n): it warns, on the worker, when the first partition is shorter than n
    return ddf.partitions[0].map_partitions(pd.DataFrame.head, n).compute()


def collect(ddf: Any, columns: Sequence[str]) -> pd.DataFrame:
    """The whole data set's ``columns`` as one frame on the client, rows numbered from 0."""
    frame = ddf[list(dict.fromkeys(columns))].compute()
    frame.index = pd.RangeIndex(len(frame))
    return frame


def is_partitioned(source: str) -> bool:
    """A folder or a glob: read with Dask rather than as one file."""
    return Path(source).is_dir() or any(ch in source for ch in "*?[")


def share(value: Any) -> Any:
    """``value`` sent once to every worker; pass the result to tasks in its place."""
    from distributed import get_client

    return get_client().scatter(value, broadcast=True, hash=False)


def tree_reduce(parts: list[Any], merge: Callable[[Any, Any], Any]) -> Any:
    """Merge delayed results pairwise, level by level, on the cluster; one delayed result."""
    import dask

    if not parts:
        raise ValueError("nothing to reduce")
    while len(parts) > 1:
        parts = [
            dask.delayed(merge)(parts[i], parts[i + 1]) if i + 1 < len(parts) else parts[i]
            for i in range(0, len(parts), 2)
        ]
    return parts[0]


def partition_file(folder: str | Path, index: int) -> str:
    """Where partition ``index`` of an output writes its rows."""
    return str(Path(folder) / f"part-{index:06d}.parquet")


@contextlib.contextmanager
def output_folder(output: str, force: bool) -> Iterator[Path]:
    """A folder the workers write one Parquet file each into; it replaces ``output`` atomically."""
    with atomic_path(output, force=force, kind=PARTS) as tmp:
        tmp.mkdir()
        yield tmp


def task(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` as a Dask task (not pure: tasks that write files must not be merged)."""
    import dask

    return dask.delayed(function, pure=False)


def compute(tasks: list[Any]) -> list[Any]:
    import dask

    return list(dask.compute(*tasks))


def write_partitions(
    output: str, force: bool, tasks_for: Callable[[Path], list[Any]], empty: pd.DataFrame
) -> list[Any]:
    """Run the tasks that write one Parquet file per partition into a new folder, then put it at ``output``.

    ``tasks_for(folder)`` builds the tasks; each writes :func:`partition_file` (folder, its
    index) unless it has no rows, and returns a tuple whose first item is the rows written.
    If none wrote anything, ``empty`` (the columns) is written, so the folder reads as a
    table with no rows. Nothing appears at ``output`` unless every task succeeds.
    """
    with output_folder(output, force) as folder:
        results = compute(tasks_for(folder))
        if not any(result[0] for result in results):
            empty.to_parquet(partition_file(folder, 0), index=False)
    return results


# --- a worker-side cache for the triangle check ------------------------------------------

_CACHE: dict[str, Any] = {}
_CACHE_LOCK = threading.Lock()


def cached(key: str, make: Callable[..., Any], *args: Any) -> Any:
    """``make(*args)``, computed once per worker process and kept under ``key`` until :func:`forget`."""
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = make(*args)
        return _CACHE[key]


def forget(key: str) -> None:
    with _CACHE_LOCK:
        _CACHE.pop(key, None)


# --- the triangle pass of `check --data` on the cluster -------------------------------------


class TriangleTiles:
    """Runs the tiles of the exhaustive triangle check (:func:`metricli.axioms.distance.triangle_check`)
    as cluster tasks.

    The check is O(n³) time on an n x n distance matrix D, and every tile reads whole rows
    and columns of D, so each worker needs all of D. Rather than ship n² numbers to every
    worker, the points in the learned space (n x r, small) are sent once and each worker
    process computes D from them with :func:`metricli.kernels.distance_matrix`, the very
    function the client used: the same D, bit for bit. Tiles go out in ordered groups,
    results come back in order, and closing the iterator (``--fail-fast``) cancels the rest.
    Use as a context manager: on exit the workers drop their copy of D.
    """

    #: tasks per worker thread: enough to balance uneven tiles, few enough to keep overhead low
    TASKS_PER_THREAD = 8

    def __init__(self, Z: np.ndarray, make: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
        """``make(Z)`` is D (default :func:`metricli.kernels.distance_matrix`); it runs on each worker."""
        import uuid

        from distributed import get_client

        from metricli.kernels import distance_matrix

        self.client = get_client()
        self.key = f"metricli-distances-{uuid.uuid4().hex}"
        self.make = make or distance_matrix
        self.points = self.client.scatter(np.ascontiguousarray(Z), broadcast=True, hash=False)

    def __enter__(self) -> TriangleTiles:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.client.run(forget, self.key)

    def __call__(self, tiles: list[tuple[slice, slice]], options: dict[str, Any]) -> Iterator[Any]:
        threads = max(1, sum(self.client.nthreads().values()))
        size = max(1, -(-len(tiles) // (self.TASKS_PER_THREAD * threads)))
        groups = [tiles[i : i + size] for i in range(0, len(tiles), size)]
        futures = [
            self.client.submit(_triangle_tiles, self.make, self.points, self.key, group, options, pure=False)
            for group in groups
        ]
        try:
            for future in futures:
                yield from future.result()
        finally:
            self.client.cancel(futures)


def _triangle_tiles(
    make: Callable[[np.ndarray], np.ndarray],
    Z: np.ndarray,
    key: str,
    group: list[tuple[slice, slice]],
    options: dict[str, Any],
) -> list[Any]:
    from metricli.axioms.distance import triangle_tile

    D = cached(key, make, Z)
    return [triangle_tile(D, tile, **options) for tile in group]
