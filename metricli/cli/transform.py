"""``metricli transform``: x -> L x for every row, streamed in batches."""

from __future__ import annotations

from typing import Annotated

import typer

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
    KeepOption,
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
from metricli.io.atomic import refuse_to_overwrite
from metricli.io.bundle import load_bundle
from metricli.io.tables import DEFAULT_BATCH_ROWS


def transform(
    bundle_path: BundleArgument,
    data: Annotated[str, typer.Argument(help="Points to transform; '-' reads stdin.", show_default=False)],
    output: OutputOption = "-",
    fmt: FormatOption = None,
    delimiter: DelimiterOption = None,
    output_format: OutputFormatOption = None,
    keep: KeepOption = None,
    id_column: IdOption = None,
    batch_rows: BatchRowsOption = DEFAULT_BATCH_ROWS,
    drop_missing: DropMissingOption = False,
    force: ForceOption = False,
    engine: EngineOption = "local",
    scheduler: SchedulerOption = None,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Map each row x of DATA to L x, the space where Euclidean distance is the learned metric.

    Columns are matched to the bundle's features by name; other columns are ignored unless
    kept with --keep; the --id column comes first in the output. Output columns are c0, c1,
    ... DATA is read in batches of --batch-rows and written as it goes, so memory does not
    grow with its size.

    With --engine dask, DATA is partitioned (Parquet, or CSV/TSV files, compressed too: a
    file, a folder of files in natural name order, or a glob) and OUTPUT a folder with one
    Parquet file per partition, rows in the same order.
    """
    configure(json_output, quiet)
    written, dropped, on_dask, components = None, 0, {}, 0
    if engine == "local" and scheduler is None and not keep and id_column is None:
        # a small plain CSV needs no pandas: the direct path, or None (then the general one)
        from metricli.io.plain_csv import transform_plain

        bundle = load_bundle(bundle_path)
        components = bundle.L.shape[0]
        if output != "-":
            refuse_to_overwrite(output, force)
        if not (settings.json and output == "-"):
            written = transform_plain(bundle.L, bundle.feature_names, data, output, fmt, output_format, force)
    if written is None:
        written, dropped, on_dask, components = _transform(
            bundle_path, data, output, fmt, output_format, keep, id_column, batch_rows,
            drop_missing, force, engine, scheduler,
        )  # fmt: skip
    if output == "-":
        return
    if settings.json:
        emit_json(
            {
                "output": output,
                "rows": written,
                "dropped": dropped,
                "components": components,
                **on_dask,
            }
        )
    else:
        where = f"{output}/ (Dask)" if on_dask else output
        note(f"wrote {written} rows x {components} components to {where}")


def _transform(
    bundle_path: str,
    data: str,
    output: str,
    fmt: str | None,
    output_format: str | None,
    keep: list[str] | None,
    id_column: str | None,
    batch_rows: int,
    drop_missing: bool,
    force: bool,
    engine: str,
    scheduler: str | None,
) -> tuple[int, int, dict[str, str], int]:
    """The general path, through an engine: rows written and dropped, the engine if Dask, and
    the number of components."""
    from metricli import api
    from metricli.cli.streaming import output_format as output_format_of

    runner = open_engine(engine, scheduler, output)
    bundle = load_bundle(bundle_path)
    if output != "-":
        refuse_to_overwrite(output, force)  # before a cluster starts
    with runner:
        done = api.transform(
            bundle,
            data,
            engine=runner,
            keep=list(keep or []),
            id_column=id_column,
            output=output,
            output_format=output_format_of(output, output_format),
            force=force,
            fmt=fmt,
            batch_rows=batch_rows,
            drop_missing=drop_missing,
        )
    on_dask = {"engine": "dask"} if runner.name == "dask" else {}
    return done.written, done.dropped, on_dask, bundle.L.shape[0]
