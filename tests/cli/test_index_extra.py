"""Without the optional extra, ``metricli index`` says in one line how to install it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from metricli.cli import app

IRIS = Path(__file__).resolve().parents[2] / "sample_data" / "iris.csv"


def test_a_missing_faiss_is_one_line_naming_the_extra(tmp_path, monkeypatch):
    bundle = tmp_path / "bundle"
    assert CliRunner().invoke(app, ["fit", "covariance", str(IRIS), "-o", str(bundle), "-q"]).exit_code == 0
    monkeypatch.setitem(sys.modules, "faiss", None)  # import faiss now raises ImportError
    result = CliRunner().invoke(app, ["index", str(bundle), str(IRIS), "-o", str(tmp_path / "index")])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "metricli: error: the neighbour index needs faiss; install the extra: pip install 'metricli[index]' "
        "(from a checkout of metricli: pip install '.[index]')"
    )
    assert not (tmp_path / "index").exists()


DIGITS = Path(__file__).resolve().parents[1] / "data" / "digits.csv"
ROOT = Path(__file__).resolve().parents[2]


def run(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


def pairs(path: Path) -> set[tuple[str, str]]:
    frame = pd.read_csv(path, dtype={"query": str, "reference": str})
    return set(zip(frame["query"], frame["reference"], strict=True))


def test_recall_at_10_on_a_real_data_set(tmp_path):
    """UCI digits (1,797 x 64) in an LFDA space: every row's 10 nearest other rows, from the
    index with its default parameters, against the exact scan."""
    pytest.importorskip("faiss")
    bundle, index = tmp_path / "B", tmp_path / "I"
    assert run("fit", "lfda", DIGITS, "--label", "digit", "-o", bundle, "-q").exit_code == 0
    assert run("index", bundle, DIGITS, "-o", index, "--batch-rows", "256", "-q").exit_code == 0
    exact, approx = tmp_path / "exact.csv", tmp_path / "approx.csv"
    common = ("--query", DIGITS, "-k", "10", "--exclude-self", "-q")
    assert run("neighbors", bundle, DIGITS, *common, "-o", exact).exit_code == 0
    result = run("neighbors", bundle, "--index", index, *common, "-o", approx)
    assert result.exit_code == 0, result.output
    truth, got = pairs(exact), pairs(approx)
    assert len(truth) == len(got) == 17970
    assert len(truth & got) / len(truth) >= 0.95
    assert all(q != r for q, r in got)


def test_a_tiny_set_with_a_large_ef_is_the_exact_scan(tmp_path):
    """With ef far above the number of points the graph search visits them all: the same
    table as the exact scan, rank for rank, distances to float32 rounding of the points."""
    pytest.importorskip("faiss")
    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 5)) * [1.0, 2.0, 0.5, 3.0, 1.0]
    frame = pd.DataFrame(X, columns=[f"x{j}" for j in range(5)])
    frame["y"] = rng.integers(3, size=300)
    data, query = tmp_path / "data.csv", tmp_path / "query.csv"
    frame.to_csv(data, index=False)
    frame.sample(40, random_state=2).assign(x0=lambda f: f["x0"] + 0.3).to_csv(query, index=False)
    bundle, index = tmp_path / "B", tmp_path / "I"
    assert run("fit", "lfda", data, "--label", "y", "-o", bundle, "-q").exit_code == 0
    assert run("index", bundle, data, "-o", index, "--links", "8", "-q").exit_code == 0
    exact, approx = tmp_path / "exact.csv", tmp_path / "approx.csv"
    assert run("neighbors", bundle, data, "-Q", query, "-k", "25", "-o", exact, "-q").exit_code == 0
    result = run("neighbors", bundle, "--index", index, "-Q", query, "-k", "25", "--ef", "2000", "-o", approx)
    assert result.exit_code == 0, result.output
    truth, got = pd.read_csv(exact), pd.read_csv(approx)
    pd.testing.assert_frame_equal(got[["query", "rank", "reference"]], truth[["query", "rank", "reference"]])
    np.testing.assert_allclose(got["d"], truth["d"], rtol=1e-6)


def test_rows_are_named_as_the_exact_scan_names_them(tmp_path):
    """An index built with --id answers by row number without --id, like the exact scan;
    one built without ids refuses --id in one line."""
    pytest.importorskip("faiss")
    rng = np.random.default_rng(5)
    frame = pd.DataFrame(rng.normal(size=(150, 4)), columns=["a", "b", "c", "d"])
    frame.insert(0, "name", [f"f{i}" for i in range(len(frame))])
    data = tmp_path / "rows.csv"
    frame.to_csv(data, index=False)
    bundle = tmp_path / "B"
    assert run("fit", "covariance", data, "--id", "name", "-o", bundle, "-q").exit_code == 0
    with_ids, without = tmp_path / "I1", tmp_path / "I2"
    assert run("index", bundle, data, "--id", "name", "-o", with_ids, "-q").exit_code == 0
    assert run("index", bundle, data, "-o", without, "-q").exit_code == 0
    for option in ((), ("--id", "name")):
        exact, approx = tmp_path / "exact.csv", tmp_path / "approx.csv"
        common = ("-Q", data, "-k", "5", "--exclude-self", *option, "--force", "-q")
        assert run("neighbors", bundle, data, *common, "-o", exact).exit_code == 0
        assert run("neighbors", bundle, "--index", with_ids, *common, "-o", approx).exit_code == 0
        assert pairs(approx) == pairs(exact)
    result = run("neighbors", bundle, "--index", without, "-Q", data, "-k", "5", "--id", "name")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"metricli: error: {without}: this index was built without --id, so its rows have no 'name' "
        "values; build it with --id name"
    ]


def _cli(*args: object, **kwargs):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "metricli", *map(str, args)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **kwargs,
    )


def _in_pipe_read(proc) -> bool:
    try:
        with open(f"/proc/{proc.pid}/wchan") as f:
            return "pipe" in f.read()
    except OSError:
        return False


def _wait_for(predicate, timeout=60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_ctrl_c_while_building_keeps_the_old_index(tmp_path):
    """DATA a named pipe left open: the build waits mid-read; SIGINT exits 130 in one line,
    and the index being replaced with --force is left exactly as it was."""
    pytest.importorskip("faiss")
    bundle, index = tmp_path / "B", tmp_path / "I"
    assert run("fit", "lfda", IRIS, "--label", "species", "-o", bundle, "-q").exit_code == 0
    assert run("index", bundle, IRIS, "-o", index, "-q").exit_code == 0
    before = {p.name: p.read_bytes() for p in index.iterdir()}
    fifo = tmp_path / "rows.csv"
    os.mkfifo(fifo)
    proc = _cli(
        "index", bundle, fifo, "-o", index, "--force", "--batch-rows", "2", "-q", stdin=subprocess.DEVNULL
    )
    with open(fifo, "wb") as writer:
        lines = IRIS.read_bytes().splitlines(keepends=True)
        writer.write(b"".join(lines[:20]))
        writer.flush()
        assert _wait_for(lambda: _in_pipe_read(proc))
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert stderr.decode().strip().splitlines() == ["metricli: error: interrupted; no output was written"]
    assert {p.name: p.read_bytes() for p in index.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["B", "I", "rows.csv"]


def test_ctrl_c_while_answering_leaves_no_partial_table(tmp_path):
    """Queries on stdin, neighbours written per batch to a temporary file: SIGINT mid-way
    exits 130 and leaves no output."""
    pytest.importorskip("faiss")
    bundle, index = tmp_path / "B", tmp_path / "I"
    assert run("fit", "lfda", IRIS, "--label", "species", "-o", bundle, "-q").exit_code == 0
    assert run("index", bundle, IRIS, "-o", index, "-q").exit_code == 0
    out = tmp_path / "nn.csv"
    proc = _cli("neighbors", bundle, "--index", index, "-Q", "-", "-k", "3", "-o", out, "--batch-rows", "2", "-q",
                stdin=subprocess.PIPE)  # fmt: skip
    proc.stdin.write(IRIS.read_bytes()[:2000])
    proc.stdin.flush()
    assert _wait_for(lambda: any(p.name.startswith(".nn.csv.") for p in tmp_path.iterdir()))
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert stderr.decode().strip().splitlines() == ["metricli: error: interrupted; no output was written"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["B", "I"]
