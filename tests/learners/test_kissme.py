"""KISSME (Köstinger et al. 2012) equals its closed form, written out here."""

import numpy as np
import pytest

from metricli import MetricliError
from metricli.constraints import Pairs
from metricli.learners import KISSME


def psd_part(M: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((M + M.T) / 2)
    return (vectors * np.clip(values, 0, None)) @ vectors.T


def toy_pairs(seed: int = 0):
    """Two classes in 3-D; similar pairs within a class, dissimilar across."""
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1], 20)
    X = rng.normal(size=(40, 3)) * [0.5, 2.0, 1.0]
    X[:, 0] += 2.0 * y
    a = rng.integers(0, 40, size=120)
    b = rng.integers(0, 40, size=120)
    keep = a != b
    a, b = a[keep], b[keep]
    return X, Pairs(a, b, np.where(y[a] == y[b], 1, -1))


def covariance_of_differences(X, a, b):
    diff = X[a] - X[b]
    return diff.T @ diff / len(a)


def test_metric_is_the_psd_part_of_the_inverse_covariance_difference():
    X, pairs = toy_pairs()
    s = pairs.y == 1
    sigma_s = covariance_of_differences(X, pairs.a[s], pairs.b[s])
    sigma_d = covariance_of_differences(X, pairs.a[~s], pairs.b[~s])
    raw = np.linalg.inv(sigma_s) - np.linalg.inv(sigma_d)
    expected = psd_part(raw)
    assert np.linalg.eigvalsh(raw).min() < 0  # the projection onto the PSD cone matters here
    M = KISSME(regularization=0.0).fit(X, pairs).get_mahalanobis_matrix()
    np.testing.assert_allclose(M, expected, rtol=1e-9, atol=1e-10 * np.abs(expected).max())
    # the default regularization (1e-3) moves a well-conditioned M by about 0.1%
    default = KISSME().fit(X, pairs).get_mahalanobis_matrix()
    gap = np.abs(default - expected).max() / np.abs(expected).max()
    assert 1e-5 < gap < 1e-2


def test_regularization_is_shrinkage_towards_the_pair_scatter():
    X, pairs = toy_pairs(seed=1)
    s = pairs.y == 1
    sigma_s = covariance_of_differences(X, pairs.a[s], pairs.b[s])
    sigma_d = covariance_of_differences(X, pairs.a[~s], pairs.b[~s])
    alpha, T = 0.2, sigma_s + sigma_d
    expected = psd_part(np.linalg.inv(sigma_s + alpha * T) - np.linalg.inv(sigma_d + alpha * T))
    M = KISSME(regularization=alpha).fit(X, pairs).get_mahalanobis_matrix()
    np.testing.assert_allclose(M, expected, rtol=1e-9, atol=1e-10 * np.abs(expected).max())


def test_the_class_direction_gets_the_weight():
    X, pairs = toy_pairs(seed=2)
    M = KISSME().fit(X, pairs).get_mahalanobis_matrix()
    _, vectors = np.linalg.eigh(M)
    assert abs(vectors[0, -1]) > 0.95  # top eigenvector along e1, where the classes differ


def test_pairs_of_a_single_kind_are_refused():
    X, pairs = toy_pairs()
    with pytest.raises(MetricliError, match="no dissimilar pairs"):
        KISSME().fit(X, Pairs(pairs.a, pairs.b, np.ones_like(pairs.y)))


def test_similar_pairs_spread_more_than_dissimilar_ones_is_refused():
    rng = np.random.default_rng(3)
    X = np.vstack([rng.normal(size=(20, 3)) * 10, rng.normal(size=(20, 3))])
    a, b = rng.integers(0, 20, size=(2, 60))
    keep = a != b
    pairs = Pairs(
        np.r_[a[keep], a[keep] + 20],
        np.r_[b[keep], b[keep] + 20],
        np.r_[np.ones(keep.sum()), -np.ones(keep.sum())],
    )
    with pytest.raises(MetricliError, match="the metric is zero"):
        KISSME(regularization=0.0).fit(X, pairs)
