"""``metricli distance`` against sqrt((x - y)ᵀ M (x - y)) computed directly from the bundle's M."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from metricli.cli import app

IRIS = Path(__file__).resolve().parents[2] / "sample_data" / "iris.csv"
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def run(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("distance") / "bundle"
    result = run("fit", "covariance", IRIS, "--label", "species", "--standardize", "-o", out, "--quiet")
    assert result.exit_code == 0, result.output
    return out


def direct(M: np.ndarray, A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """d(a_i, b_i) = sqrt((a - b)ᵀ M (a - b)), pair by pair, with no shortcut."""
    diff = A - B
    return np.sqrt(np.einsum("ij,jk,ik->i", diff, M, diff))


def test_every_pair_of_data_equals_the_mahalanobis_formula(bundle, tmp_path):
    out = tmp_path / "d.csv"
    result = run("distance", bundle, IRIS, "-o", out, "--quiet")
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert list(table.columns) == ["i", "j", "d"]
    n = 150
    i, j = np.triu_indices(n, k=1)
    np.testing.assert_array_equal(table["i"], i)
    np.testing.assert_array_equal(table["j"], j)
    X = pd.read_csv(IRIS)[FEATURES].to_numpy()
    M = np.load(bundle / "M.npy")
    np.testing.assert_allclose(table["d"], direct(M, X[i], X[j]), rtol=1e-10, atol=0)
    # iris rows 101 and 142 are identical: their distance is exactly 0, not ~1e-8
    assert table.loc[(table["i"] == 101) & (table["j"] == 142), "d"].item() == 0.0


def test_to_other_square_with_ids_streams_data_and_equals_the_formula(bundle, tmp_path):
    frame = pd.read_csv(IRIS)
    frame.insert(0, "name", [f"flower{r}" for r in range(len(frame))])
    data, other = tmp_path / "data.parquet", tmp_path / "other.csv"
    frame.iloc[:40].to_parquet(data)
    frame.iloc[100:113].to_csv(other, index=False)
    square, long = tmp_path / "square.csv", tmp_path / "long.csv"
    args = ("distance", bundle, data, "--to", other, "--id", "name", "--batch-rows", "7", "--quiet")
    assert run(*args, "--square", "-o", square).exit_code == 0
    assert run(*args, "--squared", "-o", long).exit_code == 0

    matrix = pd.read_csv(square, index_col="name")
    assert list(matrix.index) == [f"flower{r}" for r in range(40)]
    assert list(matrix.columns) == [f"flower{r}" for r in range(100, 113)]
    X, Y = frame[FEATURES].to_numpy()[:40], frame[FEATURES].to_numpy()[100:113]
    M = np.load(bundle / "M.npy")
    a, b = np.repeat(np.arange(40), 13), np.tile(np.arange(13), 40)
    expected = direct(M, X[a], Y[b])
    np.testing.assert_allclose(matrix.to_numpy().ravel(), expected, rtol=1e-10, atol=0)

    table = pd.read_csv(long)
    assert list(table.columns) == ["i", "j", "d2"]
    assert table["i"].tolist() == [f"flower{r}" for r in a]
    assert table["j"].tolist() == [f"flower{100 + r}" for r in b]
    np.testing.assert_allclose(table["d2"], expected**2, rtol=1e-10, atol=0)


def test_listed_pairs_by_id_keep_their_columns(bundle, tmp_path):
    frame = pd.read_csv(IRIS)
    frame.insert(0, "name", [f"f{r}" for r in range(len(frame))])
    data = tmp_path / "data.csv"
    frame.to_csv(data, index=False)
    pairs = tmp_path / "pairs.csv"
    pd.DataFrame({"a": ["f0", "f101", "f7"], "b": ["f149", "f142", "f7"], "y": [-1, 1, 1]}).to_csv(
        pairs, index=False
    )
    result = run("--json", "distance", bundle, data, "--pairs", pairs, "--id", "name")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["a"], r["b"], r["y"]) for r in rows] == [
        ("f0", "f149", -1),
        ("f101", "f142", 1),
        ("f7", "f7", 1),
    ]
    X = frame[FEATURES].to_numpy()
    expected = direct(np.load(bundle / "M.npy"), X[[0, 101, 7]], X[[149, 142, 7]])
    np.testing.assert_allclose([r["d"] for r in rows], expected, rtol=1e-12, atol=0)
    assert rows[1]["d"] == rows[2]["d"] == 0.0


def _one_error_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("metricli: error: "), result.stderr
    return lines[0]


def test_bad_inputs_give_one_line_exit_2_and_no_output(bundle, tmp_path):
    out = tmp_path / "out.csv"
    missing = tmp_path / "missing.csv"
    pd.read_csv(IRIS).drop(columns="petal_width").to_csv(missing, index=False)
    line = _one_error_line(run("distance", bundle, IRIS, "--to", missing, "-o", out))
    assert "no column 'petal_width' (a feature the metric was learned on)" in line

    frame = pd.read_csv(IRIS)
    frame.insert(0, "name", [f"f{r}" for r in range(len(frame))])
    data, pairs = tmp_path / "data.csv", tmp_path / "pairs.csv"
    frame.to_csv(data, index=False)
    pd.DataFrame({"a": ["f0", "f1"], "b": ["f2", "nobody"]}).to_csv(pairs, index=False)
    line = _one_error_line(run("distance", bundle, data, "--pairs", pairs, "--id", "name", "-o", out))
    assert line.endswith(f"{pairs}: row 1, column 'b': {data} has no row with name 'nobody'")

    pd.DataFrame({"a": [0, 3], "b": [2, 150]}).to_csv(pairs, index=False)
    line = _one_error_line(run("distance", bundle, IRIS, "--pairs", pairs, "-o", out))
    assert "row 1, column 'b': row 150 is not in" in line

    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv", "missing.csv", "pairs.csv"]

    out.write_text("keep me\n")
    line = _one_error_line(run("distance", bundle, IRIS, "-o", out))
    assert "already exists; pass --force" in line
    assert out.read_text() == "keep me\n"


@pytest.mark.parametrize(
    "command",
    [
        ["distance", "{b}", "{huge}"],
        ["distance", "{b}", "{huge}", "--square"],
        ["distance", "{b}", "{huge}", "--pairs", "{pairs}"],
        ["distance", "{b}", "{iris}", "--to", "{huge}"],
        ["neighbors", "{b}", "{iris}", "--query", "{huge}", "-k", "1"],
        ["check", "{b}", "--data", "{huge}"],
    ],
    ids=lambda c: " ".join(p for p in c if p != "{b}"),
)
def test_points_whose_distances_overflow_are_refused_never_blank_or_nan(bundle, tmp_path, command):
    # finite coordinates near 1e300: d would be ~1e300 but d² overflows; before, distance wrote
    # a blank d with numpy warnings on stderr and neighbors silently wrote no rows
    frame = pd.read_csv(IRIS).head(3)
    frame[FEATURES] = frame[FEATURES] * 1e300
    paths = {"b": bundle, "huge": tmp_path / "huge.csv", "pairs": tmp_path / "pairs.csv", "iris": IRIS}
    frame.to_csv(paths["huge"], index=False)
    pd.DataFrame({"a": [0], "b": [1]}).to_csv(paths["pairs"], index=False)
    out = tmp_path / "out.csv"
    args = [part.format(**paths) for part in command] + ([] if command[0] == "check" else ["-o", out])
    line = _one_error_line(run(*args))
    assert "squared distances overflow float64" in line and "rescale the features" in line
    assert not out.exists()
