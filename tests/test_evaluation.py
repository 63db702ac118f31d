"""Retrieval figures, batch scorers and cross-validation in metricli.evaluation."""

from __future__ import annotations

import numpy as np
import pytest

from metricli.errors import MetricliError
from metricli.evaluation import (
    ClassificationScorer,
    RegressionScorer,
    cross_validate,
    knn_classify,
    retrieval_scores,
    summarize,
)


def test_map_at_r_on_a_toy_case_matches_the_hand_computation():
    # references on a line; the query sits at 0
    reference = np.array([[1.0], [2.0], [3.0], [4.0], [5.0], [6.0]])
    labels = np.array(["a", "b", "a", "a", "b", "b"])
    scores = retrieval_scores(np.array([[0.0], [0.0], [6.5]]), np.array(["a", "b", "c"]), reference, labels)
    # query "a": R = 3, retrieved a b a -> rel 1 0 1.
    #   precision@1 = 1; R-precision = 2/3; AP@R = (1/3)(P(1) + P(3)) = (1/3)(1 + 2/3) = 5/9
    # query "b": R = 3, retrieved a b a -> rel 0 1 0.
    #   precision@1 = 0; R-precision = 1/3; AP@R = (1/3)(P(2)) = (1/3)(1/2) = 1/6
    # query "c": no reference of its class: precision@1 = 0, the others undefined
    assert scores["R"].tolist() == [3, 3, 0]
    assert scores["precision_at_1"].tolist() == [1.0, 0.0, 0.0]
    np.testing.assert_allclose(scores["r_precision"][:2], [2 / 3, 1 / 3], rtol=1e-15)
    np.testing.assert_allclose(scores["average_precision_at_r"][:2], [5 / 9, 1 / 6], rtol=1e-15)
    assert np.isnan(scores["r_precision"][2]) and np.isnan(scores["average_precision_at_r"][2])


def test_retrieval_breaks_distance_ties_by_reference_row_order():
    # all four references are at distance 1: the ranking is row order b, a, a, b
    reference = np.array([[1.0], [-1.0], [1.0], [-1.0]])
    labels = np.array(["b", "a", "a", "b"])
    scores = retrieval_scores(np.array([[0.0]]), np.array(["a"]), reference, labels)
    # R = 2, rel 0 1 -> R-precision 1/2, AP@R = (1/2)(1/2) = 1/4
    assert scores["precision_at_1"][0] == 0.0
    assert scores["r_precision"][0] == 0.5
    assert scores["average_precision_at_r"][0] == 0.25


def test_scorers_fed_in_batches_equal_one_pass():
    rng = np.random.default_rng(0)
    reference, query = rng.normal(size=(60, 3)), rng.normal(size=(45, 3))
    labels, query_labels = rng.integers(0, 3, 60).astype(str), rng.integers(0, 4, 45).astype(str)
    whole = ClassificationScorer(reference, labels, 5)
    whole.add(query, query_labels)
    batched = ClassificationScorer(reference, labels, 5)
    for part in np.array_split(np.arange(45), 4):
        batched.add(query[part], query_labels[part])
    expected = whole.result()
    got = batched.result()
    assert got.keys() == expected.keys()
    for key in expected:
        assert got[key] == pytest.approx(expected[key], rel=1e-12)
    assert expected["accuracy"] == np.mean(knn_classify(reference, labels, query, 5) == query_labels)
    # class "3" has no reference rows: counted by precision@1, left out of R-precision and MAP@R
    assert expected["n_without_relevant"] == int(np.sum(query_labels == "3"))

    targets = rng.normal(size=60)
    truth = rng.normal(size=45)
    scorer = RegressionScorer(reference, targets, 4)
    for part in np.array_split(np.arange(45), 3):
        scorer.add(query[part], truth[part])
    D = ((query[:, None] - reference[None]) ** 2).sum(-1)
    predicted = targets[np.argsort(D, axis=1, kind="stable")[:, :4]].mean(axis=1)
    assert scorer.result()["rmse"] == pytest.approx(np.sqrt(np.mean((predicted - truth) ** 2)), rel=1e-12)
    assert scorer.result()["mae"] == pytest.approx(np.mean(np.abs(predicted - truth)), rel=1e-12)


def test_k_larger_than_the_reference_is_a_clear_error():
    with pytest.raises(MetricliError, match=r"k=4 is larger than the reference \(3 rows\)"):
        ClassificationScorer(np.zeros((3, 2)), np.array(["a", "b", "a"]), 4)


def test_cross_validation_keeps_unlabelled_rows_in_training_and_out_of_scoring():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(40, 2))
    labels = np.array([str(i % 2) for i in range(40)], dtype=object)
    labels[::5] = None  # 8 unlabelled rows
    seen = []

    def fit(train: np.ndarray, X_train: np.ndarray) -> np.ndarray:
        seen.append(train)
        np.testing.assert_array_equal(X_train, X[train])
        return np.eye(2)

    result = cross_validate(fit, X, labels=labels, n_splits=4, seed=1, k=1)
    unlabelled = set(range(0, 40, 5))
    for train, fold in zip(seen, result["folds"], strict=True):
        assert unlabelled <= set(train.tolist())
        assert fold["n_test"] == 40 - train.size
    assert sum(f["n_test"] for f in result["folds"]) == 32
    # with L = I the learned space is the Euclidean one
    for fold in result["folds"]:
        assert fold["learned"] == fold["euclidean"]


def test_cross_validation_standardizes_on_the_training_fold_only():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(30, 3)) * [1.0, 10.0, 100.0] + [0.0, 5.0, -3.0]
    target = rng.normal(size=30)
    seen = []

    def fit(train: np.ndarray, X_train: np.ndarray) -> np.ndarray:
        seen.append((train, X_train))
        return np.eye(3)

    cross_validate(fit, X, target=target, n_splits=3, seed=0, k=2, standardize=True)
    for train, X_train in seen:
        mean, std = X[train].mean(axis=0), X[train].std(axis=0)
        np.testing.assert_allclose(X_train, (X[train] - mean) / std, rtol=1e-12)


def test_scorers_of_separate_parts_add_up_to_one_pass():
    """What the Dask engine does: one scorer per partition, their counts absorbed by one."""
    rng = np.random.default_rng(1)
    reference, query = rng.normal(size=(50, 3)), rng.normal(size=(40, 3))
    labels, query_labels = rng.integers(0, 3, 50).astype(str), rng.integers(0, 4, 40).astype(str)
    targets, truth = rng.normal(size=50), rng.normal(size=40)
    for make, y in (
        (lambda: ClassificationScorer(reference, labels, 3), query_labels),
        (lambda: RegressionScorer(reference, targets, 3), truth),
    ):
        whole = make()
        whole.add(query, y)
        total = make()
        for part in np.array_split(np.arange(40), 5):
            piece = make()
            piece.add(query[part], y[part])
            total.absorb(piece.counts())
        expected, got = whole.result(), total.result()
        assert got.keys() == expected.keys()
        for key in expected:
            assert got[key] == pytest.approx(expected[key], rel=1e-12)


def test_retrieval_figures_no_fold_defines_are_none_and_the_others_average_the_folds_that_do():
    # a query whose class is not in the reference has no R-precision or AP@R
    scorer = ClassificationScorer(np.array([[0.0], [1.0]]), np.array(["a", "b"]), k=1)
    scorer.add(np.array([[0.1]]), np.array(["c"]))
    result = scorer.result()
    assert result["r_precision"] is None and result["map_at_r"] is None
    assert result["n_without_relevant"] == 1
    folds = [
        {space: {"accuracy": 0.5, "r_precision": value, "n_test": 2} for space in ("learned", "euclidean")}
        for value in (None, 0.25, 0.75)
    ]
    summary = summarize(folds)["learned"]
    assert summary["r_precision"] == {"mean": 0.5, "std": 0.25}
    assert summary["accuracy"] == {"mean": 0.5, "std": 0.0}
    assert summarize(folds[:1])["learned"]["r_precision"] == {"mean": None, "std": None}
