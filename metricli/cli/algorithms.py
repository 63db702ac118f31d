"""``metricli algorithms``: what can be learned, from which supervision, with which parameters."""

from __future__ import annotations

import inspect
from typing import Annotated, Any

import typer
from rich.table import Table

from metricli.cli.common import JsonOption, QuietOption, configure, emit_json, out, settings
from metricli.cli.option_names import flag_of
from metricli.learners import LEARNERS, get_learner


def describe(cls: Any) -> dict[str, Any]:
    signature = inspect.signature(cls.__init__)
    params = [
        {
            "name": p.name,
            "option": flag_of(p.name),
            "default": p.default if p.default is not inspect.Parameter.empty else None,
            "help": cls.param_help.get(p.name, ""),
        }
        for p in signature.parameters.values()
        if p.name != "self"
    ]
    return {
        "name": cls.name,
        "class": cls.__name__,
        "supervision": cls.supervision,
        "constraints": list(cls.constraint_kinds),
        "summary": cls.summary,
        "reference": cls.reference,
        "parameters": params,
    }


def algorithms(
    name: Annotated[str | None, typer.Argument(help="Show one algorithm's parameters in full.")] = None,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """List the learners: supervision kind, summary, parameters and the paper each implements."""
    configure(json_output, quiet)
    chosen = [get_learner(name)] if name else [LEARNERS[k] for k in sorted(LEARNERS)]
    described = [describe(cls) for cls in chosen]
    if settings.json:
        emit_json(described)
        return
    if name:
        d = described[0]
        out.print(f"[bold]{d['name']}[/bold] ({d['supervision']}): {d['summary']}")
        out.print(f"reference: {d['reference']}")
        table = Table("option", "default", "meaning", box=None, header_style="bold", pad_edge=False)
        for p in d["parameters"]:
            table.add_row(p["option"], repr(p["default"]), p["help"])
        out.print(table)
        return
    table = Table(
        "algorithm",
        "supervision",
        "summary",
        "options (of fit and evaluate)",
        box=None,
        header_style="bold",
        pad_edge=False,
    )
    for d in described:
        table.add_row(
            d["name"],
            d["supervision"],
            d["summary"],
            ", ".join(p["option"] for p in d["parameters"]),
        )
    out.print(table)
