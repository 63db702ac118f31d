"""What every command that fits a learner shares: its options, built from the learner, and its supervision.

``metricli fit ALGO`` and ``metricli evaluate ALGO`` both turn each learner's ``__init__``
signature and ``param_help`` into options, read the data the same way and hand the
learner the supervision its kind needs (labels, targets, or constraints). That lives
here, once, so a new learner needs no CLI code in either command.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import typer

from metricli.cli.common import (
    DelimiterOption,
    DropMissingOption,
    ExcludeOption,
    FeaturesOption,
    FormatOption,
    IdOption,
)
from metricli.cli.option_names import OLD_FLAGS, flag_of, option, read_old_flags
from metricli.io.bundle import read_matrix_file
from metricli.learners.base import MahalanobisLearner

#: learner parameters the CLI fills from its own shared options
SHARED = {"random_state"}

#: the kinds of learner that take --target (a regression target, or a column kept out)
TARGETS = ("regression", "unsupervised")

_KW = inspect.Parameter.KEYWORD_ONLY


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
            # hidden where the learner learns from classes or constraints: it would be refused
            annotation=option(
                str | None, "--target", help=target_help, hidden=cls.supervision not in TARGETS
            ),
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
        inspect.Parameter("delimiter", _KW, default=None, annotation=DelimiterOption),
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
        flag = flag_of(p.name)
        help_text = cls.param_help.get(p.name, "")
        args = typing.get_args(annotation)
        default = p.default
        if typing.get_origin(annotation) is typing.Literal:
            # typer (>= 0.20, which vendors click and dropped click_type) offers Literals as choices
            annotation = typing.Literal[tuple(str(a) for a in args)]
            default = default if default is None or default is inspect.Parameter.empty else str(default)
        elif annotation is bool:
            flag = f"{flag}/--no-{flag.removeprefix('--')}"
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
        if p.name in OLD_FLAGS:
            old = option(annotation | None, OLD_FLAGS[p.name], hidden=True)
            params.append(inspect.Parameter(f"{p.name}_old", _KW, default=None, annotation=old))
    return params


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
    read_old_flags(cls.name, options)
    params = {
        name: coerce_param(cls, name, options[name]) for name in cls._param_names() if name not in SHARED
    }
    if "random_state" in cls._param_names():
        params["random_state"] = options["seed"]
    return params


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
