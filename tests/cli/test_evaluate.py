"""``metricli evaluate``: cross-validation and held-out scoring, against the same work done by hand."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from metricli.cli import app
from metricli.cli.evaluate import _cross_validation_parameters, run_cross_validation
from metricli.cli.learner_options import make_command
from metricli.evaluation import kfold, knn_classify, knn_regress, stratified_folds
from metricli.kernels import sq_distances
from metricli.learners import Covariance
from metricli.learners.base import MahalanobisLearner

DATA = Path(__file__).resolve().parents[2] / "sample_data"
IRIS = DATA / "iris.csv"
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def run(*args: str, runner_app=app):
    return CliRunner().invoke(runner_app, [str(a) for a in args])


def iris() -> tuple[np.ndarray, np.ndarray]:
    frame = pd.read_csv(IRIS)
    return frame[FEATURES].to_numpy(), frame["species"].to_numpy(dtype=object)


def map_at_r_by_hand(Z_train: np.ndarray, y_train: np.ndarray, Z_test: np.ndarray, y_test: np.ndarray):
    """precision@1, R-precision and MAP@R, one query at a time from the definitions.

    Distances come from the kernel, not from the differences: iris has many exact ties in
    its raw features, and two ways of rounding would order such ties differently.
    """
    p1, r_precision, ap = [], [], []
    for d, label in zip(sq_distances(Z_test, Z_train), y_test, strict=True):
        ranked = y_train[np.argsort(d, kind="stable")]
        R = int(np.sum(y_train == label))
        relevant = ranked[:R] == label
        p1.append(float(ranked[0] == label))
        r_precision.append(relevant.mean())
        ap.append(sum(relevant[:i].sum() / i for i in range(1, R + 1) if relevant[i - 1]) / R)
    return np.mean(p1), np.mean(r_precision), np.mean(ap)


@pytest.mark.parametrize("standardize", [False, True])
def test_cross_validation_of_covariance_on_iris_equals_each_fold_done_by_hand(standardize):
    args = ["evaluate", "covariance", IRIS, "--label", "species", "--cv", "5", "--json"]
    result = run(*args, *(["--standardize"] if standardize else []))
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    X, y = iris()
    folds = stratified_folds(y.astype(str), 5, seed=0)
    assert [f["n_test"] for f in report["folds"]] == [len(t) for t in folds]
    for fold, test in zip(report["folds"], folds, strict=True):
        train = np.setdiff1d(np.arange(150), test)
        X_train, X_test = X[train], X[test]
        if standardize:
            mean, std = X_train.mean(axis=0), X_train.std(axis=0)
            X_train, X_test = (X_train - mean) / std, (X_test - mean) / std
        L = Covariance().fit(X_train).components_
        for space, (Z_train, Z_test) in {
            "learned": (X_train @ L.T, X_test @ L.T),
            "euclidean": (X_train, X_test),
        }.items():
            accuracy = np.mean(knn_classify(Z_train, y[train], Z_test, 3) == y[test])
            assert fold[space]["accuracy"] == accuracy
            p1, r_precision, map_at_r = map_at_r_by_hand(Z_train, y[train], Z_test, y[test])
            assert fold[space]["precision_at_1"] == pytest.approx(p1, abs=1e-12)
            assert fold[space]["r_precision"] == pytest.approx(r_precision, abs=1e-12)
            assert fold[space]["map_at_r"] == pytest.approx(map_at_r, abs=1e-12)
    accuracies = [f["learned"]["accuracy"] for f in report["folds"]]
    assert report["summary"]["learned"]["accuracy"]["mean"] == pytest.approx(np.mean(accuracies), abs=1e-15)
    assert report["summary"]["learned"]["accuracy"]["std"] == pytest.approx(np.std(accuracies), abs=1e-15)


def test_cross_validation_with_a_target_reports_knn_regression_error():
    result = run(
        "evaluate", "covariance", DATA / "diabetes.csv", "--target", "progression", "--cv", "4", "--json"
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    frame = pd.read_csv(DATA / "diabetes.csv")
    X, t = frame.drop(columns="progression").to_numpy(), frame["progression"].to_numpy(float)
    assert report["task"] == "regression"
    for fold, test in zip(report["folds"], kfold(len(t), 4, seed=0), strict=True):
        train = np.setdiff1d(np.arange(len(t)), test)
        L = Covariance().fit(X[train]).components_
        predicted = knn_regress(X[train] @ L.T, t[train], X[test] @ L.T, 3)
        assert fold["learned"]["rmse"] == pytest.approx(
            np.sqrt(np.mean((predicted - t[test]) ** 2)), rel=1e-12
        )
        assert fold["learned"]["mae"] == pytest.approx(np.mean(np.abs(predicted - t[test])), rel=1e-12)


def test_human_output_shows_learned_beside_euclidean():
    result = run("evaluate", "covariance", IRIS, "--label", "species", "--cv", "3")
    assert result.exit_code == 0, result.output
    assert "learned kNN accuracy" in result.stdout and "Euclidean kNN accuracy" in result.stdout
    assert "MAP@R" in result.stdout and " ± " in result.stdout


def test_a_figure_no_fold_defines_is_shown_as_a_dash_never_nan(tmp_path):
    # every class has one row: no test row's class is in its training part
    data = tmp_path / "unique.csv"
    data.write_text("a,b,y\n1,2,p\n3,4,q\n5,7,r\n6,1,s\n")
    result = run("evaluate", "covariance", data, "--label", "y", "--cv", "2", "-k", "1")
    assert result.exit_code == 0, result.output
    assert "nan" not in result.stdout.lower()
    rows = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines() if line.strip()}
    assert rows["R-precision"] == ["-", "-"] and rows["MAP@R"] == ["-", "-"]
    assert rows["precision@1"] == ["0.0000", "±", "0.0000", "0.0000", "±", "0.0000"]


@pytest.mark.parametrize("standardize", [False, True])
def test_a_fitted_bundle_scored_on_held_out_rows_streamed_in_batches(tmp_path, standardize):
    frame = pd.read_csv(IRIS)
    train, test = tmp_path / "train.csv", tmp_path / "test.parquet"
    frame.iloc[::2].to_csv(train, index=False)
    frame.iloc[1::2].to_parquet(test)
    bundle = tmp_path / "model"
    fit = ["fit", "covariance", train, "-o", bundle, "--quiet"]
    assert run(*fit, *(["--standardize"] if standardize else [])).exit_code == 0
    predictions = tmp_path / "pred.csv"
    args = ["--reference", train, "--label", "species", "--json"]
    first = run("evaluate", bundle, test, *args, "--batch-rows", "7", "--predictions", predictions)
    second = run("evaluate", "bundle", bundle, test, *args)
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    a, b = json.loads(first.stdout), json.loads(second.stdout)
    for side in ("learned", "euclidean"):  # batches only change the order of the sums
        assert a[side] == pytest.approx(b[side], rel=1e-12)

    X, y = iris()
    L = np.load(bundle / "L.npy")
    predicted = knn_classify(X[::2] @ L.T, y[::2], X[1::2] @ L.T, 3)
    assert a["learned"]["accuracy"] == np.mean(predicted == y[1::2])
    # the Euclidean baseline sees the features as the bundle was fitted: standardized or not
    scale = X[::2].std(axis=0) if standardize else 1.0
    euclidean = knn_classify(X[::2] / scale, y[::2], X[1::2] / scale, 3)
    assert a["euclidean"]["accuracy"] == np.mean(euclidean == y[1::2])
    _, r_precision, map_at_r = map_at_r_by_hand(X[::2] @ L.T, y[::2], X[1::2] @ L.T, y[1::2])
    assert a["learned"]["map_at_r"] == pytest.approx(map_at_r, abs=1e-12)
    assert a["learned"]["r_precision"] == pytest.approx(r_precision, abs=1e-12)
    written = pd.read_csv(predictions)
    assert list(written.columns) == ["row", "species", "predicted", "predicted_euclidean"]
    assert written["row"].tolist() == list(range(75))
    assert written["predicted"].tolist() == predicted.tolist()


class FakeWeak(MahalanobisLearner):
    """Records what a weakly supervised learner is given; its metric is the identity."""

    name = "fakeweak"
    supervision = "weakly-supervised"
    constraint_kinds = ("pairs",)
    summary = "test double"
    reference = "none"
    seen: list = []

    def __init__(self, random_state: int | None = None) -> None:
        self.random_state = random_state

    def fit(self, X, constraints):
        FakeWeak.seen.append((X.copy(), constraints))
        self._set_fit_result(np.eye(X.shape[1]))
        return self


def test_weak_learners_draw_constraints_from_the_training_fold_only():
    fake_app = typer.Typer()
    fake_app.callback()(lambda: None)
    parameters = _cross_validation_parameters(FakeWeak)
    assert "chunks" not in {p.name for p in parameters} and "pairs" not in {p.name for p in parameters}
    fake_app.command("fakeweak")(make_command(FakeWeak, run_cross_validation, parameters, "fakeweak", "test"))
    FakeWeak.seen.clear()
    args = ["fakeweak", IRIS, "--label", "species", "--cv", "3", "--n-constraints", "40", "--json"]
    result = run(*args, runner_app=fake_app)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    X, y = iris()
    for (X_fit, pairs), test in zip(FakeWeak.seen, stratified_folds(y.astype(str), 3, seed=0), strict=True):
        train = np.setdiff1d(np.arange(150), test)
        np.testing.assert_array_equal(X_fit, X[train])
        assert len(pairs) == 40
        assert max(pairs.a.max(), pairs.b.max()) < train.size
        same = y[train][pairs.a] == y[train][pairs.b]
        assert np.array_equal(same, pairs.y == 1)
    for fold in report["folds"]:
        assert fold["learned"] == fold["euclidean"]


def test_bad_inputs_give_one_clear_line_and_exit_2(tmp_path):
    def one_line(result) -> str:
        lines = result.stderr.strip().splitlines()
        assert result.exit_code == 2 and len(lines) == 1, result.output
        return lines[0]

    line = one_line(run("evaluate", "nosuchthing", IRIS, "--label", "species"))
    assert "'nosuchthing' is neither an algorithm (" in line and "nor a model bundle folder" in line
    line = one_line(run("evaluate", "covariance", IRIS))
    assert "needs --label (kNN accuracy) or --target (kNN regression error)" in line
    line = one_line(run("evaluate", "covariance", IRIS, "--label", "species", "-k", "121"))
    assert line.endswith("k=121 is larger than the training part of fold 1 (120 rows); choose a smaller -k")
    line = one_line(run("evaluate", "covariance", IRIS, "--label", "kind"))
    assert "no column 'kind' (from --label)" in line

    bundle = tmp_path / "model"
    assert run("fit", "covariance", IRIS, "-o", bundle, "--quiet").exit_code == 0
    test = tmp_path / "test.csv"
    pd.read_csv(IRIS).drop(columns="sepal_width").to_csv(test, index=False)
    predictions = tmp_path / "pred.csv"
    line = one_line(
        run("evaluate", bundle, test, "--reference", IRIS, "--label", "species", "--predictions", predictions)
    )
    assert "no column 'sepal_width' (a feature the metric was learned on)" in line
    assert not predictions.exists()
    line = one_line(run("evaluate", bundle, IRIS, "--reference", IRIS, "--label", "species", "-k", "151"))
    assert "k=151 is larger than" in line
