"""``metricli neighbors`` against a brute-force search in the transformed space."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from metricli.axioms import check_mahalanobis
from metricli.cli import app
from metricli.io.bundle import save_bundle

IRIS = Path(__file__).resolve().parents[2] / "sample_data" / "iris.csv"
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def run(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("neighbors") / "bundle"
    assert run("fit", "covariance", IRIS, "-o", out, "--quiet").exit_code == 0
    return out


def brute_force(Z_query: np.ndarray, Z_ref: np.ndarray, k: int | None = None, radius: float | None = None):
    """(query, rank, reference, d) rows: every distance from the differences, stable sort (row order on ties)."""
    rows = []
    for q, z in enumerate(Z_query):
        d = np.sqrt(((Z_ref - z) ** 2).sum(axis=1))
        order = np.argsort(d, kind="stable")
        if radius is not None:
            order = order[d[order] <= radius]
        if k is not None:
            order = order[:k]
        rows += [(q, rank + 1, int(j), d[j]) for rank, j in enumerate(order)]
    return rows


def test_k_nearest_equal_brute_force_in_the_transformed_space(bundle, tmp_path):
    rng = np.random.default_rng(0)
    iris = pd.read_csv(IRIS)
    query = iris.sample(40, random_state=1).reset_index(drop=True)
    query[FEATURES] += rng.normal(scale=0.05, size=(40, 4))
    query_file = tmp_path / "query.parquet"
    query.to_parquet(query_file)
    out = tmp_path / "nn.csv"
    result = run("neighbors", bundle, IRIS, "--query", query_file, "-k", "5", "--batch-rows", "9", "-o", out)
    assert result.exit_code == 0, result.output
    assert "query.parquet: 40 rows in" in result.stderr  # the progress summary, with rows/s
    got = pd.read_csv(out)
    assert list(got.columns) == ["query", "rank", "reference", "d"]
    L = np.load(bundle / "L.npy")
    expected = brute_force(query[FEATURES].to_numpy() @ L.T, iris[FEATURES].to_numpy() @ L.T, k=5)
    assert list(zip(got["query"], got["rank"], got["reference"], strict=True)) == [e[:3] for e in expected]
    np.testing.assert_allclose(got["d"], [e[3] for e in expected], rtol=1e-10, atol=1e-12)


@pytest.fixture()
def tied(tmp_path) -> tuple[Path, Path, Path, np.ndarray]:
    """A bundle with L = diag(2, 1) and integer points, so every distance is exact and ties are exact."""
    L = np.diag([2.0, 1.0])
    bundle = tmp_path / "tied"
    save_bundle(bundle, L, ["x", "y"], {"algorithm": "hand-made"}, check_mahalanobis(L.T @ L, ["x", "y"]))
    reference = pd.DataFrame(
        {
            "name": [f"r{i}" for i in range(8)],
            "x": [1, 0, 0, -1, 0, 1, 0, 2],
            "y": [0, 2, -2, 0, 2, 0, 0, 0],
        }
    )
    query = pd.DataFrame({"name": ["q0", "q1", "q2"], "x": [0, 1, 0], "y": [0, 0, 1]})
    ref_file, query_file = tmp_path / "ref.csv", tmp_path / "query.csv"
    reference.to_csv(ref_file, index=False)
    query.to_csv(query_file, index=False)
    Z_query = query[["x", "y"]].to_numpy(float) @ L.T
    Z_ref = reference[["x", "y"]].to_numpy(float) @ L.T
    return bundle, ref_file, query_file, (Z_query, Z_ref)


def test_exact_ties_are_broken_by_reference_row_order(tied):
    bundle, ref_file, query_file, (Z_query, Z_ref) = tied
    result = run("--json", "neighbors", bundle, ref_file, "--query", query_file, "-k", "4", "--id", "name")
    assert result.exit_code == 0, result.output
    got = [json.loads(line) for line in result.stdout.splitlines()]
    expected = brute_force(Z_query, Z_ref, k=4)
    assert [(g["query"], g["rank"], g["reference"], g["d"]) for g in got] == [
        (f"q{q}", rank, f"r{j}", d) for q, rank, j, d in expected
    ]
    # q0 = (0, 0): r6 at 0, then r0, r1, r2, r3, r4, r5 all at exactly 2 -> r0, r1, r2 in row order
    assert [g["reference"] for g in got[:4]] == ["r6", "r0", "r1", "r2"]


def test_radius_with_and_without_k_and_exclude_self(tied):
    bundle, ref_file, query_file, (Z_query, Z_ref) = tied
    result = run("neighbors", bundle, ref_file, "--query", query_file, "--radius", "2")
    assert result.exit_code == 0, result.output
    got = pd.read_csv(io.StringIO(result.stdout))
    expected = brute_force(Z_query, Z_ref, radius=2.0)
    assert list(zip(got["query"], got["rank"], got["reference"], strict=True)) == [e[:3] for e in expected]

    result = run("neighbors", bundle, ref_file, "--query", query_file, "--radius", "2", "-k", "2")
    got = pd.read_csv(io.StringIO(result.stdout))
    assert list(zip(got["query"], got["reference"], strict=True)) == [
        e[::2][:2] for e in brute_force(Z_query, Z_ref, k=2, radius=2.0)
    ]

    # each reference row's neighbours among the others: r1 and r4 are duplicates, so each finds the other first
    result = run("neighbors", bundle, ref_file, "--query", ref_file, "-k", "1", "--exclude-self")
    got = pd.read_csv(io.StringIO(result.stdout))
    D = np.sqrt(((Z_ref[:, None] - Z_ref[None]) ** 2).sum(-1))
    np.fill_diagonal(D, np.inf)
    assert got["reference"].tolist() == np.argmin(D, axis=1).tolist()
    assert got.loc[1, "reference"] == 4 and got.loc[4, "reference"] == 1 and got.loc[1, "d"] == 0


@pytest.mark.parametrize("radius", ["1e300", "inf"])
def test_a_radius_whose_square_overflows_finds_every_reference_row(tied, radius):
    # radius² overflowed a Python float: an internal error (exit 70) instead of every row
    bundle, ref_file, query_file, (Z_query, Z_ref) = tied
    result = run("neighbors", bundle, ref_file, "--query", query_file, "--radius", radius)
    assert result.exit_code == 0, result.output
    got = pd.read_csv(io.StringIO(result.stdout))
    assert len(got) == len(Z_query) * len(Z_ref)
    expected = brute_force(Z_query, Z_ref, radius=np.inf)
    assert list(zip(got["query"], got["rank"], got["reference"], strict=True)) == [e[:3] for e in expected]


def test_bad_inputs_give_one_line_exit_2_and_no_output(tied, tmp_path):
    bundle, ref_file, query_file, _ = tied
    out = tmp_path / "out.csv"

    def one_line(result) -> str:
        lines = result.stderr.strip().splitlines()
        assert result.exit_code == 2 and len(lines) == 1, result.output
        return lines[0]

    line = one_line(run("neighbors", bundle, ref_file, "--query", query_file, "-k", "9", "-o", out))
    assert line == f"metricli: error: -k 9 is larger than the 8 rows of {ref_file}; choose a smaller -k"

    no_y = tmp_path / "no_y.csv"
    pd.DataFrame({"x": [1.0, 2.0]}).to_csv(no_y, index=False)
    line = one_line(run("neighbors", bundle, ref_file, "--query", no_y, "-k", "2", "-o", out))
    assert f"{no_y}: no column 'y' (a feature the metric was learned on)" in line

    line = one_line(run("neighbors", bundle, ref_file, "--query", no_y, "-k", "2", "--id", "name", "-o", out))
    assert "no column" in line

    line = one_line(run("neighbors", bundle, ref_file, "--query", query_file, "-o", out))
    assert "give -k K" in line
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left behind


@pytest.mark.parametrize(
    "options",
    [["-k", "4"], ["--radius", "2"], ["-k", "2", "--radius", "2"], ["-k", "3", "--exclude-self"]],
)
def test_streaming_the_reference_gives_the_same_answer_as_streaming_the_query(tied, options):
    bundle, ref_file, query_file, _ = tied
    if "--exclude-self" in options:
        query_file = ref_file
    common = ["neighbors", bundle, ref_file, "-Q", query_file, "--id", "name", "--batch-rows", "3", *options]
    by_query = run(*common, "--stream", "query")
    by_reference = run(*common, "--stream", "reference")
    assert by_query.exit_code == 0 and by_reference.exit_code == 0, by_query.output + by_reference.output
    assert by_reference.stdout == by_query.stdout
    assert len(by_query.stdout.splitlines()) > 4
