"""``metricli neighbors``: the nearest reference rows of each query row under the learned metric."""

from __future__ import annotations

from typing import Annotated, Literal

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
from metricli.cli.streaming import output_format as streamed_format
from metricli.engines.operations import Search
from metricli.errors import MetricliError
from metricli.io.atomic import refuse_to_overwrite
from metricli.io.bundle import load_bundle
from metricli.io.tables import DEFAULT_BATCH_ROWS, STDIN


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
            help="Search this index (built by metricli index from REFERENCE) instead of scanning "
            "REFERENCE: approximate and fast; -k only.",
            show_default=False,
        ),
    ] = None,
    exact: Annotated[
        bool, typer.Option("--exact", help="Scan REFERENCE exactly (the default without --index).")
    ] = False,
    ef: Annotated[
        int | None,
        typer.Option(
            "--ef",
            min=1,
            max=65536,
            help="With --index: HNSW candidates per query, more for better recall (default: the index's).",
        ),
    ] = None,
    id_column: IdOption = None,
    keep: KeepOption = None,
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
    """The k nearest REFERENCE rows of each QUERY row under the learned metric, exactly.

    Output: one row per (query, neighbour), nearest first, with columns query,
    rank (1, 2, ...), reference and d, after the query row's --keep columns. Rows are
    named by their 0-based row number in their file, or by their --id value (integers
    stay integers). Ties are broken by reference
    row order. --radius R gives every reference row within distance R instead
    (at most k of them with -k).

    The search is brute force in the learned space x -> L x, in bounded blocks
    on both sides: REFERENCE is held in memory, QUERY is streamed in batches
    of --batch-rows and its neighbours are written as each batch is done.
    --format applies to both files.

    With --index INDEX (built by metricli index from the REFERENCE file) no REFERENCE is
    given: each QUERY batch is searched in the index's HNSW graph instead, approximately
    (raise --ef for recall, at some speed), -k only; the output is the same table, rows
    named as the exact scan names them. --exact (the default without --index) scans.

    With --engine dask, the side --stream names is partitioned (Parquet, or CSV/TSV files,
    compressed too: a file, a folder of files in natural name order, or a glob; auto: QUERY if only QUERY is partitioned,
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
        if exact:
            raise MetricliError(
                "--exact scans REFERENCE; --index searches the index instead: give one of them"
            )
        if reference is not None:
            raise MetricliError("--index searches the rows it was built from; give no REFERENCE with it")
        if engine != "local":
            raise MetricliError("--index is searched in this process; use --engine local")
        _with_index(bundle_path, index_path, query, k, radius, exclude_self, ef, id_column, keep or [],
                    output, fmt, output_format, batch_rows, drop_missing, force)  # fmt: skip
        return
    if ef is not None:
        raise MetricliError("--ef tunes the search of an index; give --index INDEX")
    if reference is None:
        raise MetricliError("give REFERENCE (the rows to search) or --index INDEX (built by metricli index)")
    if exclude_self and (query == STDIN or not api.same_file(query, reference)):
        raise MetricliError("--exclude-self needs --query to be the REFERENCE file itself")
    runner = open_engine(engine, scheduler)
    bundle = load_bundle(bundle_path)
    search = Search(k, radius, exclude_self)
    side = api.streamed_side(runner.name, stream, reference, query, fmt, len(bundle.feature_names))
    if side == "query" and runner.name != "local" and output == "-":
        raise MetricliError(f"--engine {runner.name} writes a folder of Parquet files; name it with -o")
    if output != "-":
        refuse_to_overwrite(output, force)  # before a cluster starts
    with runner:
        done = api.neighbors(
            bundle,
            reference,
            query,
            k=k,
            radius=radius,
            exclude_self=exclude_self,
            engine=runner,
            stream=side,
            id_column=id_column,
            keep=keep or [],
            output=output,
            output_format=streamed_format(output, output_format),
            force=force,
            fmt=fmt,
            batch_rows=batch_rows,
            drop_missing=drop_missing,
        )
    _finish(output, done.written, done.kept, search, None if runner.name == "local" else runner.name)


def _with_index(
    bundle_path: str,
    index_path: str,
    query: str,
    k: int | None,
    radius: float | None,
    exclude_self: bool,
    ef: int | None,
    id_column: str | None,
    keep: list[str],
    output: str,
    fmt: str | None,
    output_format: str | None,
    batch_rows: int,
    drop_missing: bool,
    force: bool,
) -> None:
    """QUERY streamed, each batch searched in the index; the reference is the index's DATA."""
    from metricli.io.index import load_index

    if radius is not None or k is None:
        raise MetricliError("--index answers -k K (the k nearest); for --radius scan REFERENCE exactly")
    bundle = load_bundle(bundle_path)
    found = load_index(index_path, bundle)
    if output != "-":
        refuse_to_overwrite(output, force)
    done = api.neighbors_in_index(
        bundle,
        found,
        query,
        k=k,
        exclude_self=exclude_self,
        ef=ef,
        id_column=id_column,
        keep=keep,
        output=output,
        output_format=streamed_format(output, output_format),
        force=force,
        fmt=fmt,
        batch_rows=batch_rows,
        drop_missing=drop_missing,
    )
    _finish(output, done.written, done.kept, Search(k, None, exclude_self))


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
