from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from metricli.cli import app

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"
IRIS = SAMPLE / "iris.csv"
WINE = SAMPLE / "wine.csv"
FGL = SAMPLE / "fgl.csv"
DIABETES = SAMPLE / "diabetes.csv"
FGL = SAMPLE / "fgl.csv"


class Run:
    """The result of one CLI invocation through the real Typer app."""

    def __init__(self, result) -> None:
        self.exit_code = result.exit_code
        self.stdout = result.stdout
        self.stderr = result.stderr
        self.exception = result.exception


@pytest.fixture
def cli():
    runner = CliRunner()

    def invoke(*args: str, input: str | bytes | None = None) -> Run:
        return Run(runner.invoke(app, [str(a) for a in args], input=input))

    return invoke


@pytest.fixture
def iris_frame() -> pd.DataFrame:
    return pd.read_csv(IRIS)


@pytest.fixture
def iris_X(iris_frame) -> np.ndarray:
    return iris_frame.drop(columns="species").to_numpy(dtype=float)


def assert_one_line_error(run: Run, *fragments: str) -> None:
    """Exit 2, nothing on stdout, exactly one line on stderr containing every fragment."""
    assert run.exit_code == 2, (run.exit_code, run.stdout, run.stderr)
    assert run.stdout == ""
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, run.stderr
    assert "Traceback" not in run.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
