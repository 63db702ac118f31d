"""The blocked kernels behind NCA, LMNN and MLKR against their direct n x n definitions."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from metricli import kernels
from metricli.kernels import (
    NEGLIGIBLE_EXPONENT,
    DifferenceScatter,
    bounded_row_blocks,
    iter_neighbour_softmax,
    pair_sq_distances,
)


@pytest.mark.parametrize("block_bytes", [8 * 17, 8 * 17 * 5, 2**30])
def test_neighbour_softmax_matches_the_definition(block_bytes):
    rng = np.random.default_rng(0)
    Z = rng.standard_normal((17, 3)) * 2
    D = ((Z[:, None, :] - Z[None, :, :]) ** 2).sum(axis=-1)
    np.fill_diagonal(D, np.inf)
    expected = np.exp(-D) / np.exp(-D).sum(axis=1, keepdims=True)
    seen = np.zeros(17, dtype=int)
    for rows, K, s in iter_neighbour_softmax(Z, block_bytes):
        np.testing.assert_allclose(K / s[:, None], expected[rows], rtol=1e-12, atol=1e-300)
        seen[rows] += 1
    np.testing.assert_array_equal(seen, 1)


def test_sparse_softmax_blocks_keep_exactly_the_non_negligible_weights(monkeypatch):
    monkeypatch.setattr(kernels, "SPARSE_MIN_ENTRIES", 0)  # small blocks too
    rng = np.random.default_rng(2)
    Z = rng.standard_normal((30, 2)) * 5
    dense = np.vstack([K / s[:, None] for _, K, s in iter_neighbour_softmax(Z, sparse_below=0.0)])
    blocks = list(iter_neighbour_softmax(Z, 8 * 30 * 4, sparse_below=1.0))
    assert all(sparse.issparse(K) for _, K, _ in blocks)
    result = np.vstack([(K / s[:, None]).toarray() for _, K, s in blocks])
    kept = result > 0
    largest = dense.max(axis=1, keepdims=True)
    np.testing.assert_array_equal(kept, dense > largest * np.exp(-NEGLIGIBLE_EXPONENT))
    np.testing.assert_allclose(result[kept], dense[kept], rtol=1e-13)
    assert (~kept).sum() > 30 * 10  # most of the 870 off-diagonal weights are negligible here
    assert np.all(dense[~kept] < 1e-17)


@pytest.mark.parametrize("block_bytes", [8 * 4, 8 * 4 * 3, 2**20])
def test_neighbour_softmax_survives_distances_that_underflow_exp(block_bytes):
    # squared distances in the thousands: exp(-d) is 0 in float64, the shifted softmax is not;
    # 0 and 100 are far from everything, 40 and 41 near each other, in any row block
    Z = np.array([[0.0], [40.0], [41.0], [100.0]])
    probabilities = np.vstack([K / s[:, None] for _, K, s in iter_neighbour_softmax(Z, block_bytes)])
    D = (Z - Z.T) ** 2
    np.fill_diagonal(D, np.inf)
    shifted = np.exp(-(D - D.min(axis=1, keepdims=True)))
    # weights beyond EXP_FLOOR of a row's nearest are floored at e^-300 (relative), not 0
    expected = shifted / shifted.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(probabilities, expected, rtol=1e-12, atol=4 * np.exp(-kernels.EXP_FLOOR))
    assert np.all(np.isfinite(probabilities))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    assert probabilities[0, 1] == pytest.approx(1.0)  # 0's nearest is 40, at 1600 vs 1681
    assert probabilities[0, 2] == pytest.approx(np.exp(-81.0), rel=1e-9)


def test_difference_scatter_matches_the_sum_of_outer_products():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((12, 4))
    W = rng.standard_normal((12, 12))
    expected = sum(W[i, j] * np.outer(X[i] - X[j], X[i] - X[j]) for i in range(12) for j in range(12))
    dense = DifferenceScatter(X)
    dense.add_block(slice(0, 5), slice(0, 12), W[:5])
    dense.add_block(slice(5, 12), slice(0, 12), W[5:])
    np.testing.assert_allclose(dense.result(), expected, rtol=1e-12, atol=1e-12)
    pairs = DifferenceScatter(X)
    a, b = np.divmod(np.arange(144), 12)
    pairs.add_pairs(a, b, W.ravel())
    np.testing.assert_allclose(pairs.result(), expected, rtol=1e-12, atol=1e-12)
    mixed = DifferenceScatter(X)
    mixed.add_block(slice(2, 7), slice(3, 12), W[2:7, 3:])
    mask = np.ones((12, 12), dtype=bool)
    mask[2:7, 3:] = False
    mixed.add_pairs(a[mask.ravel()], b[mask.ravel()], W[mask])
    np.testing.assert_allclose(mixed.result(), expected, rtol=1e-12, atol=1e-12)
    csr = DifferenceScatter(X)
    csr.add_block(slice(0, 12), slice(0, 12), sparse.csr_array(W))
    np.testing.assert_allclose(csr.result(), expected, rtol=1e-12, atol=1e-12)


def test_bounded_row_blocks_never_cross_a_boundary():
    blocks = list(bounded_row_blocks([0, 3, 10, 11], 4))
    assert [(b.start, b.stop) for b in blocks] == [(0, 3), (3, 7), (7, 10), (10, 11)]


def test_paired_sq_distances():
    Z = np.array([[0.0, 0.0], [3.0, 4.0], [1.0, 1.0]])
    np.testing.assert_allclose(
        pair_sq_distances(Z, Z, np.array([0, 1, 2]), np.array([1, 2, 2]), block_bytes=16), [25.0, 13.0, 0.0]
    )


def test_kth_neighbour_distance_matches_sorting_all_distances():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((40, 3))
    X[5] = X[9]  # a duplicate: its nearest other point is at distance 0
    D = ((X[:, None, :] - X[None, :, :]) ** 2).sum(axis=-1)
    np.fill_diagonal(D, np.inf)
    expected = np.sort(D, axis=1)
    for k in (1, 4, 39):
        for block_bytes in (8 * 40 * 3, 2**20):
            got = kernels.kth_neighbour_sq_distance(X, k, block_bytes)
            np.testing.assert_allclose(got, expected[:, k - 1], rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError):
        kernels.kth_neighbour_sq_distance(X, 40)


@pytest.mark.parametrize("block_bytes", [200, kernels.DEFAULT_BLOCK_BYTES])
def test_pairwise_percentiles_cover_each_pair_once_and_duplicates_at_zero(block_bytes):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(40, 3)) * 1e3
    X[7] = X[3]  # one duplicate: its pair is at distance exactly 0, the minimum
    i, j = np.triu_indices(40, 1)
    expected = np.percentile(np.sum((X[i] - X[j]) ** 2, axis=1), [0, 5, 50, 95, 100])
    got = kernels.pairwise_sq_distance_percentiles(X, [0, 5, 50, 95, 100], block_bytes)
    assert got[0] == 0.0
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    with pytest.raises(ValueError, match="at least 2 points"):
        kernels.pairwise_sq_distance_percentiles(X[:1], [5])
