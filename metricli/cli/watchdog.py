"""Signals honoured inside long C calls.

Python runs a signal handler only between bytecodes, so a SIGTERM or Ctrl-C that arrives
while the main thread is inside one long C call (LAPACK's eigen-decomposition of a
10,000-column matrix runs for minutes) waited for that call to end. The C-level handler
still writes the signal's number to the wake-up file descriptor at once: a thread watches
it and, if the run has not ended :data:`GRACE` seconds later (the usual path raises in the
main thread, cleans up and exits well within that), removes this run's temporary files,
writes the run's one line and ends the process with the signal's status.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable

#: seconds the main thread gets to end by itself after a signal
GRACE = float(os.environ.get("METRICLI_SIGNAL_GRACE", "2"))


def install(cleanup: Callable[[], None]) -> None:
    """Watch for SIGINT and SIGTERM from now on (the main thread only; elsewhere a no-op)."""
    read, write = os.pipe()
    os.set_blocking(write, False)
    try:
        signal.set_wakeup_fd(write, warn_on_full_buffer=False)
    except ValueError:  # not the main thread: its signals are not ours to watch
        os.close(read)
        os.close(write)
        return
    threading.Thread(target=_watch, args=(read, cleanup), name="metricli-signals", daemon=True).start()


def _watch(read: int, cleanup: Callable[[], None]) -> None:
    while True:
        try:
            received = os.read(read, 64)
        except OSError:
            return
        if not received:
            return
        for number in received:
            if number in (signal.SIGINT, signal.SIGTERM):
                threading.Event().wait(GRACE)
                _end(number, cleanup)


def _end(number: int, cleanup: Callable[[], None]) -> None:
    try:
        cleanup()
    finally:
        word = "terminated" if number == signal.SIGTERM else "interrupted"
        try:
            os.write(2, f"metricli: error: {word}; no output was written\n".encode())
        finally:
            os._exit(143 if number == signal.SIGTERM else 130)
