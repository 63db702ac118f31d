"""The commands of ``metricli``, imported when one is run.

A command's module (and what it imports: pandas, scipy, the learners) is imported only
when that command runs or shows its own help, so that ``metricli --help``, ``--version``
and a light command start in a fraction of a second (benchmarks/startup.py); the list in
``metricli --help`` shows the summaries kept here, which tests/cli/test_startup.py checks
against the commands' own help.
"""

from __future__ import annotations

import importlib
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
    return quicken(command)
