"""The commands of ``metricli``, imported when one is run.

A command's module (and what it imports: pandas, scipy, the learners) is imported only
when that command runs or shows its own help, so that ``metricli --help``, ``--version``
and a light command start in a fraction of a second (benchmarks/startup.py); the list in
``metricli --help`` shows the summaries kept here, which tests/cli/test_startup.py checks
against the commands' own help.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import typer
import typer.main
import typer.models
from typer.core import DEFAULT_MARKUP_MODE

from metricli.cli.coercion import quicken

#: The commands, in the order ``--help`` lists them: name -> (module, attribute, the first
#: paragraph of its help).
COMMANDS: dict[str, tuple[str, str, str]] = {
    "check": (
        "metricli.cli.check",
        "check",
        "Prove whether a learned metric M or any distance matrix D satisfies the metric axioms.",
    ),
    "transform": (
        "metricli.cli.transform",
        "transform",
        "Map each row x of DATA to L x, the space where Euclidean distance is the learned metric.",
    ),
    "distance": (
        "metricli.cli.distance",
        "distance",
        "Learned distances d(x, y) = sqrt((x - y)ᵀ M (x - y)) between rows.",
    ),
    "neighbors": (
        "metricli.cli.neighbors",
        "neighbors",
        "The k nearest REFERENCE rows of each QUERY row under the learned metric, exactly.",
    ),
    "index": (
        "metricli.cli.index",
        "index",
        "Build an approximate nearest-neighbour index of DATA in the bundle's learned space.",
    ),
    "compare": (
        "metricli.cli.compare",
        "compare",
        "Every learner that applies, beside Euclidean and standardized Euclidean, on the same folds.",
    ),
    "algorithms": (
        "metricli.cli.algorithms",
        "algorithms",
        "List the learners: supervision kind, summary, parameters and the paper each implements.",
    ),
    "info": (
        "metricli.cli.info",
        "info",
        "Describe a model bundle: algorithm, parameters, features, input checksum, fit report, verdict.",
    ),
    "report": (
        "metricli.cli.report",
        "report",
        "Write one self-contained HTML page about a model: what the learned metric did.",
    ),
    "constraints": (
        "metricli.cli.constraints",
        "constraints",
        "Draw constraints from the labels of DATA and write them as a constraint file.",
    ),
    "verify": (
        "metricli.cli.verify",
        "verify",
        "Same or different? For each pair of PAIRS, its learned distance, a score and a decision.",
    ),
    "calibrate": (
        "metricli.cli.calibrate",
        "calibrate",
        "Choose a threshold on labelled pairs and store it in the bundle (threshold.json).",
    ),
    "fit": ("metricli.cli.fit", "fit_app", "Learn a Mahalanobis metric from DATA and write a model bundle."),
    "evaluate": (
        "metricli.cli.evaluate",
        "evaluate_app",
        "Score a metric by kNN on held-out data, beside Euclidean distance.",
    ),
}


#: two or three real lines for each command's --help (files from sample_data/)
EXAMPLES: dict[str, tuple[str, ...]] = {
    "check": (
        "metricli check wine-nca",
        "metricli check distances.csv",
        "metricli check wine-nca --data sample_data/wine.csv",
    ),
    "transform": (
        "metricli transform wine-nca sample_data/wine.csv -o embedded.parquet --keep cultivar",
        "cat new.csv | metricli transform wine-nca - > embedded.csv",
    ),
    "distance": (
        "metricli distance wine-nca a.csv --to b.csv -o d.csv",
        "metricli distance wine-nca sample_data/wine.csv --pairs pairs.csv -o d.csv",
        "metricli distance wine-nca sample_data/wine.csv --to sample_data/wine.csv --square -o D.csv",
    ),
    "neighbors": (
        "metricli neighbors wine-nca reference.parquet --query queries.csv -k 10 -o nn.csv",
        "metricli neighbors wine-nca sample_data/wine.csv --query sample_data/wine.csv -k 5 --exclude-self -o nn.csv",
    ),
    "index": ("metricli index wine-nca reference.parquet -o ref.index",),
    "compare": (
        "metricli compare sample_data/wine.csv --label cultivar",
        "metricli compare sample_data/diabetes.csv --target progression --cv 10",
    ),
    "algorithms": ("metricli algorithms", "metricli algorithms lmnn", "metricli --json algorithms lmnn"),
    "info": ("metricli info wine-nca", "metricli info wine-nca --json"),
    "report": ("metricli report wine-nca sample_data/wine.csv --label cultivar -o report.html",),
    "constraints": (
        "metricli constraints sample_data/wine.csv --label cultivar --kind pairs -n 400 --seed 0 -o pairs.csv",
        "metricli constraints sample_data/wine.csv --label cultivar --kind triplets -o triplets.csv",
    ),
    "verify": ("metricli verify faces-model pairs.csv --data faces.csv",),
    "calibrate": ("metricli calibrate faces-model pairs.csv --data faces.csv",),
    "fit": (
        "metricli fit nca sample_data/wine.csv --label cultivar --standardize -o wine-nca",
        "metricli fit mlkr sample_data/diabetes.csv --target progression --standardize -o diabetes-mlkr",
        "metricli fit auto sample_data/wine.csv --label cultivar -o wine-auto",
    ),
    "evaluate": (
        "metricli evaluate nca sample_data/wine.csv --label cultivar --standardize",
        "metricli evaluate lmnn sample_data/wine.csv --label cultivar -k 5 --n-neighbors 3",
        "metricli evaluate wine-nca test.csv --reference train.csv --label cultivar",
    ),
}


def examples(lines: tuple[str, ...]) -> str:
    """An epilog for --help (one paragraph per line: the help joins the lines of a paragraph)."""
    return "Examples:\n\n" + "\n\n".join(lines)


#: the sample file and the column each kind of supervision learns from
_SAMPLE = {"regression": ("sample_data/diabetes.csv", "--target progression")}
_WINE = ("sample_data/wine.csv", "--label cultivar")


def learner_examples(group: str, name: str, cls: Any) -> tuple[str, ...]:
    """Two real lines for ``fit NAME`` or ``evaluate NAME``, on a sample file its learner takes."""
    data, column = _SAMPLE.get(cls.supervision, _WINE)
    stem = f"{Path(data).stem}-{name}"
    if cls.supervision == "unsupervised" and group == "fit":
        column = "--exclude cultivar"  # evaluate scores it against the labels
    if group == "evaluate":
        return (f"metricli evaluate {name} {data} {column} --standardize",
                f"metricli evaluate {name} {data} {column} -k 5 --json")  # fmt: skip
    first = f"metricli fit {name} {data} {column} --standardize -o {stem}"
    if cls.supervision != "weakly-supervised":
        return (first, f"metricli check {stem}", f"metricli transform {stem} {data} -o {stem}.csv")
    kind = cls.constraint_kinds[0]
    return (
        first + f"  # its {kind} drawn from the labels",
        f"metricli constraints {data} {column} --kind {kind} --seed 0 -o {kind}.csv",
        f"metricli fit {name} {data} --{kind} {kind}.csv --exclude cultivar -o {stem}",
    )


def dask_last(command: Any) -> None:
    """Move the paragraphs of a command's help about --engine dask below its examples: the
    everyday use comes first, as the Dask options' panel comes below the everyday options."""
    paragraphs = (command.help or "").split("\n\n")
    dask = [p for p in paragraphs if p.lstrip().startswith(("--engine dask", "With --engine dask"))]
    if dask:
        command.help = "\n\n".join(p for p in paragraphs if p not in dask)
        command.epilog = "\n\n".join([*filter(None, [command.epilog]), *dask])


def load_command(name: str, rich_markup_mode: Any = DEFAULT_MARKUP_MODE) -> Any:
    """The click command ``name`` stands for, its module imported now."""
    module, attribute, _ = COMMANDS[name]
    target = getattr(importlib.import_module(module), attribute)
    if isinstance(target, typer.Typer):  # a group of subcommands (fit ALGO, evaluate ALGO)
        command = typer.main.get_command(target)
    else:
        command = typer.main.get_command_from_info(
            typer.models.CommandInfo(name=name, callback=target),
            pretty_exceptions_short=True,
            rich_markup_mode=rich_markup_mode,
        )
    command.name = name
    command.epilog = examples(EXAMPLES[name])
    dask_last(command)
    if name in ("fit", "evaluate"):
        from metricli.learners import LEARNERS

        for sub_name, sub in command.commands.items():
            if sub_name in LEARNERS:
                sub.epilog = examples(learner_examples(name, sub_name, LEARNERS[sub_name]))
            dask_last(sub)
    return prepare(command)


def prepare(target: Any) -> Any:
    """A command, group or parameter as metricli runs and shows it; returns ``target``.

    Every parameter converts its values without pydantic where it can (:func:`quicken`),
    and a flag shows no type in --help (typer prints ``<bool>``, but a flag takes no value).
    """
    if hasattr(target, "type_descriptor"):
        quicken(target)
        if getattr(target, "is_flag", False) and target.metavar is None:
            target.metavar = ""
        return target
    for param in getattr(target, "params", ()):
        prepare(param)
    help_option = getattr(target, "get_help_option", None)
    if help_option is not None and not getattr(help_option, "prepared", False):
        # --help is made on demand, per command, from the context's names

        def prepared_help_option(ctx: Any) -> Any:
            return prepare(help_option(ctx))

        prepared_help_option.prepared = True  # type: ignore[attr-defined]
        target.get_help_option = prepared_help_option
    for sub in getattr(target, "commands", {}).values():
        prepare(sub)
    return target
