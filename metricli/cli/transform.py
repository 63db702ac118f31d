"""``metricli transform``: x -> L x for every row, streamed in batches."""

from __future__ import annotations

from typing import Annotated

import pandas as pd
import typer

from metricli.cli.common import (
    BatchRowsOption,
    DropMissingOption,
    ForceOption,
    FormatOption,
    JsonOption,
    OutputFormatOption,
    OutputOption,
    QuietOption,
    configure,
    emit_json,
    note,
    settings,
    split_columns,
)
from metricli.cli.streaming import PointStream, open_writer
from metricli.io.bundle import load_bundle
from metricli.io.tables import DEFAULT_BATCH_ROWS


def transform(
    bundle_path: Annotated[
        str, typer.Argument(metavar="BUNDLE", help="A model bundle folder.", show_default=False)
    ],
    data: Annotated[str, typer.Argument(help="Points to transform; '-' reads stdin.", show_default=False)],
    output: OutputOption = "-",
    fmt: FormatOption = None,
    output_format: OutputFormatOption = None,
    keep: Annotated[
        list[str] | None,
        typer.Option(
            "--keep",
            help="Input columns to copy to the output (e.g. an id or label; repeat or comma-separate).",
        ),
    ] = None,
    batch_rows: BatchRowsOption = DEFAULT_BATCH_ROWS,
    drop_missing: DropMissingOption = False,
    force: ForceOption = False,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Map each row x of DATA to L x, the space where Euclidean distance is the learned metric.

    Columns are matched to the bundle's features by name; other columns are
    ignored unless kept with --keep. Output columns are c0, c1, ... DATA is
    read in batches of --batch-rows and written as it goes, so memory does not
    grow with its size.
    """
    configure(json_output, quiet)
    bundle = load_bundle(bundle_path)
    kept = split_columns(keep) or []
    component_names = [f"c{i}" for i in range(bundle.L.shape[0])]
    with (
        open_writer(output, output_format, force) as writer,
        PointStream(
            data, fmt, batch_rows, bundle.feature_names, drop_missing=drop_missing, keep=kept
        ) as stream,
    ):
        for points in stream:
            frame = pd.DataFrame(points.X @ bundle.L.T, columns=component_names)
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
