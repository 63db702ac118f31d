"""``metricli fit nca|lmnn|mlkr`` through the real command line, on the shipped data."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from metricli.cli import app
from metricli.evaluation import knn_classify, stratified_folds
from metricli.io.bundle import load_bundle

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"


def fit(*args: str):
    return CliRunner().invoke(app, ["fit", *args])


def assert_psd(M: np.ndarray) -> None:
    np.testing.assert_allclose(M, M.T, atol=1e-12 * np.abs(M).max())
    values = np.linalg.eigvalsh(M)
    assert values.min() >= -1e-10 * values.max()


@pytest.mark.parametrize("algo", ["nca", "lmnn"])
def test_fit_on_iris_writes_a_psd_metric_and_an_honest_fit_report(algo, tmp_path):
    out = tmp_path / "bundle"
    result = fit(
        algo,
        str(SAMPLE / "iris.csv"),
        "--label",
        "species",
        "--standardize",
        "--seed",
        "0",
        "-o",
        str(out),
        "--json",
    )
    assert result.exit_code == 0, result.output
    bundle = load_bundle(out)
    assert_psd(bundle.M)
    report = bundle.metadata["fit"]
    assert report["converged"] is True
    assert 1 <= report["iterations"] <= bundle.metadata["params"]["max_iter"]
    assert report["objective"] == report["objective_history"][-1]
    assert json.loads(result.stdout)["verdict"] == "metric"


@pytest.mark.parametrize("algo", ["nca", "lmnn"])
def test_learned_metric_beats_euclidean_knn_on_held_out_wine(algo, tmp_path):
    # fit through the CLI on 4/5 of the rows, score kNN (k=3) on the held-out fifth, 5 times
    frame = pd.read_csv(SAMPLE / "wine.csv")
    labels = frame["cultivar"].to_numpy()
    X = frame.drop(columns="cultivar").to_numpy(dtype=float)
    learned, euclidean = [], []
    for f, test in enumerate(stratified_folds(labels, 5, 0)):
        train = np.setdiff1d(np.arange(len(labels)), test)
        path = tmp_path / f"train{f}.csv"
        frame.iloc[train].to_csv(path, index=False)
        result = fit(
            algo, str(path), "--label", "cultivar", "--standardize", "-o", str(tmp_path / f"b{f}"), "-q"
        )
        assert result.exit_code == 0, result.output
        L = load_bundle(tmp_path / f"b{f}").L  # applies to the raw features
        learned.append(np.mean(knn_classify(X[train] @ L.T, labels[train], X[test] @ L.T) == labels[test]))
        scale = X[train].std(axis=0)
        plain = knn_classify(X[train] / scale, labels[train], X[test] / scale)
        euclidean.append(np.mean(plain == labels[test]))
    # measured: nca 0.972, lmnn 0.983, standardized Euclidean 0.944
    assert np.mean(learned) >= np.mean(euclidean) + 0.02


def test_mlkr_on_diabetes_learns_its_target(tmp_path):
    out = tmp_path / "bundle"
    result = fit(
        "mlkr", str(SAMPLE / "diabetes.csv"), "--target", "progression", "--standardize", "-o", str(out), "-q"
    )
    assert result.exit_code == 0, result.output
    bundle = load_bundle(out)
    assert_psd(bundle.M)
    assert bundle.metadata["input"]["target"] == "progression"
    assert "progression" not in bundle.feature_names
    report = bundle.metadata["fit"]
    assert report["converged"] is True
    # the leave-one-out kernel regression error (in squared target units) falls well below its start
    history = report["objective_history"]
    assert history[-1] < 0.75 * history[0]
    assert all(b <= a * (1 + 1e-12) for a, b in itertools.pairwise(history))


def small_class_table(tmp_path, labels):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.standard_normal((len(labels), 2)), columns=["u", "v"])
    frame["kind"] = labels
    path = tmp_path / "small.csv"
    frame.to_csv(path, index=False)
    return path


def test_lmnn_k_too_large_for_a_class_fits_with_a_note(tmp_path):
    path = small_class_table(tmp_path, ["a"] * 6 + ["b"] * 3)
    result = fit("lmnn", str(path), "--label", "kind", "--k", "3", "-o", str(tmp_path / "b"))
    assert result.exit_code == 0, result.stderr
    assert "class 'b' (3 points) has too few points for k=3 target neighbours" in result.stderr
    assert (tmp_path / "b").exists()


def test_lmnn_a_one_point_class_is_a_one_line_error(tmp_path):
    path = small_class_table(tmp_path, ["a"] * 6 + ["lonely"])
    result = fit("lmnn", str(path), "--label", "kind", "--k", "3", "-o", str(tmp_path / "b"))
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"metricli: error: {path}: lmnn: class 'lonely' has a single point, which has no target "
        "neighbour; drop that class"
    )
    assert not (tmp_path / "b").exists()


def test_help_lists_the_solver_options():
    for algo in ("nca", "lmnn", "mlkr"):
        text = CliRunner().invoke(app, ["fit", algo, "--help"], terminal_width=200).output
        for flag in ("--n-components", "--init", "--max-iter", "--tol", "--block-size", "--seed"):
            assert flag in text
    assert "--regularization" in CliRunner().invoke(app, ["fit", "lmnn", "--help"], terminal_width=200).output


@pytest.mark.parametrize(("solver", "expected"), [("stochastic", "stochastic"), ("auto", "full")])
def test_the_bundle_records_the_solver_and_why(solver, expected, tmp_path):
    out = tmp_path / "bundle"
    result = fit(
        "nca",
        str(SAMPLE / "wine.csv"),
        "--label",
        "cultivar",
        "--standardize",
        "--solver",
        solver,
        "--seed",
        "0",
        "-o",
        str(out),
    )
    assert result.exit_code == 0, result.output
    report = load_bundle(out).metadata["fit"]
    assert report["solver"] == expected
    reason = "asked for (--solver stochastic)" if solver == "stochastic" else "auto: 178 points <= 20,000"
    assert report["solver_reason"].startswith(reason)


def test_auto_above_its_threshold_runs_stochastic_and_the_bundle_says_why(tmp_path, monkeypatch):
    # the threshold lowered below wine's 178 points, so that auto's other branch runs on small data
    monkeypatch.setattr("metricli.learners.stochastic.AUTO_FULL_UP_TO", 100)
    out = tmp_path / "bundle"
    args = ["--label", "cultivar", "--standardize", "--seed", "0", "-o", str(out)]
    result = fit("lmnn", str(SAMPLE / "wine.csv"), *args)
    assert result.exit_code == 0, result.output
    report = load_bundle(out).metadata["fit"]
    assert report["solver"] == "stochastic"
    assert report["solver_reason"].startswith("auto: 178 points > 100")


def test_a_solver_out_of_range_is_one_line(tmp_path):
    result = fit(
        "lmnn", str(SAMPLE / "iris.csv"), "--label", "species", "--batch-size", "0", "-o", str(tmp_path / "b")
    )
    assert result.exit_code == 2
    assert "lmnn: batch_size must be a positive whole number, got 0" in result.output
    assert not (tmp_path / "b").exists()
