"""``metricli evaluate bundle``: score a fitted bundle on held-out rows, kNN against a reference.

The rows are read in pieces by the chosen engine (streamed batches, or Dask partitions);
the scoring itself is :func:`metricli.engines.operations.score`.
"""

from __future__ import annotations

from typing import Annotated

import typer

from metricli import api
from metricli.cli import render
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
    QuietOption,
    SchedulerOption,
    configure,
    emit_json,
    note,
    open_engine,
    settings,
)
from metricli.cli.evaluate import RetrievalOption, _scoring, evaluate_app
from metricli.cli.option_names import OldVoteKOption, VoteKOption, vote_k
from metricli.io.atomic import refuse_to_overwrite
from metricli.io.bundle import load_bundle
from metricli.io.tables import DEFAULT_BATCH_ROWS


@evaluate_app.command("bundle")
def evaluate_bundle(
    bundle_path: BundleArgument,
    test: Annotated[
        str,
        typer.Argument(
            metavar="TEST", help="Held-out rows, streamed in batches; '-' reads stdin.", show_default=False
        ),
    ],
    reference: Annotated[
        str,
        typer.Option(
            "--reference",
            metavar="TRAIN",
            help="The labelled rows the kNN vote draws on (held in memory), e.g. the training data.",
            show_default=False,
        ),
    ],
    label: Annotated[str | None, typer.Option("--label", "-y", help="Column of class labels.")] = None,
    target: Annotated[str | None, typer.Option("--target", help="Column of regression targets.")] = None,
    k: VoteKOption = 3,
    knn_old: OldVoteKOption = None,
    retrieval: RetrievalOption = True,
    id_column: IdOption = None,
    predictions: Annotated[
        str | None,
        typer.Option(
            "--predictions",
            metavar="FILE",
            help="Also write each TEST row's truth and kNN predictions (learned and Euclidean) to FILE.",
        ),
    ] = None,
    output_format: OutputFormatOption = None,
    fmt: FormatOption = None,
    batch_rows: BatchRowsOption = DEFAULT_BATCH_ROWS,
    drop_missing: DropMissingOption = False,
    force: ForceOption = False,
    engine: EngineOption = "local",
    scheduler: SchedulerOption = None,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Score a fitted bundle on held-out TEST rows: kNN against --reference, learned beside Euclidean.

    Each TEST row is classified by the vote of its k nearest --reference rows
    (ties to the nearest tied class), or predicted as their mean target. The
    Euclidean baseline uses the same features, scaled as the bundle was fitted
    (--standardize). Rows of TEST with a blank label are skipped; TEST is
    streamed in batches of --batch-rows.

    With --engine dask, TEST is partitioned (Parquet, or CSV/TSV files: a folder of files, or a glob): the
    reference is sent once to every worker, each worker scores its partitions, and their
    counts and sums are added up, so the figures are those of one machine. --predictions
    is then a folder with one Parquet file per partition.
    """
    configure(json_output, quiet)
    k = vote_k(k, knn_old)
    _scoring(label, target, "evaluate")
    runner = open_engine(engine, scheduler, predictions, option="--predictions")
    if predictions is not None and predictions != "-":
        refuse_to_overwrite(predictions, force)
    bundle = load_bundle(bundle_path)
    with runner:
        result = api.evaluate(
            bundle,
            test,
            reference,
            label=label,
            target=target,
            k=k,
            retrieval=retrieval,
            engine=runner,
            id_column=id_column,
            predictions=predictions,
            output_format=output_format,
            force=force,
            fmt=fmt,
            batch_rows=batch_rows,
            drop_missing=drop_missing,
        )
    if result["skipped_unlabelled"]:
        note(f"{result['test']}: skipped {result['skipped_unlabelled']} rows with a blank label")
    if settings.json:
        emit_json(result)
        return
    render.held_out_scores(
        f"metricli evaluate {bundle.path} ({bundle.algorithm}) on {result['test']}: "
        f"{result['learned']['n_test']} rows, kNN vote -k {k} against {result['reference']} ({result['n_reference']} rows)",
        result,
    )
