"""scikit-learn conventions (SPEC section 8) for every learner in the registry, and inputs
that hold the same numbers in another container, dtype or memory layout fitting the same M."""

from __future__ import annotations

import inspect
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metricli import constraints as C
from metricli.errors import MetricliError
from metricli.learners import LEARNERS

DATA = Path(__file__).resolve().parents[2] / "sample_data"
IRIS = pd.read_csv(DATA / "iris.csv")
DIABETES = pd.read_csv(DATA / "diabetes.csv")


def problem(cls):
    """(X as pandas hands it over, i.e. Fortran-ordered, supervision) for the learner's kind."""
    if cls.supervision == "regression":
        return DIABETES.iloc[:120, :-1].to_numpy(float), DIABETES.iloc[:120, -1].to_numpy(float)
    X = IRIS.iloc[:, :4].to_numpy(float)
    labels = IRIS.iloc[:, 4].to_numpy()
    if cls.supervision == "unsupervised":
        return X, None
    if cls.supervision in ("supervised", "semi-supervised"):
        return X, labels
    codes = pd.factorize(labels)[0]
    kind = cls.constraint_kinds[0]
    if kind == "chunks":
        return X, C.chunks_from_labels(codes, 20, 3, seed=0)
    return X, C.from_labels(kind, codes, n=150, seed=0)


def make(cls):
    seeded = "random_state" in inspect.signature(cls.__init__).parameters
    return cls(random_state=0) if seeded else cls()


def fit(learner, X, supervision):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return learner.fit(X) if supervision is None else learner.fit(X, supervision)


LEARNER_CLASSES = pytest.mark.parametrize("cls", list(LEARNERS.values()), ids=list(LEARNERS))


@LEARNER_CLASSES
def test_params_round_trip_and_unknown_name(cls):
    learner = make(cls)
    params = learner.get_params()
    assert list(params) == cls._param_names()
    assert cls(**params).get_params() == params
    assert learner.set_params(**params) is learner
    with pytest.raises(ValueError, match="no parameter 'bogus'; its parameters are"):
        learner.set_params(bogus=1)


@LEARNER_CLASSES
def test_fit_returns_self_with_trailing_underscore_attributes(cls):
    X, supervision = problem(cls)
    learner = make(cls)
    with pytest.raises(MetricliError, match="not fitted yet"):
        learner.transform(X)
    with pytest.raises(MetricliError, match="not fitted yet"):
        learner.get_mahalanobis_matrix()
    before = set(vars(learner))
    params = learner.get_params()
    assert fit(learner, X, supervision) is learner
    public = [a for a in set(vars(learner)) - before if not a.startswith("_")]
    assert public and all(a.endswith("_") for a in public), public
    assert learner.get_params() == params
    L = learner.components_
    np.testing.assert_allclose(learner.transform(X), X @ L.T, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(learner.get_mahalanobis_matrix(), L.T @ L, rtol=1e-12, atol=1e-12)


@LEARNER_CLASSES
def test_same_numbers_in_any_container_layout_or_dtype_fit_the_same_metric(cls):
    X, supervision = problem(cls)
    assert X.flags.f_contiguous and not X.flags.c_contiguous  # as DataFrame.to_numpy() gives it
    reference = fit(make(cls), np.ascontiguousarray(X), supervision).get_mahalanobis_matrix()
    for variant in (X, np.asfortranarray(X), X.tolist(), pd.DataFrame(X)):
        M = fit(make(cls), variant, supervision).get_mahalanobis_matrix()
        np.testing.assert_array_equal(M, reference)
    small = np.round(X * 4) / 4  # exact in float32 and, times 4, in int
    reference = fit(make(cls), small, supervision).get_mahalanobis_matrix()
    M32 = fit(make(cls), small.astype(np.float32), supervision).get_mahalanobis_matrix()
    np.testing.assert_array_equal(M32, reference)
    reference = fit(make(cls), small * 4, supervision).get_mahalanobis_matrix()
    Mint = fit(make(cls), (small * 4).astype(np.int64), supervision).get_mahalanobis_matrix()
    np.testing.assert_array_equal(Mint, reference)


@LEARNER_CLASSES
def test_second_fit_forgets_the_first(cls):
    X, supervision = problem(cls)
    other = np.ascontiguousarray(X[::-1] * np.linspace(1.0, 2.0, X.shape[1]))
    other_supervision = supervision
    if cls.supervision in ("supervised", "semi-supervised", "regression"):
        other_supervision = supervision[::-1].copy()
    fresh = fit(make(cls), other, other_supervision).get_mahalanobis_matrix()
    learner = fit(make(cls), X, supervision)
    fit(learner, other, other_supervision)
    np.testing.assert_array_equal(learner.get_mahalanobis_matrix(), fresh)
    narrower = np.ascontiguousarray(X[:, :3])
    fit(learner, narrower, supervision)
    assert learner.components_.shape[1] == learner.n_features_in_ == 3


def _blank_label_variants():
    labels = IRIS.iloc[:, 4].to_numpy(object)
    blank = np.zeros(labels.size, dtype=bool)
    blank[::3] = True
    with_none = labels.copy()
    with_none[blank] = None
    codes = pd.factorize(labels)[0].astype(float)
    as_float = np.where(blank, np.nan, codes)
    float_none = as_float.astype(object)
    float_none[blank] = None
    return with_none, {
        "NaN in an object array": np.where(blank, np.nan, labels).astype(object),
        "empty strings": np.where(blank, "", labels).astype(object),
        "NaN in a pandas column": pd.Series(labels).mask(blank),
        "NA in a pandas string column": pd.Series(labels).astype("string").mask(blank),
        "NaN in a float array": (as_float, float_none),
    }


@pytest.mark.parametrize("name", ["nca", "lmnn"])
def test_supervised_learners_refuse_every_kind_of_blank_label(name):
    # NaN or NA used to become a class of its own ('nan'), silently
    X = np.ascontiguousarray(IRIS.iloc[:, :4].to_numpy(float))
    _, variants = _blank_label_variants()
    for labels in variants.values():
        labels = labels[0] if isinstance(labels, tuple) else labels
        with pytest.raises(MetricliError, match="50 points have no label"):
            LEARNERS[name](random_state=0).fit(X, labels)


@pytest.mark.parametrize("name", ["lfda", "self"])
def test_every_kind_of_blank_label_marks_an_unlabelled_row(name):
    X = np.ascontiguousarray(IRIS.iloc[:, :4].to_numpy(float))
    with_none, variants = _blank_label_variants()
    reference = fit(LEARNERS[name](), X, with_none).get_mahalanobis_matrix()
    for what, labels in variants.items():
        if isinstance(labels, tuple):  # float class codes: compare with the same codes and None
            labels, same = labels
            expected = fit(LEARNERS[name](), X, same).get_mahalanobis_matrix()
        else:
            expected = reference
        np.testing.assert_array_equal(
            fit(LEARNERS[name](), X, labels).get_mahalanobis_matrix(), expected, what
        )
