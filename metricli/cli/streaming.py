"""What every command that applies a bundle shares: the points it reads and the table it writes.

``transform``, ``distance``, ``neighbors`` and ``evaluate`` (bundle mode) read the bundle's
feature columns by name through an engine (:mod:`metricli.engines`) and write through one
atomic :class:`~metricli.io.writers.TableWriter` (or, on Dask, a folder of Parquet files).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from metricli.cli.common import note, settings
from metricli.engines import Output, Source
from metricli.io.bundle import Bundle
from metricli.io.tables import DEFAULT_BATCH_ROWS, Dataset
from metricli.io.writers import TableWriter
from metricli.lazy import pd


def output_format(output: str | None, fmt: str | None) -> str | None:
    """With --json and stdout, JSON Lines instead of CSV."""
    if fmt is None and output == "-" and settings.json:
        return "jsonl"
    return fmt


def open_writer(output: str, fmt: str | None, force: bool) -> TableWriter:
    """The output table; with --json and stdout, JSON Lines instead of CSV."""
    return TableWriter(output, output_format(output, fmt), force=force)


def output_to(output: str, fmt: str | None, force: bool, empty: pd.DataFrame) -> Output:
    return Output(output, empty, output_format(output, fmt), force)


def source_of(
    path: str,
    bundle: Bundle,
    fmt: str | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    keep: list[str] | None = None,
    **selection: Any,
) -> Source:
    """The rows of ``path`` with the bundle's features, chosen as the options say."""
    return Source(
        path,
        tuple(bundle.feature_names),
        fmt=fmt,
        batch_rows=batch_rows,
        keep=tuple(keep or ()),
        **selection,
    )


def load_points(source: str, fmt: str | None, features: Sequence[str], **selection: Any) -> Dataset:
    """A whole table in memory, its feature columns those of the bundle (notes on stderr)."""
    from metricli.engines.local import LocalEngine

    return LocalEngine(notify=note).read(Source(source, tuple(features), fmt=fmt, **selection))
