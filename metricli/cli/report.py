"""``metricli report``: one self-contained HTML page per model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from metricli.cli.common import (
    BundleArgument,
    DelimiterOption,
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
from metricli.cli.option_names import OldVoteKOption, VoteKOption, vote_k
from metricli.io.atomic import FILE, atomic_path, refuse_to_overwrite
from metricli.io.bundle import Bundle, load_bundle, replayable_params
from metricli.io.tables import display_name, load_dataset
from metricli.learners import LEARNERS, get_learner


def report(
    bundle_path: BundleArgument,
    data: Annotated[
        str,
        typer.Argument(help="Points to show (e.g. the training data); '-' reads stdin.", show_default=False),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="The HTML file to write.")] = Path(
        "report.html"
    ),
    label: Annotated[
        str | None, typer.Option("--label", "-y", help="Column of classes: colours the points.")
    ] = None,
    target: Annotated[str | None, typer.Option("--target", help="Column of regression targets.")] = None,
    id_column: IdOption = None,
    fmt: FormatOption = None,
    delimiter: DelimiterOption = None,
    cv: Annotated[
        int,
        typer.Option(
            "--cv",
            min=0,
            help="Folds for the kNN comparison (the learner is "
            "refitted on each with the bundle's parameters); 0 skips it.",
        ),
    ] = 5,
    knn: VoteKOption = 3,
    knn_old: OldVoteKOption = None,
    seed: Annotated[
        int, typer.Option("--seed", min=0, help="Seed of the folds and of the plotted sample.")
    ] = 0,
    pairs: Annotated[
        str | None,
        typer.Option(
            "--pairs",
            metavar="FILE",
            help="Add ROC and DET curves of verification on these labelled pairs of DATA (row numbers or "
            "--id values, then 1 same / -1 different).",
            show_default=False,
        ),
    ] = None,
    group: Annotated[
        str | None,
        typer.Option(
            "--group",
            metavar="COLUMN",
            help="Add ROC and DET curves of verification on every pair of DATA's rows, the same identity "
            "when they share this column's value.",
            show_default=False,
        ),
    ] = None,
    force: ForceOption = False,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Write one self-contained HTML page about a model: what the learned metric did.

    The verdict and axioms, the eigen-spectrum of M, the data before and after, kNN
    learned vs Euclidean per fold, the objective per iteration, parameters and provenance;
    with --pairs or --group, the ROC and DET curves of verification, learned vs Euclidean.

    Needs the optional extra: pip install 'metricli\\[report]'. --json prints the same figures.
    """
    from metricli.report import render_html, report_figures

    configure(json_output, quiet)
    require_output_path(output, "report writes an HTML file")
    refuse_to_overwrite(output, force, FILE)
    bundle = load_bundle(bundle_path)
    dataset = load_dataset(
        data, fmt, label=label, target=target, id_column=id_column, features=bundle.feature_names
    )
    for message in dataset.notes:
        note(message)
    evaluation = None
    if cv and (label or target) and bundle.algorithm in LEARNERS:
        evaluation = _cross_validation(
            bundle, data, fmt, label, target, id_column, cv, vote_k(knn, knn_old), seed
        )
    elif cv and (label or target):
        note(
            f"{bundle.path}: a baseline ({bundle.algorithm}) chosen by fit auto has no learner to cross-validate"
        )
    verified = None
    if pairs is not None or group is not None:
        from metricli.cli.evaluate_pairs import evaluate_pairs

        selection = {"id_column": id_column, "drop_missing": False}
        verified = evaluate_pairs(
            bundle, data, pairs, group, None, 200, seed, selection, fmt, 65536, curves=True
        )
    figures = report_figures(
        bundle,
        dataset.X,
        evaluation=evaluation,
        labels=dataset.labels,
        target=dataset.target,
        data_name=display_name(data),
        seed=seed,
    )
    figures["verification"] = verified
    page = render_html(figures)
    with atomic_path(output, force=force, kind=FILE) as tmp:
        tmp.write_text(page, encoding="utf-8")
    if settings.json:
        emit_json({"output": str(output), **figures})
    else:
        note(f"wrote {output} ({len(page) // 1024} KiB): {figures['verdict']}")


def _cross_validation(
    bundle: Bundle,
    data: str,
    fmt: str | None,
    label: str | None,
    target: str | None,
    id_column: str | None,
    cv: int,
    knn: int,
    seed: int,
) -> dict:
    """Exactly what `metricli evaluate ALGO DATA` reports for the bundle's algorithm and parameters."""
    from metricli.cli.evaluate import cross_validation_defaults, cross_validation_report

    cls = get_learner(bundle.algorithm)
    options = cross_validation_defaults(cls)
    replayed = replayable_params(cls, bundle.section("params"), str(bundle.path))
    options.update({k: v for k, v in replayed.items() if k in options and v is not None})
    options.update(
        data=data,
        fmt=fmt,
        label=label,
        target=target,
        id_column=id_column,
        features=[",".join(bundle.feature_names)],
        cv=cv,
        knn=knn,
        seed=seed,
        standardize=bool(bundle.section("preprocessing").get("standardize")),
    )
    return cross_validation_report(cls, options)
