"""--engine dask without Dask installed: one line naming the extra; the rest is unaffected."""

import sys

from ..conftest import IRIS, assert_one_line_error


def test_missing_dask_names_the_extra(cli, tmp_path, monkeypatch):
    bundle = tmp_path / "B"
    assert cli("fit", "covariance", IRIS, "--label", "species", "-o", bundle).exit_code == 0
    monkeypatch.setitem(sys.modules, "dask", None)
    monkeypatch.setitem(sys.modules, "dask.dataframe", None)
    monkeypatch.setitem(sys.modules, "distributed", None)
    run = cli("transform", bundle, IRIS, "-o", tmp_path / "out", "--engine", "dask")
    assert_one_line_error(run, "pip install 'metricli[dask]'")
    assert not (tmp_path / "out").exists()
    # the local engine does not need it
    assert cli("transform", bundle, IRIS, "-o", tmp_path / "e.csv").exit_code == 0


def test_bad_engine_options(cli, tmp_path):
    bundle = tmp_path / "B"
    assert cli("fit", "covariance", IRIS, "--label", "species", "-o", bundle).exit_code == 0
    assert_one_line_error(
        cli("transform", bundle, IRIS, "--engine", "spark", "-o", tmp_path / "o"), "unknown engine 'spark'"
    )
    assert_one_line_error(
        cli("transform", bundle, IRIS, "--scheduler", "tcp://127.0.0.1:1", "-o", tmp_path / "o"),
        "--scheduler goes with --engine dask",
    )


def test_every_dask_command_names_the_extra_when_dask_is_missing(cli, tmp_path, monkeypatch):
    bundle = tmp_path / "B"
    assert cli("fit", "covariance", IRIS, "--label", "species", "-o", bundle).exit_code == 0
    monkeypatch.setitem(sys.modules, "dask", None)
    monkeypatch.setitem(sys.modules, "dask.dataframe", None)
    monkeypatch.setitem(sys.modules, "distributed", None)
    out = tmp_path / "out"
    for args in (
        ["distance", bundle, IRIS, "--to", IRIS, "-o", out],
        ["neighbors", bundle, IRIS, "--query", IRIS, "-k", "2", "-o", out],
        ["evaluate", bundle, IRIS, "--reference", IRIS, "--label", "species"],
        ["check", bundle, "--data", IRIS],
        ["fit", "covariance", IRIS, "--label", "species", "-o", out],
        ["fit", "rca", IRIS, "--label", "species", "-o", out],
        ["fit", "kissme", IRIS, "--label", "species", "-o", out],
    ):
        assert_one_line_error(cli(*args, "--engine", "dask"), "pip install 'metricli[dask]'")
    assert not out.exists()
