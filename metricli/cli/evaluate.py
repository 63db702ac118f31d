"""``metricli evaluate``: how much a learned metric helps kNN, beside Euclidean distance.

Two modes, one group: a subcommand per learner (built from the learner like
``metricli fit ALGO``, options shared through cli/learner_options.py) cross-validates
it; ``bundle`` scores a fitted bundle on held-out data, and is also what runs when
the first argument is a bundle folder.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import warnings
from typing import Annotated, Any

import numpy as np
import pandas as pd
import typer
from typer.core import TyperGroup

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
    check_engine,
    configure,
    emit_json,
    note,
    settings,
)
from metricli.cli.learner_options import (
    data_parameters,
    label_help,
    learner_parameters,
    learner_params,
    load_learning_data,
    make_command,
    option,
    supervision,
    weak_parameters,
)
from metricli.cli.progress import spinner
from metricli.cli.streaming import FEATURE_WHY, PointStream, distributed_points, load_points, row_keys
from metricli.errors import MetricliError
from metricli.evaluation import ClassificationScorer, RegressionScorer, cross_validate
from metricli.io.atomic import refuse_to_overwrite
from metricli.io.bundle import Bundle, is_bundle, load_bundle
from metricli.io.tables import DEFAULT_BATCH_ROWS, Dataset, display_name
from metricli.io.writers import TableWriter
from metricli.kernels import project
from metricli.learners import LEARNERS
from metricli.learners.base import MahalanobisLearner

_HELP = """Score a metric by kNN on held-out data, beside Euclidean distance.

metricli evaluate ALGO DATA --label y [--cv 5] [ALGO's options]
    cross-validate a learner: refit it on the training part of each
    fold, score the held-out part ('metricli evaluate ALGO --help')
metricli evaluate BUNDLE TEST --reference TRAIN --label y
    score a fitted bundle: each TEST row against its k nearest TRAIN
    rows (the same as 'metricli evaluate bundle BUNDLE TEST ...')

A bundle folder whose name is also an algorithm's must be written ./NAME.
Figures: kNN accuracy (--label) or kNN regression error (--target) and, for
labels, the retrieval figures precision@1, R-precision and MAP@R (Musgrave et
al. 2020), each held-out row querying the training rows.
"""


class EvaluateGroup(TyperGroup):
    """Learner names are subcommands; a bundle folder in their place runs ``bundle``."""

    def resolve_command(self, ctx: Any, args: list[str]) -> tuple[str | None, Any, list[str]]:
        name = args[0] if args else ""
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            if is_bundle(name):
                return "bundle", self.get_command(ctx, "bundle"), args
            algorithms = ", ".join(sorted(LEARNERS))
            ctx.fail(f"'{name}' is neither an algorithm ({algorithms}) nor a model bundle folder")
        return super().resolve_command(ctx, args)


evaluate_app = typer.Typer(
    cls=EvaluateGroup,
    help=_HELP,
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)

#: "-k/--knn", not "--k": learners such as LFDA and LMNN have a parameter k of their own
KOption = Annotated[int, typer.Option("-k", "--knn", min=1, help="Neighbours in the kNN vote / average.")]
RetrievalOption = Annotated[
    bool,
    typer.Option(
        "--retrieval/--no-retrieval",
        help="Also compute precision@1, R-precision and MAP@R (labels only; costs a sort per query).",
    ),
]


def _scoring(label: str | None, target: str | None, what: str) -> None:
    if label is None and target is None:
        raise MetricliError(
            f"{what} needs --label (kNN accuracy) or --target (kNN regression error) to score against"
        )
    if label is not None and target is not None:
        raise MetricliError("give --label (classification) or --target (regression), not both")


# -- mode (a): cross-validate a learner -------------------------------------------------


def _cross_validation_parameters(cls: type[MahalanobisLearner]) -> list[inspect.Parameter]:
    kw = inspect.Parameter.KEYWORD_ONLY
    return [
        *data_parameters(
            cls,
            label_required=cls.supervision in ("supervised", "semi-supervised", "weakly-supervised"),
            target_required=cls.supervision == "regression",
            label_help=label_help(cls) + " Scored by kNN accuracy.",
            target_help="Column of regression targets, scored by kNN regression error.",
            seed=0,
        ),
        inspect.Parameter(
            "cv", kw, default=5, annotation=option(int, "--cv", min=2, help="Number of folds.")
        ),
        inspect.Parameter("knn", kw, default=3, annotation=KOption),
        inspect.Parameter("retrieval", kw, default=True, annotation=RetrievalOption),
        *(weak_parameters(cls, files=False) if cls.supervision == "weakly-supervised" else []),
        inspect.Parameter("json_output", kw, default=False, annotation=JsonOption),
        inspect.Parameter("quiet", kw, default=False, annotation=QuietOption),
        *learner_parameters(cls),
    ]


def cross_validation_defaults(cls: type[MahalanobisLearner]) -> dict[str, Any]:
    """Every option of ``evaluate ALGO`` at its default, for callers other than the command line."""
    return {
        p.name: p.default
        for p in _cross_validation_parameters(cls)
        if p.default is not inspect.Parameter.empty
    }


def cross_validation_report(cls: type[MahalanobisLearner], options: dict[str, Any]) -> dict[str, Any]:
    """Refit ``cls`` on each training fold and score learned against Euclidean (the JSON of the command)."""
    _scoring(options["label"], options["target"], f"evaluate {cls.name}")
    dataset = load_learning_data(options)
    params = learner_params(cls, options)
    shown: set[str] = set()

    def notify_once(message: str) -> None:
        if message not in shown:
            shown.add(message)
            note(message)

    fold = 0
    with spinner() as progress:
        task = progress.add_task(f"{cls.name}: fold 1 of {options['cv']}", total=None)

        def fit_fold(train: np.ndarray, X_train: np.ndarray) -> np.ndarray:
            nonlocal fold
            fold += 1
            where = f"fold {fold} of {options['cv']}"
            progress.update(task, description=f"{cls.name}: {where}")
            part = dataclasses.replace(
                dataset,
                X=X_train,
                rows=dataset.rows[train],
                labels=None if dataset.labels is None else dataset.labels[train],
                target=None if dataset.target is None else dataset.target[train],
                ids=None if dataset.ids is None else dataset.ids[train],
                extra={},
            )
            X, fit_args, _ = supervision(cls, part, options, notify_once)
            learner = cls(**params)

            def report(iteration: int, objective: float, **extra: Any) -> None:
                progress.update(
                    task, description=f"{cls.name}: {where}  iteration {iteration}  objective {objective:.6g}"
                )

            learner.set_progress(report)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    learner.fit(X, *fit_args)
                except MetricliError as exc:
                    raise MetricliError(f"{dataset.name}: {where}: {exc.message}") from None
            for warning in caught:
                note(f"{where}: warning: {warning.message}")
            return learner.components_

        result = cross_validate(
            fit_fold,
            dataset.X,
            labels=dataset.labels if options["label"] is not None else None,
            target=dataset.target if options["target"] is not None else None,
            n_splits=options["cv"],
            seed=options["seed"],
            k=options["knn"],
            standardize=options["standardize"],
            retrieval=options["retrieval"],
        )
    return {
        "mode": "cross-validation",
        "algorithm": cls.name,
        "params": {k: (None if isinstance(v, np.ndarray) else v) for k, v in params.items()},
        "data": dataset.name,
        "sha256": dataset.sha256,
        "label": dataset.label_column,
        "target": dataset.target_column,
        "n_rows": dataset.n_samples,
        **result,
    }


def run_cross_validation(cls: type[MahalanobisLearner], options: dict[str, Any]) -> None:
    configure(options.pop("json_output"), options.pop("quiet"))
    result = cross_validation_report(cls, options)
    if settings.json:
        emit_json(result)
        return
    kind = "stratified " if result["task"] == "classification" else ""
    render.cross_validation(
        f"metricli evaluate {cls.name} {result['data']}: {result['cv']}-fold {kind}cross-validation, "
        f"seed {result['seed']}, kNN k={result['k']}"
        + (", standardized on each training fold" if result["standardize"] else ""),
        result,
    )


for _name, _cls in LEARNERS.items():
    evaluate_app.command(_name)(
        make_command(
            _cls,
            run_cross_validation,
            _cross_validation_parameters(_cls),
            f"evaluate_{_cls.name}",
            f"Cross-validate {_cls.name}: kNN with the learned metric beside Euclidean, on the same folds.\n\n"
            "The learner is refitted on the training part of each fold (standardized on it with "
            "--standardize, constraints drawn from its labels for weakly supervised learners) and "
            "the held-out part is scored against it. Classification folds are stratified; rows with "
            "a blank label are never held out. Figures per fold, then mean ± std (over folds, ddof=0).\n\n"
            f"{_cls.summary}. Reference: {_cls.reference}.",
        )
    )


# -- mode (b): score a fitted bundle on held-out data --------------------------------------


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
    on_dask = check_engine(engine, scheduler, predictions, option="--predictions")
    if predictions is not None and predictions != "-":
        refuse_to_overwrite(predictions, force)
    bundle = load_bundle(bundle_path)
    names = bundle.feature_names
    selection = {"label": label, "target": target, "id_column": id_column, "drop_missing": drop_missing}
    ref = load_points(reference, fmt, names, **selection)
    ref_name = display_name(reference)
    if label is not None:
        labelled = ref.labelled
        ref_X, ref_y = ref.X[labelled], ref.labels[labelled].astype(str)
    else:
        ref_X, ref_y = ref.X, ref.target
    # x -> L x and x -> x / scale exactly as in cross-validation and the benchmark protocol
    # (no centring): the same split then gives the same figures, ties and all
    spaces = {"learned": _Space(L=bundle.L), "euclidean": _euclidean_space(bundle, ref_X.shape[1])}
    references = _References(
        {side: space(ref_X) for side, space in spaces.items()},
        ref_y,
        label is not None,
        k,
        retrieval,
        ref_name,
    )
    scorers = references.scorers()
    columns = {"key": id_column or "row", "truth": label or target}
    if on_dask:
        test_name, skipped = _score_on_dask(
            test, spaces, references, scorers, selection, names, columns, predictions, force, scheduler
        )
    else:
        test_name, skipped = _score_locally(
            test,
            fmt,
            batch_rows,
            spaces,
            scorers,
            selection,
            names,
            columns,
            predictions,
            output_format,
            force,
        )
    if skipped:
        note(f"{test_name}: skipped {skipped} rows with a blank label")
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
        **({"engine": "dask"} if on_dask else {}),
    }
    if settings.json:
        emit_json(result)
        return
    render.held_out_scores(
        f"metricli evaluate {bundle.path} ({bundle.algorithm}) on {test_name}: "
        f"{result['learned']['n_test']} rows, kNN k={k} against {ref_name} ({result['n_reference']} rows)",
        result,
    )


@dataclasses.dataclass(frozen=True)
class _Space:
    """Where kNN runs: x -> L x (the learned metric), or x -> x / scale (the Euclidean baseline)."""

    L: np.ndarray | None = None
    scale: np.ndarray | None = None

    def __call__(self, X: np.ndarray) -> np.ndarray:
        if self.L is not None:
            return project(X, self.L)
        return X / self.scale if self.scale is not None else X


def _euclidean_space(bundle: Bundle, n_features: int) -> _Space:
    """The baseline: the raw features, divided by the bundle's training scale if it standardized."""
    preprocessing = bundle.metadata.get("preprocessing") or {}
    if not (preprocessing.get("standardize") and preprocessing.get("scale") is not None):
        return _Space()
    scale = np.asarray(preprocessing["scale"], dtype=np.float64)
    if scale.shape != (n_features,) or not np.all(np.isfinite(scale)) or np.any(scale <= 0):
        raise MetricliError(
            f"{bundle.path}: corrupt bundle, metadata.json has an invalid standardization scale"
        )
    return _Space(scale=scale)


@dataclasses.dataclass(frozen=True)
class _References:
    """The reference rows in each space and their labels or targets: what a scorer is built from."""

    points: dict[str, np.ndarray]
    truth: np.ndarray
    classification: bool
    k: int
    retrieval: bool
    name: str

    def scorers(self) -> dict[str, ClassificationScorer | RegressionScorer]:
        if self.classification:
            return {
                side: ClassificationScorer(Z, self.truth, self.k, retrieval=self.retrieval, what=self.name)
                for side, Z in self.points.items()
            }
        return {
            side: RegressionScorer(Z, self.truth, self.k, what=self.name) for side, Z in self.points.items()
        }


def _score(
    points: Dataset,
    spaces: dict[str, _Space],
    scorers: dict[str, ClassificationScorer | RegressionScorer],
    columns: dict[str, str],
) -> tuple[int, pd.DataFrame]:
    """Score one batch (or Dask partition) of TEST rows; (rows skipped, their predictions)."""
    classification = points.labels is not None
    keep = points.labelled if classification else np.ones(points.n_samples, dtype=bool)
    X = points.X[keep]
    truth = points.labels[keep].astype(str) if classification else points.target
    predicted = {side: scorers[side].add(space(X), truth) for side, space in spaces.items()}
    frame = pd.DataFrame(
        {
            columns["key"]: row_keys(points)[keep],
            columns["truth"]: truth,
            "predicted": predicted["learned"],
            "predicted_euclidean": predicted["euclidean"],
        }
    )
    return int((~keep).sum()), frame


def _empty_predictions(columns: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame(columns=[columns["key"], columns["truth"], "predicted", "predicted_euclidean"])


def _score_locally(
    test: str,
    fmt: str | None,
    batch_rows: int,
    spaces: dict[str, _Space],
    scorers: dict[str, ClassificationScorer | RegressionScorer],
    selection: dict[str, Any],
    names: list[str],
    columns: dict[str, str],
    predictions: str | None,
    output_format: str | None,
    force: bool,
) -> tuple[str, int]:
    skipped = 0
    writer = TableWriter(predictions, output_format, force=force) if predictions else None
    with writer or contextlib.nullcontext(), PointStream(test, fmt, batch_rows, names, **selection) as stream:
        for points in stream:
            dropped, frame = _score(points, spaces, scorers, columns)
            skipped += dropped
            if writer is not None:
                writer.write(frame)
        if writer is not None:
            writer.write_if_empty(_empty_predictions(columns))
    return stream.name, skipped


def _score_on_dask(
    test: str,
    spaces: dict[str, _Space],
    references: _References,
    scorers: dict[str, ClassificationScorer | RegressionScorer],
    selection: dict[str, Any],
    names: list[str],
    columns: dict[str, str],
    predictions: str | None,
    force: bool,
    scheduler: str | None,
) -> tuple[str, int]:
    """Each partition of TEST scored on a worker; their counts and sums added into ``scorers``."""
    from metricli import distributed

    where = display_name(test)
    wanted = [*names, *(c for c in (selection["label"], selection["target"], selection["id_column"]) if c)]
    with distributed.dask_client(scheduler):
        frame = distributed.read_parquet(test)
        distributed.require_columns(frame, names, where, FEATURE_WHY)
        distributed.require_columns(frame, wanted, where, "from --label, --target or --id")
        starts = distributed.partition_starts(frame)
        shared = distributed.share((spaces, references))

        def tasks(folder: Any) -> list[Any]:
            return [
                distributed.task(_score_partition)(
                    part,
                    int(starts[i]),
                    None if folder is None else distributed.partition_file(folder, i),
                    shared,
                    where,
                    names,
                    selection,
                    columns,
                )
                for i, part in enumerate(distributed.partitions(frame, wanted))
            ]

        if predictions is None:
            results = distributed.compute(tasks(None))
        else:
            results = distributed.write_partitions(predictions, force, tasks, _empty_predictions(columns))
    for _, _, counts in results:
        for side, scorer in scorers.items():
            scorer.absorb(counts[side])
    return where, sum(skipped for _, skipped, _ in results)


def _score_partition(
    part: pd.DataFrame,
    start: int,
    path: str | None,
    shared: tuple[dict[str, _Space], _References],
    where: str,
    names: list[str],
    selection: dict[str, Any],
    columns: dict[str, str],
) -> tuple[int, int, dict[str, dict[str, Any]]]:
    """On a worker: one partition of TEST scored against the reference; (predictions written, skipped, counts)."""
    spaces, references = shared
    points = distributed_points(part, start, where, names, selection)
    scorers = references.scorers()
    skipped, frame = _score(points, spaces, scorers, columns)
    written = 0
    if path is not None and len(frame):
        with TableWriter(path, "parquet") as writer:
            writer.write(frame)
        written = writer.rows
    return written, skipped, {side: scorer.counts() for side, scorer in scorers.items()}
