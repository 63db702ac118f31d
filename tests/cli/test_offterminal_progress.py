"""Off a terminal (a batch job's log), long fits and checks write a plain progress line every
METRICLI_PROGRESS_SECONDS (default 10) and one when done; a quick run writes none.

Before, LMNN on 200,000 x 5 ran over 300 s with nothing on stderr when it was not a terminal,
and a 20,000² D gave `check` no progress and no hint to use --sample. Here the interval is
shortened so that small runs show the same lines.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

IRIS = Path(__file__).resolve().parents[2] / "sample_data" / "iris.csv"
WINE = Path(__file__).resolve().parents[2] / "sample_data" / "wine.csv"
LINE = re.compile(r"^metricli: (.+) \((\d+) s\)$")
DONE = re.compile(r"^metricli: (.+) \(done in (\d+) s\)$")


def _progress(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("metricli: ") and " s)" in line]


def test_a_fit_off_a_terminal_writes_progress_lines_and_an_end_line(cli, tmp_path, monkeypatch):
    # a short interval: warm, this fit can take a tenth of a second
    monkeypatch.setenv("METRICLI_PROGRESS_SECONDS", "0.002")
    monkeypatch.setenv("METRICLI_KNN_CHECK", "0")
    run = cli("fit", "lmnn", WINE, "--label", "cultivar", "--max-iter", "60", "-o", tmp_path / "b")
    assert run.exit_code == 0, run.stderr
    lines = _progress(run.stderr)
    assert len(lines) >= 3, run.stderr
    assert all(LINE.match(line) for line in lines[:-1]), lines
    assert DONE.match(lines[-1]), lines[-1]
    assert any("iteration" in line and "objective" in line for line in lines), lines
    # iterations only go forward
    iterations = [int(m[1]) for line in lines if (m := re.search(r"iteration (\d+)", line))]
    assert iterations == sorted(iterations) and iterations[-1] >= 1


def test_a_quick_run_and_a_quiet_run_write_no_progress(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("METRICLI_KNN_CHECK", "0")
    quick = cli("fit", "lmnn", IRIS, "--label", "species", "--max-iter", "5", "-o", tmp_path / "a")
    assert quick.exit_code == 0 and _progress(quick.stderr) == [], quick.stderr
    monkeypatch.setenv("METRICLI_PROGRESS_SECONDS", "0.05")
    quiet = cli(
        "--quiet", "fit", "lmnn", IRIS, "--label", "species", "--max-iter", "40", "-o", tmp_path / "b"
    )
    assert quiet.exit_code == 0 and quiet.stderr == "", quiet.stderr


@pytest.mark.parametrize("sample", [None, "20000"])
def test_a_long_check_off_a_terminal_reports_progress_and_the_sample_hint(cli, tmp_path, monkeypatch, sample):
    monkeypatch.setenv("METRICLI_PROGRESS_SECONDS", "0.01")
    P = np.random.default_rng(0).normal(size=(700, 3))
    D = np.sqrt(((P[:, None] - P[None]) ** 2).sum(-1))
    np.save(tmp_path / "D.npy", D)
    run = cli("check", tmp_path / "D.npy", *(["--sample", sample] if sample else []))
    assert run.exit_code == 0, run.stderr
    lines = [line for line in _progress(run.stderr) if "triangle inequality" in line]
    if sample:  # sampled: no exhaustive pass, no hint
        assert not any("--sample" in line for line in lines), lines
        return
    assert lines, run.stderr
    assert all(
        "triangle inequality over every triplet (--sample N checks N random ones instead)" in x for x in lines
    )
    percents = [int(m[1]) for line in lines if (m := re.search(r"\((\d+)% done", line))]
    assert percents == sorted(percents) and all(0 <= p <= 100 for p in percents)
    assert DONE.match(lines[-1]), lines[-1]
