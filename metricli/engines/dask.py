"""The Dask engine: the same operations over partitioned data, on one machine or a cluster.

Dask is an optional extra (``pip install 'metricli[dask]'``); nothing here is imported
until a Dask engine is made. Nothing here is a second implementation of an algorithm:
each partition becomes a :class:`~metricli.io.tables.Dataset` through the same
:func:`~metricli.io.tables.select_columns` as a local batch, its rows numbered from the
start of the whole data set, and the same function of :mod:`metricli.engines.operations`
runs on it. Only small results travel back (statistics, counts, the k best neighbours);
large outputs are written by the workers, one Parquet file per partition.

Where things run: the client (the caller's process) reads the small side of an operation
(a bundle, a reference held in memory) and ships it to every worker once; the workers read
their partitions straight from storage, so on a real cluster the data set and the output
folder must be on storage every worker sees.

Row order: the partitions of a folder are its files in natural name order (part-2 before
part-10), each file's rows in order; row i of the data set is the i-th row in that order,
as if the files were one table.

Formats: partitioned Parquet (read by Dask), or CSV/TSV files, compressed too (a file, a
folder of them or a glob), each file one partition read by the local reader, so the same
column rules and errors apply and an error names the file and its row (and line).
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from metricli.engines.base import (
    Engine,
    Output,
    Pass,
    Persisted,
    PieceFunction,
    Source,
    is_partitioned,
    points_of,
)
from metricli.errors import MetricliError, install_extra
from metricli.io.atomic import PARTS, atomic_path
from metricli.io.tables import (
    Dataset,
    count_text_rows,
    message_line,
    part_files,
    read_text_part,
    text_header,
    text_separator,
)
from metricli.io.writers import TableWriter

INSTALL = install_extra("dask")


#: the environment of the workers of the cluster metricli starts. Dask sets glibc's
#: MALLOC_TRIM_THRESHOLD_ in its workers, which also fixes malloc's mmap threshold at 128 KiB:
#: every minibatch array above that (a 512 x 48 float64 array is 192 KiB) is then mapped and
#: zeroed afresh, and the stochastic solver's steps ran 1.5x slower in a worker than in one
#: process (0.72-0.83 s against 0.41-0.50 s a chunk of 40 minibatches at 100k points, 2026-12-04).
#: A 64 MiB mmap threshold gives the same speed (0.50-0.56 s). A cluster of your own: start its
#: workers with this variable set.
WORKER_ENV = {"MALLOC_MMAP_THRESHOLD_": str(64 * 2**20)}


def require_dask() -> Any:
    try:
        import dask.dataframe as dd
        import distributed  # noqa: F401
    except ImportError:
        raise MetricliError(
            f"--engine dask needs Dask, which is not installed; install the extra: {INSTALL}"
        ) from None
    return dd


class DaskEngine(Engine):
    """Pieces are the partitions of a data set, searched, scored or summed by Dask workers.

    ``scheduler``: the address of a running scheduler (e.g. tcp://10.0.0.5:8786). Without
    it, the current Dask client if there is one, else a new local cluster with one
    single-threaded worker process per core, for as long as the engine is open.
    """

    name = "dask"

    def __init__(self, scheduler: str | None = None, **hooks: Any) -> None:
        super().__init__(**hooks)
        require_dask()
        self.scheduler = scheduler
        self._stack = contextlib.ExitStack()
        self.client: Any = None

    def __enter__(self) -> DaskEngine:
        from distributed import Client, LocalCluster

        if self.scheduler:
            try:
                self.client = self._stack.enter_context(Client(self.scheduler, timeout="15s"))
            except OSError as exc:
                raise MetricliError(f"cannot reach the Dask scheduler at {self.scheduler} ({exc})") from None
            return self
        try:
            from distributed import get_client

            self.client = get_client()
        except ValueError:
            import dask

            # set before the worker processes start: malloc reads it once, at start-up
            spawn = {f"distributed.nanny.pre-spawn-environ.{k}": v for k, v in WORKER_ENV.items()}
            with dask.config.set(spawn):
                cluster = self._stack.enter_context(
                    LocalCluster(processes=True, threads_per_worker=1, dashboard_address=None)
                )
            self.client = self._stack.enter_context(Client(cluster))
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stack.close()
        self.client = None

    # -- reading -----------------------------------------------------------------------------

    def _partitions(
        self, source: Source, columns: Sequence[str]
    ) -> tuple[list[Any], np.ndarray, str, list[str | None]]:
        """Delayed raw frames (only ``columns``), each partition's first row number (total last),
        the format, and per partition the file its rows are numbered in (None: the data set)."""
        text = text_files(source)
        if text is None:
            frame = read_parquet(source.path)
            require_columns(frame, source.features, source.name, source.features_why or "a feature")
            require_columns(
                frame, source.supervision_columns(), source.name, "from --label, --target or --id"
            )
            wanted = list(dict.fromkeys([*columns, *_existing(source.keep, frame.columns)]))
            parts = frame[wanted].to_delayed()
            return parts, partition_starts(frame), "parquet", [None] * len(parts)
        import dask

        files, fmt = text
        # on the client, one line per file, before any task runs: the workers are handed each
        # file's separator (--delimiter, or sniffed), which they could not know
        seps = {file: text_separator(file, fmt) for file in files}  # (separator, decimal mark)
        header = text_header(files[0], fmt, seps[files[0]][0])
        for file in files:
            names = text_header(file, fmt, seps[file][0])
            require_listed(names, source.features, file, source.features_why or "a feature")
            require_listed(names, source.supervision_columns(), file, "from --label, --target or --id")
        wanted = list(dict.fromkeys([*columns, *_existing(source.keep, header)]))
        lengths = dask.compute(*[dask.delayed(count_text_rows)(file, fmt, seps[file][0]) for file in files])
        starts = np.concatenate([[0], np.cumsum(np.asarray(lengths, dtype=np.int64))])
        if starts[-1] == 0:
            raise MetricliError(f"{source.name}: header only, no data rows")
        parts = [
            dask.delayed(read_text_part)(file, fmt, wanted, sep=seps[file][0], decimal=seps[file][1])
            for file in files
        ]
        return parts, starts, fmt, list(files)

    def _columns(self, source: Source) -> list[str]:
        return [*source.features, *source.supervision_columns()]

    def _piece_tasks(self, source: Source) -> tuple[list[Any], np.ndarray]:
        import dask

        parts, starts, fmt, files = self._partitions(source, self._columns(source))
        tasks = [
            dask.delayed(_points)(part, int(starts[i]), source, fmt, files[i]) for i, part in enumerate(parts)
        ]
        return tasks, starts

    def read(self, source: Source) -> Dataset:
        if not is_partitioned(source.path):
            from metricli.engines.local import LocalEngine

            return LocalEngine(notify=self.notify).read(source)
        frame, fmt = self.table(source.path, source.fmt, [*self._columns(source), *source.keep])
        points = points_of(frame, source, fmt)
        for message in points.notes:
            self.notify(message)
        return points

    def table(self, path: str, fmt: str | None, columns: Sequence[str]) -> tuple[pd.DataFrame, str]:
        text = text_files(Source(path, (), fmt=fmt))
        if text is not None:
            import dask

            files, kind = text
            seps = {file: text_separator(file, kind) for file in files}
            header = text_header(files[0], kind, seps[files[0]][0])
            wanted = [c for c in dict.fromkeys(columns) if c in header]
            frames = dask.compute(
                *[
                    dask.delayed(read_text_part)(file, kind, wanted, sep=seps[file][0], decimal=seps[file][1])
                    for file in files
                ]
            )
            whole = pd.concat(frames, ignore_index=True)
            if len(whole) == 0:
                raise MetricliError(f"{display(path)}: header only, no data rows")
            return whole, kind
        frame = read_parquet(path)
        # the caller names a missing column, as for a local file
        whole = frame[[c for c in dict.fromkeys(columns) if c in frame.columns]].compute()
        whole.index = pd.RangeIndex(len(whole))
        return whole, "parquet"

    def head(self, path: str, fmt: str | None, n: int) -> tuple[pd.DataFrame, str]:
        text = text_files(Source(path, (), fmt=fmt))
        if text is not None:
            files, kind = text
            return read_text_part(files[0], kind, nrows=n), kind
        frame = read_parquet(path)
        # not frame.head(n): it warns, on the worker, when the first partition is shorter than n
        return frame.partitions[0].map_partitions(pd.DataFrame.head, n).compute(), "parquet"

    # -- the primitives --------------------------------------------------------------------------

    def map(self, source: Source, function: PieceFunction, shared: Any, output: Output | None = None) -> Pass:
        import dask

        tasks, starts = self._piece_tasks(source)
        handle = self.share(shared)
        done = Pass(read=int(starts[-1]))
        if output is not None and output.path is not None:
            if output.path == "-":
                raise MetricliError("--engine dask writes a folder of Parquet files; name it with -o")
            with atomic_path(output.path, force=output.force, kind=PARTS) as folder:
                folder.mkdir()
                results = dask.compute(
                    *[
                        dask.delayed(_map_piece, pure=False)(
                            task, function, handle, partition_file(folder, i)
                        )
                        for i, task in enumerate(tasks)
                    ]
                )
                if not any(written for _, written, _ in results):
                    output.empty.to_parquet(partition_file(folder, 0), index=False)
            done.files = sum(1 for _, written, _ in results if written) or 1
        else:
            results = dask.compute(
                *[dask.delayed(_map_piece, pure=False)(task, function, handle, None) for task in tasks]
            )
            if output is not None:
                frames = [frame for frame, _, _ in results if frame is not None]
                done.frame = pd.concat(frames, ignore_index=True) if frames else output.empty
        done.kept = sum(kept for _, _, (kept, _) in results)
        done.values = [value for _, _, (_, value) in results]
        done.written = (
            len(done.frame) if done.frame is not None else sum(written for _, written, _ in results)
        )
        self._note_dropped(source, done.dropped)
        return done

    def fold(
        self,
        source: Source,
        start: Callable[[Any], Any],
        add: Callable[[Any, Dataset, Any], Any],
        finish: Callable[[Any, Any], Any],
        merge: Callable[[Any, Any], Any],
        shared: Any,
    ) -> tuple[Any, Pass]:
        import dask

        tasks, starts = self._piece_tasks(source)
        handle = self.share(shared)
        parts = [dask.delayed(_fold_piece)(task, start, add, finish, handle) for task in tasks]
        value, kept = dask.compute(
            tree_reduce([dask.delayed(_first)(part) for part in parts], merge),
            dask.delayed(sum)([dask.delayed(_second)(part) for part in parts]),
        )
        done = Pass(read=int(starts[-1]), kept=int(kept))
        self._note_dropped(source, done.dropped)
        return value, done

    def persist(self, source: Source) -> Persisted:
        """The partitions read once and kept as Datasets in the workers' memory."""
        tasks, starts = self._piece_tasks(source)
        futures = self.client.compute(tasks)
        kept = sum(self.client.gather(self.client.map(_n_samples, futures)))
        return Persisted(source, futures, int(starts[-1]), int(kept))

    def map_reduce(
        self,
        data: Persisted,
        function: Callable[[Dataset, Any], Any],
        merge: Callable[[Any, Any], Any],
        shared: Any,
    ) -> Any:
        handle = self.share(shared)
        futures = [self.client.submit(function, piece, handle, pure=False) for piece in data.pieces]
        while len(futures) > 1:
            futures = [
                self.client.submit(merge, futures[i], futures[i + 1], pure=False)
                if i + 1 < len(futures)
                else futures[i]
                for i in range(0, len(futures), 2)
            ]
        return futures[0].result()

    def submit(self, function: Callable[..., Any], *args: Any) -> Any:
        """A task on the cluster; its result stays on a worker (a future) until fetched."""
        return self.client.submit(function, *args, pure=False)

    def fetch(self, handle: Any) -> Any:
        return handle.result()

    def share(self, value: Any) -> Any:
        """``value`` sent once to every worker; tasks take the result in its place."""
        return self.client.scatter(value, broadcast=True, hash=False)

    def triangle_tiles(self, Z: Any) -> contextlib.AbstractContextManager[Any]:
        return TriangleTiles(Z, client=self.client)


def display(path: str) -> str:
    from metricli.io.tables import display_name

    return display_name(path)


def _existing(columns: Sequence[str], present: Sequence[str]) -> list[str]:
    from metricli.io.tables import column_names

    return column_names(list(columns), list(present))


def _points(part: pd.DataFrame, start: int, source: Source, fmt: str, file: str | None = None) -> Dataset:
    """A partition as points, rows numbered in the whole data set. Errors name the data set
    and its row, or, for a partition that is a whole file, the file and its row (and line)."""
    part = part.reset_index(drop=True)
    if file is None:
        part.index = pd.RangeIndex(start, start + len(part))
        return points_of(part, source, fmt)
    points = points_of(part, source, fmt, name=file)
    points.rows = points.rows + start
    points.name = source.name
    return points


def _n_samples(points: Dataset) -> int:
    return points.n_samples


def _map_piece(
    points: Dataset, function: PieceFunction, shared: Any, path: str | None
) -> tuple[pd.DataFrame | None, int, tuple[int, Any]]:
    """On a worker: the function of one partition; its frames written to ``path`` (none if no rows)
    or handed back. Returns (frame or None, rows written, (points, value))."""
    frames, value = function(points, shared)
    if path is None:
        frames = list(frames)
        frame = pd.concat(frames, ignore_index=True) if frames else None
        return frame, 0, (points.n_samples, value)
    written = 0
    writer: TableWriter | None = None
    try:
        for frame in frames:
            if len(frame) == 0:
                continue
            if writer is None:
                writer = TableWriter(path, "parquet").__enter__()
            writer.write(frame)
            written += len(frame)
    except BaseException as exc:
        if writer is not None:
            writer.__exit__(type(exc), exc, exc.__traceback__)
        raise
    if writer is not None:
        writer.__exit__(None, None, None)
    return None, written, (points.n_samples, value)


def _fold_piece(points: Dataset, start: Any, add: Any, finish: Any, shared: Any) -> tuple[Any, int]:
    return finish(add(start(shared), points, shared), shared), points.n_samples


def _first(pair: tuple[Any, int]) -> Any:
    return pair[0]


def _second(pair: tuple[Any, int]) -> int:
    return pair[1]


def text_files(source: Source) -> tuple[list[str], str] | None:
    """The CSV or TSV files of a file, folder or glob (natural name order) and their format;
    None for anything else, which is read as partitioned Parquet."""
    try:
        files, fmt = part_files(source.path, source.fmt)
    except MetricliError:
        return None  # e.g. a hive-partitioned Parquet folder: Dask reads it
    return (files, fmt) if fmt in ("csv", "tsv") else None


def require_listed(names: Sequence[str], columns: Sequence[str], where: str, why: str) -> None:
    """Fail on the client when a file's header lacks a column."""
    for column in columns:
        if column not in names:
            listing = ", ".join(map(str, names[:20])) + (", ..." if len(names) > 20 else "")
            raise MetricliError(f"{where}: no column '{column}' ({why}); columns are: {listing}")


def read_parquet(path: str, columns: Sequence[str] | None = None) -> Any:
    """A partitioned Parquet data set (a file, a folder of files, or a glob) as a Dask DataFrame."""
    dd = require_dask()
    try:
        return dd.read_parquet(path, columns=list(columns) if columns else None)
    except (OSError, ValueError) as exc:
        raise MetricliError(f"{path}: cannot read as partitioned Parquet ({message_line(exc)})") from None


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

    def __init__(
        self, Z: np.ndarray, make: Callable[[np.ndarray], np.ndarray] | None = None, client: Any = None
    ) -> None:
        """``make(Z)`` is D (default :func:`metricli.kernels.distance_matrix`); it runs on each worker."""
        from distributed import get_client

        from metricli.kernels import distance_matrix

        self.client = client or get_client()
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
