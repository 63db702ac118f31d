"""``metricli constraints``: draw pairs, triplets, quadruplets or chunks from labels, into a file.

The same seeded generator ``metricli fit ALGO --label COL --n-constraints N --seed S``
uses, so a file written here and passed back with --pairs/--triplets/--quadruplets
gives the same fit; in between, users can inspect and edit it.
"""

from __future__ import annotations

from typing import Annotated, Literal

import pandas as pd
import typer

from metricli import constraints as weak
from metricli.cli.common import (
    DropMissingOption,
    ExcludeOption,
    FeaturesOption,
    ForceOption,
    FormatOption,
    IdOption,
    JsonOption,
    QuietOption,
    configure,
    emit_json,
    note,
    out,
    settings,
)
from metricli.cli.fit import standardization
from metricli.errors import MetricliError
from metricli.io.constraints import point_header
from metricli.io.tables import display_name, load_dataset
from metricli.io.writers import TableWriter


def constraints(
    data: Annotated[
        str,
        typer.Argument(help="Table of points with a label column; '-' reads stdin.", show_default=False),
    ],
    label: Annotated[
        str,
        typer.Option(
            "--label", "-y", help="Column of class labels (blank = unlabelled).", show_default=False
        ),
    ],
    kind: Annotated[
        Literal["pairs", "triplets", "quadruplets", "chunks"],
        typer.Option("--kind", "-k", help="What to draw."),
    ] = "pairs",
    n: Annotated[
        int | None,
        typer.Option(
            "--n",
            "-n",
            min=1,
            help="How many to draw (default as in fit: pairs 40 × classes², quadruplets 20 × classes², "
            "random triplets 30 × points, all neighbour triplets, 100 chunks).",
        ),
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", min=0, help="Random seed (same as fit's --seed).")
    ] = None,
    strategy: Annotated[
        Literal["neighbors", "random"] | None,
        typer.Option(
            "--strategy",
            help="Triplets: neighbors (each point with its 3 nearest same-class and 10 nearest other-class "
            "points; the default, as in fit) or random.",
        ),
    ] = None,
    standardize: Annotated[
        bool,
        typer.Option("--standardize", help="Find neighbours in z-scored features (match fit --standardize)."),
    ] = False,
    chunk_size: Annotated[int, typer.Option("--chunk-size", min=2, help="Points per chunk.")] = 2,
    output: Annotated[
        str,
        typer.Option("--output", "-o", help="Output file (.csv, .tsv, .parquet), or '-' for CSV on stdout."),
    ] = "-",
    id_column: IdOption = None,
    features: FeaturesOption = None,
    exclude: ExcludeOption = None,
    fmt: FormatOption = None,
    drop_missing: DropMissingOption = False,
    force: ForceOption = False,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Draw constraints from the labels of DATA and write them as a constraint file.

    Pairs a,b,y (y = 1 same class, -1 different classes); triplets anchor,positive,negative
    (by default among nearest neighbours, which needs the features); quadruplets a,b,c,d
    (a, b of one class; c, d of two); chunks row,chunk (-1: in no chunk). Points are
    named by their 0-based row in DATA, or by their --id. Never a point with itself,
    never the same constraint twice. Feature options choose the rows kept
    (--drop-missing) and the space of the neighbours, exactly as in fit.
    """
    configure(json_output, quiet)
    if settings.json and output == "-":
        raise MetricliError("--json prints a summary on stdout; write the constraints to a file with -o FILE")
    dataset = load_dataset(
        data,
        fmt,
        label=label,
        id_column=id_column,
        features=features,
        exclude=exclude or (),
        drop_missing=drop_missing,
        learning=False,
    )
    for message in dataset.notes:
        note(message)
    labelled = dataset.labelled
    n_classes = len({str(v) for v in dataset.labels[labelled]})
    if n_classes < 2:
        found = "a single class" if n_classes else "no labelled rows"
        raise MetricliError(
            f"{dataset.name}: label column '{label}' has {found}; constraints need at least two classes"
        )
    strategy = strategy or ("neighbors" if kind == "triplets" else "random")
    if strategy == "neighbors" and kind != "triplets":
        raise MetricliError(f"--strategy neighbors draws triplets; use --strategy random for {kind}")
    requested = n
    if requested is None and strategy == "random":
        requested = weak.default_count(kind, n_classes, int(labelled.sum()))
        capped = weak.default_note(kind, n_classes, int(labelled.sum()))
        if capped:
            note(f"{dataset.name}: {capped}")
    X = dataset.X
    if standardize:
        mean, scale = standardization(X)
        X = (X - mean) / scale
    drawn = weak.from_labels(
        kind, dataset.labels, requested, seed=seed, chunk_size=chunk_size, X=X, strategy=strategy
    )
    if requested is not None and len(drawn) < requested:
        note(f"{dataset.name}: drew {len(drawn)} {kind} ({requested} asked; no more distinct ones exist)")

    # points are written as data-file rows (rows dropped by --drop-missing keep their numbers) or ids
    names = dataset.ids if dataset.ids is not None else dataset.rows
    if isinstance(drawn, weak.Chunks):
        frame = pd.DataFrame({"id" if dataset.ids is not None else "row": names, "chunk": drawn.ids})
    else:
        reference = "id" if dataset.ids is not None else "row"
        frame = pd.DataFrame(
            {
                (c if c == "y" else point_header(reference, c)): (v if c == "y" else names[v])
                for c, v in drawn.as_columns().items()
            }
        )
    with TableWriter(output, None, force=force) as writer:
        writer.write(frame)

    summary = {
        "output": output,
        "data": display_name(data),
        "label": label,
        "seed": seed,
        "strategy": strategy,
        "requested": None if requested is None else int(requested),
        "by": "id" if dataset.ids is not None else "row",
        **weak.describe(drawn),
    }
    if settings.json:
        emit_json(summary)
    elif output != "-" and not settings.quiet:
        counts = ""
        if "similar" in summary:
            counts = f" ({summary['similar']} similar, {summary['dissimilar']} dissimilar)"
        out.print(f"wrote {summary['count']} {kind}{counts} to {output}", markup=False)
