"""``metricli transform`` on the shared streaming path: batches, kept columns, formats, dropped rows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from metricli.cli import app

IRIS = Path(__file__).resolve().parents[2] / "sample_data" / "iris.csv"
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def run(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_batches_give_L_x_for_every_row_in_every_format(tmp_path):
    bundle = tmp_path / "model"
    assert run("fit", "covariance", IRIS, "-o", bundle, "--quiet").exit_code == 0
    frame = pd.read_csv(IRIS)
    frame.loc[[3, 77], "petal_width"] = np.nan
    data = tmp_path / "data.parquet"
    frame.to_parquet(data)
    out = tmp_path / "out.parquet"
    result = run(
        "--json",
        "transform",
        bundle,
        data,
        "-o",
        out,
        "--keep",
        "species",
        "--batch-rows",
        "16",
        "--drop-missing",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"output": str(out), "rows": 148, "dropped": 2, "components": 4}
    got = pd.read_parquet(out)
    kept = frame.drop(index=[3, 77])
    assert list(got.columns) == ["species", "c0", "c1", "c2", "c3"]
    assert got["species"].tolist() == kept["species"].tolist()
    L = np.load(bundle / "L.npy")
    np.testing.assert_allclose(got[["c0", "c1", "c2", "c3"]], kept[FEATURES].to_numpy() @ L.T, rtol=1e-13)

    # --json with stdout: JSON Lines, one object per row
    result = run("--json", "transform", bundle, IRIS, "--batch-rows", "50")
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 150 and set(rows[0]) == {"c0", "c1", "c2", "c3"}

    # without --drop-missing the error names the row counted from the file's start, in any batch
    frame.loc[3, "petal_width"] = 0.2
    frame.to_parquet(data)
    result = run("transform", bundle, data, "-o", tmp_path / "no.csv", "--batch-rows", "16")
    assert result.exit_code == 2
    assert "at row 77;" in result.stderr and "--drop-missing" in result.stderr
    assert not (tmp_path / "no.csv").exists()
