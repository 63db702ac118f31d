"""Class labels the supervised learners refuse: every class a single point."""

from __future__ import annotations

import numpy as np
import pytest

from metricli.errors import MetricliError
from metricli.learners import LFDA, LMNN, NCA, SELF
from metricli.learners.nca import nca_objective

X = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 7.0], [6.0, 1.0], [2.0, 5.0]])
UNIQUE = np.array(["p", "q", "r", "s", "t"])


def test_with_no_same_class_pair_nca_has_nothing_to_learn():
    # the reason for refusing: NCA's objective and gradient are identically zero
    L = np.array([[1.0, 0.5], [-0.3, 2.0]])
    value, grad = nca_objective(X, L, np.arange(5), np.arange(6), 2**20)
    assert value == 0.0 and not np.any(grad)


@pytest.mark.parametrize("learner", [NCA, LMNN, LFDA])
def test_labels_where_every_class_has_one_point_are_refused(learner):
    with pytest.raises(MetricliError, match="every one of the 5 classes has a single point"):
        learner().fit(X, UNIQUE)


@pytest.mark.parametrize("learner", [NCA, LFDA])
def test_one_class_with_two_points_is_enough(learner):
    labels = np.array(["p", "q", "r", "r", "t"])
    M = learner().fit(X, labels).get_mahalanobis_matrix()
    assert np.all(np.isfinite(M))


def test_self_still_learns_from_its_unlabelled_part():
    assert np.all(np.isfinite(SELF().fit(X, UNIQUE).get_mahalanobis_matrix()))
