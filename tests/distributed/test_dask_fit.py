"""fit --engine dask for every learner that decomposes over partitions, against one machine."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ..conftest import assert_one_line_error

pytest.importorskip("dask.dataframe", reason="the dask extra is not installed")

FEATURES = ["--features", "sepal_length,sepal_width,petal_length,petal_width"]


def fit_both(cli, on_cluster, copies, tmp_path, *args):
    folder, whole, _ = copies
    local, remote = tmp_path / "local", tmp_path / "remote"
    run = cli("fit", *args[:1], whole, *args[1:], *FEATURES, "-o", local)
    assert run.exit_code == 0, run.stderr
    run = cli("fit", *args[:1], folder, *args[1:], *FEATURES, "-o", remote, *on_cluster)
    assert run.exit_code == 0, run.stderr
    M_local, M_remote = np.load(local / "M.npy"), np.load(remote / "M.npy")
    np.testing.assert_allclose(M_remote, M_local, rtol=1e-10, atol=1e-10 * np.abs(M_local).max())
    meta = json.loads((remote / "metadata.json").read_text())
    local_meta = json.loads((local / "metadata.json").read_text())
    assert meta["input"]["engine"] == "dask"
    assert meta["input"].get("constraints") == local_meta["input"].get("constraints")
    return meta


def test_rca_from_a_chunk_column_whose_chunklets_span_partitions(cli, on_cluster, copies, tmp_path):
    _, _, frame = copies
    meta = fit_both(cli, on_cluster, copies, tmp_path, "rca", "--chunks", "chunk")
    chunked = frame["chunk"].notna()
    assert meta["input"]["constraints"]["points_in_chunks"] == int(chunked.sum())
    sizes = frame.loc[chunked, "chunk"].value_counts()
    assert meta["input"]["rows_used"] == int(sizes[sizes >= 2].sum())


def test_rca_from_chunks_drawn_from_labels(cli, on_cluster, copies, tmp_path):
    fit_both(
        cli, on_cluster, copies, tmp_path, "rca", "--label", "species", "--chunk-size", "3", "--seed", "4"
    )


def test_kissme_from_pairs_drawn_from_labels(cli, on_cluster, copies, tmp_path):
    fit_both(cli, on_cluster, copies, tmp_path, "kissme", "--label", "species", "--seed", "2")


def test_kissme_from_a_pairs_file_by_id(cli, on_cluster, copies, tmp_path):
    """Pairs named by id, with points in different partitions: their rows are gathered."""
    _, _, frame = copies
    rng = np.random.default_rng(5)
    a, b = rng.integers(0, len(frame), 400), rng.integers(0, len(frame), 400)
    keep = a != b
    species = frame["species"].to_numpy()
    y = np.where(species[a] == species[b], 1, -1)[keep]
    pairs = tmp_path / "pairs.csv"
    ids = frame["rid"].to_numpy()
    pairs.write_text(
        "a,b,y\n" + "".join(f"{i},{j},{v}\n" for i, j, v in zip(ids[a[keep]], ids[b[keep]], y, strict=True))
    )
    meta = fit_both(cli, on_cluster, copies, tmp_path, "kissme", "--pairs", pairs, "--id", "rid")
    assert meta["input"]["rows_used"] == len(np.unique(np.r_[a[keep], b[keep]]))


def test_learners_without_a_decomposition_have_no_engine(cli, copies, tmp_path):
    folder, _, _ = copies
    run = cli("fit", "lfda", folder, "--label", "species", "-o", tmp_path / "o", "--engine", "dask")
    assert run.exit_code == 2 and "--engine" in run.stderr
    helptext = cli("fit", "--help").stdout
    assert "LFDA" in helptext and "SELF" in helptext and "kissme" in helptext


def test_unavailable_options_and_bad_partitions(cli, on_cluster, copies, tmp_path):
    folder, _, _ = copies
    assert_one_line_error(
        cli("fit", "covariance", folder, *FEATURES, "--standardize", "-o", tmp_path / "o", *on_cluster),
        "--standardize is not available with --engine dask",
    )
    assert_one_line_error(
        cli("fit", "rca", folder, *FEATURES, "--chunks", "nope", "-o", tmp_path / "o", *on_cluster),
        "no column 'nope'",
    )
    assert not (tmp_path / "o").exists()
