"""The ``metricli`` command line: a thin layer over the library.

Errors the user can fix are raised as :class:`~metricli.errors.MetricliError` and
turned here, in one place, into one line on stderr and exit status 2.
"""

from __future__ import annotations

import difflib
import json
import os
import signal
import sys
import traceback
from typing import Annotated, Any

import typer
import typer.main
from typer.core import TyperCommand, TyperGroup
from typer.exceptions import TyperException

from metricli.cli.commands import COMMANDS, load_command, prepare
from metricli.cli.common import drop_notes, err, flush_notes, settings
from metricli.errors import MetricliError
from metricli.io.atomic import forget_inputs
from metricli.io.dialect import use_delimiter


class Terminated(BaseException):
    """SIGTERM, raised like KeyboardInterrupt so that every ``finally`` cleans up."""


#: the exit status owed to a signal received during this run (130 SIGINT, 143 SIGTERM), if any;
#: kept because libraries may wrap the exception a signal raises inside them (pandas' CSV
#: parser turns it into a ParserError), and the signal must still win
_signalled: list[int] = []


def _on_signal(signum: int, frame: Any) -> None:
    if signum == signal.SIGTERM:
        _signalled.append(143)
        raise Terminated()
    _signalled.append(130)
    raise KeyboardInterrupt()


def _signal_code() -> int:
    """If a signal arrived, report it (whatever exception it turned into) and return its status."""
    if not _signalled:
        return 0
    if _signalled[0] == 143:
        return _fail("terminated; no output was written", 143)
    return _fail("interrupted; no output was written", 130)


#: --json given anywhere on the command line: an error is then a JSON object on stderr
_json_errors = [False]


def _fail(message: str, code: int) -> int:
    if _json_errors[0]:
        sys.stderr.write(json.dumps({"error": message, "exit_status": code}, ensure_ascii=False) + "\n")
        sys.stderr.flush()
    else:
        err.print(f"metricli: error: {message}", markup=False, highlight=False)
    return code


class _PipeClosed(Exception):
    """The reader of stdout went away; not an OSError, so the parser does not turn it into exit 1."""


class _Interrupted(Exception):
    """Ctrl-C, carried past the parser (which would exit 130 silently) to get its one line."""


class MetricliGroup(TyperGroup):
    """Runs a command and maps every outcome to an exit status and at most one line.

    Its commands are :data:`COMMANDS`, loaded when resolved; listing them (``--help``)
    shows their summaries without importing them.
    """

    def list_commands(self, ctx: Any) -> list[str]:
        return [*COMMANDS, *(name for name in self.commands if name not in COMMANDS)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        if cmd_name not in COMMANDS:
            return None
        return TyperCommand(cmd_name, help=COMMANDS[cmd_name][2], rich_markup_mode=self.rich_markup_mode)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name = args[0] if args else None
        if name in COMMANDS and name not in self.commands:
            self.commands[name] = load_command(name, self.rich_markup_mode)
        try:
            return super().resolve_command(ctx, args)
        except TyperException as exc:
            # the parent suggests among the loaded commands only; suggest among them all
            matches = difflib.get_close_matches(name or "", self.list_commands(ctx)) if name else []
            if matches and hasattr(exc, "message") and "Did you mean" not in exc.message:
                suggestions = ", ".join(repr(m) for m in matches)
                exc.message = f"{exc.message.rstrip('.')}. Did you mean {suggestions}?"
            raise

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError as exc:
            raise _PipeClosed() from exc
        except KeyboardInterrupt as exc:
            raise _Interrupted() from exc

    def main(self, args: Any = None, prog_name: str | None = None, **extra: Any) -> Any:
        extra.pop("standalone_mode", None)
        settings.json = settings.quiet = settings.debug = False
        argv = list(sys.argv[1:] if args is None else args)
        prepare(self)  # the global options; the commands get theirs in load_command
        debug = "--debug" in argv
        _json_errors[0] = "--json" in argv
        _signalled.clear()
        forget_inputs()
        use_delimiter(None)  # a run reads with ',' (or what it sniffs) unless it says --delimiter
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            for sig in previous:
                signal.signal(sig, _on_signal)
        except ValueError:  # not the main thread
            previous = {}
        try:
            result = super().main(
                args=argv, prog_name=prog_name or "metricli", standalone_mode=False, **extra
            )
            code = result if isinstance(result, int) else 0
        except typer.Exit as exc:
            code = exc.exit_code
        except TyperException as exc:
            # typer >= 0.20 vendors click: usage errors (unknown option, missing argument, bad
            # value) are TyperExceptions; one line, exit 2
            ctx = getattr(exc, "ctx", None)
            if not exc.format_message().strip():  # no_args_is_help: the help was the message
                code = 2
            else:
                where = f"{ctx.command_path}: " if ctx is not None else ""
                hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
                code = _fail(f"{where}{exc.format_message()}{hint}", getattr(exc, "exit_code", 2) or 2)
        except MetricliError as exc:
            if debug:
                traceback.print_exc()
            code = _signal_code() or _fail(exc.message, exc.exit_code)
        except (KeyboardInterrupt, _Interrupted, typer.Abort):
            code = _fail("interrupted; no output was written", 130)
        except Terminated:
            code = _fail("terminated; no output was written", 143)
        except (BrokenPipeError, _PipeClosed):
            # the reader went away (e.g. `| head`): not an error
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            code = 0
        except OSError as exc:
            # the system refused a read or write (permission, I/O error, disk full): the user's to fix
            if debug:
                traceback.print_exc()
            where = f"{exc.filename}: " if exc.filename else ""
            code = _signal_code() or _fail(f"{where}{exc.strerror or exc}", 2)
        except MemoryError:
            if debug:
                traceback.print_exc()
            code = _fail(
                "out of memory; lower --batch-rows or --block-size where the command has them, "
                "or run it on a cluster with --engine dask",
                2,
            )
        except Exception as exc:
            if debug:
                raise
            code = _signal_code() or _fail(
                f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for a traceback)",
                70,
            )
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if code in (0, 1):  # done, or a check that failed: the notes are part of the answer
            flush_notes()
        else:
            drop_notes()
        sys.exit(code)


app = typer.Typer(
    cls=MetricliGroup,
    name="metricli",
    help="Learn a Mahalanobis distance from your files, and prove what kind of distance you hold.",
    epilog="Environment: METRICLI_BLAS_THREADS, BLAS threads while fitting (default 1); "
    "METRICLI_KNN_CHECK=0 skips the held-out kNN check 'fit' runs on labelled data "
    "(as fit --no-knn-check does).",
    no_args_is_help=True,
    add_completion=True,
    suggest_commands=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        from metricli import __version__

        print(f"metricli {__version__}")
        raise typer.Exit(0)


@app.callback()
def _global_options(
    json_output: Annotated[
        bool, typer.Option("--json", help="JSON output on stdout, for every command.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress or notes on stderr.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show a traceback on errors.")] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print metricli's version and exit.", is_eager=True, callback=_print_version
        ),
    ] = False,
) -> None:
    settings.json, settings.quiet, settings.debug = json_output, quiet, debug


def main() -> None:
    from metricli.cli import watchdog
    from metricli.io.atomic import remove_active_temporaries

    watchdog.install(remove_active_temporaries)  # a signal inside a long C call (LAPACK) still ends the run
    typer.main.get_command(app)(prog_name="metricli")
