"""The ``metricli`` command line: a thin layer over the library.

Errors the user can fix are raised as :class:`~metricli.errors.MetricliError` and
turned here, in one place, into one line on stderr and exit status 2.
"""

from __future__ import annotations

import os
import signal
import sys
import traceback
from typing import Annotated, Any

import click
import typer
from typer.core import TyperGroup

from metricli.cli import algorithms, check, info, transform
from metricli.cli import constraints as constraints_command
from metricli.cli.common import err, settings
from metricli.cli.fit import fit_app
from metricli.errors import MetricliError


class Terminated(BaseException):
    """SIGTERM, raised like KeyboardInterrupt so that every ``finally`` cleans up."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise Terminated()


def _fail(message: str, code: int) -> int:
    err.print(f"metricli: error: {message}", markup=False, highlight=False)
    return code


class MetricliGroup(TyperGroup):
    """Runs a command and maps every outcome to an exit status and at most one line."""

    def main(self, args: Any = None, prog_name: str | None = None, **extra: Any) -> Any:
        extra.pop("standalone_mode", None)
        settings.json = settings.quiet = settings.debug = False
        argv = list(sys.argv[1:] if args is None else args)
        debug = "--debug" in argv
        previous = signal.getsignal(signal.SIGTERM)
        try:
            signal.signal(signal.SIGTERM, _on_sigterm)
        except ValueError:  # not the main thread
            previous = None
        try:
            result = super().main(
                args=argv, prog_name=prog_name or "metricli", standalone_mode=False, **extra
            )
            code = result if isinstance(result, int) else 0
        except click.exceptions.Exit as exc:
            code = exc.exit_code
        except click.UsageError as exc:
            where = f"{exc.ctx.command_path}: " if exc.ctx is not None else ""
            hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
            code = _fail(f"{where}{exc.format_message()}{hint}", 2)
        except click.ClickException as exc:
            code = _fail(exc.format_message(), exc.exit_code)
        except MetricliError as exc:
            if debug:
                traceback.print_exc()
            code = _fail(exc.message, exc.exit_code)
        except (KeyboardInterrupt, click.Abort):
            code = _fail("interrupted; no output was written", 130)
        except Terminated:
            code = _fail("terminated; no output was written", 143)
        except BrokenPipeError:
            # the reader went away (e.g. `| head`): not an error
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            code = 0
        except MemoryError:
            code = _fail("out of memory; try a smaller --block-size or --batch-rows", 2)
        except Exception as exc:
            if debug:
                raise
            code = _fail(
                f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for a traceback)",
                70,
            )
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
        sys.exit(code)


app = typer.Typer(
    cls=MetricliGroup,
    name="metricli",
    help="Learn a Mahalanobis distance from your files, and prove what kind of distance you hold.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _global_options(
    json_output: Annotated[
        bool, typer.Option("--json", help="JSON output on stdout, for every command.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress or notes on stderr.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show a traceback on errors.")] = False,
) -> None:
    settings.json, settings.quiet, settings.debug = json_output, quiet, debug


app.add_typer(fit_app, name="fit")
app.command("check")(check.check)
app.command("transform")(transform.transform)
app.command("algorithms")(algorithms.algorithms)
app.command("info")(info.info)
app.command("constraints")(constraints_command.constraints)


def main() -> None:
    typer.main.get_command(app)(prog_name="metricli")
