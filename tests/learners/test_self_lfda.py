"""SELF (Sugiyama et al. 2010): LFDA when β = 0 or every row is labelled, and in between the
written-out formula with the PCA weight β times the unlabelled share."""

import numpy as np
import pytest

from metricli import MetricliError
from metricli.learners import LFDA, SELF

from .lfda_reference import dense_local_scatters, weighted_metric


def partly_labelled(seed: int = 0, n: int = 60, labelled_every: int = 3):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.array(["a", "b", "c"]), n // 3)
    X = rng.normal(size=(n, 4)) * [3.0, 1.0, 0.5, 2.0]
    X[:, 1] += (y == "b") * 2.0 - (y == "c") * 2.0
    partial = y.astype(object)
    partial[np.arange(n) % labelled_every != 0] = None
    return X, y, partial


def test_beta_zero_is_lfda_on_the_labelled_rows():
    X, _, partial = partly_labelled()
    labelled = np.array([v is not None for v in partial])
    got = SELF(beta=0.0).fit(X, partial).get_mahalanobis_matrix()
    expected = LFDA().fit(X[labelled], partial[labelled]).get_mahalanobis_matrix()
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12 * np.abs(expected).max())


@pytest.mark.parametrize("beta", [0.1, 1.0])
def test_every_row_labelled_is_exactly_lfda(beta):
    # no unlabelled rows: the PCA term weighs β · 0, whatever β
    X, y, _ = partly_labelled(seed=1)
    model = SELF(beta=beta).fit(X, y)
    assert model.beta_ == 0.0
    expected = LFDA().fit(X, y).get_mahalanobis_matrix()
    np.testing.assert_allclose(
        model.get_mahalanobis_matrix(), expected, rtol=1e-12, atol=1e-14 * np.abs(expected).max()
    )


def size_dominated(seed: int = 3, n_per_class: int = 15):
    """Four classes told apart by shape, not size, and one dominant size direction (as in crabs)."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.array(["a", "b", "c", "d"]), n_per_class)
    size = rng.gamma(4.0, 2.0, size=len(y))
    shape = rng.normal(size=(len(y), 3)) * 0.3
    shape[:, 0] += (y == "b") * 1.0 + (y == "d") * 1.0
    shape[:, 1] += (y == "c") * 1.0 + (y == "d") * 1.0
    X = np.column_stack([size, size * 1.1 + shape[:, 0], size * 0.9 + shape[:, 1], size + shape[:, 2]])
    return X, y


@pytest.mark.parametrize("k", [3, 7, 20])
def test_every_row_labelled_is_the_papers_lfda_with_classwise_local_scaling(k):
    # With every row labelled SELF is LFDA, whose affinity A_ij = exp(-||x_i - x_j||² / (σ_i σ_j))
    # takes σ_i from x_i's k-th nearest neighbour within its own class (Sugiyama 2007, eq. 11 and
    # Sec. 4; Sugiyama et al. 2010, Sec. 2), k capped at n_c - 1: the dense definition, not the code
    X, y = size_dominated()
    S_lb, S_lw, _ = dense_local_scatters(X, y, k)
    expected = weighted_metric(S_lb, S_lw)
    model = SELF(beta=0.3, k=k, regularization=0.0).fit(X, y)
    assert model.beta_ == 0.0
    np.testing.assert_allclose(
        model.get_mahalanobis_matrix(), expected, rtol=1e-8, atol=1e-10 * np.abs(expected).max()
    )


def test_in_between_it_solves_the_regularized_local_fisher_problem():
    # S_rlb = (1-β') S_lb + β' c_b S_t, S_rlw = (1-β') S_lw + β' c_w I (eqs. 9-10), each scatter per point,
    # β' = β · (unlabelled share): 0.45 · 2/3 = 0.3
    X, _, partial = partly_labelled(seed=2)
    labelled = np.array([v is not None for v in partial])
    beta = 0.3
    S_lb, S_lw, _ = dense_local_scatters(X[labelled], partial[labelled].astype(str), 7)
    centered = X - X.mean(axis=0)
    S_t = centered.T @ centered / len(X)
    # each unsupervised term at the trace of the term it joins
    between = (1 - beta) * S_lb + beta * np.trace(S_lb) / np.trace(S_t) * S_t
    within = (1 - beta) * S_lw + beta * np.trace(S_lw) / X.shape[1] * np.eye(X.shape[1])
    expected = weighted_metric(between, within)
    model = SELF(beta=0.45, regularization=0.0).fit(X, partial)
    assert model.beta_ == pytest.approx(beta, rel=1e-15)
    got = model.get_mahalanobis_matrix()
    np.testing.assert_allclose(got, expected, rtol=1e-8, atol=1e-10 * np.abs(expected).max())


def test_unlabelled_rows_shape_the_metric():
    X, _, partial = partly_labelled(seed=3)
    labelled = np.array([v is not None for v in partial])
    with_unlabelled = SELF(beta=0.5).fit(X, partial).get_mahalanobis_matrix()
    labelled_only = SELF(beta=0.5).fit(X[labelled], partial[labelled]).get_mahalanobis_matrix()
    assert np.abs(with_unlabelled - labelled_only).max() > 1e-3 * np.abs(labelled_only).max()


def test_beta_outside_the_unit_interval_is_refused():
    X, _, partial = partly_labelled()
    with pytest.raises(MetricliError, match="beta must be between 0 and 1"):
        SELF(beta=1.5).fit(X, partial)


def test_no_labels_is_refused():
    X, _, _ = partly_labelled()
    with pytest.raises(MetricliError, match="no labelled points"):
        SELF().fit(X, [None] * len(X))
