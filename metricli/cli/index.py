"""``metricli index``: an approximate neighbour index in a bundle's learned space, built once."""

from __future__ import annotations

from typing import Annotated

import typer

from metricli.cli.common import (
    BatchRowsOption,
    BundleArgument,
    DropMissingOption,
    ForceOption,
    FormatOption,
    IdOption,
    JsonOption,
    QuietOption,
    configure,
    emit_json,
    note,
    open_engine,
    require_output_path,
    settings,
)
from metricli.cli.streaming import source_of
from metricli.engines import is_partitioned, operations
from metricli.errors import MetricliError
from metricli.io.atomic import INDEX, refuse_to_overwrite
from metricli.io.bundle import load_bundle
from metricli.io.index import (
    DEFAULT_EF_CONSTRUCTION,
    DEFAULT_EF_SEARCH,
    DEFAULT_LINKS,
    IndexBuilder,
    save_index,
)
from metricli.io.tables import DEFAULT_BATCH_ROWS, STDIN, display_name


def index(
    bundle_path: BundleArgument,
    data: Annotated[
        str,
        typer.Argument(help="The rows to index (the REFERENCE of neighbors), streamed.", show_default=False),
    ],
    output: Annotated[
        str, typer.Option("--output", "-o", help="The index folder to write.", show_default=False)
    ] = "-",
    fmt: FormatOption = None,
    id_column: IdOption = None,
    links: Annotated[
        int,
        typer.Option("--links", min=4, max=256, help="HNSW links per point (more: better recall, larger)."),
    ] = DEFAULT_LINKS,
    ef_construction: Annotated[
        int, typer.Option("--ef-construction", min=8, max=4096, help="HNSW candidates while building.")
    ] = DEFAULT_EF_CONSTRUCTION,
    ef_search: Annotated[
        int,
        typer.Option(
            "--ef-search",
            min=1,
            max=65536,
            help="HNSW candidates per query (stored; neighbors --ef overrides).",
        ),
    ] = DEFAULT_EF_SEARCH,
    batch_rows: BatchRowsOption = DEFAULT_BATCH_ROWS,
    drop_missing: DropMissingOption = False,
    force: ForceOption = False,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Build an approximate nearest-neighbour index of DATA in the bundle's learned space.

    Each row x of DATA is projected to L x (read in batches of --batch-rows) and added to
    an HNSW graph (faiss; Malkov & Yashunin 2020), stored with the row numbers and --id
    values in the folder OUTPUT with the checksum of every file and of the bundle's L.
    Query it with ``metricli neighbors BUNDLE --index OUTPUT -Q QUERY -k K``; an index is
    refused with any other bundle. Needs the extra: pip install 'metricli\\[index]'.
    """
    configure(json_output, quiet)
    require_output_path(output, "the index is a folder")
    if data == STDIN or is_partitioned(data):
        raise MetricliError(
            f"{display_name(data)}: the index is built from one file (CSV, TSV, Parquet or .npy)"
        )
    bundle = load_bundle(bundle_path)
    refuse_to_overwrite(output, force, INDEX)
    runner = open_engine("local", None)
    builder = IndexBuilder(bundle.L.shape[0], links=links, ef_construction=ef_construction)
    source = source_of(data, bundle, fmt, batch_rows, id_column=id_column, drop_missing=drop_missing)
    with runner:
        builder, done = operations.build_index(runner, bundle.L, source, builder)
    if builder.n == 0:
        raise MetricliError(f"{display_name(data)}: no rows to index")
    from metricli.io.tables import sha256_file

    described = {"name": display_name(data), "sha256": sha256_file(data), "id_column": id_column}
    save_index(output, builder, bundle.metadata, described, ef_search=ef_search, force=force)
    if settings.json:
        emit_json({"output": output, "rows": builder.n, "dropped": done.dropped, "dims": builder.dims})
    else:
        note(f"indexed {builder.n} rows in {builder.dims} dimensions to {output}")
