"""``metricli fit auto DATA --label y -o BUNDLE``: choose the learner by cross-validation, then fit it.

Thin: the choice is :func:`metricli.selection.choose`, the refit :func:`metricli.selection.refit`;
this module reads the table, writes the bundle and renders the leaderboard.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from metricli.axioms import check_mahalanobis
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
    require_output_path,
    settings,
)
from metricli.cli.compare import (
    DEFAULT_BUDGET,
    BudgetOption,
    CvOption,
    DataArgument,
    LabelOption,
    SeedOption,
    TargetOption,
    leaderboard_table,
    load_supervised,
)
from metricli.cli.option_names import OldVoteKOption, VoteKOption, vote_k
from metricli.cli.progress import spinner
from metricli.io.atomic import refuse_to_overwrite
from metricli.io.bundle import preprocessing_record, save_bundle
from metricli.io.tables import display_name
from metricli.selection import bundle_selection, choose_and_refit


def fit_auto(
    data: DataArgument,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Folder to write the model bundle to.", show_default=False)
    ],
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
    force: ForceOption = False,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Choose the metric by cross-validation, refit it on all rows and write the bundle.

    Round 1 cross-validates every applicable learner at its defaults beside Euclidean and
    standardized Euclidean (as 'metricli compare', on half the --budget); round 2 tries a
    small grid of the two best learners' key parameters (LMNN's k and regularization,
    NCA's and MLKR's rank, LFDA's and SELF's k and rank, ITML's gamma) on the same folds;
    round 3 repeats it all on other folds (at most 4 runs) while the budget allows, and
    averages each candidate's gain over the runs.
    The chosen one has the largest gain over the better baseline among those whose one-sided
    95% lower bound rules out a loss of more than half a point (paired held-out predictions, as
    'metricli compare' judges; equal gains go to the cheaper learner). When none qualifies,
    the bundle is that baseline (the identity, or the standardization as a diagonal L) and
    says so. A quarter of --budget is kept for refitting the winner on all rows.

    The leaderboard goes into the bundle's metadata ('selection'); 'metricli info' and
    'metricli report' show the choice and why.
    """
    configure(json_output, quiet)
    require_output_path(output, "fit auto writes a model bundle, a folder")
    refuse_to_overwrite(output, force)
    dataset = load_supervised(data, fmt, label, target, features, exclude, id_column, drop_missing)
    labels = dataset.labels if label is not None else None
    values = dataset.target if target is not None else None
    start = time.perf_counter()
    with spinner() as progress:
        task = progress.add_task("starting", total=None)
        L, fitted, result = choose_and_refit(
            dataset.X,
            labels=labels,
            target=values,
            n_splits=cv,
            seed=seed,
            k=vote_k(knn, knn_old),
            budget=budget,
            progress=lambda text: progress.update(task, description=text),
        )
    search_seconds = time.perf_counter() - start - fitted["seconds"]
    chosen = result["chosen"]
    for message in fitted.get("warnings", []):
        note(f"warning: {message}")
    for skipped in result["skipped"]:
        note(f"skipped {skipped['name']}: {skipped['reason']}")
    metadata = {
        "algorithm": chosen["algorithm"],
        "supervision": "baseline" if chosen["baseline"] else _supervision(chosen["algorithm"]),
        "params": fitted.get("params", {}),
        "seed": seed,
        "preprocessing": preprocessing_record(fitted["mean"], fitted["scale"])
        if chosen["standardize"]
        else preprocessing_record(),
        "input": {
            "path": display_name(data),
            "sha256": dataset.sha256,
            "rows_read": int(dataset.rows.max() + 1) if dataset.rows.size else 0,
            "rows_used": int(dataset.n_samples),
            "label": dataset.label_column,
            "target": dataset.target_column,
            "id": dataset.id_column,
        },
        "fit": {
            "iterations": fitted["iterations"],
            "objective": fitted["objective"],
            "converged": fitted["converged"],
            "seconds": round(fitted["seconds"], 6),
            "objective_history": fitted["objective_history"],
        },
        "selection": {**bundle_selection(result), "seconds": round(search_seconds, 3)},
    }
    axioms = check_mahalanobis(L.T @ L, dataset.feature_names)
    save_bundle(output, L, dataset.feature_names, metadata, axioms, force=force)
    if settings.json:
        emit_json({"output": str(output), "metadata": metadata, "verdict": axioms["verdict"]})
        return
    leaderboard_table(
        f"metricli fit auto {dataset.name}: {result['n_rows']} rows, {result['n_features']} features, "
        f"{result['cv']}-fold cross-validation, seed {result['seed']}, kNN vote -k {result['k']}",
        result,
    )
    out.print(f"verdict: {result['verdict']}", markup=False)
    what = "the baseline " if chosen["baseline"] else ""
    out.print(
        f"wrote {output}: {what}{chosen['name']}, refitted on all {dataset.n_samples} rows", markup=False
    )


def _supervision(algorithm: str) -> str:
    from metricli.learners import LEARNERS

    return LEARNERS[algorithm].supervision
