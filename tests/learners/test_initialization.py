"""Starting points for NCA, LMNN and MLKR: what each init choice means."""

from __future__ import annotations

import numpy as np
import pytest

from metricli.errors import MetricliError
from metricli.learners import LMNN, MLKR, NCA
from metricli.learners.initialization import initial_components


@pytest.fixture
def three_classes():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 40)
    means = np.array([[0.0, 0.0, 0.0, 0.0], [3.0, 1.0, 0.0, 0.0], [0.0, 4.0, 1.0, 0.0]])
    X = means[labels] + rng.standard_normal((120, 4)) * [1.0, 2.0, 0.5, 3.0]
    return X, labels


def test_auto_follows_the_rule(three_classes):
    X, labels = three_classes
    lda = initial_components("auto", X, 2, labels=labels)
    np.testing.assert_array_equal(lda, initial_components("lda", X, 2, labels=labels))
    np.testing.assert_array_equal(
        initial_components("auto", X, 3, labels=labels), initial_components("pca", X, 3)
    )
    np.testing.assert_array_equal(initial_components("auto", X, None, labels=labels), np.eye(4))
    # regression: never lda
    np.testing.assert_array_equal(initial_components("auto", X, 2), initial_components("pca", X, 2))


def test_pca_rows_are_the_leading_principal_directions(three_classes):
    X, _ = three_classes
    L = initial_components("pca", X, 2)
    np.testing.assert_allclose(L @ L.T, np.eye(2), atol=1e-12)
    variances = np.var((X - X.mean(axis=0)) @ L.T, axis=0)
    cov_values = np.linalg.eigvalsh(np.cov(X.T, bias=True))[::-1]
    np.testing.assert_allclose(variances, cov_values[:2], rtol=1e-10)


def test_lda_whitens_the_classes_and_diagonalises_their_spread(three_classes):
    X, labels = three_classes
    L = initial_components("lda", X, 2, labels=labels)
    Z = X @ L.T
    means = np.array([Z[labels == c].mean(axis=0) for c in range(3)])
    within = sum((Z[labels == c] - means[c]).T @ (Z[labels == c] - means[c]) for c in range(3)) / (120 - 3)
    np.testing.assert_allclose(within, np.eye(2), atol=1e-10)
    centred = means - means.mean(axis=0)
    between = centred.T @ centred
    assert abs(between[0, 1]) < 1e-9 * between[0, 0]
    assert between[0, 0] >= between[1, 1]


def test_random_and_identity(three_classes):
    X, _ = three_classes
    np.testing.assert_array_equal(initial_components("identity", X, 2), np.eye(2, 4))
    first = initial_components("random", X, 3, random_state=5)
    np.testing.assert_array_equal(first, initial_components("random", X, 3, random_state=5))
    assert first.shape == (3, 4)


def test_auto_falls_back_when_classes_have_no_spread():
    # one point per class: no within-class scatter, so auto cannot use lda
    X = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0]])
    np.testing.assert_array_equal(
        initial_components("auto", X, 1, labels=np.array([0, 1, 2])), initial_components("pca", X, 1)
    )


@pytest.mark.parametrize("scale", [1e-200, 1e200])
@pytest.mark.parametrize("cls", [NCA, LMNN, MLKR])
def test_extreme_scales_are_refused(cls, scale):
    X = np.random.default_rng(0).standard_normal((12, 2)) * scale
    y = np.arange(12.0) if cls is MLKR else np.repeat([0, 1], 6)
    with pytest.raises(
        MetricliError,
        match=f"{cls.name}: the features reach .* from their mean; its objective works at unit scale",
    ):
        cls().fit(X, y)
