import numpy as np
import pytest

from metricli import Covariance, MetricliError


def _pinv_cov(X):
    return np.linalg.pinv(np.cov(X, rowvar=False))


def test_metric_is_inverse_covariance_on_iris(iris_X):
    M = Covariance().fit(iris_X).get_mahalanobis_matrix()
    expected = np.linalg.inv(np.cov(iris_X, rowvar=False))
    np.testing.assert_allclose(M, expected, rtol=1e-10, atol=1e-10 * np.abs(expected).max())


def test_linearly_dependent_column_gives_the_pseudo_inverse(iris_X):
    X = np.column_stack([iris_X, iris_X[:, 0] + 2 * iris_X[:, 2]])
    M = Covariance().fit(X).get_mahalanobis_matrix()
    expected = _pinv_cov(X)
    np.testing.assert_allclose(M, expected, rtol=1e-10, atol=1e-10 * np.abs(expected).max())
    # Penrose conditions: C M C = C and M C M = M
    C = np.cov(X, rowvar=False)
    np.testing.assert_allclose(C @ M @ C, C, atol=1e-9 * np.abs(C).max())
    np.testing.assert_allclose(M @ C @ M, M, atol=1e-9 * np.abs(M).max())
    # the dependent direction (1, 0, 2, 0, -1) is in the null space: rank 4 of 5
    assert Covariance().fit(X).components_.shape == (4, 5)
    v = np.array([1.0, 0.0, 2.0, 0.0, -1.0])
    assert abs(v @ M @ v) < 1e-8


def test_constant_column_is_ignored_not_nan(iris_X):
    X = np.column_stack([iris_X, np.full(len(iris_X), 7.0)])
    M = Covariance().fit(X).get_mahalanobis_matrix()
    assert np.all(np.isfinite(M))
    np.testing.assert_allclose(M[:4, :4], np.linalg.inv(np.cov(iris_X, rowvar=False)), rtol=1e-9)
    np.testing.assert_allclose(M[4], 0.0, atol=1e-12)


@pytest.mark.parametrize("scale", [1e-150, 1e150])
def test_extreme_scales_are_exact(iris_X, scale):
    M = Covariance().fit(iris_X * scale).get_mahalanobis_matrix()
    expected = np.linalg.inv(np.cov(iris_X, rowvar=False)) / scale**2
    np.testing.assert_allclose(M, expected, rtol=1e-9)


def test_unrepresentable_scale_is_a_clear_error(iris_X):
    with pytest.raises(MetricliError, match="overflow or underflow"):
        Covariance().fit(iris_X * 1e200)


def test_identical_rows_and_too_few_rows_are_errors():
    with pytest.raises(MetricliError, match="identical"):
        Covariance().fit(np.ones((5, 3)))
    with pytest.raises(MetricliError, match="at least 2 rows"):
        Covariance().fit(np.ones((1, 3)))


def test_transform_whitens_and_matches_components(iris_X):
    model = Covariance().fit(iris_X)
    Z = model.transform(iris_X)
    np.testing.assert_allclose(Z, iris_X @ model.components_.T)
    np.testing.assert_allclose(np.cov(Z, rowvar=False), np.eye(4), atol=1e-10)


def test_params_follow_sklearn_conventions():
    model = Covariance(rtol=1e-6)
    assert model.get_params() == {"rtol": 1e-6}
    assert model.set_params(rtol=None) is model and model.rtol is None
    with pytest.raises(ValueError):
        model.set_params(nonsense=1)
    with pytest.raises(MetricliError, match="not fitted"):
        model.get_mahalanobis_matrix()


def test_same_input_same_bytes_and_row_order_invariance(iris_X):
    a = Covariance().fit(iris_X).components_
    b = Covariance().fit(iris_X).components_
    assert a.tobytes() == b.tobytes()
    perm = np.random.default_rng(0).permutation(len(iris_X))
    c = Covariance().fit(iris_X[perm]).components_
    np.testing.assert_allclose(a, c, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("rtol", [-1.0, 1.0, 2.0, float("nan")])
def test_rtol_outside_zero_to_one_is_refused(iris_X, rtol):
    with pytest.raises(MetricliError, match=r"covariance: rtol must be in \[0, 1\)"):
        Covariance(rtol=rtol).fit(iris_X)
