"""LFDA, SELF, RCA, KISSME on degenerate data: always a finite PSD M, the same for the same input.

Constant columns, duplicated columns and more features than points make every scatter
matrix singular; these learners must reduce to the range or regularize, never return
NaN, complex numbers or an M that depends on the order of the rows.
"""

import numpy as np
import pytest

from metricli import MetricliError
from metricli.constraints import Chunks, Pairs, chunks_from_labels, pairs_from_labels
from metricli.learners import KISSME, LFDA, RCA, SELF

NAMES = ("lfda", "self", "rca", "kissme")


def data(kind: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n, d = (12, 30) if kind == "d>n" else (45, 6)
    y = np.repeat(np.array(["a", "b", "c"]), n // 3)
    X = rng.normal(size=(n, d)) + (y == "b")[:, None] * 1.5 - (y == "c")[:, None] * np.linspace(0, 2, d)
    if kind == "degenerate columns":
        X[:, 2] = 7.25  # constant
        X[:, 5] = X[:, 0]  # duplicated
        X[3] = X[4]  # duplicated rows too
    return X, y


def fit(name: str, X: np.ndarray, y: np.ndarray, order: np.ndarray | None = None):
    """Fit ``name`` on X (rows permuted by ``order``, with the supervision permuted alike)."""
    order = np.arange(len(X)) if order is None else order
    inverse = np.argsort(order)
    Xp, yp = X[order], y[order]
    if name == "lfda":
        return LFDA().fit(Xp, yp)
    if name == "self":
        partial = y.astype(object)
        partial[np.arange(len(y)) % 2 == 1] = None
        return SELF().fit(Xp, partial[order])
    if name == "rca":
        ids = chunks_from_labels(y, 100, chunk_size=3, seed=0).ids
        return RCA().fit(Xp, Chunks(ids[order]))
    pairs = pairs_from_labels(y, 200, seed=0)
    return KISSME().fit(Xp, Pairs(inverse[pairs.a], inverse[pairs.b], pairs.y))


def assert_finite_symmetric_psd(M: np.ndarray) -> None:
    assert np.all(np.isfinite(M))
    np.testing.assert_array_equal(M, M.T)
    values = np.linalg.eigvalsh(M)
    assert values.max() > 0
    assert values.min() >= -1e-12 * values.max()


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("kind", ["degenerate columns", "d>n"])
def test_metric_is_finite_symmetric_psd(name, kind):
    X, y = data(kind)
    M = fit(name, X, y).get_mahalanobis_matrix()
    assert_finite_symmetric_psd(M)
    if kind == "degenerate columns":
        scale = np.abs(M).max()
        assert np.abs(M[2]).max() <= 1e-10 * scale  # the constant column gets no weight
        twin = np.zeros(X.shape[1])
        twin[0], twin[5] = 1.0, -1.0
        assert np.abs(M @ twin).max() <= 1e-8 * scale  # nor the difference of duplicated columns


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("kind", ["degenerate columns", "d>n", "plain"])
def test_same_metric_for_the_same_input_and_for_permuted_rows(name, kind):
    X, y = data(kind, seed=1)
    M = fit(name, X, y).get_mahalanobis_matrix()
    np.testing.assert_array_equal(fit(name, X, y).get_mahalanobis_matrix(), M)
    np.testing.assert_array_equal(fit(name, X, y).components_, fit(name, X, y).components_)
    order = np.random.default_rng(2).permutation(len(X))
    permuted = fit(name, X, y, order).get_mahalanobis_matrix()
    np.testing.assert_allclose(permuted, M, rtol=0, atol=1e-9 * np.abs(M).max())


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("exponent", [-150, 150])
def test_extreme_scales_give_the_rescaled_metric(name, exponent):
    X, y = data("plain", seed=3)
    M = fit(name, X, y).get_mahalanobis_matrix()
    scaled = fit(name, X * 10.0**exponent, y).components_ * 10.0**exponent  # L scales by 1/s
    np.testing.assert_allclose(scaled.T @ scaled, M, rtol=1e-9, atol=1e-12 * np.abs(M).max())


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("exponent", [-300, 300])
def test_scales_beyond_float64_are_one_clear_error(name, exponent):
    X, y = data("plain", seed=3)
    with pytest.raises(MetricliError, match="overflow or underflow float64; rescale the features"):
        fit(name, X * 10.0**exponent, y)
