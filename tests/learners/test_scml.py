"""SCML (Shi, Bellet & Sha 2014): sparse non-negative weights on rank-one bases, from triplets."""

from __future__ import annotations

import numpy as np
import pytest

from metricli.constraints import Triplets, triplets_from_labels
from metricli.errors import MetricliError
from metricli.learners import SCML
from metricli.learners.scml import TripletLoss, smoothed_hinge

from .weak_fixtures import central_difference, load_standardized, split, violated_fraction


def test_smoothed_hinge_is_within_half_a_width_of_the_hinge():
    z = np.linspace(-2, 2, 401)
    value, slope = smoothed_hinge(z, 0.5)
    hinge = np.maximum(z, 0)
    assert np.all(value <= hinge + 1e-15) and np.all(hinge - value <= 0.25 + 1e-15)
    np.testing.assert_allclose(slope[1:-1], np.gradient(value, z)[1:-1], atol=1e-2)


@pytest.mark.parametrize("table", [True, False])
def test_gradient_matches_central_differences(table):
    rng = np.random.default_rng(1)
    X, basis = rng.normal(size=(30, 4)), rng.normal(size=(12, 4))
    triplets = Triplets(rng.integers(0, 10, 200), rng.integers(10, 20, 200), rng.integers(20, 30, 200))
    loss = TripletLoss(basis, X, triplets, 1e-3, 0.2, block_bytes=2**20 if table else 0)
    assert (loss.Z is not None) == table
    w = rng.uniform(0.05, 0.3, size=12)
    value, grad = loss(w)
    assert value > 0
    np.testing.assert_allclose(grad, central_difference(lambda v: loss(v)[0], w), rtol=1e-5, atol=1e-8)


def test_objective_on_a_hand_worked_example():
    # one basis e_x, weight 2. Triplet (0, 1, 2): d(0,1) = 2·1² = 2, d(0,2) = 2·2² = 8,
    # margin 1 + 2 - 8 < 0: no loss. Triplet (0, 2, 1): 1 + 8 - 2 = 7, past the width 0.01: 7 - 0.005.
    X = np.array([[0.0, 0.0], [1.0, 5.0], [2.0, 0.0]])
    basis = np.array([[1.0, 0.0]])
    met = TripletLoss(basis, X, Triplets([0], [1], [2]), 0.1, 0.01)
    assert met(np.array([2.0]))[0] == pytest.approx(0.1 * 2.0)
    both = TripletLoss(basis, X, Triplets([0, 0], [1, 2], [2, 1]), 0.1, 0.01)
    assert both(np.array([2.0]))[0] == pytest.approx((0.0 + 7.0 - 0.005) / 2 + 0.2)


@pytest.mark.parametrize("name", ["iris", "wine"])
def test_fewer_held_out_triplets_are_violated(name):
    X, labels = load_standardized(name)
    train, test = split(labels)
    model = SCML(random_state=0).fit(X[train], triplets_from_labels(labels[train], 3000, seed=1))
    assert model.converged_
    assert np.all(model.weights_ >= 0) and np.sum(model.weights_ > 0) < model.weights_.size  # sparse
    held_out = triplets_from_labels(labels[test], 3000, seed=2)
    near = (test[held_out.anchor], test[held_out.positive])
    far = (test[held_out.anchor], test[held_out.negative])
    before = violated_fraction(np.eye(X.shape[1]), X, near, far)
    after = violated_fraction(model.components_, X, near, far)
    assert after < 0.8 * before


def test_given_axis_bases_give_a_diagonal_metric():
    X, labels = load_standardized("iris")
    model = SCML(basis=np.eye(4)).fit(X, triplets_from_labels(labels, 500, seed=0))
    M = model.get_mahalanobis_matrix()
    np.testing.assert_allclose(M, np.diag(model.weights_), atol=1e-12)


def test_deterministic_under_a_seed_and_errors():
    X, labels = load_standardized("iris")
    triplets = triplets_from_labels(labels, 500, seed=0)
    a = SCML(random_state=3).fit(X, triplets).components_
    b = SCML(random_state=3).fit(X, triplets).components_
    np.testing.assert_array_equal(a, b)
    with pytest.raises(MetricliError, match="one row per basis and 4 columns"):
        SCML(basis=np.eye(3)).fit(X, triplets)
    with pytest.raises(MetricliError, match="smoothing must be positive"):
        SCML(smoothing=0).fit(X, triplets)
    with pytest.raises(MetricliError, match=r"row 1: pairs point 5 with itself"):
        SCML().fit(X, Triplets([0, 5], [1, 6], [100, 5]))
