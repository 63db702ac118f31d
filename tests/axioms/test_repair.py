"""Repairs: the largest metric below D (shortest paths) and the nearest PSD M (eigenvalue clipping)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse.csgraph import floyd_warshall, shortest_path
from scipy.spatial.distance import cdist

from metricli.axioms import check_distance, check_mahalanobis, metric_repair, nearest_psd
from metricli.axioms.repair import shortest_path_closure
from metricli.errors import MetricliError

X = np.random.default_rng(11).normal(size=(45, 3))


def test_repair_of_a_violating_matrix_passes_the_check_and_never_increases_an_entry():
    D = cdist(X, X, "sqeuclidean")
    assert check_distance(D)["verdict"] == "semimetric"
    R, summary = metric_repair(D, n_jobs=2)
    assert check_distance(R)["verdict"] == "metric"
    assert np.all(R <= D)
    upper = np.triu(np.ones_like(D, dtype=bool), 1)
    assert summary["pairs_lowered"] == np.count_nonzero((R < D)[upper]) > 0
    assert summary["max_decrease"] == pytest.approx((D - R).max(), rel=1e-15)
    assert not summary["unchanged"]


def test_repair_is_the_shortest_path_closure():
    D = cdist(X, X, "sqeuclidean")  # no zero off the diagonal: scipy reads zeros as missing edges
    R, _ = metric_repair(D)
    np.testing.assert_allclose(R, floyd_warshall(D), rtol=1e-13, atol=0)
    # by hand: the detour through the middle point is shorter than the direct 5
    R, summary = metric_repair(np.array([[0.0, 1.0, 5.0], [1.0, 0.0, 1.0], [5.0, 1.0, 0.0]]))
    np.testing.assert_array_equal(R, [[0.0, 1.0, 2.0], [1.0, 0.0, 1.0], [2.0, 1.0, 0.0]])
    assert (
        summary["pairs_lowered"] == 1
        and summary["max_decrease"] == 3.0
        and summary["max_decrease_at"] == [0, 2]
    )


def test_repair_leaves_a_metric_unchanged_bit_for_bit():
    for metric in ("euclidean", "cityblock", "chebyshev"):
        D = cdist(X, X, metric)
        R, summary = metric_repair(D)
        assert np.array_equal(R, D) and summary["unchanged"] and summary["pairs_lowered"] == 0
    noisy = cdist(X, X) + 1e-12 * np.random.default_rng(2).random((45, 45))
    noisy = np.minimum(noisy, noisy.T)
    np.fill_diagonal(noisy, 0.0)
    R, summary = metric_repair(noisy)
    assert np.array_equal(R, noisy) and summary["unchanged"]


def test_repair_of_an_asymmetric_matrix_is_the_largest_metric_below_both_triangles():
    rng = np.random.default_rng(5)
    W = rng.uniform(1, 4, (25, 25))
    np.fill_diagonal(W, 0.0)
    quasi = shortest_path(W, directed=True)
    assert check_distance(quasi)["verdict"] == "quasimetric"
    R, summary = metric_repair(quasi)
    assert np.array_equal(R, R.T) and np.all(R <= np.minimum(quasi, quasi.T))
    np.testing.assert_allclose(R, floyd_warshall(np.minimum(quasi, quasi.T)), rtol=1e-13)
    assert summary["pairs_symmetrized"] == np.count_nonzero(np.triu(quasi != quasi.T, 1))
    assert check_distance(R)["verdict"] == "metric"


def test_zero_distances_survive_the_repair_as_a_pseudometric():
    Y = X.copy()
    Y[9] = Y[2]
    D = cdist(Y, Y, "sqeuclidean")
    R, _ = metric_repair(D)
    assert R[2, 9] == 0.0
    assert check_distance(R)["verdict"] == "pseudometric"


@pytest.mark.parametrize("block", [1, 4, 7, 64])
def test_blocked_floyd_warshall_equals_scipy_for_any_pivot_block(block):
    rng = np.random.default_rng(block)
    A = rng.uniform(1, 10, (30, 30))
    np.fill_diagonal(A, 0.0)
    W = A.copy()
    shortest_path_closure(W, pivot_block=block, n_jobs=2)
    np.testing.assert_allclose(W, floyd_warshall(A), rtol=1e-14)


def test_repair_refuses_negative_distances():
    D = cdist(X, X)
    D[1, 2] = -1.0
    with pytest.raises(MetricliError, match=r"cannot repair: d\(1, 2\) = -1 is negative"):
        metric_repair(D)


# -- nearest PSD M ----------------------------------------------------------------------------


def test_nearest_psd_known_answer():
    # eigenvalues 3 (1, 1)/√2 and -1 (1, -1)/√2: clipping leaves 3/2 [[1, 1], [1, 1]]
    P, summary = nearest_psd(np.array([[1.0, 2.0], [2.0, 1.0]]))
    np.testing.assert_allclose(P, [[1.5, 1.5], [1.5, 1.5]], rtol=1e-14)
    assert summary["eigenvalues_clipped"] == 1
    assert summary["frobenius_change"] == pytest.approx(1.0, rel=1e-14)
    assert check_mahalanobis(P)["verdict"] == "pseudometric"


def test_nearest_psd_is_nearer_than_any_other_psd_matrix():
    rng = np.random.default_rng(8)
    A = rng.normal(size=(6, 6))
    A = A + A.T
    P, summary = nearest_psd(A)
    assert np.linalg.eigvalsh(P).min() > -1e-12 * np.abs(A).max()
    best = np.linalg.norm(A - P)
    assert summary["frobenius_change"] == pytest.approx(best, rel=1e-12)
    for _ in range(50):
        B = rng.normal(size=(6, 6))
        other = P + 0.1 * B @ B.T  # PSD, near P
        assert np.linalg.norm(A - other) >= best
    assert check_mahalanobis(P)["verdict"] in ("metric", "pseudometric")


def test_nearest_psd_leaves_a_psd_matrix_unchanged():
    L = np.random.default_rng(3).normal(size=(4, 4))
    M = L.T @ L
    P, summary = nearest_psd(M)
    assert np.array_equal(P, M) and summary["unchanged"] and summary["eigenvalues_clipped"] == 0
