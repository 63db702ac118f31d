"""Human-readable output: Rich tables on stdout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table

from metricli.cli.common import out

_MARK = {True: "[green]yes[/green]", False: "[red]NO[/red]"}


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if value is None:
        return "-"
    return str(value)


def key_values(title: str, rows: list[tuple[str, Any]]) -> None:
    table = Table(title=title, show_header=False, title_justify="left", box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows:
        table.add_row(key, _fmt(value))
    out.print(table)


def fit_summary(output: Path, metadata: dict[str, Any], axioms: dict[str, Any]) -> None:
    fit, data = metadata["fit"], metadata["input"]
    key_values(
        f"metricli fit {metadata['algorithm']}",
        [
            ("bundle", str(output)),
            ("rows used", f"{data['rows_used']} of {data['rows_read']}"),
            ("features", len(axioms.get("eigenvalues", [])) or "-"),
            ("rank of M", axioms.get("rank")),
            ("iterations", fit["iterations"]),
            ("objective", fit["objective"]),
            ("converged", "yes" if fit["converged"] else "NO"),
            ("seconds", fit["seconds"]),
            ("verdict", axioms["verdict"]),
        ],
    )


def _point(point: Any) -> str:
    if isinstance(point, dict):
        return "(" + ", ".join(f"{k}={_fmt(v)}" for k, v in point.items()) + ")"
    return "(" + ", ".join(_fmt(v) for v in point) + ")"


def mahalanobis_report(source: str, report: dict[str, Any]) -> None:
    verdict = report["verdict"]
    colour = "green" if verdict == "metric" else "yellow" if verdict == "pseudometric" else "red"
    out.print(f"{source}: [bold {colour}]{verdict}[/bold {colour}]")
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    table.add_column("axiom")
    table.add_column("holds")
    table.add_column("details")
    names = {
        "non_negativity": "non-negativity",
        "symmetry": "symmetry",
        "identity_of_indiscernibles": "identity of indiscernibles",
        "triangle_inequality": "triangle inequality",
    }
    for key, label in names.items():
        axiom = report["axioms"][key]
        details = ""
        if key == "non_negativity":
            details = f"smallest eigenvalue {_fmt(axiom['min_eigenvalue'])}"
        elif key == "identity_of_indiscernibles":
            details = f"null space of dimension {axiom['null_dimension']}"
        elif key == "symmetry":
            details = (
                "M symmetric"
                if axiom["matrix_symmetric"]
                else f"M asymmetric by {_fmt(axiom['max_asymmetry'])}"
            )
        table.add_row(label, _MARK[bool(axiom["holds"])], details)
    out.print(table)
    cond = report["condition_number"]
    out.print(
        f"rank {report['rank']} of {report['n_features']}, condition number {_fmt(cond) if cond else 'infinite'}"
    )
    ind = report["axioms"]["identity_of_indiscernibles"]
    if "witness" in ind:
        w = ind["witness"]
        out.print(
            f"witness: x = {_point(w['x'])} and y = {_point(w['y'])} are distinct but d(x, y) = {w['distance']:.3g}"
        )
    neg = report["axioms"]["non_negativity"]
    if "witness" in neg:
        w = neg["witness"]
        out.print(
            f"witness: x = {_point(w['x'])}, y = {_point(w['y'])} give d(x, y)² = {w['squared_distance']:.6g} < 0"
        )
    for line in report.get("notes", []):
        out.print(f"note: {line}", markup=False)


#: the figures ``evaluate`` shows, in order, with their display names
_FIGURES = {
    "classification": [
        ("accuracy", "kNN accuracy"),
        ("precision_at_1", "precision@1"),
        ("r_precision", "R-precision"),
        ("map_at_r", "MAP@R"),
    ],
    "regression": [("rmse", "kNN RMSE"), ("mae", "kNN MAE"), ("mse", "kNN MSE")],
}


def _mean_std(summary: dict[str, float]) -> str:
    return f"{summary['mean']:.4f} ± {summary['std']:.4f}"


def cross_validation(title: str, result: dict[str, Any]) -> None:
    """Per-fold headline figure, learned beside Euclidean, then every figure as mean ± std."""
    task = result["task"]
    key, name = _FIGURES[task][0]
    out.print(title, markup=False)
    folds = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    for column in ("fold", "train", "test", f"learned {name}", f"Euclidean {name}", "fit s"):
        folds.add_column(column, justify="right")
    for fold in result["folds"]:
        folds.add_row(
            str(fold["fold"]),
            str(fold["n_train"]),
            str(fold["n_test"]),
            f"{fold['learned'][key]:.4f}",
            f"{fold['euclidean'][key]:.4f}",
            f"{fold['fit_seconds']:.3f}",
        )
    out.print(folds)
    out.print()
    _figures_table(task, {side: result["summary"][side] for side in ("learned", "euclidean")}, _mean_std)


def held_out_scores(title: str, result: dict[str, Any]) -> None:
    """Figures of a bundle on held-out data, learned beside Euclidean."""
    out.print(title, markup=False)
    _figures_table(result["task"], {side: result[side] for side in ("learned", "euclidean")}, _fmt)


def _figures_table(task: str, sides: dict[str, dict[str, Any]], show: Any) -> None:
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    table.add_column("figure")
    table.add_column("learned metric", justify="right")
    table.add_column("Euclidean", justify="right")
    for key, name in _FIGURES[task]:
        if key in sides["learned"]:
            table.add_row(name, show(sides["learned"][key]), show(sides["euclidean"][key]))
    out.print(table)
