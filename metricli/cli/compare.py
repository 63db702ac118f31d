"""``metricli compare DATA --label y``: every applicable learner beside Euclidean, and a verdict.

Thin: reads the table, hands it to :func:`metricli.selection.compare`, renders the
leaderboard. The statistics and the budget live in metricli/selection.py.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from metricli.cli.common import (
    DelimiterOption,
    DropMissingOption,
    ExcludeOption,
    FeaturesOption,
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
from metricli.cli.option_names import OldVoteKOption, VoteKOption, vote_k
from metricli.cli.progress import spinner
from metricli.errors import MetricliError
from metricli.io.tables import Dataset, load_dataset
from metricli.selection import compare as compare_metrics

DataArgument = Annotated[
    str,
    typer.Argument(
        help="Table of points: CSV, TSV, Parquet or .npy; '-' reads stdin.",
        metavar="DATA",
        show_default=False,
    ),
]
LabelOption = Annotated[
    str | None,
    typer.Option(
        "--label", "-y", help="Column of class labels: scored by kNN accuracy (blank = unlabelled)."
    ),
]
TargetOption = Annotated[
    str | None, typer.Option("--target", help="Column of regression targets: scored by kNN regression RMSE.")
]
CvOption = Annotated[int, typer.Option("--cv", min=2, help="Number of cross-validation folds.")]
SeedOption = Annotated[
    int, typer.Option("--seed", min=0, help="Seed of the folds, the drawn constraints and the learners.")
]
BudgetOption = Annotated[
    float,
    typer.Option(
        "--budget",
        min=0.0,
        help="Seconds for the whole run. A learner whose size-based estimate does not fit in what "
        "is left is skipped with a note; one under way when time runs out stops after its fold.",
    ),
]

#: the default of --budget: n <= 5,000 rows and d <= 64 features finish in about two minutes
DEFAULT_BUDGET = 120.0


def load_supervised(
    data: str,
    fmt: str | None,
    label: str | None,
    target: str | None,
    features: list[str] | None,
    exclude: list[str] | None,
    id_column: str | None,
    drop_missing: bool,
) -> Dataset:
    """DATA with its label or target column; exactly one of them."""
    if (label is None) == (target is None):
        raise MetricliError(
            "give --label (classification, kNN accuracy) or --target (regression, kNN RMSE)"
            + (", not both" if label is not None else "")
        )
    dataset = load_dataset(
        data,
        fmt,
        label=label,
        target=target,
        id_column=id_column,
        features=features,
        exclude=exclude or (),
        drop_missing=drop_missing,
    )
    for message in dataset.notes:
        note(message)
    return dataset


def run_with_progress(run: Any, **kwargs: Any) -> dict[str, Any]:
    """Call a selection function with a one-line progress display on stderr."""
    with spinner() as progress:
        task = progress.add_task("starting", total=None)
        return run(progress=lambda text: progress.update(task, description=text), **kwargs)


def compare(
    data: DataArgument,
    label: LabelOption = None,
    target: TargetOption = None,
    cv: CvOption = 5,
    knn: VoteKOption = 3,
    knn_old: OldVoteKOption = None,
    seed: SeedOption = 0,
    budget: BudgetOption = DEFAULT_BUDGET,
    features: FeaturesOption = None,
    exclude: ExcludeOption = None,
    id_column: IdOption = None,
    fmt: FormatOption = None,
    delimiter: DelimiterOption = None,
    drop_missing: DropMissingOption = False,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Every learner that applies, beside Euclidean and standardized Euclidean, on the same folds.

    With --label: the supervised, semi-supervised and unsupervised learners, and the weakly
    supervised ones with constraints drawn from each training fold's labels only; scored by
    kNN accuracy. With --target: MLKR and Covariance, scored by kNN RMSE. Learners see
    features standardized on each training fold. Folds are those of 'metricli evaluate'
    with the same --seed and --cv, so its Euclidean figure is this table's Euclidean row.

    The gain column is each row's improvement over the better baseline, from the paired
    held-out predictions (every row is held out once): for accuracy, the rows only it gets
    right minus the rows only the baseline gets right, with a 95% interval and McNemar's
    exact test; for RMSE, a paired test of squared errors. The verdict names the learner
    with the largest gain whose one-sided 95% lower bound rules out a loss of more than half
    a point (equal gains: the cheaper learner), or says that none qualifies. The
    JSON also holds the fold-by-fold comparison (fold_gain: corrected resampled t-test,
    Nadeau & Bengio 2003), which is more cautious.
    """
    configure(json_output, quiet)
    dataset = load_supervised(data, fmt, label, target, features, exclude, id_column, drop_missing)
    result = run_with_progress(
        compare_metrics,
        X=dataset.X,
        labels=dataset.labels if label is not None else None,
        target=dataset.target if target is not None else None,
        n_splits=cv,
        seed=seed,
        k=vote_k(knn, knn_old),
        budget=budget,
    )
    result = {"data": dataset.name, "sha256": dataset.sha256, "label": label, "target": target, **result}
    for skipped in result["skipped"]:
        note(f"skipped {skipped['name']}: {skipped['reason']}")
    if settings.json:
        emit_json(result)
        return
    title = (
        f"metricli compare {dataset.name}: {result['n_rows']} rows, {result['n_features']} features, "
        f"{result['cv']}-fold cross-validation, seed {result['seed']}, kNN vote -k {result['k']}"
    )
    leaderboard_table(title, result)
    out.print(f"verdict: {result['verdict']}", markup=False)


def leaderboard_table(title: str, result: dict[str, Any]) -> None:
    """The leaderboard as a table: mean ± std over folds, gain over the better baseline, fit time."""
    accuracy = result["figure"] == "accuracy"
    out.print(title, markup=False)
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    figure = "accuracy" if accuracy else "RMSE"
    for column in (
        "",
        "metric",
        f"{figure} mean ± std",
        "gain",
        f"{result['confidence']:.0%} CI",
        "p",
        "fit s",
    ):
        table.add_column(column, justify="left" if column == "metric" else "right")
    scale, spec = (100.0, "+.1f") if accuracy else (1.0, "+.4g")
    number = ".4f" if accuracy else ".4g"
    for rank, row in enumerate(result["rows"], start=1):
        gain = row.get("gain")
        if gain is None:
            cells = ("baseline", "", "")
        else:
            cells = (
                f"{scale * gain['mean']:{spec}}",
                f"{scale * gain['low']:{spec}} to {scale * gain['high']:{spec}}",
                f"{gain['p_value']:.2g}",
            )
        value = f"{row['mean']:{number}} ± {row['std']:{number}}"
        table.add_row(str(rank), row["name"], value, *cells, f"{row['fit_seconds']:.2f}")
    out.print(table)
    unit = (
        "in points of accuracy; p: McNemar's exact test"
        if accuracy
        else "in RMSE; p: paired test of squared errors"
    )
    out.print(
        f"gain: over the better baseline ({result['best_baseline']}), from the paired held-out predictions, "
        f"{unit}. fit s: over all folds.",
        style="dim",
        markup=False,
    )
