"""scikit-learn compatibility (issue 20): a MetricliError is a ValueError, an unfitted learner
raises what scikit-learn's NotFittedError is (and, when scikit-learn is in use, that very
class), and every learner passes scikit-learn's ``check_estimator`` as it is: no wrapper, the
weakly supervised ones drawing their constraints from class labels as ``metricli fit --label``
does."""

from __future__ import annotations

import inspect
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metricli import constraints as C
from metricli.errors import MetricliError, NotFittedError, NotNumericError
from metricli.learners import ITML, KISSME, LEARNERS, LSML, NCA, RCA, SCML
from metricli.learners.base import check_points

ROOT = Path(__file__).resolve().parents[2]
IRIS = pd.read_csv(ROOT / "sample_data" / "iris.csv")
X_IRIS = IRIS.iloc[:, :4].to_numpy(float)
LABELS = IRIS["species"].to_numpy()

#: the checks a learner fails, and why; every other check must pass
EXPECTED_FAILURES = {
    # make_pipeline names a step after its class in lower case, and a step named "self"
    # collides with the first parameter of scikit-learn's Bunch (TypeError inside sklearn)
    "self": {"check_pipeline_consistency"},
    # two tight blobs: every quadruplet drawn is already satisfied by the identity, the
    # gradient is zero and L-BFGS truthfully reports 0 iterations; the check wants >= 1
    "lsml": {"check_transformer_n_iter"},
}


def test_a_metricli_error_is_a_value_error_and_its_kinds_are_what_python_raises():
    with pytest.raises(ValueError, match="need at least 2 rows, got 1 sample"):
        check_points(np.zeros((1, 3)), min_rows=2)
    bad = np.zeros((3, 2), dtype=object)
    bad[0, 0] = {"a": 1}
    with pytest.raises(TypeError, match="points are not numeric") as caught:
        check_points(bad)
    assert isinstance(caught.value, NotNumericError) and isinstance(caught.value, MetricliError)
    with pytest.raises(AttributeError, match="NCA is not fitted yet") as caught:
        NCA().transform(X_IRIS)
    assert isinstance(caught.value, NotFittedError) and isinstance(caught.value, ValueError)
    with pytest.raises(ValueError, match="X has 3 features, but NCA is expecting 4 features"):
        NCA().fit(X_IRIS, LABELS).transform(X_IRIS[:, :3])


def test_unfitted_is_sklearns_not_fitted_error_when_sklearn_is_in_use():
    exceptions = pytest.importorskip("sklearn.exceptions")
    with pytest.raises(exceptions.NotFittedError, match="ITML is not fitted yet") as caught:
        ITML().get_mahalanobis_matrix()
    assert isinstance(caught.value, MetricliError)
    import pickle

    again = pickle.loads(pickle.dumps(caught.value))
    assert isinstance(again, exceptions.NotFittedError) and again.message == caught.value.message


def test_metricli_never_imports_sklearn_for_the_not_fitted_error():
    code = (
        "import sys\n"
        "from metricli.learners import NCA\n"
        "from metricli.errors import NotFittedError\n"
        "try:\n"
        "    NCA().transform([[1.0, 2.0]])\n"
        "except NotFittedError as exc:\n"
        "    assert isinstance(exc, AttributeError) and isinstance(exc, ValueError)\n"
        "print(sorted(m for m in sys.modules if m == 'sklearn' or m.startswith('sklearn.')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout


@pytest.mark.parametrize(
    ("cls", "kind"), [(ITML, "pairs"), (KISSME, "pairs"), (LSML, "quadruplets"), (SCML, "triplets")]
)
def test_weak_learners_given_labels_fit_the_constraints_metricli_draws_from_them(cls, kind):
    seeded = "random_state" in inspect.signature(cls.__init__).parameters
    make = (lambda: cls(random_state=3)) if seeded else cls
    drawn = C.from_labels(kind, LABELS, None, seed=3 if seeded else 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from_labels = make().fit(X_IRIS, LABELS).get_mahalanobis_matrix()
        from_constraints = make().fit(X_IRIS, drawn).get_mahalanobis_matrix()
    np.testing.assert_array_equal(from_labels, from_constraints)


def test_rca_takes_whole_classes_as_chunklets():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        by_name = RCA().fit(X_IRIS, LABELS).get_mahalanobis_matrix()
        by_id = RCA().fit(X_IRIS, pd.factorize(LABELS)[0]).get_mahalanobis_matrix()
    np.testing.assert_array_equal(by_name, by_id)
    # RCA's M is the inverse of the within-chunklet covariance (Bar-Hillel et al. 2005, eq. 2),
    # up to the per-column scaling it fits in: the within-class covariance of iris here
    centered = X_IRIS - pd.DataFrame(X_IRIS).groupby(LABELS).transform("mean").to_numpy()
    within = centered.T @ centered / len(X_IRIS)
    ratio = by_name @ within
    np.testing.assert_allclose(ratio, np.eye(4) * ratio[0, 0], atol=1e-8 * abs(ratio[0, 0]))


@pytest.mark.parametrize("name", list(LEARNERS))
def test_every_learner_passes_sklearns_check_estimator(name):
    pytest.importorskip("sklearn", minversion="1.6")  # Tags and check_estimator(on_fail=None)
    from sklearn.utils.estimator_checks import check_estimator

    cls = LEARNERS[name]
    parameters = inspect.signature(cls.__init__).parameters
    # a bounded solver keeps the 48 checks to about a second per learner
    options = {k: v for k, v in {"random_state": 0, "max_iter": 20}.items() if k in parameters}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(cls(**options), on_fail=None, on_skip=None)
    failed = {r["check_name"]: r["exception"] for r in results if r["status"] == "failed"}
    assert len(results) >= 47
    assert set(failed) == EXPECTED_FAILURES.get(name, set()), failed
