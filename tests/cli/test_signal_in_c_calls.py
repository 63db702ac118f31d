"""A signal that arrives while the main thread is inside one long C call still ends the run.

Before, `fit covariance` on a 50 x 10,000 CSV ignored SIGTERM for minutes: Python runs its
handler only between bytecodes, and LAPACK's eigen-decomposition of a 10,000-column matrix
is one call. The watchdog (metricli/cli/watchdog.py, installed by the console script) sees
the C-level handler's wake-up byte at once and, when the run has not ended GRACE seconds
later, removes the run's temporary files, writes its one line and exits 143 (or 130).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

SCRIPT = """
import signal, sys
import numpy as np
from metricli.cli import watchdog
from metricli.io.atomic import atomic_path, remove_active_temporaries

def handler(signum, frame):  # as the command line's: raise, to be run between bytecodes
    raise KeyboardInterrupt
for sig in (signal.SIGINT, signal.SIGTERM):
    signal.signal(sig, handler)
watchdog.install(remove_active_temporaries)
A = np.random.default_rng(0).normal(size=(4000, 4000))
A = A + A.T
with atomic_path(sys.argv[1]) as tmp:
    tmp.write_text("half written")
    print("ready", flush=True)
    np.linalg.eigh(A)  # one C call of several seconds
print("finished", flush=True)
"""


def _run(tmp_path, sig):
    out = tmp_path / "out.csv"
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**__import__("os").environ, "METRICLI_SIGNAL_GRACE": "0.3", "OPENBLAS_NUM_THREADS": "1"},
    )
    assert proc.stdout.readline() == b"ready\n"
    time.sleep(0.3)
    sent = time.monotonic()
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=120)
    return proc.returncode, stdout, stderr.decode(), time.monotonic() - sent, out


def test_sigterm_inside_a_long_c_call_ends_the_run_and_removes_its_temporaries(tmp_path):
    code, stdout, stderr, seconds, out = _run(tmp_path, signal.SIGTERM)
    assert code == 143, stderr
    assert stderr.strip().splitlines() == ["metricli: error: terminated; no output was written"]
    assert b"finished" not in stdout
    assert not out.exists() and list(tmp_path.iterdir()) == []  # the temporary is gone too
    assert seconds < 5, seconds  # the eigh alone takes longer than this on one thread


def test_ctrl_c_inside_a_long_c_call_ends_the_run_with_130(tmp_path):
    code, _, stderr, _, _ = _run(tmp_path, signal.SIGINT)
    assert code == 130, stderr
    assert "interrupted; no output was written" in stderr
    assert list(tmp_path.iterdir()) == []
