"""The held-out check every fit with labels runs: learned metric against Euclidean kNN."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from metricli.cli import app
from metricli.evaluation import KNN_CHECK_MARGIN, knn_check, knn_classify, stratified_folds


def signal_and_noise(n=90, seed=0):
    """Feature 0 carries the class (3 well separated groups); features 1-2 are noise."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.array(["a", "b", "c"]), n // 3)
    X = np.column_stack([np.repeat([0.0, 10.0, 20.0], n // 3), rng.normal(size=n), rng.normal(size=n)])
    X[:, 0] += rng.normal(scale=0.5, size=n)
    return X, y.astype(object)


def test_the_identity_metric_scores_exactly_euclidean():
    X, y = signal_and_noise()
    seen = []

    def identity(train):
        seen.append(train)
        return np.eye(3)

    check = knn_check(identity, X, y)
    assert check.learned == check.euclidean
    assert not check.worse
    assert (check.n_splits, check.n_rows, check.k) == (3, 90, 3)
    # three refits, each on the two other folds: 60 rows
    assert [len(t) for t in seen] == [60, 60, 60]


def test_a_metric_that_drops_the_signal_is_worse_by_the_expected_amount():
    X, y = signal_and_noise()
    check = knn_check(lambda train: np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]), X, y, seed=4)
    # Euclidean: feature 0 separates the groups (gaps of 10 against noise of 0.5 and 1)
    assert check.euclidean == 1.0
    # the learned space is pure noise: the same accuracy as kNN on features 1-2, fold by fold
    expected = []
    for test in stratified_folds(y.astype(str), 3, 4):
        train = np.setdiff1d(np.arange(90), test)
        expected.append(np.mean(knn_classify(X[train][:, 1:], y[train], X[test][:, 1:], 3) == y[test]))
    assert check.learned == pytest.approx(np.mean(expected), abs=1e-15)
    assert check.learned < 0.7 and check.worse
    assert check.learned < check.euclidean - KNN_CHECK_MARGIN


def test_unlabelled_rows_join_every_refit_and_are_never_scored():
    X, y = signal_and_noise()
    y[::3] = None
    given = []
    check = knn_check(lambda train: (given.append(train), np.eye(3))[1], X, y)
    unlabelled = set(np.flatnonzero([v is None for v in y]))
    for train in given:
        assert unlabelled <= set(train)
    assert check.n_rows == 60


def test_a_large_table_is_checked_on_a_stratified_sample():
    X, y = signal_and_noise(n=3000)
    sizes = []
    check = knn_check(lambda train: (sizes.append(len(train)), np.eye(3))[1], X, y, max_rows=300)
    assert check.n_rows == 300 and sizes == [200, 200, 200]


def test_no_verdict_when_a_class_is_smaller_than_the_number_of_splits():
    X, y = signal_and_noise()
    y[:28] = None  # class 'a' keeps 2 labelled rows
    assert knn_check(lambda train: np.eye(3), X, y) is None


def whitening_hurts(tmp_path):
    """Class in a high-variance feature, tiny-variance noise in three others: whitening (covariance)
    scales the noise up to the signal's size, Euclidean distance ignores it."""
    rng = np.random.default_rng(1)
    y = np.repeat(["a", "b", "c"], 40)
    frame = pd.DataFrame(
        {
            "big": np.repeat([0.0, 10.0, 20.0], 40) + rng.normal(scale=1.0, size=120),
            **{f"tiny{i}": rng.normal(scale=0.01, size=120) for i in range(3)},
            "y": y,
        }
    )
    path = tmp_path / "whiten.csv"
    frame.to_csv(path, index=False)
    return path


def test_fit_notes_a_learned_metric_worse_than_euclidean_and_records_the_check(tmp_path, monkeypatch):
    monkeypatch.delenv("METRICLI_KNN_CHECK", raising=False)
    path = whitening_hurts(tmp_path)
    result = CliRunner().invoke(
        app, ["fit", "covariance", str(path), "--label", "y", "-o", str(tmp_path / "m")]
    )
    assert result.exit_code == 0, result.stderr
    assert "the learned metric scored" in result.stderr and "METRICLI_KNN_CHECK=0 skips" in result.stderr
    check = json.loads((tmp_path / "m" / "metadata.json").read_text())["fit"]["knn_check"]
    assert check["euclidean_accuracy"] == 1.0
    assert check["learned_accuracy"] < check["euclidean_accuracy"] - 0.03
    assert check["refits"] == 3 and check["rows"] == 120


def test_no_note_when_the_metric_helps_and_none_when_switched_off(tmp_path, monkeypatch):
    path = whitening_hurts(tmp_path)
    monkeypatch.delenv("METRICLI_KNN_CHECK", raising=False)
    result = CliRunner().invoke(app, ["fit", "lfda", str(path), "--label", "y", "-o", str(tmp_path / "a")])
    assert result.exit_code == 0, result.stderr
    assert "the learned metric scored" not in result.stderr
    check = json.loads((tmp_path / "a" / "metadata.json").read_text())["fit"]["knn_check"]
    assert check["learned_accuracy"] >= check["euclidean_accuracy"] - 0.03
    monkeypatch.setenv("METRICLI_KNN_CHECK", "0")
    result = CliRunner().invoke(
        app, ["fit", "covariance", str(path), "--label", "y", "-o", str(tmp_path / "b")]
    )
    assert result.exit_code == 0
    assert "the learned metric scored" not in result.stderr
    assert json.loads((tmp_path / "b" / "metadata.json").read_text())["fit"]["knn_check"] is None
