"""What every command that fits a learner shares: its options, built from the learner, and its supervision.

``metricli fit ALGO`` and ``metricli evaluate ALGO`` both turn each learner's ``__init__``
signature and ``param_help`` into options, read the data the same way and hand the
learner the supervision its kind needs (labels, targets, or constraints). That lives
here, once, so a new learner needs no CLI code in either command.
"""

from __future__ import annotations

import hashlib
import inspect
import re
import shlex
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import typer

from metricli.cli.common import (
    DropMissingOption,
    ExcludeOption,
    FeaturesOption,
    FormatOption,
    IdOption,
    note,
)
from metricli.errors import MetricliError
from metricli.evaluation import leaking_features, standardization
from metricli.io.bundle import read_matrix_file
from metricli.io.tables import Dataset, display_name, load_dataset, sha256_file
from metricli.learners.base import MahalanobisLearner

#: learner parameters the CLI fills from its own shared options
SHARED = {"random_state"}

_KW = inspect.Parameter.KEYWORD_ONLY


def option(annotation: Any, *decls: str, **kwargs: Any) -> Any:
    return Annotated[annotation, typer.Option(*decls, **kwargs)]


def data_parameters(
    cls: type[MahalanobisLearner],
    *,
    label_required: bool,
    target_required: bool,
    label_help: str,
    target_help: str = "Column of regression targets.",
    seed: int | None = None,
) -> list[inspect.Parameter]:
    """DATA and the options that choose its columns, preprocessing and seed."""
    return [
        inspect.Parameter(
            "data",
            _KW,
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
            "label",
            _KW,
            default=... if label_required else None,
            annotation=option(str | None, "--label", "-y", help=label_help),
        ),
        inspect.Parameter(
            "target",
            _KW,
            default=... if target_required else None,
            annotation=option(str | None, "--target", help=target_help),
        ),
        inspect.Parameter(
            "unlabeled",
            _KW,
            default=None,
            annotation=option(
                str | None,
                "--unlabeled",
                help="Label value that marks an unlabelled row (besides blank cells).",
            ),
        ),
        inspect.Parameter("id_column", _KW, default=None, annotation=IdOption),
        inspect.Parameter("features", _KW, default=None, annotation=FeaturesOption),
        inspect.Parameter("exclude", _KW, default=None, annotation=ExcludeOption),
        inspect.Parameter("fmt", _KW, default=None, annotation=FormatOption),
        inspect.Parameter("drop_missing", _KW, default=False, annotation=DropMissingOption),
        inspect.Parameter(
            "standardize",
            _KW,
            default=False,
            annotation=option(
                bool,
                "--standardize",
                help="Learn on z-scored features; M and L are still written for the raw features.",
            ),
        ),
        inspect.Parameter(
            "seed",
            _KW,
            default=seed,
            annotation=option(
                int | None, "--seed", min=0, help="Random seed, for learners that draw random numbers."
            ),
        ),
    ]


def label_help(cls: type[MahalanobisLearner]) -> str:
    return {
        "supervised": "Column of class labels (blank cells are unlabelled rows and are dropped).",
        "semi-supervised": "Column of class labels; blank cells (or --unlabeled) mark unlabelled rows.",
    }.get(cls.supervision, "Column of class labels (kept out of the features).")


def weak_parameters(cls: type[MahalanobisLearner], *, files: bool = True) -> list[inspect.Parameter]:
    """Where weak supervision comes from: constraint files or a chunk column (``files``), or labels."""
    panel = "Constraints (or draw them from --label)" if files else "Constraints drawn from --label"
    params = []
    for kind in cls.constraint_kinds:
        if kind == "chunks":
            if files:
                params.append(
                    inspect.Parameter(
                        "chunks",
                        _KW,
                        default=None,
                        annotation=option(
                            str | None,
                            "--chunks",
                            rich_help_panel=panel,
                            help="Column of chunk ids in DATA (blank or -1: in no chunk), or a file "
                            "row,chunk (id,chunk with --id) as 'metricli constraints --kind chunks' writes.",
                        ),
                    )
                )
            params.append(
                inspect.Parameter(
                    "chunk_size",
                    _KW,
                    default=2,
                    annotation=option(
                        int,
                        "--chunk-size",
                        min=2,
                        rich_help_panel=panel,
                        help="Points per chunk when chunks are drawn from --label.",
                    ),
                )
            )
        elif files:
            columns = {
                "pairs": "a,b,y (y = 1 similar, -1 dissimilar)",
                "triplets": "anchor,positive,negative",
                "quadruplets": "a,b,c,d: d(a,b) < d(c,d)",
            }
            params.append(
                inspect.Parameter(
                    kind,
                    _KW,
                    default=None,
                    annotation=option(
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
                _KW,
                default="neighbors",
                annotation=option(
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
            _KW,
            default=None,
            annotation=option(
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


def learner_parameters(cls: type[MahalanobisLearner]) -> list[inspect.Parameter]:
    """The learner's own ``__init__`` parameters as options."""
    hints = typing.get_type_hints(cls.__init__)
    params = []
    for p in inspect.signature(cls.__init__).parameters.values():
        if p.name == "self" or p.name in SHARED:
            continue
        annotation = hints.get(p.name, str)
        flag = "--" + p.name.replace("_", "-")
        help_text = cls.param_help.get(p.name, "")
        args = typing.get_args(annotation)
        default = p.default
        if typing.get_origin(annotation) is typing.Literal:
            # typer (>= 0.20, which vendors click and dropped click_type) offers Literals as choices
            annotation = typing.Literal[tuple(str(a) for a in args)]
            default = default if default is None or default is inspect.Parameter.empty else str(default)
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
                number = " or a number" if int in args or float in args else ""
                help_text += f" One of: {', '.join(choices)}{number}."
        params.append(
            inspect.Parameter(
                p.name,
                _KW,
                default=default,
                annotation=option(annotation, flag, help=help_text, rich_help_panel="Algorithm options"),
            )
        )
    return params


def recorded_params(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters as a bundle records them: a matrix given as a file by its shape and checksum.

    A path is never recorded: whatever reads a bundle (``report`` re-running the fit's
    cross-validation) would open it, and a bundle from elsewhere could name any file.
    """
    return {
        k: (
            {"matrix": list(v.shape), "sha256": hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest()}
            if isinstance(v, np.ndarray)
            else v
        )
        for k, v in params.items()
    }


def replayable_params(cls: type[MahalanobisLearner], params: dict[str, Any]) -> dict[str, Any]:
    """The recorded parameters a new fit can take again: a matrix (recorded, or a path in older
    bundles) falls back to the default, and nothing read from a bundle is ever opened as a file."""
    kept = {}
    for name, value in params.items():
        hint = typing.get_type_hints(cls.__init__).get(name)
        takes_matrix = np.ndarray in typing.get_args(hint)
        if isinstance(value, dict) or (takes_matrix and not re.fullmatch(r"[a-z_]+", str(value))):
            continue
        kept[name] = value
    return kept


def coerce_param(cls: type[MahalanobisLearner], name: str, value: Any) -> Any:
    """Turn a command-line string into what the learner expects: a matrix file, a number."""
    if not isinstance(value, str):
        return value
    hint = typing.get_type_hints(cls.__init__).get(name)
    args = typing.get_args(hint)
    if typing.get_origin(hint) is typing.Literal:  # offered as strings: give back the literal itself
        return next((a for a in args if str(a) == value), value)
    if np.ndarray in args and (value.endswith((".npy", ".csv", ".tsv")) or Path(value).is_file()):
        matrix, _ = read_matrix_file(value, square=False)  # the learner checks the shape it needs
        return matrix
    if (float in args or int in args) and any(typing.get_origin(a) is typing.Literal for a in args):
        try:
            return int(value) if int in args and value.lstrip("-").isdigit() else float(value)
        except ValueError:
            return value
    return value


def learner_params(cls: type[MahalanobisLearner], options: dict[str, Any]) -> dict[str, Any]:
    """The learner's ``__init__`` arguments from the command line; ``random_state`` from --seed."""
    params = {
        name: coerce_param(cls, name, options[name]) for name in cls._param_names() if name not in SHARED
    }
    if "random_state" in cls._param_names():
        params["random_state"] = options["seed"]
    return params


def _is_chunk_file(value: str) -> bool:
    """--chunks names a file (not a column of DATA) when a table file of that name exists."""
    return Path(value).suffix.lower() in (".csv", ".tsv", ".parquet") and Path(value).is_file()


def load_learning_data(options: dict[str, Any]) -> Dataset:
    """DATA with the columns the options choose (features, label, target, id, chunk column)."""
    dataset = load_dataset(
        options["data"],
        options["fmt"],
        label=options["label"],
        target=options["target"],
        id_column=options["id_column"],
        features=options["features"],
        exclude=options["exclude"] or (),
        drop_missing=options["drop_missing"],
        unlabeled=options["unlabeled"],
        extra_columns=[options["chunks"]]
        if options.get("chunks") and not _is_chunk_file(options["chunks"])
        else (),
    )
    for message in dataset.notes:
        note(message)
    if dataset.labels is not None:
        for leak in leaking_features(dataset.X, dataset.labels, dataset.feature_names):
            note(
                f"{dataset.name}: column '{leak.column}' alone predicts the label (kNN accuracy "
                f"{leak.accuracy:.3f}; {leak.others:.3f} from the other columns together): a likely leak (a row number, "
                f"an id or the label recoded); leave it out with --exclude {shlex.quote(leak.column)}"
            )
    return dataset


def supervision(
    cls: type[MahalanobisLearner],
    dataset: Dataset,
    options: dict[str, Any],
    notify: Callable[[str], None] = note,
) -> tuple[np.ndarray, tuple, dict]:
    """X and the extra ``fit`` arguments for the learner's kind of supervision."""
    info: dict[str, Any] = {}
    if cls.supervision == "unsupervised":
        return dataset.X, (), info
    if cls.supervision == "regression":
        if dataset.target is None:
            raise MetricliError(
                f"{cls.name} is for regression: it learns from a numeric target; name its column with --target"
                + (
                    " (--label names classes, for the classification learners such as nca, lmnn and lfda)"
                    if dataset.labels is not None
                    else ""
                )
            )
        return dataset.X, (dataset.target,), info
    if cls.supervision in ("supervised", "semi-supervised"):
        if dataset.labels is None:
            raise MetricliError(f"{cls.name} learns from class labels; name their column with --label")
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
                notify(
                    f"{dataset.name}: dropping {int((~labelled).sum())} unlabelled rows; "
                    f"{cls.name} uses labelled rows only"
                )
            info["rows_used"] = dataset.rows[labelled].tolist() if not labelled.all() else None
            return dataset.X[labelled], (dataset.labels[labelled],), info
        info["n_unlabelled"] = int((~labelled).sum())
        return dataset.X, (dataset.labels,), info
    return dataset.X, (weak_constraints(cls, dataset, options, notify, info),), info


def weak_constraints(
    cls: type[MahalanobisLearner],
    dataset: Dataset,
    options: dict[str, Any],
    notify: Callable[[str], None] = note,
    info: dict[str, Any] | None = None,
):
    """The constraints given in files or a chunk column, else drawn from the labels (seeded).

    Where they came from and how many there are goes into ``info["constraints"]``.
    """
    info = {} if info is None else info
    from metricli import constraints as weak
    from metricli.io.constraints import chunks_from_column, read_chunk_file, read_constraints

    given = [k for k in cls.constraint_kinds if options.get(k)]
    if len(given) > 1:
        raise MetricliError(f"{cls.name}: give one of {', '.join('--' + k for k in given)}, not several")
    if given:
        kind = given[0]
        if options.get("n_constraints") is not None:
            raise MetricliError(
                f"--n-constraints draws constraints from labels; it cannot be used with --{kind}"
            )
        if kind == "chunks" and _is_chunk_file(options["chunks"]):
            path = options["chunks"]
            found = weak.Chunks(read_chunk_file(path, dataset.n_samples, ids=dataset.ids, rows=dataset.rows))
            weak.validate(found, dataset.n_samples, where=display_name(path))
            info["constraints"] = {
                "source": "file",
                "path": display_name(path),
                "sha256": sha256_file(path),
                **weak.describe(found),
            }
            return found
        if kind == "chunks":
            column = options["chunks"]
            found = weak.Chunks(chunks_from_column(dataset.extra[column], dataset.name, column))
            weak.validate(found, dataset.n_samples, where=f"{dataset.name}: column '{column}'")
            info["constraints"] = {"source": "column", "column": column, **weak.describe(found)}
            return found
        found = read_constraints(
            options[kind],
            kind,
            dataset.n_samples,
            ids=dataset.ids,
            rows=dataset.rows,
            id_column=dataset.id_column,
            notify=note,
        )
        info["constraints"] = {
            "source": "file",
            "path": display_name(options[kind]),
            "sha256": sha256_file(options[kind]) if options[kind] != "-" else None,
            "by": "id" if dataset.ids is not None else "row",
            **weak.describe(found),
        }
        return found
    if dataset.labels is None:
        # evaluate has no constraint-file options: it draws constraints from each training fold's labels
        flags = ", ".join(f"--{k}" for k in cls.constraint_kinds if k in options)
        source = f"give {flags}, or --label" if flags else "give --label"
        raise MetricliError(f"{cls.name} learns from constraints: {source} to draw them from labels")
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
        capped = weak.default_note(kind, n_classes, int(dataset.labelled.sum()))
        if capped:
            note(f"{dataset.name}: {capped}")
    X = dataset.X
    if options.get("standardize"):  # neighbour triplets are found in the space the learner sees
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
        notify(
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


def make_command(
    cls: type[MahalanobisLearner],
    run: Callable[[type[MahalanobisLearner], dict[str, Any]], None],
    parameters: list[inspect.Parameter],
    name: str,
    doc: str,
) -> Callable[..., None]:
    """A Typer command function whose options are ``parameters``, calling ``run(cls, options)``."""

    def command(**options: Any) -> None:
        run(cls, options)

    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in parameters}
    command.__doc__ = doc
    command.__name__ = name
    return command
