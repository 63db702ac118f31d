"""MMC (Xing et al. 2002): ratio objective, monotone ascent, diagonal mode, a hand-worked optimum,
and the LogDet pull toward the start that the default adds."""

from __future__ import annotations

import numpy as np
import pytest

from metricli.constraints import Pairs, pairs_from_labels
from metricli.errors import MetricliError
from metricli.learners import MMC
from metricli.learners.mmc import log_ratio_objective, logdet_pull

from .weak_fixtures import central_difference, load_standardized


@pytest.mark.parametrize("diagonal", [False, True])
def test_objective_rises_monotonically(diagonal):
    X, labels = load_standardized("wine")
    pairs = pairs_from_labels(labels, 360, seed=0)
    model = MMC(diagonal=diagonal, regularization=0).fit(X, pairs)
    history = np.array(model.objective_history_)
    assert model.converged_ and len(history) >= 3
    assert np.all(np.diff(history) >= -1e-9 * history[1:])
    # g(A) at f(A) = 1: the value the paper maximizes, at the scale its constraint fixes
    diff = X[pairs.a] - X[pairs.b]
    projected = diff @ model.components_.T
    sq = np.sum(projected**2, axis=1)
    np.testing.assert_allclose(np.sum(sq[pairs.similar]), 1.0, rtol=1e-10)
    np.testing.assert_allclose(np.sum(np.sqrt(sq[~pairs.similar])), model.objective_, rtol=1e-8)
    # and the start (identity) scores lower
    euclid = np.sum(diff**2, axis=1)
    start = np.sum(np.sqrt(euclid[~pairs.similar])) / np.sqrt(np.sum(euclid[pairs.similar]))
    assert model.objective_ > start


def test_diagonal_mode_returns_a_diagonal_metric():
    X, labels = load_standardized("iris")
    M = MMC(diagonal=True).fit(X, pairs_from_labels(labels, 200, seed=1)).get_mahalanobis_matrix()
    assert np.all(M[~np.eye(4, dtype=bool)] == 0)
    assert np.all(np.diag(M) >= 0) and np.any(np.diag(M) > 0)


def test_hand_worked_optimum():
    # similar differences (1, 0) and (0, 1): f(A) = A_xx + A_yy; dissimilar (0, 2) and (0, 3):
    # g(A) = 5 sqrt(A_yy). Under f(A) <= 1 the maximum is g = 5 at A = e_y e_yᵀ, uniquely.
    X = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 2.0], [0.0, 3.0]])
    pairs = Pairs([0, 0, 0, 0], [1, 2, 3, 4], [1, 1, -1, -1])
    for diagonal in (False, True):
        model = MMC(diagonal=diagonal, regularization=0).fit(X, pairs)
        assert model.converged_
        np.testing.assert_allclose(model.objective_, 5.0, rtol=1e-6)
        np.testing.assert_allclose(model.get_mahalanobis_matrix(), [[0.0, 0.0], [0.0, 1.0]], atol=1e-5)


@pytest.mark.parametrize("diagonal", [False, True])
def test_gradient_matches_central_differences(diagonal):
    rng = np.random.default_rng(5)
    similar, dissimilar = rng.normal(size=(15, 4)), rng.normal(size=(20, 4))
    L = rng.normal(size=4) if diagonal else rng.normal(size=(3, 4))  # a low-rank L too
    _, grad = log_ratio_objective(L, similar, dissimilar, diagonal)
    numeric = central_difference(lambda W: log_ratio_objective(W, similar, dissimilar, diagonal)[0], L)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


def test_n_components_gives_a_low_rank_metric():
    X, labels = load_standardized("wine")
    model = MMC(n_components=2).fit(X, pairs_from_labels(labels, 200, seed=0))
    assert model.components_.shape[0] <= 2
    assert np.linalg.matrix_rank(model.get_mahalanobis_matrix()) <= 2


def test_needs_both_kinds_of_pairs():
    X, labels = load_standardized("iris")
    with pytest.raises(MetricliError, match=r"needs both similar pairs .* got 2 similar and 0 dissimilar"):
        MMC().fit(X, Pairs([0, 1], [2, 3], [1, 1]))
    with pytest.raises(MetricliError, match="n_components cannot be combined with diagonal"):
        MMC(diagonal=True, n_components=2).fit(X, pairs_from_labels(labels, 20, seed=0))


def _kkt_residuals(M, similar, dissimilar):
    """How far A = M (rescaled to f(A) = 1) is from the optimality conditions of the paper's problem.

    max g(A) = Σ_D sqrt(vᵀAv) s.t. <S, A> <= 1, A ⪰ 0 is a concave maximization (S the
    scatter of the similar differences). With G = ∇g(A) = Σ_D v vᵀ / (2 ||v||_A) and the
    multiplier μ = g / 2 (from <G, A> = g / 2 and <S, A> = 1), A is optimal iff
    G - μS ⪯ 0 and (G - μS) A = 0. Returns the largest eigenvalue of G - μS and the norm
    of (G - μS) A, each relative to the size of μS.
    """
    S = similar.T @ similar
    A = M / np.sum(S * M)
    dist = np.sqrt(np.einsum("ij,jk,ik->i", dissimilar, A, dissimilar))
    G = (dissimilar / (2.0 * dist[:, None])).T @ dissimilar
    mu = dist.sum() / 2.0
    K = G - mu * S
    return np.linalg.eigvalsh(K)[-1] / (mu * np.linalg.eigvalsh(S)[-1]), np.linalg.norm(
        K @ A
    ) / np.linalg.norm(mu * S @ A)


@pytest.mark.parametrize("name", ["iris", "breast_cancer"])
def test_full_metric_meets_the_optimality_conditions_of_the_convex_problem(name):
    # an independent certificate that the L-BFGS over L reached the paper's optimum in A
    # (breast_cancer: where metric-learn's iterated projections stay at the identity)
    X, labels = load_standardized(name)
    pairs = pairs_from_labels(labels, 160, seed=3)
    diff = X[pairs.a] - X[pairs.b]
    similar, dissimilar = diff[pairs.similar], diff[~pairs.similar]
    model = MMC(regularization=0).fit(X, pairs)
    assert model.converged_
    top, slack = _kkt_residuals(model.get_mahalanobis_matrix(), similar, dissimilar)
    assert top < 1e-5 and slack < 1e-2
    # the identity start violates them by a wide margin
    top, slack = _kkt_residuals(np.eye(X.shape[1]), similar, dissimilar)
    assert top > 0.1 and slack > 0.1


def test_stopping_does_not_depend_on_the_number_of_pairs():
    # every pair given 10 times: the same problem (same maximizer, g / sqrt(f) times sqrt(10)),
    # so the same iterations and the same stop, also with a loose tol
    X, labels = load_standardized("iris")
    pairs = pairs_from_labels(labels, 200, seed=0)
    copies = Pairs(np.tile(pairs.a, 10), np.tile(pairs.b, 10), np.tile(pairs.y, 10))
    for tol, weight in ((1e-3, 0), (1e-7, 0), (1e-7, 0.5)):
        once = MMC(tol=tol, regularization=weight).fit(X, pairs)
        ten = MMC(tol=tol, regularization=weight).fit(X, copies)
        assert ten.n_iter_ == once.n_iter_
        np.testing.assert_allclose(
            ten.get_mahalanobis_matrix() * 10, once.get_mahalanobis_matrix(), rtol=1e-6, atol=1e-9
        )
        if weight == 0:
            np.testing.assert_allclose(ten.objective_, np.sqrt(10) * once.objective_, rtol=1e-8)
        else:  # the penalized objective is made of means: the same value
            np.testing.assert_allclose(ten.objective_, once.objective_, rtol=1e-8)


def test_logdet_pull_by_hand():
    # T = diag(1, 2): G = diag(1, 4), tr G = 5, R = 2 log(5 / 2) - log 4 = 2 log 5 - 4 log 2
    expected = 2 * np.log(5) - 4 * np.log(2)
    for T, diagonal in ((np.diag([1.0, 2.0]), False), (np.array([1.0, 2.0]), True)):
        value, grad = logdet_pull(T, diagonal)
        assert value == pytest.approx(expected, rel=1e-14)
        # dR/dT = 2k T / tr G - 2 G^-1 T: diag(4/5 - 2, 8/5 - 1)
        np.testing.assert_allclose(np.diag(grad) if grad.ndim == 2 else grad, [-1.2, 0.6], rtol=1e-14)
    # zero at any multiple of an orthogonal matrix (the start, up to scale and rotation), scale-free
    Q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(4, 4)))
    assert logdet_pull(3.0 * Q)[0] == pytest.approx(0.0, abs=1e-12)
    T = np.random.default_rng(1).normal(size=(3, 4))
    assert logdet_pull(7.0 * T)[0] == pytest.approx(logdet_pull(T)[0], rel=1e-12)
    assert logdet_pull(T)[0] > 0.1


@pytest.mark.parametrize("diagonal", [False, True])
def test_logdet_pull_gradient_matches_central_differences(diagonal):
    rng = np.random.default_rng(6)
    T = rng.normal(size=4) if diagonal else rng.normal(size=(3, 4))  # a low-rank T too
    _, grad = logdet_pull(T, diagonal)
    numeric = central_difference(lambda W: logdet_pull(W, diagonal)[0], T)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("diagonal", [False, True])
def test_default_is_a_stationary_point_of_the_penalized_ratio(diagonal):
    # identity start: L = T. F and R are unchanged by scaling L or rotating it from the left,
    # so the learned components themselves must zero the gradient of F + λ R.
    X, labels = load_standardized("wine")
    pairs = pairs_from_labels(labels, 360, seed=0)
    model = MMC(diagonal=diagonal, tol=1e-10).fit(X, pairs)
    diff = X[pairs.a] - X[pairs.b]
    similar, dissimilar = diff[pairs.similar], diff[~pairs.similar]
    assert model.regularization_ == 0.1
    T = np.diag(model.components_) if diagonal else model.components_
    value, grad = log_ratio_objective(T, similar, dissimilar, diagonal)
    pull, pull_grad = logdet_pull(T, diagonal)
    total = grad + model.regularization_ * pull_grad
    assert np.max(np.abs(total)) < 1e-4 * np.max(np.abs(grad))
    assert model.objective_ == pytest.approx(value + model.regularization_ * pull, rel=1e-8)
    history = np.array(model.objective_history_)
    assert np.all(np.diff(history) <= 1e-12 * np.abs(history[1:]))  # the penalized value falls


def test_the_pull_moves_the_metric_between_the_start_and_the_exact_optimum():
    X, labels = load_standardized("wine")
    pairs = pairs_from_labels(labels, 360, seed=0)
    diff = X[pairs.a] - X[pairs.b]
    similar, dissimilar = diff[pairs.similar], diff[~pairs.similar]

    def ratio_and_spread(model):
        M = model.get_mahalanobis_matrix()
        T = model.components_
        return -log_ratio_objective(T, similar, dissimilar)[0], logdet_pull(T)[0], M

    exact = ratio_and_spread(MMC(regularization=0).fit(X, pairs))
    default = ratio_and_spread(MMC().fit(X, pairs))
    stiff = ratio_and_spread(MMC(regularization=1e6).fit(X, pairs))
    # more pull: a lower ratio, a metric closer to the start (the identity, up to scale)
    assert exact[0] > default[0] > stiff[0]
    assert exact[1] > default[1] > stiff[1]
    M = stiff[2]
    np.testing.assert_allclose(M / M[0, 0], np.eye(13), atol=1e-4)


def test_regularization_must_be_a_number_at_least_zero():
    X, labels = load_standardized("iris")
    pairs = pairs_from_labels(labels, 40, seed=0)
    for bad in (-1.0, "much", float("nan"), True):
        with pytest.raises(MetricliError, match="regularization must be a number >= 0"):
            MMC(regularization=bad).fit(X, pairs)
