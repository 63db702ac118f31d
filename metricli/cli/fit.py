"""``metricli fit ALGO DATA``: one subcommand per learner, built from its parameters.

Each learner's ``__init__`` signature and ``param_help`` become that subcommand's
options (metricli/cli/learner_options.py, shared with ``evaluate``), so a new learner
needs no CLI code; the options only ``fit`` has are declared below.
"""

from __future__ import annotations

import inspect
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import typer

from metricli.axioms import check_mahalanobis
from metricli.cli import knn_check, render
from metricli.cli.common import (
    PARTITIONED,
    EngineOption,
    ForceOption,
    JsonOption,
    LearnerGroup,
    QuietOption,
    SchedulerOption,
    configure,
    emit_json,
    note,
    open_engine,
    require_output_path,
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
from metricli.engines import Source
from metricli.engines.fitting import fit_from_pieces
from metricli.errors import MetricliError
from metricli.evaluation import standardization
from metricli.io.atomic import BUNDLE, refuse_to_overwrite
from metricli.io.bundle import fit_record, preprocessing_record, recorded_params, save_bundle
from metricli.io.tables import display_name, select_columns
from metricli.learners import LEARNERS
from metricli.learners.base import MahalanobisLearner
from metricli.memory import require_fit_memory
from metricli.supervision import load_learning_data, supervision, weak_constraints

_DASK_HELP = {
    "scatter": "count, mean and scatter summed over partitions",
    "chunks": "per-chunklet counts, means and scatter, merged by chunk id, so chunklets may span partitions",
    "named rows": "the partitions hand over only the rows its pairs name, at most two per pair",
    "stochastic": "the stochastic solver, each minibatch gradient summed over partitions; only d x d "
    "arrays, batch distances and candidate lists reach the client",
}


def _fit_help() -> str:
    engines = "; ".join(
        f"{name} ({_DASK_HELP[cls.distributed_fit]})"
        for name, cls in LEARNERS.items()
        if cls.distributed_fit is not None
    )
    return (
        "Learn a Mahalanobis metric from DATA and write a model bundle.\n\n"
        f"--engine dask fits from partitioned data ({PARTITIONED}) on a Dask cluster, for the learners whose fit "
        f"decomposes over partitions: {engines}. The small d x d solve runs on the client. LFDA and "
        "SELF do not decompose: their local scatter weighs each same-class pair by an affinity scaled "
        "by each point's k-th nearest neighbour in its whole class, which needs all of a class at once; "
        "the other iterative learners revisit every constraint at every step."
    )


fit_app = typer.Typer(
    cls=LearnerGroup,
    help=_fit_help(),
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _fit_parameters(cls: type[MahalanobisLearner]) -> list[inspect.Parameter]:
    kw = inspect.Parameter.KEYWORD_ONLY
    data, *selection = data_parameters(
        cls,
        label_required=cls.supervision in ("supervised", "semi-supervised"),
        target_required=False,  # checked with the reason (regression) when the data is read
        label_help=label_help(cls),
    )
    output = inspect.Parameter(
        "output",
        kw,
        annotation=option(
            Path, "--output", "-o", help="Folder to write the model bundle to.", show_default=False
        ),
    )
    return [
        data,
        output,
        *selection,
        inspect.Parameter("force", kw, default=False, annotation=ForceOption),
        inspect.Parameter("no_knn_check", kw, default=False, annotation=knn_check.Option),
        *(weak_parameters(cls) if cls.supervision == "weakly-supervised" else []),
        inspect.Parameter("json_output", kw, default=False, annotation=JsonOption),
        inspect.Parameter("quiet", kw, default=False, annotation=QuietOption),
        *learner_parameters(cls),
        *(  # last: their panel comes below the everyday options
            [
                inspect.Parameter("engine", kw, default="local", annotation=EngineOption),
                inspect.Parameter("scheduler", kw, default=None, annotation=SchedulerOption),
            ]
            if cls.distributed_fit is not None
            else []
        ),
    ]


def run_fit(cls: type[MahalanobisLearner], options: dict[str, Any]) -> None:
    configure(options.pop("json_output"), options.pop("quiet"))
    output: Path = options["output"]
    require_output_path(output, "fit writes a model bundle, a folder")
    refuse_to_overwrite(output, options["force"], BUNDLE)
    source = options["data"]
    if options.get("engine", "local") != "local" or options.get("scheduler"):
        _fit_on_engine(cls, options)
        return
    params = learner_params(cls, options)
    learner = cls(**params)
    # refused as soon as the table is read, before anything d x d: the fit and the bundle written after it
    fits = lambda d, name: require_fit_memory(learner, d, bundle=True, where=name)  # noqa: E731
    dataset = load_learning_data(options, note, fits)
    X, fit_args, supervision_info = supervision(cls, dataset, options, note)

    mean = np.zeros(X.shape[1])
    scale = np.ones(X.shape[1])
    if options["standardize"]:
        mean, scale = standardization(X)
    X_fit = (X - mean) / scale if options["standardize"] else X

    with spinner() as progress:
        task = progress.add_task(f"fitting {cls.name}", total=None)

        def report(iteration: int, objective: float, **extra: Any) -> None:
            details = "".join(f"  {k} {v}" for k, v in extra.items())
            progress.update(
                task,
                description=f"{cls.name}  iteration {iteration}  objective {objective:.6g}{details}",
            )

        learner.set_progress(report)
        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                learner.fit(X_fit, *fit_args)
            except MetricliError as exc:
                raise MetricliError(f"{dataset.name}: {exc.message}") from None
        seconds = time.perf_counter() - start
    for warning in caught:
        note(f"warning: {warning.message}")
    checked = None
    if knn_check.applies(cls, dataset, options):
        X_all = (dataset.X - mean) / scale if options["standardize"] else dataset.X
        checked = knn_check.run(cls, params, dataset, X_all, options)
        if checked is not None and checked.worse:
            note(knn_check.message(checked))

    L = learner.components_ / scale[None, :]
    metadata = {
        "algorithm": cls.name,
        "supervision": cls.supervision,
        "params": recorded_params(params),
        "seed": options["seed"],
        "preprocessing": preprocessing_record(mean, scale)
        if options["standardize"]
        else preprocessing_record(),
        "input": {
            "path": display_name(source),
            "sha256": dataset.sha256,
            "rows_read": int(dataset.rows.max() + 1) if dataset.rows.size else 0,
            "rows_used": int(X.shape[0]),
            "label": dataset.label_column,
            "target": dataset.target_column,
            "id": dataset.id_column,
            **{k: v for k, v in supervision_info.items() if k != "rows_used"},
        },
        "fit": fit_record(learner, seconds, knn_check=None if checked is None else checked.as_dict()),
    }
    _save(output, L, dataset.feature_names, metadata, options["force"])


def _save(output: Path, L: np.ndarray, names: list[str], metadata: dict[str, Any], force: bool) -> None:
    report_axioms = check_mahalanobis(L.T @ L, names)
    save_bundle(output, L, names, metadata, report_axioms, force=force)
    if settings.json:
        emit_json({"output": str(output), "metadata": metadata, "verdict": report_axioms["verdict"]})
    else:
        render.fit_summary(output, metadata, report_axioms)


def _fit_on_engine(cls: type[MahalanobisLearner], options: dict[str, Any]) -> None:
    """Fit from data read in pieces (Dask partitions), as the learner's ``distributed_fit`` says."""
    for unsupported in ("standardize", "drop_missing"):
        if options.get(unsupported):
            raise MetricliError(f"--{unsupported.replace('_', '-')} is not available with --engine dask")
    source = options["data"]
    learner = cls(**learner_params(cls, options))
    info: dict[str, Any] = {}
    start = time.perf_counter()
    with open_engine(options["engine"], options.get("scheduler")) as runner:
        frame, fmt = runner.head(source, None, 1000)
        chosen = select_columns(
            frame,
            source,
            fmt=fmt,
            label=options["label"],
            target=options["target"],
            id_column=options["id_column"],
            features=options["features"],
            exclude=options["exclude"] or (),
            extra_columns=[options["chunks"]] if options.get("chunks") else (),
        )
        for message in chosen.notes:
            note(message)
        names = chosen.feature_names
        pieces = Source(
            source,
            tuple(names),
            label=options["label"],
            target=options.get("target"),
            id_column=options["id_column"],
            features_why=None,
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            rows_used = fit_from_pieces(
                runner,
                learner,
                pieces,
                chunks_column=options.get("chunks"),
                constraints_from=lambda rows: weak_constraints(cls, rows, options, note, info),
                unlabeled=options.get("unlabeled"),
                info=info,
            )
    for warning in caught:
        note(f"warning: {warning.message}")
    metadata = {
        "algorithm": cls.name,
        "supervision": cls.supervision,
        "params": recorded_params(learner.get_params()),
        "seed": options["seed"],
        "preprocessing": preprocessing_record(),
        "input": {
            "path": source,
            "sha256": None,
            "engine": runner.name,
            "rows_read": rows_used["read"],
            "rows_used": rows_used["used"],
            "label": options["label"],
            "target": options["target"],
            "id": options["id_column"],
            **info,
        },
        "fit": fit_record(learner, time.perf_counter() - start),
    }
    _save(options["output"], learner.components_, names, metadata, options["force"])


for _name, _cls in LEARNERS.items():
    fit_app.command(_name)(
        make_command(
            _cls,
            run_fit,
            _fit_parameters(_cls),
            f"fit_{_cls.name}",
            f"{_cls.summary}.\n\n{_cls.supervision.capitalize()}. Reference: {_cls.reference}.",
        )
    )


def _register_auto() -> None:
    from metricli.cli.fit_auto import fit_auto

    fit_app.command("auto")(fit_auto)


_register_auto()
