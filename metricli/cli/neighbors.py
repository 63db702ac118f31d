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
from metricli.io.tables import DEFAULT_BATCH_ROWS, STDIN, Dataset, display_name, table_rows
from metricli.io.writers import TableWriter
from metricli.kernels import NeighbourAnswers, StreamingNeighbors, project, row_blocks


def neighbors(
    bundle_path: BundleArgument,
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
    if exclude_self and (query == STDIN or not _same_file(query, reference)):
        raise MetricliError("--exclude-self needs --query to be the REFERENCE file itself")
    on_dask = check_engine(engine, scheduler)
    bundle = load_bundle(bundle_path)
    selection = {"id_column": id_column, "drop_missing": drop_missing}
    search = Search(k, radius, exclude_self)
    if on_dask:
        _on_dask(
            bundle, reference, query, stream, fmt, selection, search, output, output_format, force, scheduler
        )
        return
    if _streamed_side(stream, reference, fmt, len(bundle.feature_names)) == "reference":
        with open_writer(output, output_format, force) as writer:
            queries = _stream_reference(bundle, reference, query, fmt, batch_rows, selection, search, writer)
        _finish(output, writer.rows, queries, search)
        return
    ref = load_points(reference, fmt, bundle.feature_names, **selection)
    if k is not None:
        _check_k(k, ref.n_samples - exclude_self, reference, exclude_self)
    Z_ref = project(ref.X, bundle.L)
    with (
        open_writer(output, output_format, force) as writer,
        PointStream(query, fmt, batch_rows, bundle.feature_names, **selection) as points_stream,
    ):
        for points in points_stream:
            writer.write(_query_rows(points, bundle.L, Z_ref, ref, search))
        writer.write_if_empty(pd.DataFrame(columns=_COLUMNS))
    _finish(output, writer.rows, points_stream.read - points_stream.dropped, search)


_COLUMNS = ["query", "rank", "reference", "d"]


def _query_rows(
    points: Dataset, L: np.ndarray, Z_ref: np.ndarray, ref: Dataset, search: Search
) -> pd.DataFrame:
    """The output rows for a batch (or a Dask partition) of queries against the reference in memory."""
    Z = project(points.X, L)
    exclude = np.searchsorted(ref.rows, points.rows) if search.exclude_self else None
    found = StreamingNeighbors(Z, k=search.k, radius=search.radius, exclude=exclude, exact=True)
    # the reference in chunks: after the first, only rows closer than a query's k-th are looked at
    for part in row_blocks(Z_ref.shape[0], _REFERENCE_CHUNK):
        found.add(Z_ref[part], np.arange(part.start, part.stop))
    offsets, idx, sq = found.result()
    return _neighbour_rows(row_keys(points), np.diff(offsets), row_keys(ref)[idx], sq)


@dataclass
class Search:
    """What was asked: the k nearest, everything within radius, or at most k within radius."""

    k: int | None
    radius: float | None
    exclude_self: bool


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
        project(queries.X, bundle.L), k=search.k, radius=search.radius, exclude=exclude, exact=True
    )
    ids: dict[int, str] = {}
    n_reference = 0
    with PointStream(reference, fmt, batch_rows, bundle.feature_names, **selection) as stream:
        for points in stream:
            found.add(project(points.X, bundle.L), points.rows)
            n_reference += points.n_samples
            if points.ids is not None:  # keep the ids of the rows that are answers so far, no more
                held = found.held()
                ids = {r: ids[r] for r in held if r in ids}
                fresh = np.isin(points.rows, held)
                ids.update(zip(points.rows[fresh].tolist(), points.ids[fresh], strict=True))
    _write_answers(found.answers(), ids, queries, n_reference, reference, search, selection, writer)
    return queries.n_samples


def _write_answers(
    answers: NeighbourAnswers,
    ids: dict[int, str],
    queries: Dataset,
    n_reference: int,
    reference: str,
    search: Search,
    selection: dict[str, Any],
    writer: TableWriter,
) -> None:
    """The neighbours found in a streamed or partitioned reference, as the output table."""
    offsets, idx, sq = answers.result()
    counts = np.diff(offsets)
    if search.k is not None and search.radius is None:
        _check_k(search.k, n_reference - search.exclude_self, reference, search.exclude_self)
    keys = np.array([ids[r] for r in idx.tolist()], dtype=object) if selection["id_column"] else idx
    frame = _neighbour_rows(row_keys(queries), counts, keys, sq)
    for part in range(0, len(frame), 1 << 20):
        writer.write(frame.iloc[part : part + (1 << 20)])
    writer.write_if_empty(frame)


# -- the Dask engine -------------------------------------------------------------------------


def _on_dask(
    bundle: Bundle,
    reference: str,
    query: str,
    stream: str,
    fmt: str | None,
    selection: dict[str, Any],
    search: Search,
    output: str,
    output_format: str | None,
    force: bool,
    scheduler: str | None,
) -> None:
    from metricli import distributed

    side = stream
    if side == "auto":
        only_query = distributed.is_partitioned(query) and not distributed.is_partitioned(reference)
        side = "query" if only_query else "reference"
    if side == "query":
        check_engine("dask", scheduler, output)
        refuse_to_overwrite(output, force)
    with distributed.dask_client(scheduler):
        if side == "reference":
            with open_writer(output, output_format, force) as writer:
                queries = _reference_on_dask(bundle, reference, query, fmt, selection, search, writer)
            _finish(output, writer.rows, queries, search, "dask")
        else:
            rows, queries = _queries_on_dask(bundle, reference, query, fmt, selection, search, output, force)
            _finish(output, rows, queries, search, "dask")


def _load_side(source: str, fmt: str | None, features: list[str], selection: dict[str, Any]) -> Dataset:
    """The side held in memory: one file, or a partitioned data set collected on the client."""
    from metricli import distributed

    if not distributed.is_partitioned(source):
        return load_points(source, fmt, features, **selection)
    frame = distributed.read_parquet(source)
    columns = [*features, *([selection["id_column"]] if selection["id_column"] else [])]
    distributed.require_columns(frame, columns, display_name(source), FEATURE_WHY)
    return distributed_points(
        distributed.collect(frame, columns), 0, display_name(source), features, selection
    )


def _reference_on_dask(
    bundle: Bundle,
    reference: str,
    query: str,
    fmt: str | None,
    selection: dict[str, Any],
    search: Search,
    writer: TableWriter,
) -> int:
    """QUERY on every worker; each partition of REFERENCE searched there; the answers merged on the cluster."""
    from metricli import distributed

    where = display_name(reference)
    frame = distributed.read_parquet(reference)
    columns = [*bundle.feature_names, *([selection["id_column"]] if selection["id_column"] else [])]
    distributed.require_columns(frame, columns, where, FEATURE_WHY)
    starts = distributed.partition_starts(frame)
    if search.k is not None:
        _check_k(search.k, int(starts[-1]) - search.exclude_self, reference, search.exclude_self)
    queries = _load_side(query, fmt, bundle.feature_names, selection)
    # reference rows are known by their row in the data set, which also orders ties
    exclude = queries.rows if search.exclude_self else None
    shared = distributed.share((project(queries.X, bundle.L), bundle.L, exclude, search))
    parts = [
        distributed.task(_search_partition)(
            part, int(starts[i]), shared, where, bundle.feature_names, selection
        )
        for i, part in enumerate(distributed.partitions(frame, columns))
    ]
    answers, ids, n_reference = distributed.compute([distributed.tree_reduce(parts, _merge_found)])[0]
    _write_answers(answers, ids, queries, n_reference, reference, search, selection, writer)
    return queries.n_samples


def _search_partition(
    part: pd.DataFrame,
    start: int,
    shared: tuple[np.ndarray, np.ndarray, np.ndarray | None, Search],
    where: str,
    features: list[str],
    selection: dict[str, Any],
) -> tuple[NeighbourAnswers, dict[int, str], int]:
    """On a worker: the neighbours of every query among one partition's rows, and the ids of those rows."""
    Z_query, L, exclude, search = shared
    points = distributed_points(part, start, where, features, selection)
    found = StreamingNeighbors(Z_query, k=search.k, radius=search.radius, exclude=exclude, exact=True)
    found.add(project(points.X, L), points.rows)
    answers = found.answers()
    ids: dict[int, str] = {}
    if points.ids is not None:
        held = np.isin(points.rows, answers.held())
        ids = dict(zip(points.rows[held].tolist(), points.ids[held], strict=True))
    return answers, ids, points.n_samples


def _merge_found(
    a: tuple[NeighbourAnswers, dict[int, str], int], b: tuple[NeighbourAnswers, dict[int, str], int]
) -> tuple[NeighbourAnswers, dict[int, str], int]:
    answers = a[0].merge(b[0])
    ids = {}
    if a[1] or b[1]:
        ids = {r: (a[1] | b[1])[r] for r in answers.held().tolist()}
    return answers, ids, a[2] + b[2]


def _queries_on_dask(
    bundle: Bundle,
    reference: str,
    query: str,
    fmt: str | None,
    selection: dict[str, Any],
    search: Search,
    output: str,
    force: bool,
) -> tuple[int, int]:
    """REFERENCE on every worker; each partition of QUERY searched there and written as one file."""
    from metricli import distributed

    ref = _load_side(reference, fmt, bundle.feature_names, selection)
    if search.k is not None:
        _check_k(search.k, ref.n_samples - search.exclude_self, reference, search.exclude_self)
    where = display_name(query)
    frame = distributed.read_parquet(query)
    columns = [*bundle.feature_names, *([selection["id_column"]] if selection["id_column"] else [])]
    distributed.require_columns(frame, columns, where, FEATURE_WHY)
    starts = distributed.partition_starts(frame)
    shared = distributed.share((project(ref.X, bundle.L), ref, bundle.L, search))
    written = distributed.write_partitions(
        output,
        force,
        lambda folder: [
            distributed.task(_query_partition)(
                part,
                int(starts[i]),
                distributed.partition_file(folder, i),
                shared,
                where,
                bundle.feature_names,
                selection,
            )
            for i, part in enumerate(distributed.partitions(frame, columns))
        ],
        empty=_neighbour_rows(
            np.empty(0, dtype=np.int64), np.empty(0, dtype=np.intp), np.empty(0, np.int64), np.empty(0)
        ),
    )
    return sum(rows for rows, _ in written), sum(queries for _, queries in written)


def _query_partition(
    part: pd.DataFrame,
    start: int,
    path: str,
    shared: tuple[np.ndarray, Dataset, np.ndarray, Search],
    where: str,
    features: list[str],
    selection: dict[str, Any],
) -> tuple[int, int]:
    """On a worker: one partition of QUERY against the whole reference, written to ``path``."""
    Z_ref, ref, L, search = shared
    points = distributed_points(part, start, where, features, selection)
    if points.n_samples == 0:
        return 0, 0
    with TableWriter(path, "parquet") as writer:
        writer.write(_query_rows(points, L, Z_ref, ref, search))
    return writer.rows, points.n_samples


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
