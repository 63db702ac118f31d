"""One real two-process LocalCluster on loopback for every Dask test, and partitioned data sets.

Each data set is written twice: as a folder of Parquet files of unequal sizes (one of
them empty, one a single row) and as one file with the same rows in the same order, which
the local engine reads; the Dask result must equal the local one.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest


@pytest.fixture(scope="session")
def client():
    pytest.importorskip("dask.dataframe", reason="the dask extra is not installed")
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


@pytest.fixture(scope="session")
def on_cluster(client) -> list[str]:
    """The options that send a command to the test cluster."""
    return ["--engine", "dask", "--scheduler", client.scheduler.address]


def write_partitioned(frame: pd.DataFrame, folder: Path, cuts: list[int]) -> Path:
    folder.mkdir(parents=True)
    for i, (a, b) in enumerate(itertools.pairwise(cuts)):
        frame.iloc[a:b].to_parquet(folder / f"part-{i}.parquet", index=False)
    return folder


def read_folder(folder: Path) -> pd.DataFrame:
    """A folder of Parquet files written by --engine dask, in file order, as one table."""
    return pd.concat([pd.read_parquet(p) for p in sorted(Path(folder).glob("*.parquet"))], ignore_index=True)


@pytest.fixture(scope="session")
def partitioned(tmp_path_factory, request):
    """iris x 20 with noise, written as 7 Parquet files of unequal size."""
    frame = pd.read_csv(request.config.rootpath / "sample_data" / "iris.csv")
    rng = np.random.default_rng(0)
    big = pd.concat([frame] * 20, ignore_index=True)
    features = big.columns[:4]
    big[features] = big[features].to_numpy() + rng.normal(scale=0.05, size=(len(big), 4))
    folder = write_partitioned(
        big, tmp_path_factory.mktemp("parts") / "iris", [0, 100, 500, 501, 1200, 2000, 2900, len(big)]
    )
    return folder, big


@pytest.fixture(scope="session")
def copies(tmp_path_factory, request):
    """iris x 4 without noise: every point has exact duplicates in other partitions, so
    neighbour ties must be broken by global row order. Besides the features: species, a
    unique id rid, a regression target t and a chunk column (blank = in no chunk) whose
    chunklets span partitions. Returns (folder, the same rows as one Parquet file, frame)."""
    iris = pd.read_csv(request.config.rootpath / "sample_data" / "iris.csv")
    frame = pd.concat([iris] * 4, ignore_index=True)
    rng = np.random.default_rng(1)
    n = len(frame)
    frame["rid"] = [f"p{i:03d}" for i in range(n)]
    frame["t"] = 2.0 * frame["sepal_length"] - frame["petal_width"] + rng.normal(scale=0.3, size=n)
    chunk = rng.integers(0, 60, n).astype(float)
    chunk[rng.random(n) < 0.25] = np.nan
    frame["chunk"] = chunk
    root = tmp_path_factory.mktemp("copies")
    folder = write_partitioned(frame, root / "parts", [0, 90, 90, 91, 300, 451, n])
    whole = root / "whole.parquet"
    frame.to_parquet(whole, index=False)
    return folder, whole, frame


@pytest.fixture(scope="session")
def bundle(copies, tmp_path_factory):
    """Covariance on the iris features of ``copies``: a full-rank metric, not the identity."""
    from typer.testing import CliRunner

    from metricli.cli import app

    _, whole, _ = copies
    path = tmp_path_factory.mktemp("bundle") / "B"
    features = "sepal_length,sepal_width,petal_length,petal_width"
    run = CliRunner().invoke(app, ["fit", "covariance", str(whole), "--features", features, "-o", str(path)])
    assert run.exit_code == 0, run.output
    return path
