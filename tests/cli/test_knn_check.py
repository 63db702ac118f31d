"""The held-out check every fit with labels runs: learned metric against Euclidean kNN."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from metricli.cli import app
from metricli.evaluation import KNN_CHECK_MARGIN, KnnCheck, knn_check, knn_classify, stratified_folds
from tests.conftest import FGL, WINE


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
    # one round of five refits, each on the four other folds (72 rows): a difference of
    # exactly 0 on every refit leaves no doubt, so no second round
    assert (check.n_splits, check.n_rows, check.k) == (5, 90, 3)
    assert [len(t) for t in seen] == [72] * 5


def test_a_metric_that_drops_the_signal_is_worse_by_the_expected_amount():
    X, y = signal_and_noise()
    check = knn_check(lambda train: np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]), X, y, seed=4)
    # Euclidean: feature 0 separates the groups (gaps of 10 against noise of 0.5 and 1)
    assert check.euclidean == 1.0
    # the learned space is pure noise: the same accuracy as kNN on features 1-2, fold by fold
    expected = []
    for test in stratified_folds(y.astype(str), 5, 4):
        train = np.setdiff1d(np.arange(90), test)
        expected.append(np.mean(knn_classify(X[train][:, 1:], y[train], X[test][:, 1:], 3) == y[test]))
    assert check.learned == pytest.approx(np.mean(expected), abs=1e-15)
    assert check.n_splits == 5  # far beyond the margin: one round settles it
    # one round: the standard error of the mean difference from the five refits' spread
    assert check.error == pytest.approx(np.std(expected, ddof=1) / np.sqrt(5), abs=1e-15)
    assert check.learned < 0.7 and check.worse
    assert check.learned < check.euclidean - KNN_CHECK_MARGIN


def borderline(n=90, seed=0):
    """Feature 0 carries the class (means 1.5 apart, unit noise), feature 1 is noise; a metric
    that shrinks feature 0 to 0.3 scores within a point of Euclidean on average (-0.1 points
    over 40 refits), a few points either way from fold to fold: a verdict in doubt."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.array(["a", "b", "c"]), n // 3)
    X = np.column_stack([np.repeat([0.0, 1.5, 3.0], n // 3) + rng.normal(size=n), rng.normal(size=n)])
    return X, y.astype(object), np.diag([0.3, 1.0])


def test_rounds_repeat_on_new_folds_while_the_verdict_is_in_doubt():
    X, y, L = borderline()
    seen = []
    check = knn_check(lambda train: (seen.append(tuple(train)), L)[1], X, y, seconds=np.inf)
    # the difference stays within two standard errors of the margin: every round is run
    assert check.n_splits == 8 * 5 == len(seen)
    assert abs(check.learned - check.euclidean) < 0.03
    assert not check.worse
    # each round deals the rows anew: no training set repeats
    assert len(set(seen)) == len(seen)


def test_a_loss_near_the_margin_is_noted_unless_a_standard_error_clear_of_it():
    """The note is read off the check's own estimate: a mean loss of 2.5 points with a
    standard error of 0.6 may well be a loss of more than 3 (KISSME on pima: -2.5 ± 0.6
    on the check's 40 refits, -3.2 in the harness); with 0.4 it is a standard error clear."""
    near = dict(learned=0.700, euclidean=0.725, n_rows=768, n_splits=40, k=3)
    assert KnnCheck(**near, error=0.006).worse
    assert not KnnCheck(**near, error=0.004).worse
    assert KnnCheck(**near, error=0.006).as_dict()["standard_error"] == 0.006
    # a clear loss is noted however small the error, a clear gain never
    assert KnnCheck(0.60, 0.70, 100, 5, 3, error=0.0).worse
    assert not KnnCheck(0.70, 0.70, 100, 5, 3, error=0.02).worse


def test_no_new_round_once_the_time_is_spent():
    X, y, L = borderline()
    ticks = iter(range(0, 1000, 3))  # each reading of the clock: 3 s later
    check = knn_check(lambda train: L, X, y, seconds=5.0, clock=lambda: next(ticks))
    # started at 0; after the first round the clock reads 3 s (go on), after the second 6 s
    assert check.n_splits == 10


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
    assert check.n_rows == 300 and sizes == [240] * 5


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
    assert (
        "the learned metric scored" in result.stderr
        and "--no-knn-check (or METRICLI_KNN_CHECK=0) skips" in result.stderr
    )
    check = json.loads((tmp_path / "m" / "metadata.json").read_text())["fit"]["knn_check"]
    assert check["euclidean_accuracy"] == 1.0
    assert check["learned_accuracy"] < check["euclidean_accuracy"] - 0.03
    assert check["refits"] % 5 == 0 and check["rows"] == 120


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


def run_fit(*args):
    return CliRunner().invoke(app, ["fit", *map(str, args)])


def test_fit_notes_kissme_below_euclidean_on_glass(tmp_path, monkeypatch):
    """Real data (MASS's fgl glass fragments, 214 rows, 6 types, standardized): KISSME
    scores about 9 points below Euclidean kNN on held-out rows (.636 against .729)."""
    monkeypatch.delenv("METRICLI_KNN_CHECK", raising=False)
    result = run_fit("kissme", FGL, "--label", "type", "--standardize", "-o", tmp_path / "m")
    assert result.exit_code == 0, result.stderr
    assert "the learned metric scored" in result.stderr
    check = json.loads((tmp_path / "m" / "metadata.json").read_text())["fit"]["knn_check"]
    assert check["learned_accuracy"] < check["euclidean_accuracy"] - 0.05
    # and --no-knn-check skips it
    result = run_fit(
        "kissme", FGL, "--label", "type", "--standardize", "--no-knn-check", "-o", tmp_path / "n"
    )
    assert result.exit_code == 0, result.stderr
    assert "the learned metric scored" not in result.stderr
    assert json.loads((tmp_path / "n" / "metadata.json").read_text())["fit"]["knn_check"] is None


def test_no_note_for_lfda_on_wine_where_it_beats_euclidean(tmp_path, monkeypatch):
    monkeypatch.delenv("METRICLI_KNN_CHECK", raising=False)
    result = run_fit("lfda", WINE, "--label", "cultivar", "--standardize", "-o", tmp_path / "m")
    assert result.exit_code == 0, result.stderr
    assert "the learned metric scored" not in result.stderr
    check = json.loads((tmp_path / "m" / "metadata.json").read_text())["fit"]["knn_check"]
    assert check["learned_accuracy"] > check["euclidean_accuracy"] + 0.01
