"""The console script: signal handling first, then the (heavy) imports of the CLI.

A Ctrl-C or SIGTERM that arrives while numpy, pandas and typer are still importing
must still end the run with its conventional status and one line, not a traceback.
"""

from __future__ import annotations

import signal
import sys


def _early_signal(signum: int, frame: object) -> None:
    word = "terminated" if signum == signal.SIGTERM else "interrupted"
    sys.stderr.write(f"metricli: error: {word}; no output was written\n")
    sys.exit(143 if signum == signal.SIGTERM else 130)


def main() -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _early_signal)
    from metricli.cli import main as run

    run()
