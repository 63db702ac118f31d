"""--engine dask reads what the local engine reads: CSV/TSV files (gzipped too) in a folder or
a glob, one partition per file, the same column rules; errors name the file and its row."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ..conftest import assert_one_line_error
from .conftest import read_folder

pytest.importorskip("dask.dataframe", reason="the dask extra is not installed")

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


@pytest.fixture
def gzipped(copies, tmp_path):
    """The rows of ``copies`` as three gzipped CSV files (sizes 250, 1 and 349; names that
    sort differently as text: part-2 comes before part-10), and their concatenation."""
    _, _, frame = copies
    folder = tmp_path / "csv"
    folder.mkdir()
    for name, (a, b) in zip(
        ["part-1", "part-2", "part-10"], [(0, 250), (250, 251), (251, len(frame))], strict=True
    ):
        frame.iloc[a:b].to_csv(folder / f"{name}.csv.gz", index=False)
    (folder / "_SUCCESS").write_text("")
    whole = tmp_path / "whole.csv"
    frame.to_csv(whole, index=False)
    return folder, whole, frame


@pytest.mark.parametrize("glob", [False, True], ids=["folder", "glob"])
def test_transform_of_gzipped_csv_files_matches_local_on_their_concatenation(
    cli, on_cluster, bundle, gzipped, tmp_path, glob
):
    folder, whole, frame = gzipped
    data = f"{folder}/*.csv.gz" if glob else folder
    out, local = tmp_path / "out", tmp_path / "local.csv"
    run = cli("transform", bundle, data, "-o", out, "--keep", "rid", "--json", *on_cluster)
    assert run.exit_code == 0, run.stderr
    assert json.loads(run.stdout)["rows"] == len(frame)
    assert cli("transform", bundle, whole, "-o", local, "--keep", "rid").exit_code == 0
    got, expected = read_folder(out), pd.read_csv(local)
    assert got["rid"].tolist() == expected["rid"].tolist()  # same rows, same order
    values = [c for c in expected.columns if c != "rid"]
    np.testing.assert_allclose(got[values].to_numpy(), expected[values].to_numpy(), rtol=1e-10, atol=1e-10)


def test_neighbors_in_gzipped_csv_reference_match_local(cli, on_cluster, bundle, gzipped, tmp_path):
    folder, whole, frame = gzipped
    queries = tmp_path / "q.csv"
    frame.iloc[::37].to_csv(queries, index=False)
    out, local = tmp_path / "out.csv", tmp_path / "local.csv"
    args = ("--query", queries, "-k", "4", "--id", "rid")
    run = cli("neighbors", bundle, folder, *args, "-o", out, *on_cluster)
    assert run.exit_code == 0, run.stderr
    assert cli("neighbors", bundle, whole, *args, "-o", local).exit_code == 0
    got, expected = pd.read_csv(out), pd.read_csv(local)
    assert list(got.columns) == list(expected.columns)
    keys = ["query", "rank", "reference"]
    for key in keys:  # ties everywhere (every point has 3 exact copies), broken by global row
        assert got[key].astype(str).tolist() == expected[key].astype(str).tolist(), key
    np.testing.assert_allclose(got["d"], expected["d"], rtol=1e-10, atol=1e-10)


def test_an_error_names_the_file_and_its_row(cli, on_cluster, bundle, gzipped, tmp_path):
    folder, _, frame = gzipped
    bad = frame.iloc[251:].astype({"petal_width": object})
    bad.iloc[7, bad.columns.get_loc("petal_width")] = "wide"
    bad.to_csv(folder / "part-10.csv.gz", index=False)
    run = cli("transform", bundle, folder, "-o", tmp_path / "out", *on_cluster)
    # row 7 of that file (line 9, after the header), as reading the file alone would say
    assert_one_line_error(run, "part-10.csv.gz", "'petal_width'", "row 7 (line 9)")
    assert not (tmp_path / "out").exists()


def test_a_file_without_a_feature_is_named(cli, on_cluster, bundle, gzipped, tmp_path):
    folder, _, frame = gzipped
    frame.iloc[:5].drop(columns="sepal_width").to_csv(folder / "part-3.csv.gz", index=False)
    run = cli("transform", bundle, folder, "-o", tmp_path / "out", *on_cluster)
    assert_one_line_error(run, "part-3.csv.gz", "no column 'sepal_width'")


@pytest.mark.parametrize("operation", ["transform", "distances", "neighbors", "evaluate"])
def test_the_library_functions_give_the_same_numbers_on_both_engines(
    client, bundle, gzipped, tmp_path, operation
):
    """metricli.transform / distances / neighbors / evaluate: engine="dask" on the gzipped
    folder equals engine="local" on the one file of the same rows."""
    import metricli

    folder, whole, frame = gzipped
    other = tmp_path / "other.csv"
    frame.iloc[::50].to_csv(other, index=False)
    call = {
        "transform": lambda data, **e: metricli.transform(bundle, data, keep=["rid"], **e),
        "distances": lambda data, **e: metricli.distances(bundle, data, other, id_column="rid", **e),
        "neighbors": lambda data, **e: metricli.neighbors(bundle, data, other, k=5, id_column="rid", **e),
        "evaluate": lambda data, **e: metricli.evaluate(bundle, data, other, label="species", **e),
    }[operation]
    local = call(str(whole))
    remote = call(str(folder), engine="dask", scheduler=client.scheduler.address)
    if operation == "evaluate":
        assert remote.pop("engine") == "dask"
        assert remote.pop("test") == str(folder) and local.pop("test") == str(whole)
        assert remote == local
        return
    assert list(remote.columns) == list(local.columns) and len(remote) == len(local) > 0
    keys = {"transform": ["rid"], "distances": ["i", "j"], "neighbors": ["query", "rank", "reference"]}[
        operation
    ]
    for key in keys:
        assert remote[key].astype(str).tolist() == local[key].astype(str).tolist(), key
    values = [c for c in local.columns if c not in keys]
    np.testing.assert_allclose(
        remote[values].to_numpy(float), local[values].to_numpy(float), rtol=1e-10, atol=1e-10
    )


@pytest.mark.parametrize(
    ("given", "decimal"),
    [(False, "."), (True, "."), (False, ",")],
    ids=["sniffed", "given", "decimal-commas"],
)
def test_csv_files_separated_by_semicolons_read_as_locally(
    cli, on_cluster, bundle, copies, tmp_path, given, decimal
):
    # the workers are handed each file's separator and decimal mark: --delimiter is known only
    # to the client
    _, _, frame = copies
    folder = tmp_path / "semi"
    folder.mkdir()
    for name, (a, b) in zip(["part-1", "part-2"], [(0, 200), (200, len(frame))], strict=True):
        frame.iloc[a:b].to_csv(folder / f"{name}.csv", sep=";", decimal=decimal, index=False)
    whole = tmp_path / "whole.csv"
    frame.to_csv(whole, index=False)
    out, local = tmp_path / "out", tmp_path / "local.csv"
    options = ["--delimiter", ";"] if given else []
    run = cli("transform", bundle, folder, "-o", out, "--keep", "rid", *options, *on_cluster)
    assert run.exit_code == 0, run.stderr
    assert ("read with delimiter ';'" in run.stderr) is not given
    assert cli("transform", bundle, whole, "-o", local, "--keep", "rid").exit_code == 0
    got, expected = read_folder(out), pd.read_csv(local)
    assert got["rid"].tolist() == expected["rid"].tolist()
    np.testing.assert_allclose(got.drop(columns="rid"), expected.drop(columns="rid"), rtol=1e-12)
