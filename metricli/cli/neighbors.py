"""``metricli neighbors``: the nearest reference rows of each query row under the learned metric."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

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
from metricli.cli.streaming import PointStream, load_points, open_writer, row_keys
from metricli.errors import MetricliError
from metricli.io.bundle import Bundle, load_bundle
from metricli.io.tables import DEFAULT_BATCH_ROWS, STDIN, display_name, table_rows
from metricli.io.writers import TableWriter
from metricli.kernels import StreamingNeighbors, row_blocks


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
    stream: Annotated[
        Literal["auto", "query", "reference"],
        typer.Option(
            "--stream",
            help="Which file to read in batches: query (REFERENCE in memory, neighbours written per "
            "query batch), reference (QUERY in memory, REFERENCE streamed past it, neighbours written "
            "at the end: for a reference larger than memory), auto (reference when REFERENCE is a "
            "Parquet or .npy file whose features exceed 128 MiB, else query).",
        ),
    ] = "auto",
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
    search = Search(k, radius, exclude_self)
    if _streamed_side(stream, reference, fmt, len(bundle.feature_names)) == "reference":
        with open_writer(output, output_format, force) as writer:
            queries = _stream_reference(bundle, reference, query, fmt, batch_rows, selection, search, writer)
        _finish(output, writer, queries, search)
        return
    ref = load_points(reference, fmt, bundle.feature_names, **selection)
    if k is not None:
        _check_k(k, ref.n_samples - exclude_self, reference, exclude_self)
    Z_ref = ref.X @ bundle.L.T
    ref_keys = row_keys(ref)
    columns = ["query", "rank", "reference", "d"]
    with (
        open_writer(output, output_format, force) as writer,
        PointStream(query, fmt, batch_rows, bundle.feature_names, **selection) as stream,
    ):
        for points in stream:
            Z = points.X @ bundle.L.T
            exclude = np.searchsorted(ref.rows, points.rows) if exclude_self else None
            found = StreamingNeighbors(Z, k=k, radius=radius, exclude=exclude, exact=True)
            # the reference in chunks: after the first, only rows closer than a query's k-th are looked at
            for part in row_blocks(Z_ref.shape[0], _REFERENCE_CHUNK):
                found.add(Z_ref[part], np.arange(part.start, part.stop))
            offsets, idx, sq = found.result()
            writer.write(_neighbour_rows(row_keys(points), np.diff(offsets), ref_keys[idx], sq))
        writer.write_if_empty(pd.DataFrame(columns=columns))
    _finish(output, writer, stream.read - stream.dropped, search)


@dataclass
class Search:
    """What was asked: the k nearest, everything within radius, or at most k within radius."""

    k: int | None
    radius: float | None
    exclude_self: bool


def _finish(output: str, writer: TableWriter, queries: int, search: Search) -> None:
    if output == "-":
        return
    if settings.json:
        emit_json(
            {
                "output": output,
                "rows": writer.rows,
                "queries": queries,
                "k": search.k,
                "radius": search.radius,
            }
        )
    else:
        note(f"wrote {writer.rows} neighbours of {queries} query rows to {output}")


#: reference rows searched at a time when the reference is in memory
_REFERENCE_CHUNK = 65_536

#: with --stream auto, a reference whose features take more than this is streamed
_STREAM_REFERENCE_BYTES = 128 * 2**20


def _streamed_side(choice: str, reference: str, fmt: str | None, n_features: int) -> str:
    if choice != "auto":
        return choice
    rows = table_rows(reference, fmt)
    return "reference" if rows is not None and rows * n_features * 8 > _STREAM_REFERENCE_BYTES else "query"


def _stream_reference(
    bundle: Bundle,
    reference: str,
    query: str,
    fmt: str | None,
    batch_rows: int,
    selection: dict[str, Any],
    search: Search,
    writer: TableWriter,
) -> int:
    """QUERY in memory, REFERENCE streamed past it; returns the number of query rows."""
    queries = load_points(query, fmt, bundle.feature_names, **selection)
    rows = table_rows(reference, fmt)
    if search.k is not None and rows is not None:
        _check_k(search.k, rows - search.exclude_self, reference, search.exclude_self)
    # reference rows are known by their row in the file, which also orders ties
    exclude = queries.rows if search.exclude_self else None
    found = StreamingNeighbors(
        queries.X @ bundle.L.T, k=search.k, radius=search.radius, exclude=exclude, exact=True
    )
    ids: dict[int, str] = {}
    n_reference = 0
    with PointStream(reference, fmt, batch_rows, bundle.feature_names, **selection) as stream:
        for points in stream:
            found.add(points.X @ bundle.L.T, points.rows)
            n_reference += points.n_samples
            if points.ids is not None:  # keep the ids of the rows that are answers so far, no more
                held = found.held()
                ids = {r: ids[r] for r in held if r in ids}
                fresh = np.isin(points.rows, held)
                ids.update(zip(points.rows[fresh].tolist(), points.ids[fresh], strict=True))
    offsets, idx, sq = found.result()
    counts = np.diff(offsets)
    if search.k is not None and search.radius is None:
        _check_k(search.k, n_reference - search.exclude_self, reference, search.exclude_self)
    keys = np.array([ids[r] for r in idx.tolist()], dtype=object) if selection["id_column"] else idx
    frame = _neighbour_rows(row_keys(queries), counts, keys, sq)
    for part in range(0, len(frame), 1 << 20):
        writer.write(frame.iloc[part : part + (1 << 20)])
    writer.write_if_empty(frame)
    return queries.n_samples


def _check_k(k: int, available: int, reference: str, exclude_self: bool) -> None:
    if k > available:
        raise MetricliError(
            f"-k {k} is larger than the {available} rows of {display_name(reference)}"
            + (" (not counting the row itself)" if exclude_self else "")
            + "; choose a smaller -k"
        )


def _neighbour_rows(query_keys: np.ndarray, counts: np.ndarray, reference_keys: np.ndarray, sq: np.ndarray):
    """The output table: query, rank, reference, d; ``counts`` neighbours per query row, nearest first."""
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return pd.DataFrame(
        {
            "query": np.repeat(query_keys, counts),
            "rank": np.arange(sq.size) - starts + 1,
            "reference": reference_keys,
            "d": np.sqrt(sq),
        }
    )


def _same_file(a: str, b: str) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return False
