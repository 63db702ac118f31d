"""distance --to, neighbors, evaluate and check on the test cluster, against the local engine.

Every command runs twice on the same rows: locally on one Parquet file, and with
--engine dask on the same rows split into partitions (one empty, one of a single row).
Tables must hold the same rows in the same order, keys exactly, numbers to 1e-10.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ..conftest import assert_one_line_error
from .conftest import read_folder

pytest.importorskip("dask.dataframe", reason="the dask extra is not installed")

TOL = {"rtol": 1e-10, "atol": 1e-10}


def assert_same_table(got: pd.DataFrame, expected: pd.DataFrame, keys: list[str]) -> None:
    assert list(got.columns) == list(expected.columns)
    assert len(got) == len(expected)
    for key in keys:  # row names and ranks exactly: same rows, same order, same tie-breaking
        assert got[key].astype(str).tolist() == expected[key].astype(str).tolist(), key
    values = [c for c in got.columns if c not in keys]
    np.testing.assert_allclose(got[values].to_numpy(float), expected[values].to_numpy(float), **TOL)


@pytest.mark.parametrize(
    "options",
    [["--id", "rid"], ["--square", "--squared"]],
    ids=["long-with-ids", "square-squared"],
)
def test_distance_to_other(cli, on_cluster, copies, bundle, tmp_path, options):
    folder, whole, frame = copies
    other = tmp_path / "other.csv"
    frame.iloc[[5, 17, 155, 300, 599]].to_csv(other, index=False)  # 155 = 5 + 150: a duplicate of 5
    local = tmp_path / "local.parquet"
    assert cli("distance", bundle, whole, "--to", other, "-o", local, *options).exit_code == 0
    run = cli(
        "distance", bundle, folder, "--to", other, "-o", tmp_path / "out", *options, *on_cluster, "--json"
    )
    assert run.exit_code == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["rows"] == len(pd.read_parquet(local)) and summary["engine"] == "dask"
    keys = ["i", "j"] if "--square" not in options else []
    assert_same_table(read_folder(tmp_path / "out"), pd.read_parquet(local), keys)


@pytest.mark.parametrize(
    "options",
    [
        ["-k", "7"],
        ["-k", "4", "--exclude-self"],
        ["-k", "5", "--id", "rid"],
        ["--radius", "0.6"],
        ["--radius", "1.0", "-k", "3"],
    ],
    ids=["k", "exclude-self", "ids", "radius", "radius-and-k"],
)
def test_neighbors_in_partitioned_reference(cli, on_cluster, copies, bundle, tmp_path, options):
    """Each point has 3 exact copies in other partitions: ties everywhere, broken by global row."""
    folder, whole, _ = copies
    query = folder if "--exclude-self" in options else whole  # --exclude-self: QUERY is REFERENCE
    local_query = whole
    local, remote = tmp_path / "local.parquet", tmp_path / "remote.parquet"
    assert cli("neighbors", bundle, whole, "--query", local_query, "-o", local, *options).exit_code == 0
    run = cli("neighbors", bundle, folder, "--query", query, "-o", remote, *options, *on_cluster)
    assert run.exit_code == 0, run.stderr
    expected = pd.read_parquet(local)
    assert_same_table(pd.read_parquet(remote), expected, ["query", "rank", "reference"])
    if "-k" in options and "--radius" not in options:
        k = int(options[options.index("-k") + 1])
        assert (expected.groupby("query").size() == k).all()


def test_neighbors_in_partitioned_queries(cli, on_cluster, copies, bundle, tmp_path):
    folder, whole, frame = copies
    reference = tmp_path / "reference.csv"
    frame.iloc[::3].to_csv(reference, index=False)
    local = tmp_path / "local.parquet"
    assert cli("neighbors", bundle, reference, "--query", whole, "-k", "6", "-o", local).exit_code == 0
    run = cli(
        "neighbors", bundle, reference, "--query", folder, "-k", "6", "-o", tmp_path / "out", *on_cluster
    )
    assert run.exit_code == 0, run.stderr
    assert_same_table(read_folder(tmp_path / "out"), pd.read_parquet(local), ["query", "rank", "reference"])


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_evaluate_bundle(cli, on_cluster, copies, bundle, tmp_path, task):
    folder, whole, frame = copies
    reference = tmp_path / "reference.csv"
    frame.iloc[::4].to_csv(reference, index=False)
    scoring = ["--label", "species"] if task == "classification" else ["--target", "t"]
    common = ["--reference", reference, *scoring, "-k", "5", "--json"]
    local = cli("evaluate", bundle, whole, *common, "--predictions", tmp_path / "local.csv")
    assert local.exit_code == 0, local.stderr
    run = cli("evaluate", bundle, folder, *common, "--predictions", tmp_path / "out", *on_cluster)
    assert run.exit_code == 0, run.stderr
    got, expected = json.loads(run.stdout), json.loads(local.stdout)
    assert got["engine"] == "dask"
    for side in ("learned", "euclidean"):
        assert got[side].keys() == expected[side].keys()
        for figure, value in expected[side].items():
            assert got[side][figure] == pytest.approx(value, rel=1e-10, abs=1e-12), (side, figure)
    predictions = read_folder(tmp_path / "out")
    local_predictions = pd.read_csv(tmp_path / "local.csv")
    assert predictions["row"].tolist() == local_predictions["row"].tolist()
    if task == "classification":
        assert (predictions["predicted"] == local_predictions["predicted"]).all()
        assert (predictions["predicted_euclidean"] == local_predictions["predicted_euclidean"]).all()
    else:
        np.testing.assert_allclose(predictions["predicted"], local_predictions["predicted"], **TOL)


def test_check_points_on_the_cluster(cli, on_cluster, copies, bundle):
    folder, whole, _ = copies
    local = cli("check", bundle, "--data", whole, "--id", "rid", "--json")
    run = cli("check", bundle, "--data", folder, "--id", "rid", "--json", *on_cluster)
    # duplicated points: a pseudometric on these points (exit 1), with the same witnesses
    assert (run.exit_code, local.exit_code) == (1, 1), run.stderr
    got, expected = json.loads(run.stdout), json.loads(local.stdout)
    got["source"] = expected["source"]
    assert got == expected
    assert got["verdict"] == "pseudometric"
    assert got["axioms"]["triangle_inequality"]["pairs_checked"] == 600 * 599 // 2


def test_triangle_tiles_on_the_cluster_find_the_same_violations(client):
    """Squared distances break the triangle inequality: the cluster's tiles must report exactly
    what the local threads do (counts, worst pairs, violating pivots), also with --fail-fast."""
    from metricli.axioms import check_distance
    from metricli.engines.dask import TriangleTiles

    rng = np.random.default_rng(3)
    X = rng.normal(size=(70, 3))
    D = ((X[:, None, :] - X[None, :, :]) ** 2).sum(axis=2)
    for options in ({}, {"fail_fast": True}, {"ultrametric": True}):
        expected = check_distance(D, **options)
        with TriangleTiles(D, make=np.asarray, client=client) as tiles:
            got = check_distance(D, run_tiles=tiles, **options)
        assert got == expected
        assert got["axioms"]["triangle_inequality"]["pairs_violated"] > 0


def test_dask_options_that_do_not_apply(cli, on_cluster, copies, bundle, tmp_path):
    folder, whole, _ = copies
    assert_one_line_error(
        cli("distance", bundle, folder, "-o", tmp_path / "o", *on_cluster), "--engine dask", "--to"
    )
    assert_one_line_error(cli("check", bundle, *on_cluster), "--data")
    assert_one_line_error(
        cli(
            "neighbors",
            bundle,
            whole,
            "--query",
            folder,
            "-k",
            "2",
            "--stream",
            "query",
            "-o",
            "-",
            *on_cluster,
        ),
        "name it with -o",
    )
    empty = tmp_path / "nofeatures"
    empty.mkdir()
    pd.DataFrame({"x": [1.0, 2.0]}).to_parquet(empty / "p.parquet", index=False)
    assert_one_line_error(
        cli("distance", bundle, empty, "--to", whole, "-o", tmp_path / "o2", *on_cluster),
        "no column 'sepal_length'",
    )
    assert not (tmp_path / "o").exists() and not (tmp_path / "o2").exists()
