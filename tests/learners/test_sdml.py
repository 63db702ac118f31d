"""SDML (Qi et al. 2009): an L1-penalized LogDet problem solved by our ADMM graphical lasso."""

from __future__ import annotations

import numpy as np
import pytest

from metricli.constraints import default_count, pairs_from_labels
from metricli.errors import MetricliError
from metricli.learners import SDML
from metricli.learners.priors import prior_metric
from metricli.learners.sdml import graphical_lasso

from .weak_fixtures import load_standardized


@pytest.mark.parametrize("name", ["iris", "wine", "breast_cancer"])
def test_metric_is_finite_and_positive_definite_where_metric_learn_fails(name):
    # metric-learn 0.7.0's SDML_Supervised raises on exactly these standardized sets
    X, labels = load_standardized(name)
    n_classes = len(np.unique(labels))
    pairs = pairs_from_labels(labels, default_count("pairs", n_classes, len(labels)), seed=0)
    model = SDML().fit(X, pairs)
    M = model.get_mahalanobis_matrix()
    assert model.converged_
    assert np.all(np.isfinite(M))
    assert np.linalg.eigvalsh(M)[0] > 1e-8 * np.linalg.eigvalsh(M)[-1]
    assert model.components_.shape == (X.shape[1], X.shape[1])


def random_problem(seed: int, d: int = 6) -> np.ndarray:
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(3 * d, d))
    return A.T @ A / (3 * d)


def test_graphical_lasso_meets_its_optimality_conditions():
    # stationarity of tr(PM) - log det M + λ Σ_{i≠j} |M_ij|: with G = P - M⁻¹,
    # G_ii = 0; G_ij = -λ sign(M_ij) where M_ij ≠ 0; |G_ij| <= λ where M_ij = 0
    P, lam = random_problem(0), 0.05
    M, _, converged, history = graphical_lasso(P, lam, tol=1e-9, max_iter=5000)
    assert converged
    G = P - np.linalg.inv(M)
    off = ~np.eye(6, dtype=bool)
    nonzero = off & (M != 0)
    assert np.any(off & (M == 0)), "this λ should zero some entries"
    np.testing.assert_allclose(np.diag(G), 0, atol=1e-6)
    np.testing.assert_allclose(G[nonzero], -lam * np.sign(M[nonzero]), atol=1e-6)
    assert np.all(np.abs(G[off & (M == 0)]) <= lam + 1e-6)
    assert np.linalg.eigvalsh(M)[0] > 0
    # the reported objective is the problem's, at the returned M
    value = np.sum(P * M) - np.linalg.slogdet(M)[1] + lam * np.sum(np.abs(M[off]))
    assert history[-1] == pytest.approx(value, rel=1e-5)


def test_without_penalty_the_solution_is_the_inverse():
    P = random_problem(1)
    M, *_ = graphical_lasso(P, 0.0, tol=1e-10, max_iter=5000)
    np.testing.assert_allclose(M, np.linalg.inv(P), rtol=1e-6, atol=1e-8)


def test_no_pair_weight_and_no_penalty_returns_the_prior():
    X, labels = load_standardized("wine")
    pairs = pairs_from_labels(labels, 100, seed=0)
    for prior in ("identity", "covariance"):
        M = SDML(balance_param=0.0, sparsity_param=0.0, prior=prior, tol=1e-10).fit(X, pairs)
        expected = prior_metric(prior, X)
        np.testing.assert_allclose(M.get_mahalanobis_matrix(), expected, rtol=1e-5, atol=1e-7)


def test_pairs_shrink_similar_and_stretch_dissimilar_directions():
    X, labels = load_standardized("iris")
    pairs = pairs_from_labels(labels, 360, seed=1)
    model = SDML().fit(X, pairs)
    diff = X[pairs.a] - X[pairs.b]
    ratio = np.sum((diff @ model.components_.T) ** 2, axis=1) / np.sum(diff**2, axis=1)
    assert np.median(ratio[pairs.similar]) < np.median(ratio[~pairs.similar])


def test_balance_param_must_keep_the_problem_bounded():
    X, labels = load_standardized("iris")
    with pytest.raises(MetricliError, match=r"balance_param must be in \[0, 1\), got 1.5"):
        SDML(balance_param=1.5).fit(X, pairs_from_labels(labels, 20, seed=0))
