"""``metricli evaluate bundle``: score a fitted bundle on held-out rows, kNN against a reference.

The rows are read in pieces by the chosen engine (streamed batches, or Dask partitions);
the scoring itself is :func:`metricli.engines.operations.score`.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
import pandas as pd
import typer

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
from metricli.cli.evaluate import KOption, RetrievalOption, _scoring, evaluate_app
from metricli.cli.streaming import output_to, source_of
from metricli.engines import operations
from metricli.engines.local import LocalEngine
from metricli.engines.operations import References, Space, prediction_columns
from metricli.errors import MetricliError
from metricli.io.atomic import refuse_to_overwrite
from metricli.io.bundle import Bundle, load_bundle
from metricli.io.tables import DEFAULT_BATCH_ROWS, display_name


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
    k: KOption = 3,
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

    With --engine dask, TEST is partitioned Parquet (a folder of files, or a glob): the
    reference is sent once to every worker, each worker scores its partitions, and their
    counts and sums are added up, so the figures are those of one machine. --predictions
    is then a folder with one Parquet file per partition.
    """
    configure(json_output, quiet)
    _scoring(label, target, "evaluate")
    runner = open_engine(engine, scheduler, predictions, option="--predictions")
    if predictions is not None and predictions != "-":
        refuse_to_overwrite(predictions, force)
    bundle = load_bundle(bundle_path)
    selection = {"label": label, "target": target, "id_column": id_column, "drop_missing": drop_missing}
    ref = LocalEngine(notify=note).read(source_of(reference, bundle, fmt, **selection))
    ref_name = display_name(reference)
    if label is not None:
        labelled = ref.labelled
        ref_X, ref_y = ref.X[labelled], ref.labels[labelled].astype(str)
    else:
        ref_X, ref_y = ref.X, ref.target
    # x -> L x and x -> x / scale exactly as in cross-validation and the benchmark protocol
    # (no centring): the same split then gives the same figures, ties and all
    spaces = {"learned": Space(L=bundle.L), "euclidean": euclidean_space(bundle, ref_X.shape[1])}
    references = References(
        {side: space(ref_X) for side, space in spaces.items()},
        ref_y,
        label is not None,
        k,
        retrieval,
        ref_name,
    )
    test_source = source_of(test, bundle, fmt, batch_rows, **selection)
    columns = prediction_columns(id_column or "row", label or target)
    target_output = (
        None
        if predictions is None
        else output_to(predictions, output_format, force, pd.DataFrame(columns=columns))
    )
    with runner:
        scorers, skipped, _ = operations.score(runner, test_source, spaces, references, target_output)
    test_name = test_source.name
    if skipped:
        note(f"{test_name}: skipped {skipped} rows with a blank label")
    on_dask = runner.name != "local"
    result = {
        "mode": "bundle",
        "bundle": str(bundle.path),
        "algorithm": bundle.algorithm,
        "test": test_name,
        "reference": ref_name,
        "task": "classification" if label is not None else "regression",
        "k": k,
        "label": label,
        "target": target,
        "n_reference": int(ref_X.shape[0]),
        "skipped_unlabelled": skipped,
        "predictions": predictions,
        "learned": scorers["learned"].result(),
        "euclidean": scorers["euclidean"].result(),
        **({"engine": runner.name} if on_dask else {}),
    }
    if settings.json:
        emit_json(result)
        return
    render.held_out_scores(
        f"metricli evaluate {bundle.path} ({bundle.algorithm}) on {test_name}: "
        f"{result['learned']['n_test']} rows, kNN k={k} against {ref_name} ({result['n_reference']} rows)",
        result,
    )


def euclidean_space(bundle: Bundle, n_features: int) -> Space:
    """The baseline: the raw features, divided by the bundle's training scale if it standardized."""
    preprocessing = bundle.metadata.get("preprocessing") or {}
    if not (preprocessing.get("standardize") and preprocessing.get("scale") is not None):
        return Space()
    scale = np.asarray(preprocessing["scale"], dtype=np.float64)
    if scale.shape != (n_features,) or not np.all(np.isfinite(scale)) or np.any(scale <= 0):
        raise MetricliError(
            f"{bundle.path}: corrupt bundle, metadata.json has an invalid standardization scale"
        )
    return Space(scale=scale)
