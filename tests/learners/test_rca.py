"""RCA (Bar-Hillel et al. 2005): M is the inverse within-chunklet covariance."""

import numpy as np
import pytest
from scipy.linalg import eigh

from metricli import MetricliError
from metricli.constraints import Chunks
from metricli.learners import RCA


def chunked(seed: int = 0, n_chunks: int = 15, size: int = 3, d: int = 4):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_chunks, d)) * 4
    ids = np.repeat(np.arange(n_chunks), size)
    X = centres[ids] + rng.normal(size=(ids.size, d)) * np.resize([0.2, 1.0, 3.0, 0.5], d)
    return X, ids


def within_chunklet_covariance(X: np.ndarray, ids: np.ndarray) -> np.ndarray:
    residual = X.copy()
    for c in np.unique(ids):
        residual[ids == c] -= X[ids == c].mean(axis=0)
    return residual.T @ residual / len(X)


def test_metric_is_the_inverse_within_chunklet_covariance():
    X, ids = chunked()
    M = RCA().fit(X, Chunks(ids)).get_mahalanobis_matrix()
    expected = np.linalg.inv(within_chunklet_covariance(X, ids))
    np.testing.assert_allclose(M, expected, rtol=1e-9, atol=1e-12 * np.abs(expected).max())
    # whitening: the chunklet residuals have identity covariance in the learned space
    L = RCA().fit(X, ids).components_
    np.testing.assert_allclose(L @ within_chunklet_covariance(X, ids) @ L.T, np.eye(4), atol=1e-10)


def test_unchunked_points_and_singleton_chunks_do_not_change_the_metric():
    X, ids = chunked(seed=1)
    base = RCA().fit(X, ids).get_mahalanobis_matrix()
    rng = np.random.default_rng(9)
    extra = rng.normal(size=(25, X.shape[1])) * 50 + 7
    X_more = np.vstack([extra[:10], X, extra[10:]])
    ids_more = np.concatenate(
        [-np.ones(10, int), ids + 100, np.r_[-np.ones(14, int), 999]]
    )  # 999: a singleton
    got = RCA().fit(X_more, Chunks(ids_more)).get_mahalanobis_matrix()
    np.testing.assert_allclose(got, base, rtol=1e-10, atol=1e-13 * np.abs(base).max())


def test_n_components_keeps_the_least_within_chunklet_variance_relative_to_the_total():
    # the constrained Fisher reduction of the paper: smallest eigenvalues of Ĉ v = μ S_t v
    X, ids = chunked(seed=2)
    L = RCA(n_components=2).fit(X, ids).components_
    C = within_chunklet_covariance(X, ids)
    centered = X - X.mean(axis=0)
    _, V = eigh(C, centered.T @ centered / len(X))
    projection = L.T @ np.linalg.pinv(L.T)  # onto the span of L's rows
    for v in V[:, :2].T:
        np.testing.assert_allclose(projection @ v, v, atol=1e-9 * np.abs(v).max())
    # and within that span the chunklet residuals are white
    np.testing.assert_allclose(L @ C @ L.T, np.eye(2), atol=1e-10)


def test_singular_within_covariance_is_reduced_to_its_range():
    # 4 chunks of 2 points in 10 dimensions: Ĉ has rank 4
    X, ids = chunked(seed=3, n_chunks=4, size=2, d=10)
    model = RCA().fit(X, ids)
    assert model.components_.shape[0] == 4
    M = model.get_mahalanobis_matrix()
    assert np.all(np.isfinite(M))
    # each chunk's two points become exactly as far apart as Ĉ⁺ says: residuals are white on the range
    C = within_chunklet_covariance(X, ids)
    L = model.components_
    np.testing.assert_allclose(L @ C @ L.T, np.eye(4), atol=1e-9)
    # a positive regularization keeps every direction of the chunk points' spread instead
    assert RCA(regularization=0.1).fit(X, ids).components_.shape[0] == 7  # 8 points: total rank 7


def test_no_chunk_with_two_points_is_refused():
    X, _ = chunked()
    ids = -np.ones(len(X), int)
    ids[0], ids[1] = 0, 1
    with pytest.raises(MetricliError, match="no chunklet has two or more points"):
        RCA().fit(X, ids)
