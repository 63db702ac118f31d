"""``metricli constraints``: draw pairs, triplets, quadruplets or chunks from labels, into a file.

The same seeded generator ``metricli fit ALGO --label COL --n-constraints N --seed S``
uses, so a file written here and passed back with --pairs/--triplets/--quadruplets
gives the same fit; in between, users can inspect and edit it.
"""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
import typer

from metricli import constraints as weak
from metricli.cli.common import (
    DelimiterOption,
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
from metricli.errors import MetricliError
from metricli.evaluation import standardization
from metricli.io.atomic import refuse_to_overwrite
from metricli.io.constraints import point_header
from metricli.io.tables import Dataset, display_name, load_dataset
from metricli.io.writers import TableWriter
from metricli.lazy import pd
from metricli.verification import identity_split


def constraints(
    data: Annotated[
        str,
        typer.Argument(help="Table of points with a label column; '-' reads stdin.", show_default=False),
    ],
    label: Annotated[
        str | None,
        typer.Option(
            "--label",
            "-y",
            help="Column of class labels (blank = unlabelled); with --group, defaults to the group column.",
            show_default=False,
        ),
    ] = None,
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
    group: Annotated[
        str | None,
        typer.Option(
            "--group",
            metavar="COLUMN",
            help="Identity-disjoint: hold out whole identities of this column (--holdout of them, by "
            "--seed); -o gets constraints among the others only, --test-output those among the held-out.",
            show_default=False,
        ),
    ] = None,
    holdout: Annotated[
        float, typer.Option("--holdout", help="With --group: the fraction of identities held out.")
    ] = 0.3,
    test_output: Annotated[
        str | None,
        typer.Option(
            "--test-output",
            metavar="FILE",
            help="With --group: write the constraints among the held-out identities here (e.g. pairs "
            "for calibrate or evaluate --pairs).",
            show_default=False,
        ),
    ] = None,
    id_column: IdOption = None,
    features: FeaturesOption = None,
    exclude: ExcludeOption = None,
    fmt: FormatOption = None,
    delimiter: DelimiterOption = None,
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
    if group is None and (test_output is not None or holdout != 0.3):
        raise MetricliError(
            "--holdout and --test-output split by identity; name the identity column with --group"
        )
    if group is not None and output == "-" and test_output == "-":
        raise MetricliError("-o and --test-output cannot both be stdout")
    label = label or group
    if label is None:
        raise MetricliError("name the column of class labels with --label (or the identities with --group)")
    for target in (output, test_output):
        if target not in (None, "-"):
            refuse_to_overwrite(target, force)
    dataset = load_dataset(
        data,
        fmt,
        label=label,
        id_column=id_column,
        features=features,
        exclude=exclude or (),
        drop_missing=drop_missing,
        learning=False,
        extra_columns=[group] if group is not None and group != label else (),
    )
    for message in dataset.notes:
        note(message)
    strategy = strategy or ("neighbors" if kind == "triplets" else "random")
    if strategy == "neighbors" and kind != "triplets":
        raise MetricliError(f"--strategy neighbors draws triplets; use --strategy random for {kind}")
    X = dataset.X
    if standardize:
        mean, scale = standardization(X)
        X = (X - mean) / scale
    sides = {"train": dataset.labels}
    split: dict[str, object] = {}
    if group is not None:
        identities = dataset.labels if group == label else dataset.extra[group].to_numpy(dtype=object)
        held = identity_split(identities, holdout, seed)
        sides = {"train": _only(dataset.labels, ~held), "test": _only(dataset.labels, held)}
        split = {
            "group": group,
            "holdout": holdout,
            "identities": {
                side: _count_identities(identities, mask) for side, mask in (("train", ~held), ("test", held))
            },
        }
    targets = {"train": output, "test": test_output}
    written = {}
    for side, labels in sides.items():
        where = dataset.name if group is None else f"{dataset.name} ({side} identities)"
        written[side] = _draw(where, label, kind, labels, n, seed, chunk_size, X, strategy)
    for side, drawn in written.items():  # every side drawn before any file is written
        if targets[side] is not None:
            _write(drawn, dataset, targets[side], force)
    summary = {
        "output": output,
        "data": display_name(data),
        "label": label,
        "seed": seed,
        "strategy": strategy,
        "requested": n,
        "by": "id" if dataset.ids is not None else "row",
        **weak.describe(written["train"]),
    }
    if group is not None:
        summary["split"] = {**split, "test_output": test_output, "test": weak.describe(written["test"])}
        if test_output is None:
            note(
                f"{dataset.name}: {split['identities']['test']} identities held out and left unused; "
                "write their constraints with --test-output FILE"
            )
    if settings.json:
        emit_json(summary)
    elif not settings.quiet:
        for side, target in targets.items():
            if target not in (None, "-") and side in written:
                out.print(f"wrote {_counted(written[side], kind)} to {target}", markup=False)


def _only(labels: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """The labels of the rows kept; the others become unlabelled (None), so nothing is drawn from them."""
    side = np.asarray(labels, dtype=object).copy()
    side[~keep] = None
    return side


def _count_identities(identities: np.ndarray, mask: np.ndarray) -> int:
    values = np.asarray(identities, dtype=object)[mask]
    return len({str(v) for v in values if v is not None and v == v and str(v) != ""})


def _draw(
    where: str,
    label: str,
    kind: str,
    labels: np.ndarray,
    n: int | None,
    seed: int | None,
    chunk_size: int,
    X: np.ndarray,
    strategy: str,
) -> weak.Constraints:
    """Constraints of ``kind`` drawn from ``labels`` (None = not drawn from), as fit draws them."""
    present = np.array([v is not None for v in labels], dtype=bool)
    n_classes = len({str(v) for v in labels[present]})
    if n_classes < 2:
        found = "a single class" if n_classes else "no labelled rows"
        raise MetricliError(
            f"{where}: label column '{label}' has {found}; constraints need at least two classes"
        )
    drawn, _ = weak.drawn_from_labels(
        kind,
        labels,
        n,
        n_classes=n_classes,
        n_labelled=int(present.sum()),
        where=where,
        notify=note,
        seed=seed,
        chunk_size=chunk_size,
        X=X,
        strategy=strategy,
    )
    return drawn


def _write(drawn: weak.Constraints, dataset: Dataset, output: str, force: bool) -> None:
    """Points written as data-file rows (rows dropped by --drop-missing keep their numbers) or ids."""
    names = dataset.ids if dataset.ids is not None else dataset.rows
    reference = "id" if dataset.ids is not None else "row"
    if isinstance(drawn, weak.Chunks):
        frame = pd.DataFrame({reference: names, "chunk": drawn.ids})
    else:
        frame = pd.DataFrame(
            {
                (c if c == "y" else point_header(reference, c)): (v if c == "y" else names[v])
                for c, v in drawn.as_columns().items()
            }
        )
    with TableWriter(output, None, force=force) as writer:
        writer.write(frame)


def _counted(drawn: weak.Constraints, kind: str) -> str:
    summary = weak.describe(drawn)
    counts = (
        f" ({summary['similar']} similar, {summary['dissimilar']} dissimilar)" if "similar" in summary else ""
    )
    return f"{summary['count']} {kind}{counts}"
