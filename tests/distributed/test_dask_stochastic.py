"""fit nca|lmnn|mlkr --engine dask: the stochastic solver over partitions, on the test cluster,
against the stochastic solver on one machine with the same seed."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from metricli.engines import Source, make_engine
from metricli.engines.fitting import fit_from_pieces
from metricli.learners import LMNN, MLKR, NCA, candidates
from metricli.learners.stochastic import APPROXIMATE_REFRESH_EVERY

from ..conftest import assert_one_line_error
from .conftest import write_partitioned

pytest.importorskip("dask.dataframe", reason="the dask extra is not installed")

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
#: few epochs, so that the test stays short; every one of them is compared
FEW = ["--max-epochs", "2", "--seed", "3", "--n-components", "3"]


@pytest.fixture(autouse=True)
def fewer_steps(monkeypatch):
    """8 steps an epoch rather than 32: the solver runs in the test's process (only the pieces'
    tasks run on the cluster), for both fits alike, and each step is a few round trips."""
    monkeypatch.setattr("metricli.learners.stochastic.MIN_STEPS_PER_EPOCH", 8)


@pytest.fixture(scope="module")
def noisy(tmp_path_factory, request):
    """iris x 2 with a little noise and a regression target, as one CSV file and as four
    Parquet files of unequal size (one empty); the rows are not in class order."""
    iris = pd.read_csv(request.config.rootpath / "sample_data" / "iris.csv")
    rng = np.random.default_rng(7)
    frame = pd.concat([iris] * 2, ignore_index=True).sample(frac=1.0, random_state=1).reset_index(drop=True)
    frame[FEATURES] = frame[FEATURES].to_numpy() + rng.normal(scale=0.05, size=(len(frame), 4))
    frame["t"] = 2.0 * frame["sepal_length"] - frame["petal_width"] + rng.normal(scale=0.3, size=len(frame))
    root = tmp_path_factory.mktemp("noisy")
    whole = root / "whole.csv"
    frame.to_csv(whole, index=False)
    folder = write_partitioned(frame, root / "parts", [0, 70, 70, 160, len(frame)])
    return folder, whole, frame


def test_nca_on_dask_gives_the_local_stochastic_metric_and_records_the_solver(
    cli, on_cluster, noisy, tmp_path
):
    folder, whole, _ = noisy
    local, remote = tmp_path / "local", tmp_path / "remote"
    run = cli("fit", "nca", whole, "--label", "species", "--solver", "stochastic", *FEW, "-o", local)
    assert run.exit_code == 0, run.stderr
    run = cli("fit", "nca", folder, "--label", "species", *FEW, "-o", remote, *on_cluster)
    assert run.exit_code == 0, run.stderr
    L_local, L_remote = np.load(local / "L.npy"), np.load(remote / "L.npy")
    assert np.max(np.abs(L_remote - L_local)) <= 1e-8 * np.max(np.abs(L_local))
    meta = json.loads((remote / "metadata.json").read_text())
    assert meta["input"]["engine"] == "dask"
    assert meta["input"]["rows_used"] == 300
    assert meta["fit"]["solver"] == "stochastic"
    assert meta["fit"]["solver_reason"].startswith("--engine dask runs the stochastic solver")
    assert meta["fit"]["iterations"] == json.loads((local / "metadata.json").read_text())["fit"]["iterations"]


def fit_here_and_there(client, noisy, cls, column: str, params: dict):
    """The learner fitted on the rows here and on the four Parquet pieces on the test cluster:
    (local learner, Dask learner, what the Dask fit read)."""
    folder, _, frame = noisy
    here = cls(**params).fit(frame[FEATURES].to_numpy(), frame[column].to_numpy())
    there = cls(**params)
    regression = cls is MLKR
    source = Source(
        str(folder),
        tuple(FEATURES),
        label=None if regression else column,
        target=column if regression else None,
    )
    with make_engine("dask", client.scheduler.address) as engine:
        done = fit_from_pieces(engine, there, source)
    return here, there, done


def assert_same_fit(here, there) -> float:
    np.testing.assert_allclose(there.objective_history_, here.objective_history_, rtol=1e-9)
    scale = np.max(np.abs(here.components_))
    assert np.max(np.abs(there.components_ - here.components_)) <= 1e-8 * scale
    return scale


@pytest.mark.parametrize(("cls", "column"), [(LMNN, "species"), (MLKR, "t")])
def test_lmnn_and_mlkr_on_dask_give_the_local_stochastic_metric(client, noisy, cls, column):
    params = {"solver": "stochastic", "random_state": 5, "max_epochs": 2, "n_components": 3}
    here, there, done = fit_here_and_there(client, noisy, cls, column, params)
    assert done == {"read": 300, "used": 300}
    assert there.n_iter_ == here.n_iter_ == 2
    scale = assert_same_fit(here, there)
    # and the metric moved from where it started: the comparison is not of two copies of the init
    frame = noisy[2]
    start = cls(**{**params, "max_epochs": 1}).fit(frame[FEATURES].to_numpy(), frame[column].to_numpy())
    assert np.max(np.abs(start.components_ - here.components_)) > 1e-3 * scale


def test_solver_full_on_dask_is_one_line(cli, on_cluster, noisy, tmp_path):
    folder, _, _ = noisy
    run = cli(
        "fit", "lmnn", folder, "--label", "species", "--solver", "full", "-o", tmp_path / "b", *on_cluster
    )
    assert_one_line_error(run, "lmnn: --solver full needs every pair of points in one place")
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize(("cls", "column"), [(NCA, "species"), (LMNN, "species"), (MLKR, "t")])
def test_approximate_candidate_lists_on_dask_give_the_local_metric(
    client, noisy, monkeypatch, request, cls, column
):
    """Above EXACT_LISTS_UP_TO points the lists come from the clustered search (epoch 1) and
    neighbour descent (epoch 3: they are refreshed every second epoch): lowered here to 0, with 15 cells of 20 points, so that the
    300 points take that path; the worker's search must find the lists the local fit finds."""
    monkeypatch.setattr("metricli.learners.stochastic.EXACT_LISTS_UP_TO", 0)
    # the Dask fit searches on a worker: the same cell size there, restored afterwards
    usual = candidates.CELL_SIZE
    monkeypatch.setattr("metricli.learners.candidates.CELL_SIZE", 20)
    client.run(_set_cell_size, 20)
    request.addfinalizer(lambda: client.run(_set_cell_size, usual))
    calls = []
    real = candidates.approximate_lists

    def counted(store, *args):
        calls.append(type(store).__name__)
        return real(store, *args)

    monkeypatch.setattr("metricli.learners.stochastic.approximate_lists", counted)
    assert APPROXIMATE_REFRESH_EVERY == 2
    params = {"solver": "stochastic", "random_state": 4, "max_epochs": 3, "n_components": 3}
    here, there, _ = fit_here_and_there(client, noisy, cls, column, params)
    assert calls == ["InMemoryPoints"] * 2 + ["PartStore"] * 2
    assert_same_fit(here, there)


def _set_cell_size(size: int) -> None:
    candidates.CELL_SIZE = size


@pytest.mark.parametrize("gathered", [True, False])
def test_chunks_of_steps_on_gathered_or_pieces_rows_give_the_local_metric(
    client, noisy, monkeypatch, gathered
):
    """An epoch's steps run in chunks on the cluster: on the training rows gathered onto one
    worker (within GATHER_BYTES), or on each chunk's rows gathered from the pieces (above it).
    Chunks of about 600 slots (a few batches each) here, so that each epoch is a chain of
    several chunks whose optimiser state passes from one to the next."""
    from metricli.engines import stochastic_fit

    monkeypatch.setattr(stochastic_fit, "GATHER_BYTES", 2**40 if gathered else 0)
    monkeypatch.setattr(stochastic_fit, "CHUNK_SLOTS", 600)
    monkeypatch.setattr(stochastic_fit, "CHUNK_BYTES", 600 * 8 * len(FEATURES))
    chunks = []
    real = stochastic_fit.chunks_of

    def counted(*args):
        for chunk in real(*args):
            chunks.append(len(chunk))
            yield chunk

    monkeypatch.setattr(stochastic_fit, "chunks_of", counted)
    params = {"solver": "stochastic", "random_state": 2, "max_epochs": 2, "n_components": 3, "k": 2}
    here, there, _ = fit_here_and_there(client, noisy, LMNN, "species", params)
    assert len(chunks) > 2 * 2 and sum(chunks) == 2 * 8  # 8 batches an epoch, in several chunks
    assert_same_fit(here, there)
