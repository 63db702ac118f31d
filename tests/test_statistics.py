import itertools

import numpy as np

from metricli import Covariance
from metricli.statistics import ScatterStats, combine


def test_combined_pieces_equal_the_whole(iris_X):
    whole = ScatterStats.from_array(iris_X)
    cuts = [0, 1, 7, 60, 61, 150]
    parts = [ScatterStats.from_array(iris_X[a:b]) for a, b in itertools.pairwise(cuts)]
    merged = combine([*parts, ScatterStats.empty(4)])
    assert merged.n == 150
    np.testing.assert_allclose(merged.mean, whole.mean, rtol=1e-14)
    np.testing.assert_allclose(merged.scatter, whole.scatter, rtol=1e-12)
    np.testing.assert_allclose(merged.covariance, np.cov(iris_X, rowvar=False), rtol=1e-12)


def test_covariance_from_statistics_equals_fit(iris_X):
    direct = Covariance().fit(iris_X).get_mahalanobis_matrix()
    parts = [ScatterStats.from_array(iris_X[i : i + 40]) for i in range(0, 150, 40)]
    from_stats = Covariance().fit_statistics(combine(parts)).get_mahalanobis_matrix()
    np.testing.assert_allclose(from_stats, direct, rtol=1e-10)


def _wine():
    import pandas as pd

    from .conftest import WINE

    frame = pd.read_csv(WINE)
    return frame.iloc[:, :-1].to_numpy(float), frame.iloc[:, -1].astype(str).to_numpy()


def test_chunk_statistics_of_pieces_equal_those_of_the_whole():
    """Chunklets split across pieces merge exactly: counts, means, ranges and within scatter."""
    from metricli.statistics import ChunkStats

    X, _ = _wine()
    rng = np.random.default_rng(0)
    keys = np.array([None if rng.random() < 0.2 else f"c{rng.integers(40)}" for _ in X], dtype=object)
    whole = ChunkStats.from_array(X, keys)
    cuts = [0, 1, 30, 30, 100, len(X)]
    merged = ChunkStats.from_array(X[:0], keys[:0])
    for a, b in itertools.pairwise(cuts):
        merged = merged.combine(ChunkStats.from_array(X[a:b], keys[a:b]))
    assert merged.keys.tolist() == whole.keys.tolist()
    np.testing.assert_array_equal(merged.n, whole.n)
    np.testing.assert_allclose(merged.mean, whole.mean, rtol=1e-13)
    np.testing.assert_array_equal(merged.low, whole.low)
    np.testing.assert_array_equal(merged.high, whole.high)
    np.testing.assert_allclose(
        merged.within, whole.within, rtol=1e-11, atol=1e-9 * np.abs(whole.within).max()
    )
    # the definition, chunklet by chunklet
    within = sum(
        (X[keys == k] - X[keys == k].mean(axis=0)).T @ (X[keys == k] - X[keys == k].mean(axis=0))
        for k in whole.keys
    )
    np.testing.assert_allclose(whole.within, within, rtol=1e-11, atol=1e-9 * np.abs(within).max())


def test_rca_from_chunk_statistics_equals_fit():
    from metricli.constraints import chunks_from_labels
    from metricli.learners import RCA
    from metricli.statistics import ChunkStats

    X, y = _wine()
    X = np.column_stack([X, np.full(len(X), 7.0)])  # a constant column gets weight 0 both ways
    for size, params in ((2, {}), (5, {"n_components": 3}), (3, {"regularization": 0.1})):
        chunks = chunks_from_labels(y, 30, size, seed=1)
        M = RCA(**params).fit(X, chunks).get_mahalanobis_matrix()
        keys = np.array([None if i < 0 else int(i) for i in chunks.ids], dtype=object)
        stats = ChunkStats.from_array(X[:60], keys[:60]).combine(ChunkStats.from_array(X[60:], keys[60:]))
        M_stats = RCA(**params).fit_statistics(stats).get_mahalanobis_matrix()
        np.testing.assert_allclose(M_stats, M, rtol=1e-10, atol=1e-10 * np.abs(M).max())
        assert not M_stats[-1].any()
