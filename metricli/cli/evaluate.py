"""``metricli evaluate``: how much a learned metric helps kNN, beside Euclidean distance.

Two modes, one group: a subcommand per learner (built from the learner like
``metricli fit ALGO``, options shared through cli/learner_options.py) cross-validates
it; ``bundle`` scores a fitted bundle on held-out data, and is also what runs when
the first argument is a bundle folder.
"""

from __future__ import annotations

import dataclasses
import inspect
import warnings
from typing import Annotated, Any

import numpy as np
import typer

from metricli.cli import render
from metricli.cli.common import (
    JsonOption,
    LearnerGroup,
    QuietOption,
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
    make_command,
    option,
    weak_parameters,
)
from metricli.cli.progress import spinner
from metricli.errors import MetricliError
from metricli.evaluation import cross_validate
from metricli.io.bundle import is_bundle
from metricli.learners import LEARNERS
from metricli.learners.base import MahalanobisLearner
from metricli.supervision import load_learning_data, supervision

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


class EvaluateGroup(LearnerGroup):
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
            target_required=False,  # checked with the reason (regression) when the data is read
            label_help=label_help(cls) + " Scored by kNN accuracy.",
            target_help="Column of regression targets, scored by kNN regression error.",
            seed=0,
        ),
        inspect.Parameter(
            "cv", kw, default=5, annotation=option(int, "--cv", min=2, help="Number of folds.")
        ),
        inspect.Parameter("knn", kw, default=3, annotation=KOption),
        inspect.Parameter("retrieval", kw, default=True, annotation=RetrievalOption),
        inspect.Parameter(
            "group",
            kw,
            default=None,
            annotation=option(
                str | None,
                "--group",
                metavar="COLUMN",
                help="Verification on unseen identities: folds never split an identity (this column's "
                "value, often the label itself), and each held-out fold scores every pair of its rows "
                "(ROC AUC, EER, TAR at FAR 1e-2) instead of kNN.",
                show_default=False,
            ),
        ),
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
    dataset = load_learning_data(options, note)
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
            groups=_groups(dataset, options.get("group")),
        )
    return {
        "mode": "cross-validation",
        "group": options.get("group"),
        "algorithm": cls.name,
        "params": {k: (None if isinstance(v, np.ndarray) else v) for k, v in params.items()},
        "data": dataset.name,
        "sha256": dataset.sha256,
        "label": dataset.label_column,
        "target": dataset.target_column,
        "n_rows": dataset.n_samples,
        **result,
    }


def _groups(dataset: Any, group: str | None) -> np.ndarray | None:
    """The identity of each row for --group: the label column itself, or another column."""
    if group is None:
        return None
    if dataset.label_column is None:
        raise MetricliError("--group scores verification of a learner fitted on labels; give --label too")
    if group == dataset.label_column:
        return dataset.labels
    return dataset.extra[group].to_numpy(dtype=object)


def run_cross_validation(cls: type[MahalanobisLearner], options: dict[str, Any]) -> None:
    configure(options.pop("json_output"), options.pop("quiet"))
    result = cross_validation_report(cls, options)
    if settings.json:
        emit_json(result)
        return
    kind = {"classification": "stratified ", "verification": "identity-disjoint "}.get(result["task"], "")
    render.cross_validation(
        f"metricli evaluate {cls.name} {result['data']}: {result['cv']}-fold {kind}cross-validation, "
        f"seed {result['seed']}"
        + (
            f", kNN k={result['k']}"
            if result["task"] != "verification"
            else f", all pairs by '{result['group']}'"
        )
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


# mode (b), scoring a fitted bundle, is in evaluate_bundle.py
from metricli.cli import evaluate_bundle  # noqa: E402,F401  (registers the "bundle" command)
