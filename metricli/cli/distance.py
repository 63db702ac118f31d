"""``metricli distance``: learned distances between rows, as a long table or a square matrix."""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
import typer

from metricli import api
from metricli.cli.common import (
    BatchRowsOption,
    BundleArgument,
    DelimiterOption,
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
    configure,
    emit_json,
    note,
    open_engine,
    settings,
)
from metricli.cli.pairs import locate_points
from metricli.cli.progress import RowProgress
from metricli.cli.streaming import load_points, open_writer
from metricli.cli.streaming import output_format as streamed_format
from metricli.engines import Engine
from metricli.engines.operations import DISTANCE_BLOCK_BYTES, DistanceLayout, row_keys
from metricli.errors import MetricliError
from metricli.io.atomic import refuse_to_overwrite
from metricli.io.bundle import Bundle, load_bundle
from metricli.io.tables import DEFAULT_BATCH_ROWS, Dataset, display_name, iter_table
from metricli.io.writers import TableWriter
from metricli.kernels import iter_sq_distances, pair_sq_distances, project
from metricli.lazy import pd


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
    delimiter: DelimiterOption = None,
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

    With --engine dask (needs --to): DATA is partitioned (Parquet, or CSV/TSV files, compressed
    too: a file, a folder of files in natural name order, or a glob), OTHER is held in memory and sent once to every
    worker, each worker computes its partitions' distances and writes one Parquet file
    per partition into the folder OUTPUT: the same rows in the same order as one machine.
    """
    configure(json_output, quiet)
    if square and pairs:
        raise MetricliError("--square and --pairs cannot be combined: listed pairs are written as a table")
    runner = open_engine(engine, scheduler, output)
    if runner.name != "local" and (to is None or pairs is not None):
        raise MetricliError(
            f"--engine {runner.name} computes the distances from the partitions of DATA to --to OTHER; "
            "give --to (and leave out --pairs)"
        )
    bundle = load_bundle(bundle_path)
    shape = DistanceLayout(squared=squared, square=square, id_column=id_column)
    selection = {"id_column": id_column, "drop_missing": drop_missing}
    if to is not None and pairs is None:
        summary = _to_other(
            runner, bundle, data, to, fmt, batch_rows, selection, shape, output, output_format, force
        )
    else:
        with open_writer(output, output_format, force) as writer:
            if pairs is not None:
                summary = _listed(bundle, data, to, pairs, fmt, batch_rows, selection, shape, writer)
            else:
                summary = _within(bundle, data, fmt, selection, shape, writer)
        summary["rows"] = writer.rows
    if output == "-":
        return
    summary = {"output": output, "rows": summary.pop("rows"), "squared": squared, "square": square, **summary}
    if settings.json:
        emit_json(summary)
    elif "engine" in summary:
        note(f"wrote {summary['rows']} rows to {output}/ (Dask, {summary['files']} files)")
    else:
        note(f"wrote {summary['rows']} rows to {output}")


def _within(
    bundle: Bundle,
    data: str,
    fmt: str | None,
    selection: dict[str, Any],
    shape: DistanceLayout,
    writer: TableWriter,
) -> dict[str, Any]:
    points = _load(bundle, data, fmt, selection)
    Z = project(points.X, bundle.L)
    keys = row_keys(points)
    n = Z.shape[0]
    with RowProgress(display_name(data), n) as progress:
        for rows, D in iter_sq_distances(Z, Z, DISTANCE_BLOCK_BYTES, exact=True):
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
    runner: Engine,
    bundle: Bundle,
    data: str,
    to: str,
    fmt: str | None,
    batch_rows: int,
    selection: dict[str, Any],
    shape: DistanceLayout,
    output: str,
    output_format: str | None,
    force: bool,
) -> dict[str, Any]:
    """OTHER in memory, DATA read in pieces past it (streamed batches, or partitions written
    one Parquet file each into the folder OUTPUT)."""
    if output != "-":
        refuse_to_overwrite(output, force)  # before a cluster starts
    with runner:
        done = api.distances(
            bundle,
            data,
            to,
            engine=runner,
            squared=shape.squared,
            square=shape.square,
            id_column=selection["id_column"],
            output=output,
            output_format=streamed_format(output, output_format),
            force=force,
            fmt=fmt,
            batch_rows=batch_rows,
            drop_missing=selection["drop_missing"],
        )
    n, m = done.kept, done.others
    on_dask = {"engine": runner.name, "files": done.files} if runner.name != "local" else {}
    return {
        "mode": "to",
        "n": n,
        "m": m,
        **({"shape": [n, m]} if shape.square else {}),
        "rows": done.written,
        **on_dask,
    }


def _listed(
    bundle: Bundle,
    data: str,
    to: str | None,
    pairs: str,
    fmt: str | None,
    batch_rows: int,
    selection: dict[str, Any],
    shape: DistanceLayout,
    writer: TableWriter,
) -> dict[str, Any]:
    points = _load(bundle, data, fmt, selection)
    other = _load(bundle, to, fmt, selection) if to is not None else points
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


def _load(bundle: Bundle, path: str, fmt: str | None, selection: dict[str, Any]) -> Dataset:
    """A whole table with the bundle's features, in memory (notes on stderr)."""
    return load_points(path, fmt, bundle.feature_names, **selection)
