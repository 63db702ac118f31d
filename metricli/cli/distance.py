"""``metricli distance``: learned distances between rows, as a long table or a square matrix."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

import numpy as np
import pandas as pd
import typer

from metricli.cli.common import (
    BatchRowsOption,
    BundleArgument,
    DropMissingOption,
    EngineOption,
    ForceOption,
    FormatOption,
    IdOption,
    JsonOption,
    OutputFormatOption,
    OutputOption,
    QuietOption,
    SchedulerOption,
    check_engine,
    configure,
    emit_json,
    note,
    settings,
)
from metricli.cli.pairs import locate_points
from metricli.cli.progress import RowProgress
from metricli.cli.streaming import (
    FEATURE_WHY,
    PointStream,
    distributed_points,
    load_points,
    open_writer,
    row_keys,
)
from metricli.errors import MetricliError
from metricli.io.atomic import refuse_to_overwrite
from metricli.io.bundle import Bundle, load_bundle
from metricli.io.tables import DEFAULT_BATCH_ROWS, Dataset, display_name, iter_table
from metricli.io.writers import TableWriter
from metricli.kernels import iter_sq_distances, pair_sq_distances, project

#: pairwise values computed (and written) per block; the output frame is a few times this
_BLOCK_BYTES = 16 * 2**20


def distance(
    bundle_path: BundleArgument,
    data: Annotated[
        str,
        typer.Argument(
            metavar="DATA", help="Points (rows i); '-' reads stdin. Streamed with --to.", show_default=False
        ),
    ],
    to: Annotated[
        str | None,
        typer.Option("--to", metavar="OTHER", help="Distances from each row of DATA to each row of OTHER."),
    ] = None,
    pairs: Annotated[
        str | None,
        typer.Option(
            "--pairs",
            metavar="FILE",
            help="Only the pairs listed in FILE: its first two columns name a row of DATA and a row of "
            "OTHER (or DATA), by 0-based row number or by --id; its columns are copied, d is appended.",
        ),
    ] = None,
    square: Annotated[
        bool, typer.Option("--square", help="A matrix: one row per row of DATA, one column per row of OTHER.")
    ] = False,
    squared: Annotated[
        bool,
        typer.Option("--squared", help="Write d² (column d2) instead of d. Squared d_M is not a metric."),
    ] = False,
    id_column: IdOption = None,
    output: OutputOption = "-",
    fmt: FormatOption = None,
    output_format: OutputFormatOption = None,
    batch_rows: BatchRowsOption = DEFAULT_BATCH_ROWS,
    drop_missing: DropMissingOption = False,
    force: ForceOption = False,
    engine: EngineOption = "local",
    scheduler: SchedulerOption = None,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Learned distances d(x, y) = sqrt((x - y)ᵀ M (x - y)) between rows.

    metricli distance B DATA             pairs i < j of DATA: columns i, j, d
    metricli distance B DATA --to OTHER  pairs (i in DATA, j in OTHER), by i
    metricli distance B DATA --pairs P   the pairs listed in P: P's columns, d

    Rows are named by their 0-based row number in their file, or by their --id
    value. --square writes the matrix instead, d(i, i) = 0 exactly; with --id
    its first column holds the row ids and its header the column ids, the form
    `metricli check` reads.

    Memory: DATA is held in memory, except with --to, where OTHER is held in
    memory and DATA is streamed in batches of --batch-rows; listed pairs are
    streamed too. Distances are computed in the learned space x -> L x in
    bounded blocks; pairs closer than 1% of the points' norms are recomputed
    from their difference, so duplicates are exactly 0.

    With --engine dask (needs --to): DATA is partitioned Parquet (a folder of files, read
    in natural name order, or a glob), OTHER is held in memory and sent once to every
    worker, each worker computes its partitions' distances and writes one Parquet file
    per partition into the folder OUTPUT: the same rows in the same order as one machine.
    """
    configure(json_output, quiet)
    if square and pairs:
        raise MetricliError("--square and --pairs cannot be combined: listed pairs are written as a table")
    on_dask = check_engine(engine, scheduler, output)
    if on_dask and (to is None or pairs is not None):
        raise MetricliError(
            "--engine dask computes the distances from the partitions of DATA to --to OTHER; "
            "give --to (and leave out --pairs)"
        )
    bundle = load_bundle(bundle_path)
    shape = _Shape(squared=squared, square=square, id_column=id_column)
    selection = {"id_column": id_column, "drop_missing": drop_missing}
    if on_dask:
        summary = _to_other_on_dask(bundle, data, to, fmt, selection, shape, output, scheduler, force)
        if settings.json:
            emit_json({"output": output, "squared": squared, "square": square, "engine": "dask", **summary})
        else:
            note(f"wrote {summary['rows']} rows to {output}/ (Dask, {summary['files']} files)")
        return
    with open_writer(output, output_format, force) as writer:
        if pairs is not None:
            summary = _listed(bundle, data, to, pairs, fmt, batch_rows, selection, shape, writer)
        elif to is not None:
            summary = _to_other(bundle, data, to, fmt, batch_rows, selection, shape, writer)
        else:
            summary = _within(bundle, data, fmt, selection, shape, writer)
    if output == "-":
        return
    summary = {"output": output, "rows": writer.rows, "squared": squared, "square": square, **summary}
    if settings.json:
        emit_json(summary)
    else:
        note(f"wrote {writer.rows} rows to {output}")


class _Shape:
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


def _within(
    bundle: Bundle,
    data: str,
    fmt: str | None,
    selection: dict[str, Any],
    shape: _Shape,
    writer: TableWriter,
) -> dict[str, Any]:
    points = load_points(data, fmt, bundle.feature_names, **selection)
    Z = project(points.X, bundle.L)
    keys = row_keys(points)
    n = Z.shape[0]
    with RowProgress(display_name(data), n) as progress:
        for rows, D in iter_sq_distances(Z, Z, _BLOCK_BYTES, exact=True):
            r = np.arange(rows.start, rows.stop)
            D[r - rows.start, r] = 0.0
            shape.finish(D)
            if shape.square:
                writer.write(shape.matrix_rows(D, keys[rows], keys))
            else:
                i, j = np.nonzero(np.arange(n)[None, :] > r[:, None])
                writer.write(pd.DataFrame({"i": keys[r[i]], "j": keys[j], shape.value: D[i, j]}))
            progress.advance(rows.stop - rows.start)
    writer.write_if_empty(shape.empty(keys))
    return {"mode": "within", "n": n, **({"shape": [n, n]} if shape.square else {})}


def _to_other(
    bundle: Bundle,
    data: str,
    to: str,
    fmt: str | None,
    batch_rows: int,
    selection: dict[str, Any],
    shape: _Shape,
    writer: TableWriter,
) -> dict[str, Any]:
    other = load_points(to, fmt, bundle.feature_names, **selection)
    Z_other = project(other.X, bundle.L)
    other_keys = row_keys(other)
    m = Z_other.shape[0]
    with PointStream(data, fmt, batch_rows, bundle.feature_names, **selection) as stream:
        for points in stream:
            for frame in _rows_to_other(points, bundle.L, Z_other, other_keys, shape):
                writer.write(frame)
    writer.write_if_empty(shape.empty(other_keys))
    n = stream.read - stream.dropped
    return {"mode": "to", "n": n, "m": m, **({"shape": [n, m]} if shape.square else {})}


def _rows_to_other(
    points: Dataset, L: np.ndarray, Z_other: np.ndarray, other_keys: np.ndarray, shape: _Shape
) -> Iterator[pd.DataFrame]:
    """The output rows for a batch (or a Dask partition) of DATA against all of OTHER, block by block."""
    Z = project(points.X, L)
    keys = row_keys(points)
    m = Z_other.shape[0]
    for rows, D in iter_sq_distances(Z, Z_other, _BLOCK_BYTES, exact=True):
        shape.finish(D)
        if shape.square:
            yield shape.matrix_rows(D, keys[rows], other_keys)
        else:
            yield pd.DataFrame(
                {
                    "i": np.repeat(keys[rows], m),
                    "j": np.tile(other_keys, rows.stop - rows.start),
                    shape.value: D.ravel(),
                }
            )


def _to_other_on_dask(
    bundle: Bundle,
    data: str,
    to: str,
    fmt: str | None,
    selection: dict[str, Any],
    shape: _Shape,
    output: str,
    scheduler: str | None,
    force: bool,
) -> dict[str, Any]:
    """OTHER on every worker; each partition of DATA writes its own rows to a file of the folder OUTPUT."""
    from metricli import distributed

    refuse_to_overwrite(output, force)
    other = load_points(to, fmt, bundle.feature_names, **selection)
    Z_other = project(other.X, bundle.L)
    other_keys = row_keys(other)
    where = display_name(data)
    with distributed.dask_client(scheduler):
        frame = distributed.read_parquet(data)
        columns = [*bundle.feature_names, *([selection["id_column"]] if selection["id_column"] else [])]
        distributed.require_columns(frame, columns, where, FEATURE_WHY)
        starts = distributed.partition_starts(frame)
        side = distributed.share((bundle.L, Z_other, other_keys, shape))
        written = distributed.write_partitions(
            output,
            force,
            lambda folder: [
                distributed.task(_distance_partition)(
                    part,
                    int(starts[i]),
                    distributed.partition_file(folder, i),
                    side,
                    where,
                    bundle.feature_names,
                    selection,
                )
                for i, part in enumerate(distributed.partitions(frame, columns))
            ],
            empty=shape.empty(other_keys),
        )
        rows = sum(count for count, _ in written)
    n = int(starts[-1]) - sum(dropped for _, dropped in written)
    m = Z_other.shape[0]
    files = sum(1 for count, _ in written if count) or 1
    return {
        "rows": rows,
        "files": files,
        "mode": "to",
        "n": n,
        "m": m,
        **({"shape": [n, m]} if shape.square else {}),
    }


def _distance_partition(
    part: pd.DataFrame,
    start: int,
    path: str,
    side: tuple[np.ndarray, np.ndarray, np.ndarray, _Shape],
    where: str,
    features: list[str],
    selection: dict[str, Any],
) -> tuple[int, int]:
    """On a worker: one partition's distances to OTHER, written to ``path`` (nothing if it has no rows)."""
    L, Z_other, other_keys, shape = side
    points = distributed_points(part, start, where, features, selection)
    written = 0
    if points.n_samples:
        with TableWriter(path, "parquet") as writer:
            for frame in _rows_to_other(points, L, Z_other, other_keys, shape):
                writer.write(frame)
        written = writer.rows
    return written, len(part) - points.n_samples


def _listed(
    bundle: Bundle,
    data: str,
    to: str | None,
    pairs: str,
    fmt: str | None,
    batch_rows: int,
    selection: dict[str, Any],
    shape: _Shape,
    writer: TableWriter,
) -> dict[str, Any]:
    points = load_points(data, fmt, bundle.feature_names, **selection)
    other = load_points(to, fmt, bundle.feature_names, **selection) if to is not None else points
    Z = project(points.X, bundle.L)
    Z_other = project(other.X, bundle.L) if to is not None else Z
    where = display_name(pairs)
    with RowProgress(where) as progress:
        for batch in iter_table(pairs, None, batch_rows):
            if batch.shape[1] < 2:
                raise MetricliError(
                    f"{where}: a pairs file needs two columns (a row of DATA, a row of OTHER)"
                )
            if shape.value in batch.columns:
                raise MetricliError(f"{where}: already has a column '{shape.value}'; rename it")
            first, second = batch.columns[:2]
            a = locate_points(batch[first], points, where, first, selection["id_column"])
            b = locate_points(batch[second], other, where, second, selection["id_column"])
            batch[shape.value] = shape.finish(pair_sq_distances(Z, Z_other, a, b))
            writer.write(batch)
            progress.advance(len(batch))
    return {"mode": "pairs", "pairs": progress.rows}
