"""``metricli neighbors``: the nearest reference rows of each query row under the learned metric."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

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
    configure,
    emit_json,
    note,
    open_engine,
    settings,
)
from metricli.cli.streaming import open_writer, output_to, source_of
from metricli.engines import is_partitioned, operations
from metricli.engines.operations import NEIGHBOUR_COLUMNS, Search
from metricli.errors import MetricliError
from metricli.io.atomic import refuse_to_overwrite
from metricli.io.bundle import load_bundle
from metricli.io.tables import DEFAULT_BATCH_ROWS, STDIN, sha256_file, table_rows


def neighbors(
    bundle_path: BundleArgument,
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
    reference: Annotated[
        str | None,
        typer.Argument(
            metavar="[REFERENCE]",
            help="The rows to search (held in memory); omitted with --index.",
            show_default=False,
        ),
    ] = None,
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
    index_path: Annotated[
        str | None,
        typer.Option(
            "--index",
            metavar="INDEX",
            help="Search this index (built by metricli index) instead of scanning REFERENCE: "
            "approximate, fast; -k only.",
            show_default=False,
        ),
    ] = None,
    exact: Annotated[
        bool, typer.Option("--exact", help="Scan REFERENCE exactly (the default without --index).")
    ] = False,
    ef: Annotated[
        int | None,
        typer.Option(
            "--ef", min=1, max=65536, help="With --index: HNSW candidates per query (default: the index's)."
        ),
    ] = None,
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

    With --engine dask, the side --stream names is partitioned Parquet (a folder of
    files in natural name order, or a glob; auto: QUERY if only QUERY is partitioned,
    else REFERENCE). --stream reference: the workers search their partitions of
    REFERENCE for the k nearest of every QUERY row (QUERY held in memory and sent to each
    worker once), and the per-partition answers are merged on the cluster, ties to the
    earlier reference row exactly as on one machine; the client writes the table.
    --stream query: REFERENCE is held in memory on every worker, each partition of QUERY
    is searched against it and written as one Parquet file of the folder OUTPUT.
    """
    configure(json_output, quiet)
    if k is None and radius is None:
        raise MetricliError("give -k K (the k nearest) or --radius R (all within distance R), or both")
    if index_path is not None:
        _with_index(
            bundle_path, index_path, query, k, radius, exact, ef, exclude_self, engine, id_column,
            output, fmt, output_format, batch_rows, drop_missing, force,
        )  # fmt: skip
        return
    if ef is not None:
        raise MetricliError("--ef tunes the search of an index; give --index INDEX")
    if reference is None:
        raise MetricliError("give REFERENCE (the rows to search) or --index INDEX (built by metricli index)")
    if exclude_self and (query == STDIN or not _same_file(query, reference)):
        raise MetricliError("--exclude-self needs --query to be the REFERENCE file itself")
    runner = open_engine(engine, scheduler)
    bundle = load_bundle(bundle_path)
    search = Search(k, radius, exclude_self)
    side = _streamed_side(runner.name, stream, reference, query, fmt, len(bundle.feature_names))
    if side == "query" and runner.name != "local" and output == "-":
        raise MetricliError(f"--engine {runner.name} writes a folder of Parquet files; name it with -o")
    if output != "-":
        refuse_to_overwrite(output, force)  # before a cluster starts
    selection = {"id_column": id_column, "drop_missing": drop_missing}
    queries = source_of(query, bundle, fmt, batch_rows, **selection)
    references = source_of(reference, bundle, fmt, batch_rows, **selection)
    with runner:
        if side == "reference":
            # QUERY in memory, REFERENCE read in pieces past it; the table written at the end
            held = runner.read(queries)
            frame, _ = operations.neighbors_in_reference(runner, bundle.L, references, held, search)
            with open_writer(output, output_format, force) as writer:
                for part in range(0, len(frame), 1 << 20):
                    writer.write(frame.iloc[part : part + (1 << 20)])
                writer.write_if_empty(frame)
            rows, n_queries = writer.rows, held.n_samples
        else:
            held = runner.read(references)
            target = output_to(output, output_format, force, _empty())
            done = operations.neighbors_of_queries(runner, bundle.L, held, queries, search, target)
            rows, n_queries = done.written, done.kept
    _finish(output, rows, n_queries, search, None if runner.name == "local" else runner.name)


def _with_index(
    bundle_path: str,
    index_path: str,
    query: str,
    k: int | None,
    radius: float | None,
    exact: bool,
    ef: int | None,
    exclude_self: bool,
    engine: str,
    id_column: str | None,
    output: str,
    fmt: str | None,
    output_format: str | None,
    batch_rows: int,
    drop_missing: bool,
    force: bool,
) -> None:
    """QUERY streamed, each batch searched in the index; REFERENCE is the index's DATA."""
    from metricli.io.index import load_index

    if exact:
        raise MetricliError("--exact scans REFERENCE; --index searches the index instead: give one of them")
    if radius is not None or k is None:
        raise MetricliError("--index answers -k K (the k nearest); for --radius scan REFERENCE exactly")
    if engine != "local":
        raise MetricliError("--index is searched in this process; use --engine local")
    bundle = load_bundle(bundle_path)
    found = load_index(index_path)
    found.check_bundle(bundle.metadata, str(bundle_path))
    if exclude_self and (query == STDIN or found.metadata["data"].get("sha256") != sha256_file(query)):
        raise MetricliError("--exclude-self needs --query to be the file the index was built from")
    if output != "-":
        refuse_to_overwrite(output, force)
    queries = source_of(query, bundle, fmt, batch_rows, id_column=id_column, drop_missing=drop_missing)
    if ef is not None:
        found.metadata["parameters"]["ef_search"] = ef
    search = Search(k, None, exclude_self)
    with open_engine("local", None) as runner:
        target = output_to(output, output_format, force, _empty())
        done = operations.neighbors_from_index(runner, bundle.L, found, queries, search, target)
    _finish(output, done.written, done.kept, search)


def _empty():
    import pandas as pd

    return pd.DataFrame(columns=NEIGHBOUR_COLUMNS)


def _finish(output: str, rows: int, queries: int, search: Search, engine: str | None = None) -> None:
    if output == "-":
        return
    if settings.json:
        emit_json(
            {
                "output": output,
                "rows": rows,
                "queries": queries,
                "k": search.k,
                "radius": search.radius,
                **({"engine": engine} if engine else {}),
            }
        )
    else:
        note(f"wrote {rows} neighbours of {queries} query rows to {output}" + (" (Dask)" if engine else ""))


#: with --stream auto, a reference whose features take more than this is streamed
_STREAM_REFERENCE_BYTES = 128 * 2**20


def _streamed_side(
    engine: str, choice: str, reference: str, query: str, fmt: str | None, n_features: int
) -> str:
    """Which side is read in pieces: as chosen; with auto, a large or partitioned REFERENCE
    (unless only QUERY is partitioned), else QUERY."""
    if choice != "auto":
        return choice
    if is_partitioned(query) and not is_partitioned(reference):
        return "query"
    if engine != "local" or is_partitioned(reference):
        return "reference"
    rows = table_rows(reference, fmt)
    return "reference" if rows is not None and rows * n_features * 8 > _STREAM_REFERENCE_BYTES else "query"


def _same_file(a: str, b: str) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return False
