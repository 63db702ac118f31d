"""The path every command that applies a bundle shares: points in (in memory or in batches), rows out.

``transform``, ``distance``, ``neighbors`` and ``evaluate`` (bundle mode) read the
bundle's feature columns by name, stream the large side in record batches with a
rows/s progress line, and write incrementally through one atomic
:class:`~metricli.io.writers.TableWriter`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from metricli.cli.common import note, settings
from metricli.cli.progress import RowProgress
from metricli.io.tables import Dataset, display_name, iter_points, load_dataset, table_rows
from metricli.io.writers import TableWriter

FEATURE_WHY = "a feature the metric was learned on"


def open_writer(output: str, output_format: str | None, force: bool) -> TableWriter:
    """The output table; with --json and stdout, JSON Lines instead of CSV."""
    if output_format is None and output == "-" and settings.json:
        output_format = "jsonl"
    return TableWriter(output, output_format, force=force)


def load_points(source: str, fmt: str | None, features: Sequence[str], **selection: Any) -> Dataset:
    """A whole table, its feature columns those of the bundle."""
    points = load_dataset(
        source, fmt, features=list(features), features_why=FEATURE_WHY, learning=False, **selection
    )
    for message in points.notes:
        note(message)
    return points


class PointStream:
    """A table read in batches of points, with progress; use as a context manager, then iterate.

    Counts the rows read and the rows dropped (--drop-missing) and reports both at the end.
    """

    def __init__(
        self,
        source: str,
        fmt: str | None,
        batch_rows: int,
        features: Sequence[str],
        **selection: Any,
    ) -> None:
        self.source, self.fmt, self.batch_rows = source, fmt, batch_rows
        self.features = list(features)
        self.selection = selection
        self.name = display_name(source)
        self.read = self.dropped = 0

    def __enter__(self) -> PointStream:
        self.progress = RowProgress(self.name, table_rows(self.source, self.fmt)).__enter__()
        return self

    def __iter__(self) -> Iterator[Dataset]:
        batches = iter_points(
            self.source,
            self.fmt,
            self.batch_rows,
            features=self.features,
            features_why=FEATURE_WHY,
            **self.selection,
        )
        for read, points in batches:
            self.read += read
            self.dropped += read - points.n_samples
            yield points
            self.progress.advance(read)

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.progress.__exit__(exc_type, exc, tb)
        if exc_type is None and self.dropped:
            note(f"{self.name}: dropped {self.dropped} rows with missing or infinite values")


def row_keys(points: Dataset) -> np.ndarray:
    """How output rows name a point: its --id value, else its 0-based row in the file."""
    return points.ids if points.ids is not None else points.rows


def distributed_points(
    part: Any, start: int, where: str, features: Sequence[str], selection: dict[str, Any]
) -> Dataset:
    """A Dask partition's points with the bundle's features, as :class:`PointStream` yields a batch."""
    from metricli import distributed

    return distributed.partition_points(
        part, start, where, features=list(features), features_why=FEATURE_WHY, **selection
    )
