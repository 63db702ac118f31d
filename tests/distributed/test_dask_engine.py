"""The Dask engine on a real two-process LocalCluster on loopback, against one machine."""

import numpy as np
import pandas as pd
import pytest

from metricli import Covariance

pytest.importorskip("dask.dataframe", reason="the dask extra is not installed")

from metricli.engines import Output, Source, make_engine, operations


def test_transform_matches_one_machine(client, partitioned, tmp_path):
    folder, big = partitioned
    X = big.iloc[:, :4].to_numpy()
    L = Covariance().fit(X).components_
    names = tuple(big.columns[:4])
    out = tmp_path / "emb"
    source = Source(str(folder), names, keep=("species",))
    with make_engine("dask", client.scheduler.address) as engine:
        done = operations.transform(
            engine, L, source, Output(str(out), operations.transform_empty(L, ["species"]))
        )
    assert done.written == len(big)
    got = pd.concat([pd.read_parquet(p) for p in sorted(out.glob("*.parquet"))], ignore_index=True)
    np.testing.assert_allclose(got[["c0", "c1", "c2", "c3"]].to_numpy(), X @ L.T, rtol=1e-10, atol=1e-10)
    assert (got["species"].to_numpy() == big["species"].to_numpy()).all()  # same rows, same order


def test_covariance_from_partition_statistics_matches_one_machine(client, partitioned):
    folder, big = partitioned
    names = list(big.columns[:4])
    with make_engine("dask", client.scheduler.address) as engine:
        stats = operations.scatter_statistics(engine, Source(str(folder), tuple(names)))
    assert stats.n == len(big)
    M_cluster = Covariance().fit_statistics(stats).get_mahalanobis_matrix()
    M_local = Covariance().fit(big[names].to_numpy()).get_mahalanobis_matrix()
    np.testing.assert_allclose(M_cluster, M_local, rtol=1e-10, atol=1e-10 * np.abs(M_local).max())


def test_bad_partition_is_our_error(client, tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    pd.DataFrame({"a": [1.0, 2.0], "b": [1.0, 3.0]}).to_parquet(folder / "p0.parquet", index=False)
    pd.DataFrame({"a": [1.0, np.nan], "b": [1.0, 3.0]}).to_parquet(folder / "p1.parquet", index=False)
    from metricli import MetricliError

    # the row is named by its number in the whole data set, not in its partition
    with (
        make_engine("dask", client.scheduler.address) as engine,
        pytest.raises(MetricliError, match="missing or infinite values in column 'a' at row 3;"),
    ):
        operations.scatter_statistics(engine, Source(str(folder), ("a", "b")))


def test_cli_transform_on_the_cluster_matches_local(cli, client, partitioned, tmp_path):
    folder, big = partitioned
    bundle = tmp_path / "B"
    assert (
        cli("fit", "covariance", folder / "part-0.parquet", "--label", "species", "-o", bundle).exit_code == 0
    )
    out = tmp_path / "emb"
    run = cli(
        "transform",
        bundle,
        folder,
        "-o",
        out,
        "--engine",
        "dask",
        "--scheduler",
        client.scheduler.address,
        "--keep",
        "species",
        "--json",
    )
    assert run.exit_code == 0, run.stderr
    assert '"rows": 3000' in run.stdout
    got = pd.concat([pd.read_parquet(p) for p in sorted(out.glob("*.parquet"))], ignore_index=True)
    whole = tmp_path / "whole.parquet"
    big.to_parquet(whole, index=False)
    local = tmp_path / "local.parquet"
    assert cli("transform", bundle, whole, "-o", local, "--keep", "species").exit_code == 0
    expected = pd.read_parquet(local)
    assert list(got.columns) == list(expected.columns)
    assert (got["species"] == expected["species"]).all()
    np.testing.assert_allclose(
        got.iloc[:, 1:].to_numpy(), expected.iloc[:, 1:].to_numpy(), rtol=1e-10, atol=1e-10
    )


def test_cli_fit_covariance_on_the_cluster_matches_local(cli, client, partitioned, tmp_path):
    folder, big = partitioned
    whole = tmp_path / "whole.parquet"
    big.to_parquet(whole, index=False)
    local, remote = tmp_path / "local", tmp_path / "remote"
    assert cli("fit", "covariance", whole, "--label", "species", "-o", local).exit_code == 0
    run = cli(
        "fit",
        "covariance",
        folder,
        "--label",
        "species",
        "-o",
        remote,
        "--engine",
        "dask",
        "--scheduler",
        client.scheduler.address,
    )
    assert run.exit_code == 0, run.stderr
    M_local, M_remote = np.load(local / "M.npy"), np.load(remote / "M.npy")
    np.testing.assert_allclose(M_remote, M_local, rtol=1e-10, atol=1e-10 * np.abs(M_local).max())
    meta = __import__("json").loads((remote / "metadata.json").read_text())
    assert meta["input"]["engine"] == "dask" and meta["input"]["rows_used"] == len(big)
    assert meta["feature_names"] == list(big.columns[:4])
