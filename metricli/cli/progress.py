"""Progress on stderr (Rich, silenced by --quiet): a spinner for fitting, a row counter with rows/s for streams."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from metricli.cli.common import err, note, settings


def spinner() -> Progress:
    """A transient one-line display for an iterative fit: description, spinner, elapsed time."""
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        # off a terminal Rich can only leave a blank line behind
        disable=settings.quiet or not err.is_terminal,
    )


class _RowsColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        total = f" of {int(task.total):,}" if task.total else ""
        return Text(f"{int(task.completed):,}{total} rows")


class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("- rows/s" if speed is None else f"{speed:,.0f} rows/s")


class RowProgress:
    """Rows done so far and rows per second on stderr; one summary line at the end.

    ``total`` (when the file says how many rows it has, as Parquet does) adds a bar.
    """

    def __init__(self, what: str, total: int | None = None) -> None:
        self.what = what
        self.total = total
        self.rows = 0

    def __enter__(self) -> RowProgress:
        columns: list[Any] = [SpinnerColumn(), TextColumn("{task.description}")]
        if self.total:
            columns.append(BarColumn())
        columns += [_RowsColumn(), _RateColumn(), TimeElapsedColumn()]
        self._progress = Progress(
            *columns, console=err, transient=True, disable=settings.quiet or not err.is_terminal
        )
        self._progress.__enter__()
        # the bar shows the file's name only, the closing note the whole path
        self._task = self._progress.add_task(Path(self.what).name or self.what, total=self.total)
        self._start = time.perf_counter()
        return self

    def advance(self, rows: int) -> None:
        self.rows += rows
        self._progress.update(self._task, advance=rows)

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self._start

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self._progress.__exit__(exc_type, exc, tb)
        if exc_type is None:
            seconds = self.seconds
            rate = self.rows / seconds if seconds > 0 else float("inf")
            note(f"{self.what}: {self.rows:,} rows in {seconds:.2f} s ({rate:,.0f} rows/s)")
