"""The distance-matrix axioms on matrices whose answers are known, and against brute force."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse.csgraph import shortest_path
from scipy.spatial.distance import cdist

from metricli.axioms import check_distance
from metricli.axioms.distance import clopper_pearson, triangle_check
from metricli.errors import MetricliError

X = np.random.default_rng(7).normal(size=(40, 4))
N_PAIRS = 40 * 39 // 2


@pytest.mark.parametrize("metric", ["euclidean", "cityblock", "chebyshev", "canberra"])
def test_cdist_metrics_are_metrics(metric):
    report = check_distance(cdist(X, X, metric))
    assert report["verdict"] == "metric" and report["holds"]
    assert all(axiom["holds"] for axiom in report["axioms"].values())
    triangle = report["axioms"]["triangle_inequality"]
    assert triangle["triplets_checked"] == N_PAIRS * 38
    assert triangle["relaxation_factor"]["value"] == 1.0


def test_squared_euclidean_fails_the_triangle_inequality_with_true_witnesses():
    report = check_distance(cdist(X, X, "sqeuclidean"), n_witnesses=10)
    assert report["verdict"] == "semimetric"
    triangle = report["axioms"]["triangle_inequality"]
    assert not triangle["holds"] and len(triangle["witnesses"]) == 10
    for w in triangle["witnesses"]:
        i, j, k = w["i"], w["j"], w["k"]
        # recomputed from the points, not from the matrix the check saw
        d_ij, d_ik, d_kj = (float(np.sum((X[a] - X[b]) ** 2)) for a, b in ((i, j), (i, k), (k, j)))
        assert d_ij > d_ik + d_kj
        assert w["excess"] == pytest.approx(d_ij - d_ik - d_kj, rel=1e-12)
    # (a + b)² <= 2 (a² + b²): squared Euclidean distances are 2-relaxed, and not 1-relaxed
    assert 1.0 < triangle["relaxation_factor"]["value"] <= 2.0


def test_relaxation_factor_of_squared_distances_on_a_line_is_two():
    line = np.array([[0.0], [1.0], [2.0]])
    report = check_distance(cdist(line, line, "sqeuclidean"))
    triangle = report["axioms"]["triangle_inequality"]
    assert triangle["pairs_violated"] == 1 and triangle["triplets_violated"] == 1
    assert (triangle["witness"]["i"], triangle["witness"]["j"], triangle["witness"]["k"]) == (0, 2, 1)
    assert triangle["witness"]["excess"] == 2.0  # 4 > 1 + 1
    assert triangle["relaxation_factor"]["value"] == 2.0


def test_two_identical_points_make_a_pseudometric_with_that_witness_pair():
    Y = X.copy()
    Y[17] = Y[5]
    ids = [f"p{i}" for i in range(len(Y))]
    report = check_distance(cdist(Y, Y), ids)
    assert report["verdict"] == "pseudometric"
    identity = report["axioms"]["identity_of_indiscernibles"]
    assert identity["violations"] == 1
    assert (identity["witness"]["i"], identity["witness"]["j"]) == ("p5", "p17")
    assert identity["witness"]["rows"] == [5, 17]
    assert report["axioms"]["triangle_inequality"]["holds"]


def test_shortest_paths_on_a_directed_graph_are_a_quasimetric():
    rng = np.random.default_rng(3)
    n = 30
    W = np.zeros((n, n))
    W[np.arange(n), (np.arange(n) + 1) % n] = rng.uniform(1, 2, n)  # a directed cycle: strongly connected
    extra = rng.random((n, n)) < 0.1
    W[extra] = rng.uniform(1, 5, extra.sum())
    np.fill_diagonal(W, 0.0)
    D = shortest_path(W, directed=True)
    report = check_distance(D)
    assert report["verdict"] == "quasimetric"
    triangle = report["axioms"]["triangle_inequality"]
    assert triangle["holds"] and not triangle["symmetric_shortcut"]
    assert triangle["pairs_checked"] == n * (n - 1)  # both orders of every pair
    w = report["axioms"]["symmetry"]["witness"]
    assert (w["d_ij"], w["d_ji"]) == (D[w["i"], w["j"]], D[w["j"], w["i"]])
    assert abs(w["d_ij"] - w["d_ji"]) == pytest.approx(np.abs(D - D.T).max())


def test_a_negative_entry_is_not_a_distance():
    D = cdist(X, X)
    D[3, 8] = -0.5
    report = check_distance(D)
    assert report["verdict"] == "not a distance"
    negative = report["axioms"]["non_negativity"]
    assert negative["violations"] == 1 and negative["worst"] == 0.5
    assert (negative["witness"]["i"], negative["witness"]["j"], negative["witness"]["d_ij"]) == (3, 8, -0.5)


def test_a_point_far_from_itself_is_not_a_distance():
    D = cdist(X, X)
    D[4, 4] = 0.25
    report = check_distance(D)
    assert report["verdict"] == "not a distance"
    assert report["axioms"]["zero_self_distance"]["witness"] == {"i": 4, "rows": [4], "d_ii": 0.25}


def test_noise_at_1e_12_is_not_a_violation_under_the_default_tolerance():
    D = cdist(X, X)
    noisy = D + 1e-12 * np.random.default_rng(1).standard_normal(D.shape)
    np.fill_diagonal(noisy, 0.0)
    assert check_distance(noisy)["verdict"] == "metric"
    # the noise is really there: without tolerance symmetry fails
    strict = check_distance(noisy, rtol=0.0, atol=0.0)
    assert not strict["axioms"]["symmetry"]["holds"]
    assert strict["axioms"]["symmetry"]["worst"] == pytest.approx(np.abs(noisy - noisy.T).max())


# -- the blocked, threaded check against a brute-force reference -------------------------


def _brute_force(D: np.ndarray, tol: float, combine, symmetric: bool):
    n = D.shape[0]
    through = combine(D[:, :, None], D[None, :, :]).transpose(0, 2, 1)  # [i, j, k] = d(i,k) ∘ d(k,j)
    i, j, k = np.indices((n, n, n))
    distinct = (i != j) & (i != k) & (j != k)
    through = np.where(distinct, through, np.inf)
    pairs = (j[:, :, 0] > i[:, :, 0]) if symmetric else (j[:, :, 0] != i[:, :, 0])
    violating = (through < (D - tol)[:, :, None]) & pairs[:, :, None]
    best = through.min(axis=2)
    excess = np.where(pairs, D - best, -np.inf)
    with np.errstate(divide="ignore"):
        ratio = np.where(pairs, D / best, 0.0)
    return violating.any(axis=2), int(violating.sum()), float(excess.max()), float(ratio.max())


def _random_matrix(seed: int, n: int, symmetric: bool) -> np.ndarray:
    rng = np.random.default_rng(seed)
    D = rng.uniform(1.0, 3.0, (n, n))
    D[rng.random((n, n)) < 0.05] = 0.2  # shortcuts: some triangles fail
    D[rng.random((n, n)) < 0.05] = 6.0
    if symmetric:
        D = np.triu(D, 1) + np.triu(D, 1).T
    np.fill_diagonal(D, 0.0)
    return D


@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("combine", [np.add, np.maximum], ids=["triangle", "ultrametric"])
def test_blocked_check_equals_brute_force(seed, symmetric, combine):
    D = _random_matrix(seed, 23, symmetric)
    tol = 1e-9
    pairs, triplets, worst, ratio = _brute_force(D, tol, combine, symmetric)
    assert 0 < pairs.sum() < pairs.size  # the matrix has violations, and not everywhere
    for rows, columns, jobs in ((4, 7, 2), (1, 23, 1), (16, 4096, 2)):
        found = triangle_check(
            D, tol, symmetric=symmetric, combine=combine, tile_rows=rows, tile_columns=columns, n_jobs=jobs
        )
        v = found.violations
        assert v.count == pairs.sum()
        assert found.triplets_violated == triplets
        assert v.worst == pytest.approx(worst, rel=1e-14)
        if combine is np.add:
            assert found.ratio == pytest.approx(ratio, rel=1e-14)
        for (i, j), count in zip(v.worst_points.tolist(), v.worst_extra.tolist(), strict=True):
            assert pairs[i, j]
            through = combine(D[i], D[:, j])
            through[[i, j]] = np.inf
            assert count == np.sum(through < D[i, j] - tol)


def test_blocked_check_finds_exactly_the_violating_pairs():
    D = _random_matrix(5, 31, symmetric=False)
    pairs, *_ = _brute_force(D, 1e-9, np.add, symmetric=False)
    found = triangle_check(D, 1e-9, symmetric=False, tile_rows=5, tile_columns=9, n_witnesses=10_000)
    got = np.zeros_like(pairs)
    got[found.violations.worst_points[:, 0], found.violations.worst_points[:, 1]] = True
    np.testing.assert_array_equal(got, pairs)


def test_report_does_not_depend_on_threads():
    D = cdist(X, X, "sqeuclidean")
    one, two = check_distance(D, n_jobs=1), check_distance(D, n_jobs=2)
    assert one == two


def test_fail_fast_stops_at_a_true_violation():
    D = cdist(X, X, "sqeuclidean")
    report = check_distance(D, fail_fast=True)
    triangle = report["axioms"]["triangle_inequality"]
    assert not triangle["holds"] and not triangle["complete"]
    assert triangle["triplets_violated"] is None and triangle["relaxation_factor"]["value"] is None
    w = triangle["witness"]
    assert D[w["i"], w["j"]] > D[w["i"], w["k"]] + D[w["k"], w["j"]]
    assert report["verdict"] == "semimetric"
    assert any("--fail-fast" in line for line in report["notes"])


# -- sampled mode -------------------------------------------------------------------------


def test_clopper_pearson_known_intervals():
    # no success in N trials: the upper limit solves (1 - p)^N = alpha / 2
    assert clopper_pearson(0, 10) == (0.0, pytest.approx(1 - 0.025 ** (1 / 10), rel=1e-12))
    assert clopper_pearson(10, 10) == (pytest.approx(0.025 ** (1 / 10), rel=1e-12), 1.0)
    low, high = clopper_pearson(5, 10)  # the textbook 95% interval for 5/10
    assert (round(low, 4), round(high, 4)) == (0.1871, 0.8129)


def test_sampling_a_metric_finds_nothing_and_bounds_the_rate():
    report = check_distance(cdist(X, X), sample=5000, seed=1)
    triangle = report["axioms"]["triangle_inequality"]
    assert triangle["method"] == "sampled" and triangle["holds"]
    assert triangle["rate_interval"] == [0.0, pytest.approx(1 - 0.025 ** (1 / 5000), rel=1e-9)]
    assert report["verdict"] == "metric"


def test_sampled_rate_brackets_the_exhaustive_rate():
    D = cdist(X, X, "sqeuclidean")
    exact = check_distance(D)["axioms"]["triangle_inequality"]
    rate = exact["triplets_violated"] / exact["triplets_checked"]
    sampled = check_distance(D, sample=20_000, seed=0)["axioms"]["triangle_inequality"]
    low, high = sampled["rate_interval"]
    assert low < rate < high  # a 95% interval; deterministic under the seed
    assert abs(sampled["violation_rate"] - rate) < 4 * np.sqrt(rate * (1 - rate) / 20_000)
    w = sampled["witness"]
    assert D[w["i"], w["j"]] > D[w["i"], w["k"]] + D[w["k"], w["j"]]
    assert check_distance(D, sample=20_000, seed=0) == check_distance(D, sample=20_000, seed=0)


# -- input errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("D", "message"),
    [
        (np.ones((2, 3)), "distance matrix must be square; got shape 2x3"),
        (np.zeros((0, 0)), "distance matrix is empty"),
        (np.array([[0.0, np.nan], [1.0, 0.0]]), "missing or infinite value at row 0, column 1"),
        (np.array([["a", "b"], ["c", "d"]]), "distance matrix is not numeric"),
    ],
)
def test_bad_matrices_are_refused(D, message):
    with pytest.raises(MetricliError, match=message):
        check_distance(D)


def test_ids_must_name_every_point():
    with pytest.raises(MetricliError, match="3 ids for a 2x2 distance matrix"):
        check_distance(np.zeros((2, 2)), ids=["a", "b", "c"])


# -- Euclidean embeddability (classical MDS) ------------------------------------------------


def test_euclidean_distances_embed_in_their_own_dimension():
    embedding = check_distance(cdist(X[:, :3], X[:, :3]), euclidean=True)["euclidean_embedding"]
    assert embedding["embeddable"] and embedding["dimension"] == 3
    assert embedding["negative_eigenvalues"] == 0 and embedding["negative_fraction"] == 0.0


def test_the_star_metric_does_not_embed():
    # centre at distance 1 from three leaves 2 apart: every leaf pair would need the centre
    # as its midpoint. B = -1/2 J (D∘D) J = [[-3, 1, 1, 1], [1, 21, -11, -11], ...] / 16 has
    # eigenvalues 2, 2, 0 and -1/4 (eigenvector (3, -1, -1, -1)).
    star = np.array([[0, 1, 1, 1], [1, 0, 2, 2], [1, 2, 0, 2], [1, 2, 2, 0]], dtype=float)
    report = check_distance(star, euclidean=True)
    assert report["verdict"] == "metric"
    embedding = report["euclidean_embedding"]
    assert not embedding["embeddable"] and embedding["negative_eigenvalues"] == 1
    assert embedding["min_eigenvalue"] == pytest.approx(-0.25, rel=1e-12)
    assert embedding["max_eigenvalue"] == pytest.approx(2.0, rel=1e-12)
    assert embedding["negative_fraction"] == pytest.approx(0.25 / 4.25, rel=1e-12)
    assert embedding["dimension"] == 2


@pytest.mark.parametrize(("rtol", "atol"), [(np.nan, 0.0), (1e-9, np.nan), (np.inf, 0.0), (1e-9, np.inf)])
def test_a_tolerance_that_is_nan_or_infinite_is_refused(rtol, atol):
    # d(0, 2) = 5 > 1 + 1: with a NaN tolerance no comparison held, so the triangle 'held'
    D = np.array([[0.0, 1.0, 5.0], [1.0, 0.0, 1.0], [5.0, 1.0, 0.0]])
    assert check_distance(D)["verdict"] == "semimetric"
    with pytest.raises(MetricliError, match="tolerances must be finite and >= 0"):
        check_distance(D, rtol=rtol, atol=atol)


def test_a_sample_as_large_as_every_triplet_checks_them_all_exactly():
    # --sample 1e20 on 3 points ran for ever: there are only 6 ordered triplets to draw from
    D = np.array([[0.0, 1.0, 5.0], [1.0, 0.0, 1.0], [5.0, 1.0, 0.0]])
    exact = check_distance(D)
    for sample in (6, 10**20):
        report = check_distance(D, sample=sample)
        assert report["axioms"]["triangle_inequality"] == exact["axioms"]["triangle_inequality"]
        assert "checked all of them exactly" in report["notes"][-1]
    assert check_distance(D, sample=5)["axioms"]["triangle_inequality"]["method"] == "sampled"
