"""LFDA against its definition (Sugiyama 2007) and on problems with a known answer."""

import numpy as np
import pytest

from metricli import MetricliError
from metricli.kernels import pair_scatter
from metricli.learners import LFDA
from metricli.learners.lfda import local_fisher_scatters
from metricli.learners.scatter import centered_and_scaled, encode_classes

from .lfda_reference import dense_local_scatters, weighted_metric


def three_classes(seed: int = 0, n: int = 36, d: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.repeat(np.array(["a", "b", "c"]), n // 3)
    X = rng.normal(size=(n, d)) * np.resize([1.0, 2.0, 0.5, 1.5], d) + (y == "b")[:, None] * 1.5
    X[:, 0] += (y == "c") * 2.0
    X[5] = X[4]  # a duplicated point: sigma may involve a zero distance
    return X, y


def test_pair_scatter_is_the_laplacian_form_in_any_block_size():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(23, 3))
    W = np.exp(-rng.random((23, 23)))
    W = (W + W.T) / 2
    expected = sum(0.5 * W[i, j] * np.outer(X[i] - X[j], X[i] - X[j]) for i in range(23) for j in range(23))
    for block_bytes in (8 * 23 * 4, 8 * 23 * 23, 2**26):  # 4 rows a block, one block, default
        got = pair_scatter(X, lambda rows, D: W[rows], block_bytes=block_bytes)
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("k", [1, 3, 7, 50])
def test_local_scatters_equal_the_papers_dense_definition(k):
    X, y = three_classes()
    Z, scale = centered_and_scaled(X)
    codes, _ = encode_classes(y, len(y))
    got = local_fisher_scatters(Z, codes, k)
    S_lb, S_lw, S_m = dense_local_scatters(X, y, k)  # k larger than a class is capped at n_c - 1
    for mine, theirs in ((got.between, S_lb), (got.within, S_lw), (got.total, S_m)):
        np.testing.assert_allclose(mine * scale**2, theirs, rtol=1e-10, atol=1e-12 * np.abs(theirs).max())


def test_weighted_metric_solves_the_generalized_eigenproblem():
    X, y = three_classes(seed=2)
    S_lb, S_lw, _ = dense_local_scatters(X, y, 7)
    model = LFDA(regularization=0.0).fit(X, y)
    expected = weighted_metric(S_lb, S_lw)
    np.testing.assert_allclose(
        model.get_mahalanobis_matrix(), expected, rtol=1e-8, atol=1e-10 * np.abs(expected).max()
    )
    from scipy.linalg import eigh

    np.testing.assert_allclose(
        model.eigenvalues_, np.sort(eigh(S_lb, S_lw, eigvals_only=True))[::-1], rtol=1e-8
    )


def test_plain_directions_are_normalized_by_the_within_scatter_and_orthonormalized_are_orthonormal():
    X, y = three_classes(seed=3)
    _, S_lw, _ = dense_local_scatters(X, y, 7)
    plain = LFDA(embedding_type="plain", regularization=0.0).fit(X, y).components_
    np.testing.assert_allclose(plain @ S_lw @ plain.T, np.eye(plain.shape[0]), atol=1e-9)
    ortho = LFDA(embedding_type="orthonormalized", n_components=2).fit(X, y).components_
    np.testing.assert_allclose(ortho @ ortho.T, np.eye(2), atol=1e-12)
    # the orthonormal rows span the top two plain directions
    top = LFDA(embedding_type="plain", n_components=2).fit(X, y).components_
    residual = top - (top @ ortho.T) @ ortho
    assert np.abs(residual).max() < 1e-9 * np.abs(top).max()


def test_two_class_toy_recovers_the_discriminative_direction():
    # classes differ along e1 (small spread), the large spread is along e2 and e3 (noise)
    rng = np.random.default_rng(4)
    n = 200
    y = np.repeat([0, 1], n // 2)
    X = rng.normal(size=(n, 3)) * [0.3, 5.0, 3.0]
    X[:, 0] += 2.0 * y
    L = LFDA(n_components=1).fit(X, y).components_
    direction = L[0] / np.linalg.norm(L[0])
    assert abs(direction[0]) > 0.995, direction
    # and a rotated copy of the problem gives the rotated direction
    Q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    rotated = LFDA(n_components=1).fit(X @ Q, y).components_[0]
    assert abs(rotated @ Q[0]) / np.linalg.norm(rotated) > 0.995


def test_multimodal_class_keeps_its_clusters_apart_unlike_fisher():
    # class 0 is two clusters left and right of class 1 along e1; FDA sees equal class means
    # along e1 and picks e2, LFDA's local weights keep e1 (Sugiyama 2007, Fig. 1)
    rng = np.random.default_rng(5)
    left = rng.normal(size=(60, 2)) * [0.3, 1.0] + [-3, 0]
    right = rng.normal(size=(60, 2)) * [0.3, 1.0] + [3, 0]
    middle = rng.normal(size=(120, 2)) * [0.3, 1.0] + [0, 0.8]
    X = np.vstack([left, right, middle])
    y = np.repeat([0, 1], 120)
    direction = LFDA(n_components=1, k=7).fit(X, y).components_[0]
    assert abs(direction[0]) / np.linalg.norm(direction) > 0.9, direction


def test_unlabelled_rows_are_ignored_with_a_warning():
    X, y = three_classes(seed=6)
    labels = y.astype(object)
    extra = np.random.default_rng(0).normal(size=(5, X.shape[1])) * 10
    with pytest.warns(UserWarning, match="ignoring 5 unlabelled rows"):
        partly = LFDA().fit(np.vstack([X, extra]), np.concatenate([labels, [None, np.nan, "", None, None]]))
    np.testing.assert_allclose(
        partly.get_mahalanobis_matrix(), LFDA().fit(X, y).get_mahalanobis_matrix(), rtol=1e-10, atol=1e-14
    )


def test_regularization_bounds_the_eigenvalues():
    X, y = three_classes(seed=7, n=12, d=8)  # fewer points per class than features
    for alpha in (1e-3, 1e-1):
        values = LFDA(regularization=alpha).fit(X, y).eigenvalues_
        assert np.all(np.isfinite(values)) and values.max() <= 1 / alpha * (1 + 1e-9)


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"k": 0}, "k must be a positive integer"),
        ({"n_components": 9}, "n_components=9 exceeds the 4 features"),
        ({"regularization": -1.0}, "regularization must be"),
        ({"embedding_type": "fancy"}, "unknown embedding_type 'fancy'"),
    ],
)
def test_bad_parameters_are_one_clear_error(params, fragment):
    X, y = three_classes()
    with pytest.raises(MetricliError, match=fragment):
        LFDA(**params).fit(X, y)


def test_a_single_class_is_refused():
    X, _ = three_classes()
    with pytest.raises(MetricliError, match="a single class"):
        LFDA().fit(X, ["a"] * len(X))
