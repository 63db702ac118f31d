"""SIGINT / SIGTERM mid-run: conventional exit status, one line, nothing half-written."""

import os
import signal
import subprocess
import time

import numpy as np
import pandas as pd
import pytest

from ..conftest import IRIS
from .test_fit_check_transform import _executable

HEADER = b"sepal_length,sepal_width,petal_length,petal_width\n"


def _blocked_reading_stdin(proc) -> bool:
    """True once the process sleeps in a pipe read: it is up, with handlers installed, mid-run."""
    try:
        with open(f"/proc/{proc.pid}/wchan") as f:
            return "pipe" in f.read()
    except OSError:
        return False


def _wait_for(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_transform_leaves_no_partial_file(tmp_path, sig, status):
    bundle = tmp_path / "B"
    subprocess.run(
        [*_executable(), "fit", "covariance", str(IRIS), "--label", "species", "-o", str(bundle)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    out = tmp_path / "emb.csv"
    proc = subprocess.Popen(
        [*_executable(), "transform", str(bundle), "-", "-o", str(out), "--batch-rows", "2"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdin.write(HEADER + b"1,2,3,4\n" * 50)
    proc.stdin.flush()
    # the first batches are written to a temporary file beside the output; stdin stays open
    assert _wait_for(lambda: any(p.name.startswith(".emb.csv.") for p in tmp_path.iterdir()))
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == status, stderr
    lines = stderr.decode().strip().splitlines()
    assert len(lines) == 1 and "no output was written" in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["B"]


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_fit_keeps_the_existing_bundle(tmp_path, sig, status):
    bundle = tmp_path / "B"
    subprocess.run(
        [*_executable(), "fit", "covariance", str(IRIS), "--label", "species", "-o", str(bundle)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    before = {p.name: p.read_bytes() for p in bundle.iterdir()}
    proc = subprocess.Popen(
        [*_executable(), "fit", "covariance", "-", "-o", str(bundle), "--force"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdin.write(HEADER + b"1,2,3,4\n")
    proc.stdin.flush()
    # the process is up and blocked reading the rest of its input
    assert _wait_for(lambda: _blocked_reading_stdin(proc))
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == status, stderr
    assert len(stderr.decode().strip().splitlines()) == 1
    assert {p.name: p.read_bytes() for p in bundle.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["B"]


def _cpu_seconds(proc) -> float:
    with open(f"/proc/{proc.pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_sigint_mid_fit_of_a_long_fit(tmp_path):
    """A real `metricli fit nca` that takes seconds, interrupted while it computes."""
    rng = np.random.default_rng(0)
    n, d = 4000, 24
    labels = rng.integers(0, 8, size=n)
    X = rng.normal(size=(8, d))[labels] + rng.normal(scale=2.0, size=(n, d))
    data = tmp_path / "big.csv"
    pd.DataFrame(X, columns=[f"f{j}" for j in range(d)]).assign(y=labels).to_csv(data, index=False)
    out = tmp_path / "B"
    subprocess.run(
        [*_executable(), "fit", "covariance", str(data), "--label", "y", "-o", str(out)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    proc = subprocess.Popen(
        [
            *_executable(),
            "fit",
            "nca",
            str(data),
            "--label",
            "y",
            "-o",
            str(out),
            "--force",
            "--max-iter",
            "100000",
            "--tol",
            "1e-300",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        # 3 s of CPU can take over 10 s on a loaded machine: no off-terminal progress line then
        env={**os.environ, "METRICLI_PROGRESS_SECONDS": "3600"},
    )
    # past the imports and the reading: seconds of CPU spent, so the solver is running
    assert _wait_for(lambda: proc.poll() is None and _cpu_seconds(proc) > 3.0, timeout=120)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert stderr.decode().strip() == "metricli: error: interrupted; no output was written"
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["B", "big.csv"]


def test_the_handlers_are_installed_before_numpy_loads():
    # the console script's first act; `import metricli` imported numpy, scipy and pandas
    # first (4.9 s on a loaded machine), and a Ctrl-C then printed a 25-46-line traceback
    code = (
        "import signal, sys\n"
        "import metricli.entry as entry\n"
        "signal.signal = lambda sig, handler: print(sig, sorted(m for m in ('numpy', 'scipy', 'pandas') if m in sys.modules))\n"
        "entry.main()\n"
    )
    run = subprocess.run(
        [os.sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=_env()
    )
    first = run.stdout.splitlines()[:2]
    assert first == [f"{int(signal.SIGINT)} []", f"{int(signal.SIGTERM)} []"], run.stdout + run.stderr


def _caught(proc, sig) -> bool:
    """True once the process catches ``sig`` (its handler is installed), from /proc/PID/status."""
    try:
        with open(f"/proc/{proc.pid}/status") as f:
            line = next(x for x in f if x.startswith("SigCgt:"))
    except (OSError, StopIteration):
        return False
    return bool(int(line.split()[1], 16) >> (int(sig) - 1) & 1)


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_during_start_up_is_one_line(tmp_path, sig, status):
    # sent the moment metricli catches SIGTERM: the CLI's imports are still under way
    proc = subprocess.Popen(
        [*_executable(), "fit", "covariance", str(IRIS), "--label", "species", "-o", str(tmp_path / "b")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(),
    )
    assert _wait_for(lambda: _caught(proc, signal.SIGTERM), timeout=60)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == status, err
    assert err.decode().strip().splitlines() == [
        f"metricli: error: {'terminated' if status == 143 else 'interrupted'}; no output was written"
    ]
    assert not (tmp_path / "b").exists()


def _env() -> dict:
    root = str(IRIS.parents[1])
    return {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}


def test_an_early_exit_swallowed_by_the_import_machinery_still_ends_the_run(monkeypatch, capsys):
    """The start-up handler's SystemExit can be swallowed (raised in an import-lock callback,
    Python only hands it to sys.unraisablehook): the run must stop after the imports anyway,
    with the one line written once and nothing shown for the swallowed exception."""
    import sys as system
    import types

    from metricli import entry

    ran = []

    def during_import(name):  # the import machinery meets the signal and swallows the exit
        if name != "main":
            raise AttributeError(name)
        try:
            entry._early_signal(signal.SIGTERM, None)
        except SystemExit as exc:
            system.unraisablehook(types.SimpleNamespace(exc_type=SystemExit, exc_value=exc))
        return lambda: ran.append(True)

    fake = types.ModuleType("metricli.cli")
    fake.__getattr__ = during_import
    monkeypatch.setitem(system.modules, "metricli.cli", fake)
    monkeypatch.setattr(entry, "_received", [])
    monkeypatch.setattr(entry.signal, "signal", lambda sig, handler: None)
    monkeypatch.setattr(system, "unraisablehook", system.unraisablehook)
    with pytest.raises(SystemExit) as exit_:
        entry.main()
    assert exit_.value.code == 143
    assert ran == []
    assert capsys.readouterr().err == "metricli: error: terminated; no output was written\n"
