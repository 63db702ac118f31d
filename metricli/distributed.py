"""The Dask engine: the same commands over partitioned Parquet, on one machine or a cluster.

Dask is an optional extra (``pip install 'metricli[dask]'``). Nothing here is a second
implementation of an algorithm: partitions go through the same numpy code
(:func:`metricli.io.tables.numeric_column`, ``X @ Lᵀ``, :class:`~metricli.statistics.ScatterStats`),
and only the small d x d solve runs on the client.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from metricli.errors import MetricliError
from metricli.io.atomic import atomic_path
from metricli.io.tables import describe_rows, numeric_column
from metricli.statistics import ScatterStats, combine

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


def _features(part: pd.DataFrame, names: Sequence[str], where: str) -> np.ndarray:
    X = (
        np.column_stack([numeric_column(part[c], where, c, None) for c in names])
        if len(part)
        else (np.empty((0, len(names))))
    )
    bad = ~np.isfinite(X).all(axis=1)
    if bad.any():
        raise MetricliError(f"{where}: missing or infinite values at {describe_rows(part.index[bad])}")
    return X


def _transform_partition(
    part: pd.DataFrame, L: np.ndarray, names: list[str], keep: list[str], where: str
) -> pd.DataFrame:
    Y = _features(part, names, where) @ L.T
    frame = pd.DataFrame(Y, columns=[f"c{i}" for i in range(L.shape[0])])
    frame.index = part.index
    for column in reversed(keep):
        frame.insert(0, column, part[column])
    return frame


def transform(ddf: Any, L: np.ndarray, names: list[str], keep: list[str], where: str) -> Any:
    """x -> L x on every partition; the result keeps the partitioning and the row order."""
    missing = [c for c in [*names, *keep] if c not in ddf.columns]
    if missing:
        raise MetricliError(f"{where}: no column '{missing[0]}'")
    meta = _transform_partition(ddf._meta, L, names, keep, where)
    return ddf.map_partitions(_transform_partition, L, names, keep, where, meta=meta)


def write_parquet(ddf: Any, output: str, force: bool) -> int:
    """Write one Parquet file per partition into the folder ``output``, atomically; return the row count."""
    with atomic_path(output, force=force) as tmp:
        ddf.to_parquet(str(tmp), write_index=False, name_function=lambda i: f"part-{i:06d}.parquet")
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(p).metadata.num_rows for p in sorted(Path(output).glob("*.parquet")))


def _partition_stats(part: pd.DataFrame, names: list[str], where: str) -> ScatterStats:
    return ScatterStats.from_array(_features(part, names, where))


def scatter_statistics(ddf: Any, names: list[str], where: str) -> ScatterStats:
    """Count, mean and scatter of the feature columns, one ScatterStats per partition, merged."""
    import dask

    parts = [dask.delayed(_partition_stats)(p, names, where) for p in ddf[names].to_delayed()]
    return combine(list(dask.compute(*parts)))
