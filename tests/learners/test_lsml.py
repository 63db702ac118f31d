"""LSML (Liu et al. 2012): squared-residual loss on quadruplets plus LogDet to the prior."""

from __future__ import annotations

import numpy as np
import pytest

from metricli.constraints import Quadruplets, quadruplets_from_labels
from metricli.errors import MetricliError
from metricli.learners import LSML
from metricli.learners.lsml import lsml_objective
from metricli.learners.priors import prior_metric

from .weak_fixtures import central_difference, load_standardized, split, violated_fraction


def test_gradient_matches_central_differences():
    rng = np.random.default_rng(0)
    near, far = rng.normal(size=(30, 4)), rng.normal(size=(30, 4))
    L = np.eye(4) + 0.3 * rng.normal(size=(4, 4))
    value, grad = lsml_objective(L, near, far, 0.7)
    assert value > 0
    numeric = central_difference(lambda M: lsml_objective(M, near, far, 0.7)[0], L)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)


def test_objective_on_a_hand_worked_example():
    # L = I: residuals max(0, |v_ab| - |v_cd|) = (3 - 1, 0) -> loss (4 + 0) / 2; D_ld(I, I) = 0
    near, far = np.array([[3.0, 0.0], [1.0, 0.0]]), np.array([[0.0, 1.0], [0.0, 2.0]])
    value, _ = lsml_objective(np.eye(2), near, far, 1.0)
    assert value == pytest.approx(2.0)
    # L = 2I: distances double, loss (16 + 0) / 2; D_ld(4I, I) = 8 - log 16 - 2
    value, _ = lsml_objective(2 * np.eye(2), near, far, 1.0)
    assert value == pytest.approx(8.0 + 8.0 - np.log(16.0) - 2.0)


@pytest.mark.parametrize("name", ["iris", "wine"])
def test_fewer_held_out_comparisons_are_violated(name):
    X, labels = load_standardized(name)
    train, test = split(labels)
    model = LSML().fit(X[train], quadruplets_from_labels(labels[train], 300, seed=1))
    assert model.converged_
    held_out = quadruplets_from_labels(labels[test], 2000, seed=2)
    near, far = (test[held_out.a], test[held_out.b]), (test[held_out.c], test[held_out.d])
    before = violated_fraction(np.eye(X.shape[1]), X, near, far)
    after = violated_fraction(model.components_, X, near, far)
    assert after < 0.8 * before


def test_quadruplets_already_in_order_leave_the_prior_unchanged():
    X, _ = load_standardized("iris")
    # d(0, 1) is tiny and d(0, 100) large under any prior these points allow
    close = np.argsort(np.sum((X - X[0]) ** 2, axis=1))[1]
    far = np.argmax(np.sum((X - X[0]) ** 2, axis=1))
    quadruplets = Quadruplets([0], [close], [0], [far])
    for prior in ("identity", "covariance"):
        M = LSML(prior=prior).fit(X, quadruplets).get_mahalanobis_matrix()
        np.testing.assert_allclose(M, prior_metric(prior, X), rtol=1e-6, atol=1e-8)


def test_bad_input():
    X, labels = load_standardized("iris")
    quadruplets = quadruplets_from_labels(labels, 20, seed=0)
    with pytest.raises(MetricliError, match="regularization must be positive"):
        LSML(regularization=0).fit(X, quadruplets)
    with pytest.raises(MetricliError, match=r"row 0: pairs point 3 with itself"):
        LSML().fit(X, Quadruplets([3], [3], [1], [2]))


def _paper_objective(M, near, far, regularization):
    """Liu et al.'s objective written directly in M (prior I): the mean squared hinge of
    d_M(a, b) - d_M(c, d) plus λ (tr M - log det M - d)."""
    d_near = np.sqrt(np.einsum("ij,jk,ik->i", near, M, near))
    d_far = np.sqrt(np.einsum("ij,jk,ik->i", far, M, far))
    sign, logdet = np.linalg.slogdet(M)
    if sign <= 0:
        return np.inf
    return np.mean(np.maximum(d_near - d_far, 0.0) ** 2) + regularization * (np.trace(M) - logdet - len(M))


@pytest.mark.parametrize("regularization", [0.1, 1.0])
def test_reaches_the_optimum_of_an_independent_solve(regularization):
    # the problem is strictly convex in M: an independent solver on another parameterization
    # (Nelder-Mead on the lower Cholesky factor, no gradients) must land on the same M
    from scipy.optimize import minimize

    rng = np.random.default_rng(4)
    X = rng.normal(size=(30, 3)) * [1.0, 2.0, 0.5]
    a, b, c, d = rng.integers(0, 30, size=(4, 40))
    keep = (a != b) & (c != d)
    quadruplets = Quadruplets(a[keep], b[keep], c[keep], d[keep])
    near, far = X[quadruplets.a] - X[quadruplets.b], X[quadruplets.c] - X[quadruplets.d]
    rows, cols = np.tril_indices(3)

    def from_cholesky(theta):
        C = np.zeros((3, 3))
        C[rows, cols] = theta
        return C @ C.T

    start = np.eye(3)[rows, cols]
    reference = minimize(
        lambda t: _paper_objective(from_cholesky(t), near, far, regularization),
        start,
        method="Nelder-Mead",
        options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 40000, "maxfev": 40000},
    )
    assert reference.success
    M_ref = from_cholesky(reference.x)
    model = LSML(regularization=regularization, tol=1e-10).fit(X, quadruplets)
    assert model.converged_
    M = model.get_mahalanobis_matrix()
    ours = _paper_objective(M, near, far, regularization)
    assert ours <= reference.fun + 1e-9
    assert ours < _paper_objective(np.eye(3), near, far, regularization) - 1e-3  # a problem that moves M
    np.testing.assert_allclose(M, M_ref, atol=1e-4)
