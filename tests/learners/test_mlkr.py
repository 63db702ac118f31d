"""MLKR: the objective by hand, the gradient by finite differences, known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from metricli.errors import MetricliError
from metricli.learners import MLKR
from metricli.learners.mlkr import mlkr_objective

from .weak_fixtures import central_difference


def test_objective_on_four_points_matches_hand_computation():
    # x = 0, 1, 2, 3 with targets 0, 1, 0, 1 and L = 1: k_ij = exp(-(i - j)^2).
    # Each prediction is the kernel-weighted mean of the other three targets:
    e = math.exp
    predicted = [
        (1 * e(-1) + 0 * e(-4) + 1 * e(-9)) / (e(-1) + e(-4) + e(-9)),  # x = 0
        (0 * e(-1) + 0 * e(-1) + 1 * e(-4)) / (2 * e(-1) + e(-4)),  # x = 1
        (0 * e(-4) + 1 * e(-1) + 1 * e(-1)) / (e(-4) + 2 * e(-1)),  # x = 2
        (0 * e(-9) + 1 * e(-4) + 0 * e(-1)) / (e(-9) + e(-4) + e(-1)),  # x = 3
    ]
    y = np.array([0.0, 1.0, 0.0, 1.0])
    expected = sum((p - t) ** 2 for p, t in zip(predicted, y, strict=True))
    loss, _ = mlkr_objective(np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([[1.0]]), y, 2**20)
    assert loss == pytest.approx(expected, rel=1e-14)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gradient_matches_central_differences(seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((30, 4))
    y = X[:, 0] - 2 * X[:, 1] + 0.3 * rng.standard_normal(30)
    L = rng.standard_normal((3, 4)) * 0.6
    _, G = mlkr_objective(X, L, y, 2**20)
    analytic = 2 * L @ G
    numeric = central_difference(lambda A: mlkr_objective(X, A, y, 2**20)[0], L)
    assert np.max(np.abs(analytic - numeric)) <= 1e-6 * np.max(np.abs(analytic))


def test_blocks_do_not_change_the_result():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((40, 3))
    y = rng.standard_normal(40)
    L = rng.standard_normal((2, 3))
    loss_one, G_one = mlkr_objective(X, L, y, 2**30)
    loss_rows, G_rows = mlkr_objective(X, L, y, 8 * 40 * 3)
    assert loss_rows == pytest.approx(loss_one, rel=1e-13)
    np.testing.assert_allclose(G_rows, G_one, rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("scale", [0.5, 4.0])
def test_sparse_blocks_match_dense_blocks_and_differences(scale):
    # at scale 4 most kernel weights are below exp(-40) of their row's largest and are dropped
    rng = np.random.default_rng(6)
    X = rng.standard_normal((40, 3))
    y = rng.standard_normal(40)
    L = scale * np.eye(3) + 0.1 * rng.standard_normal((3, 3))
    loss_dense, G_dense = mlkr_objective(X, L, y, 2**20, sparse_below=0.0)
    loss_sparse, G_sparse = mlkr_objective(X, L, y, 8 * 40 * 7, sparse_below=1.0)
    assert loss_sparse == pytest.approx(loss_dense, rel=1e-13)
    np.testing.assert_allclose(G_sparse, G_dense, rtol=1e-11, atol=1e-12 * np.abs(G_dense).max())
    analytic = 2 * L @ G_sparse
    numeric = central_difference(lambda A: mlkr_objective(X, A, y, 2**20, sparse_below=1.0)[0], L)
    assert np.max(np.abs(analytic - numeric)) <= 1e-6 * np.max(np.abs(analytic))


def test_learns_to_ignore_a_noise_feature_and_reports_the_objective_in_target_units():
    # the target depends on feature 0 only, in large units; feature 1 is noise
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, (150, 2))
    y = 100 * np.sin(X[:, 0])
    model = MLKR().fit(X, y)
    M = model.get_mahalanobis_matrix()
    assert M[1, 1] < 0.01 * M[0, 0]
    loss, _ = mlkr_objective(X - X.mean(axis=0), model.components_, y, 2**20)
    assert model.objective_ == pytest.approx(loss, rel=1e-9)
    start, _ = mlkr_objective(X - X.mean(axis=0), np.eye(2), y, 2**20)
    assert model.objective_ < 0.1 * start


def test_transform_and_same_seed():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((30, 3))
    y = X @ [1.0, -1.0, 0.5]
    model = MLKR(n_components=2, init="random", random_state=3).fit(X, y)
    np.testing.assert_array_equal(model.transform(X), X @ model.components_.T)
    again = MLKR(n_components=2, init="random", random_state=3).fit(X, y)
    np.testing.assert_array_equal(model.get_mahalanobis_matrix(), again.get_mahalanobis_matrix())


@pytest.mark.parametrize(
    ("y", "params", "message"),
    [
        (np.ones(10), {}, "mlkr: the target is constant; there is nothing to regress"),
        (np.r_[np.arange(9.0), np.nan], {}, "mlkr: the targets hold missing or infinite values"),
        (np.arange(9.0), {}, "mlkr: got 9 targets for 10 points"),
        (np.arange(10.0), {"init": "lda"}, "mlkr: init 'lda' needs class labels"),
    ],
)
def test_bad_targets_are_clear_errors(y, params, message):
    X = np.random.default_rng(0).standard_normal((10, 2))
    with pytest.raises(MetricliError) as caught:
        MLKR(**params).fit(X, y)
    assert caught.value.message.startswith(message)
