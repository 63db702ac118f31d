"""Property tests: random shapes and scales never crash a reader or a learner.

A learner either returns a finite, symmetric, positive semi-definite M or raises our own
MetricliError; never NaN, never another exception.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from metricli import MetricliError
from metricli.constraints import from_labels
from metricli.io.tables import load_dataset
from metricli.learners import LEARNERS

PROFILE = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@st.composite
def point_sets(draw):
    n = draw(st.integers(2, 30))
    d = draw(st.integers(1, 8))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    X = rng.normal(size=(n, d))
    if draw(st.booleans()) and d > 1:  # a duplicated column
        X[:, -1] = X[:, 0]
    if draw(st.booleans()):  # a constant column
        X[:, draw(st.integers(0, d - 1))] = 3.0
    if draw(st.booleans()) and n > 2:  # duplicated rows
        X[1] = X[0]
    scale = 10.0 ** draw(st.sampled_from([-150, -50, -8, 0, 8, 50, 150]))
    labels = np.array([f"c{i % draw(st.integers(2, 3))}" for i in range(n)], dtype=object)
    rng.shuffle(labels)
    return X * scale, labels, rng


def _fit(cls, X, labels, rng):
    params = {}
    if "max_iter" in cls._param_names():
        params["max_iter"] = 20
    if "random_state" in cls._param_names():
        params["random_state"] = 0
    learner = cls(**params)
    if cls.supervision == "unsupervised":
        return learner.fit(X)
    if cls.supervision == "regression":
        return learner.fit(X, rng.normal(size=len(X)))
    if cls.supervision in ("supervised", "semi-supervised"):
        return learner.fit(X, labels)
    kind = cls.constraint_kinds[0]
    return learner.fit(X, from_labels(kind, labels, 10, seed=0))


@pytest.mark.parametrize("name", sorted(LEARNERS))
def test_learners_return_a_valid_metric_or_our_error(name):
    cls = LEARNERS[name]

    @PROFILE
    @seed(20261128)
    @given(point_sets())
    def check(case):
        X, labels, rng = case
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                model = _fit(cls, X, labels, rng)
            except MetricliError:
                return
        M = model.get_mahalanobis_matrix()
        assert np.all(np.isfinite(M)), M
        np.testing.assert_allclose(M, M.T, rtol=1e-9, atol=1e-300)
        eig = np.linalg.eigvalsh((M + M.T) / 2)
        assert eig.min() >= -1e-9 * max(abs(eig).max(), 1e-300)

    check()


@st.composite
def tables(draw):
    n = draw(st.integers(1, 20))
    d = draw(st.integers(1, 5))
    values = draw(
        st.lists(
            st.floats(allow_nan=False, allow_infinity=False, min_value=-1e300, max_value=1e300),
            min_size=n * d,
            max_size=n * d,
        )
    )
    return pd.DataFrame(np.array(values).reshape(n, d), columns=[f"f{j}" for j in range(d)])


@PROFILE
@seed(20261128)
@given(tables(), st.sampled_from(["csv", "tsv", "parquet", "npy"]))
def test_every_reader_returns_exactly_what_was_written(tmp_path_factory, frame, fmt):
    path = tmp_path_factory.mktemp("t") / f"data.{fmt}"
    if fmt == "csv":
        frame.to_csv(path, index=False, float_format="%.17g")
    elif fmt == "tsv":
        frame.to_csv(path, index=False, sep="\t", float_format="%.17g")
    elif fmt == "parquet":
        frame.to_parquet(path)
    else:
        np.save(path, frame.to_numpy())
    data = load_dataset(str(path))
    np.testing.assert_array_equal(data.X, frame.to_numpy())
