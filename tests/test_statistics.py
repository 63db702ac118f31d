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
