"""ITML: the LogDet problem with slack (Davis et al. 2007), checked on its own terms."""

from __future__ import annotations

import numpy as np
import pytest

from metricli.constraints import Pairs, pairs_from_labels
from metricli.errors import MetricliError
from metricli.learners import ITML
from metricli.learners.itml import itml_objective
from metricli.learners.priors import prior_metric

from .weak_fixtures import central_difference, load_standardized


def separable(seed: int = 0, n: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """Two classes apart along y only; x and z are noise, larger than the class gap."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(["a", "b"], n // 2)
    X = np.column_stack(
        [
            rng.normal(0, 3.0, n),
            np.where(labels == "a", -2.0, 2.0) + rng.normal(0, 0.1, n),
            rng.normal(0, 1.0, n),
        ]
    )
    return X, labels


def squared_distances(model: ITML, X: np.ndarray, pairs: Pairs) -> np.ndarray:
    return model.pair_distances(X[pairs.a], X[pairs.b]) ** 2


def test_distance_bounds_hold_after_convergence_on_separable_data():
    X, labels = separable()
    pairs = pairs_from_labels(labels, 200, seed=1)
    model = ITML(gamma=1e4).fit(X, pairs)
    assert model.converged_
    upper, lower = model.bounds_
    d2 = squared_distances(model, X, pairs)
    # before: the bounds (5th / 95th percentiles) are violated by many pairs
    euclid = np.sum((X[pairs.a] - X[pairs.b]) ** 2, axis=1)
    assert np.mean(euclid[pairs.similar] > upper) > 0.5
    # after: with slack this costly, every pair meets its bound to within 0.1%
    assert np.all(d2[pairs.similar] <= upper * 1.001)
    assert np.all(d2[~pairs.similar] >= lower * 0.999)


def test_constraints_already_met_leave_the_prior_unchanged():
    # with bounds every pair satisfies, D_ld(A, A0) alone is minimized: A = A0 exactly
    X, labels = load_standardized("iris")
    pairs = pairs_from_labels(labels, 60, seed=0)
    for prior in ("identity", "covariance"):
        model = ITML(prior=prior, similar_bound=1e6, dissimilar_bound=1e-6).fit(X, pairs)
        expected = prior_metric(prior, X)
        np.testing.assert_allclose(model.get_mahalanobis_matrix(), expected, rtol=1e-6, atol=1e-8)


def test_gradient_matches_central_differences():
    rng = np.random.default_rng(3)
    U = rng.normal(size=(40, 4))
    similar = rng.random(40) < 0.5
    xi0 = np.where(similar, 2.0, 9.0)  # some pairs on each side of their bound
    L = np.eye(4) + 0.3 * rng.normal(size=(4, 4))
    value, grad = itml_objective(L, U, xi0, similar, gamma=2.5)
    numeric = central_difference(lambda M: itml_objective(M, U, xi0, similar, 2.5)[0], L)
    assert np.isfinite(value)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-6)


def test_objective_history_decreases_and_slack_is_respected_by_default_gamma():
    X, labels = load_standardized("wine")
    pairs = pairs_from_labels(labels, 180, seed=2)
    model = ITML(random_state=0).fit(X, pairs)
    history = np.array(model.objective_history_)
    assert model.converged_ and len(history) == model.n_iter_
    assert np.all(np.diff(history) <= 1e-9 * np.abs(history[:-1]))
    # the learned metric pulls similar pairs in and pushes dissimilar pairs out
    d2 = squared_distances(model, X, pairs)
    euclid = np.sum((X[pairs.a] - X[pairs.b]) ** 2, axis=1)
    ratio = d2 / euclid
    assert np.median(ratio[pairs.similar]) < np.median(ratio[~pairs.similar])


def test_prior_choices_and_errors():
    X, labels = load_standardized("iris")
    pairs = pairs_from_labels(labels, 60, seed=0)
    a = ITML(prior="random", random_state=4).fit(X, pairs).get_mahalanobis_matrix()
    b = ITML(prior="random", random_state=4).fit(X, pairs).get_mahalanobis_matrix()
    np.testing.assert_array_equal(a, b)
    with pytest.raises(MetricliError, match="itml: prior 'eye' is not one of identity, covariance, random"):
        ITML(prior="eye").fit(X, pairs)
    with pytest.raises(MetricliError, match="must be positive definite"):
        ITML(prior=np.diag([1.0, 1.0, 1.0, 0.0])).fit(X, pairs)
    with pytest.raises(MetricliError, match="must be 4x4"):
        ITML(prior=np.eye(3)).fit(X, pairs)
    with pytest.raises(MetricliError, match="gamma must be positive"):
        ITML(gamma=0).fit(X, pairs)
    with pytest.raises(MetricliError, match="itml learns from pairs or class labels, not triplets"):
        from metricli.constraints import triplets_from_labels

        ITML().fit(X, triplets_from_labels(labels, 10, seed=0))


def test_pairs_outside_the_data_are_refused():
    X, _ = load_standardized("iris")
    with pytest.raises(MetricliError, match="row 1: column b refers to point 150"):
        ITML().fit(X, Pairs([0, 1], [2, 150], [1, -1]))


def test_default_bounds_are_percentiles_of_the_prior_distances_between_all_points():
    # distances of the 6 pairs of {0, 1, 3, 7}: 1, 2, 3, 4, 6, 7; np.percentile's linear rule
    # puts the 5th at 1 + 0.25·1 = 1.25 and the 95th at 6 + 0.75·1 = 6.75 (the default, as
    # metric-learn). Squared: 1, 4, 9, 16, 36, 49 give 1 + 0.25·3 = 1.75 and 36 + 0.75·13 = 45.75.
    # The two constraint pairs alone (distances 1 and 4) would give other values.
    X = np.array([[0.0], [1.0], [3.0], [7.0]])
    pairs = Pairs([0, 2], [1, 3], [1, -1])
    np.testing.assert_allclose(ITML().fit(X, pairs).bounds_, [1.25, 6.75], rtol=1e-12)
    np.testing.assert_allclose(ITML(bounds="squared").fit(X, pairs).bounds_, [1.75, 45.75], rtol=1e-12)
    # under the prior's metric: A0 = 4 doubles every distance and scales every squared one by 4
    np.testing.assert_allclose(ITML(prior=np.array([[4.0]])).fit(X, pairs).bounds_, [2.5, 13.5], rtol=1e-12)
    np.testing.assert_allclose(
        ITML(prior=np.array([[4.0]]), bounds="squared").fit(X, pairs).bounds_, [7.0, 183.0], rtol=1e-12
    )
    # one explicit bound leaves the other at its default
    np.testing.assert_allclose(ITML(similar_bound=2.5).fit(X, pairs).bounds_, [2.5, 6.75], rtol=1e-12)
    with pytest.raises(MetricliError, match="bounds must be one of distances, squared, got 'cubed'"):
        ITML(bounds="cubed").fit(X, pairs)


def test_default_bounds_beyond_bound_points_come_from_a_seeded_sample(monkeypatch):
    from metricli.learners import itml

    rng = np.random.default_rng(5)
    Z = rng.normal(size=(600, 3))
    i, j = np.triu_indices(600, 1)
    exact = np.percentile(np.sum((Z[i] - Z[j]) ** 2, axis=1), [5, 95])
    monkeypatch.setattr(itml, "BOUND_POINTS", 200)
    sampled = itml.default_bounds(Z, random_state=1)  # squared, as ``exact``
    assert sampled == itml.default_bounds(Z, random_state=1)
    assert sampled != itml.default_bounds(Z, random_state=2)
    assert itml.default_bounds(Z) == itml.default_bounds(Z, random_state=0)
    np.testing.assert_allclose(sampled, exact, rtol=0.1)


@pytest.mark.parametrize("gamma", [1.0, 3.0])
def test_fixed_point_of_one_similar_and_one_dissimilar_pair(gamma):
    # Orthogonal pairs decouple A = diag(a1, a2). A similar pair of squared length s = 4u
    # and a dissimilar one of s = l/4 both violate their bounds; each coordinate minimizes
    # a - log a - 1 + γ (a s/ξ0 - 1 - log(a s/ξ0)), whose root is a = (1 + γ)/(1 + γ s/ξ0):
    # the fixed point of the paper's Bregman projections with slack (Algorithm 1).
    X = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 0.5]])
    pairs = Pairs([0, 0], [1, 2], [1, -1])
    model = ITML(gamma=gamma, similar_bound=1.0, dissimilar_bound=1.0, tol=1e-12).fit(X, pairs)
    assert model.converged_
    expected = np.diag([(1 + gamma) / (1 + 4 * gamma), (1 + gamma) / (1 + gamma / 4)])
    np.testing.assert_allclose(model.get_mahalanobis_matrix(), expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("bounds", [{"similar_bound": np.inf}, {"dissimilar_bound": np.inf}])
def test_infinite_distance_bounds_are_refused(bounds):
    X, labels = separable()
    with pytest.raises(MetricliError, match="positive and finite"):
        ITML(**bounds).fit(X, pairs_from_labels(labels, 50, seed=1))
