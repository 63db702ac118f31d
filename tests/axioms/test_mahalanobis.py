import numpy as np

from metricli import check_mahalanobis


def _as_vector(point, names):
    return np.array([point[n] for n in names]) if isinstance(point, dict) else np.array(point)


def test_positive_definite_is_a_metric():
    A = np.array([[2.0, 0.5], [0.5, 1.0]])
    report = check_mahalanobis(A, ["a", "b"])
    assert report["verdict"] == "metric" and report["holds"]
    assert report["rank"] == 2
    eig = np.linalg.eigvalsh(A)
    assert np.isclose(report["condition_number"], eig.max() / eig.min())
    assert all(axiom["holds"] for axiom in report["axioms"].values())


def test_singular_psd_is_a_pseudometric_with_a_zero_distance_witness():
    L = np.array([[1.0, 1.0, 0.0], [0.0, 2.0, -1.0]])
    M = L.T @ L  # null space spanned by (-1, 1, 2)
    names = ["u", "v", "w"]
    report = check_mahalanobis(M, names)
    assert report["verdict"] == "pseudometric" and not report["holds"]
    axiom = report["axioms"]["identity_of_indiscernibles"]
    assert axiom["holds"] is False and axiom["null_dimension"] == 1
    x = _as_vector(axiom["witness"]["x"], names)
    y = _as_vector(axiom["witness"]["y"], names)
    assert np.linalg.norm(x - y) > 0.5
    assert np.sqrt(max((x - y) @ M @ (x - y), 0)) < 1e-7
    np.testing.assert_allclose((y - x) / np.abs(y - x).max(), np.array([-1, 1, 2]) / 2)
    assert report["axioms"]["triangle_inequality"]["holds"]


def test_negative_eigenvalue_is_not_a_distance_and_the_witness_shows_it():
    M = np.array([[1.0, 0.0], [0.0, -0.5]])
    report = check_mahalanobis(M)
    assert report["verdict"] == "not a distance"
    witness = report["axioms"]["non_negativity"]["witness"]
    diff = np.array(witness["y"]) - np.array(witness["x"])
    assert diff @ M @ diff < 0
    assert np.isclose(witness["squared_distance"], diff @ M @ diff)


def test_floating_noise_is_not_a_violation():
    rng = np.random.default_rng(0)
    L = rng.normal(size=(3, 5))
    M = L.T @ L  # rank 3: two null directions, computed eigenvalues around ±1e-16
    report = check_mahalanobis(M)
    assert report["verdict"] == "pseudometric"
    assert report["axioms"]["identity_of_indiscernibles"]["null_dimension"] == 2


def test_asymmetric_matrix_uses_its_symmetric_part():
    M = np.array([[2.0, 1.0], [0.0, 2.0]])  # symmetric part [[2, .5], [.5, 2]] is PD
    report = check_mahalanobis(M)
    assert report["verdict"] == "metric"
    assert report["axioms"]["symmetry"]["matrix_symmetric"] is False
    assert any("not symmetric" in n for n in report["notes"])


def test_verdict_does_not_depend_on_the_units_of_the_features():
    rng = np.random.default_rng(3)
    L = rng.normal(size=(4, 4))
    M = L.T @ L  # positive definite
    units = np.diag([1.0, 1e-5, 1e4, 1.0])  # e.g. one feature in micrometres, one in kilometres
    rescaled = units @ M @ units
    eig = np.linalg.eigvalsh(rescaled)
    assert eig.min() / eig.max() < 1e-9  # a plain relative threshold would call it singular
    assert check_mahalanobis(rescaled)["verdict"] == "metric"
    # and a real null direction survives the same change of units
    singular = units @ (L[:3].T @ L[:3]) @ units
    report = check_mahalanobis(singular)
    assert report["verdict"] == "pseudometric"
    w = report["axioms"]["identity_of_indiscernibles"]["witness"]
    v = np.array(w["y"]) - np.array(w["x"])
    assert np.sqrt(max(v @ singular @ v, 0)) < 1e-6 * np.sqrt(np.abs(np.diag(singular)) @ v**2)


def test_tolerances_must_be_finite_and_non_negative():
    import pytest

    from metricli import MetricliError

    # a NaN tolerance made every comparison false: a negative eigenvalue passed as a metric
    not_psd = np.array([[1.0, 0.0], [0.0, -1.0]])
    assert check_mahalanobis(not_psd)["verdict"] == "not a distance"
    for rtol, atol in [(np.nan, 0.0), (-1.0, 0.0), (np.inf, 0.0), (1e-9, np.nan), (1e-9, -1.0)]:
        with pytest.raises(MetricliError, match="tolerances must be finite and >= 0"):
            check_mahalanobis(not_psd, rtol=rtol, atol=atol)
