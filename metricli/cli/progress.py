"""Progress on stderr (Rich, silenced by --quiet): a spinner for fitting, a row counter with rows/s for streams.

Off a terminal (a batch job's log) Rich would draw nothing, so :class:`PlainProgress` writes
plain lines instead: one every ``METRICLI_PROGRESS_SECONDS`` (default 10) while a task runs and
one when it ends, none for a task done sooner (a quick run's stderr stays as it was).
"""

from __future__ import annotations

import os
import sys
import threading
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

#: seconds between two plain progress lines off a terminal
ENV_INTERVAL = "METRICLI_PROGRESS_SECONDS"


def _interval() -> float:
    try:
        return max(float(os.environ.get(ENV_INTERVAL, "10")), 0.01)
    except ValueError:
        return 10.0


class PlainProgress:
    """What :class:`rich.progress.Progress` shows, as plain lines on stderr for a log.

    The calls fits and checks make (``add_task``, ``update``, ``advance``) only record the
    state; a timer thread writes it every :func:`_interval` seconds ("metricli: fitting lmnn
    iteration 40 objective 12.5 (20 s)", or "45% done" with a total), and leaving writes a
    last line with the time taken, if any line was written.
    """

    def __init__(self) -> None:
        self._tasks: dict[int, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="metricli-progress", daemon=True)

    def __enter__(self) -> PlainProgress:
        self._thread.start()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self._stop.set()
        self._thread.join()
        if exc_type is None:
            for task in self._tasks.values():
                if task["written"]:
                    self._write(task, f"done in {time.monotonic() - task['start']:.0f} s")

    def add_task(self, description: str, total: float | None = None, **_: Any) -> int:
        with self._lock:
            key = len(self._tasks)
            self._tasks[key] = {
                "description": description,
                "total": total,
                "completed": 0.0,
                "start": time.monotonic(),
                "written": False,
            }
        return key

    def update(self, key: int, *, advance: float | None = None, **fields: Any) -> None:
        with self._lock:
            task = self._tasks[key]
            task.update({k: v for k, v in fields.items() if k in ("description", "total", "completed")})
            if advance:
                task["completed"] += advance

    def advance(self, key: int, advance: float) -> None:
        self.update(key, advance=advance)

    def _run(self) -> None:
        while not self._stop.wait(_interval()):
            with self._lock:
                tasks = list(self._tasks.values())
            for task in tasks:
                done = f"{100 * task['completed'] / task['total']:.0f}% done, " if task["total"] else ""
                self._write(task, f"{done}{time.monotonic() - task['start']:.0f} s")

    @staticmethod
    def _write(task: dict[str, Any], state: str) -> None:
        task["written"] = True
        try:
            sys.stderr.write(f"metricli: {task['description']} ({state})\n")
            sys.stderr.flush()
        except (OSError, ValueError):  # stderr closed: progress is not worth an error
            pass


def spinner() -> Progress | PlainProgress:
    """A transient one-line display for an iterative fit: description, spinner, elapsed time
    (off a terminal, a plain line every few seconds)."""
    if not settings.quiet and not err.is_terminal:
        return PlainProgress()
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
