"""Human-readable output: Rich tables on stdout."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from rich.table import Table

from metricli.cli.common import err, out

_MARK = {True: "[green]yes[/green]", False: "[red]NO[/red]"}


def _fmt(value: Any, spec: str = ".6g") -> str:
    if isinstance(value, float) and not math.isnan(value):
        return f"{value:{spec}}"
    if value is None or isinstance(value, float):
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


#: the figures ``evaluate`` shows, in order, with their display names
_FIGURES = {
    "classification": [
        ("accuracy", "kNN accuracy"),
        ("precision_at_1", "precision@1"),
        ("r_precision", "R-precision"),
        ("map_at_r", "MAP@R"),
    ],
    "regression": [("rmse", "kNN RMSE"), ("mae", "kNN MAE"), ("mse", "kNN MSE")],
    "verification": [("eer", "EER"), ("auc", "ROC AUC"), ("tar_at_far_0.01", "TAR at FAR 0.01")],
}


def _mean_std(summary: dict[str, float | None]) -> str:
    if summary["mean"] is None:
        return "-"  # no fold defines the figure
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
            _fmt(fold["learned"][key], ".4f"),
            _fmt(fold["euclidean"][key], ".4f"),
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


@contextlib.contextmanager
def progress_bar(label: str, enabled: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A transient progress bar on stderr (off a terminal, a plain line every few seconds);
    yields the callback (done, total), or None."""
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from metricli.cli.progress import PlainProgress

    with (
        Progress(TextColumn(label), BarColumn(), TimeRemainingColumn(), console=err, transient=True)
        if err.is_terminal
        else PlainProgress()
    ) as bar:
        task = bar.add_task(label, total=None)

        def tick(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield tick
