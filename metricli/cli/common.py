"""What every command shares: consoles, the --json/--quiet switches, option types."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from rich.console import Console
from typer.core import TyperGroup

from metricli.errors import MetricliError

#: Rich tables and results; progress, notes and errors go to ``err``.
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


@dataclass
class Settings:
    json: bool = False
    quiet: bool = False
    debug: bool = False


settings = Settings()


def configure(json_output: bool, quiet: bool) -> None:
    """Merge a command's own --json/--quiet with the global ones given before it."""
    settings.json = settings.json or json_output
    settings.quiet = settings.quiet or quiet


def note(message: str) -> None:
    """A one-line note on stderr, silenced by --quiet.

    Notes wait until the command ends (:func:`flush_notes`): a command that fails prints
    only its error, so that a bad input gets exactly one line on stderr.
    """
    if not settings.quiet:
        _pending.append(message)


_pending: list[str] = []


def flush_notes() -> None:
    """Print the notes held so far (when the command has done its work)."""
    while _pending:
        err.print(_pending.pop(0), markup=False, highlight=False)


def drop_notes() -> None:
    """Forget held notes: the command failed and its error line says what matters."""
    _pending.clear()


def emit_json(payload: Any) -> None:
    from metricli.io.bundle import to_json

    sys.stdout.write(to_json(payload))
    sys.stdout.flush()


BundleArgument = Annotated[
    str, typer.Argument(metavar="BUNDLE", help="A model bundle folder.", show_default=False)
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress or notes on stderr.")]
ForceOption = Annotated[bool, typer.Option("--force", help="Overwrite the output if it exists.")]
FormatOption = Annotated[
    str | None,
    typer.Option(
        "--format",
        help="Input format: csv, tsv, parquet or npy (default: by extension; stdin: csv).",
    ),
]


def _use_delimiter(value: str | None) -> None:
    from metricli.io.dialect import use_delimiter

    use_delimiter(value, note)


#: Given once here for every command that reads tables; its callback sets the run's separator
#: (:mod:`metricli.io.dialect`), so no command passes it on.
DelimiterOption = Annotated[
    str | None,
    typer.Option(
        "--delimiter",
        help="Field separator of CSV input: one character, '\\t' for a tab (default: ',' for .csv, tab for "
        ".tsv; a .csv whose header has no comma is read with the ';', tab or '|' it holds, with a note).",
        callback=_use_delimiter,
        expose_value=False,
        show_default=False,
    ),
]
FeaturesOption = Annotated[
    list[str] | None,
    typer.Option(
        "--features",
        help="Feature columns to use (repeat, or comma-separate; a name that holds a comma is taken whole). Default: all numeric.",
    ),
]
ExcludeOption = Annotated[
    list[str] | None,
    typer.Option(
        "--exclude",
        help="Columns to leave out (repeat, or comma-separate; a name that holds a comma is taken whole).",
    ),
]
KeepOption = Annotated[
    list[str] | None,
    typer.Option(
        "--keep",
        help="Input columns to copy to the output (e.g. an id or label; repeat or comma-separate; a name that holds a comma is taken whole).",
    ),
]
IdOption = Annotated[str | None, typer.Option("--id", help="Column of unique row ids (not a feature).")]
DropMissingOption = Annotated[
    bool,
    typer.Option("--drop-missing", help="Drop rows with missing or infinite values instead of failing."),
]


def require_output_path(output: object, what: str) -> None:
    """Refuse '-' (stdout elsewhere) for a command whose output can only be a file or folder."""
    if str(output) == "-":
        raise MetricliError(f"{what}: name it with -o ('-' is not one)")


OutputOption = Annotated[
    str,
    typer.Option(
        "--output",
        "-o",
        help="Output file (.csv, .tsv, .parquet, .jsonl), or '-' for stdout (CSV; JSON Lines with --json).",
    ),
]
OutputFormatOption = Annotated[
    str | None,
    typer.Option("--output-format", help="csv, tsv, parquet or jsonl (default: by extension)."),
]
BatchRowsOption = Annotated[
    int,
    typer.Option("--batch-rows", min=1, help="Rows read per batch; memory is O(batch-rows × columns)."),
]


#: help text is Rich markup, where [dask] would be read as a style tag and vanish: escaped
DASK_EXTRA = "pip install 'metricli\\[dask]'"
#: what --engine dask reads, in every command's help
PARTITIONED = (
    "Parquet, or CSV/TSV files, compressed too: a file, a folder of files in natural name order, or a glob"
)

#: the --help panel of the Dask options, shown below the everyday ones
DASK_PANEL = "Dask (partitioned data on a cluster)"

EngineOption = Annotated[
    str,
    typer.Option(
        "--engine",
        help=f"local: this process, streaming batches. dask: partitioned data ({PARTITIONED}) on a Dask cluster "
        f"(needs the extra: {DASK_EXTRA}).",
        rich_help_panel=DASK_PANEL,
    ),
]
SchedulerOption = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        help="With --engine dask: the scheduler address, e.g. tcp://10.0.0.5:8786 "
        "(default: a local cluster, one worker process per core).",
        rich_help_panel=DASK_PANEL,
    ),
]


def open_engine(engine: str, scheduler: str | None, output: str | None = None, option: str = "-o") -> Any:
    """The engine the options choose (use it as a context manager), with notes and row
    progress on stderr; Dask writes a folder, so its output, given with ``option``, cannot be '-'."""
    from metricli.cli.progress import RowProgress
    from metricli.engines import make_engine

    chosen = make_engine(engine, scheduler, notify=note, progress=RowProgress)
    if chosen.name == "dask" and output == "-":
        raise MetricliError(f"--engine dask writes a folder of Parquet files; name it with {option}")
    return chosen


class LearnerGroup(TyperGroup):
    """Learner names as subcommands, taken in any case (``fit LMNN`` is ``fit lmnn``)."""

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        return super().get_command(ctx, cmd_name) or super().get_command(ctx, cmd_name.lower())
