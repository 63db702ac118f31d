"""NCA: the objective by hand, the gradient by finite differences, known answers."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from metricli.errors import ConvergenceWarning, MetricliError
from metricli.learners import NCA
from metricli.learners.labels import class_layout
from metricli.learners.nca import nca_objective

from .weak_fixtures import central_difference


def objective(X, y, L, memory=2**20, sparse_below=0.05):
    layout = class_layout(y, len(y), "nca")
    Xs = X[layout.order]
    return nca_objective(Xs, np.atleast_2d(L), layout.sorted_codes, layout.bounds, memory, sparse_below)


def test_objective_on_four_points_matches_hand_computation():
    # points 0, 1, 2, 3 on a line; classes {0, 1} and {2, 3}; L = 1 so d_ij = (i - j)^2.
    # Point 0: neighbours at squared distances 1 (same class), 4, 9:
    #   p_0 = e^-1 / (e^-1 + e^-4 + e^-9).
    # Point 1: distances 1 (same), 1, 4: p_1 = e^-1 / (2 e^-1 + e^-4). Points 3 and 2 mirror 0 and 1.
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    y = np.array([0, 0, 1, 1])
    e = math.exp
    p0 = e(-1) / (e(-1) + e(-4) + e(-9))
    p1 = e(-1) / (2 * e(-1) + e(-4))
    f, _ = objective(X, y, [[1.0]])
    assert f == pytest.approx(2 * p0 + 2 * p1, rel=1e-14)


def test_objective_with_a_scaled_metric():
    # L = 2 multiplies every squared distance by 4
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    y = np.array([0, 0, 1, 1])
    e = math.exp
    p0 = e(-4) / (e(-4) + e(-16) + e(-36))
    p1 = e(-4) / (2 * e(-4) + e(-16))
    f, _ = objective(X, y, [[2.0]])
    assert f == pytest.approx(2 * p0 + 2 * p1, rel=1e-14)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gradient_matches_central_differences(seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((25, 4))
    y = rng.integers(0, 3, 25)
    L = rng.standard_normal((3, 4)) * 0.6
    _, G = objective(X, y, L)
    analytic = 2 * L @ G
    numeric = central_difference(lambda A: objective(X, y, A)[0], L)
    assert np.max(np.abs(analytic - numeric)) <= 1e-6 * np.max(np.abs(analytic))


@pytest.mark.parametrize("scale", [0.5, 4.0])
def test_sparse_blocks_match_dense_blocks(scale):
    # at scale 4 most weights are below exp(-40) of their row's largest and are dropped
    rng = np.random.default_rng(6)
    X = rng.standard_normal((40, 3))
    y = rng.integers(0, 3, 40)
    L = scale * np.eye(3)
    f_dense, G_dense = objective(X, y, L, sparse_below=0.0)
    f_sparse, G_sparse = objective(X, y, L, memory=8 * 40 * 7, sparse_below=1.0)
    assert f_sparse == pytest.approx(f_dense, rel=1e-13)
    np.testing.assert_allclose(G_sparse, G_dense, rtol=1e-11, atol=1e-12 * np.abs(G_dense).max())


def test_gradient_of_sparse_blocks_matches_central_differences():
    rng = np.random.default_rng(7)
    X = rng.standard_normal((30, 3))
    y = rng.integers(0, 2, 30)
    L = 3 * rng.standard_normal((3, 3))
    _, G = objective(X, y, L, sparse_below=1.0)
    analytic = 2 * L @ G
    numeric = central_difference(lambda A: objective(X, y, A, sparse_below=1.0)[0], L)
    assert np.max(np.abs(analytic - numeric)) <= 1e-6 * np.max(np.abs(analytic))


def test_blocks_do_not_change_the_result():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((40, 5))
    y = rng.integers(0, 4, 40)
    L = rng.standard_normal((5, 5)) * 0.5
    f_one, G_one = objective(X, y, L, memory=2**30)
    f_rows, G_rows = objective(X, y, L, memory=8 * 40 * 3)  # three rows per block, across classes
    assert f_rows == pytest.approx(f_one, rel=1e-13)
    np.testing.assert_allclose(G_rows, G_one, rtol=1e-11, atol=1e-12)


def test_learns_to_ignore_a_noise_feature():
    # the class depends on feature 0 only; feature 1 is large noise that hides it
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    X = np.column_stack([y + 0.15 * rng.standard_normal(200), 3.0 * rng.standard_normal(200)])
    model = NCA(max_iter=200).fit(X, y)
    M = model.get_mahalanobis_matrix()
    assert M[1, 1] < 0.01 * M[0, 0]
    assert model.converged_
    # the objective is the expected number of correct points: close to n once separated
    assert 0.95 * 200 < model.objective_ <= 200
    assert model.objective_history_[-1] == model.objective_


def test_transform_is_x_times_l_transpose_and_objective_is_reported():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((30, 3))
    y = np.repeat([0, 1, 2], 10)
    model = NCA(n_components=2).fit(X, y)
    assert model.components_.shape == (2, 3)
    np.testing.assert_array_equal(model.transform(X), X @ model.components_.T)
    f, _ = objective(X - X.mean(axis=0), y, model.components_)
    assert model.objective_ == pytest.approx(f, rel=1e-10)


@pytest.mark.filterwarnings("ignore::metricli.errors.ConvergenceWarning")
def test_same_seed_gives_the_same_metric():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((40, 4))
    y = rng.integers(0, 2, 40)
    first = NCA(init="random", random_state=7, max_iter=20).fit(X, y).get_mahalanobis_matrix()
    again = NCA(init="random", random_state=7, max_iter=20).fit(X, y).get_mahalanobis_matrix()
    other = NCA(init="random", random_state=8, max_iter=20).fit(X, y).get_mahalanobis_matrix()
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)


def test_hitting_max_iter_is_reported_and_warned():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((30, 3))
    y = rng.integers(0, 2, 30)
    with pytest.warns(ConvergenceWarning, match="nca stopped after 1 iterations"):
        model = NCA(max_iter=1).fit(X, y)
    assert not model.converged_
    assert model.n_iter_ == 1


def test_init_matrix_is_the_starting_point():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((20, 3))
    y = rng.integers(0, 2, 20)
    start = np.array([[1.0, 0.5, 0.0], [0.0, 1.0, 2.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = NCA(init=start, max_iter=1).fit(X, y)
    assert model.components_.shape == (2, 3)
    assert np.linalg.norm(model.components_ - start) < np.linalg.norm(start)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"init": "spectral"}, "nca: unknown init 'spectral'; use one of auto, pca, lda, identity, random"),
        ({"n_components": 5}, "nca: n_components=5 is out of range; use 1 to 3"),
        ({"init": np.eye(2)}, "nca: the init matrix has shape (2, 2); it needs 3 columns"),
        ({"n_components": 2, "init": "lda"}, "nca: init 'lda' gives at most 1 components"),
        ({"max_iter": 0}, "nca: max_iter must be a positive whole number"),
        ({"tol": -1.0}, "nca: tol must be a positive number"),
        ({"block_size": 0}, "nca: block_size must be a positive number of MiB"),
    ],
)
def test_bad_parameters_are_clear_errors(params, message):
    X = np.random.default_rng(0).standard_normal((10, 3))
    y = np.array([0, 1] * 5)
    with pytest.raises(MetricliError) as caught:
        NCA(**params).fit(X, y)
    assert caught.value.message.startswith(message)


def test_needs_two_classes():
    with pytest.raises(MetricliError, match="nca needs at least 2 classes; the labels hold 1"):
        NCA().fit(np.random.default_rng(0).standard_normal((5, 2)), ["a"] * 5)
