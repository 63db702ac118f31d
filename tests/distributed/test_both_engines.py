"""One test per operation, run through both engines, each checked against numpy.

The same rows are read by the local engine as one CSV file and by the Dask engine (a real
two-process LocalCluster) as a folder of gzipped CSV files of unequal sizes, one of them
holding a header only. Every expected number is computed here from the bundle's L with
plain numpy, not by metricli, so a wrong answer on either engine fails on its own.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from .conftest import read_folder

pytest.importorskip("dask.dataframe", reason="the dask extra is not installed")

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
ENGINES = ["local", "dask"]
TOL = {"rtol": 1e-10, "atol": 1e-10}


@pytest.fixture(scope="module")
def rows(tmp_path_factory, request):
    """300 noisy iris rows (no two points or distances tie) with a unique id and a chunk
    column (blank = in no chunklet; chunklets span files, some hold one point), as one CSV
    file and as five gzipped CSV files (sizes 0, 1, 120, 80, 99), plus a bundle fitted on them."""
    iris = pd.read_csv(request.config.rootpath / "sample_data" / "iris.csv")
    rng = np.random.default_rng(7)
    frame = pd.concat([iris, iris], ignore_index=True)
    frame[FEATURES] = frame[FEATURES].to_numpy() + rng.normal(scale=0.05, size=(len(frame), 4))
    frame.insert(0, "rid", [f"r{i:03d}" for i in range(len(frame))])
    chunk = rng.integers(0, 70, len(frame)).astype(float)
    chunk[rng.random(len(frame)) < 0.3] = np.nan
    frame["chunk"] = chunk
    root = tmp_path_factory.mktemp("both")
    whole = root / "whole.csv"
    frame.to_csv(whole, index=False)
    folder = root / "parts"
    folder.mkdir()
    cuts = [0, 0, 1, 121, 201, len(frame)]
    for i in range(len(cuts) - 1):
        frame.iloc[cuts[i] : cuts[i + 1]].to_csv(folder / f"part-{i}.csv.gz", index=False)
    from typer.testing import CliRunner

    from metricli.cli import app

    bundle = root / "B"
    run = CliRunner().invoke(
        app,
        [
            "fit",
            "lfda",
            str(whole),
            "--label",
            "species",
            "--id",
            "rid",
            "--features",
            ",".join(FEATURES),
            "-o",
            str(bundle),
        ],
    )
    assert run.exit_code == 0, run.output
    return {
        "whole": whole,
        "folder": folder,
        "frame": frame,
        "bundle": bundle,
        "L": np.load(bundle / "L.npy"),
    }


def _engine(request, engine: str, rows: dict) -> tuple[Path, list[str]]:
    """The data and options that send a command to ``engine``."""
    if engine == "local":
        return rows["whole"], []
    return rows["folder"], request.getfixturevalue("on_cluster")


def _read(path: Path, engine: str) -> pd.DataFrame:
    return pd.read_csv(path) if engine == "local" else read_folder(path)


def _out(tmp_path: Path, engine: str) -> Path:
    return tmp_path / ("out.csv" if engine == "local" else "out")


def _projected(frame: pd.DataFrame, L: np.ndarray) -> np.ndarray:
    return frame[FEATURES].to_numpy() @ L.T


def _pairwise(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    return np.sqrt(np.maximum(((A[:, None, :] - B[None, :, :]) ** 2).sum(axis=2), 0.0))


@pytest.mark.parametrize("engine", ENGINES)
def test_transform(cli, request, rows, tmp_path, engine):
    data, options = _engine(request, engine, rows)
    out = _out(tmp_path, engine)
    run = cli("transform", rows["bundle"], data, "--keep", "rid", "-o", out, *options)
    assert run.exit_code == 0, run.stderr
    got = _read(out, engine)
    assert got["rid"].tolist() == rows["frame"]["rid"].tolist()  # every row, in order
    Z = _projected(rows["frame"], rows["L"])
    np.testing.assert_allclose(got[[f"c{j}" for j in range(Z.shape[1])]].to_numpy(), Z, **TOL)


@pytest.mark.parametrize("engine", ENGINES)
def test_distance_to_other(cli, request, rows, tmp_path, engine):
    data, options = _engine(request, engine, rows)
    frame, L = rows["frame"], rows["L"]
    other = tmp_path / "other.csv"
    picked = [3, 77, 150, 299]
    frame.iloc[picked].to_csv(other, index=False)
    out = _out(tmp_path, engine)
    run = cli("distance", rows["bundle"], data, "--to", other, "--id", "rid", "-o", out, *options)
    assert run.exit_code == 0, run.stderr
    got = _read(out, engine)
    expected = _pairwise(_projected(frame, L), _projected(frame.iloc[picked], L))
    assert got["i"].tolist() == np.repeat(frame["rid"], len(picked)).tolist()
    assert got["j"].tolist() == frame["rid"].iloc[picked].tolist() * len(frame)
    np.testing.assert_allclose(got["d"].to_numpy(), expected.ravel(), **TOL)


@pytest.mark.parametrize("engine", ENGINES)
def test_neighbors_in_a_streamed_reference(cli, request, rows, tmp_path, engine):
    data, options = _engine(request, engine, rows)
    frame, L = rows["frame"], rows["L"]
    query = tmp_path / "query.csv"
    frame.iloc[::10].to_csv(query, index=False)
    out = tmp_path / "found.csv"
    run = cli(
        "neighbors", rows["bundle"], data, "--query", query, "-k", "4", "--id", "rid", "-o", out, *options
    )
    assert run.exit_code == 0, run.stderr
    got = pd.read_csv(out)
    D = _pairwise(_projected(frame.iloc[::10], L), _projected(frame, L))
    nearest = np.argsort(D, axis=1, kind="stable")[:, :4]
    assert got["query"].tolist() == np.repeat(frame["rid"].iloc[::10], 4).tolist()
    assert got["rank"].tolist() == [1, 2, 3, 4] * len(nearest)
    assert got["reference"].tolist() == frame["rid"].to_numpy()[nearest].ravel().tolist()
    np.testing.assert_allclose(got["d"].to_numpy(), np.take_along_axis(D, nearest, axis=1).ravel(), **TOL)


@pytest.mark.parametrize("engine", ENGINES)
def test_evaluate_a_bundle(cli, request, rows, tmp_path, engine):
    data, options = _engine(request, engine, rows)
    frame, L = rows["frame"], rows["L"]
    reference = tmp_path / "reference.csv"
    frame.iloc[1::3].to_csv(reference, index=False)
    run = cli(
        "evaluate",
        rows["bundle"],
        data,
        "--reference",
        reference,
        "--label",
        "species",
        "-k",
        "1",
        "--json",
        *options,
    )
    assert run.exit_code == 0, run.stderr
    result = json.loads(run.stdout)
    ref = frame.iloc[1::3]
    for side, space in (("learned", L), ("euclidean", np.eye(4))):
        D = _pairwise(_projected(frame, space), _projected(ref, space))
        predicted = ref["species"].to_numpy()[np.argmin(D, axis=1)]
        accuracy = float(np.mean(predicted == frame["species"].to_numpy()))
        assert result[side]["n_test"] == len(frame)
        assert result[side]["accuracy"] == pytest.approx(accuracy, abs=1e-12), side


@pytest.mark.parametrize("engine", ENGINES)
def test_check_the_metric_on_points(cli, request, rows, engine):
    data, options = _engine(request, engine, rows)
    run = cli("check", rows["bundle"], "--data", data, "--id", "rid", "--json", *options)
    # distinct points under a full-rank metric: a metric, every triangle checked
    assert run.exit_code == 0, run.stderr
    report = json.loads(run.stdout)
    n = len(rows["frame"])
    assert report["verdict"] == "metric"
    assert report["axioms"]["triangle_inequality"]["pairs_checked"] == n * (n - 1) // 2
    assert report["axioms"]["triangle_inequality"]["pairs_violated"] == 0


def _within_chunklets(frame: pd.DataFrame) -> np.ndarray:
    """RCA's Ĉ⁻¹ (Bar-Hillel et al. 2005, Algorithm 1): the inverse of the mean scatter of the
    points of chunklets of two or more points about their chunklet's mean."""
    sizes = frame["chunk"].value_counts()
    used = frame[frame["chunk"].isin(sizes[sizes >= 2].index)]
    X = used[FEATURES].to_numpy()
    residual = X - used.groupby("chunk")[FEATURES].transform("mean").to_numpy()
    return np.linalg.inv(residual.T @ residual / len(X))


def _kissme(frame: pd.DataFrame, pairs: pd.DataFrame) -> np.ndarray:
    """KISSME with α = 0 (Köstinger et al. 2012, eqs. 10-12): Π₊(Σ_S⁻¹ - Σ_D⁻¹)."""
    X = frame.set_index("rid")[FEATURES]
    diff = X.loc[pairs["a"]].to_numpy() - X.loc[pairs["b"]].to_numpy()
    similar = pairs["y"].to_numpy() == 1
    S, D = (diff[m].T @ diff[m] / m.sum() for m in (similar, ~similar))
    values, vectors = np.linalg.eigh(np.linalg.inv(S) - np.linalg.inv(D))
    return (vectors * np.maximum(values, 0.0)) @ vectors.T


@pytest.mark.parametrize("learner", ["covariance", "rca", "kissme"])
@pytest.mark.parametrize("engine", ENGINES)
def test_fit_closed_form(cli, request, rows, tmp_path, engine, learner):
    data, options = _engine(request, engine, rows)
    frame = rows["frame"]
    if learner == "covariance":
        supervision = []
        expected = np.linalg.inv(np.cov(frame[FEATURES].to_numpy(), rowvar=False))
    elif learner == "rca":
        supervision = ["--chunks", "chunk"]
        expected = _within_chunklets(frame)
    else:  # pairs named by id, their two points mostly in different files
        rng = np.random.default_rng(3)
        a, b = np.unique(np.sort(rng.integers(0, len(frame), (500, 2)), axis=1), axis=0).T
        a, b = a[a != b], b[a != b]
        species, ids = frame["species"].to_numpy(), frame["rid"].to_numpy()
        pairs = pd.DataFrame({"a": ids[a], "b": ids[b], "y": np.where(species[a] == species[b], 1, -1)})
        pairs.to_csv(tmp_path / "pairs.csv", index=False)
        supervision = ["--pairs", tmp_path / "pairs.csv", "--id", "rid", "--regularization", "0"]
        expected = _kissme(frame, pairs)
    out = tmp_path / "fitted"
    run = cli("fit", learner, data, *supervision, "--features", ",".join(FEATURES), "-o", out, *options)
    assert run.exit_code == 0, run.stderr
    M = np.load(out / "M.npy")
    np.testing.assert_allclose(M, expected, rtol=1e-9, atol=1e-9 * np.abs(expected).max())
