"""``metricli neighbors``: the nearest reference rows of each query row under the learned metric."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import typer

from metricli.cli.common import (
    BatchRowsOption,
    DropMissingOption,
    ForceOption,
    FormatOption,
    IdOption,
    JsonOption,
    OutputFormatOption,
    OutputOption,
    QuietOption,
    configure,
    emit_json,
    note,
    settings,
)
from metricli.cli.streaming import LearnedSpace, PointStream, load_points, open_writer, row_keys
from metricli.errors import MetricliError
from metricli.io.bundle import load_bundle
from metricli.io.tables import DEFAULT_BATCH_ROWS, STDIN, display_name
from metricli.kernels import knn, radius_neighbors


def neighbors(
    bundle_path: Annotated[
        str, typer.Argument(metavar="BUNDLE", help="A model bundle folder.", show_default=False)
    ],
    reference: Annotated[
        str,
        typer.Argument(metavar="REFERENCE", help="The rows to search (held in memory).", show_default=False),
    ],
    query: Annotated[
        str,
        typer.Option(
            "--query",
            "-Q",
            metavar="QUERY",
            help="The rows to find neighbours for, streamed in batches; '-' reads stdin.",
            show_default=False,
        ),
    ],
    k: Annotated[
        int | None,
        typer.Option(
            "-k", "--k", min=1, help="How many neighbours per query row (with --radius: at most k)."
        ),
    ] = None,
    radius: Annotated[
        float | None,
        typer.Option("--radius", min=0.0, help="Every reference row within this learned distance."),
    ] = None,
    exclude_self: Annotated[
        bool,
        typer.Option(
            "--exclude-self",
            help="QUERY is the REFERENCE file: a row is not its own neighbour (its duplicates still are).",
        ),
    ] = False,
    id_column: IdOption = None,
    output: OutputOption = "-",
    fmt: FormatOption = None,
    output_format: OutputFormatOption = None,
    batch_rows: BatchRowsOption = DEFAULT_BATCH_ROWS,
    drop_missing: DropMissingOption = False,
    force: ForceOption = False,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """The k nearest REFERENCE rows of each QUERY row under the learned metric, exactly.

    Output: one row per (query, neighbour), nearest first, with columns query,
    rank (1, 2, ...), reference and d. Rows are named by their 0-based row
    number in their file, or by their --id value. Ties are broken by reference
    row order. --radius R gives every reference row within distance R instead
    (at most k of them with -k).

    The search is brute force in the learned space x -> L x, in bounded blocks
    on both sides: REFERENCE is held in memory, QUERY is streamed in batches
    of --batch-rows and its neighbours are written as each batch is done.
    --format applies to both files.
    """
    configure(json_output, quiet)
    if k is None and radius is None:
        raise MetricliError("give -k K (the k nearest) or --radius R (all within distance R), or both")
    if exclude_self and (query == STDIN or not _same_file(query, reference)):
        raise MetricliError("--exclude-self needs --query to be the REFERENCE file itself")
    bundle = load_bundle(bundle_path)
    selection = {"id_column": id_column, "drop_missing": drop_missing}
    ref = load_points(reference, fmt, bundle.feature_names, **selection)
    available = ref.n_samples - 1 if exclude_self else ref.n_samples
    if k is not None and k > available:
        raise MetricliError(
            f"-k {k} is larger than the {available} rows of {display_name(reference)}"
            + (" (not counting the row itself)" if exclude_self else "")
            + "; choose a smaller -k"
        )
    space = LearnedSpace(bundle, ref.X)
    Z_ref = space(ref.X)
    ref_keys = row_keys(ref)
    columns = ["query", "rank", "reference", "d"]
    with (
        open_writer(output, output_format, force) as writer,
        PointStream(query, fmt, batch_rows, bundle.feature_names, **selection) as stream,
    ):
        for points in stream:
            Z = space(points.X)
            exclude = np.searchsorted(ref.rows, points.rows) if exclude_self else None
            if radius is None:
                idx, sq = knn(Z, Z_ref, k, exclude=exclude, exact=True)
                counts = np.full(Z.shape[0], k)
                idx, sq = idx.ravel(), sq.ravel()
            else:
                offsets, idx, sq = radius_neighbors(Z, Z_ref, radius, k=k, exclude=exclude, exact=True)
                counts = np.diff(offsets)
            starts = np.repeat(np.cumsum(counts) - counts, counts)
            frame = pd.DataFrame(
                {
                    "query": np.repeat(row_keys(points), counts),
                    "rank": np.arange(idx.size) - starts + 1,
                    "reference": ref_keys[idx],
                    "d": np.sqrt(sq),
                }
            )
            writer.write(frame)
        writer.write_if_empty(pd.DataFrame(columns=columns))
    if output == "-":
        return
    summary = {
        "output": output,
        "rows": writer.rows,
        "queries": stream.read - stream.dropped,
        "reference_rows": ref.n_samples,
        "k": k,
        "radius": radius,
    }
    if settings.json:
        emit_json(summary)
    else:
        note(f"wrote {writer.rows} neighbours of {summary['queries']} query rows to {output}")


def _same_file(a: str, b: str) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return False
