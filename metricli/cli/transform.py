"""``metricli transform``: x -> L x for every row, streamed in batches."""

from __future__ import annotations

from typing import Annotated

import pandas as pd
import typer

from metricli.cli.common import (
    BatchRowsOption,
    BundleArgument,
    DropMissingOption,
    EngineOption,
    ForceOption,
    FormatOption,
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
from metricli.cli.streaming import PointStream, open_writer
from metricli.io.atomic import refuse_to_overwrite
from metricli.io.bundle import Bundle, load_bundle
from metricli.io.tables import DEFAULT_BATCH_ROWS
from metricli.kernels import project


def transform(
    bundle_path: BundleArgument,
    data: Annotated[str, typer.Argument(help="Points to transform; '-' reads stdin.", show_default=False)],
    output: OutputOption = "-",
    fmt: FormatOption = None,
    output_format: OutputFormatOption = None,
    keep: Annotated[
        list[str] | None,
        typer.Option(
            "--keep",
            help="Input columns to copy to the output (e.g. an id or label; repeat or comma-separate; a name that holds a comma is taken whole).",
        ),
    ] = None,
    batch_rows: BatchRowsOption = DEFAULT_BATCH_ROWS,
    drop_missing: DropMissingOption = False,
    force: ForceOption = False,
    engine: EngineOption = "local",
    scheduler: SchedulerOption = None,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Map each row x of DATA to L x, the space where Euclidean distance is the learned metric.

    Columns are matched to the bundle's features by name; other columns are
    ignored unless kept with --keep. Output columns are c0, c1, ... DATA is
    read in batches of --batch-rows and written as it goes, so memory does not
    grow with its size. With --engine dask, DATA is partitioned Parquet (a file, a folder or a
    glob) and OUTPUT a folder with one Parquet file per partition, rows in the same order.
    """
    configure(json_output, quiet)
    bundle = load_bundle(bundle_path)
    kept = list(keep or [])
    component_names = [f"c{i}" for i in range(bundle.L.shape[0])]
    if check_engine(engine, scheduler, output):
        _transform_on_dask(bundle, data, output, kept, scheduler, force)
        return
    with (
        open_writer(output, output_format, force) as writer,
        PointStream(
            data, fmt, batch_rows, bundle.feature_names, drop_missing=drop_missing, keep=kept
        ) as stream,
    ):
        for points in stream:
            kept = list(points.extra)  # the --keep columns, as resolved against the header
            frame = pd.DataFrame(project(points.X, bundle.L), columns=component_names)
            for column in reversed(kept):
                frame.insert(0, column, points.extra[column].to_numpy())
            writer.write(frame)
        writer.write_if_empty(pd.DataFrame(columns=kept + component_names))
    if output == "-":
        return
    if settings.json:
        emit_json(
            {
                "output": output,
                "rows": writer.rows,
                "dropped": stream.dropped,
                "components": len(component_names),
            }
        )
    else:
        note(f"wrote {writer.rows} rows x {len(component_names)} components to {output}")


def _transform_on_dask(
    bundle: Bundle, data: str, output: str, kept: list[str], scheduler: str | None, force: bool
) -> None:
    from metricli import distributed

    refuse_to_overwrite(output, force)
    with distributed.dask_client(scheduler):
        frame = distributed.read_parquet(data)
        rows = distributed.write_parquet(
            distributed.transform(frame, bundle.L, bundle.feature_names, kept, data), output, force
        )
    if settings.json:
        emit_json({"output": output, "rows": rows, "components": bundle.L.shape[0], "engine": "dask"})
    else:
        note(f"wrote {rows} rows x {bundle.L.shape[0]} components to {output}/ (Dask)")
