"""The console script: signal handling first, then the (heavy) imports of the CLI.

A Ctrl-C or SIGTERM that arrives while numpy, pandas and typer are still importing
must still end the run with its conventional status and one line, not a traceback.
"""

from __future__ import annotations

import signal
import sys

#: the exit status of a signal received before the CLI took over, once its line is written
_received: list[int] = []


def _early_signal(signum: int, frame: object) -> None:
    code = 143 if signum == signal.SIGTERM else 130
    if not _received:
        word = "terminated" if signum == signal.SIGTERM else "interrupted"
        sys.stderr.write(f"metricli: error: {word}; no output was written\n")
        _received.append(code)
    sys.exit(code)


def _unraisable(unraisable: object) -> None:
    """Our own exit, swallowed by the import machinery, is not shown as "Exception ignored"."""
    if not (_received and isinstance(getattr(unraisable, "exc_value", None), SystemExit)):
        sys.__unraisablehook__(unraisable)


def main() -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _early_signal)
    sys.unraisablehook = _unraisable
    from metricli.cli import main as run

    sys.unraisablehook = sys.__unraisablehook__

    # the SystemExit the handler raises can be swallowed: raised inside a callback of the
    # import machinery (a module lock's weakref callback), Python only prints "Exception
    # ignored" and the imports go on; the run must still stop here
    if _received:
        sys.exit(_received[0])
    run()
