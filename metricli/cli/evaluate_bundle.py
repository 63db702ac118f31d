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
    DelimiterOption,
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
from metricli.cli.evaluate_pairs import evaluate_pairs
from metricli.cli.evaluate_pairs import render as render_pairs
from metricli.cli.option_names import OldVoteKOption, VoteKOption, vote_k
from metricli.errors import MetricliError
from metricli.io.atomic import refuse_to_overwrite
from metricli.io.bundle import load_bundle
from metricli.io.tables import DEFAULT_BATCH_ROWS

PANEL_VERIFY = "Verification (same or different?)"


def _refuse_knn_options(
    reference: str | None, label: str | None, target: str | None, predictions: str | None, engine: str
) -> None:
    given = {"--reference": reference, "--label": label, "--target": target, "--predictions": predictions}
    for option, value in given.items():
        if value is not None:
            raise MetricliError(f"{option} goes with kNN scoring; --pairs and --group score pairs of TEST")
    if engine != "local":
        raise MetricliError("--pairs and --group run on this machine; leave out --engine")


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
        str | None,
        typer.Option(
            "--reference",
            metavar="TRAIN",
            help="The labelled rows the kNN vote draws on (held in memory), e.g. the training data.",
            show_default=False,
        ),
    ] = None,
    label: Annotated[str | None, typer.Option("--label", "-y", help="Column of class labels.")] = None,
    target: Annotated[str | None, typer.Option("--target", help="Column of regression targets.")] = None,
    k: VoteKOption = 3,
    knn_old: OldVoteKOption = None,
    retrieval: RetrievalOption = True,
    pairs: Annotated[
        str | None,
        typer.Option(
            "--pairs",
            metavar="FILE",
            help="Verification instead of kNN: labelled pairs of TEST rows (row numbers or --id values, "
            "then 1 same / -1 different), streamed.",
            rich_help_panel=PANEL_VERIFY,
        ),
    ] = None,
    group: Annotated[
        str | None,
        typer.Option(
            "--group",
            metavar="COLUMN",
            help="Verification on every pair of TEST rows: the same identity when they share this "
            "column's value. Exact, in bounded memory.",
            rich_help_panel=PANEL_VERIFY,
        ),
    ] = None,
    far: Annotated[
        list[float] | None,
        typer.Option(
            "--far",
            metavar="FAR",
            help="Report TAR at this false-accept rate (repeat for several; default 1e-2, 1e-3, 1e-4 where "
            "the impostor pairs can measure them).",
            show_default=False,
            rich_help_panel=PANEL_VERIFY,
        ),
    ] = None,
    bootstrap: Annotated[
        int,
        typer.Option(
            "--bootstrap",
            min=0,
            help="Bootstrap resamples for the 95% intervals of the verification figures; 0: none.",
            rich_help_panel=PANEL_VERIFY,
        ),
    ] = 1000,
    seed: Annotated[
        int, typer.Option("--seed", min=0, help="Seed of the bootstrap.", rich_help_panel=PANEL_VERIFY)
    ] = 0,
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
    delimiter: DelimiterOption = None,
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

    With --engine dask, TEST is partitioned (Parquet, or CSV/TSV files, compressed too: a file, a
    folder of files in natural name order, or a glob): the
    reference is sent once to every worker, each worker scores its partitions, and their
    counts and sums are added up, so the figures are those of one machine. --predictions
    is then a folder with one Parquet file per partition.

    Verification (--pairs FILE or --group COLUMN, instead of --reference): is a pair the
    same identity? Every pair is scored by its distance, learned beside Euclidean, and
    the figures are ROC AUC, EER and TAR at each --far, with 95% bootstrap intervals.
    """
    configure(json_output, quiet)
    k = vote_k(k, knn_old)
    if pairs is not None or group is not None:
        _refuse_knn_options(reference, label, target, predictions, engine)
        bundle = load_bundle(bundle_path)
        selection = {"id_column": id_column, "drop_missing": drop_missing}
        result = evaluate_pairs(bundle, test, pairs, group, far, bootstrap, seed, selection, fmt, batch_rows)
        if settings.json:
            emit_json(result)
        else:
            render_pairs(result)
        return
    if reference is None:
        raise MetricliError(
            "give --reference TRAIN (kNN scores against it), or --pairs FILE / --group COLUMN (verification)"
        )
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
