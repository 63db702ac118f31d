"""``metricli index``: an approximate neighbour index in a bundle's learned space, built once."""

from __future__ import annotations

from typing import Annotated

import typer

from metricli import api
from metricli.cli.common import (
    BatchRowsOption,
    BundleArgument,
    DelimiterOption,
    DropMissingOption,
    ForceOption,
    FormatOption,
    IdOption,
    JsonOption,
    QuietOption,
    configure,
    emit_json,
    note,
    require_output_path,
    settings,
)
from metricli.io.atomic import INDEX, refuse_to_overwrite
from metricli.io.bundle import load_bundle
from metricli.io.index import (
    DEFAULT_EF_CONSTRUCTION,
    DEFAULT_EF_SEARCH,
    DEFAULT_LINKS,
)
from metricli.io.tables import DEFAULT_BATCH_ROWS


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
    delimiter: DelimiterOption = None,
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
    bundle = load_bundle(bundle_path)
    refuse_to_overwrite(output, force, INDEX)
    done = api.build_index(
        bundle,
        data,
        output,
        links=links,
        ef_construction=ef_construction,
        ef_search=ef_search,
        id_column=id_column,
        force=force,
        fmt=fmt,
        batch_rows=batch_rows,
        drop_missing=drop_missing,
    )
    if settings.json:
        emit_json({"output": output, **done})
    else:
        note(f"indexed {done['rows']} rows in {done['dims']} dimensions to {output}")
