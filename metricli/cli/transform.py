"""``metricli transform``: x -> L x for every row, streamed in batches."""

from __future__ import annotations

from typing import Annotated

import numpy as np
import pandas as pd
import typer

from metricli.cli.common import (
    DropMissingOption,
    ForceOption,
    FormatOption,
    JsonOption,
    QuietOption,
    configure,
    emit_json,
    note,
    settings,
    split_columns,
)
from metricli.errors import MetricliError
from metricli.io.bundle import load_bundle
from metricli.io.tables import (
    DEFAULT_BATCH_ROWS,
    describe_rows,
    detect_format,
    display_name,
    iter_table,
    numeric_column,
)
from metricli.io.writers import TableWriter


def transform(
    bundle_path: Annotated[
        str, typer.Argument(metavar="BUNDLE", help="A model bundle folder.", show_default=False)
    ],
    data: Annotated[str, typer.Argument(help="Points to transform; '-' reads stdin.", show_default=False)],
    output: Annotated[
        str,
        typer.Option("--output", "-o", help="Output file (.csv, .tsv, .parquet), or '-' for CSV on stdout."),
    ] = "-",
    fmt: FormatOption = None,
    output_format: Annotated[
        str | None,
        typer.Option("--output-format", help="csv, tsv or parquet (default: by extension)."),
    ] = None,
    keep: Annotated[
        list[str] | None,
        typer.Option(
            "--keep",
            help="Input columns to copy to the output (e.g. an id or label; repeat or comma-separate).",
        ),
    ] = None,
    batch_rows: Annotated[
        int,
        typer.Option("--batch-rows", min=1, help="Rows per batch; memory is O(batch-rows × columns)."),
    ] = DEFAULT_BATCH_ROWS,
    drop_missing: DropMissingOption = False,
    force: ForceOption = False,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Map each row x of DATA to L x, the space where Euclidean distance is the learned metric.

    Columns are matched to the bundle's features by name; other columns are ignored
    unless kept with --keep. Output columns are c0, c1, ...
    """
    configure(json_output, quiet)
    bundle = load_bundle(bundle_path)
    names = bundle.feature_names
    kept = split_columns(keep) or []
    name = display_name(data)
    in_fmt = detect_format(data, fmt)
    line_offset = 2 if in_fmt in ("csv", "tsv") else None
    component_names = [f"c{i}" for i in range(bundle.L.shape[0])]
    dropped = 0
    with TableWriter(output, output_format, force=force) as writer:
        for batch in iter_table(data, fmt, batch_rows):
            if writer.rows == 0 and dropped == 0:
                missing = [c for c in names + kept if c not in batch.columns]
                if missing:
                    raise MetricliError(
                        f"{name}: no column '{missing[0]}'"
                        + (
                            " (a feature the metric was learned on)"
                            if missing[0] in names
                            else " (from --keep)"
                        )
                    )
            X = np.column_stack([numeric_column(batch[c], name, c, line_offset) for c in names])
            bad = ~np.isfinite(X).all(axis=1)
            if bad.any():
                if not drop_missing:
                    raise MetricliError(
                        f"{name}: missing or infinite values at {describe_rows(batch.index[bad])}; "
                        "fix them or pass --drop-missing"
                    )
                dropped += int(bad.sum())
                X, batch = X[~bad], batch.loc[~bad]
            Y = X @ bundle.L.T
            frame = pd.DataFrame(Y, columns=component_names)
            for column in reversed(kept):
                frame.insert(0, column, batch[column].to_numpy())
            writer.write(frame)
    if dropped:
        note(f"{name}: dropped {dropped} rows with missing or infinite values")
    if settings.json and output != "-":
        emit_json(
            {
                "output": output,
                "rows": writer.rows,
                "dropped": dropped,
                "components": len(component_names),
            }
        )
    elif output != "-":
        note(f"wrote {writer.rows} rows x {len(component_names)} components to {output}")
