"""``metricli fit ALGO DATA``: one subcommand per learner, built from its parameters.

Each learner's ``__init__`` signature and ``param_help`` become that subcommand's
options, so a new learner needs no CLI code; the options every learner shares are
declared once below.
"""

from __future__ import annotations

import inspect
import time
import typing
import warnings
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import typer

from metricli.axioms import check_mahalanobis
from metricli.cli import render
from metricli.cli.common import (
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
    settings,
    split_columns,
)
from metricli.errors import MetricliError
from metricli.io.atomic import refuse_to_overwrite
from metricli.io.bundle import read_matrix_file, save_bundle
from metricli.io.tables import Dataset, display_name, load_dataset, sha256_file
from metricli.learners import LEARNERS
from metricli.learners.base import MahalanobisLearner

fit_app = typer.Typer(
    help="Learn a Mahalanobis metric from DATA and write a model bundle.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)

#: learner parameters the CLI fills from its own shared options
_SHARED = {"random_state"}


def _option(annotation: Any, *decls: str, **kwargs: Any) -> Any:
    return Annotated[annotation, typer.Option(*decls, **kwargs)]


def _common_parameters(cls: type[MahalanobisLearner]) -> list[inspect.Parameter]:
    kw = inspect.Parameter.KEYWORD_ONLY
    label_required = cls.supervision in ("supervised", "semi-supervised")
    target_required = cls.supervision == "regression"
    label_help = {
        "supervised": "Column of class labels (blank cells are unlabelled rows and are dropped).",
        "semi-supervised": "Column of class labels; blank cells (or --unlabeled) mark unlabelled rows.",
    }.get(cls.supervision, "Column of class labels (kept out of the features).")
    params = [
        inspect.Parameter(
            "data",
            kw,
            annotation=Annotated[
                str,
                typer.Argument(
                    help="Table of points: CSV, TSV, Parquet or .npy; '-' reads stdin.",
                    metavar="DATA",
                    show_default=False,
                ),
            ],
        ),
        inspect.Parameter(
            "output",
            kw,
            annotation=_option(
                Path,
                "--output",
                "-o",
                help="Folder to write the model bundle to.",
                show_default=False,
            ),
        ),
        inspect.Parameter(
            "label",
            kw,
            default=... if label_required else None,
            annotation=_option(str | None, "--label", "-y", help=label_help),
        ),
        inspect.Parameter(
            "target",
            kw,
            default=... if target_required else None,
            annotation=_option(str | None, "--target", help="Column of regression targets."),
        ),
        inspect.Parameter(
            "unlabeled",
            kw,
            default=None,
            annotation=_option(
                str | None,
                "--unlabeled",
                help="Label value that marks an unlabelled row (besides blank cells).",
            ),
        ),
        inspect.Parameter("id_column", kw, default=None, annotation=IdOption),
        inspect.Parameter("features", kw, default=None, annotation=FeaturesOption),
        inspect.Parameter("exclude", kw, default=None, annotation=ExcludeOption),
        inspect.Parameter("fmt", kw, default=None, annotation=FormatOption),
        inspect.Parameter("drop_missing", kw, default=False, annotation=DropMissingOption),
        inspect.Parameter(
            "standardize",
            kw,
            default=False,
            annotation=_option(
                bool,
                "--standardize",
                help="Learn on z-scored features; M and L are still written for the raw features.",
            ),
        ),
        inspect.Parameter(
            "seed",
            kw,
            default=None,
            annotation=_option(
                int | None, "--seed", help="Random seed, for learners that draw random numbers."
            ),
        ),
        inspect.Parameter("force", kw, default=False, annotation=ForceOption),
        *(_weak_parameters(cls) if cls.supervision == "weakly-supervised" else []),
        inspect.Parameter("json_output", kw, default=False, annotation=JsonOption),
        inspect.Parameter("quiet", kw, default=False, annotation=QuietOption),
    ]
    return params


def _weak_parameters(cls: type[MahalanobisLearner]) -> list[inspect.Parameter]:
    """Where weak supervision comes from: constraint files, a chunk column, or labels."""
    kw = inspect.Parameter.KEYWORD_ONLY
    panel = "Constraints (or draw them from --label)"
    params = []
    for kind in cls.constraint_kinds:
        if kind == "chunks":
            params.append(
                inspect.Parameter(
                    "chunks",
                    kw,
                    default=None,
                    annotation=_option(
                        str | None,
                        "--chunks",
                        rich_help_panel=panel,
                        help="Column of chunk ids in DATA (blank or -1: in no chunk).",
                    ),
                )
            )
            params.append(
                inspect.Parameter(
                    "chunk_size",
                    kw,
                    default=2,
                    annotation=_option(
                        int,
                        "--chunk-size",
                        min=2,
                        rich_help_panel=panel,
                        help="Points per chunk when chunks are drawn from --label.",
                    ),
                )
            )
        else:
            columns = {
                "pairs": "a,b,y (y = 1 similar, -1 dissimilar)",
                "triplets": "anchor,positive,negative",
                "quadruplets": "a,b,c,d: d(a,b) < d(c,d)",
            }
            params.append(
                inspect.Parameter(
                    kind,
                    kw,
                    default=None,
                    annotation=_option(
                        str | None,
                        f"--{kind}",
                        rich_help_panel=panel,
                        help=f"File of {kind}: {columns[kind]}; rows of DATA by number, or by --id.",
                    ),
                )
            )
    if "triplets" in cls.constraint_kinds:
        params.append(
            inspect.Parameter(
                "strategy",
                kw,
                default="neighbors",
                annotation=_option(
                    Literal["neighbors", "random"],
                    "--strategy",
                    rich_help_panel=panel,
                    help="How to draw triplets from --label: neighbors = each point with its 3 nearest "
                    "same-class and 10 nearest other-class points (as metric-learn's SCML_Supervised; "
                    "in the standardized space with --standardize); random = uniformly at random.",
                ),
            )
        )
    params.append(
        inspect.Parameter(
            "n_constraints",
            kw,
            default=None,
            annotation=_option(
                int | None,
                "--n-constraints",
                min=1,
                rich_help_panel=panel,
                help="How many constraints to draw from --label (default: pairs 40 × classes², "
                "quadruplets 20 × classes², random triplets 30 × points, all neighbour triplets, "
                "100 chunks).",
            ),
        )
    )
    return params


def _learner_parameters(cls: type[MahalanobisLearner]) -> list[inspect.Parameter]:
    """The learner's own ``__init__`` parameters as options."""
    hints = typing.get_type_hints(cls.__init__)
    params = []
    for p in inspect.signature(cls.__init__).parameters.values():
        if p.name == "self" or p.name in _SHARED:
            continue
        annotation = hints.get(p.name, str)
        flag = "--" + p.name.replace("_", "-")
        help_text = cls.param_help.get(p.name, "")
        extra: dict[str, Any] = {}
        args = typing.get_args(annotation)
        if typing.get_origin(annotation) is typing.Literal:
            pass  # typer turns Literal[...] into a choice itself
        elif annotation is bool:
            flag = f"{flag}/--no-{p.name.replace('_', '-')}"
        elif any(a is np.ndarray for a in args) or annotation is np.ndarray:
            annotation = str | None if type(None) in args else str
            help_text += " A .npy or CSV matrix file is also accepted."
        else:
            literal = [a for a in args if typing.get_origin(a) is typing.Literal]
            if literal:
                choices = [str(c) for c in typing.get_args(literal[0])]
                annotation = str | None if type(None) in args else str
                help_text += f" One of: {', '.join(choices)}, or a number."
        params.append(
            inspect.Parameter(
                p.name,
                inspect.Parameter.KEYWORD_ONLY,
                default=p.default,
                annotation=_option(
                    annotation, flag, help=help_text, rich_help_panel="Algorithm options", **extra
                ),
            )
        )
    return params


def _coerce_param(cls: type[MahalanobisLearner], name: str, value: Any) -> Any:
    """Turn a command-line string into what the learner expects: a matrix file, a number."""
    if not isinstance(value, str):
        return value
    hint = typing.get_type_hints(cls.__init__).get(name)
    args = typing.get_args(hint)
    if np.ndarray in args and (value.endswith((".npy", ".csv", ".tsv")) or Path(value).is_file()):
        matrix, _ = read_matrix_file(value, square=False)  # the learner checks the shape it needs
        return matrix
    if (float in args or int in args) and any(typing.get_origin(a) is typing.Literal for a in args):
        try:
            return int(value) if int in args and value.lstrip("-").isdigit() else float(value)
        except ValueError:
            return value
    return value


def _supervision(
    cls: type[MahalanobisLearner], dataset: Dataset, options: dict[str, Any]
) -> tuple[np.ndarray, tuple, dict]:
    """X and the extra ``fit`` arguments for the learner's kind of supervision."""
    info: dict[str, Any] = {}
    if cls.supervision == "unsupervised":
        return dataset.X, (), info
    if cls.supervision == "regression":
        return dataset.X, (dataset.target,), info
    if cls.supervision in ("supervised", "semi-supervised"):
        labelled = dataset.labelled
        classes = sorted({str(v) for v in dataset.labels[labelled]})
        info["classes"] = classes
        if len(classes) < 2:
            found = f"a single class '{classes[0]}'" if classes else "no labelled rows"
            raise MetricliError(
                f"{dataset.name}: label column '{dataset.label_column}' has {found}; "
                f"{cls.name} needs at least two classes"
            )
        if cls.supervision == "supervised":
            if not labelled.all():
                note(
                    f"{dataset.name}: dropping {int((~labelled).sum())} unlabelled rows; "
                    f"{cls.name} uses labelled rows only"
                )
            info["rows_used"] = dataset.rows[labelled].tolist() if not labelled.all() else None
            return dataset.X[labelled], (dataset.labels[labelled],), info
        info["n_unlabelled"] = int((~labelled).sum())
        return dataset.X, (dataset.labels,), info
    return dataset.X, (_weak_constraints(cls, dataset, options, info),), info


def _weak_constraints(
    cls: type[MahalanobisLearner], dataset: Dataset, options: dict[str, Any], info: dict[str, Any]
):
    """The constraints given in files or a chunk column, else drawn from the labels (seeded).

    Where they came from and how many there are goes into ``info["constraints"]``.
    """
    from metricli import constraints as weak
    from metricli.io.constraints import chunks_from_column, read_constraints

    given = [k for k in cls.constraint_kinds if options.get(k)]
    if len(given) > 1:
        raise MetricliError(f"{cls.name}: give one of {', '.join('--' + k for k in given)}, not several")
    if given:
        kind = given[0]
        if options.get("n_constraints") is not None:
            raise MetricliError(
                f"--n-constraints draws constraints from labels; it cannot be used with --{kind}"
            )
        if kind == "chunks":
            column = options["chunks"]
            found = weak.Chunks(chunks_from_column(dataset.extra[column], dataset.name, column))
            weak.validate(found, dataset.n_samples, where=f"{dataset.name}: column '{column}'")
            info["constraints"] = {"source": "column", "column": column, **weak.describe(found)}
            return found
        found = read_constraints(options[kind], kind, dataset.n_samples, ids=dataset.ids, rows=dataset.rows)
        info["constraints"] = {
            "source": "file",
            "path": display_name(options[kind]),
            "sha256": sha256_file(options[kind]) if options[kind] != "-" else None,
            "by": "id" if dataset.ids is not None else "row",
            **weak.describe(found),
        }
        return found
    if dataset.labels is None:
        flags = ", ".join(f"--{k}" for k in cls.constraint_kinds)
        raise MetricliError(
            f"{cls.name} learns from constraints: give {flags}, or --label to draw them from labels"
        )
    kind = cls.constraint_kinds[0]
    n_classes = len({str(v) for v in dataset.labels[dataset.labelled]})
    if n_classes < 2:
        raise MetricliError(
            f"{dataset.name}: label column '{dataset.label_column}' has fewer than two classes; "
            "constraints cannot be drawn from it"
        )
    strategy = options.get("strategy") or "random"
    n = options.get("n_constraints")
    if n is None and strategy == "random":
        n = weak.default_count(kind, n_classes, int(dataset.labelled.sum()))
    X = dataset.X
    if options.get("standardize"):
        mean, scale = standardization(X)
        X = (X - mean) / scale
    drawn = weak.from_labels(
        kind,
        dataset.labels,
        n,
        seed=options.get("seed"),
        chunk_size=options.get("chunk_size") or 2,
        X=X,
        strategy=strategy,
    )
    if n is not None and len(drawn) < n:
        note(
            f"{dataset.name}: drew {len(drawn)} {kind} from the labels ({n} asked; no more distinct ones exist)"
        )
    info["constraints"] = {
        "source": "labels",
        "label": dataset.label_column,
        "seed": options.get("seed"),
        "strategy": strategy,
        "requested": None if n is None else int(n),
        **weak.describe(drawn),
    }
    return drawn


def standardization(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column means and standard deviations (1 for constant columns) that --standardize uses."""
    std = X.std(axis=0)
    return X.mean(axis=0), np.where(std > 0, std, 1.0)


def _progress_display():
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from metricli.cli.common import err

    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=settings.quiet,
    )


def run_fit(cls: type[MahalanobisLearner], options: dict[str, Any]) -> None:
    configure(options.pop("json_output"), options.pop("quiet"))
    output: Path = options["output"]
    refuse_to_overwrite(output, options["force"])
    source = options["data"]
    dataset = load_dataset(
        source,
        options["fmt"],
        label=options["label"],
        target=options["target"],
        id_column=options["id_column"],
        features=split_columns(options["features"]),
        exclude=split_columns(options["exclude"]) or (),
        drop_missing=options["drop_missing"],
        unlabeled=options["unlabeled"],
        extra_columns=[options["chunks"]] if options.get("chunks") else (),
    )
    for message in dataset.notes:
        note(message)
    X, fit_args, supervision_info = _supervision(cls, dataset, options)

    params = {
        name: _coerce_param(cls, name, options[name]) for name in cls._param_names() if name not in _SHARED
    }
    if "random_state" in cls._param_names():
        params["random_state"] = options["seed"]
    learner = cls(**params)

    mean = np.zeros(X.shape[1])
    scale = np.ones(X.shape[1])
    if options["standardize"]:
        mean, scale = standardization(X)
    X_fit = (X - mean) / scale if options["standardize"] else X

    with _progress_display() as progress:
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

    L = learner.components_ / scale[None, :]
    report_axioms = check_mahalanobis(L.T @ L, dataset.feature_names)
    metadata = {
        "algorithm": cls.name,
        "supervision": cls.supervision,
        # a matrix given as a file is recorded by its path
        "params": {k: (options.get(k) if isinstance(v, np.ndarray) else v) for k, v in params.items()},
        "seed": options["seed"],
        "preprocessing": {
            "standardize": bool(options["standardize"]),
            "mean": mean.tolist() if options["standardize"] else None,
            "scale": scale.tolist() if options["standardize"] else None,
            "note": "M and L apply to the raw features; standardization is folded into them"
            if options["standardize"]
            else None,
        },
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
        "fit": {
            "iterations": learner.n_iter_,
            "objective": learner.objective_,
            "converged": learner.converged_,
            "seconds": round(seconds, 6),
            "objective_history": learner.objective_history_,
        },
    }
    save_bundle(output, L, dataset.feature_names, metadata, report_axioms, force=options["force"])
    if settings.json:
        emit_json({"output": str(output), "metadata": metadata, "verdict": report_axioms["verdict"]})
    else:
        render.fit_summary(output, metadata, report_axioms)


def _make_command(cls: type[MahalanobisLearner]):
    def command(**options: Any) -> None:
        run_fit(cls, options)

    parameters = _common_parameters(cls) + _learner_parameters(cls)
    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in parameters}
    command.__doc__ = f"{cls.summary}.\n\n{cls.supervision.capitalize()}. Reference: {cls.reference}."
    command.__name__ = f"fit_{cls.name}"
    return command


for _name, _cls in LEARNERS.items():
    fit_app.command(_name)(_make_command(_cls))
